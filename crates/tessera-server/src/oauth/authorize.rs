//! The authorization request (RFC 6749 §4.1.1 with PKCE, RFC 7636), as a domain API
//! for the web pages at `/oauth/authorize`:
//!
//! 1. [`validate`] the query before showing any page.
//!    [`Error::UntrustedAuthorizationRequest`] (unknown client, missing or
//!    unregistered `redirect_uri`) must be shown as an error page and never
//!    redirected to (RFC 6749 §4.1.2.1, open redirects);
//!    [`Error::RedirectToClient`] goes back to the client with `error=`.
//! 2. After sign-in and consent, [`issue_code`] gives the redirect URL carrying the
//!    code, the untouched `state` and `iss` (RFC 9207); [`deny_redirect`] the one
//!    carrying `error=access_denied`.
//!
//! PKCE is required of public clients, with `S256` only: `plain` is rejected
//! for every client, and a public client's missing challenge here, so no
//! public client holds a code without one. A confidential client may leave
//! PKCE out (the Lofty API's web apps use the plain authorization code
//! grant): its code is redeemed only with its secret, and a verifier sent for
//! a code that has no challenge is refused (the downgrade of RFC 9700 §4.8.2,
//! [`super::authorization_code`]).
//! Registered redirect URIs match exactly, except that a loopback URI
//! (`http://127.0.0.1/…`, `http://[::1]/…`) matches any port (RFC 8252 §7.3).

use crate::digest;
use crate::error::{ClientRedirect, Error, Result};
use crate::services::Services;
use crate::store::App;
use crate::store::authorization_codes::CodeRow;
use serde::{Deserialize, Serialize};
use tessera_proto::{OAuthErrorCode, Scopes};
use url::Url;

/// An authorization code must be redeemed within this time (RFC 6749 §4.1.2).
pub const CODE_TTL_SECS: i64 = 120;

/// The query of `GET /oauth/authorize`. Unknown parameters are ignored.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthorizeQuery {
    /// `code`.
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    /// One of the app's registered redirect URIs (any port for loopback ones).
    pub redirect_uri: Option<String>,
    /// Space-separated scopes to ask the user for.
    pub scope: Option<String>,
    /// Returned unchanged with the code.
    pub state: Option<String>,
    /// PKCE (RFC 7636): required for public clients.
    pub code_challenge: Option<String>,
    /// `S256`, the only method accepted.
    pub code_challenge_method: Option<String>,
}

/// A request that passed [`validate`]: what the consent page shows and what
/// [`issue_code`] needs.
#[derive(Clone, Debug)]
pub struct ValidatedAuthorization {
    pub client_id: String,
    /// The app's display name, for the consent page.
    pub client_name: String,
    pub public_client: bool,
    /// Exactly as the client sent it; the token request must repeat it.
    pub redirect_uri: String,
    pub scope: Scopes,
    /// Returned untouched.
    pub state: Option<String>,
    /// base64url(SHA-256(code_verifier)); `None` only for a confidential client.
    pub code_challenge: Option<String>,
    /// For `iss` in the redirect (RFC 9207).
    pub issuer: String,
}

/// Whether `presented` matches the registered `registered` redirect URI: exactly,
/// or, for a loopback IP literal over http, in everything but the port.
pub fn redirect_uri_matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    let (Ok(reg), Ok(pres)) = (Url::parse(registered), Url::parse(presented)) else {
        return false;
    };
    let loopback = |u: &Url| {
        u.scheme() == "http"
            && match u.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                _ => false,
            }
    };
    loopback(&reg)
        && loopback(&pres)
        && reg.host() == pres.host()
        && reg.path() == pres.path()
        && reg.query() == pres.query()
        && reg.username().is_empty()
        && pres.username().is_empty()
        && pres.password().is_none()
        && pres.fragment().is_none()
}

