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

    /// Withdraws all the account granted the app, in one transaction: codes
    /// not yet redeemed are deleted, devices approved but not yet polled are
    /// denied, token families are revoked, the authorization is forgotten.
    /// Statements over sets, not a list read first: a redemption racing this
    /// either commits first (its family is then revoked here) or finds
    /// nothing left to redeem. `false` when there was nothing to withdraw.
    pub async fn withdraw_app_authorization(
        &self,
        account_id: &str,
        client_id: &str,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let of_the_app = |sql| sqlx::query(sql).bind(account_id).bind(client_id);
        let codes = of_the_app(
            "DELETE FROM authorization_codes \
             WHERE account_id = $1 AND client_id = $2 AND consumed_at IS NULL",
        )
        .execute(&mut *tx)
        .await?;
        let devices = of_the_app(
            "UPDATE device_codes SET status = 'denied' \
             WHERE account_id = $1 AND client_id = $2 AND status = 'approved'",
        )
        .execute(&mut *tx)
        .await?;
        let families = of_the_app(
            "UPDATE token_families SET revoked_at = $3 \
             WHERE account_id = $1 AND client_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let recorded =
            of_the_app("DELETE FROM app_authorizations WHERE account_id = $1 AND client_id = $2")
                .execute(&mut *tx)
                .await?;
        let withdrawn = [codes, devices, families, recorded]
            .iter()
            .map(|done| done.rows_affected())
            .sum::<u64>();
        tx.commit().await?;
        self.settle_auth_change().await;
        Ok(withdrawn > 0)
    }
}
