//! `POST /oauth/revoke` (RFC 7009). The client authenticates (a public client by
//! its id); the token may be an access token or a refresh token, whatever
//! `token_type_hint` says. Revoking a refresh token revokes its whole family,
//! access tokens included (§2.1). Unknown, expired or foreign tokens get the same
//! 200 as revoked ones (§2.2), so the endpoint reveals nothing.
//!
//! Two kinds of access token were issued without client authentication, so
//! holding one is enough to give it up, whatever client the request names or
//! fails to authenticate as: a token-URL session's, which belongs to no client
//! (the session id was the credential, [`super::session_token`]), and a token
//! exchange's (`gty`), whose subject token was the credential
//! ([`super::token_exchange`]). So a `login-session` or `--federated` login
//! can always be logged out of.

use super::{TokenQuestion, client_auth};
use crate::error::Result;
use crate::services::Services;
use crate::store::App;
use tessera_proto::claims::GTY_TOKEN_EXCHANGE;
use tessera_proto::{Claims, TokenUse};

pub async fn revoke(svc: &Services, request: TokenQuestion, now: i64) -> Result<()> {
    if let Some(token) = request.token.as_deref()
        && revoke_by_holder(svc, token, now).await?
    {
        return Ok(());
    }
    let app = client_auth::authenticate(&svc.store, &request.client).await?;
    let token = super::required(&request.token, "token")?;
    // The hint only orders the look-ups (§2.1); both kinds are always tried.
    if request.token_type_hint.as_deref() == Some("refresh_token") {
        if !revoke_refresh(svc, &app, token, now).await? {
            revoke_access(svc, &app, token, now).await?;
        }
    } else if !revoke_access(svc, &app, token, now).await? {
        revoke_refresh(svc, &app, token, now).await?;
    }
    Ok(())
}

/// Revokes `token` if it is an access token issued without client
/// authentication. Whether it was one.
async fn revoke_by_holder(svc: &Services, token: &str, now: i64) -> Result<bool> {
    let by_holder = |claims: &Claims| {
        claims.client_id.is_none() || claims.gty.as_deref() == Some(GTY_TOKEN_EXCHANGE)
    };
    match access_claims(svc, token, now).await {
        Some(claims) if claims.iss == svc.settings.issuer && by_holder(&claims) => {
            crate::access_tokens::revoke(&svc.store, &claims, now).await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Revokes `token` if it is an access token issued to `app`. Whether it was one.
async fn revoke_access(svc: &Services, app: &App, token: &str, now: i64) -> Result<bool> {
    let Some(claims) = access_claims(svc, token, now).await else {
        return Ok(false);
    };
    if claims.iss == svc.settings.issuer && claims.client_id.as_deref() == Some(&app.client_id) {
        crate::access_tokens::revoke(&svc.store, &claims, now).await?;
    }
    Ok(true)
}

/// The claims of `token` if it is an access token: signature and kind only,
/// since an expired or already revoked token is simply done.
async fn access_claims(svc: &Services, token: &str, now: i64) -> Option<Claims> {
    (svc.keyring)
        .verify(&svc.store, token, TokenUse::Access, now)
        .await
        .ok()
}

/// Revokes the family of `token` if it is a refresh token issued to `app`.
async fn revoke_refresh(svc: &Services, app: &App, token: &str, now: i64) -> Result<bool> {
    let Some(row) = super::refresh::find(&svc.store, token).await? else {
        return Ok(false);
    };
    if row.client_id == app.client_id {
        super::issue::revoke_family(&svc.store, &row.family_id, now).await?;
    }
    Ok(true)
}
