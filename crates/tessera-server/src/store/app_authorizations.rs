//! The apps an account approved (consent, device approval), for the sessions page.

use super::Store;
use crate::error::Result;
use sqlx::FromRow;

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
        let sql = "INSERT INTO app_authorizations \
                   (account_id, client_id, scope, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
                   ON CONFLICT (account_id, client_id) DO UPDATE SET scope = $3, updated_at = $4";
        self.execute(sql, (account_id, client_id, scope, now))
            .await?;
        Ok(())
    }

    pub async fn app_authorizations_of(&self, account_id: &str) -> Result<Vec<AppAuthorization>> {
        let sql = "SELECT z.client_id, p.name AS app_name, z.scope, z.created_at, z.updated_at \
                   FROM app_authorizations z JOIN apps p ON p.client_id = z.client_id \
                   WHERE z.account_id = $1 ORDER BY z.updated_at DESC, z.client_id";
        self.all(sql, (account_id,)).await
    }

    /// `false` when the account had not authorized the app.
    pub async fn delete_app_authorization(
        &self,
        account_id: &str,
        client_id: &str,
    ) -> Result<bool> {
        let sql = "DELETE FROM app_authorizations WHERE account_id = $1 AND client_id = $2";
        self.changed_one(sql, (account_id, client_id)).await
    }
}
