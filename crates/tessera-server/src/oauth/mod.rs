//! The OAuth 2.0 authorization server's logic: one module per endpoint and grant.
//! Requests arrive parsed (the HTTP edge, `http::oauth`, turns forms into these
//! types); answers are `tessera_proto` token types or the crate's `Error`.
//!
//! | endpoint | module |
//! |---|---|
//! | `/.well-known/oauth-authorization-server`, `/.well-known/openid-configuration` | [`discovery`] (RFC 8414) |
//! | `/oauth/authorize` (the pages are `http::web::authorize`) | [`authorize`]: request validation, codes |
//! | `/oauth/token` | [`token`]: a [`token::Grant`] per grant type, each handled by its module: [`client_credentials`], [`authorization_code`], [`refresh`], [`device`], [`token_exchange`] (RFC 8693, workload identity federation) |
//! | `/oauth/device_authorization`, `/device` | [`device`] (RFC 8628) |
//! | `/oauth/revoke` | [`revoke`] (RFC 7009) |
//! | `/oauth/introspect` | [`introspect`] (RFC 7662) |
//! | `/oauth/session-token` | [`session_token`] (token URL, Level 0) |
//!
//! Client authentication for all of them is in [`client_auth`]; issuing tokens and
//! the refresh-token families that tie them to one grant are in [`issue`].
//!
//! Adding a grant: a module with its request struct and `grant` function, an arm
//! in [`token::Grant`] (and its `grant_type` in the edge's parser), and its name
//! in [`discovery`].

pub mod authorization_code;
pub mod authorize;
pub mod client_auth;
pub mod client_credentials;
pub mod device;
pub mod discovery;
pub mod introspect;
pub mod issue;
pub mod refresh;
pub mod revoke;
pub mod session_token;
pub mod token;
pub mod token_exchange;

use crate::error::{Error, Result};
use crate::store::App;
use tessera_proto::{API_KEYS_WRITE, OAuthErrorCode, Scopes, THIRD_PARTY_OPERATION};

/// What the revocation and introspection endpoints are asked about: a token,
/// by an authenticated client. `token_type_hint` only orders the look-ups.
pub struct TokenQuestion {
    pub client: client_auth::ClientCredentials,
    pub token: Option<String>,
    pub token_type_hint: Option<String>,
}

/// `grant_type` values (RFC 6749 §4, RFC 8628 §3.4).
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
pub const GRANT_DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// How an app's `grant_types` names the device grant (see `admin app create --grant`).
pub const APP_GRANT_DEVICE_CODE: &str = "device_code";
pub const GRANT_TOKEN_EXCHANGE: &str = tessera_proto::token::exchange::GRANT_TYPE;

pub const PATH_AUTHORIZE: &str = "/oauth/authorize";
pub const PATH_TOKEN: &str = "/oauth/token";
pub const PATH_DEVICE_AUTHORIZATION: &str = "/oauth/device_authorization";
pub const PATH_DEVICE_VERIFICATION: &str = "/device";
pub const PATH_REVOKE: &str = "/oauth/revoke";
pub const PATH_INTROSPECT: &str = "/oauth/introspect";
pub const PATH_SESSION_TOKEN: &str = "/oauth/session-token";
pub const PATH_JWKS: &str = "/.well-known/jwks.json";
pub const PATH_METADATA: &str = "/.well-known/oauth-authorization-server";
pub const PATH_OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";

/// Scopes this server grants. `THIRD_PARTY_OPERATION` is what the platform API
/// requires and the default when a request names none.
pub const SCOPES_SUPPORTED: [&str; 2] = [THIRD_PARTY_OPERATION, API_KEYS_WRITE];

/// Scopes granted only to an app registered for them (`admin app create --scope`):
/// `api_keys:write` lets a token create API keys, which outlive the app, its
/// tokens and the user's authorization of it.
pub const RESTRICTED_SCOPES: [&str; 1] = [API_KEYS_WRITE];

/// The scope a request of `app` asks for: absent or empty means the default;
/// anything unknown, or restricted and not registered for `app`, is
/// `invalid_scope` (RFC 6749 §3.3).
pub fn requested_scope(app: &App, scope: Option<&str>) -> Result<Scopes> {
    let requested = Scopes::parse(scope.unwrap_or(""));
    if requested.is_empty() {
        return Ok(Scopes::parse(THIRD_PARTY_OPERATION));
    }
    if let Some(unknown) = requested.iter().find(|s| !SCOPES_SUPPORTED.contains(s)) {
        return Err(Error::oauth(
            OAuthErrorCode::InvalidScope,
            format!("unknown scope {unknown:?}"),
        ));
    }
    if let Some(restricted) = requested.iter().find(|s| !registered_for(app, s)) {
        return Err(Error::oauth(
            OAuthErrorCode::InvalidScope,
            format!("this app is not registered for the scope {restricted}"),
        ));
    }
    Ok(requested)
}

/// Whether `app` may be granted `scope`: any scope but a restricted one it is
/// not registered for.
pub fn registered_for(app: &App, scope: &str) -> bool {
    !RESTRICTED_SCOPES.contains(&scope) || app.scopes.contains(scope)
}

/// A narrower scope than `granted`, when the request names one (RFC 6749 §6):
/// `invalid_scope` with `why` when it asks for more.
pub fn narrowed(requested: Option<&str>, granted: Scopes, why: &'static str) -> Result<Scopes> {
    let Some(requested) = requested.filter(|s| !s.trim().is_empty()) else {
        return Ok(granted);
    };
    let requested = Scopes::parse(requested);
    if !requested.is_subset(&granted) {
        return Err(Error::oauth(OAuthErrorCode::InvalidScope, why));
    }
    Ok(requested)
}

/// `invalid_request` with a description.
pub fn invalid_request(description: impl Into<String>) -> Error {
    Error::oauth(OAuthErrorCode::InvalidRequest, description)
}

/// `invalid_grant` with a description.
pub fn invalid_grant(description: impl Into<String>) -> Error {
    Error::oauth(OAuthErrorCode::InvalidGrant, description)
}

/// RFC 8707 §2 `resource`: an absolute URI without a fragment, else
/// `invalid_target`. `None` when the request names none.
fn resource(resource: Option<String>) -> Result<Option<String>> {
    let Some(resource) = resource.filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    match url::Url::parse(&resource) {
        Ok(url) if url.fragment().is_none() && !url.cannot_be_a_base() => Ok(Some(resource)),
        _ => Err(Error::oauth(
            OAuthErrorCode::InvalidTarget,
            "resource must be an absolute URI without a fragment (RFC 8707)",
        )),
    }
}

/// A required form parameter.
pub fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| invalid_request(format!("the parameter {name} is required")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        let mut app = App {
            client_id: "c".into(),
            account_id: "a".into(),
            name: "App".into(),
            mode: crate::store::AppMode::Development,
            public: true,
            client_secret_hash: None,
            redirect_uris: Vec::new(),
            grant_types: Vec::new(),
            rate_limit_per_min: None,
            dpop_required: false,
            created_at: 0,
            scopes: Scopes::default(),
            self_service: false,
        };
        assert_eq!(
            requested_scope(&app, None).unwrap().to_string(),
            THIRD_PARTY_OPERATION
        );
        assert!(requested_scope(&app, Some("admin")).is_err());
        assert!(requested_scope(&app, Some(API_KEYS_WRITE)).is_err());
        app.scopes = Scopes::parse(API_KEYS_WRITE);
        assert_eq!(
            requested_scope(&app, Some(API_KEYS_WRITE)).unwrap(),
            Scopes::parse(API_KEYS_WRITE)
        );
    }
}
