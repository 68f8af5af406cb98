//! The refresh_token grant (RFC 6749 §6). Refresh tokens are opaque, stored as
//! hashes, bound to the client, and rotated on every use; presenting a rotated one
//! again means two parties hold it, so the whole family is revoked (RFC 9700
//! §4.14.2). Rotation is a compare-and-set, so two concurrent uses cannot both win.
//! Rotation never extends the family's absolute lifetime
//! (`--refresh-token-max-lifetime`, counted from the login).
//!
//! Every rotated token is kept (until it expires) to catch its replay, so a
//! refresh loop (nothing limits a public app's grants) would add rows without
//! bound: a login may be renewed [`Family::most_renewals`] times, then its
//! user signs in again.
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
    let most = family.most_renewals(svc);
    if svc.store.refresh_tokens_in_family(&row.family_id).await? > most {
        return Err(super::invalid_grant(format!(
            "this login has been renewed {most} times, the most one may; sign in again"
        )));
    }
    if !svc
        .store
        .use_refresh_token(&digest::secret_hash(token), now)
        .await?
    {
        return replayed(svc, app, &row, now).await;
    }
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
    use crate::testing::{Fixture, body_json};
    use serde_json::Value;
    use std::time::Duration;

    async fn refresh(fx: &Fixture, (id, secret): &(String, String), token: &str) -> Value {
        let fields = [
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
        ];
        body_json(fx.post_form("/oauth/token", &fields).await).await
    }

    /// A refresh loop cannot grow a login's rows without bound: a login is
    /// renewed at most four times per access-token lifetime over its whole
    /// lifetime, and every rotated token it had is still caught if replayed.
    #[tokio::test]
    async fn a_login_is_renewed_a_bounded_number_of_times() {
        let fx = Fixture::with_settings(|s| {
            s.access_token_ttl = Duration::from_secs(3600);
            s.refresh_token_max_lifetime = Duration::from_secs(30 * 3600);
        })
        .await;
        let account = fx.account("loop@example.com").await;
        let client = fx.confidential_app(&account, "Looper").await;
        let login = fx.device_login(&account, &client).await;
        let mut spent = vec![login["refresh_token"].as_str().unwrap().to_owned()];
        for _ in 0..120 {
            fx.clock.advance(1);
            let answer = refresh(&fx, &client, spent.last().unwrap()).await;
            let next = answer["refresh_token"].as_str().expect("rotated");
            spent.push(next.to_owned());
        }
        fx.clock.advance(1);
        let over = refresh(&fx, &client, spent.last().unwrap()).await;
        assert_eq!(over["error"], "invalid_grant", "{over}");
        assert!(
            over["error_description"]
                .as_str()
                .unwrap()
                .contains("renewed 120 times"),
            "{over}"
        );
        // The first rotated token is still known: its replay ends the login.
        let replay = refresh(&fx, &client, &spent[0]).await;
        assert!(
            replay["error_description"]
                .as_str()
                .unwrap()
                .contains("already used"),
            "{replay}"
        );
    }
}
