//! `tesserad serve`: open the database, load keys, bind, serve until SIGTERM/SIGINT.

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::keys::{self, Keyring};
use crate::ratelimit::RateLimits;
use crate::services::{AppState, Services};
use crate::settings::{IssuerSource, Settings};
use crate::store::{DatabaseLocation, Store};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How often each instance re-reads the signing keys (rotations elsewhere reach
/// its JWKS and its signer within this), prunes, and renders metrics upkeep.
const KEY_RELOAD_INTERVAL: Duration = crate::keys::RELOAD_INTERVAL;

/// Name prefix of the temporary directory holding a `serve --dev` database.
pub const DEV_DIR_PREFIX: &str = "tesserad-dev-";

/// Opens the database (migrating it), makes sure a signing key exists, loads the
/// keyring: everything a request needs. `metrics` is the installed recorder's
/// handle, if any.
pub async fn build_state(
    settings: Settings,
    clock: Arc<dyn Clock>,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
) -> Result<AppState> {
    let store = Store::open(&settings.database).await?;
    keys::ensure_current_key(&store, &settings.master_key, clock.now()).await?;
    let keyring = Keyring::load(
        &store,
        settings.master_key.clone(),
        settings.access_token_ttl_secs(),
        clock.now(),
    )
    .await?;
    let rate_limits = if settings.rate_limit_enabled {
        Some(
            RateLimits::connect(
                settings.rate_limit_policy.clone(),
                settings.rate_limit_backend,
                settings.rate_limit_unreachable,
                settings.redis_url.as_ref(),
                settings.redis_cluster,
                &store,
            )
            .await?,
        )
    } else {
        None
    };
    let mailer = crate::mail::Mailer::from_settings(&settings)?;
    let issuers = crate::federation::jwks::IssuerKeys::new(crate::federation::jwks::FetchConfig {
        members_reach_loopback: crate::federation::jwks::is_loopback_url(&settings.issuer),
        ..Default::default()
    })
    .map_err(Error::internal)?;
    Ok(AppState::new(Services {
        issuers,
        mailer,
        settings,
        store,
        keyring,
        clock,
        metrics,
        request_series: Default::default(),
        rate_limits,
        passwords: crate::password::Checker::start()?,
        background: Default::default(),
        outgoing_mail: Default::default(),
    }))
}

/// Binds `settings.listen` and serves until a shutdown signal. With port 0 the
/// kernel picks a port; unless `--issuer` was given, the issuer follows it.
/// `before_listening` runs once the state is built, before the first request
/// (`serve --dev` seeds and prints its demo data there).
pub async fn serve(
    settings: Settings,
    clock: Arc<dyn Clock>,
    before_listening: impl AsyncFnOnce(&AppState) -> Result<()>,
) -> Result<()> {
    // `serve --dev` made a temporary directory for its database (and master
    // key): it goes with the server, also when the server fails to start.
    let dev_database = settings.dev.then(|| settings.database.clone());
    let served = serve_until_stopped(settings, clock, before_listening).await;
    if let Some(database) = dev_database {
        remove_dev_database(&database);
    }
    served
}

async fn serve_until_stopped(
    mut settings: Settings,
    clock: Arc<dyn Clock>,
    before_listening: impl AsyncFnOnce(&AppState) -> Result<()>,
) -> Result<()> {
    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", settings.listen)))?;
    let local = listener.local_addr().map_err(Error::internal)?;
    if settings.issuer_source != IssuerSource::Configured {
        settings.issuer = format!("http://{local}");
        if local.ip().is_unspecified() {
            // Every token would name an issuer no client can reach or check.
            tracing::warn!(
                issuer = %settings.issuer,
                "listening on every address without --issuer: the issuer is no URL a \
                 client can use; set --issuer to the URL clients reach this server at"
            );
        }
    }
    settings.listen = local;
    let metrics = match crate::metrics::install() {
        Ok(handle) => Some(handle),
        Err(e) => {
            tracing::warn!(error = %e, "metrics recorder not installed");
            None
        }
    };
    let state = build_state(settings, clock, metrics).await?;
    let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    let metrics_server = match state.settings.metrics_listen {
        Some(addr) => Some(serve_metrics(addr, state.clone(), metrics_stopped).await?),
        None => None,
    };
    // Once every listener is bound: `admin` names this server from then on,
    // and one that failed to start never was it.
    state.store.record_issuer(&state.settings.issuer).await?;
    let _sole = warn_unless_sole_server(&state);
    tracing::info!(
        listen = %local,
        issuer = %state.settings.issuer,
        database = %state.settings.database,
        rate_limits = state.rate_limits.as_ref().map_or("off", |r| r.backend.as_str()),
        redis = state.settings.redis_url.as_ref().map(tracing::field::display),
        "tesserad ready"
    );
    before_listening(&state).await?;
    // A line for scripts and tests to wait for (and to learn a kernel-picked port).
    println!("tesserad listening on http://{local}");

    let lease = state.store.hold_auth_lease(&state.settings.database)?;
    let background = tokio::spawn(background_tasks(state.clone()));
    let app = crate::http::router(state.clone());
    // The drain timeout counts from the signal, for the connections and the
    // background jobs (mail on its way) alike.
    let (signalled_tx, signalled) = tokio::sync::oneshot::channel();
    let shutdown = async {
        shutdown_signal().await;
        let _ = signalled_tx.send(tokio::time::Instant::now());
    };
    crate::connections::serve(listener, app, state.settings.connections, shutdown).await;
    background.abort();
    let drain_until = signalled
        .await
        .unwrap_or_else(|_| tokio::time::Instant::now())
        + state.settings.connections.drain_timeout;
    tokio::join!(
        state.background.finish(drain_until),
        state.outgoing_mail.finish(drain_until)
    );
    // The metrics listener answers until the main one has drained (a probe may
    // watch the shutdown), then drains itself.
    let _ = stop_metrics.send(());
    if let Some(task) = metrics_server
        && let Err(e) = task.await
    {
        tracing::error!(error = %e, "the metrics listener failed");
    }
    if let Some(lease) = lease {
        lease.release().await;
    }
    state.store.close().await;
    tracing::info!("tesserad stopped");
    Ok(())
}

/// Binds `--metrics-listen` and serves metrics and health checks there, with the
/// same serve loop and connection limits as the main listener, until `stop`.
async fn serve_metrics(
    addr: std::net::SocketAddr,
    state: AppState,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {addr} (metrics_listen): {e}")))?;
    let local = listener.local_addr().map_err(Error::internal)?;
    println!("tesserad metrics on http://{local}");
    let limits = state.settings.connections;
    let app = crate::http::metrics_router(state);
    Ok(tokio::spawn(async move {
        let stop = async {
            let _ = stop.await;
        };
        crate::connections::serve(listener, app, limits, stop).await;
    }))
}

/// `serve --dev` made a temporary directory for its database; it goes with the server.
fn remove_dev_database(database: &crate::store::DatabaseLocation) {
    if let crate::store::DatabaseLocation::Sqlite(path) = database
        && let Some(dir) = path.parent()
        && dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(DEV_DIR_PREFIX))
        && let Err(e) = std::fs::remove_dir_all(dir)
    {
        tracing::warn!(error = %e, dir = %dir.display(), "could not remove the dev database");
    }
}

