//! Issuing token responses, and token families.
//!
//! A family is one grant (a redeemed authorization code, an approved device) and
//! every token issued from it. Its access tokens name it (`fam`) and its refresh
//! tokens point at it, so one [`revoke_family`] ends all of them: on replay of a
//! rotated refresh token (RFC 9700 §4.14.2), on reuse of an authorization code
//! (RFC 6749 §4.1.2), and on revocation of a refresh token (RFC 7009 §2.1).
//! A family also has an absolute lifetime (`--refresh-token-max-lifetime`, from
//! its creation): rotation never extends it, and no token of the family outlives
//! it. client_credentials and token-URL tokens have no family and write nothing.
//!
//! DPoP (RFC 9449): a token request with a valid proof gets tokens bound to the
//! proof's key (`key`, its thumbprint): access tokens carry `cnf.jkt` and the
//! response says `token_type: DPoP`. A public client's family is bound too, so
//! its refresh tokens only work with a proof by that key; a confidential
//! client's are not (RFC 9449 §5: they already need the client's secret), so
//! such a client may move to a new key at a refresh.

use crate::access_tokens::{self, Lineage, NewAccessToken};
use crate::digest;
use crate::error::Result;
use crate::services::Services;
use crate::store::{App, Store};
use std::time::Duration;
use tessera_proto::token::TokenResponse;
use tessera_proto::{RefreshToken, Scopes, dpop};

/// Every refresh token starts with this (access tokens are JWS, `eyJ…`).
pub const REFRESH_TOKEN_PREFIX: &str = "rt_";

/// Whom a grant issues tokens to: the authenticated app, the thumbprint of
/// the key its DPoP proof proved (the tokens are bound to it), and when.
#[derive(Clone, Copy)]
pub struct Grantee<'a> {
    pub app: &'a App,
    pub key: Option<&'a str>,
    pub now: i64,
}

/// Counts an issued token under `grant` (one of [`crate::metrics::GRANTS`]).
pub fn count(grant: &'static str) {
    metrics::counter!(crate::metrics::TOKENS_ISSUED, "grant" => grant).increment(1);
}

/// `token_type` of an access token bound to a key, or not (RFC 9449 §5).
fn token_type(bound: bool) -> String {
    if bound { dpop::TOKEN_TYPE } else { "Bearer" }.to_owned()
}

/// An access token without refresh token or family (client_credentials, token URL).
pub fn access_only(
    svc: &Services,
    new: NewAccessToken,
    ttl: Duration,
    now: i64,
) -> Result<TokenResponse> {
    let scope = new.scope.to_string();
    let acr = new.acr.clone();
    let bound = new.dpop_jkt.is_some();
    let issued = access_tokens::issue(&svc.keyring, &svc.settings.issuer, ttl, new, now)?;
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: token_type(bound),
        expires_in: Some(issued.expires_in),
        refresh_token: None,
        scope: Some(scope),
        acr,
        issued_token_type: None,
    })
}

/// A new family id (the family is opened with its code or device, in the
/// transaction that consumes it).
pub fn new_family_id() -> String {
    format!("fam_{}", uuid::Uuid::now_v7().simple())
}

/// One login: the family's id, whom it acts for, and when it was created.
#[derive(Clone, Copy, Debug)]
pub struct Family<'a> {
    pub id: &'a str,
    pub account_id: &'a str,
    pub created_at: i64,
}

impl Family<'_> {
    /// How many times the family may be renewed: four times an access
    /// token's lifetime, all its life (8640 by default), as many as a client
    /// refreshing early could want; a loop then ends the login rather than
    /// add a row per rotation without bound.
    pub fn most_renewals(&self, svc: &Services) -> i64 {
        let lifetime = svc.settings.refresh_token_max_lifetime.as_secs();
        let ttl = svc.settings.access_token_ttl.as_secs().max(1);
        i64::try_from(lifetime / ttl)
            .unwrap_or(i64::MAX / 4)
            .saturating_mul(4)
    }

    /// Unix seconds at which the family's absolute lifetime ends.
    pub fn ends_at(&self, svc: &Services) -> i64 {
        let max = svc.settings.refresh_token_max_lifetime.as_secs();
        self.created_at
            .saturating_add(i64::try_from(max).unwrap_or(i64::MAX / 2))
    }
}

/// An access token in `family` (bound to the grantee's key, if any), plus a
/// new refresh token when the app may refresh; neither outlives the family.
/// `invalid_grant` once the family's absolute lifetime is over: the user signs
/// in again.
pub async fn in_family(
    svc: &Services,
    to: Grantee<'_>,
    family: Family<'_>,
    scope: &Scopes,
) -> Result<TokenResponse> {
    let Grantee { app, key, now } = to;
    let ends_at = family.ends_at(svc);
    let Some(left) = ends_at.checked_sub(now).filter(|left| *left > 0) else {
        return Err(super::invalid_grant(
            "this login has reached the refresh tokens' maximum lifetime; sign in again",
        ));
    };
    let ttl = svc
        .settings
        .access_token_ttl
        .min(Duration::from_secs(left.unsigned_abs()));
    let new = NewAccessToken {
        lineage: Lineage::Family(family.id.to_owned()),
        dpop_jkt: key.map(str::to_owned),
        ..NewAccessToken::new(family.account_id, Some(&app.client_id), scope.clone())
    };
    let issued = access_tokens::issue(&svc.keyring, &svc.settings.issuer, ttl, new, now)?;
    let refresh_token = if app
        .grant_types
        .iter()
        .any(|g| g == super::GRANT_REFRESH_TOKEN)
    {
        Some(new_refresh_token(svc, family.id, now, ends_at).await?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: token_type(key.is_some()),
        expires_in: Some(issued.expires_in),
        refresh_token,
        scope: Some(scope.to_string()),
        acr: None,
        issued_token_type: None,
    })
}

/// An opaque refresh token (256 random bits), living `--refresh-token-ttl` but
/// not past `ends_at`; only its hash is stored.
async fn new_refresh_token(
    svc: &Services,
    family_id: &str,
    now: i64,
    ends_at: i64,
) -> Result<RefreshToken> {
    let ttl = i64::try_from(svc.settings.refresh_token_ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let token = format!("{REFRESH_TOKEN_PREFIX}{}", digest::random_token(32));
    let stored = svc
        .store
        .insert_refresh_token(
            &digest::secret_hash(&token),
            family_id,
            now,
            now.saturating_add(ttl).min(ends_at),
        )
        .await?;
    if !stored {
        return Err(super::invalid_grant(
            "the app was deleted while the tokens were issued",
        ));
    }
    Ok(RefreshToken::new(token))
}

/// Revokes a family: its refresh tokens and its access tokens stop working.
pub async fn revoke_family(store: &Store, family_id: &str, now: i64) -> Result<()> {
    store.revoke_token_family(family_id, now).await?;
    tracing::info!(family = family_id, "token family revoked");
    Ok(())
}
