//! Signed-in browsers. The cookie's secret is never stored, only its hash.

use super::Store;
use crate::error::Result;
use sqlx::FromRow;

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
        let sql = concat!(
            "INSERT INTO web_sessions (",
            web_session_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        let values = (
            &row.id_hash,
            &row.id,
            &row.account_id,
            &row.method,
            &row.ip,
            &row.user_agent,
            row.created_at,
            row.last_seen_at,
            row.expires_at,
            row.revoked_at,
        );
        self.execute(sql, values).await?;
        Ok(())
    }

    /// Inserts the session of a password sign-in only while the account's
    /// password hash is still `password_hash`, the one the password was
    /// checked against; `false` when it changed meanwhile. Checking takes a
    /// while: a change committed during it ended every session then live
    /// ([`Store::set_account_password`]), and this one must not begin after
    /// it. The no-op update takes the account's row (PostgreSQL: a change in
    /// progress is waited for, then seen; one that starts after waits for
    /// this commit, then ends the session; SQLite: its one writer).
    pub async fn insert_password_web_session(
        &self,
        row: &WebSessionRow,
        password_hash: &str,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let unchanged = sqlx::query(
            "UPDATE accounts SET password_hash = password_hash \
             WHERE id = $1 AND password_hash = $2",
        )
        .bind(&row.account_id)
        .bind(password_hash)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !unchanged {
            tx.rollback().await?;
            return Ok(false);
        }
        let sql = concat!(
            "INSERT INTO web_sessions (",
            web_session_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        sqlx::query(sql)
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
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The session behind a cookie, if it is neither revoked nor expired.
    pub async fn live_web_session(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<WebSessionAuth>> {
        let sql = "SELECT s.id, s.account_id, a.email, s.last_seen_at FROM web_sessions s \
                   JOIN accounts a ON a.id = s.account_id \
                   WHERE s.id_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2";
        self.optional(sql, (id_hash, now)).await
    }

    pub async fn touch_web_session(&self, id: &str, now: i64) -> Result<()> {
        let sql = "UPDATE web_sessions SET last_seen_at = $1 WHERE id = $2";
        self.execute(sql, (now, id)).await?;
        Ok(())
    }

    /// Ends the account's live sessions but its `keep` newest (by sign-in);
    /// how many it ended. They go with the next pruning, as signed-out ones.
    pub async fn end_web_sessions_but_newest(
        &self,
        account_id: &str,
        keep: i64,
        now: i64,
    ) -> Result<u64> {
        let sql = "UPDATE web_sessions SET revoked_at = $2 \
                   WHERE account_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
                   AND id NOT IN (SELECT id FROM web_sessions \
                     WHERE account_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
                     ORDER BY created_at DESC, id DESC LIMIT $3)";
        self.execute(sql, (account_id, now, keep)).await
    }

    /// An account's live sessions, most recently used first.
    pub async fn live_web_sessions_of(
        &self,
        account_id: &str,
        now: i64,
    ) -> Result<Vec<WebSessionRow>> {
        let sql = concat!(
            "SELECT ",
            web_session_columns!(),
            " FROM web_sessions WHERE account_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
             ORDER BY last_seen_at DESC, id"
        );
        self.all(sql, (account_id, now)).await
    }

    /// Keeps a sealed secret for the session until it is taken or expires,
    /// replacing one of the same kind and subject.
    pub async fn put_web_flash(
        &self,
        session_id: &str,
        kind: &str,
        subject: &str,
        sealed: &str,
        expires_at: i64,
    ) -> Result<()> {
        let sql = "INSERT INTO web_flashes (session_id, kind, subject, sealed, expires_at) \
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT (session_id, kind, subject) \
                   DO UPDATE SET sealed = $4, expires_at = $5";
        self.execute(sql, (session_id, kind, subject, sealed, expires_at))
            .await?;
        Ok(())
    }

    /// Deletes and returns the session's sealed secret of that kind and
    /// subject, unless it has expired: one statement, so two requests never
    /// both get it.
    pub async fn take_web_flash(
        &self,
        session_id: &str,
        kind: &str,
        subject: &str,
        now: i64,
    ) -> Result<Option<String>> {
        let sql = "DELETE FROM web_flashes \
                   WHERE session_id = $1 AND kind = $2 AND subject = $3 AND expires_at > $4 \
                   RETURNING sealed";
        let row: Option<(String,)> = self.optional(sql, (session_id, kind, subject, now)).await?;
        Ok(row.map(|(sealed,)| sealed))
    }

    /// Revokes one of the account's sessions by its public id; `false` when there
    /// was no such live session.
    pub async fn revoke_web_session(&self, account_id: &str, id: &str, now: i64) -> Result<bool> {
        let sql = "UPDATE web_sessions SET revoked_at = $1 \
                   WHERE id = $2 AND account_id = $3 AND revoked_at IS NULL";
        self.changed_one(sql, (now, id, account_id)).await
    }
}
