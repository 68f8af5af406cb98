//! PostgreSQL: the authentication cache's change marker known without a round
//! trip per request.
//!
//! The authentication cache (`auth_cache.rs`) reuses an answer while the
//! counter `auth_epoch.n` still has the value it had when the answer was read,
//! so every request must learn the current value. Reading it (one query shared
//! by the waiting requests) costs a database round trip and the database's CPU
//! on every authenticated request. An
//! instance that holds a *lease* instead knows the value: each bump notifies it
//! (channel `tessera_auth_epoch`, migration `0010_auth_leases.sql`), and a write
//! that bumps the counter returns only once every live lease has acknowledged it
//! or run out ([`settle`]).
//!
//! The protocol. The row of instance B in `auth_leases` says which value B knows
//! (`epoch`) and until when, by the database's clock, B may answer under it
//! (`until`).
//! - B writes its row only with [`GRANT`], which succeeds only if `epoch` is the
//!   counter's current value, read `FOR SHARE`: a grant waits for a bumping
//!   transaction to commit and then fails, or a bump waits for the grant to commit.
//! - B adopts a value it read from the counter before it asks for a grant with
//!   it, and after the grant succeeded answers under it until `sent +
//!   LOCAL_LEASE`, `sent` being B's clock when it sent the grant (so before the
//!   database evaluated `now()`). On each notification and every [`RENEW`] it asks
//!   again; a refused grant makes it read the counter, adopt it, and ask again.
//! - A writer whose transaction T bumped the counter to n_T reads, after T
//!   committed, n ≥ n_T and waits until no row has `epoch < n` and `until >
//!   now()`, or until [`LEASE`] has passed on its own clock since that read.
//!
//! Why no request slips through. Let request R start on B after the write
//! returned. If B holds no lease then, R reads the counter as
//! `auth_cache.rs` describes. Otherwise R answers under the value K that B
//! adopted last, and every answer cached under K was read after K was read; it
//! suffices that K ≥ n_T. Let G be B's last successful grant before R.
//! 1. If G locked the counter after T committed, G read a value ≥ n_T and
//!    succeeded with it, so B had adopted it: K ≥ n_T.
//! 2. Otherwise G, and every earlier grant, committed before T did, so the
//!    writer's checks (all after T committed) saw G's row, the latest of B's rows
//!    committed before T.
//!    - The writer saw a row of B with `epoch ≥ n`: that row came from a grant
//!      after G's row — one that B sent after adopting that value, before the
//!      writer returned — so K ≥ n ≥ n_T.
//!    - It saw `until ≤ now()`: B's lease from G ended at `sent + LOCAL_LEASE`,
//!      before the database's `now() + LEASE`, so before the check, so before R
//!      (unless the database's clock was stepped forward by more than LEASE −
//!      LOCAL_LEASE meanwhile: the one assumption, said in the server README).
//!    - LEASE passed on the writer's clock since its first check: G was sent
//!      before T committed, so B's lease ended before `T's commit + LOCAL_LEASE`,
//!      before the writer returned.
//!
//! Notifications only make writers fast; the grant's check makes them safe. A
//! lost notification connection drops the lease at once (writers would otherwise
//! wait for it to run out) until the connection is back.

use super::sqlite::Version;
use crate::error::Result;
use crate::secret::SecretUrl;
use sqlx::AnyPool;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How long a grant lasts in the database (`until = now() + LEASE`); also the
/// longest a write waits for a lease holder that does not acknowledge.
pub const LEASE: Duration = Duration::from_secs(2);
/// How long an instance answers under a grant, from sending it. Shorter than
/// [`LEASE`] by the database clock's allowed forward step.
const LOCAL_LEASE: Duration = Duration::from_millis(1500);
/// How often a holder renews without being notified.
const RENEW: Duration = Duration::from_millis(400);
/// How often a waiting writer looks at the leases again.
const POLL: Duration = Duration::from_millis(2);
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

/// What this instance knows of the counter, and until when it may rely on it.
#[derive(Debug)]
pub struct Lease {
    started: Instant,
    /// The counter's value last adopted; only grows. -1: none yet.
    known: AtomicI64,
    /// Nanoseconds after `started` until which `known` may be used; 0: no lease.
    valid_until: AtomicU64,
}

impl Default for Lease {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            known: AtomicI64::new(-1),
            valid_until: AtomicU64::new(0),
        }
    }
}

impl Lease {
    /// The counter's value, if this instance holds a lease right now.
    pub fn current(&self) -> Option<Version> {
        let until = self.valid_until.load(Ordering::Acquire);
        if until <= self.elapsed() {
            return None;
        }
        Some(self.known.load(Ordering::Acquire))
    }

    fn elapsed(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn adopt(&self, epoch: Version) {
        self.known.fetch_max(epoch, Ordering::AcqRel);
    }

    fn drop_lease(&self) {
        self.valid_until.store(0, Ordering::Release);
    }

    /// Renews once, with the value known now; adopts the counter and asks again
    /// when it moved. A counter that keeps moving leaves the lease to lapse until
    /// the next attempt.
    async fn renew(&self, pool: &PgPool, instance: &str) -> Result<()> {
        for _ in 0..4 {
            let epoch = self.known.load(Ordering::Acquire);
            let sent = self.elapsed();
            let granted = sqlx::query(GRANT)
                .bind(instance)
                .bind(epoch)
                .bind(LEASE.as_secs_f64())
                .execute(pool)
                .await?
                .rows_affected()
                == 1;
            if granted {
                let until = sent.saturating_add(LOCAL_LEASE.as_nanos() as u64);
                self.valid_until.store(until, Ordering::Release);
                return Ok(());
            }
            let (n,): (i64,) = sqlx::query_as("SELECT n FROM auth_epoch WHERE id = 1")
                .fetch_one(pool)
                .await?;
            self.adopt(n);
        }
        Ok(())
    }
}

/// Holds `lease` for this instance until the returned handle is released:
/// listens for the counter's notifications and renews. Errors are logged; while
/// they last the lease lapses and requests read the counter themselves.
///
/// On a thread and a runtime of its own, with connections of its own: requests
/// answered from the lease never wait, so under full load the server's runtime
/// let the renewals slip by a second and more (measured: two instances on two
/// cores, the lease lapsing every 1.5 s), and a write waiting for this
/// instance's acknowledgement would wait as long.
pub fn hold(url: SecretUrl, lease: Arc<Lease>) -> Result<Holder> {
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(crate::error::Error::internal)?;
    let thread = std::thread::Builder::new()
        .name("auth-lease".into())
        .spawn(move || runtime.block_on(maintain(url, lease, stopped)))
        .map_err(crate::error::Error::internal)?;
    Ok(Holder { stop, thread })
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
        match lease.renew(&pool, &instance).await {
            // Notifications may have been lost while the grant ran.
            Ok(()) if !listening.load(Ordering::Acquire) => lease.drop_lease(),
            Ok(()) => failing = false,
            Err(e) => {
                lease.drop_lease();
                if !failing {
                    tracing::warn!(error = %e, "auth cache lease not renewed; requests read the change marker themselves");
                }
                failing = true;
            }
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

/// The thread holding a lease. Released at shutdown so that writes stop
/// waiting for this instance at once.
#[derive(Debug)]
pub struct Holder {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Holder {
    pub async fn release(self) {
        let _ = self.stop.send(());
        let thread = self.thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
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

async fn wait_out(began: Instant, e: &sqlx::Error) {
    tracing::warn!(error = %e, "cannot read the auth cache leases; waiting for them to run out");
    tokio::time::sleep(LEASE.saturating_sub(began.elapsed())).await;
}
