//! The audit trail behind `/settings/activity`.

use super::Store;
use crate::error::Result;
use sqlx::FromRow;

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
        .execute(&self.pool)
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
        .fetch_all(&self.pool)
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
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }
}
