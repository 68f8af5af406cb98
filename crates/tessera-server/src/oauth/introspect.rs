//! `POST /oauth/introspect` (RFC 7662). Only confidential clients may ask (§2.1:
//! the endpoint must be protected; a public client's id proves nothing). Access
//! tokens get the full check the API applies (signature, expiry, revocation,
//! account); refresh tokens are active while unused, unexpired and unrevoked.
//! Anything else is `{"active": false}` and nothing more (§2.2).

use super::client_auth;
use crate::access_token;
use crate::error::{Error, Result};
use crate::http::extract::Form;
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use tessera_proto::OAuthErrorCode;
use tessera_proto::token::IntrospectionResponse;

#[derive(Deserialize)]
pub struct IntrospectForm {
    pub token: Option<String>,
    pub token_type_hint: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

pub async fn endpoint(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<IntrospectForm>, Error>,
) -> Response {
    super::reply(
        introspect(&state, &headers, form)
            .await
            .map(super::no_store_json),
    )
}

async fn introspect(
    state: &AppState,
    headers: &HeaderMap,
    form: Result<Form<IntrospectForm>, Error>,
) -> Result<IntrospectionResponse> {
    let Form(form) = form?;
    let app = client_auth::authenticate(
        state,
        headers,
        form.client_id.as_deref(),
        form.client_secret.as_deref(),
    )
    .await?;
    if app.public {
        return Err(Error::oauth(
            OAuthErrorCode::InvalidClient,
            "introspection requires a confidential client",
        ));
    }
    let token = super::required(&form.token, "token")?;
    // Refresh tokens carry an `rt_` prefix and access tokens are JWS, so the kind
    // is known without the hint (RFC 7662 §2.1 lets the server ignore it).
    let found = if token.starts_with(super::issue::REFRESH_TOKEN_PREFIX) {
        as_refresh_token(state, token).await?
    } else {
        as_access_token(state, token).await?
    };
    Ok(found.unwrap_or_default())
}

async fn as_access_token(state: &AppState, token: &str) -> Result<Option<IntrospectionResponse>> {
    match access_token::verify(
        &state.store,
        &state.keyring,
        &state.settings.issuer,
        token,
        state.now(),
    )
    .await
    {
        Ok(v) => Ok(Some(IntrospectionResponse {
            active: true,
            scope: Some(v.claims.scope.to_string()),
            client_id: v.claims.client_id,
            sub: Some(v.claims.sub),
            exp: v.claims.exp,
            iat: Some(v.claims.iat),
            iss: Some(v.claims.iss),
            jti: Some(v.claims.jti),
            token_type: Some("Bearer".into()),
        })),
        // Not a (valid) access token; a database failure is still a failure.
        Err(Error::Unauthenticated(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

async fn as_refresh_token(state: &AppState, token: &str) -> Result<Option<IntrospectionResponse>> {
    let Some(row) = super::refresh::find(state, token).await? else {
        return Ok(None);
    };
    let active = row.used_at.is_none() && row.revoked_at.is_none() && row.expires_at > state.now();
    Ok(active.then(|| IntrospectionResponse {
        active: true,
        scope: Some(row.scope),
        client_id: Some(row.client_id),
        sub: Some(row.account_id),
        exp: Some(row.expires_at),
        token_type: Some("refresh_token".into()),
        ..Default::default()
    }))
}