async fn background_tasks(state: AppState) {
    let mut tick = tokio::time::interval(KEY_RELOAD_INTERVAL);
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = state.now();
        if let Err(e) = state.keyring.reload(&state.store, now).await {
            tracing::warn!(error = %e, "reloading signing keys failed");
        }
        if let Err(e) = state.store.prune_revoked_access_tokens(now).await {
            tracing::warn!(error = %e, "pruning revoked access tokens failed");
        }
        let family_lifetime = state.settings.refresh_token_max_lifetime.as_secs();
        let family_lifetime = i64::try_from(family_lifetime).unwrap_or(i64::MAX / 2);
        if let Err(e) = state
            .store
            .prune_expired_oauth_state(now, family_lifetime)
            .await
        {
            tracing::warn!(error = %e, "pruning expired OAuth state failed");
        }
        if let Err(e) = state.store.prune_subject_token_uses(now).await {
            tracing::warn!(error = %e, "pruning used subject tokens failed");
        }
        if let Some(limits) = &state.rate_limits
            && let Err(e) = limits.limiter.prune(now).await
        {
            tracing::warn!(error = %e, "pruning rate-limit counters failed");
        }
        if let Some(handle) = &state.metrics {
            handle.run_upkeep();
        }
    }
}

/// Exit status when a second signal cuts the drain short (128 + SIGINT, as a
/// shell reports a program stopped by Ctrl-C).
pub const FORCED_EXIT: i32 = 130;

/// Resolves at the first SIGTERM or SIGINT. A second one during the drain
/// stops the process at once: an operator pressing Ctrl-C again is not made
/// to wait out the drain timeout (a slow request, a hanging mail relay).
async fn shutdown_signal() {
    let mut signals = Signals::listen();
    signals.next().await;
    tracing::info!("shutdown signal received; finishing requests in progress");
    tokio::spawn(async move {
        signals.next().await;
        tracing::warn!("second shutdown signal: stopping now, without finishing");
        std::process::exit(FORCED_EXIT);
    });
}

/// SIGINT and SIGTERM, listened for from creation on: a second signal sent
/// right after the first was seen (a quick second Ctrl-C) is not lost before
/// anyone waits for it again.
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    #[cfg(unix)]
    async fn next(&mut self) {
        async fn one(signal: &mut Option<tokio::signal::unix::Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = one(&mut self.interrupt) => {},
            () = one(&mut self.terminate) => {},
        }
    }

    #[cfg(not(unix))]
    async fn next(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Several `serve` processes on one SQLite file work (revocation reaches each
/// through the database), but counters kept in memory are each process's own:
/// together they admit every limit once per process. A lock beside the
/// database file, held while serving, tells the second one to say so.
fn warn_unless_sole_server(state: &AppState) -> Option<std::fs::File> {
    let (DatabaseLocation::Sqlite(path), Some(limits)) =
        (&state.settings.database, &state.rate_limits)
    else {
        return None;
    };
    if limits.backend != crate::ratelimit::Backend::Memory {
        return None;
    }
    let mut lock_path = path.clone().into_os_string();
    lock_path.push("-serve.lock");
    let file = std::fs::File::create(&lock_path).ok()?;
    match file.try_lock() {
        Ok(()) => Some(file),
        Err(_) => {
            tracing::warn!(
                database = %path.display(),
                "another tesserad serves this database: each counts rate limits in its own \
                 memory, so together they admit each limit once per process; share the \
                 counters with --rate-limit-backend redis, or a PostgreSQL database"
            );
            None
        }
    }
}
