//! Who a request acts for: the one place a presented credential becomes a
//! [`Principal`] (signature, expiry, revocation).
//!
//! Accepted credentials (Lofty auth overview):
//! - `Authorization: token <api_key>`: an API key ([`crate::api_keys`]);
//! - `Authorization: Bearer <access_token>`: an OAuth access token
//!   ([`crate::access_tokens`]);
//! - `Authorization: DPoP <access_token>`: an access token bound to a key, with
//!   a proof of that key in the `DPoP` header (RFC 9449).
//!
//! The HTTP edge reads the header ([`Presented`]), calls [`authenticate`], then
//! the proof step (`dpop::check_resource`), and requires
//! `THIRD_PARTY_OPERATION` in front of every `/v1` platform endpoint.

use crate::error::{Error, Result};
use crate::services::Services;
use crate::{access_tokens, api_keys};
use tessera_proto::{API_KEYS_WRITE, Scopes};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    ApiKey,
    AccessToken,
}

impl CredentialKind {
    /// As in `GET /v1/me`'s `credential`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::AccessToken => "access_token",
        }
    }
}

/// Who a request acts for, decided by [`authenticate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub account_id: String,
    pub email: String,
    pub kind: CredentialKind,
    /// API key id or access token `jti`.
    pub credential_id: String,
    pub scope: Scopes,
    /// The OAuth client of an access token; `None` for a bare API key.
    pub client_id: Option<String>,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    /// Assurance level; `Some("0")` for token-URL logins.
    pub acr: Option<String>,
    /// The thumbprint of the key an access token is bound to (`cnf.jkt`).
    pub dpop_jkt: Option<String>,
}

impl Principal {
    pub fn require_scope(&self, scope: &'static str) -> Result<()> {
        if self.scope.contains(scope) {
            Ok(())
        } else {
            Err(Error::InsufficientScope { required: scope })
        }
    }

    /// Creating an API key makes a credential that outlives whatever created it.
    /// An access token needs `api_keys:write`, which only an app registered for
    /// it can be granted, so a third-party app (or a token-URL session) cannot
    /// keep access after the user revokes it. A bare API key may: it is the
    /// user's own first-party credential (made in the console or by a one-time
    /// code sign-in), whose holder already acts as the user with no app between
    /// them, and revoking it is the user's own decision. (Listing and revoking
    /// keys is the platform API's, as the consent page says.)
    pub fn require_key_creation(&self) -> Result<()> {
        match self.kind {
            CredentialKind::ApiKey => Ok(()),
            CredentialKind::AccessToken => self.require_scope(API_KEYS_WRITE),
        }
    }
}

