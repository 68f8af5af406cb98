//! API keys: compact JWS (EdDSA, `kid`), claims = account (`sub`), key id (`jti`),
//! scope, `iat`, optional `exp`; optionally behind a deployment prefix such as
//! `lk_`. The database keeps only the id and a hash (Lofty API-keys document).
//!
//! Verification order: parse, `alg` = EdDSA, known `kid`, signature, `exp`, then
//! the database row on every request, so a revocation takes effect on the next
//! request on every instance.

use crate::digest;
use crate::error::{AuthError, Error, Result};
use crate::keys::Keyring;
use crate::services::Services;
use crate::store::{ApiKeyRecord, Revoked, Store};
use tessera_proto::api::CreatedApiKey;
use tessera_proto::{ApiKey, Claims, Scopes, THIRD_PARTY_OPERATION, TokenUse};

/// `last_used_at` is written at most this often per key.
const LAST_USED_GRANULARITY_SECS: i64 = 60;

/// What to issue.
#[derive(Clone, Debug)]
pub struct NewApiKey {
    pub account_id: String,
    pub name: Option<String>,
    /// `None`: the default, `THIRD_PARTY_OPERATION`.
    pub scope: Option<Scopes>,
    /// Unix seconds; `None` for a key that does not expire.
    pub expires_at: Option<i64>,
}

/// A freshly issued key: the only moment the key itself exists outside the client.
#[derive(Debug)]
pub struct IssuedApiKey {
    pub record: ApiKeyRecord,
    pub key: ApiKey,
}

impl IssuedApiKey {
    /// The wire form (`POST /v1/api-keys`, `admin api-key create --json`).
    pub fn to_created(&self) -> CreatedApiKey {
        CreatedApiKey {
            id: self.record.id.clone(),
            key: self.key.clone(),
            scope: Scopes::parse(&self.record.scope),
            expires_at: self
                .record
                .expires_at
                .map(tessera_proto::timestamp::rfc3339),
        }
    }
}

pub fn default_scope() -> Scopes {
    Scopes::parse(THIRD_PARTY_OPERATION)
}

/// The latest expiry an API key may be given: 9999-12-31T23:59:59Z.
pub const LATEST_EXPIRY: i64 = 253_402_300_799;

/// Signs and records a new API key, with no cap on how many the account has:
/// for the operator (`admin api-key create`), the dev seed and tests; a
/// user's request goes through [`issue_for_user`].
pub async fn issue(
    store: &Store,
    keyring: &Keyring,
    issuer: &str,
    prefix: &str,
    new: NewApiKey,
    now: i64,
) -> Result<IssuedApiKey> {
    let issued = mint(keyring, issuer, prefix, new, now)?;
    store.insert_api_key(&issued.record).await?;
    Ok(issued)
}

/// Signs a new API key; recording it is the caller's.
fn mint(
    keyring: &Keyring,
    issuer: &str,
    prefix: &str,
    new: NewApiKey,
    now: i64,
) -> Result<IssuedApiKey> {
    let scope = new.scope.unwrap_or_else(default_scope);
    if scope.is_empty() {
        return Err(Error::BadRequest(
            "an API key needs at least one scope".into(),
        ));
    }
    // An empty name (a console form left blank) is no name.
    let name = (new.name.as_deref().map(str::trim))
        .filter(|n| !n.is_empty())
        .map(|n| crate::label::check("the key's name", n))
        .transpose()?;
    // Past this an expiry is no longer a date RFC 3339 can write, nor a
    // number JSON keeps exactly: no expiry is the honest way to say never.
    if new.expires_at.is_some_and(|at| at > LATEST_EXPIRY) {
        return Err(Error::BadRequest(
            "an API key's expiry must be before the year 10000; leave it out for a key that does not expire".into(),
        ));
    }
    let jti = crate::ids::api_key();
    let claims = Claims {
        exp: new.expires_at,
        ..Claims::new(
            TokenUse::ApiKey,
            issuer,
            &new.account_id,
            jti,
            scope.clone(),
            now,
        )
    };
    let (jws, kid) = keyring.sign_with_kid(&claims, None)?;
    let key = ApiKey::new(format!("{prefix}{jws}"));
    let record = ApiKeyRecord {
        id: claims.jti,
        account_id: new.account_id,
        key_hash: digest::secret_hash(&jws),
        kid,
        name,
        scope: scope.to_string(),
        created_at: now,
        expires_at: new.expires_at,
        revoked_at: None,
        last_used_at: None,
        preview: Some(key.masked()),
    };
    Ok(IssuedApiKey { record, key })
}

