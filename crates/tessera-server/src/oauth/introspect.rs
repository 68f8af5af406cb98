//! `POST /oauth/introspect` (RFC 7662). Only confidential clients may ask (§2.1:
//! the endpoint must be protected; a public client's id proves nothing). Access
//! tokens get the full check the API applies (signature, expiry, revocation,
//! account), and a DPoP-bound one shows its key as `cnf` (RFC 9449 §6.2);
//! refresh tokens are active while unused, unexpired and unrevoked.
//! Anything else is `{"active": false}` and nothing more (§2.2).

use super::{TokenQuestion, client_auth};
use crate::access_tokens;
use crate::error::{Error, Result};
use crate::services::Services;
use tessera_proto::token::IntrospectionResponse;
use tessera_proto::{Confirmation, OAuthErrorCode, dpop};

pub async fn introspect(
    svc: &Services,
    request: TokenQuestion,
    now: i64,
) -> Result<IntrospectionResponse> {
    let app = client_auth::authenticate(&svc.store, &request.client).await?;
    if app.public {
        return Err(Error::oauth(
            OAuthErrorCode::InvalidClient,
            "introspection requires a confidential client",
        ));
    }
    let token = super::required(&request.token, "token")?;
    // Refresh tokens carry an `rt_` prefix and access tokens are JWS, so the kind
    // is known without the hint (RFC 7662 §2.1 lets the server ignore it).
    let found = if token.starts_with(super::issue::REFRESH_TOKEN_PREFIX) {
        as_refresh_token(svc, token, now).await?
    } else {
        as_access_token(svc, token, now).await?
    };
    Ok(found.unwrap_or_default())
}

async fn as_access_token(
    svc: &Services,
    token: &str,
    now: i64,
) -> Result<Option<IntrospectionResponse>> {
    match access_tokens::verify(&svc.store, &svc.keyring, &svc.settings.issuer, token, now).await {
        Ok(v) => Ok(Some(IntrospectionResponse {
            active: true,
            scope: Some(v.claims.scope.to_string()),
            client_id: v.claims.client_id,
            sub: Some(v.claims.sub),
            exp: v.claims.exp,
            iat: Some(v.claims.iat),
            iss: Some(v.claims.iss),
            jti: Some(v.claims.jti),
            token_type: Some(
                if v.claims.cnf.is_some() {
                    dpop::TOKEN_TYPE
                } else {
                    "Bearer"
                }
                .into(),
            ),
            cnf: v.claims.cnf,
        })),
        // Not a (valid) access token; a database failure is still a failure.
        Err(Error::Unauthenticated(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

async fn as_refresh_token(
    svc: &Services,
    token: &str,
    now: i64,
) -> Result<Option<IntrospectionResponse>> {
    let Some(row) = super::refresh::find(&svc.store, token).await? else {
        return Ok(None);
    };
    let active = row.used_at.is_none() && row.revoked_at.is_none() && row.expires_at > now;
    Ok(active.then(|| IntrospectionResponse {
        active: true,
        scope: Some(row.scope),
        client_id: Some(row.client_id),
        sub: Some(row.account_id),
        exp: Some(row.expires_at),
        token_type: Some("refresh_token".into()),
        cnf: row.dpop_jkt.map(|jkt| Confirmation { jkt }),
        ..Default::default()
    }))
}
