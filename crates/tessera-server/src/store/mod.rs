//! The database: every SQL statement of the server, SQLite (default) or
//! PostgreSQL behind one [`Store`].
//!
//! Queries are written once, in SQL both backends accept (`$1` placeholders, integer
//! Unix-second timestamps, `TEXT`, 0/1 flags, `RETURNING`, `ON CONFLICT`), and run
//! through sqlx's `Any` driver. Each backend has its own migrations directory
//! (`migrations/sqlite`, `migrations/postgres`) and connection setup
//! ([`sqlite`], [`postgres`]). One module per aggregate holds its row types and
//! its `impl Store` block.
//!
//! Adding a table: add `NNNN_name.sql` to BOTH migration directories (same number,
//! same meaning; `INTEGER` in SQLite is `BIGINT` in PostgreSQL), then a module
//! here with its own `impl Store` block. Queries must be `&'static str` (sqlx 0.9
//! refuses runtime-built SQL unless audited).

pub mod access_tokens;
pub mod accounts;
pub mod api_keys;
pub mod app_authorizations;
pub mod apps;
pub mod attempts;
pub mod audit;
pub mod auth_cache;
pub mod auth_lease;
pub mod authorization_codes;
pub mod batch;
pub mod deployment;
pub mod device_codes;
pub mod dpop_proofs;
pub mod otp_codes;
pub mod postgres;
pub mod rate_limits;
pub mod sessions;
pub mod signing_keys;
pub mod sqlite;
pub mod token_families;
pub mod trust_rules;
pub mod web_sessions;

pub use access_tokens::AccessTokenAuthRow;
pub use accounts::{Account, Project};
pub use api_keys::{ApiKeyAuthRow, ApiKeyRecord, Revoked};
pub use apps::{App, AppMode};
pub use trust_rules::{Reach, RuleInsert, TrustRule};

use crate::error::{Error, Result};
use crate::secret::SecretUrl;
use auth_cache::{AuthCache, Cached, ChangeMarker};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, AnyPool, Arguments as _, Encode, FromRow, Type};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the database lives. A PostgreSQL URL may carry a password: it prints
/// (`Debug`, `Display`) with the password as `***`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseLocation {
    Sqlite(PathBuf),
    Postgres(SecretUrl),
}

impl DatabaseLocation {
    /// `postgres://…`, `sqlite://PATH`, `sqlite:PATH` or a bare file path.
    pub fn parse(url: &str) -> Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(SecretUrl::new(url)));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() || path.contains('?') || path.contains("://") {
            // Not echoed: an unsupported URL (mysql://user:pass@…) may hold a password.
            return Err(Error::Config(format!(
                "unsupported database URL {}: use postgres://… or a SQLite file path",
                SecretUrl::new(url)
            )));
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    /// The directory holding a SQLite file (for the outbox and the generated
    /// master key); `None` for PostgreSQL.
    pub fn sqlite_dir(&self) -> Option<&Path> {
        match self {
            Self::Sqlite(path) => Some(path.parent().unwrap_or(Path::new("."))),
            Self::Postgres(_) => None,
        }
    }
}

impl std::fmt::Display for DatabaseLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Self::Postgres(url) => std::fmt::Display::fmt(url, f),
        }
    }
}

