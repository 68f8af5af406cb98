//! Registered OAuth clients ("apps"), their mode and rate-limit override, and the
//! production-mode requests of the developer console.

use super::{Store, flag, is_unique_violation, retrying_lost_races};
use crate::error::{Error, Result};
use sqlx::FromRow;
use tessera_proto::Scopes;

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
    /// `device_code`.
    pub grant_types: Vec<String>,
    /// Overrides the mode's default limit, requests per minute.
    pub rate_limit_per_min: Option<i64>,
    /// Every token request must carry a DPoP proof (RFC 9449), so every token
    /// the app gets is bound to a key.
    pub dpop_required: bool,
    pub created_at: i64,
    /// Restricted scopes (`oauth::RESTRICTED_SCOPES`) the app may be
    /// granted; every app may be granted the others.
    pub scopes: Scopes,
    /// A member registered it in the developer portal, not an operator: its
    /// redirect URIs are that member's word (see `oauth::authorize`).
    pub self_service: bool,
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
    dpop_required: i64,
    created_at: i64,
    scopes: String,
    self_service: i64,
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
            dpop_required: r.dpop_required != 0,
            created_at: r.created_at,
            scopes: Scopes::parse(&r.scopes),
            self_service: r.self_service != 0,
        })
    }
}

/// Column lists as macros, so queries stay `&'static str`.
macro_rules! app_columns {
    () => {
        "client_id, account_id, name, mode, is_public, client_secret_hash, \
          redirect_uris, grant_types, rate_limit_per_min, dpop_required, created_at, scopes, \
          self_service"
    };
}

/// Client ids of an account's apps waiting for production approval, with when
/// they asked.
pub type ProductionRequests = Vec<(String, i64)>;

const INSERT_APP: &str = concat!(
    "INSERT INTO apps (",
    app_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
);

#[allow(clippy::type_complexity)]
fn app_values(
    app: &App,
) -> Result<(
    &str,
    &str,
    &str,
    &'static str,
    i64,
    &Option<String>,
    String,
    String,
    Option<i64>,
    i64,
    i64,
    String,
    i64,
)> {
    let redirect_uris = serde_json::to_string(&app.redirect_uris).map_err(Error::internal)?;
    Ok((
        &app.client_id,
        &app.account_id,
        &app.name,
        app.mode.as_str(),
        flag(app.public),
        &app.client_secret_hash,
        redirect_uris,
        app.grant_types.join(" "),
        app.rate_limit_per_min,
        flag(app.dpop_required),
        app.created_at,
        app.scopes.to_string(),
        flag(app.self_service),
    ))
}

fn taken(app: &App) -> String {
    format!("an app with client id {} already exists", app.client_id)
}

impl Store {
    pub async fn insert_app(&self, app: &App) -> Result<()> {
        self.insert_unique(INSERT_APP, app_values(app)?, || taken(app))
            .await
    }

    /// Inserts an app only while its account has fewer than `cap` apps;
    /// `false` when it has `cap`, however many requests ask at once.
    pub async fn insert_app_within(&self, app: &App, cap: i64) -> Result<bool> {
        let count = (
            "SELECT COUNT(*) FROM apps WHERE account_id = $1",
            (app.account_id.as_str(),),
        );
        let insert = (INSERT_APP, app_values(app)?);
        match self
            .insert_within(&app.account_id, cap, count, insert)
            .await
        {
            Err(e) if is_unique_violation(&e) => Err(Error::Conflict(taken(app))),
            other => other,
        }
    }

    /// Looks an OAuth client up; on SQLite answered from memory while no
    /// transaction has committed since it was last read ([`super::auth_cache`]).
    pub async fn app_by_client_id(&self, client_id: &str) -> Result<Option<App>> {
        self.cached(|| client_id, async {
            let sql = concat!("SELECT ", app_columns!(), " FROM apps WHERE client_id = $1");
            let row: Option<AppRow> = self.optional(sql, (client_id,)).await?;
            row.map(App::try_from).transpose()
        })
        .await
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
        self.settle_auth_change().await;
        row.map(App::try_from).transpose()
    }

    /// Whether the app's token requests must carry a DPoP proof; `false` when
    /// there is no such app.
    pub async fn set_app_dpop_required(&self, client_id: &str, required: bool) -> Result<bool> {
        let sql = "UPDATE apps SET dpop_required = $1 WHERE client_id = $2";
        self.changed_one(sql, (flag(required), client_id)).await
    }

    /// How many apps an account has.
    pub async fn app_count_of(&self, account_id: &str) -> Result<i64> {
        let sql = "SELECT COUNT(*) FROM apps WHERE account_id = $1";
        let (count,): (i64,) = self.optional(sql, (account_id,)).await?.unwrap_or((0,));
        Ok(count)
    }

    pub async fn apps_of(&self, account_id: &str) -> Result<Vec<App>> {
        let sql = concat!(
            "SELECT ",
            app_columns!(),
            " FROM apps WHERE account_id = $1 ORDER BY created_at, client_id"
        );
        let rows: Vec<AppRow> = self.all(sql, (account_id,)).await?;
        rows.into_iter().map(App::try_from).collect()
    }

    /// Replaces a confidential app's secret hash; `false` when the account owns
    /// no such confidential app.
    /// Replaces the secret hash `previous` of a confidential app of the
    /// account; `false` when there is no such app or its hash is no longer
    /// `previous` (another rotation came first).
    pub async fn set_app_secret_hash(
        &self,
        account_id: &str,
        client_id: &str,
        previous: &str,
        secret_hash: &str,
    ) -> Result<bool> {
        let sql = "UPDATE apps SET client_secret_hash = $1 \
                   WHERE client_id = $2 AND account_id = $3 AND is_public = 0 \
                   AND client_secret_hash = $4";
        self.changed_one(sql, (secret_hash, client_id, account_id, previous))
            .await
    }

