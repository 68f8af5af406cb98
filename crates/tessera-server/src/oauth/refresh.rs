//! The refresh_token grant (RFC 6749 §6). Refresh tokens are opaque, stored as
//! hashes, bound to the client, and rotated on every use; presenting a rotated one
//! again means two parties hold it, so the whole family is revoked (RFC 9700
//! §4.14.2). Rotation is a compare-and-set, so two concurrent uses cannot both win.

use super::token::TokenForm;
use crate::digest;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::App;
use sqlx::FromRow;
use tessera_proto::token::TokenResponse;
use tessera_proto::{OAuthErrorCode, Scopes};

#[derive(FromRow)]
pub(crate) struct RefreshRow {
    pub family_id: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub client_id: String,
    pub account_id: String,
    pub scope: String,
    pub revoked_at: Option<i64>,
}

/// The refresh token's row and its family, by the token itself.
pub(crate) async fn find(state: &AppState, token: &str) -> Result<Option<RefreshRow>> {
    Ok(sqlx::query_as(
        "SELECT r.family_id, r.expires_at, r.used_at, f.client_id, f.account_id, f.scope, f.revoked_at \
         FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id WHERE r.token_hash = $1",
    )
    .bind(digest::secret_hash(token))
    .fetch_optional(state.store.pool())
    .await?)
}

pub async fn grant(state: &AppState, app: &App, form: &TokenForm) -> Result<TokenResponse> {
    let token = super::required(&form.refresh_token, "refresh_token")?;
    let now = state.now();
    let row = find(state, token)
        .await?
        .ok_or_else(|| super::invalid_grant("the refresh token is invalid"))?;
    if row.client_id != app.client_id {
        return Err(super::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if row.revoked_at.is_some() {
        return Err(super::invalid_grant("the refresh token has been revoked"));
    }
    let replayed = || async {
        tracing::warn!(
            client_id = %app.client_id,
            "rotated refresh token presented again; revoking its family"
        );
        super::issue::revoke_family(state, &row.family_id).await?;
        Err::<TokenResponse, Error>(super::invalid_grant(
            "the refresh token was already used; every token of this login is now revoked",
        ))
    };
    if row.used_at.is_some() {
        return replayed().await;
    }
    if row.expires_at <= now {
        return Err(super::invalid_grant("the refresh token has expired"));
    }
    let family_scope = Scopes::parse(&row.scope);
    let scope = match form.scope.as_deref().filter(|s| !s.trim().is_empty()) {
        None => family_scope,
        Some(requested) => {
            let requested = Scopes::parse(requested);
            if !requested.is_subset(&family_scope) {
                return Err(Error::oauth(
                    OAuthErrorCode::InvalidScope,
                    "a refresh can only narrow the originally granted scope",
                ));
            }
            requested
        }
    };
    let rotated = sqlx::query(
        "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
    )
    .bind(now)
    .bind(digest::secret_hash(token))
    .execute(state.store.pool())
    .await?;
    if rotated.rows_affected() != 1 {
        return replayed().await;
    }
    let body = super::issue::in_family(state, app, &row.family_id, &row.account_id, &scope).await?;
    super::issue::count("refresh_token");
    Ok(body)
}
