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

/// The action anyone can cause, as the audit trail spells it
/// (`audit::Action::SignInFailed`).
pub const SIGN_IN_FAILED: &str = "sign_in_failed";

/// Each half reads one index of migration 0016 in order and stops at its
/// limit. The action is a literal, not a parameter: neither backend's planner
/// uses a partial index for a condition on a parameter, and on
/// (account_id, created_at) the first half stepped over every failed sign-in
/// newer than the owner's own events (350k: 70 ms on PostgreSQL).
const AUDIT_EVENTS_OF: &str = "SELECT * FROM (SELECT id, account_id, action, subject, ip, created_at \
     FROM audit_events WHERE account_id = $1 AND action <> 'sign_in_failed' \
     ORDER BY created_at DESC, id DESC LIMIT $2) AS own \
     UNION ALL SELECT * FROM (SELECT id, account_id, action, subject, ip, created_at \
     FROM audit_events WHERE account_id = $1 AND action = 'sign_in_failed' \
     ORDER BY created_at DESC, id DESC LIMIT $3) AS failed \
     ORDER BY created_at DESC, id DESC";

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

    /// An account's newest `limit` events other than failed sign-ins (which
    /// strangers can cause), with its newest `failed_limit` failed sign-ins
    /// among them, newest first.
    pub async fn audit_events_of(
        &self,
        account_id: &str,
        limit: i64,
        failed_limit: i64,
    ) -> Result<Vec<AuditEventRow>> {
        self.all(AUDIT_EVENTS_OF, (account_id, limit, failed_limit))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fixture;
    use sqlx::Row as _;
    use tessera_testkit::Backend;

    tessera_testkit::backend_tests!(each_half_of_the_activity_query_reads_its_own_index);

    /// The query's plan, not its time: each half is an index of its own, so
    /// failed sign-ins, however many, are never stepped over. On the one
    /// index of (account_id, created_at) both halves filtered on the action.
    async fn each_half_of_the_activity_query_reads_its_own_index(backend: Backend) {
        let Some(fx) = Fixture::on(backend).await else {
            return;
        };
        let store = &fx.state.store;
        let account = fx.account("owner@example.com").await;
        let mut tx = store.pool.begin().await.unwrap();
        let plan = match backend {
            Backend::Sqlite => "EXPLAIN QUERY PLAN ",
            Backend::Postgres => {
                // A few rows read fastest without an index at all.
                for off in [
                    "SET LOCAL enable_seqscan = off",
                    "SET LOCAL enable_bitmapscan = off",
                ] {
                    sqlx::query(off).execute(&mut *tx).await.unwrap();
                }
                "EXPLAIN "
            }
        };
        let literal = format!("action <> '{SIGN_IN_FAILED}'");
        assert!(AUDIT_EVENTS_OF.contains(&literal), "{AUDIT_EVENTS_OF}");
        let explain = format!("{plan}{AUDIT_EVENTS_OF}");
        let rows = sqlx::query(sqlx::AssertSqlSafe(explain))
            .bind(&account)
            .bind(200_i64)
            .bind(20_i64)
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        let column = match backend {
            Backend::Sqlite => "detail",
            Backend::Postgres => "QUERY PLAN",
        };
        let plan: Vec<String> = rows.iter().map(|r| r.get(column)).collect();
        let plan = plan.join("\n");
        for index in ["audit_events_own", "audit_events_failed_sign_ins"] {
            assert!(plan.contains(index), "{index} not used:\n{plan}");
        }
        assert!(!plan.contains("Filter"), "{plan}");
    }
}
