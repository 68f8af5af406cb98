//! The authentication cache's change marker known without a database read per
//! request.
//!
//! The authentication cache (`auth_cache.rs`) reuses an answer while the
//! counter `auth_epoch.n` still has the value it had when the answer was read,
//! so every request must learn the current value. Reading it costs a query on
//! every authenticated request (PostgreSQL: a round trip and the database's
//! CPU; SQLite: a read transaction and its file locks, contended by every
//! request of the process). An instance that holds a *lease* instead knows the
//! value: it learns of each bump (PostgreSQL notifies it; on SQLite it polls the
//! counter every [`sqlite::WATCH`], and this process's own writes wake it), and
//! a write that bumps the counter returns only once every live lease has
//! acknowledged it or run out (each backend's `settle`).
//!
//! The protocol. The row of instance B in `auth_leases` says which value B knows
//! (`epoch`) and until when, by the database's clock, B may answer under it
//! (`until`; PostgreSQL's `now()`, or on SQLite the host's monotonic clock,
//! which every process on the file shares).
//! - B writes its row only with a *grant*, which succeeds only if `epoch` is the
//!   counter's current value. Grants and bumps are ordered: on PostgreSQL by
//!   the counter row's lock (the grant reads it `FOR SHARE`), on SQLite because
//!   one transaction writes at a time and a grant reads the counter inside its
//!   own write.
//! - B adopts a value it read from the counter before it asks for a grant with
//!   it, and after the grant succeeded answers under it until `sent +
//!   LOCAL_LEASE`, `sent` being B's clock when it sent the grant (so before the
//!   database's clock was read for `until`). On each change it learns of and
//!   every [`RENEW`] it asks again; a refused grant makes it read the counter,
//!   adopt it, and ask again.
//! - A writer whose transaction T bumped the counter to n_T reads, after T
//!   committed, n ≥ n_T and waits until no row has `epoch < n` and `until >
//!   now`, or until [`LEASE`] has passed on its own clock since that read.
//!
//! Why no request slips through. Let request R start on B after the write
//! returned. If B holds no lease then, R reads the counter as
//! `auth_cache.rs` describes. Otherwise R answers under the value K that B
//! adopted last, and every answer cached under K was read after K was read; it
//! suffices that K ≥ n_T. Let G be B's last successful grant before R.
//! 1. If G read the counter after T committed, G read a value ≥ n_T and
//!    succeeded with it, so B had adopted it: K ≥ n_T.
//! 2. Otherwise G, and every earlier grant, committed before T did, so the
//!    writer's checks (all after T committed) saw G's row, the latest of B's rows
//!    committed before T.
//!    - The writer saw a row of B with `epoch ≥ n`: that row came from a grant
//!      after G's row — one that B sent after adopting that value, before the
//!      writer returned — so K ≥ n ≥ n_T.
//!    - It saw `until ≤ now`: B's lease from G ended at `sent + LOCAL_LEASE`,
//!      before `until`, so before the check, so before R (on PostgreSQL unless
//!      the database's clock was stepped forward by more than LEASE −
//!      LOCAL_LEASE meanwhile: the one assumption, said in the server README;
//!      SQLite's clock is never stepped).
//!    - LEASE passed on the writer's clock since its first check: G was sent
//!      before T committed, so B's lease ended before `T's commit + LOCAL_LEASE`,
//!      before the writer returned.
//!
//! Learning of changes only makes writers fast; the grant's check makes them
//! safe.

pub mod postgres;
pub mod sqlite;

use crate::error::Result;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// A value of the change marker `auth_epoch.n`: equal values, no relevant
/// commit in between.
pub type Version = i64;

