//! Access tokens: short-lived EdDSA JWS (`typ: at+jwt`, RFC 9068), `token_use:
//! access`, bound to a DPoP key (`cnf.jkt`, RFC 9449 §6.1) when the token
//! request proved one. Issuing needs no database write, so the token endpoint stays fast;
//! revocation (RFC 7009) records the `jti` until the token's `exp`, and every request
//! checks that table, so a revoked token is rejected by every instance at once.
//!
//! A token also dies with what it came from ([`Lineage`]): its claims name its
//! token family (`fam`) or the API key it acts through (`key_id`), and the same
//! per-request query that reads the revocation list reads that row.

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
    pub lineage: Lineage,
    /// `aud`: another server the token is meant for (RFC 8707 `resource`);
    /// `None` for this server's own API, named by its issuer (RFC 9068 §3:
    /// a default resource when the request named none).
    pub audience: Option<String>,
    /// The thumbprint of the DPoP key the token is bound to.
    pub dpop_jkt: Option<String>,
    /// Issued by a token exchange (`gty`): its holder may revoke it.
    pub exchanged: bool,
}

impl NewAccessToken {
    /// A token of `client_id` (none for a token-URL session) acting for
    /// `account_id` with `scope`, and nothing more: no `acr`, no lineage, this
    /// server's own audience, no key. A grant sets the rest with struct update
    /// syntax.
    pub fn new(account_id: impl Into<String>, client_id: Option<&str>, scope: Scopes) -> Self {
        Self {
            account_id: account_id.into(),
            client_id: client_id.map(str::to_owned),
            scope,
            acr: None,
            lineage: Lineage::Own,
            audience: None,
            dpop_jkt: None,
            exchanged: false,
        }
    }
}

/// What else an access token dies with, besides its `exp` and its own revocation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Lineage {
    /// Nothing else: client_credentials without a `customer_key`, token-URL sessions.
    #[default]
    Own,
    /// Its token family: a replayed refresh token or code, a revoked refresh token,
    /// the user revoking the app (RFC 9700 §4.14.2, RFC 6749 §4.1.2, RFC 7009 §2.1).
    Family(String),
    /// The API key (`customer_key`) it acts through: revoked key, refused token.
    ApiKey(String),
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
    let (family_id, api_key_id) = match new.lineage {
        Lineage::Own => (None, None),
        Lineage::Family(id) => (Some(id), None),
        Lineage::ApiKey(id) => (None, Some(id)),
    };
    let jti = crate::ids::access_token();
    let claims = Claims {
        exp: Some(now.saturating_add(ttl_secs)),
        client_id: new.client_id,
        acr: new.acr,
        family_id,
        api_key_id,
        aud: Some(new.audience.unwrap_or_else(|| issuer.to_owned())),
        cnf: new.dpop_jkt.map(|jkt| Confirmation { jkt }),
        gty: new
            .exchanged
            .then(|| tessera_proto::claims::GTY_TOKEN_EXCHANGE.to_owned()),
        ..Claims::new(
            TokenUse::Access,
            issuer,
            new.account_id,
            jti,
            new.scope,
            now,
        )
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

/// Checks an access token completely: signature, `exp`, issuer, revocation, that
/// its account and app still exist, and that its family or API key is not revoked.
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
    // RFC 8707 §2: a token minted for another resource is that resource's.
    // (Tokens issued before `aud` defaulted to the issuer have none.)
    if claims.aud.as_deref().is_some_and(|aud| aud != issuer) {
        return Err(AuthError::OtherAudience.into());
    }
    // Access tokens always expire; one without `exp` was not made by `issue`.
    if claims.exp.is_none() {
        return Err(AuthError::Malformed.into());
    }
    let row = store
        .access_token_for_auth(&claims)
        .await?
        .ok_or(AuthError::UnknownAccount)?;
    if row.revoked_at.is_some() || row.app_exists == 0 || row.lineage_ended != 0 {
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