/// A handle to the database; cheap to clone (a pool inside).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// See [`auth_cache`]; `None` only in tests that measure without it.
    auth_cache: Option<Arc<AuthCache>>,
    /// PostgreSQL only: see [`batch`].
    api_key_batch: Option<Arc<batch::Batcher<String, ApiKeyAuthRow>>>,
    /// The change marker known without a read while held (see [`auth_lease`]
    /// and [`Store::hold_auth_lease`]).
    auth_lease: Option<Arc<auth_lease::Lease>>,
    /// SQLite only: the DPoP replay cache's own file (see [`dpop_proofs`]).
    dpop_replay: Option<AnyPool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Store {
    /// Connects (creating a SQLite file and its directory if needed). Does not
    /// migrate; see [`Store::migrate`].
    pub async fn connect(location: &DatabaseLocation) -> Result<Self> {
        sqlx::any::install_default_drivers();
        match location {
            DatabaseLocation::Sqlite(path) => {
                let pool = sqlite::connect(path).await?;
                let lease = Arc::new(auth_lease::Lease::default());
                let marker = ChangeMarker::Sqlite {
                    lease: lease.clone(),
                    watch: sqlite::ChangeWatch::new(path),
                };
                Ok(Self {
                    pool,
                    backend: Backend::Sqlite,
                    auth_cache: Some(Arc::new(AuthCache::new(marker))),
                    api_key_batch: None,
                    auth_lease: Some(lease),
                    dpop_replay: Some(dpop_proofs::open_sqlite_replay(path).await?),
                })
            }
            DatabaseLocation::Postgres(url) => {
                let pool = postgres::connect(url.expose()).await?;
                let batch_pool = pool.clone();
                let api_key_batch = batch::Batcher::spawn(
                    postgres::BATCH_WORKERS,
                    postgres::MAX_BATCH,
                    move |ids| api_keys::query_for_auth_batch(batch_pool.clone(), ids),
                );
                let epoch_pool = pool.clone();
                let epoch =
                    batch::Batcher::spawn(1, postgres::MAX_EPOCH_WAITERS, move |_: Vec<()>| {
                        postgres::auth_epoch(epoch_pool.clone())
                    });
                let lease = Arc::new(auth_lease::Lease::default());
                let marker = ChangeMarker::Postgres {
                    lease: lease.clone(),
                    epoch,
                };
                Ok(Self {
                    pool,
                    backend: Backend::Postgres,
                    auth_cache: Some(Arc::new(AuthCache::new(marker))),
                    api_key_batch: Some(Arc::new(api_key_batch)),
                    auth_lease: Some(lease),
                    dpop_replay: None,
                })
            }
        }
    }

    /// Connects and applies pending migrations.
    pub async fn open(location: &DatabaseLocation) -> Result<Self> {
        let store = Self::connect(location).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// The newest migration this binary applies (the same number in both
    /// backends' directories): what `--version` and a refused newer schema
    /// name, since the crate version alone does not change between builds.
    pub fn schema_version() -> i64 {
        sqlite::MIGRATOR
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0)
    }

    /// The newest migration applied to this database: 0 for one never
    /// migrated. Read before [`Store::migrate`], so that `tesserad migrate`
    /// can say what it changed.
    pub async fn applied_schema(&self) -> Result<i64> {
        let table = match self.backend {
            Backend::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master \
                 WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            Backend::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_name = '_sqlx_migrations' AND table_schema = current_schema()"
            }
        };
        let (tables,): (i64,) = self.one(table, ()).await?;
        if tables == 0 {
            return Ok(0);
        }
        let sql = "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success";
        let (version,): (i64,) = self.one(sql, ()).await?;
        Ok(version)
    }

    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &sqlite::MIGRATOR,
            Backend::Postgres => &postgres::MIGRATOR,
        };
        match migrator.run(&self.pool).await {
            // A newer tesserad upgraded the schema (a rolling upgrade, or a
            // downgrade): say so, not in sqlx's words.
            Err(sqlx::migrate::MigrateError::VersionMissing(version)) => {
                return Err(Error::Config(format!(
                    "this database's schema is newer than this tesserad {} (schema {}): \
                     it has migration {version}, which this version does not know; run \
                     the tesserad that upgraded it, or a newer one",
                    env!("CARGO_PKG_VERSION"),
                    Self::schema_version()
                )));
            }
            other => other?,
        }
        self.compose_stored_emails().await
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.pool.close().await;
        if let Some(replay) = &self.dpop_replay {
            replay.close().await;
        }
    }

    /// Starts holding a lease on the authentication cache's change marker
    /// ([`auth_lease`]), so that authenticated requests need no database read
    /// while nothing changes. For a server, not for one-off commands (a lease
    /// makes every write that bumps the marker wait for its holder).
    pub fn hold_auth_lease(
        &self,
        location: &DatabaseLocation,
    ) -> Result<Option<auth_lease::Holder>> {
        let Some(lease) = self.auth_lease.clone() else {
            return Ok(None);
        };
        match location {
            DatabaseLocation::Postgres(url) => auth_lease::postgres::hold(url.clone(), lease),
            DatabaseLocation::Sqlite(path) => auth_lease::sqlite::hold(path.clone(), lease),
        }
        .map(Some)
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> Result<()> {
        self.execute("SELECT 1", ()).await?;
        Ok(())
    }

    /// A per-request look-up: answered from [`auth_cache`] while no relevant
    /// transaction has committed since the answer was read, else `fetch`.
    async fn cached<E: Cached, K: AsRef<str>>(
        &self,
        key: impl FnOnce() -> K,
        fetch: impl Future<Output = Result<Option<E>>>,
    ) -> Result<Option<E>> {
        let Some(cache) = self.auth_cache.as_deref() else {
            return fetch.await;
        };
        let Some(version) = cache.version().await else {
            return fetch.await;
        };
        let key = key();
        if let Some(hit) = cache.get::<E>(version, key.as_ref()) {
            return Ok(hit);
        }
        let row = fetch.await?;
        cache.put(version, key.as_ref(), row.clone());
        Ok(row)
    }

    /// Deletes OAuth state nobody can use any more, and the pages' (one-time
    /// codes, attempt counters, secrets no page showed). Used codes are kept a day past
    /// expiry so that a late replay is still recognised (and revokes its tokens);
    /// device codes ten minutes (a late poll is told `expired_token`).
    /// Token families go when their absolute lifetime (`family_lifetime_secs`) is
    /// over: none of their tokens outlives it.
    pub async fn prune_expired_oauth_state(
        &self,
        now: i64,
        family_lifetime_secs: i64,
    ) -> Result<()> {
        const DAY: i64 = 86_400;
        const DEVICE_CODES_KEPT_SECS: i64 = 600;
        // A statement trigger bumps the auth cache's change marker even when it
        // deletes nothing (PostgreSQL), which would empty every instance's cache
        // and make this task wait for their leases every time it runs.
        let families_before = now.saturating_sub(family_lifetime_secs);
        let any = "SELECT id FROM token_families WHERE created_at <= $1 LIMIT 1";
        if self
            .optional::<(String,)>(any, (families_before,))
            .await?
            .is_some()
        {
            let sql = "DELETE FROM token_families WHERE created_at <= $1";
            self.execute(sql, (families_before,)).await?;
        }
        let deletes: [(&'static str, i64); 8] = [
            (
                "DELETE FROM authorization_codes WHERE expires_at <= $1",
                now - DAY,
            ),
            // Nothing is checked against a device code once it expired; a
            // day of them would be a day of every address's 300 a minute.
            (
                "DELETE FROM device_codes WHERE expires_at <= $1",
                now - DEVICE_CODES_KEPT_SECS,
            ),
            ("DELETE FROM refresh_tokens WHERE expires_at <= $1", now),
            ("DELETE FROM otp_codes WHERE expires_at <= $1", now),
            ("DELETE FROM web_flashes WHERE expires_at <= $1", now),
            // A signed-out, revoked or expired browser session is never live
            // again and no page shows it; kept, every sign-in added a row for good.
            (
                "DELETE FROM web_sessions WHERE expires_at <= $1 OR revoked_at <= $1",
                now,
            ),
            // A token-URL session id is taken only before it expires.
            ("DELETE FROM sessions WHERE expires_at <= $1", now),
            (
                "DELETE FROM attempt_counters WHERE window_start <= $1",
                now - DAY,
            ),
        ];
        for (sql, before) in deletes {
            self.execute(sql, (before,)).await?;
        }
        self.prune_dpop_proofs(now).await?;
        Ok(())
    }
}

/// A statement's parameters, bound to `$1, $2, …` in order: a tuple.
trait Params<'t> {
    fn arguments(self) -> Result<AnyArguments>;
}

