//! SQLite's lease holder and writer (the protocol: [`super`]). Every process
//! on the file runs on one host (WAL's shared memory needs it), so `until` is
//! the host's monotonic clock ([`clock`]), which no one steps. SQLite tells no
//! one of a commit: the holder reads the counter every [`WATCH`], and this
//! process's own bumps wake it at once ([`Lease::wake`]).
//!
//! Why a lease rather than a read per request: the read (`PRAGMA
//! data_version`, or the counter) is a read transaction on one connection
//! shared by every request of the process, and under load its mutex and
//! SQLite's file locks cost the API-key path 20% more CPU per request
//! (`bench/RESULTS.md`).

use super::{Grants, Holder, LEASE, Lease, POLL, RENEW, Version, wait_out};
use crate::error::{Error, Result};
use sqlx::AnyPool;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a holder reads the counter: the longest a bump committed by
/// another process (a second server, `tesserad admin`) waits for this one.
pub const WATCH: Duration = Duration::from_millis(5);
/// How long the holder's write waits for another transaction's: a lease not
/// renewed by then lapses, and requests read the counter themselves.
const BUSY: Duration = Duration::from_millis(250);

/// Grants instance `?1` a lease under epoch `?3` until `?2`, if `?3` is the
/// counter's current value (read inside the grant's own write transaction).
const GRANT: &str = "INSERT INTO auth_leases (instance, epoch, until) \
     SELECT ?1, n, ?2 FROM auth_epoch WHERE id = 1 AND n = ?3 \
     ON CONFLICT (instance) DO UPDATE SET epoch = excluded.epoch, until = excluded.until";

/// Rows no live holder can have: run out, or from before the host's last
/// boot (the clock starts again near zero; a live row ends within LEASE).
const PRUNE: &str = "DELETE FROM auth_leases WHERE until <= ?1 OR until > ?2";

/// Nanoseconds on the host's monotonic clock, which every process on the
/// file shares.
#[cfg(unix)]
pub fn clock() -> i64 {
    use nix::time::{ClockId, clock_gettime};
    // Fails only for a clock the kernel does not have; any made-up value
    // here could let a writer skip a live lease.
    let now = clock_gettime(ClockId::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC is readable");
    now.tv_sec()
        .saturating_mul(1_000_000_000)
        .saturating_add(now.tv_nsec())
}

/// Elsewhere the wall clock, with PostgreSQL's assumption (no forward step
/// larger than LEASE − LOCAL_LEASE while a lease runs).
#[cfg(not(unix))]
pub fn clock() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Holds `lease` for this instance until the returned handle is released.
/// Errors are logged; while they last the lease lapses and requests read the
/// counter themselves.
pub fn hold(path: PathBuf, lease: Arc<Lease>) -> Result<Holder> {
    super::spawn(move |stopped| maintain(path, lease, stopped))
}

/// The holder's own connection (SQLite calls are quick and this thread has
/// nothing else to do, so they run on it directly).
struct Db {
    conn: rusqlite::Connection,
    instance: String,
}

impl Db {
    fn open(path: &Path) -> rusqlite::Result<Self> {
        let conn = crate::store::sqlite::open_existing(path)?;
        conn.busy_timeout(BUSY)?;
        let now = clock();
        // Housekeeping: writers ignore such rows anyway.
        if let Err(e) = conn.execute(PRUNE, (now, now.saturating_add(nanos(LEASE)))) {
            tracing::warn!(error = %e, "could not prune old auth cache leases");
        }
        let instance = uuid::Uuid::new_v4().to_string();
        Ok(Self { conn, instance })
    }

    fn release(&self) -> rusqlite::Result<usize> {
        let sql = "DELETE FROM auth_leases WHERE instance = ?1";
        self.conn.execute(sql, [&self.instance])
    }
}

impl Grants for Db {
    async fn grant(&mut self, epoch: Version) -> Result<bool> {
        let until = clock().saturating_add(nanos(LEASE));
        let granted = self
            .conn
            .prepare_cached(GRANT)
            .and_then(|mut grant| grant.execute((&self.instance, until, epoch)))
            .map_err(Error::internal)?;
        Ok(granted == 1)
    }

    async fn counter(&mut self) -> Result<Version> {
        self.conn
            .prepare_cached("SELECT n FROM auth_epoch WHERE id = 1")
            .and_then(|mut read| read.query_row([], |row| row.get(0)))
            .map_err(Error::internal)
    }
}

/// The lease's own work (see [`hold`]) until `stopped`; then gives the lease back.
async fn maintain(
    path: PathBuf,
    lease: Arc<Lease>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let mut db = match Db::open(&path) {
        Ok(db) => db,
        Err(e) => {
            tracing::warn!(error = %e, "auth cache lease: cannot use the database; no lease");
            return;
        }
    };
    let mut renew_at = Instant::now();
    let mut failing = false;
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            () = tokio::time::sleep(WATCH) => {}
            () = lease.wake.notified() => {}
        }
        if Instant::now() < renew_at {
            if failing {
                continue;
            }
            // Between renewals only a bump needs a grant (grants at every
            // look would make the instances on one file write in turn).
            let known = lease.current();
            if known.is_some() && db.counter().await.ok() == known {
                continue;
            }
        }
        lease.keep(&mut db, &mut failing).await;
        renew_at = Instant::now() + RENEW;
    }
    lease.drop_lease();
    if let Err(e) = db.release() {
        tracing::warn!(error = %e, "could not give the auth cache lease back");
    }
}