/// How long a grant lasts in the database (`until = now + LEASE`); also the
/// longest a write waits for a lease holder that does not acknowledge.
pub const LEASE: Duration = Duration::from_secs(2);
/// How long an instance answers under a grant, from sending it. Shorter than
/// [`LEASE`] by PostgreSQL's clock's allowed forward step.
const LOCAL_LEASE: Duration = Duration::from_millis(1500);
/// How often a holder renews without a change.
const RENEW: Duration = Duration::from_millis(400);
/// How often a waiting writer looks at the leases again.
const POLL: Duration = Duration::from_millis(2);

/// What this instance knows of the counter, and until when it may rely on it.
#[derive(Debug)]
pub struct Lease {
    started: Instant,
    /// The counter's value last adopted; only grows. -1: none yet.
    known: AtomicI64,
    /// Nanoseconds after `started` until which `known` may be used; 0: no lease.
    valid_until: AtomicU64,
    /// Rung after this process committed a bump, so that the holder
    /// acknowledges it at once rather than at its next look (SQLite).
    wake: Notify,
}

impl Default for Lease {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            known: AtomicI64::new(-1),
            valid_until: AtomicU64::new(0),
            wake: Notify::new(),
        }
    }
}

/// A backend's two statements of the protocol, as the holder runs them.
trait Grants {
    /// Writes this instance's row with `epoch` and a fresh `until`, if `epoch`
    /// is the counter's current value; whether it did.
    async fn grant(&mut self, epoch: Version) -> Result<bool>;
    /// The counter's current value.
    async fn counter(&mut self) -> Result<Version>;
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

    /// Tells the holder that this process committed a bump.
    pub fn wake(&self) {
        self.wake.notify_one();
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

    /// [`Lease::renew`]; an error drops the lease, said once until a renewal
    /// succeeds again (`failing`). Whether it succeeded.
    async fn keep(&self, db: &mut impl Grants, failing: &mut bool) -> bool {
        match self.renew(db).await {
            Ok(()) => {
                *failing = false;
                true
            }
            Err(e) => {
                self.drop_lease();
                if !*failing {
                    tracing::warn!(error = %e, "auth cache lease not renewed; requests read the change marker themselves");
                }
                *failing = true;
                false
            }
        }
    }

    /// Renews once, with the value known now; adopts the counter and asks again
    /// when it moved. A counter that keeps moving leaves the lease to lapse until
    /// the next attempt.
    async fn renew(&self, db: &mut impl Grants) -> Result<()> {
        for _ in 0..4 {
            let epoch = self.known.load(Ordering::Acquire);
            let sent = self.elapsed();
            if db.grant(epoch).await? {
                let until = sent.saturating_add(LOCAL_LEASE.as_nanos() as u64);
                self.valid_until.store(until, Ordering::Release);
                return Ok(());
            }
            self.adopt(db.counter().await?);
        }
        Ok(())
    }
}

/// Runs a lease's holder on a thread and a runtime of its own, until the
/// returned handle is released. Requests answered from the lease never wait,
/// so under full load the server's runtime let the renewals slip by a second
/// and more (measured on PostgreSQL: two instances on two cores, the lease
/// lapsing every 1.5 s), and a write waiting for this instance's
/// acknowledgement would wait as long.
fn spawn<F>(maintain: impl FnOnce(tokio::sync::oneshot::Receiver<()>) -> F) -> Result<Holder>
where
    F: Future<Output = ()> + Send + 'static,
{
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(crate::error::Error::internal)?;
    let work = maintain(stopped);
    let thread = std::thread::Builder::new()
        .name("auth-lease".into())
        .spawn(move || runtime.block_on(work))
        .map_err(crate::error::Error::internal)?;
    Ok(Holder { stop, thread })
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

/// Waits out what is left of [`LEASE`] when the leases cannot be read: the
/// write has committed, and every lease runs out by then.
async fn wait_out(began: Instant, e: &(dyn std::fmt::Display + Sync)) {
    tracing::warn!(error = %e, "cannot read the auth cache leases; waiting for them to run out");
    tokio::time::sleep(LEASE.saturating_sub(began.elapsed())).await;
}
