//! Tables behind the web pages (migration `0003_web.sql`): browser sessions, the
//! audit trail, app authorizations, passwords, and the console's changes to apps.

use super::{AppMode, Store};
use crate::error::Result;
use sqlx::FromRow;

// ---------------------------------------------------------------- web sessions

/// A signed-in browser. The cookie's secret is never stored, only its hash.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct WebSessionRow {
    pub id_hash: String,
    /// Public handle (`ws_…`) for the sessions page.
    pub id: String,
    pub account_id: String,
    /// `email_code` or `password`.
    pub method: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// A live session with its account's email, for each request.
#[derive(Clone, Debug, FromRow)]
pub struct WebSessionAuth {
    pub id: String,
    pub account_id: String,
    pub email: String,
    pub last_seen_at: i64,
}

macro_rules! web_session_columns {
    () => {
        "id_hash, id, account_id, method, ip, user_agent, created_at, last_seen_at, expires_at, revoked_at"
    };
}

impl Store {
    pub async fn insert_web_session(&self, row: &WebSessionRow) -> Result<()> {
        sqlx::query(concat!(
            "INSERT INTO web_sessions (",
            web_session_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(&row.id_hash)
        .bind(&row.id)
        .bind(&row.account_id)
        .bind(&row.method)
        .bind(&row.ip)
        .bind(&row.user_agent)
        .bind(row.created_at)
        .bind(row.last_seen_at)
        .bind(row.expires_at)
        .bind(row.revoked_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The session behind a cookie, if it is neither revoked nor expired.
    pub async fn live_web_session(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<WebSessionAuth>> {
        Ok(sqlx::query_as(
            "SELECT s.id, s.account_id, a.email, s.last_seen_at FROM web_sessions s \
             JOIN accounts a ON a.id = s.account_id \
             WHERE s.id_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn touch_web_session(&self, id: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE web_sessions SET last_seen_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// An account's live sessions, most recently used first.
    pub async fn live_web_sessions_of(
        &self,
        account_id: &str,
        now: i64,
    ) -> Result<Vec<WebSessionRow>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            web_session_columns!(),
            " FROM web_sessions WHERE account_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
             ORDER BY last_seen_at DESC, id"
        ))
        .bind(account_id)
        .bind(now)
        .fetch_all(self.pool())
        .await?)
    }

    /// Revokes one of the account's sessions by its public id; `false` when there
    /// was no such live session.
    pub async fn revoke_web_session(&self, account_id: &str, id: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE web_sessions SET revoked_at = $1 \
             WHERE id = $2 AND account_id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .bind(account_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

// ---------------------------------------------------------------- audit trail

#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct AuditEventRow {
    pub id: String,
    pub account_id: String,
    pub action: String,
    pub subject: Option<String>,
    pub ip: Option<String>,
    pub created_at: i64,
}

impl Store {
    pub async fn insert_audit_event(&self, event: &AuditEventRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_events (id, account_id, action, subject, ip, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&event.id)
        .bind(&event.account_id)
        .bind(&event.action)
        .bind(&event.subject)
        .bind(&event.ip)
        .bind(event.created_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The newest `limit` events of an account, newest first.
    pub async fn audit_events_of(
        &self,
        account_id: &str,
        limit: i64,
    ) -> Result<Vec<AuditEventRow>> {
        Ok(sqlx::query_as(
            "SELECT id, account_id, action, subject, ip, created_at FROM audit_events \
             WHERE account_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(account_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// How many `action` events an account had at or after `since`.
    pub async fn count_audit_events_since(
        &self,
        account_id: &str,
        action: &str,
        since: i64,
    ) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM audit_events \
             WHERE account_id = $1 AND action = $2 AND created_at >= $3",
        )
        .bind(account_id)
        .bind(action)
        .bind(since)
        .fetch_one(self.pool())
        .await?;
        Ok(n)
    }
}

// ---------------------------------------------------------------- app authorizations

/// An app the account approved, with the app's name.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct AppAuthorization {
    pub client_id: String,
    pub app_name: String,
    pub scope: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Store {
    /// Records (or refreshes) that the account approved the app for `scope`.
    pub async fn upsert_app_authorization(
        &self,
        account_id: &str,
        client_id: &str,
        scope: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO app_authorizations (account_id, client_id, scope, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (account_id, client_id) DO UPDATE SET scope = $3, updated_at = $4",
        )
        .bind(account_id)
        .bind(client_id)
        .bind(scope)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn app_authorizations_of(&self, account_id: &str) -> Result<Vec<AppAuthorization>> {
        Ok(sqlx::query_as(
            "SELECT z.client_id, p.name AS app_name, z.scope, z.created_at, z.updated_at \
             FROM app_authorizations z JOIN apps p ON p.client_id = z.client_id \
             WHERE z.account_id = $1 ORDER BY z.updated_at DESC, z.client_id",
        )
        .bind(account_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// `false` when the account had not authorized the app.
    pub async fn delete_app_authorization(
        &self,
        account_id: &str,
        client_id: &str,
    ) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM app_authorizations WHERE account_id = $1 AND client_id = $2")
                .bind(account_id)
                .bind(client_id)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() == 1)
    }
}

impl Store {
    /// Ids of the unrevoked token families (grants) an account gave an app.
    pub async fn live_token_families(
        &self,
        account_id: &str,
        client_id: &str,
    ) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM token_families \
             WHERE account_id = $1 AND client_id = $2 AND revoked_at IS NULL",
        )
        .bind(account_id)
        .bind(client_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
}

impl Store {
    /// Ids of an app's unrevoked token families, across all accounts.
    pub async fn live_token_families_of_app(&self, client_id: &str) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM token_families WHERE client_id = $1 AND revoked_at IS NULL",
        )
        .bind(client_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
}

// ---------------------------------------------------------------- passwords

impl Store {
    /// Sets (or with `None` removes) an account's argon2 password hash.
    pub async fn set_account_password(&self, account_id: &str, hash: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(account_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn account_password_hash(&self, account_id: &str) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT password_hash FROM accounts WHERE id = $1")
                .bind(account_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.and_then(|(hash,)| hash))
    }
}

// ---------------------------------------------------------------- apps, from the console

impl Store {
    /// Replaces a confidential app's secret hash; `false` when the account owns
    /// no such confidential app.
    pub async fn set_app_secret_hash(
        &self,
        account_id: &str,
        client_id: &str,
        secret_hash: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE apps SET client_secret_hash = $1 \
             WHERE client_id = $2 AND account_id = $3 AND is_public = 0",
        )
        .bind(secret_hash)
        .bind(client_id)
        .bind(account_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets the mode and clears any pending production request.
    pub async fn set_app_mode(
        &self,
        account_id: &str,
        client_id: &str,
        mode: AppMode,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE apps SET mode = $1, production_requested_at = NULL \
             WHERE client_id = $2 AND account_id = $3",
        )
        .bind(mode.as_str())
        .bind(client_id)
        .bind(account_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records (or with `None` withdraws) a request for production mode.
    pub async fn set_app_production_request(
        &self,
        account_id: &str,
        client_id: &str,
        requested_at: Option<i64>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE apps SET production_requested_at = $1 WHERE client_id = $2 AND account_id = $3",
        )
        .bind(requested_at)
        .bind(client_id)
        .bind(account_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Client ids of the account's apps waiting for production approval, with
    /// when they asked.
    pub async fn production_requests_of(&self, account_id: &str) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT client_id, production_requested_at FROM apps \
             WHERE account_id = $1 AND production_requested_at IS NOT NULL",
        )
        .bind(account_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Approves a pending production request (admin): `false` when none is pending.
    pub async fn approve_production(&self, client_id: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE apps SET mode = 'production', production_requested_at = NULL \
             WHERE client_id = $1 AND production_requested_at IS NOT NULL",
        )
        .bind(client_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes one of the account's apps (its authorizations go with it).
    pub async fn delete_app(&self, account_id: &str, client_id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM apps WHERE client_id = $1 AND account_id = $2")
            .bind(client_id)
            .bind(account_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
