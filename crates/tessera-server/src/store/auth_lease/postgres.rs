//! PostgreSQL's lease holder and writer (the protocol: [`super`]). The holder
//! learns of bumps by `LISTEN` (channel `tessera_auth_epoch`, migration
//! `0010_auth_leases.sql`); `until` is the database's `now()`. A lost
//! notification connection drops the lease at once (writers would otherwise
//! wait for it to run out) until the connection is back.

use super::{Grants, Holder, LEASE, Lease, POLL, RENEW, Version, wait_out};
use crate::error::Result;
use crate::secret::SecretUrl;
use sqlx::AnyPool;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Pause before reconnecting the notification connection after an error.
const RECONNECT: Duration = Duration::from_millis(500);
/// The longest a notification connection may take to come up.
const CONNECT: Duration = Duration::from_secs(3);

const CHANNEL: &str = "tessera_auth_epoch";

/// Grants instance `$1` a lease under epoch `$2` for `$3` seconds, if `$2` is the
/// counter's current value. One row changed: granted.
const GRANT: &str = "INSERT INTO auth_leases (instance, epoch, until) \
     SELECT $1, n, now() + make_interval(secs => $3) FROM auth_epoch \
     WHERE id = 1 AND n = $2 FOR SHARE \
     ON CONFLICT (instance) DO UPDATE SET epoch = excluded.epoch, until = excluded.until";

/// The holder's connection: grants and counter reads.
struct Db<'a> {
    pool: &'a PgPool,
    instance: &'a str,
}

impl Grants for Db<'_> {
    async fn grant(&mut self, epoch: Version) -> Result<bool> {
        let granted = sqlx::query(GRANT)
            .bind(self.instance)
            .bind(epoch)
            .bind(LEASE.as_secs_f64())
            .execute(self.pool)
            .await?
            .rows_affected();
        Ok(granted == 1)
    }

    async fn counter(&mut self) -> Result<Version> {
        let (n,): (i64,) = sqlx::query_as("SELECT n FROM auth_epoch WHERE id = 1")
            .fetch_one(self.pool)
            .await?;
        Ok(n)
    }
}

/// Holds `lease` for this instance until the returned handle is released:
/// listens for the counter's notifications and renews. Errors are logged; while
/// they last the lease lapses and requests read the counter themselves.
pub fn hold(url: SecretUrl, lease: Arc<Lease>) -> Result<Holder> {
    super::spawn(move |stopped| maintain(url, lease, stopped))
}

/// The lease's own work (see [`hold`]) until `stopped`; then gives the lease back.
async fn maintain(
    url: SecretUrl,
    lease: Arc<Lease>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let instance = uuid::Uuid::new_v4().to_string();
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(CONNECT)
        .connect_lazy(url.expose());
    let pool = match pool {
        Ok(pool) => pool,
        Err(e) => {
            tracing::warn!(error = %e, "auth cache lease: bad database URL; no lease");
            return;
        }
    };
    let changed = Arc::new(Notify::new());
    let listening = Arc::new(AtomicBool::new(false));
    let listener = tokio::spawn(listen(
        url,
        lease.clone(),
        changed.clone(),
        listening.clone(),
    ));
    // Rows of instances that stopped without giving theirs back.
    let stale = "DELETE FROM auth_leases WHERE until < now() - interval '1 day'";
    if let Err(e) = sqlx::query(stale).execute(&pool).await {
        tracing::warn!(error = %e, "could not prune old auth cache leases");
    }
    let mut tick = tokio::time::interval(RENEW);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            _ = tick.tick() => {}
            () = changed.notified() => {}
        }
        if !listening.load(Ordering::Acquire) {
            continue;
        }
        let mut db = Db {
            pool: &pool,
            instance: &instance,
        };
        // Notifications may have been lost while the grant ran.
        if lease.keep(&mut db, &mut failing).await && !listening.load(Ordering::Acquire) {
            lease.drop_lease();
        }
    }
    listener.abort();
    lease.drop_lease();
    let sql = "DELETE FROM auth_leases WHERE instance = $1";
    if let Err(e) = sqlx::query(sql).bind(&instance).execute(&pool).await {
        tracing::warn!(error = %e, "could not give the auth cache lease back");
    }
    pool.close().await;
}

/// Keeps a notification connection, and says whether one is up: without it
/// this instance holds no lease (writers would wait for it to run out).
async fn listen(
    url: SecretUrl,
    lease: Arc<Lease>,
    changed: Arc<Notify>,
    listening: Arc<AtomicBool>,
) {
    let mut failing = false;
    loop {
        let connect = async {
            let mut listener = PgListener::connect(url.expose()).await?;
            listener.listen(CHANNEL).await?;
            // A lost connection ends this one; the next is ours to make (and
            // to say so).
            listener.eager_reconnect(false);
            Ok::<_, sqlx::Error>(listener)
        };
        let connected = tokio::time::timeout(CONNECT, connect).await;
        let mut listener = match connected.unwrap_or(Err(sqlx::Error::PoolTimedOut)) {
            Ok(listener) => listener,
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "auth cache notifications: cannot connect; no lease until they can");
                }
                failing = true;
                tokio::time::sleep(RECONNECT).await;
                continue;
            }
        };
        failing = false;
        listening.store(true, Ordering::Release);
        changed.notify_one();
        while let Ok(Some(_)) = listener.try_recv().await {
            changed.notify_one();
        }
        listening.store(false, Ordering::Release);
        lease.drop_lease();
        tracing::warn!("auth cache notifications lost; no lease until they are back");
    }
}

/// Returns once every live lease knows the counter's current value (see the
/// module's protocol), or [`LEASE`] after it began. Called after every committed
/// write that may have bumped the counter. When the database cannot tell, waits
/// the whole LEASE: the write has committed, and every lease runs out by then.
pub async fn settle(pool: &AnyPool) {
    let began = Instant::now();
    let first = "SELECT n, (SELECT count(*) FROM auth_leases \
                 WHERE epoch < auth_epoch.n AND until > now()) FROM auth_epoch WHERE id = 1";
    let (n, mut waiting) = match sqlx::query_as::<_, (i64, i64)>(first).fetch_one(pool).await {
        Ok(row) => row,
        Err(e) => return wait_out(began, &e).await,
    };
    let again = "SELECT count(*) FROM auth_leases WHERE epoch < $1 AND until > now()";
    while waiting > 0 && began.elapsed() < LEASE {
        tokio::time::sleep(POLL).await;
        match sqlx::query_as::<_, (i64,)>(again)
            .bind(n)
            .fetch_one(pool)
            .await
        {
            Ok((count,)) => waiting = count,
            Err(e) => return wait_out(began, &e).await,
        }
    }
}