macro_rules! params {
    ($($value:ident),+) => {
        impl<'t, $($value: Encode<'t, Any> + Type<Any>),+> Params<'t> for ($($value,)+) {
            #[allow(non_snake_case)]
            fn arguments(self) -> Result<AnyArguments> {
                let ($($value,)+) = self;
                let mut arguments = AnyArguments::default();
                $(arguments.add($value).map_err(Error::internal)?;)+
                Ok(arguments)
            }
        }
    };
}

impl Params<'_> for () {
    fn arguments(self) -> Result<AnyArguments> {
        Ok(AnyArguments::default())
    }
}

params!(A);
params!(A, B);
params!(A, B, C);
params!(A, B, C, D);
params!(A, B, C, D, E);
params!(A, B, C, D, E, F);
params!(A, B, C, D, E, F, G);
params!(A, B, C, D, E, F, G, H);
params!(A, B, C, D, E, F, G, H, I);
params!(A, B, C, D, E, F, G, H, I, J);
params!(A, B, C, D, E, F, G, H, I, J, K);
params!(A, B, C, D, E, F, G, H, I, J, K, L);
params!(A, B, C, D, E, F, G, H, I, J, K, L, M);

/// One way to run each kind of statement, so that every query reads as its SQL
/// and its parameters.
impl Store {
    /// Runs a statement; the number of rows it changed.
    async fn execute<'t>(&self, sql: &'static str, params: impl Params<'t>) -> Result<u64> {
        let query = sqlx::query_with(sql, params.arguments()?);
        let changed = query.execute(&self.pool).await?.rows_affected();
        self.written(sql).await;
        Ok(changed)
    }

    /// After a statement committed: when it wrote a table that authentication
    /// reads, waits until every server answers from the new state
    /// ([`auth_lease`]). Every write goes through here, so none can forget
    /// (statements in an explicit transaction call
    /// [`Store::settle_auth_change`] after their commit).
    async fn written(&self, sql: &str) {
        if writes_auth_table(sql) {
            self.settle_auth_change().await;
        }
    }

    /// See [`Store::written`].
    async fn settle_auth_change(&self) {
        if let Some(lease) = &self.auth_lease {
            lease.wake();
        }
        match self.backend {
            Backend::Postgres => auth_lease::postgres::settle(&self.pool).await,
            Backend::Sqlite => auth_lease::sqlite::settle(&self.pool).await,
        }
    }

    /// An insert that a unique constraint refuses as `Conflict(taken())`.
    async fn insert_unique<'t>(
        &self,
        sql: &'static str,
        params: impl Params<'t>,
        taken: impl FnOnce() -> String,
    ) -> Result<()> {
        match self.execute(sql, params).await {
            Err(e) if is_unique_violation(&e) => Err(Error::Conflict(taken())),
            other => other.map(drop),
        }
    }

    /// Runs `insert` only while `count` (an account's rows of one kind, a
    /// `SELECT COUNT(*)`) is below `cap`; `false` when the account has `cap`.
    /// Counting and then inserting as two statements let every request that
    /// arrived at the same moment count the same number, and all of them
    /// insert. Here both run in one transaction that first holds the
    /// account's row with a no-op update: on PostgreSQL a second such
    /// request waits for the row, and its count (READ COMMITTED takes a new
    /// snapshot per statement) sees the first one's insert; other accounts'
    /// requests do not wait. On SQLite the update, the transaction's first
    /// statement, takes the database's one write lock before anything is
    /// read (a deferred transaction that read first could not upgrade).
    async fn insert_within<'c, 'i>(
        &self,
        account_id: &str,
        cap: i64,
        count: (&'static str, impl Params<'c>),
        insert: (&'static str, impl Params<'i>),
    ) -> Result<bool> {
        let mut tx = self.holding_account(account_id).await?;
        let (n,): (i64,) = sqlx::query_as_with(count.0, count.1.arguments()?)
            .fetch_one(&mut *tx)
            .await?;
        if n >= cap {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query_with(insert.0, insert.1.arguments()?)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.written(insert.0).await;
        Ok(true)
    }

    /// A transaction that holds `account_id`'s row: what [`Store::insert_within`]
    /// and other checks of an account's rows before an insert take turns on.
    async fn holding_account(&self, account_id: &str) -> Result<sqlx::Transaction<'static, Any>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE accounts SET password_hash = password_hash WHERE id = $1")
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// Whether a statement changed exactly one row (a compare-and-set won).
    async fn changed_one<'t>(&self, sql: &'static str, params: impl Params<'t>) -> Result<bool> {
        Ok(self.execute(sql, params).await? == 1)
    }

    async fn optional<'t, O>(&self, sql: &'static str, params: impl Params<'t>) -> Result<Option<O>>
    where
        O: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        let query = sqlx::query_as_with(sql, params.arguments()?);
        let row = query.fetch_optional(&self.pool).await?;
        self.written(sql).await;
        Ok(row)
    }

    async fn all<'t, O>(&self, sql: &'static str, params: impl Params<'t>) -> Result<Vec<O>>
    where
        O: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        let query = sqlx::query_as_with(sql, params.arguments()?);
        let rows = query.fetch_all(&self.pool).await?;
        self.written(sql).await;
        Ok(rows)
    }

    async fn one<'t, O>(&self, sql: &'static str, params: impl Params<'t>) -> Result<O>
    where
        O: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        let query = sqlx::query_as_with(sql, params.arguments()?);
        let row = query.fetch_one(&self.pool).await?;
        self.written(sql).await;
        Ok(row)
    }
}