/// The most keys in use (not revoked, not expired) an account may have
/// from [`issue_for_user`]: beyond any real use, and a bound on what a
/// script with a session or a key can make every list of keys carry.
pub const MAX_KEYS_IN_USE: i64 = 1000;

/// The most ended keys (revoked or expired) an account keeps, newest first;
/// making a key forgets older ones. Ended keys do not count against
/// [`MAX_KEYS_IN_USE`], so without this a script making keys that expire a
/// second later (or revoking each it made) grew the account's rows, and every
/// listing of its keys (`GET /v1/api-keys`, the console), without bound. A
/// forgotten key is refused as revoked.
pub const ENDED_KEYS_KEPT: i64 = 100;

/// Keys past [`MAX_KEYS_IN_USE`] kept for sign-ins with an emailed code: a
/// stolen key can fill the cap, and the owner, proven by the code, must still
/// be able to sign in with the CLI and revoke what it made.
pub const CODE_SIGN_IN_RESERVE: i64 = 20;

/// Issues a key for a user of this server (its issuer and key prefix), counted
/// in the metrics: the console and `POST /v1/api-keys`. Refused once the
/// account has [`MAX_KEYS_IN_USE`], however many requests arrive at once.
pub async fn issue_for_user(svc: &Services, new: NewApiKey, now: i64) -> Result<IssuedApiKey> {
    issue_within(svc, new, MAX_KEYS_IN_USE, now).await
}

/// [`issue_for_user`] for a sign-in with an emailed code, which may also use
/// the [`CODE_SIGN_IN_RESERVE`].
pub async fn issue_for_code_sign_in(
    svc: &Services,
    new: NewApiKey,
    now: i64,
) -> Result<IssuedApiKey> {
    issue_within(svc, new, MAX_KEYS_IN_USE + CODE_SIGN_IN_RESERVE, now).await
}

async fn issue_within(svc: &Services, new: NewApiKey, cap: i64, now: i64) -> Result<IssuedApiKey> {
    let settings = &svc.settings;
    let (issuer, prefix) = (&settings.issuer, &settings.api_key_prefix);
    let issued = mint(&svc.keyring, issuer, prefix, new, now)?;
    let account = &issued.record.account_id;
    svc.store
        .forget_ended_api_keys(account, now, ENDED_KEYS_KEPT)
        .await?;
    // Counted and inserted together: counted first, requests at the same
    // moment each saw room and all got a key.
    if !svc
        .store
        .insert_api_key_within(&issued.record, cap, now)
        .await?
    {
        return Err(Error::Conflict(format!(
            "this account has {cap} API keys in use, the most it may have: revoke the keys it \
             no longer needs first (on the API keys page of {issuer})"
        )));
    }
    metrics::counter!(crate::metrics::API_KEYS_ISSUED).increment(1);
    Ok(issued)
}

/// Revokes a key; with `account_id`, only one of that account's (another
/// account's key reads as not found). Counted in the metrics.
pub async fn revoke(
    store: &Store,
    id: &str,
    account_id: Option<&str>,
    now: i64,
) -> Result<Revoked> {
    let revoked = store.revoke_api_key(id, account_id, now).await?;
    if revoked == Revoked::Now {
        metrics::counter!(crate::metrics::API_KEYS_REVOKED).increment(1);
    }
    Ok(revoked)
}

/// The id of a presented key, so that a leaked key can be revoked by pasting
/// it: its `jti`, once the key is found to be exactly the one recorded under
/// that id (its digest), so a forged or altered token names nothing. Expired
/// and revoked keys are found too. `None` for anything else.
pub async fn id_of_presented(store: &Store, presented: &str) -> Result<Option<String>> {
    let Some(jws) = jws_part(presented.trim()) else {
        return Ok(None);
    };
    let Some(claims) = tessera_proto::UnverifiedClaims::decode(jws) else {
        return Ok(None);
    };
    let jti = &claims.claims().jti;
    let Some(record) = store.api_key(jti).await? else {
        return Ok(None);
    };
    let digest = crate::digest::secret_hash(jws);
    let recorded =
        tessera_proto::secret::constant_time_eq(digest.as_bytes(), record.key_hash.as_bytes());
    Ok(recorded.then(|| jti.clone()))
}