    /// Sets the mode and clears any pending production request.
    pub async fn set_app_mode(
        &self,
        account_id: &str,
        client_id: &str,
        mode: AppMode,
    ) -> Result<bool> {
        let sql = "UPDATE apps SET mode = $1, production_requested_at = NULL \
                   WHERE client_id = $2 AND account_id = $3";
        self.changed_one(sql, (mode.as_str(), client_id, account_id))
            .await
    }

    /// Records (or with `None` withdraws) a request for production mode.
    pub async fn set_app_production_request(
        &self,
        account_id: &str,
        client_id: &str,
        requested_at: Option<i64>,
    ) -> Result<bool> {
        let sql = "UPDATE apps SET production_requested_at = $1 \
                   WHERE client_id = $2 AND account_id = $3";
        self.changed_one(sql, (requested_at, client_id, account_id))
            .await
    }

    pub async fn production_requests_of(&self, account_id: &str) -> Result<ProductionRequests> {
        let sql = "SELECT client_id, production_requested_at FROM apps \
                   WHERE account_id = $1 AND production_requested_at IS NOT NULL";
        self.all(sql, (account_id,)).await
    }

    /// Approves a pending production request (admin): `false` when none is pending.
    pub async fn approve_production(&self, client_id: &str) -> Result<bool> {
        let sql = "UPDATE apps SET mode = 'production', production_requested_at = NULL \
                   WHERE client_id = $1 AND production_requested_at IS NOT NULL";
        self.changed_one(sql, (client_id,)).await
    }

    /// Deletes one of the account's apps (its authorizations go with it).
    pub async fn delete_app(&self, account_id: &str, client_id: &str) -> Result<bool> {
        let sql = "DELETE FROM apps WHERE client_id = $1 AND account_id = $2";
        retrying_lost_races(|| self.changed_one(sql, (client_id, account_id))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fixture;

    /// PostgreSQL ends a deadlock by failing one side; deleting an app takes
    /// its row, then (cascading) its grants' rows, while a grant being
    /// consumed holds its own row and then needs a key share on the app for
    /// its family. The deletion, the victim here, runs again and succeeds
    /// once the grant commits (before: a 500). The consumptions' retries are
    /// the same function.
    #[tokio::test]
    async fn deleting_an_app_survives_a_deadlock_with_a_grant() {
        use sqlx::{Connection as _, Executor as _};
        if !tessera_testkit::postgres_available() {
            return;
        }
        let database = tessera_testkit::Database::create(tessera_testkit::Backend::Postgres);
        let store = Store::open(&super::super::DatabaseLocation::parse(&database.url).unwrap())
            .await
            .unwrap();
        let mut grant = sqlx::AnyConnection::connect(&database.url).await.unwrap();
        let mut watcher = sqlx::AnyConnection::connect(&database.url).await.unwrap();
        grant
            .execute(
                "INSERT INTO accounts (id, email, created_at) VALUES ('acc', 'a@example.com', 0)",
            )
            .await
            .unwrap();
        let app = App {
            client_id: "doomed".into(),
            account_id: "acc".into(),
            name: "Doomed".into(),
            mode: AppMode::Development,
            public: true,
            client_secret_hash: None,
            redirect_uris: vec!["http://127.0.0.1/callback".into()],
            grant_types: vec!["authorization_code".into()],
            rate_limit_per_min: None,
            dpop_required: false,
            created_at: 0,
            scopes: Scopes::default(),
            self_service: false,
        };
        store.insert_app(&app).await.unwrap();
        grant
            .execute(
                "INSERT INTO app_authorizations (account_id, client_id, scope, created_at, \
                 updated_at) VALUES ('acc', 'doomed', '', 0, 0)",
            )
            .await
            .unwrap();
        // The grant takes a row of the app's…
        grant.execute("BEGIN").await.unwrap();
        grant
            .execute("UPDATE app_authorizations SET updated_at = 1 WHERE client_id = 'doomed'")
            .await
            .unwrap();
        // …the deletion takes the app and waits for that row…
        let deletion = tokio::spawn({
            let store = store.clone();
            async move { store.delete_app("acc", "doomed").await }
        });
        loop {
            let (waiting,): (i64,) = sqlx::query_as(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE wait_event_type = 'Lock' AND datname = current_database()",
            )
            .fetch_one(&mut watcher)
            .await
            .unwrap();
            if waiting > 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        // …and the grant's family needs the app: a cycle. PostgreSQL looks
        // for one a second after each wait begins, so the deletion, waiting
        // first, is the victim, unless this machine took over a second to get
        // here: then the grant is, and the deletion simply goes on.
        let family = grant
            .execute(
                "INSERT INTO token_families (id, client_id, account_id, scope, created_at) \
                 VALUES ('fam', 'doomed', 'acc', '', 0)",
            )
            .await;
        let end = match family {
            Ok(_) => "COMMIT",
            Err(e) if e.as_database_error().and_then(|d| d.code()).as_deref() == Some("40P01") => {
                "ROLLBACK"
            }
            Err(e) => panic!("{e}"),
        };
        grant.execute(end).await.unwrap();
        assert!(deletion.await.unwrap().unwrap(), "the app was deleted");
        let (families,): (i64,) = sqlx::query_as("SELECT count(*) FROM token_families")
            .fetch_one(&mut watcher)
            .await
            .unwrap();
        assert_eq!(families, 0, "the cascade took the grant's family");
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
            dpop_required: true,
            created_at: fx.clock_now(),
            scopes: Scopes::parse(tessera_proto::API_KEYS_WRITE),
            self_service: true,
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
