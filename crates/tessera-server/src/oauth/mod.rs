//! The OAuth 2.0 authorization server: one module per endpoint and grant.
//!
//! | path | module |
//! |---|---|
//! | `/.well-known/oauth-authorization-server`, `/.well-known/openid-configuration` | [`discovery`] (RFC 8414) |
//! | `/oauth/authorize` (pages by [`crate::http`]'s web module) | [`authorize`]: request validation, codes |
//! | `/oauth/token` | [`token`] dispatching to [`client_credentials`], [`authorization_code`], [`refresh`], [`device`] |
//! | `/oauth/device_authorization` | [`device`] (RFC 8628) |
//! | `/oauth/revoke` | [`revoke`] (RFC 7009) |
//! | `/oauth/introspect` | [`introspect`] (RFC 7662) |
//! | `/oauth/session-token` | [`session_token`] (token URL, Level 0) |
//!
//! Client authentication for all of them is in [`client_auth`]; issuing tokens and
//! the refresh-token families that tie them to one grant are in [`issue`]. Every
//! error leaves these endpoints in RFC 6749 §5.2 form (`Error::into_oauth`).

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

use crate::error::Error;
use crate::state::AppState;
use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use tessera_proto::{OAuthErrorCode, Scopes, THIRD_PARTY_OPERATION};

/// `grant_type` values (RFC 6749 §4, RFC 8628 §3.4).
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
pub const GRANT_DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// How an app's `grant_types` names the device grant (see `admin app create --grant`).
pub const APP_GRANT_DEVICE_CODE: &str = "device_code";

pub const PATH_AUTHORIZE: &str = "/oauth/authorize";
pub const PATH_TOKEN: &str = "/oauth/token";
pub const PATH_DEVICE_AUTHORIZATION: &str = "/oauth/device_authorization";
pub const PATH_DEVICE_VERIFICATION: &str = "/device";
pub const PATH_REVOKE: &str = "/oauth/revoke";
pub const PATH_INTROSPECT: &str = "/oauth/introspect";
pub const PATH_SESSION_TOKEN: &str = crate::admin::session::TOKEN_URL_PATH;
pub const PATH_JWKS: &str = "/.well-known/jwks.json";

/// Scopes this server grants. `THIRD_PARTY_OPERATION` is what the platform API
/// requires and the default when a request names none.
pub const SCOPES_SUPPORTED: [&str; 1] = [THIRD_PARTY_OPERATION];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::endpoint),
        )
        .route(
            "/.well-known/openid-configuration",
            get(discovery::endpoint),
        )
        .route(PATH_TOKEN, post(token::endpoint))
        .route(PATH_DEVICE_AUTHORIZATION, post(device::endpoint))
        .route(PATH_REVOKE, post(revoke::endpoint))
        .route(PATH_INTROSPECT, post(introspect::endpoint))
        .route(PATH_SESSION_TOKEN, post(session_token::endpoint))
}

/// The scope a request asks for, checked against [`SCOPES_SUPPORTED`]: absent or
/// empty means the default; anything unknown is `invalid_scope` (RFC 6749 §3.3).
pub fn requested_scope(scope: Option<&str>) -> Result<Scopes, Error> {
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
    Ok(requested)
}

/// Deletes OAuth state nobody can use any more. Used codes are kept a day past
/// expiry so that a late replay is still recognised (and revokes its tokens).
pub async fn prune(state: &AppState, now: i64) -> Result<(), Error> {
    const DAY: i64 = 86_400;
    let pool = state.store.pool();
    let deletes: [(&'static str, i64); 6] = [
        (
            "DELETE FROM authorization_codes WHERE expires_at <= $1",
            now - DAY,
        ),
        ("DELETE FROM device_codes WHERE expires_at <= $1", now - DAY),
        ("DELETE FROM refresh_tokens WHERE expires_at <= $1", now),
        (
            "DELETE FROM family_access_tokens WHERE expires_at <= $1",
            now,
        ),
        ("DELETE FROM otp_codes WHERE expires_at <= $1", now),
        (
            "DELETE FROM attempt_counters WHERE window_start <= $1",
            now - DAY,
        ),
    ];
    for (sql, before) in deletes {
        sqlx::query(sql).bind(before).execute(pool).await?;
    }
    Ok(())
}

/// Every endpoint's last step: its answer, or the error in RFC 6749 §5.2 form.
pub fn reply(result: Result<impl IntoResponse, Error>) -> Response {
    match result {
        Ok(answer) => answer.into_response(),
        Err(e) => e.into_oauth().into_response(),
    }
}

/// A JSON answer that describes or carries tokens, so no cache may keep it.
pub fn no_store_json(body: impl Serialize) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}

/// `invalid_request` with a description.
pub fn invalid_request(description: impl Into<String>) -> Error {
    Error::oauth(OAuthErrorCode::InvalidRequest, description)
}

/// `invalid_grant` with a description.
pub fn invalid_grant(description: impl Into<String>) -> Error {
    Error::oauth(OAuthErrorCode::InvalidGrant, description)
}

/// A required form parameter.
pub fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, Error> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| invalid_request(format!("the parameter {name} is required")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fixture;

    #[tokio::test]
    async fn prune_drops_only_what_nobody_can_use() {
        let fx = Fixture::new().await;
        let now = fx.clock_now();
        let pool = fx.state.store.pool();
        for (email, expires_at) in [("old@example.com", now - 1), ("new@example.com", now + 60)] {
            sqlx::query(
                "INSERT INTO otp_codes (email, code_hash, attempts, created_at, expires_at, consumed_at) \
                 VALUES ($1, 'h', 0, $2, $3, NULL)",
            )
            .bind(email)
            .bind(now - 600)
            .bind(expires_at)
            .execute(pool)
            .await
            .unwrap();
        }
        prune(&fx.state, now).await.unwrap();
        let left: Vec<(String,)> = sqlx::query_as("SELECT email FROM otp_codes")
            .fetch_all(pool)
            .await
            .unwrap();
        assert_eq!(left, vec![("new@example.com".to_owned(),)]);
    }

    #[test]
    fn scopes() {
        assert_eq!(
            requested_scope(None).unwrap().to_string(),
            THIRD_PARTY_OPERATION
        );
        assert!(requested_scope(Some("admin")).is_err());
    }
}
