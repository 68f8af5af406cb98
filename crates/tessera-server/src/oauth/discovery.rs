//! Authorization server metadata (RFC 8414), also served at the OpenID-style path
//! that many client libraries try first. `issuer` equals the configured issuer
//! exactly, and every endpoint, grant and method this server supports is listed.

use super::*;
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};

/// The metadata document for `issuer`.
pub fn metadata(issuer: &str) -> Value {
    let url = |path: &str| format!("{issuer}{path}");
    json!({
        "issuer": issuer,
        "authorization_endpoint": url(PATH_AUTHORIZE),
        "token_endpoint": url(PATH_TOKEN),
        "device_authorization_endpoint": url(PATH_DEVICE_AUTHORIZATION),
        "revocation_endpoint": url(PATH_REVOKE),
        "introspection_endpoint": url(PATH_INTROSPECT),
        "jwks_uri": url(PATH_JWKS),
        "session_token_endpoint": url(PATH_SESSION_TOKEN),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [
            GRANT_AUTHORIZATION_CODE,
            GRANT_CLIENT_CREDENTIALS,
            GRANT_REFRESH_TOKEN,
            GRANT_DEVICE_CODE,
        ],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": client_auth::AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": client_auth::AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": SCOPES_SUPPORTED,
        "authorization_response_iss_parameter_supported": true,
    })
}

pub async fn endpoint(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(metadata(&state.settings.issuer)),
    )
}
