//! Issuing token responses, and token families.
//!
//! A family is one grant (a redeemed authorization code, an approved device) and
//! every token issued from it. Its access tokens' ids are recorded and its refresh
//! tokens point at it, so one [`revoke_family`] ends all of them: on replay of a
//! rotated refresh token (RFC 9700 §4.14.2), on reuse of an authorization code
//! (RFC 6749 §4.1.2), and on revocation of a refresh token (RFC 7009 §2.1).
//! client_credentials and token-URL tokens have no family and write nothing.

use crate::access_token::{self, NewAccessToken};
use crate::digest;
use crate::error::Result;
use crate::state::AppState;
use crate::store::App;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use tessera_proto::token::TokenResponse;
use tessera_proto::{RefreshToken, Scopes};

/// Every refresh token starts with this (access tokens are JWS, `eyJ…`).
pub const REFRESH_TOKEN_PREFIX: &str = "rt_";

/// A token response with the headers RFC 6749 §5.1 requires.
pub fn response(body: TokenResponse) -> Response {
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        axum::Json(body),
    )
        .into_response()
}

/// Counts an issued token under `grant` (one of [`crate::metrics::GRANTS`]).
pub fn count(grant: &'static str) {
    metrics::counter!(crate::metrics::TOKENS_ISSUED, "grant" => grant).increment(1);
}

/// An access token without refresh token or family (client_credentials, token URL).
pub fn access_only(state: &AppState, new: NewAccessToken, ttl: Duration) -> Result<TokenResponse> {
    let scope = new.scope.to_string();
    let acr = new.acr.clone();
    let issued = access_token::issue(
        &state.keyring,
        &state.settings.issuer,
        ttl,
        new,
        state.now(),
    )?;
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: "Bearer".into(),
        expires_in: Some(issued.expires_in),
        refresh_token: None,
        scope: Some(scope),
        acr,
    })
}

/// A new family id.
pub fn new_family_id() -> String {
    format!("fam_{}", uuid::Uuid::now_v7().simple())
}

/// Records a family (idempotent: a code's family is created when it is redeemed).
pub async fn create_family(
    state: &AppState,
    family_id: &str,
    app: &App,
    account_id: &str,
    scope: &Scopes,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO token_families (id, client_id, account_id, scope, created_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, NULL) ON CONFLICT (id) DO NOTHING",
    )
    .bind(family_id)
    .bind(&app.client_id)
    .bind(account_id)
    .bind(scope.to_string())
    .bind(state.now())
    .execute(state.store.pool())
    .await?;
    Ok(())
}

/// An access token in `family`, plus a new refresh token when the app may refresh.
pub async fn in_family(
    state: &AppState,
    app: &App,
    family_id: &str,
    account_id: &str,
    scope: &Scopes,
) -> Result<TokenResponse> {
    let now = state.now();
    let issued = access_token::issue(
        &state.keyring,
        &state.settings.issuer,
        state.settings.access_token_ttl,
        NewAccessToken {
            account_id: account_id.to_owned(),
            client_id: Some(app.client_id.clone()),
            scope: scope.clone(),
            acr: None,
        },
        now,
    )?;
    sqlx::query(
        "INSERT INTO family_access_tokens (jti, family_id, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(&issued.claims.jti)
    .bind(family_id)
    .bind(issued.claims.exp.unwrap_or(now))
    .execute(state.store.pool())
    .await?;
    let refresh_token = if app
        .grant_types
        .iter()
        .any(|g| g == super::GRANT_REFRESH_TOKEN)
    {
        Some(new_refresh_token(state, family_id).await?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: "Bearer".into(),
        expires_in: Some(issued.expires_in),
        refresh_token,
        scope: Some(scope.to_string()),
        acr: None,
    })
}

/// An opaque refresh token (256 random bits); only its hash is stored.
async fn new_refresh_token(state: &AppState, family_id: &str) -> Result<RefreshToken> {
    let now = state.now();
    let ttl = i64::try_from(state.settings.refresh_token_ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let token = format!("{REFRESH_TOKEN_PREFIX}{}", digest::random_token(32));
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, created_at, expires_at, used_at) \
         VALUES ($1, $2, $3, $4, NULL)",
    )
    .bind(digest::secret_hash(&token))
    .bind(family_id)
    .bind(now)
    .bind(now.saturating_add(ttl))
    .execute(state.store.pool())
    .await?;
    Ok(RefreshToken::new(token))
}

/// Revokes a family: its refresh tokens stop working and its unexpired access
/// tokens go into the revocation list that every request checks.
pub async fn revoke_family(state: &AppState, family_id: &str) -> Result<()> {
    let now = state.now();
    let mut tx = state.store.pool().begin().await?;
    sqlx::query("UPDATE token_families SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(family_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO revoked_access_tokens (jti, expires_at, revoked_at) \
         SELECT jti, expires_at, $1 FROM family_access_tokens \
         WHERE family_id = $2 AND expires_at > $1 \
         ON CONFLICT (jti) DO NOTHING",
    )
    .bind(now)
    .bind(family_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(family = family_id, "token family revoked");
    Ok(())
}