/// A presented credential, before verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presented<'a> {
    ApiKey(&'a str),
    Bearer(&'a str),
    /// An access token under the DPoP scheme; its proof is checked separately.
    Dpop(&'a str),
}

/// Verifies a presented credential completely (signature, expiry, revocation).
/// Whether it is sent the way its binding requires is the next step's
/// question (`dpop::check_resource`).
pub async fn authenticate(svc: &Services, presented: Presented<'_>, now: i64) -> Result<Principal> {
    match presented {
        Presented::ApiKey(key) => {
            let v = api_keys::verify(&svc.store, &svc.keyring, key, now).await?;
            Ok(Principal {
                account_id: v.claims.sub,
                email: v.email,
                kind: CredentialKind::ApiKey,
                credential_id: v.claims.jti,
                scope: v.claims.scope,
                client_id: None,
                expires_at: v.claims.exp,
                acr: None,
                dpop_jkt: None,
            })
        }
        Presented::Bearer(token) | Presented::Dpop(token) => {
            let v =
                access_tokens::verify(&svc.store, &svc.keyring, &svc.settings.issuer, token, now)
                    .await?;
            Ok(Principal {
                account_id: v.claims.sub,
                email: v.email,
                kind: CredentialKind::AccessToken,
                credential_id: v.claims.jti,
                scope: v.claims.scope,
                client_id: v.claims.client_id,
                expires_at: v.claims.exp,
                acr: v.claims.acr,
                dpop_jkt: v.claims.cnf.map(|c| c.jkt),
            })
        }
    }
}

/// The whole authentication path through the router, with a controlled clock.
#[cfg(test)]
mod flow_tests {
    use crate::access_tokens::{self, NewAccessToken};
    use crate::api_keys::{self, NewApiKey};
    use crate::testing::{Fixture, ISSUER, body_json};
    use axum::http::StatusCode;
    use std::time::Duration;
    use tessera_proto::{Claims, Scopes, THIRD_PARTY_OPERATION, TokenUse};

    /// Registers the app `app_1` that [`access`] issues tokens for: a token naming
    /// a deleted (or never created) app is refused.
    async fn register_app(fx: &Fixture, account: &str) {
        fx.app(account, crate::apps::NewApp::public_client("App", "app_1"))
            .await;
    }

    fn access(fx: &Fixture, account: &str, scope: &str) -> access_tokens::IssuedAccessToken {
        access_tokens::issue(
            &fx.state.keyring,
            &fx.state.settings.issuer,
            Duration::from_secs(60),
            NewAccessToken {
                acr: Some("0".into()),
                ..NewAccessToken::new(account, Some("app_1"), Scopes::parse(scope))
            },
            fx.clock_now(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn access_token_authenticates_until_it_expires() {
        let fx = Fixture::new().await;
        let account = fx.account("a@example.com").await;
        register_app(&fx, &account).await;
        let token = access(&fx, &account, THIRD_PARTY_OPERATION);
        let bearer = format!("Bearer {}", token.token.expose_secret());
        let response = fx.get("/v1/me", &bearer).await;
        assert_eq!(response.status(), StatusCode::OK);
        let me = body_json(response).await;
        assert_eq!(me["credential"], "access_token");
        assert_eq!(me["client_id"], "app_1");
        assert_eq!(me["acr"], "0");
        assert_eq!(me["email"], "a@example.com");

        fx.clock.advance(59);
        assert_eq!(fx.get("/v1/me", &bearer).await.status(), StatusCode::OK);
        fx.clock.advance(1);
        assert!(refused(&fx, &bearer).await.contains("expired"));
    }

    /// Asserts a 401 for `authorization` on `/v1/me`; its message.
    async fn refused(fx: &Fixture, authorization: &str) -> String {
        let response = fx.get("/v1/me", authorization).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        body_json(response).await["message"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[tokio::test]
    async fn revoked_access_token_is_rejected() {
        let fx = Fixture::new().await;
        let account = fx.account("a@example.com").await;
        register_app(&fx, &account).await;
        let token = access(&fx, &account, THIRD_PARTY_OPERATION);
        let bearer = format!("Bearer {}", token.token.expose_secret());
        access_tokens::revoke(&fx.state.store, &token.claims, fx.clock_now())
            .await
            .unwrap();
        assert!(refused(&fx, &bearer).await.contains("revoked"));
    }

    #[tokio::test]
    async fn token_kinds_do_not_cross() {
        let fx = Fixture::new().await;
        let account = fx.account("a@example.com").await;
        register_app(&fx, &account).await;
        let token = access(&fx, &account, THIRD_PARTY_OPERATION);
        // An access token sent as an API key, and an API key sent as a bearer token.
        let as_key = format!("token {}", token.token.expose_secret());
        assert_eq!(
            fx.get("/v1/me", &as_key).await.status(),
            StatusCode::UNAUTHORIZED
        );
        let key = fx.api_key(&account, None).await;
        let as_bearer = format!("Bearer {}", key.key.expose_secret());
        assert_eq!(
            fx.get("/v1/me", &as_bearer).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }

    #[tokio::test]
    async fn access_token_from_another_issuer_is_rejected() {
        let fx = Fixture::new().await;
        let account = fx.account("a@example.com").await;
        let now = fx.clock_now();
        let scope = Scopes::parse(THIRD_PARTY_OPERATION);
        let elsewhere = "https://elsewhere.example";
        let claims = Claims {
            exp: Some(now + 60),
            ..Claims::new(TokenUse::Access, elsewhere, account, "at_x", scope, now)
        };
        let token = fx
            .state
            .keyring
            .sign(&claims, Some(access_tokens::TYP))
            .unwrap();
        let response = fx.get("/v1/me", &format!("Bearer {token}")).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn access_token_without_the_scope_gets_200100() {
        let fx = Fixture::new().await;
        let account = fx.account("a@example.com").await;
        register_app(&fx, &account).await;
        let token = access(&fx, &account, "openid");
        let response = fx
            .get("/v1/me", &format!("Bearer {}", token.token.expose_secret()))
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(body_json(response).await["code"], 200100);
    }

    #[tokio::test]
    async fn api_key_expires_on_the_clock() {
        let fx = Fixture::new().await;
        let account = fx.account("a@example.com").await;
        let key = api_keys::issue(
            &fx.state.store,
            &fx.state.keyring,
            ISSUER,
            "lk_",
            NewApiKey {
                account_id: account,
                name: None,
                scope: None,
                expires_at: Some(fx.clock_now() + 30),
            },
            fx.clock_now(),
        )
        .await
        .unwrap();
        let auth = format!("token {}", key.key.expose_secret());
        assert!(key.key.expose_secret().starts_with("lk_eyJ"));
        assert_eq!(fx.get("/v1/me", &auth).await.status(), StatusCode::OK);
        fx.clock.advance(30);
        assert_eq!(
            fx.get("/v1/me", &auth).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }

    #[tokio::test]
    async fn deleted_account_invalidates_its_access_tokens() {
        let fx = Fixture::new().await;
        let token = access(&fx, "acct_missing", THIRD_PARTY_OPERATION);
        let response = fx
            .get("/v1/me", &format!("Bearer {}", token.token.expose_secret()))
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}
