//! Device authorizations (RFC 8628): the device code's hash, the user code, and
//! the user's decision; polled by the device, decided on the verification page.

use super::{Store, one_row};
use crate::error::Result;
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
        let inserted = sqlx::query(
            "INSERT INTO device_codes (device_code_hash, user_code, client_id, scope, status, \
             account_id, interval_secs, last_polled_at, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, 'pending', NULL, $5, NULL, $6, $7)",
        )
        .bind(new.device_code_hash)
        .bind(new.user_code)
        .bind(new.client_id)
        .bind(new.scope)
        .bind(new.interval_secs)
        .bind(now)
        .bind(new.expires_at)
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes expired device authorizations (they may hold user codes).
    pub async fn delete_expired_device_codes(&self, now: i64) -> Result<()> {
        sqlx::query("DELETE FROM device_codes WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn device_code(&self, device_code_hash: &str) -> Result<Option<DeviceRow>> {
        Ok(sqlx::query_as(
            "SELECT client_id, scope, status, account_id, interval_secs, last_polled_at, expires_at \
             FROM device_codes WHERE device_code_hash = $1",
        )
        .bind(device_code_hash)
        .fetch_optional(&self.pool)
        .await?)
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
        Ok(one_row(
            sqlx::query(
                "UPDATE device_codes SET last_polled_at = $1, interval_secs = $2 \
                 WHERE device_code_hash = $3 AND COALESCE(last_polled_at, -1) = $4",
            )
            .bind(now)
            .bind(interval_secs)
            .bind(device_code_hash)
            .bind(last_polled_at.unwrap_or(-1))
            .execute(&self.pool)
            .await?,
        ))
    }

    /// Takes an approved device's tokens: `false` when it was taken already.
    pub async fn consume_device_code(&self, device_code_hash: &str) -> Result<bool> {
        Ok(one_row(
            sqlx::query(
                "UPDATE device_codes SET status = 'consumed' \
                 WHERE device_code_hash = $1 AND status = 'approved'",
            )
            .bind(device_code_hash)
            .execute(&self.pool)
            .await?,
        ))
    }

    /// The pending, unexpired device with this (normalized) user code.
    pub async fn pending_device(&self, user_code: &str, now: i64) -> Result<Option<PendingRow>> {
        Ok(sqlx::query_as(
            "SELECT d.user_code, d.client_id, a.name, d.scope, d.expires_at \
             FROM device_codes d JOIN apps a ON a.client_id = d.client_id \
             WHERE d.user_code = $1 AND d.status = 'pending' AND d.expires_at > $2",
        )
        .bind(user_code)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
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
        Ok(one_row(
            sqlx::query(
                "UPDATE device_codes SET status = $1, account_id = $2 \
                 WHERE user_code = $3 AND status = 'pending' AND expires_at > $4",
            )
            .bind(status)
            .bind(account_id)
            .bind(user_code)
            .bind(now)
            .execute(&self.pool)
            .await?,
        ))
    }
}
