//! Per-request look-ups (API keys, access-token revocations, OAuth clients) that
//! skip the database round trip when the database has not changed since the answer
//! was read (SQLite only).
//!
//! Revocation must hold from the very next request, from any process. So every
//! look-up first reads the database's change marker ([`ChangeWatch`], SQLite's
//! `PRAGMA data_version` on a connection of its own); an answer
//! is reused only if it was read under that same marker, i.e. no transaction has
//! committed since. Any commit anywhere (a revocation, a new key, an unrelated
//! write) empties the cache. The marker is read *before* the query whose answer
//! gets cached, so a commit racing with the query can only make the cached answer
//! newer than its tag, never older.
//!
//! Why: with sqlx each SQLite query is a round trip to a worker thread, which on a
//! small machine costs more than everything else an authenticated request does.

use super::sqlite::{ChangeWatch, Version};
use super::{AccessTokenAuthRow, ApiKeyAuthRow, App};
use std::collections::HashMap;
use std::sync::Mutex;

const MAX_ENTRIES: usize = 16 * 1024;

#[derive(Debug)]
pub struct AuthCache {
    watch: ChangeWatch,
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
    pub fn new(watch: ChangeWatch) -> Self {
        Self {
            watch,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The database's current change marker; `None`: do not use the cache.
    pub fn version(&self) -> Option<Version> {
        self.watch.version()
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
}
