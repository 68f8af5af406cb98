//! Access tokens: short-lived EdDSA JWS (`typ: at+jwt`, RFC 9068), `token_use:
//! access`, bound to a DPoP key (`cnf.jkt`, RFC 9449 §6.1) when the token
//! request proved one. Issuing needs no database write, so the token endpoint stays fast;
//! revocation (RFC 7009) records the `jti` until the token's `exp`, and every request
//! checks that table, so a revoked token is rejected by every instance at once.

use crate::error::{AuthError, Result};
use crate::keys::Keyring;
use crate::store::Store;
use std::time::Duration;
use tessera_proto::{AccessToken, Claims, Confirmation, Scopes, TokenUse};

/// JOSE `typ` of access tokens (RFC 9068 §2.1).
pub const TYP: &str = "at+jwt";

/// What to issue; the OAuth grant handlers fill this in.
#[derive(Clone, Debug)]
pub struct NewAccessToken {
    /// The account the token acts for (`sub`).
    pub account_id: String,
    /// The OAuth client it was issued to.
    pub client_id: Option<String>,
    pub scope: Scopes,
    /// Assurance level; `Some("0")` for token-URL sessions.
    pub acr: Option<String>,
    /// The thumbprint of the DPoP key the token is bound to.
    pub dpop_jkt: Option<String>,
}

#[derive(Debug)]
pub struct IssuedAccessToken {
    pub token: AccessToken,
    pub claims: Claims,
    /// Seconds, for the token response's `expires_in`.
    pub expires_in: u64,
}

/// Signs a new access token living `ttl` from `now`.
pub fn issue(
    keyring: &Keyring,
    issuer: &str,
    ttl: Duration,
    new: NewAccessToken,
    now: i64,
) -> Result<IssuedAccessToken> {
    let ttl_secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let claims = Claims {
        iss: issuer.to_owned(),
        sub: new.account_id,
        jti: crate::ids::access_token(),
        scope: new.scope,
        iat: now,
        exp: Some(now.saturating_add(ttl_secs)),
        token_use: TokenUse::Access,
        client_id: new.client_id,
        acr: new.acr,
        cnf: new.dpop_jkt.map(|jkt| Confirmation { jkt }),
    };
    let token = keyring.sign(&claims, Some(TYP))?;
    Ok(IssuedAccessToken {
        token: AccessToken::new(token),
        claims,
        expires_in: ttl.as_secs(),
    })
}

#[derive(Clone, Debug)]
pub struct VerifiedAccessToken {
    pub claims: Claims,
    pub email: String,
}

/// Checks an access token completely: signature, `exp`, issuer, revocation, and
/// that its account still exists.
pub async fn verify(
    store: &Store,
    keyring: &Keyring,
    issuer: &str,
    token: &str,
    now: i64,
) -> Result<VerifiedAccessToken> {
    let claims = keyring.verify(store, token, TokenUse::Access, now).await?;
    if claims.iss != issuer {
        return Err(AuthError::BadSignature.into());
    }
    // Access tokens always expire; one without `exp` was not made by `issue`.
    if claims.exp.is_none() {
        return Err(AuthError::Malformed.into());
    }
    let row = store
        .access_token_for_auth(&claims.jti, &claims.sub, claims.client_id.as_deref())
        .await?
        .ok_or(AuthError::UnknownAccount)?;
    if row.revoked_at.is_some() || row.app_exists == 0 {
        return Err(AuthError::Revoked.into());
    }
    Ok(VerifiedAccessToken {
        claims,
        email: row.email,
    })
}

/// Revokes a verified token's `jti` until its expiry.
pub async fn revoke(store: &Store, claims: &Claims, now: i64) -> Result<()> {
    let expires_at = claims.exp.unwrap_or(now);
    store
        .revoke_access_token(&claims.jti, expires_at, now)
        .await
}
