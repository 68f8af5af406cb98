//! The refresh_token grant (RFC 6749 §6). Refresh tokens are opaque, stored as
//! hashes, bound to the client, and rotated on every use; presenting a rotated one
//! again means two parties hold it, so the whole family is revoked (RFC 9700
//! §4.14.2). Rotation is a compare-and-set, so two concurrent uses cannot both win.
//! Rotation never extends the family's absolute lifetime
//! (`--refresh-token-max-lifetime`, counted from the login).
//!
//! A family keeps its [`SPENT_TOKENS_KEPT`] newest rotated tokens to catch
//! replays with: a refresh loop (nothing limits a public app's grants) would
//! otherwise add a row per rotation for the refresh token's lifetime. An
//! older one presented again is merely unknown.
//!
//! A family bound to a DPoP key (a public client's, RFC 9449 §5) refreshes only
//! with a proof by that key, checked before anything else about the token: a
//! copy of the refresh token without the key can neither use it nor, by
//! presenting it again here, revoke the owner's login. (At `/oauth/revoke` a
//! copy can still end it: RFC 7009 asks no proof of possession, and stock
//! clients send none; the worst it does is log the owner out.)

use super::issue::Grantee;
use crate::digest;
use crate::error::Result;
use crate::services::Services;
use crate::store::{App, Store, token_families::RefreshRow};
use tessera_proto::Scopes;
use tessera_proto::token::TokenResponse;

/// How many rotated refresh tokens a family remembers, newest first: at a
/// refresh an hour, four days of them.
pub const SPENT_TOKENS_KEPT: i64 = 100;

/// The grant's parameters.
pub struct Request {
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
}

/// The refresh token's row and its family, by the token itself.
pub async fn find(store: &Store, token: &str) -> Result<Option<RefreshRow>> {
    store.refresh_token(&digest::secret_hash(token)).await
}

pub async fn grant(svc: &Services, to: Grantee<'_>, request: Request) -> Result<TokenResponse> {
    let Grantee { app, key, now } = to;
    let token = super::required(&request.refresh_token, "refresh_token")?;
    let row = find(&svc.store, token)
        .await?
        .ok_or_else(|| super::invalid_grant("the refresh token is invalid"))?;
    if row.client_id != app.client_id {
        return Err(super::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if row.dpop_jkt.is_some() && row.dpop_jkt.as_deref() != key {
        return Err(super::invalid_grant(
            "the refresh token is bound to a DPoP key: send a DPoP proof signed by the key of the login",
        ));
    }
    if row.revoked_at.is_some() {
        return Err(super::invalid_grant("the refresh token has been revoked"));
    }
    if row.used_at.is_some() {
        return replayed(svc, app, &row, now).await;
    }
    let family = super::issue::Family {
        id: &row.family_id,
        account_id: &row.account_id,
        created_at: row.family_created_at,
    };
    if row.expires_at <= now || family.ends_at(svc) <= now {
        return Err(super::invalid_grant("the refresh token has expired"));
    }
    let scope = super::narrowed(
        request.scope.as_deref(),
        Scopes::parse(&row.scope),
        "a refresh can only narrow the originally granted scope",
    )?;
    if !svc
        .store
        .use_refresh_token(&digest::secret_hash(token), now)
        .await?
    {
        return replayed(svc, app, &row, now).await;
    }
    svc.store
        .forget_spent_refresh_tokens(&row.family_id, SPENT_TOKENS_KEPT)
        .await?;
    let body = super::issue::in_family(svc, to, family, &scope).await?;
    super::issue::count("refresh_token");
    Ok(body)
}

/// A rotated token presented again: two parties hold it, so its family ends.
async fn replayed(svc: &Services, app: &App, row: &RefreshRow, now: i64) -> Result<TokenResponse> {
    tracing::warn!(
        client_id = %app.client_id,
        "rotated refresh token presented again; revoking its family"
    );
    super::issue::revoke_family(&svc.store, &row.family_id, now).await?;
    Err(super::invalid_grant(
        "the refresh token was already used; every token of this login is now revoked",
    ))
}

#[cfg(test)]
mod tests {
    use super::SPENT_TOKENS_KEPT;
    use crate::testing::{Fixture, body_json};
    use serde_json::Value;

    async fn refresh(fx: &Fixture, (id, secret): &(String, String), token: &str) -> Value {
        let fields = [
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
        ];
        body_json(fx.post_form("/oauth/token", &fields).await).await
    }

    /// A refresh loop cannot grow a family without bound: it remembers its
    /// newest rotated tokens (a replay of one still ends the login) and
    /// forgets older ones (presented again, they are unknown).
    #[tokio::test]
    async fn a_family_remembers_a_bounded_number_of_rotated_tokens() {
        let fx = Fixture::new().await;
        let account = fx.account("loop@example.com").await;
        let client = fx.confidential_app(&account, "Looper").await;
        let login = fx.device_login(&account, &client).await;
        let mut spent = vec![login["refresh_token"].as_str().unwrap().to_owned()];
        for _ in 0..SPENT_TOKENS_KEPT + 20 {
            fx.clock.advance(1);
            let answer = refresh(&fx, &client, spent.last().unwrap()).await;
            let next = answer["refresh_token"].as_str().expect("rotated");
            spent.push(next.to_owned());
        }
        let current = spent.pop().unwrap();
        let forgotten = refresh(&fx, &client, &spent[0]).await;
        assert_eq!(forgotten["error"], "invalid_grant", "{forgotten}");
        assert_eq!(
            forgotten["error_description"],
            "the refresh token is invalid"
        );
        // The login goes on: forgetting is not a replay.
        fx.clock.advance(1);
        let answer = refresh(&fx, &client, &current).await;
        let current = answer["refresh_token"].as_str().expect("still refreshes");
        // The oldest token it remembers is still caught, and ends the login.
        let remembered = &spent[spent.len() + 1 - SPENT_TOKENS_KEPT as usize];
        let replay = refresh(&fx, &client, remembered).await;
        assert!(
            replay["error_description"]
                .as_str()
                .unwrap()
                .contains("already used"),
            "{replay}"
        );
        let after = refresh(&fx, &client, current).await;
        assert_eq!(after["error"], "invalid_grant", "{after}");
    }
}
