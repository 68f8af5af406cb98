//! API keys: their id and a hash, never the key; and the per-request check.

use super::{Store, batch};
use crate::error::Result;
use sqlx::{AnyPool, FromRow};
use std::collections::{HashMap, HashSet};

/// An API key's row: its id and a hash, never the key.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct ApiKeyRecord {
    pub id: String,
    pub account_id: String,
    /// [`crate::digest::secret_hash`] of the JWS (without deployment prefix).
    pub key_hash: String,
    /// The signing key; keeps that key verifiable while this API key lives.
    pub kid: String,
    pub name: Option<String>,
    /// Space-separated.
    pub scope: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
    /// A masked form of the key (first and last characters) to recognise it by;
    /// `None` for keys issued before previews were kept.
    pub preview: Option<String>,
}

impl ApiKeyRecord {
    /// `revoked`, `expired` or `active` at `now` (Unix seconds), as listings
    /// show it.
    pub fn status(&self, now: i64) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at.is_some_and(|e| e <= now) {
            "expired"
        } else {
            "active"
        }
    }
}

/// What the per-request check needs, in one query.
#[derive(Clone, Debug, FromRow)]
pub struct ApiKeyAuthRow {
    pub account_id: String,
    pub email: String,
    pub key_hash: String,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

#[derive(FromRow)]
struct ApiKeyAuthRowWithId {
    id: String,
    #[sqlx(flatten)]
    row: ApiKeyAuthRow,
}

/// What `revoke_api_key` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revoked {
    Now,
    Already,
    NotFound,
}

macro_rules! api_key_columns {
    () => {
        "id, account_id, key_hash, kid, name, scope, created_at, expires_at, revoked_at, last_used_at, \
         preview"
    };
}

/// [`Store::api_key_for_auth`] for many keys in one query (the PostgreSQL batcher).
pub(super) async fn query_for_auth_batch(
    pool: AnyPool,
    ids: Vec<String>,
) -> Result<HashMap<String, ApiKeyAuthRow>> {
    // Built from placeholders only; the ids are bound.
    let sql = format!(
        "SELECT k.id, k.account_id, a.email, k.key_hash, k.expires_at, k.revoked_at, k.last_used_at \
         FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.id IN ({})",
        batch::placeholders(ids.len())
    );
    let mut query = sqlx::query_as::<_, ApiKeyAuthRowWithId>(sqlx::AssertSqlSafe(sql));
    for id in ids {
        query = query.bind(id);
    }
    let rows = query.fetch_all(&pool).await?;
    Ok(rows.into_iter().map(|r| (r.id, r.row)).collect())
}

const INSERT_API_KEY: &str = concat!(
    "INSERT INTO api_keys (",
    api_key_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
);

/// How many of an account's (`$1`) keys are in use at `$2`.
const IN_USE: &str = "SELECT COUNT(*) FROM api_keys WHERE account_id = $1 \
                      AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)";

#[allow(clippy::type_complexity)]
fn api_key_values(
    key: &ApiKeyRecord,
) -> (
    &str,
    &str,
    &str,
    &str,
    &Option<String>,
    &str,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    &Option<String>,
) {
    (
        &key.id,
        &key.account_id,
        &key.key_hash,
        &key.kid,
        &key.name,
        &key.scope,
        key.created_at,
        key.expires_at,
        key.revoked_at,
        key.last_used_at,
        &key.preview,
    )
}

impl Store {
    pub async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<()> {
        self.execute(INSERT_API_KEY, api_key_values(key)).await?;
        Ok(())
    }

    /// Inserts a key only while its account has fewer than `cap` keys in use
    /// at `now` (neither revoked nor expired); `false` when it has `cap`,
    /// however many requests ask at the same moment.
    pub async fn insert_api_key_within(
        &self,
        key: &ApiKeyRecord,
        cap: i64,
        now: i64,
    ) -> Result<bool> {
        let count = (IN_USE, (key.account_id.as_str(), now));
        let insert = (INSERT_API_KEY, api_key_values(key));
        self.insert_within(&key.account_id, cap, count, insert)
            .await
    }

    /// Every request's API-key check. Reflects every commit before the call
    /// (SQLite: see [`super::auth_cache`]; PostgreSQL: see [`super::batch`]).
    pub async fn api_key_for_auth(&self, id: &str) -> Result<Option<ApiKeyAuthRow>> {
        self.cached(|| id, async {
            if let Some(batch) = &self.api_key_batch
                && let Some(answer) = batch.get(id.to_owned()).await
            {
                return Ok(answer);
            }
            let sql = "SELECT k.account_id, a.email, k.key_hash, k.expires_at, k.revoked_at, \
                       k.last_used_at FROM api_keys k JOIN accounts a ON a.id = k.account_id \
                       WHERE k.id = $1";
            self.optional(sql, (id,)).await
        })
        .await
    }