/// RFC 7636 §4.2: a S256 challenge is 43 base64url characters.
fn valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Validates an authorization request. See the module documentation.
pub async fn validate(svc: &Services, query: &AuthorizeQuery) -> Result<ValidatedAuthorization> {
    let untrusted = |reason: &str| Error::UntrustedAuthorizationRequest {
        reason: reason.to_owned(),
    };
    let client_id = query
        .client_id
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| untrusted("The request names no application (client_id is missing)."))?;
    let app: App = svc
        .store
        .app_by_client_id(client_id)
        .await?
        .ok_or_else(|| untrusted("The application that sent you here is not registered."))?;
    let redirect_uri = query
        .redirect_uri
        .as_deref()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| untrusted("The request has no redirect_uri."))?;
    if !app
        .redirect_uris
        .iter()
        .any(|registered| redirect_uri_matches(registered, redirect_uri))
    {
        return Err(untrusted(
            "The redirect address in the request is not registered for this application.",
        ));
    }
    // From here on the redirect URI is the app's: errors go back to the
    // client, a portal member's app's through a page that names the host.
    let automatic =
        !app.self_service || Url::parse(redirect_uri).is_ok_and(|u| crate::urls::is_loopback(&u));
    let redirect = |error: OAuthErrorCode, description: &str| {
        Error::RedirectToClient(Box::new(ClientRedirect {
            redirect_uri: redirect_uri.to_owned(),
            error,
            description: description.to_owned(),
            state: query.state.clone(),
            issuer: svc.settings.issuer.clone(),
            automatic,
        }))
    };
    if query.response_type.as_deref() != Some("code") {
        return Err(redirect(
            OAuthErrorCode::UnsupportedResponseType,
            "only response_type=code is supported",
        ));
    }
    if !app
        .grant_types
        .iter()
        .any(|g| g == super::GRANT_AUTHORIZATION_CODE)
    {
        return Err(redirect(
            OAuthErrorCode::UnauthorizedClient,
            "this client is not registered for the authorization_code grant",
        ));
    }
    let challenge = match (
        query.code_challenge.as_deref().filter(|c| !c.is_empty()),
        query.code_challenge_method.as_deref(),
    ) {
        (None, _) if app.public => {
            return Err(redirect(
                OAuthErrorCode::InvalidRequest,
                "code_challenge is required (PKCE with S256)",
            ));
        }
        (None, None) => None,
        (None, Some(_)) => {
            return Err(redirect(
                OAuthErrorCode::InvalidRequest,
                "code_challenge_method without a code_challenge",
            ));
        }
        // RFC 7636 §4.3: no method means `plain`, which is not accepted.
        (Some(_), method) if method != Some("S256") => {
            return Err(redirect(
                OAuthErrorCode::InvalidRequest,
                "code_challenge_method must be S256",
            ));
        }
        (Some(challenge), _) if !valid_challenge(challenge) => {
            return Err(redirect(
                OAuthErrorCode::InvalidRequest,
                "code_challenge must be 43 base64url characters (S256)",
            ));
        }
        (Some(challenge), _) => Some(challenge.to_owned()),
    };
    let scope = super::requested_scope(&app, query.scope.as_deref()).map_err(|e| match e {
        Error::OAuth { error, description } => {
            redirect(error, description.as_deref().unwrap_or_default())
        }
        other => other,
    })?;
    Ok(ValidatedAuthorization {
        client_id: app.client_id,
        client_name: app.name,
        public_client: app.public,
        redirect_uri: redirect_uri.to_owned(),
        scope,
        state: query.state.clone(),
        code_challenge: challenge,
        issuer: svc.settings.issuer.clone(),
    })
}

/// Issues a single-use code for `account_id` with `granted_scope` (at most the
/// requested scope) and returns the redirect URL: `code`, `state`, `iss`.
pub async fn issue_code(
    svc: &Services,
    request: &ValidatedAuthorization,
    account_id: &str,
    granted_scope: &Scopes,
    now: i64,
) -> Result<Url> {
    if !granted_scope.is_subset(&request.scope) || granted_scope.is_empty() {
        return Err(Error::BadRequest(
            "the granted scope must be a non-empty part of the requested scope".into(),
        ));
    }
    let code = digest::random_token(32);
    let row = CodeRow {
        client_id: request.client_id.clone(),
        account_id: account_id.to_owned(),
        redirect_uri: request.redirect_uri.clone(),
        scope: granted_scope.to_string(),
        code_challenge: request.code_challenge.clone().unwrap_or_default(),
        family_id: super::issue::new_family_id(),
        expires_at: now + CODE_TTL_SECS,
    };
    svc.store
        .insert_authorization_code(&digest::secret_hash(&code), &row, now)
        .await?;
    let mut url = Url::parse(&request.redirect_uri)
        .map_err(|e| Error::internal(format!("validated redirect URI does not parse: {e}")))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("code", &code);
        if let Some(s) = &request.state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", &request.issuer);
    }
    Ok(url)
}

/// The redirect URL for a user who denied consent: `error=access_denied`.
pub fn deny_redirect(request: &ValidatedAuthorization) -> Url {
    ClientRedirect {
        redirect_uri: request.redirect_uri.clone(),
        error: OAuthErrorCode::AccessDenied,
        description: "the user denied the request".into(),
        state: request.state.clone(),
        issuer: request.issuer.clone(),
        // The user chose to deny, on this server's page.
        automatic: true,
    }
    .url()
    .expect("a validated redirect URI parses")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_matches_any_port_everything_else_exactly() {
        let reg = "http://127.0.0.1/callback";
        assert!(redirect_uri_matches(reg, "http://127.0.0.1:53682/callback"));
        assert!(redirect_uri_matches(reg, "http://127.0.0.1/callback"));
        assert!(!redirect_uri_matches(reg, "http://127.0.0.1:5/other"));
        assert!(!redirect_uri_matches(
            reg,
            "http://127.0.0.1:5/callback?x=1"
        ));
        assert!(!redirect_uri_matches(reg, "http://evil.test:5/callback"));
        assert!(!redirect_uri_matches(
            reg,
            "http://user@127.0.0.1:5/callback"
        ));
        assert!(!redirect_uri_matches(reg, "https://127.0.0.1:5/callback"));
        assert!(redirect_uri_matches(
            "http://[::1]/cb",
            "http://[::1]:8000/cb"
        ));
        let web = "https://app.example/cb";
        assert!(redirect_uri_matches(web, web));
        assert!(!redirect_uri_matches(web, "https://app.example:444/cb"));
        assert!(!redirect_uri_matches(web, "https://app.example/cb/"));
        assert!(!redirect_uri_matches(
            web,
            "https://app.example/cb?next=https://evil"
        ));
    }

    #[test]
    fn challenge_shape() {
        assert!(valid_challenge(&"a".repeat(43)));
        assert!(!valid_challenge(&"a".repeat(42)));
        assert!(!valid_challenge(&format!("{}=", "a".repeat(42))));
    }
}