/// The tables whose writes bump `auth_epoch` (the triggers of
/// `migrations/postgres/0009_auth_epoch.sql`; a test keeps the two lists equal).
/// No other table's delete cascades into them except from among them (another test).
const AUTH_TABLES: [&str; 5] = [
    "api_keys",
    "accounts",
    "revoked_access_tokens",
    "apps",
    "token_families",
];

/// Whether `sql` inserts into, updates or deletes from one of [`AUTH_TABLES`].
fn writes_auth_table(sql: &str) -> bool {
    if sql.starts_with("SELECT") {
        return false;
    }
    let mut previous = ["", ""];
    for word in sql.split(|c: char| c.is_ascii_whitespace() || c == '(') {
        if word.is_empty() {
            continue;
        }
        let names_target = matches!(
            previous,
            ["INSERT", "INTO"] | ["DELETE", "FROM"] | [_, "UPDATE"]
        );
        if names_target && AUTH_TABLES.contains(&word) {
            return true;
        }
        previous = [previous[1], word];
    }
    false
}

/// Whether a statement failed on a unique constraint.
fn is_unique_violation(e: &Error) -> bool {
    matches!(e, Error::Database(sqlx::Error::Database(db)) if db.is_unique_violation())
}

/// A row that names one deleted meanwhile (an app deleted while its users'
/// grants were writing): the grant lost the race, not the database.
fn is_foreign_key_violation(e: &Error) -> bool {
    matches!(e, Error::Database(sqlx::Error::Database(db)) if db.is_foreign_key_violation())
}

