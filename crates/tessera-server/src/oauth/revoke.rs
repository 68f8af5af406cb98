//! `POST /oauth/revoke` (RFC 7009). The client authenticates (a public client by
//! its id); the token may be an access token or a refresh token, whatever
//! `token_type_hint` says. Revoking a refresh token revokes its whole family,
//! access tokens included (§2.1). Unknown, expired or foreign tokens get the same
//! 200 as revoked ones (§2.2), so the endpoint reveals nothing.

use super::client_auth;
use crate::error::{Error, Result};
use crate::http::extract::Form;
use crate::state::AppState;
use crate::store::App;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use tessera_proto::TokenUse;

#[derive(Deserialize)]
pub struct RevokeForm {
    pub token: Option<String>,
    pub token_type_hint: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

pub async fn endpoint(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<RevokeForm>, Error>,
) -> Response {
    super::reply(
        revoke(&state, &headers, form)
            .await
            .map(|()| (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")])),
    )
}

async fn revoke(
    state: &AppState,
    headers: &HeaderMap,
    form: Result<Form<RevokeForm>, Error>,
) -> Result<()> {
    let Form(form) = form?;
    let app = client_auth::authenticate(
        state,
        headers,
        form.client_id.as_deref(),
        form.client_secret.as_deref(),
    )
    .await?;
    let token = super::required(&form.token, "token")?;
    // The hint only orders the look-ups (§2.1); both kinds are always tried.
    if form.token_type_hint.as_deref() == Some("refresh_token") {
        if !revoke_refresh(state, &app, token).await? {
            revoke_access(state, &app, token).await?;
        }
    } else if !revoke_access(state, &app, token).await? {
        revoke_refresh(state, &app, token).await?;
    }
    Ok(())
}

/// Revokes `token` if it is an access token issued to `app`. Whether it was one.
async fn revoke_access(state: &AppState, app: &App, token: &str) -> Result<bool> {
    let now = state.now();
    // Signature and kind only: an expired or already revoked token is simply done.
    let Ok(claims) = state
        .keyring
        .verify(&state.store, token, TokenUse::Access, now)
        .await
    else {
        return Ok(false);
    };
    if claims.iss == state.settings.issuer && claims.client_id.as_deref() == Some(&app.client_id) {
        crate::access_token::revoke(&state.store, &claims, now).await?;
    }
    Ok(true)
}

/// Revokes the family of `token` if it is a refresh token issued to `app`.
async fn revoke_refresh(state: &AppState, app: &App, token: &str) -> Result<bool> {
    let Some(row) = super::refresh::find(state, token).await? else {
        return Ok(false);
    };
    if row.client_id == app.client_id {
        super::issue::revoke_family(state, &row.family_id).await?;
    }
    Ok(true)
}
