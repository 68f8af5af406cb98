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
        let sql = "INSERT INTO audit_events (id, account_id, action, subject, ip, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6)";
        let e = event;
        let values = (
            &e.id,
            &e.account_id,
            &e.action,
            &e.subject,
            &e.ip,
            e.created_at,
        );
        self.execute(sql, values).await?;
        Ok(())
    }

    /// An account's newest `limit` events other than `crowding` (an action
    /// strangers can cause), with its newest `crowding_limit` events of that
    /// action among them, newest first.
    pub async fn audit_events_of(
        &self,
        account_id: &str,
        limit: i64,
        crowding: &str,
        crowding_limit: i64,
    ) -> Result<Vec<AuditEventRow>> {
        let sql = "SELECT * FROM (SELECT id, account_id, action, subject, ip, created_at \
                   FROM audit_events WHERE account_id = $1 AND action <> $3 \
                   ORDER BY created_at DESC, id DESC LIMIT $2) AS own \
                   UNION ALL SELECT * FROM (SELECT id, account_id, action, subject, ip, created_at \
                   FROM audit_events WHERE account_id = $1 AND action = $3 \
                   ORDER BY created_at DESC, id DESC LIMIT $4) AS crowding \
                   ORDER BY created_at DESC, id DESC";
        self.all(sql, (account_id, limit, crowding, crowding_limit))
            .await
    }
}