/// A key that passed every check.
#[derive(Clone, Debug)]
pub struct VerifiedApiKey {
    pub claims: Claims,
    pub email: String,
}

/// The JWS inside a presented key: everything from the first `eyJ` (base64url of
/// `{"`), so keys issued under an earlier or no prefix keep working.
fn jws_part(presented: &str) -> Option<&str> {
    presented.find("eyJ").map(|start| &presented[start..])
}

/// Checks a presented API key completely, including revocation.
pub async fn verify(
    store: &Store,
    keyring: &Keyring,
    presented: &str,
    now: i64,
) -> Result<VerifiedApiKey> {
    let jws = jws_part(presented).ok_or(AuthError::Malformed)?;
    let verified = keyring
        .verify_with_digest(store, jws, TokenUse::ApiKey, now)
        .await?;
    let claims = &verified.claims;
    let row = store
        .api_key_for_auth(&claims.jti)
        .await?
        .ok_or(AuthError::Revoked)?;
    let recorded = tessera_proto::secret::constant_time_eq(
        verified.digest.as_bytes(),
        row.key_hash.as_bytes(),
    );
    if !recorded || row.account_id != claims.sub {
        // Signed by us but not the key we recorded: treat as forged.
        return Err(AuthError::BadSignature.into());
    }
    if row.revoked_at.is_some() {
        return Err(AuthError::Revoked.into());
    }
    if row.expires_at.is_some_and(|exp| exp <= now) {
        return Err(AuthError::Expired.into());
    }
    let due = |used: Option<i64>| used.is_none_or(|used| used + LAST_USED_GRANULARITY_SECS <= now);
    if due(row.last_used_at) {
        store.touch_api_key(&claims.jti, now, due).await?;
    }
    Ok(VerifiedApiKey {
        claims: claims.clone(),
        email: row.email,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fixture;
    use tessera_testkit::Backend;

    tessera_testkit::backend_tests!(keys_made_at_the_same_moment_stop_at_the_cap);

    /// Requests at the same moment each counted the account's keys, saw
    /// room, and all made one: one below the cap, 16 at once left 1015 keys
    /// in use. Now exactly one gets the last place, on both backends.
    async fn keys_made_at_the_same_moment_stop_at_the_cap(backend: Backend) {
        let Some(fx) = Fixture::on(backend).await else {
            return;
        };
        let account = fx.account("race@example.com").await;
        let (store, now) = (&fx.state.store, fx.clock_now());
        let first = fx.api_key(&account, None).await.record;
        for i in 1..MAX_KEYS_IN_USE - 1 {
            let id = format!("{}_{i}", first.id);
            let key_hash = format!("{i}");
            let filler = ApiKeyRecord {
                id,
                key_hash,
                ..first.clone()
            };
            store.insert_api_key(&filler).await.unwrap();
        }
        let tries = (0..16).map(|_| {
            let (state, account_id) = (fx.state.clone(), account.clone());
            tokio::spawn(async move {
                let new = NewApiKey {
                    account_id,
                    name: None,
                    scope: None,
                    expires_at: None,
                };
                issue_for_user(&state, new, now).await.map(drop)
            })
        });
        let answers = futures_util::future::join_all(tries).await;
        let made = crate::testing::one_made_the_rest_refused(answers);
        let keys = store.list_api_keys(Some(&account)).await.unwrap();
        let in_use = keys.iter().filter(|k| k.status(now) == "active").count();
        assert_eq!((made, in_use as i64), (1, MAX_KEYS_IN_USE));
    }

    /// Keys in use are bounded per account; revoking one makes room.
    #[tokio::test]
    async fn an_account_has_a_bounded_number_of_keys_in_use() {
        let fx = crate::testing::Fixture::new().await;
        let account = fx.account("many@example.com").await;
        let mut ids = Vec::new();
        for _ in 0..MAX_KEYS_IN_USE {
            ids.push(fx.api_key(&account, None).await.record.id);
        }
        let new = || NewApiKey {
            account_id: account.clone(),
            name: None,
            scope: None,
            expires_at: None,
        };
        let now = fx.clock_now();
        let refused = issue_for_user(&fx.state, new(), now).await.unwrap_err();
        assert!(
            matches!(&refused, Error::Conflict(m) if m.contains("revoke")),
            "{refused:?}"
        );
        // The owner, proven by an emailed code, still signs in, from a
        // reserve of its own.
        for _ in 0..CODE_SIGN_IN_RESERVE {
            issue_for_code_sign_in(&fx.state, new(), now).await.unwrap();
        }
        assert!(issue_for_code_sign_in(&fx.state, new(), now).await.is_err());
        let revoke = |id: String| {
            let (store, account) = (fx.state.store.clone(), account.clone());
            async move {
                store
                    .revoke_api_key(&id, Some(&account), now)
                    .await
                    .unwrap()
            }
        };
        for id in &ids[..CODE_SIGN_IN_RESERVE as usize] {
            revoke(id.clone()).await;
        }
        assert!(issue_for_user(&fx.state, new(), now).await.is_err());
        revoke(ids[CODE_SIGN_IN_RESERVE as usize].clone()).await;
        issue_for_user(&fx.state, new(), now).await.unwrap();
    }

    /// Keys that ended (expired or revoked) do not count against the cap, so
    /// making keys that expire at once could grow an account's list of keys
    /// without bound; it keeps the newest [`ENDED_KEYS_KEPT`] of them.
    #[tokio::test]
    async fn an_account_keeps_a_bounded_number_of_ended_keys() {
        let fx = crate::testing::Fixture::new().await;
        let account = fx.account("churn@example.com").await;
        let other = fx.account("other@example.com").await;
        let theirs = fx.api_key(&other, None).await.record.id;
        let store = &fx.state.store;
        store
            .revoke_api_key(&theirs, None, fx.clock_now())
            .await
            .unwrap();
        let in_use = fx.api_key(&account, None).await.record.id;
        let mut now = fx.clock_now();
        let mut revoked = None;
        for i in 0..ENDED_KEYS_KEPT + 50 {
            now += 10;
            let new = NewApiKey {
                account_id: account.clone(),
                name: None,
                scope: None,
                expires_at: Some(now + 1),
            };
            let id = issue_for_user(&fx.state, new, now).await.unwrap().record.id;
            if i == ENDED_KEYS_KEPT + 48 {
                store.revoke_api_key(&id, None, now).await.unwrap();
                revoked = Some(id);
            }
        }
        let listed = store.list_api_keys(Some(&account)).await.unwrap();
        let ids: Vec<&str> = listed.iter().map(|k| k.id.as_str()).collect();
        // The key in use, the newest key (not yet expired when it was made)
        // and the newest ended ones.
        assert_eq!(listed.len() as i64, 1 + 1 + ENDED_KEYS_KEPT, "{ids:?}");
        assert!(ids.contains(&in_use.as_str()));
        assert!(ids.contains(&revoked.unwrap().as_str()));
        // Another account's ended keys are its own.
        assert_eq!(store.list_api_keys(Some(&other)).await.unwrap().len(), 1);
    }

    #[test]
    fn prefix_is_skipped() {
        assert_eq!(jws_part("lk_eyJhbGc.x.y"), Some("eyJhbGc.x.y"));
        assert_eq!(jws_part("eyJhbGc.x.y"), Some("eyJhbGc.x.y"));
        assert_eq!(jws_part("nothing"), None);
    }

    #[tokio::test]
    async fn an_expiry_past_the_year_9999_is_refused() {
        let fx = crate::testing::Fixture::new().await;
        let account = fx.account("long@example.com").await;
        let now = fx.clock_now();
        let key = |expires_at| NewApiKey {
            account_id: account.clone(),
            name: None,
            scope: None,
            expires_at: Some(expires_at),
        };
        let (store, keyring) = (&fx.state.store, &fx.state.keyring);
        let issuer = crate::testing::ISSUER;
        let at_most = LATEST_EXPIRY;
        assert!(
            issue(store, keyring, issuer, "", key(at_most), now)
                .await
                .is_ok()
        );
        let err = issue(store, keyring, issuer, "", key(at_most + 1), now).await;
        assert!(matches!(err, Err(Error::BadRequest(_))));
    }
}
