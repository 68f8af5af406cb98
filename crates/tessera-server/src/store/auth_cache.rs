//! Per-request look-ups (API keys, access-token revocations, OAuth clients) that
//! skip the database round trip when the database has not changed since the answer
//! was read.
//!
//! Revocation must hold from the very next request, from any process. So every
//! look-up first reads the database's change marker ([`ChangeMarker`]); an answer
//! is reused only if it was read under that same marker, i.e. no relevant
//! transaction has committed since. Any such commit anywhere empties the cache.
//! The marker is read *before* the query whose answer gets cached, so a commit
//! racing with the query can only make the cached answer newer than its tag,
//! never older.
//!
//! The marker is the `auth_epoch` counter (PostgreSQL: migration
//! `0009_auth_epoch.sql`; SQLite: `0017_auth_leases.sql`), which triggers bump
//! inside every transaction that writes what an answer depends on (API keys,
//! accounts, access-token revocations, apps, token families). A serving
//! instance holds a lease on it ([`super::auth_lease`]: it learns of every
//! bump, and a bumping write returns only once every lease knows), so it needs
//! no read at all. Without a lease (starting, one-off commands, notifications
//! lost, the database slow to answer) the counter is read: on SQLite on a
//! connection of its own ([`super::sqlite::ChangeWatch`]); on PostgreSQL by one
//! query for all the requests waiting at that moment ([`super::batch`]), each
//! waiter's answer from a query that began after the waiter asked.
//!
//! Why this is exact: a revoking call returns after its transaction T
//! committed, and T bumped the counter to some n_T. A request that starts
//! later reads the counter with a query that starts later still, so it reads
//! n >= n_T. An answer cached under marker e was read by a query that started
//! after e was read; if e >= n_T, the read of e saw T (bumps are ordered:
//! PostgreSQL's counter row lock, SQLite's one writer; each made visible
//! before the next can commit) and so did the answer's query; if e < n_T, then
//! e != n and the answer is not used. Either way the request sees T. The
//! server README has the argument and `tests/e2e/multi_instance.rs` the race.

use super::auth_lease::{Lease, Version};
use super::batch::Batcher;
use super::sqlite::ChangeWatch;
use super::{AccessTokenAuthRow, ApiKeyAuthRow, App};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Where the change marker comes from: for both backends the `auth_epoch`
/// counter, known while this instance holds a lease ([`super::auth_lease`]),
/// else read.
pub enum ChangeMarker {
    /// Else read on the watch's own connection.
    Sqlite {
        lease: Arc<Lease>,
        watch: ChangeWatch,
    },
    /// Else one query per batch of waiting requests.
    Postgres {
        lease: Arc<Lease>,
        epoch: Batcher<(), Version>,
    },
}

impl std::fmt::Debug for ChangeMarker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sqlite { .. } => "ChangeMarker::Sqlite",
            Self::Postgres { .. } => "ChangeMarker::Postgres",
        })
    }
}

impl ChangeMarker {
    /// The current marker, read after the call began; `None`: unknown, do not
    /// use the cache.
    async fn read(&self) -> Option<Version> {
        match self {
            Self::Sqlite { lease, watch } => lease.current().or_else(|| watch.version()),
            Self::Postgres { lease, epoch } => match lease.current() {
                Some(known) => Some(known),
                None => epoch.get(()).await.flatten(),
            },
        }
    }
}

const MAX_ENTRIES: usize = 16 * 1024;

#[derive(Debug)]
pub struct AuthCache {
    marker: ChangeMarker,
    inner: Mutex<Tables>,
}

#[derive(Debug, Default)]
pub struct Tables {
    version: Option<Version>,
    api_keys: HashMap<String, Option<ApiKeyAuthRow>>,
    /// By `jti` and account id (see [`super::access_tokens`]).
    access_tokens: HashMap<String, Option<AccessTokenAuthRow>>,
    /// OAuth clients by client id: the token endpoint authenticates one per grant.
    apps: HashMap<String, Option<App>>,
}

/// A row kind the cache keeps, and which of its tables holds it.
pub trait Cached: Clone {
    fn table(tables: &mut Tables) -> &mut HashMap<String, Option<Self>>;
}

impl Cached for ApiKeyAuthRow {
    fn table(tables: &mut Tables) -> &mut HashMap<String, Option<Self>> {
        &mut tables.api_keys
    }
}

impl Cached for AccessTokenAuthRow {
    fn table(tables: &mut Tables) -> &mut HashMap<String, Option<Self>> {
        &mut tables.access_tokens
    }
}

impl Cached for App {
    fn table(tables: &mut Tables) -> &mut HashMap<String, Option<Self>> {
        &mut tables.apps
    }
}

impl AuthCache {
    pub fn new(marker: ChangeMarker) -> Self {
        Self {
            marker,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The database's current change marker; `None`: do not use the cache.
    pub async fn version(&self) -> Option<Version> {
        self.marker.read().await
    }

    /// The answer read under `version`, if any (`Some(None)`: no such row).
    pub fn get<E: Cached>(&self, version: Version, key: &str) -> Option<Option<E>> {
        let mut tables = self.lock();
        if tables.version != Some(version) {
            return None;
        }
        E::table(&mut tables).get(key).cloned()
    }

    /// Keeps an answer read under `version`, dropping everything read under
    /// another one.
    pub fn put<E: Cached>(&self, version: Version, key: &str, row: Option<E>) {
        let mut tables = self.lock();
        if tables.version != Some(version) {
            tables.version = Some(version);
            tables.api_keys.clear();
            tables.access_tokens.clear();
            tables.apps.clear();
        }
        let table = E::table(&mut tables);
        if table.len() >= MAX_ENTRIES {
            table.clear();
        }
        table.insert(key.to_owned(), row);
    }

    /// Applies a write this process makes that does not change the marker (see
    /// [`super::Store::touch_api_key`]) to the cached row, if any, under the
    /// cache's lock: `change`'s answer, `None` when the row is not cached.
    pub fn patch<E: Cached, R>(&self, key: &str, change: impl FnOnce(&mut E) -> R) -> Option<R> {
        let mut tables = self.lock();
        match E::table(&mut tables).get_mut(key) {
            Some(Some(row)) => Some(change(row)),
            _ => None,
        }
    }
}
