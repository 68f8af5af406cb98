//! The token URL (Lofty `login-session`): a session id made by `tesserad admin
//! session create` or the console is exchanged exactly once, at
//! `POST /oauth/session-token`, for an access token marked Level 0 (`acr: "0"`,
//! the lowest assurance), living at most [`MAX_TTL_SECS`]. No client
//! authentication: the session id is the credential.

use crate::access_tokens::NewAccessToken;
use crate::digest;
use crate::error::Result;
use crate::services::Services;
use crate::store::Store;
use crate::store::sessions::SessionRow;
use std::time::Duration;
use tessera_proto::token::TokenResponse;

/// Level 0 tokens are short-lived whatever `--access-token-ttl` says.
pub const MAX_TTL_SECS: u64 = 15 * 60;
/// A session must be exchanged within this time.
pub const SESSION_TTL_SECS: i64 = 10 * 60;
/// Assurance level of admin- and console-created sessions: the lowest.
pub const LEVEL_0: &str = "0";

/// Creates a session; returns the secret session id (only its hash is stored).
pub async fn create(
    store: &Store,
    account_id: &str,
    acr: &str,
    now: i64,
) -> Result<(String, SessionRow)> {
    let session_id = digest::random_token(32);
    let row = SessionRow {
        id_hash: digest::secret_hash(&session_id),
        account_id: account_id.to_owned(),
        acr: acr.to_owned(),
        created_at: now,
        expires_at: now + SESSION_TTL_SECS,
        consumed_at: None,
    };
    store.insert_session(&row).await?;
    Ok((session_id, row))
}

/// Trades a session id for a Level 0 access token, once.
pub async fn exchange(
    svc: &Services,
    session_id: Option<String>,
    now: i64,
) -> Result<TokenResponse> {
    let session_id = super::required(&session_id, "session_id")?;
    let session = svc
        .store
        .take_session(&digest::secret_hash(session_id), now)
        .await?
        .ok_or_else(|| super::invalid_grant("the session is unknown, expired or already used"))?;
    let ttl = svc
        .settings
        .access_token_ttl
        .min(Duration::from_secs(MAX_TTL_SECS));
    let scope = crate::api_keys::default_scope();
    let new = NewAccessToken {
        acr: Some(session.acr),
        ..NewAccessToken::new(session.account_id, None, scope)
    };
    let body = super::issue::access_only(svc, new, ttl, now)?;
    super::issue::count("session");
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fixture;

    #[tokio::test]
    async fn sessions_are_single_use_and_expire() {
        let fx = Fixture::new().await;
        let store = &fx.state.store;
        let now = fx.clock_now();
        let account = fx.account("s@example.com").await;
        let (id, row) = create(store, &account, LEVEL_0, now).await.unwrap();
        let hash = digest::secret_hash(&id);
        assert_eq!(row.id_hash, hash);
        let taken = store.take_session(&hash, now + 1).await.unwrap().unwrap();
        assert_eq!(taken.account_id, account);
        assert_eq!(taken.acr, "0");
        assert!(
            store.take_session(&hash, now + 2).await.unwrap().is_none(),
            "single use"
        );

        let (id, row) = create(store, &account, LEVEL_0, now).await.unwrap();
        let hash = digest::secret_hash(&id);
        assert!(
            store
                .take_session(&hash, row.expires_at)
                .await
                .unwrap()
                .is_none(),
            "expired"
        );
    }

    /// A `login-session` login can be logged out of: the token belongs to no
    /// client, so holding it is enough to revoke it.
    #[tokio::test]
    async fn a_session_token_is_revoked_by_whoever_holds_it() {
        let fx = Fixture::new().await;
        let account = fx.account("s@example.com").await;
        let (id, _) = create(&fx.state.store, &account, LEVEL_0, fx.clock_now())
            .await
            .unwrap();
        let tokens = crate::testing::body_json(
            fx.post_form("/oauth/session-token", &[("session_id", &id)])
                .await,
        )
        .await;
        let token = tokens["access_token"].as_str().expect("a token").to_owned();
        let bearer = format!("Bearer {token}");
        assert_eq!(fx.get("/v1/me", &bearer).await.status(), 200);
        let revoked = fx
            .post_form(
                "/oauth/revoke",
                &[("token", &token), ("client_id", "not-a-client")],
            )
            .await;
        assert_eq!(revoked.status(), 200);
        assert_eq!(fx.get("/v1/me", &bearer).await.status(), 401);
    }
}
