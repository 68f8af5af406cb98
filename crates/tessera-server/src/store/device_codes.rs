//! Device authorizations (RFC 8628): the device code's hash, the user code, and
//! the user's decision; polled by the device, decided on the verification page.

use super::{Store, is_foreign_key_violation, is_unique_violation, retrying_lost_races};
use crate::error::{Error, Result};
use sqlx::FromRow;

/// A new device authorization.
#[derive(Clone, Debug)]
pub struct NewDeviceCode<'a> {
    pub device_code_hash: &'a str,
    pub user_code: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    pub interval_secs: i64,
    pub expires_at: i64,
}

/// What a poll needs.
#[derive(Clone, Debug, FromRow)]
pub struct DeviceRow {
    pub client_id: String,
    pub scope: String,
    /// `pending`, `approved`, `denied` or `consumed`.
    pub status: String,
    pub account_id: Option<String>,
    pub interval_secs: i64,
    pub last_polled_at: Option<i64>,
    pub expires_at: i64,
}

/// A device waiting for the user, with the app's name.
#[derive(Clone, Debug, FromRow)]
pub struct PendingRow {
    pub user_code: String,
    pub client_id: String,
    pub name: String,
    pub scope: String,
    pub expires_at: i64,
}

impl Store {
    /// Inserts a device authorization; `false` when its user code is taken.
    pub async fn insert_device_code(&self, new: &NewDeviceCode<'_>, now: i64) -> Result<bool> {
        let sql = "INSERT INTO device_codes (device_code_hash, user_code, client_id, scope, \
                   status, account_id, interval_secs, last_polled_at, created_at, expires_at) \
                   VALUES ($1, $2, $3, $4, 'pending', NULL, $5, NULL, $6, $7)";
        let n = new;
        let values = (
            n.device_code_hash,
            n.user_code,
            n.client_id,
            n.scope,
            n.interval_secs,
            now,
            n.expires_at,
        );
        match self.execute(sql, values).await {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes expired device authorizations (they may hold user codes).
    pub async fn delete_expired_device_codes(&self, now: i64) -> Result<()> {
        let sql = "DELETE FROM device_codes WHERE expires_at <= $1";
        self.execute(sql, (now,)).await?;
        Ok(())
    }

    pub async fn device_code(&self, device_code_hash: &str) -> Result<Option<DeviceRow>> {
        let sql = "SELECT client_id, scope, status, account_id, interval_secs, last_polled_at, \
                   expires_at FROM device_codes WHERE device_code_hash = $1";
        self.optional(sql, (device_code_hash,)).await
    }

    /// Records a poll at `now` with the (possibly raised) interval, if the last
    /// poll is still `last_polled_at` (compare-and-set: of two concurrent polls
    /// one loses).
    pub async fn record_device_poll(
        &self,
        device_code_hash: &str,
        last_polled_at: Option<i64>,
        interval_secs: i64,
        now: i64,
    ) -> Result<bool> {
        let sql = "UPDATE device_codes SET last_polled_at = $1, interval_secs = $2 \
                   WHERE device_code_hash = $3 AND COALESCE(last_polled_at, -1) = $4";
        let last = last_polled_at.unwrap_or(-1);
        self.changed_one(sql, (now, interval_secs, device_code_hash, last))
            .await
    }

    /// Takes an approved device's tokens and opens their token family
    /// `family_id`, in one transaction (as a code's is): a withdrawal of the
    /// app racing it either finds the device still approved and denies it, or
    /// finds the family and revokes it. The account the device was approved
    /// for; `None` when it was taken already (or its app deleted meanwhile).
    /// `dpop_jkt`: the DPoP key the family's refresh tokens are bound to.
    pub async fn consume_device_code(
        &self,
        device_code_hash: &str,
        family_id: &str,
        dpop_jkt: Option<&str>,
        now: i64,
    ) -> Result<Option<String>> {
        retrying_lost_races(|| async move {
            let mut tx = self.pool.begin().await?;
            let taken: Option<(String, String, String)> = sqlx::query_as(
                "UPDATE device_codes SET status = 'consumed' \
                 WHERE device_code_hash = $1 AND status = 'approved' \
                 RETURNING account_id, client_id, scope",
            )
            .bind(device_code_hash)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((account_id, client_id, scope)) = taken else {
                tx.rollback().await?;
                return Ok(None);
            };
            let opened = sqlx::query(
                "INSERT INTO token_families \
                 (id, client_id, account_id, scope, created_at, revoked_at, dpop_jkt) \
                 VALUES ($1, $2, $3, $4, $5, NULL, $6)",
            )
            .bind(family_id)
            .bind(&client_id)
            .bind(&account_id)
            .bind(&scope)
            .bind(now)
            .bind(dpop_jkt)
            .execute(&mut *tx)
            .await;
            match opened.map_err(Error::from) {
                Ok(_) => {}
                Err(e) if is_foreign_key_violation(&e) => return Ok(None),
                Err(e) => return Err(e),
            }
            tx.commit().await?;
            self.settle_auth_change().await;
            Ok(Some(account_id))
        })
        .await
    }

    /// The pending, unexpired device with this (normalized) user code.
    pub async fn pending_device(&self, user_code: &str, now: i64) -> Result<Option<PendingRow>> {
        let sql = "SELECT d.user_code, d.client_id, a.name, d.scope, d.expires_at \
                   FROM device_codes d JOIN apps a ON a.client_id = d.client_id \
                   WHERE d.user_code = $1 AND d.status = 'pending' AND d.expires_at > $2";
        self.optional(sql, (user_code, now)).await
    }

    /// Whether the user code belongs to a device authorization, whatever its
    /// state (until expired ones are deleted).
    pub async fn device_user_code_issued(&self, user_code: &str) -> Result<bool> {
        let sql = "SELECT user_code FROM device_codes WHERE user_code = $1";
        let found: Option<(String,)> = self.optional(sql, (user_code,)).await?;
        Ok(found.is_some())
    }

    /// Records the user's decision (`approved` with the account, or `denied`) on
    /// a pending, unexpired device; `false` when there is none.
    pub async fn decide_device(
        &self,
        user_code: &str,
        status: &str,
        account_id: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        let sql = "UPDATE device_codes SET status = $1, account_id = $2 \
                   WHERE user_code = $3 AND status = 'pending' AND expires_at > $4";
        self.changed_one(sql, (status, account_id, user_code, now))
            .await
    }
}