/// Returns once every live lease knows the counter's current value (see the
/// protocol), or [`LEASE`] after it began. Called after every committed write
/// that may have bumped the counter. When the database cannot tell, waits the
/// whole LEASE: the write has committed, and every lease runs out by then.
pub async fn settle(pool: &AnyPool) {
    let began = Instant::now();
    // Each check reads the clock after the write committed. A row whose
    // `until` lies beyond now + LEASE was granted after that (so under the
    // new value) or before the host's last boot: neither is waited for.
    let first = "SELECT n, (SELECT count(*) FROM auth_leases \
                 WHERE epoch < auth_epoch.n AND until > $1 AND until <= $2) \
                 FROM auth_epoch WHERE id = 1";
    let now = clock();
    let read = sqlx::query_as::<_, (i64, i64)>(first)
        .bind(now)
        .bind(now.saturating_add(nanos(LEASE)))
        .fetch_one(pool)
        .await;
    let (n, mut waiting) = match read {
        Ok(row) => row,
        Err(e) => return wait_out(began, &e).await,
    };
    let again = "SELECT count(*) FROM auth_leases WHERE epoch < $1 AND until > $2 AND until <= $3";
    while waiting > 0 && began.elapsed() < LEASE {
        tokio::time::sleep(POLL).await;
        let now = clock();
        let read = sqlx::query_as::<_, (i64,)>(again)
            .bind(n)
            .bind(now)
            .bind(now.saturating_add(nanos(LEASE)))
            .fetch_one(pool)
            .await;
        match read {
            Ok((count,)) => waiting = count,
            Err(e) => return wait_out(began, &e).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Revoked;
    use crate::testing::Fixture;

    /// Bounded: a holder asks for its lease as soon as it starts.
    async fn held(lease: &Lease) -> Version {
        for _ in 0..2000 {
            if let Some(known) = lease.current() {
                return known;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("the lease was never granted");
    }

    async fn counter(fx: &Fixture) -> Version {
        let sql = "SELECT n FROM auth_epoch WHERE id = 1";
        let (n,): (i64,) = fx.state.store.one(sql, ()).await.unwrap();
        n
    }

    /// A revocation made by this process returns once its own lease knows
    /// it: the next request on this instance cannot answer from before it.
    #[tokio::test]
    async fn a_write_returns_once_this_instance_knows_it() {
        let fx = Fixture::new().await;
        let store = &fx.state.store;
        let holder = store.hold_auth_lease(&fx.state.settings.database).unwrap();
        let lease = store.auth_lease.clone().unwrap();
        let account = fx.account("l@example.com").await;
        let key = fx.api_key(&account, None).await;
        let before = held(&lease).await;
        let revoked = store.revoke_api_key(&key.record.id, None, fx.clock_now());
        assert_eq!(revoked.await.unwrap(), Revoked::Now);
        let known = lease.current();
        let after = counter(&fx).await;
        assert!(after > before, "the revocation bumped the counter");
        assert_eq!(known, Some(after), "known before the write returned");
        let row = store.api_key_for_auth(&key.record.id).await.unwrap();
        assert!(row.unwrap().revoked_at.is_some());
        holder.unwrap().release().await;
        assert_eq!(lease.current(), None, "given back");
        let rows: (i64,) = store
            .one("SELECT count(*) FROM auth_leases", ())
            .await
            .unwrap();
        assert_eq!(rows.0, 0, "its row deleted");
    }

    /// Writes that authentication does not read (`last_used_at`, sessions,
    /// one-time codes) leave the counter, and so every cached answer, alone.
    #[tokio::test]
    async fn unrelated_writes_keep_the_cache() {
        let fx = Fixture::new().await;
        let store = &fx.state.store;
        let account = fx.account("u@example.com").await;
        let key = fx.api_key(&account, None).await;
        let before = counter(&fx).await;
        let later = fx.clock_now() + 3600;
        store
            .touch_api_key(&key.record.id, later, |_| true)
            .await
            .unwrap();
        store
            .set_account_password(
                &account,
                Some("$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA"),
                later,
            )
            .await
            .unwrap();
        assert_eq!(counter(&fx).await, before);
    }

    /// A row further ahead than one lease cannot be a live holder's on this
    /// host (the clock restarted at a reboot): no write waits for it, and the
    /// next holder to start deletes it.
    #[tokio::test]
    async fn a_row_from_before_a_reboot_is_not_waited_for() {
        let fx = Fixture::new().await;
        let store = &fx.state.store;
        let insert = "INSERT INTO auth_leases (instance, epoch, until) VALUES ('old', 0, $1)";
        let hour = 3_600_000_000_000;
        store.execute(insert, (clock() + hour,)).await.unwrap();
        let account = fx.account("r@example.com").await;
        let key = fx.api_key(&account, None).await;
        let revoke = store.revoke_api_key(&key.record.id, None, fx.clock_now());
        let revoked = tokio::time::timeout(LEASE / 2, revoke).await;
        assert_eq!(revoked.expect("no wait").unwrap(), Revoked::Now);
        let holder = store.hold_auth_lease(&fx.state.settings.database).unwrap();
        held(store.auth_lease.as_ref().unwrap()).await;
        let sql = "SELECT count(*) FROM auth_leases WHERE instance = 'old'";
        let rows: (i64,) = store.one(sql, ()).await.unwrap();
        assert_eq!(rows.0, 0);
        holder.unwrap().release().await;
    }
}
