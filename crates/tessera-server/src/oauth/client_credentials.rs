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
use tessera_proto::token::TokenResponse;
use tessera_proto::{OAuthErrorCode, Scopes};

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
            // An expiring key cannot make a key that outlives it
            // (`POST /v1/api-keys` caps it): nor through a token it got.
            let scope: Scopes = match verified.claims.exp {
                Some(_) => (scope.iter())
                    .filter(|s| *s != tessera_proto::API_KEYS_WRITE)
                    .collect(),
                None => scope,
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

#[cfg(test)]
mod tests {
    use crate::apps::NewApp;
    use crate::testing::{Fixture, body_json};
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use base64::Engine as _;
    use tessera_proto::{API_KEYS_WRITE, Scopes};

    /// A token got with an expiring key cannot create API keys, which would
    /// outlive the key (as `POST /v1/api-keys` with the key itself cannot);
    /// with a key that does not expire, an app registered for it may.
    #[tokio::test]
    async fn an_expiring_customer_key_passes_on_no_key_creation() {
        let fx = Fixture::new().await;
        let account = fx.account("ci@example.com").await;
        let app = NewApp {
            scopes: Scopes::parse(API_KEYS_WRITE),
            ..NewApp::named("Key manager")
        };
        let created = fx.app(&account, app).await;
        let secret = created.client_secret.unwrap();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            created.app.client_id,
            secret.expose_secret()
        ));
        let scope = Scopes::parse(&format!("THIRD_PARTY_OPERATION {API_KEYS_WRITE}"));
        let forever = fx.api_key(&account, Some(scope.clone())).await;
        let new = crate::api_keys::NewApiKey {
            account_id: account.clone(),
            name: None,
            scope: Some(scope),
            expires_at: Some(fx.clock_now() + 3600),
        };
        let state = &fx.state;
        let expiring = crate::api_keys::issue(
            &state.store,
            &state.keyring,
            crate::testing::ISSUER,
            "",
            new,
            fx.clock_now(),
        )
        .await
        .unwrap();
        for (key, keeps) in [(&forever, true), (&expiring, false)] {
            let form = format!(
                "grant_type=client_credentials&customer_key={}",
                key.key.expose_secret()
            );
            let request = Request::post("/oauth/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::AUTHORIZATION, format!("Basic {basic}"))
                .body(Body::from(form))
                .unwrap();
            let response = fx.send(request).await;
            assert_eq!(response.status(), StatusCode::OK);
            let granted = body_json(response).await["scope"]
                .as_str()
                .unwrap()
                .to_owned();
            assert_eq!(
                Scopes::parse(&granted).contains(API_KEYS_WRITE),
                keeps,
                "{granted}"
            );
        }
    }
}
