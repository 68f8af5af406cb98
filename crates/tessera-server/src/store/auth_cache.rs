//! Per-request look-ups (API keys, access-token revocations, OAuth clients) that
//! skip the database round trip when the database has not changed since the answer
//! was read (SQLite only).
//!
//! Revocation must hold from the very next request, from any process. So every
//! look-up first reads the database's change marker ([`ChangeWatch`]: SQLite's
//! WAL-index header, one small `pread`); an answer is reused only if it was read
//! under that same marker, i.e. no transaction has committed since. Any commit
//! anywhere (a revocation, a new key, an unrelated write) empties the cache. The
//! marker is read *before* the query whose answer gets cached, so a commit racing
//! with the query can only make the cached answer newer than its tag, never older.
//!
//! Why: with sqlx each SQLite query is a round trip to a worker thread, which on a
//! small machine costs more than everything else an authenticated request does.

use super::sqlite::{ChangeWatch, Version};
use super::{AccessTokenAuthRow, ApiKeyAuthRow, App};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

const MAX_ENTRIES: usize = 16 * 1024;

#[derive(Debug)]
pub struct AuthCache {
    watch: ChangeWatch,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    version: Option<Version>,
    api_keys: HashMap<String, Option<ApiKeyAuthRow>>,
    access_tokens: HashMap<(String, String), Option<AccessTokenAuthRow>>,
    /// OAuth clients by client id: the token endpoint authenticates one per grant.
    apps: HashMap<String, Option<App>>,
}

impl Inner {
    /// Makes `version` current, dropping everything read under another one.
    fn at(&mut self, version: &Version) -> &mut Self {
        if self.version.as_ref() != Some(version) {
            self.version = Some(*version);
            self.api_keys.clear();
            self.access_tokens.clear();
            self.apps.clear();
        }
        self
    }
}

fn bounded_insert<K: Hash + Eq, V>(map: &mut HashMap<K, V>, key: K, value: V) {
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(key, value);
}

impl AuthCache {
    pub fn new(watch: ChangeWatch) -> Self {
        Self {
            watch,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The database's current change marker; `None`: do not use the cache.
    pub fn version(&self) -> Option<Version> {
        self.watch.version()
    }

    pub fn api_key(&self, version: &Version, id: &str) -> Option<Option<ApiKeyAuthRow>> {
        let inner = self.lock();
        if inner.version.as_ref() != Some(version) {
            return None;
        }
        inner.api_keys.get(id).cloned()
    }

    pub fn put_api_key(&self, version: &Version, id: &str, row: Option<ApiKeyAuthRow>) {
        let mut inner = self.lock();
        let inner = inner.at(version);
        bounded_insert(&mut inner.api_keys, id.to_owned(), row);
    }

    pub fn access_token(
        &self,
        version: &Version,
        jti: &str,
        account_id: &str,
    ) -> Option<Option<AccessTokenAuthRow>> {
        let inner = self.lock();
        if inner.version.as_ref() != Some(version) {
            return None;
        }
        inner
            .access_tokens
            .get(&(jti.to_owned(), account_id.to_owned()))
            .cloned()
    }

    pub fn put_access_token(
        &self,
        version: &Version,
        jti: &str,
        account_id: &str,
        row: Option<AccessTokenAuthRow>,
    ) {
        let mut inner = self.lock();
        let inner = inner.at(version);
        bounded_insert(
            &mut inner.access_tokens,
            (jti.to_owned(), account_id.to_owned()),
            row,
        );
    }

    pub fn app(&self, version: &Version, client_id: &str) -> Option<Option<App>> {
        let inner = self.lock();
        if inner.version.as_ref() != Some(version) {
            return None;
        }
        inner.apps.get(client_id).cloned()
    }

    pub fn put_app(&self, version: &Version, client_id: &str, app: Option<App>) {
        let mut inner = self.lock();
        let inner = inner.at(version);
        bounded_insert(&mut inner.apps, client_id.to_owned(), app);
    }
}
