//! The client_credentials grant (RFC 6749 §4.4), with Lofty's `customer_key`: an
//! API key sent along makes the token act for that key's account with that key's
//! scopes (the server-to-server flow). Without one, the token acts for the app's
//! own account. A confidential client only (public apps are never registered for
//! this grant). Nothing is written to the database: this path stays fast.

use crate::access_tokens::NewAccessToken;
use crate::api_keys;
use crate::error::{Error, Result};
use crate::services::Services;
use crate::store::App;
use tessera_proto::token::TokenResponse;

/// The grant's parameters.
pub struct Request {
    pub scope: Option<String>,
    /// Lofty's extension: an API key to act for.
    pub customer_key: Option<String>,
}

/// `key`: the thumbprint of the request's DPoP key, which the token is bound to.
pub async fn grant(
    svc: &Services,
    app: &App,
    request: Request,
    key: Option<&str>,
    now: i64,
) -> Result<TokenResponse> {
    let (account_id, scope) = match request.customer_key.as_deref() {
        Some(key) => {
            let verified = api_keys::verify(&svc.store, &svc.keyring, key, now)
                .await
                .map_err(|e| match e {
                    Error::Unauthenticated(reason) => {
                        super::invalid_grant(format!("the customer_key is not accepted: {reason}"))
                    }
                    other => other,
                })?;
            let requested = request.scope.as_deref().filter(|s| !s.trim().is_empty());
            if requested.is_some() {
                super::requested_scope(requested)?;
            }
            let scope = super::narrowed(
                requested,
                verified.claims.scope,
                "the requested scope exceeds the customer_key's scope",
            )?;
            (verified.claims.sub, scope)
        }
        None => (
            app.account_id.clone(),
            super::requested_scope(request.scope.as_deref())?,
        ),
    };
    let body = super::issue::access_only(
        svc,
        NewAccessToken {
            account_id,
            client_id: Some(app.client_id.clone()),
            scope,
            acr: None,
            dpop_jkt: key.map(str::to_owned),
        },
        svc.settings.access_token_ttl,
        now,
    )?;
    super::issue::count("client_credentials");
    Ok(body)
}