/// Runs `attempt` again when PostgreSQL made it a deadlock's victim (40P01)
/// or refused it for a serialization failure (40001): the other transaction
/// goes on, and ours, run again, sees what that one did. Cascades make such
/// lock orders inherent: consuming a code or device takes its row, then a
/// key share on its app for the family it opens; deleting the app takes the
/// app, then its codes' and devices' rows. Retrying is what PostgreSQL's
/// manual prescribes; without it the loser was a 500.
async fn retrying_lost_races<T, F: Future<Output = Result<T>>>(
    mut attempt: impl FnMut() -> F,
) -> Result<T> {
    const ATTEMPTS: u32 = 3;
    for n in 1..ATTEMPTS {
        match attempt().await {
            // Not at once: the winner needs a moment to take the lock it
            // waited for, or the retry takes it first and the same cycle
            // forms again (seen under load in CI).
            Err(e) if lost_race(&e) => {
                tokio::time::sleep(std::time::Duration::from_millis(25 * u64::from(n))).await;
            }
            done => return done,
        }
    }
    attempt().await
}

fn lost_race(e: &Error) -> bool {
    matches!(e, Error::Database(sqlx::Error::Database(db))
        if matches!(db.code().as_deref(), Some("40P01" | "40001")))
}

fn flag(b: bool) -> i64 {
    i64::from(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fixture;

    /// An older tesserad on a database a newer one upgraded says what
    /// happened, in its own words.
    #[tokio::test]
    async fn a_schema_from_a_newer_tesserad_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let location = DatabaseLocation::Sqlite(dir.path().join("t.db"));
        let store = Store::open(&location).await.unwrap();
        let sql = "INSERT INTO _sqlx_migrations \
                   (version, description, success, checksum, execution_time) \
                   VALUES (9999, 'from the future', TRUE, x'00', 0)";
        store.execute(sql, ()).await.unwrap();
        let err = store.migrate().await.unwrap_err().to_string();
        assert!(err.contains("newer than this tesserad"), "{err}");
        assert!(err.contains("9999"), "{err}");
        let known = format!("(schema {})", Store::schema_version());
        assert!(err.contains(&known), "{err}");
    }

    #[tokio::test]
    async fn the_applied_schema_is_read_before_migrating() {
        let dir = tempfile::tempdir().unwrap();
        let location = DatabaseLocation::Sqlite(dir.path().join("t.db"));
        let store = Store::connect(&location).await.unwrap();
        assert_eq!(store.applied_schema().await.unwrap(), 0);
        store.migrate().await.unwrap();
        assert_eq!(
            store.applied_schema().await.unwrap(),
            Store::schema_version()
        );
    }

    /// Both backends end at the same migration, the number `--version` shows.
    #[test]
    fn both_backends_have_the_schema_version() {
        let newest = |m: &sqlx::migrate::Migrator| m.iter().map(|m| m.version).max();
        assert_eq!(newest(&sqlite::MIGRATOR), newest(&postgres::MIGRATOR));
        assert_eq!(newest(&sqlite::MIGRATOR), Some(Store::schema_version()));
    }

    #[test]
    fn database_urls() {
        assert_eq!(
            DatabaseLocation::parse("postgres://u@127.0.0.1/db").unwrap(),
            DatabaseLocation::Postgres(SecretUrl::new("postgres://u@127.0.0.1/db"))
        );
        assert_eq!(
            DatabaseLocation::parse("sqlite:///tmp/x.db").unwrap(),
            DatabaseLocation::Sqlite("/tmp/x.db".into())
        );
        assert_eq!(
            DatabaseLocation::parse("/tmp/y.db").unwrap(),
            DatabaseLocation::Sqlite("/tmp/y.db".into())
        );
        let location = DatabaseLocation::parse("postgres://u:hunter2@h/db").unwrap();
        assert_eq!(location.to_string(), "postgres://u:***@h/db");
        assert!(!format!("{location:?}").contains("hunter2"));
        let err = DatabaseLocation::parse("mysql://u:hunter2@h/db").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn writes_to_auth_tables_are_recognised() {
        for (sql, writes) in [
            ("UPDATE api_keys SET revoked_at = $1 WHERE id = $2", true),
            ("INSERT INTO accounts (id, email) VALUES ($1, $2)", true),
            ("INSERT INTO apps(client_id) VALUES ($1)", true),
            ("DELETE FROM token_families WHERE created_at <= $1", true),
            (
                "WITH x AS (SELECT 1) UPDATE revoked_access_tokens SET jti = $1",
                true,
            ),
            ("SELECT id FROM api_keys WHERE id = $1", false),
            ("SELECT id FROM apps WHERE id = $1 FOR UPDATE", false),
            (
                "INSERT INTO audit_events (id) SELECT id FROM accounts",
                false,
            ),
            (
                "INSERT INTO dpop_proofs (jti) VALUES ($1) ON CONFLICT DO UPDATE SET jti = $1",
                false,
            ),
            ("UPDATE api_keys_archive SET x = 1", false),
            ("DELETE FROM otp_codes WHERE expires_at <= $1", false),
        ] {
            assert_eq!(writes_auth_table(sql), writes, "{sql}");
        }
    }

    fn migration(backend: &str, name: &str) -> String {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        std::fs::read_to_string(dir.join(backend).join(name)).unwrap()
    }

    #[test]
    fn auth_tables_are_the_ones_that_bump_the_epoch() {
        let mut ours = AUTH_TABLES.to_vec();
        ours.sort_unstable();
        let sql = migration("postgres", "0009_auth_epoch.sql");
        let mut triggered: Vec<&str> = sql
            .lines()
            .filter_map(|l| l.trim().strip_prefix("ON "))
            .filter_map(|l| {
                l.strip_suffix(" FOR EACH STATEMENT EXECUTE FUNCTION tessera_bump_auth_epoch();")
            })
            .collect();
        triggered.sort_unstable();
        assert_eq!(triggered, ours, "PostgreSQL");
        // SQLite: one trigger per table and event (row triggers only).
        let sql = migration("sqlite", "0017_auth_leases.sql");
        let mut triggered: Vec<&str> = sql
            .lines()
            .filter(|l| l.starts_with("CREATE TRIGGER ") || l.starts_with("AFTER "))
            .filter_map(|l| l.split(" ON ").nth(1))
            .collect();
        triggered.sort_unstable();
        triggered.dedup();
        assert_eq!(triggered, ours, "SQLite");
    }

    /// The SQLite triggers fire on the same columns as PostgreSQL's.
    #[test]
    fn both_backends_bump_on_the_same_columns() {
        let columns = |sql: &str, table: &str| -> Option<String> {
            let update = sql.split("UPDATE OF ").skip(1).find(|rest| {
                rest.split_once(" ON")
                    .is_some_and(|(_, after)| after.trim_start().starts_with(table))
            })?;
            Some(
                update
                    .split_once("\n")
                    .map_or(update, |(l, _)| l)
                    .split(" ON")
                    .next()?
                    .to_owned(),
            )
        };
        let postgres = migration("postgres", "0009_auth_epoch.sql");
        let sqlite = migration("sqlite", "0017_auth_leases.sql");
        for table in AUTH_TABLES {
            assert_eq!(
                columns(&postgres, table),
                columns(&sqlite, table),
                "{table}"
            );
        }
    }

    /// A delete elsewhere that cascaded into an auth table would bump the epoch
    /// without [`writes_auth_table`] seeing it (no `ON DELETE`: the delete is
    /// refused instead).
    #[test]
    fn only_auth_tables_cascade_into_auth_tables() {
        let dirs = ["migrations/postgres", "migrations/sqlite"]
            .map(|d| Path::new(env!("CARGO_MANIFEST_DIR")).join(d));
        let mut checked = 0;
        for entry in dirs.iter().flat_map(|dir| std::fs::read_dir(dir).unwrap()) {
            let sql = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for table in sql.split("CREATE TABLE ").skip(1) {
                let (name, body) = table.split_once(" (").unwrap();
                if !AUTH_TABLES.contains(&name) {
                    continue;
                }
                let body = body.split(");").next().unwrap();
                for reference in body.split("REFERENCES ").skip(1) {
                    let clause = reference.lines().next().unwrap();
                    if !clause.contains("ON DELETE") {
                        continue; // refused while referenced: no cascade
                    }
                    let parent = reference.split('(').next().unwrap().trim();
                    assert!(
                        AUTH_TABLES.contains(&parent),
                        "{name} references {parent}, which is not an auth table"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked >= 8, "found only {checked} cascading references");
    }

    #[tokio::test]
    async fn prune_drops_only_what_nobody_can_use() {
        let fx = Fixture::new().await;
        let now = fx.clock_now();
        let store = &fx.state.store;
        for (email, expires_at) in [("old@example.com", now - 1), ("new@example.com", now + 60)] {
            store
                .put_otp_code(email, "ip:127.0.0.1", "h", now - 600, expires_at)
                .await
                .unwrap();
        }
        store.prune_expired_oauth_state(now, 86_400).await.unwrap();
        let left: Vec<(String,)> = sqlx::query_as("SELECT email FROM otp_codes")
            .fetch_all(&store.pool)
            .await
            .unwrap();
        assert_eq!(left, vec![("new@example.com".to_owned(),)]);
    }

    /// Token-URL session ids go once they expire, used or not.
    #[tokio::test]
    async fn prune_drops_expired_token_url_sessions() {
        let fx = Fixture::new().await;
        let now = fx.clock_now();
        let store = &fx.state.store;
        let account = fx.account("cli@example.com").await;
        for (hash, expires_at, consumed_at) in [
            ("expired", now - 1, None),
            ("used", now - 1, Some(now - 60)),
            ("live", now + 60, None),
        ] {
            let row = sessions::SessionRow {
                id_hash: hash.to_owned(),
                account_id: account.clone(),
                acr: "0".to_owned(),
                created_at: now - 600,
                expires_at,
                consumed_at,
            };
            store.insert_session(&row).await.unwrap();
        }
        store.prune_expired_oauth_state(now, 86_400).await.unwrap();
        let left: Vec<(String,)> = sqlx::query_as("SELECT id_hash FROM sessions")
            .fetch_all(&store.pool)
            .await
            .unwrap();
        assert_eq!(left, vec![("live".to_owned(),)]);
    }

    /// Browser sessions that ended (expired, signed out or revoked) go; a
    /// live one stays.
    #[tokio::test]
    async fn prune_drops_ended_browser_sessions() {
        let fx = Fixture::new().await;
        let now = fx.clock_now();
        let store = &fx.state.store;
        let account = fx.account("browser@example.com").await;
        let insert = "INSERT INTO web_sessions (id_hash, id, account_id, method, created_at, \
                      last_seen_at, expires_at, revoked_at) VALUES ($1, $2, $3, 'password', $4, $4, $5, $6)";
        for (id, expires_at, revoked_at) in [
            ("expired", now - 1, None),
            ("revoked", now + 3600, Some(now - 1)),
            ("live", now + 3600, None),
        ] {
            sqlx::query(insert)
                .bind(format!("hash-{id}"))
                .bind(id)
                .bind(&account)
                .bind(now - 7200)
                .bind(expires_at)
                .bind(revoked_at)
                .execute(&store.pool)
                .await
                .unwrap();
        }
        store.prune_expired_oauth_state(now, 86_400).await.unwrap();
        let left: Vec<(String,)> = sqlx::query_as("SELECT id FROM web_sessions")
            .fetch_all(&store.pool)
            .await
            .unwrap();
        assert_eq!(left, vec![("live".to_owned(),)]);
    }

    /// Requests that find a key's use due together write it once: the first
    /// marks the cached row, the others see the mark.
    #[tokio::test]
    async fn a_due_use_is_recorded_once_however_many_find_it_due() {
        let fx = Fixture::new().await;
        let store = &fx.state.store;
        let account = fx.account("t@example.com").await;
        let key = fx.api_key(&account, None).await;
        let id = &key.record.id;
        store.api_key_for_auth(id).await.unwrap().expect("cached");
        let later = fx.clock_now() + 3600;
        let claims = std::sync::atomic::AtomicUsize::new(0);
        let touches = (0..16).map(|_| {
            store.touch_api_key(id, later, |used| {
                let due = used.is_none_or(|used| used + 60 <= later);
                if due {
                    claims.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                due
            })
        });
        for touched in futures_util::future::join_all(touches).await {
            touched.unwrap();
        }
        assert_eq!(claims.into_inner(), 1);
        let record = store.api_key(id).await.unwrap().unwrap();
        assert_eq!(record.last_used_at, Some(later));
    }

    #[tokio::test]
    async fn cached_auth_lookups_see_commits_from_other_connections() {
        let fx = Fixture::new().await;
        let store = &fx.state.store;
        let now = fx.clock_now();
        let account = fx.account("c@example.com").await;
        let key = fx.api_key(&account, None).await;
        let id = &key.record.id;
        let cache = store.auth_cache.as_ref().expect("SQLite has the cache");
        let revoked = || async {
            store
                .api_key_for_auth(id)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
        };
        let v1 = cache.version().await.expect("change marker readable");
        assert!(revoked().await.is_none());
        assert!(
            cache.get::<ApiKeyAuthRow>(v1, id).is_some(),
            "answer cached under v1"
        );
        assert_eq!(
            cache.version().await,
            Some(v1),
            "reads do not change the marker"
        );

        // Another pool on the same file stands in for another process.
        let other = Store::connect(&fx.state.settings.database).await.unwrap();
        assert_eq!(
            other.revoke_api_key(id, None, now).await.unwrap(),
            Revoked::Now
        );
        let v2 = cache.version().await.expect("marker");
        assert_ne!(v1, v2, "a commit elsewhere changes the marker");
        assert!(revoked().await.is_some());
    }
}