    /// Records use at `now` when `due(last_used_at)` says so (callers throttle: a
    /// write per request would serialize SQLite), once however many requests
    /// find it due together: the first to mark this process's cached row writes,
    /// the others see the mark and skip. (Marking after the write let every
    /// request in flight write the same row; queued on its lock, some waited up
    /// to a second: bench/RESULTS.md, "The two-instance p99 spikes".) The write
    /// does not change PostgreSQL's cache marker, so the cached row keeps the mark.
    pub async fn touch_api_key(
        &self,
        id: &str,
        now: i64,
        due: impl FnOnce(Option<i64>) -> bool,
    ) -> Result<()> {
        if let Some(cache) = &self.auth_cache {
            let claimed = cache.patch(id, |row: &mut ApiKeyAuthRow| {
                let claim = due(row.last_used_at);
                if claim {
                    row.last_used_at = Some(now);
                }
                claim
            });
            if claimed == Some(false) {
                return Ok(());
            }
        }
        let sql = "UPDATE api_keys SET last_used_at = $1 WHERE id = $2";
        self.execute(sql, (now, id)).await?;
        Ok(())
    }

    pub async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>> {
        let sql = concat!(
            "SELECT ",
            api_key_columns!(),
            " FROM api_keys WHERE id = $1"
        );
        self.optional(sql, (id,)).await
    }

    /// Deletes the account's ended keys (revoked, or expired by `now`) but its
    /// `keep` newest, and says how many went. Writes nothing when there are
    /// no more than `keep` (on PostgreSQL any DELETE, even of nothing, bumps
    /// the auth cache's change marker and waits for every lease).
    pub async fn forget_ended_api_keys(
        &self,
        account_id: &str,
        now: i64,
        keep: i64,
    ) -> Result<u64> {
        let oldest_kept = "SELECT created_at, id FROM api_keys WHERE account_id = $1 \
                           AND (revoked_at IS NOT NULL OR expires_at <= $2) \
                           ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET $3";
        let Some((created_at, id)) = self
            .optional::<(i64, String)>(oldest_kept, (account_id, now, keep))
            .await?
        else {
            return Ok(0);
        };
        let sql = "DELETE FROM api_keys WHERE account_id = $1 \
                   AND (revoked_at IS NOT NULL OR expires_at <= $2) \
                   AND (created_at < $3 OR (created_at = $3 AND id <= $4))";
        self.execute(sql, (account_id, now, created_at, id.as_str()))
            .await
    }

    /// One account's keys, or every key when `account_id` is `None` (admin).
    pub async fn list_api_keys(&self, account_id: Option<&str>) -> Result<Vec<ApiKeyRecord>> {
        let sql = concat!(
            "SELECT ",
            api_key_columns!(),
            " FROM api_keys WHERE CAST($1 AS TEXT) IS NULL OR account_id = CAST($1 AS TEXT) \
             ORDER BY created_at, id"
        );
        self.all(sql, (account_id,)).await
    }

    /// Revokes a key; with `account_id`, only if it belongs to that account (a key
    /// of another account reads as not found).
    pub async fn revoke_api_key(
        &self,
        id: &str,
        account_id: Option<&str>,
        now: i64,
    ) -> Result<Revoked> {
        let Some(key) = self.api_key(id).await? else {
            return Ok(Revoked::NotFound);
        };
        if account_id.is_some_and(|a| a != key.account_id) {
            return Ok(Revoked::NotFound);
        }
        // Revoked already: no write (a writer waits for SQLite's one lock).
        if key.revoked_at.is_some() {
            return Ok(Revoked::Already);
        }
        let sql = "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";
        Ok(if self.changed_one(sql, (now, id)).await? {
            Revoked::Now
        } else {
            Revoked::Already
        })
    }

    /// Kids that signed an API key that is neither revoked nor expired.
    pub async fn signing_kids_with_live_api_keys(&self, now: i64) -> Result<HashSet<String>> {
        let sql = "SELECT DISTINCT kid FROM api_keys \
                   WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)";
        let rows: Vec<(String,)> = self.all(sql, (now,)).await?;
        Ok(rows.into_iter().map(|(kid,)| kid).collect())
    }
}
