//! The database: SQLite (default) or PostgreSQL, behind one [`Store`].
//!
//! Queries are written once, in SQL both backends accept (`$1` placeholders, integer
//! Unix-second timestamps, `TEXT`, 0/1 flags, `RETURNING`, `ON CONFLICT`), and run
//! through sqlx's `Any` driver. Each backend has its own migrations directory
//! (`migrations/sqlite`, `migrations/postgres`) and connection setup
//! ([`sqlite`], [`postgres`]).
//!
//! Adding a table: add `NNNN_name.sql` to BOTH migration directories (same number,
//! same meaning; `INTEGER` in SQLite is `BIGINT` in PostgreSQL), then add methods
//! here, or in a sibling module with its own `impl Store` block.

pub mod auth_cache;
pub mod batch;
pub mod postgres;
pub mod sqlite;
pub mod web;

use crate::config::DatabaseLocation;
use crate::error::{Error, Result};
use sqlx::AnyPool;
use sqlx::FromRow;
use std::collections::HashSet;

/// A handle to the database; cheap to clone (a pool inside).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite only: see [`auth_cache`].
    auth_cache: Option<std::sync::Arc<auth_cache::AuthCache>>,
    /// PostgreSQL only: see [`batch`].
    api_key_batch: Option<std::sync::Arc<batch::Batcher<String, ApiKeyAuthRow>>>,
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
            DatabaseLocation::Sqlite(path) => Ok(Self {
                pool: sqlite::connect(path).await?,
                backend: Backend::Sqlite,
                auth_cache: Some(std::sync::Arc::new(auth_cache::AuthCache::new(
                    sqlite::ChangeWatch::new(path),
                ))),
                api_key_batch: None,
            }),
            DatabaseLocation::Postgres(url) => {
                let pool = postgres::connect(url).await?;
                let batch_pool = pool.clone();
                let api_key_batch = batch::Batcher::spawn(
                    postgres::BATCH_WORKERS,
                    postgres::MAX_BATCH,
                    move |ids| query_api_keys_for_auth(batch_pool.clone(), ids),
                );
                Ok(Self {
                    pool,
                    backend: Backend::Postgres,
                    auth_cache: None,
                    api_key_batch: Some(std::sync::Arc::new(api_key_batch)),
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

    pub async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => sqlite::MIGRATOR.run(&self.pool).await?,
            Backend::Postgres => postgres::MIGRATOR.run(&self.pool).await?,
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for modules that keep their queries beside their logic.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// A unique-constraint violation becomes `Conflict(message)`; anything else passes.
fn conflict_on_unique(e: sqlx::Error, message: impl FnOnce() -> String) -> Error {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => Error::Conflict(message()),
        _ => e.into(),
    }
}

fn flag(b: bool) -> i64 {
    i64::from(b)
}

// ---------------------------------------------------------------- accounts

#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub created_at: i64,
}

impl Store {
    pub async fn insert_account(&self, account: &Account) -> Result<()> {
        sqlx::query("INSERT INTO accounts (id, email, created_at) VALUES ($1, $2, $3)")
            .bind(&account.id)
            .bind(&account.email)
            .bind(account.created_at)
            .execute(&self.pool)
            .await
            .map_err(|e| {
                conflict_on_unique(e, || {
                    format!("an account with email {} already exists", account.email)
                })
            })?;
        Ok(())
    }

    /// Emails are stored lower-cased; look-ups lower-case too.
    pub async fn account_by_email(&self, email: &str) -> Result<Option<Account>> {
        Ok(
            sqlx::query_as("SELECT id, email, created_at FROM accounts WHERE email = $1")
                .bind(email.to_lowercase())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn account_by_id(&self, id: &str) -> Result<Option<Account>> {
        Ok(
            sqlx::query_as("SELECT id, email, created_at FROM accounts WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}

// ---------------------------------------------------------------- projects

#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Project {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub created_at: i64,
}

impl Store {
    pub async fn insert_project(&self, project: &Project) -> Result<()> {
        sqlx::query(
            "INSERT INTO projects (id, account_id, name, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&project.id)
        .bind(&project.account_id)
        .bind(&project.name)
        .bind(project.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn projects_of(&self, account_id: &str) -> Result<Vec<Project>> {
        Ok(sqlx::query_as(
            "SELECT id, account_id, name, created_at FROM projects WHERE account_id = $1 ORDER BY created_at, id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?)
    }
}

// ---------------------------------------------------------------- apps (OAuth clients)

/// `development` (100 requests/min) or `production` (500/min) in Lofty's terms.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum AppMode {
    Development,
    Production,
}

impl AppMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Production => "production",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "development" => Ok(Self::Development),
            "production" => Ok(Self::Production),
            other => Err(Error::internal(format!(
                "unknown app mode {other:?} in the database"
            ))),
        }
    }
}

/// A registered OAuth client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct App {
    pub client_id: String,
    pub account_id: String,
    pub name: String,
    pub mode: AppMode,
    /// Public clients (CLIs, RFC 6749 §2.1) have no secret and must use PKCE.
    pub public: bool,
    /// [`crate::digest::secret_hash`] of the client secret; `None` for public clients.
    pub client_secret_hash: Option<String>,
    /// Exact redirect URIs (loopback ones match any port, RFC 8252 §7.3).
    pub redirect_uris: Vec<String>,
    /// e.g. `client_credentials`, `authorization_code`, `refresh_token`,
    /// `urn:ietf:params:oauth:grant-type:device_code`.
    pub grant_types: Vec<String>,
    /// Overrides the mode's default limit, requests per minute.
    pub rate_limit_per_min: Option<i64>,
    pub created_at: i64,
}

#[derive(FromRow)]
struct AppRow {
    client_id: String,
    account_id: String,
    name: String,
    mode: String,
    is_public: i64,
    client_secret_hash: Option<String>,
    redirect_uris: String,
    grant_types: String,
    rate_limit_per_min: Option<i64>,
    created_at: i64,
}

impl TryFrom<AppRow> for App {
    type Error = Error;

    fn try_from(r: AppRow) -> Result<Self> {
        Ok(Self {
            mode: AppMode::parse(&r.mode)?,
            public: r.is_public != 0,
            redirect_uris: serde_json::from_str(&r.redirect_uris)
                .map_err(|e| Error::internal(format!("app {}: redirect_uris: {e}", r.client_id)))?,
            grant_types: r
                .grant_types
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            client_id: r.client_id,
            account_id: r.account_id,
            name: r.name,
            client_secret_hash: r.client_secret_hash,
            rate_limit_per_min: r.rate_limit_per_min,
            created_at: r.created_at,
        })
    }
}

/// Column lists as macros, so queries stay `&'static str` (sqlx 0.9 refuses
/// runtime-built SQL unless audited).
macro_rules! app_columns {
    () => {
        "client_id, account_id, name, mode, is_public, client_secret_hash, \
         redirect_uris, grant_types, rate_limit_per_min, created_at"
    };
}

impl Store {
    pub async fn insert_app(&self, app: &App) -> Result<()> {
        let redirect_uris = serde_json::to_string(&app.redirect_uris).map_err(Error::internal)?;
        sqlx::query(concat!(
            "INSERT INTO apps (",
            app_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(&app.client_id)
        .bind(&app.account_id)
        .bind(&app.name)
        .bind(app.mode.as_str())
        .bind(flag(app.public))
        .bind(&app.client_secret_hash)
        .bind(redirect_uris)
        .bind(app.grant_types.join(" "))
        .bind(app.rate_limit_per_min)
        .bind(app.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            conflict_on_unique(e, || {
                format!("an app with client id {} already exists", app.client_id)
            })
        })?;
        Ok(())
    }

    /// Looks an OAuth client up; on SQLite answered from memory while no
    /// transaction has committed since it was last read ([`auth_cache`]).
    pub async fn app_by_client_id(&self, client_id: &str) -> Result<Option<App>> {
        let cached = self
            .auth_cache
            .as_ref()
            .and_then(|c| Some((c, c.version()?)));
        if let Some((cache, version)) = &cached
            && let Some(hit) = cache.app(version, client_id)
        {
            return Ok(hit);
        }
        let app = self.query_app_by_client_id(client_id).await?;
        if let Some((cache, version)) = &cached {
            cache.put_app(version, client_id, app.clone());
        }
        Ok(app)
    }

    async fn query_app_by_client_id(&self, client_id: &str) -> Result<Option<App>> {
        let row: Option<AppRow> = sqlx::query_as(concat!(
            "SELECT ",
            app_columns!(),
            " FROM apps WHERE client_id = $1"
        ))
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(App::try_from).transpose()
    }

    /// Changes an app's mode and/or its rate-limit override (`Some(None)` clears
    /// it, back to the mode's default). `None` when there is no such app.
    pub async fn update_app_limits(
        &self,
        client_id: &str,
        mode: Option<AppMode>,
        rate_limit_per_min: Option<Option<i64>>,
    ) -> Result<Option<App>> {
        let mut tx = self.pool.begin().await?;
        if let Some(mode) = mode {
            sqlx::query("UPDATE apps SET mode = $1 WHERE client_id = $2")
                .bind(mode.as_str())
                .bind(client_id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(limit) = rate_limit_per_min {
            sqlx::query("UPDATE apps SET rate_limit_per_min = $1 WHERE client_id = $2")
                .bind(limit)
                .bind(client_id)
                .execute(&mut *tx)
                .await?;
        }
        let row: Option<AppRow> = sqlx::query_as(concat!(
            "SELECT ",
            app_columns!(),
            " FROM apps WHERE client_id = $1"
        ))
        .bind(client_id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(App::try_from).transpose()
    }

    pub async fn apps_of(&self, account_id: &str) -> Result<Vec<App>> {
        let rows: Vec<AppRow> = sqlx::query_as(concat!(
            "SELECT ",
            app_columns!(),
            " FROM apps WHERE account_id = $1 ORDER BY created_at, client_id"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(App::try_from).collect()
    }
}

// ---------------------------------------------------------------- API keys

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

/// [`Store::api_key_for_auth`] for many keys in one query (the PostgreSQL batcher).
async fn query_api_keys_for_auth(
    pool: AnyPool,
    ids: Vec<String>,
) -> Result<std::collections::HashMap<String, ApiKeyAuthRow>> {
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

impl Store {
    pub async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<()> {
        sqlx::query(concat!(
            "INSERT INTO api_keys (",
            api_key_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&key.id)
        .bind(&key.account_id)
        .bind(&key.key_hash)
        .bind(&key.kid)
        .bind(&key.name)
        .bind(&key.scope)
        .bind(key.created_at)
        .bind(key.expires_at)
        .bind(key.revoked_at)
        .bind(key.last_used_at)
        .bind(&key.preview)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every request's API-key check. Reflects every commit before the call (see
    /// [`auth_cache`] for how SQLite avoids the query when nothing changed).
    pub async fn api_key_for_auth(&self, id: &str) -> Result<Option<ApiKeyAuthRow>> {
        let cached = self
            .auth_cache
            .as_ref()
            .and_then(|c| Some((c, c.version()?)));
        if let Some((cache, version)) = &cached
            && let Some(hit) = cache.api_key(version, id)
        {
            return Ok(hit);
        }
        if let Some(batch) = &self.api_key_batch
            && let Some(answer) = batch.get(id.to_owned()).await
        {
            return Ok(answer);
        }
        let row = self.query_api_key_for_auth(id).await?;
        if let Some((cache, version)) = &cached {
            cache.put_api_key(version, id, row.clone());
        }
        Ok(row)
    }

    async fn query_api_key_for_auth(&self, id: &str) -> Result<Option<ApiKeyAuthRow>> {
        Ok(sqlx::query_as(
            "SELECT k.account_id, a.email, k.key_hash, k.expires_at, k.revoked_at, k.last_used_at \
             FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records use; callers throttle (a write per request would serialize SQLite).
    pub async fn touch_api_key(&self, id: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            api_key_columns!(),
            " FROM api_keys WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// One account's keys, or every key when `account_id` is `None` (admin).
    pub async fn list_api_keys(&self, account_id: Option<&str>) -> Result<Vec<ApiKeyRecord>> {
        let rows = match account_id {
            Some(account) => {
                sqlx::query_as(concat!(
                    "SELECT ",
                    api_key_columns!(),
                    " FROM api_keys WHERE account_id = $1 ORDER BY created_at, id"
                ))
                .bind(account)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as(concat!(
                    "SELECT ",
                    api_key_columns!(),
                    " FROM api_keys ORDER BY created_at, id"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        Ok(rows)
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
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(if done.rows_affected() == 1 {
            Revoked::Now
        } else {
            Revoked::Already
        })
    }
}

// ---------------------------------------------------------------- signing keys

#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct SigningKeyRow {
    pub kid: String,
    pub algorithm: String,
    pub public_key: String,
    pub private_key_sealed: String,
    pub created_at: i64,
    pub rotated_at: Option<i64>,
}

impl Store {
    /// Inserts `key` as the one current key: every other current key is marked
    /// rotated at `now`, in the same transaction.
    pub async fn insert_signing_key_rotating(&self, key: &SigningKeyRow, now: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE signing_keys SET rotated_at = $1 WHERE rotated_at IS NULL")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, algorithm, public_key, private_key_sealed, created_at, rotated_at) \
             VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(&key.kid)
        .bind(&key.algorithm)
        .bind(&key.public_key)
        .bind(&key.private_key_sealed)
        .bind(key.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyRow>> {
        Ok(sqlx::query_as(
            "SELECT kid, algorithm, public_key, private_key_sealed, created_at, rotated_at \
             FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Kids that signed an API key that is neither revoked nor expired.
    pub async fn signing_kids_with_live_api_keys(&self, now: i64) -> Result<HashSet<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT kid FROM api_keys \
             WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(kid,)| kid).collect())
    }
}

// ---------------------------------------------------------------- token-URL sessions

/// A token-URL login session (`admin session create`). The session id itself is a
/// secret handed to the user; only its hash is stored.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct SessionRow {
    pub id_hash: String,
    pub account_id: String,
    /// Assurance level the exchanged token carries; `"0"` for admin-created sessions.
    pub acr: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
}

impl Store {
    pub async fn insert_session(&self, session: &SessionRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, account_id, acr, created_at, expires_at, consumed_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&session.id_hash)
        .bind(&session.account_id)
        .bind(&session.acr)
        .bind(session.created_at)
        .bind(session.expires_at)
        .bind(session.consumed_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Consumes an unexpired, unused session atomically (single use even with
    /// several instances racing). `None` when there is nothing to consume.
    pub async fn take_session(&self, id_hash: &str, now: i64) -> Result<Option<SessionRow>> {
        Ok(sqlx::query_as(
            "UPDATE sessions SET consumed_at = $1 \
             WHERE id_hash = $2 AND consumed_at IS NULL AND expires_at > $1 \
             RETURNING id_hash, account_id, acr, created_at, expires_at, consumed_at",
        )
        .bind(now)
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?)
    }
}

// ---------------------------------------------------------------- access tokens

/// What the per-request access-token check needs.
#[derive(Clone, Debug, FromRow)]
pub struct AccessTokenAuthRow {
    pub email: String,
    /// Set when the token's `jti` is in `revoked_access_tokens`.
    pub revoked_at: Option<i64>,
    /// 0 when the token names an app (`client_id`) that has been deleted: a
    /// deleted app's tokens stop working at once, including client-credentials
    /// tokens, which belong to no refresh-token family that could be revoked.
    pub app_exists: i64,
}

impl Store {
    /// The account's email, whether the token was revoked and whether its app
    /// still exists; `None` when the account does not exist (any more).
    pub async fn access_token_for_auth(
        &self,
        jti: &str,
        account_id: &str,
        client_id: Option<&str>,
    ) -> Result<Option<AccessTokenAuthRow>> {
        let cached = self
            .auth_cache
            .as_ref()
            .and_then(|c| Some((c, c.version()?)));
        if let Some((cache, version)) = &cached
            && let Some(hit) = cache.access_token(version, jti, account_id)
        {
            return Ok(hit);
        }
        let row = self
            .query_access_token_for_auth(jti, account_id, client_id)
            .await?;
        if let Some((cache, version)) = &cached {
            cache.put_access_token(version, jti, account_id, row.clone());
        }
        Ok(row)
    }

    async fn query_access_token_for_auth(
        &self,
        jti: &str,
        account_id: &str,
        client_id: Option<&str>,
    ) -> Result<Option<AccessTokenAuthRow>> {
        Ok(sqlx::query_as(
            "SELECT a.email, r.revoked_at, \
             CAST(CASE WHEN CAST($3 AS TEXT) IS NULL \
                  OR EXISTS (SELECT 1 FROM apps p WHERE p.client_id = CAST($3 AS TEXT)) \
             THEN 1 ELSE 0 END AS BIGINT) AS app_exists \
             FROM accounts a \
             LEFT JOIN revoked_access_tokens r ON r.jti = $1 WHERE a.id = $2",
        )
        .bind(jti)
        .bind(account_id)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Revokes an access token until its expiry (RFC 7009). Idempotent.
    pub async fn revoke_access_token(&self, jti: &str, expires_at: i64, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO revoked_access_tokens (jti, expires_at, revoked_at) VALUES ($1, $2, $3) \
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(expires_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Drops revocations of tokens that have expired anyway.
    pub async fn prune_revoked_access_tokens(&self, now: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM revoked_access_tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
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
        let (id, row) = crate::admin::session::create(store, &account, "0", now)
            .await
            .unwrap();
        let hash = crate::digest::secret_hash(&id);
        assert_eq!(row.id_hash, hash);
        let taken = store.take_session(&hash, now + 1).await.unwrap().unwrap();
        assert_eq!(taken.account_id, account);
        assert_eq!(taken.acr, "0");
        assert!(
            store.take_session(&hash, now + 2).await.unwrap().is_none(),
            "single use"
        );

        let (id, row) = crate::admin::session::create(store, &account, "0", now)
            .await
            .unwrap();
        let hash = crate::digest::secret_hash(&id);
        assert!(
            store
                .take_session(&hash, row.expires_at)
                .await
                .unwrap()
                .is_none(),
            "expired"
        );
    }

    #[tokio::test]
    async fn cached_auth_lookups_see_commits_from_other_connections() {
        let fx = Fixture::new().await;
        let store = &fx.state.store;
        let now = fx.clock_now();
        let account = fx.account("c@example.com").await;
        let key = crate::apikey::issue(
            store,
            &fx.state.keyring,
            crate::testing::ISSUER,
            "",
            crate::apikey::NewApiKey {
                account_id: account,
                name: None,
                scope: None,
                expires_at: None,
            },
            now,
        )
        .await
        .unwrap();
        let id = &key.record.id;
        let cache = store.auth_cache.as_ref().expect("SQLite has the cache");
        let v1 = cache.version().expect("WAL-index header readable");
        assert!(
            store
                .api_key_for_auth(id)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_none()
        );
        assert!(cache.api_key(&v1, id).is_some(), "answer cached under v1");
        assert_eq!(cache.version(), Some(v1), "reads do not change the marker");

        // Another pool on the same file stands in for another process.
        let other = Store::connect(&fx.state.settings.database).await.unwrap();
        assert_eq!(
            other.revoke_api_key(id, None, now).await.unwrap(),
            Revoked::Now
        );
        let v2 = cache.version().expect("header");
        assert_ne!(v1, v2, "a commit elsewhere changes the marker");
        assert!(
            store
                .api_key_for_auth(id)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        );
    }

    #[tokio::test]
    async fn apps_round_trip() {
        let fx = Fixture::new().await;
        let account = fx.account("o@example.com").await;
        let app = App {
            client_id: "lofty-cli".into(),
            account_id: account.clone(),
            name: "Lofty CLI".into(),
            mode: AppMode::Production,
            public: true,
            client_secret_hash: None,
            redirect_uris: vec!["http://127.0.0.1/callback".into()],
            grant_types: vec!["authorization_code".into(), "device_code".into()],
            rate_limit_per_min: Some(42),
            created_at: fx.clock_now(),
        };
        fx.state.store.insert_app(&app).await.unwrap();
        assert_eq!(
            fx.state.store.app_by_client_id("lofty-cli").await.unwrap(),
            Some(app.clone())
        );
        assert_eq!(
            fx.state.store.apps_of(&account).await.unwrap(),
            vec![app.clone()]
        );
        assert!(matches!(
            fx.state.store.insert_app(&app).await,
            Err(Error::Conflict(_))
        ));
    }
}
