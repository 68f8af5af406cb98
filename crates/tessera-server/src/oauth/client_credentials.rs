//! The client_credentials grant (RFC 6749 §4.4), with Lofty's `customer_key`: an
//! API key sent along makes the token act for that key's account with that key's
//! scopes (the server-to-server flow) and dies with that key: its claims name the
//! key (`key_id`), so revoking the key refuses the token at the next request on
//! every instance, and it never lives past the key's expiry. Without a key, the
//! token acts for the app's own account. A confidential client only (public apps
//! are never registered for this grant). Nothing is written to the database:
//! this path stays fast.

use super::issue::Grantee;
use crate::access_tokens::{Lineage, NewAccessToken};
use crate::api_keys;
use crate::error::{Error, Result};
use crate::services::Services;
use std::time::Duration;
use tessera_proto::OAuthErrorCode;
use tessera_proto::token::TokenResponse;

/// The grant's parameters.
pub struct Request {
    pub scope: Option<String>,
    /// Lofty's extension: an API key to act for.
    pub customer_key: Option<String>,
    /// RFC 8707: another server the token is for (its `aud`), e.g. a tesserad
    /// that trusts this one's tokens (workload identity federation). That
    /// server accepts the token; this one then refuses it.
    pub resource: Option<String>,
}

pub async fn grant(svc: &Services, to: Grantee<'_>, request: Request) -> Result<TokenResponse> {
    let Grantee { app, key, now } = to;
    let audience = super::resource(request.resource)?;
    let requested = request.scope.as_deref().filter(|s| !s.trim().is_empty());
    let mut ttl = svc.settings.access_token_ttl;
    let (account_id, scope, lineage) = match request.customer_key.as_deref() {
        Some(customer_key) => {
            let verified = api_keys::verify(&svc.store, &svc.keyring, customer_key, now)
                .await
                .map_err(|e| match e {
                    Error::Unauthenticated(reason) => {
                        super::invalid_grant(format!("the customer_key is not accepted: {reason}"))
                    }
                    other => other,
                })?;
            let scope = match requested {
                Some(_) => {
                    super::requested_scope(app, requested)?;
                    super::narrowed(
                        requested,
                        verified.claims.scope,
                        "the requested scope exceeds the customer_key's scope",
                    )?
                }
                // The key's scopes pass on, but a restricted one only to an app
                // registered for it.
                None => (verified.claims.scope.iter())
                    .filter(|s| super::registered_for(app, s))
                    .collect(),
            };
            if scope.is_empty() {
                return Err(Error::oauth(
                    OAuthErrorCode::InvalidScope,
                    "the customer_key carries no scope this app may be granted",
                ));
            }
            // The token dies with the key: revoked at the next request (its
            // lineage), expired by its own `exp`.
            if let Some(key_exp) = verified.claims.exp {
                let left = key_exp.saturating_sub(now).max(0).unsigned_abs();
                ttl = ttl.min(Duration::from_secs(left));
            }
            let lineage = Lineage::ApiKey(verified.claims.jti);
            (verified.claims.sub, scope, lineage)
        }
        None => {
            let scope = super::requested_scope(app, requested)?;
            (app.account_id.clone(), scope, Lineage::Own)
        }
    };
    let new = NewAccessToken {
        lineage,
        audience,
        dpop_jkt: key.map(str::to_owned),
        ..NewAccessToken::new(account_id, Some(&app.client_id), scope)
    };
    let body = super::issue::access_only(svc, new, ttl, now)?;
    super::issue::count("client_credentials");
    Ok(body)
}
