//! The serve loop: accepts TCP connections up to a cap and serves HTTP/1.1 on
//! each with hyper, under time limits no client can stretch (issue 17 §1).
//!
//! `axum::serve` gives hyper no timer, so a client that sends a header line a
//! second keeps its connection forever. hyper's own `header_read_timeout` counts
//! from the moment a connection is ready for a request, so it cannot tell a
//! slow sender from a kept-alive connection at rest (hyper#3828): one number
//! would have to be both short and generous. So each connection tracks its
//! [`Phase`] itself, as Go's and Envoy's servers do:
//!
//! - **new** (nothing received yet): closed unless a request starts within
//!   `header_read_timeout`, as a request's headers must complete: a crowd of
//!   connections that never speak holds the slots for that long, not for
//!   `idle_timeout` (Go's `ReadHeaderTimeout` also counts from the accept);
//! - **idle** (after an answer): closed after `idle_timeout`;
//! - **headers** (from a request's first byte): closed unless the headers are
//!   complete within `header_read_timeout` (slowloris);
//! - **busy** (headers complete, being handled): the router's request timeout
//!   (`http::middleware::deadline`) bounds it, the body's upload included.
//!
//! The deadlines are checked lazily: one timer per connection, re-armed when it
//! fires, never per request (a watch channel and a fresh timer on every phase
//! change cost a quarter of `/healthz`'s throughput). The phase is a shared
//! cell the socket and the service update as they go; the timer looks at it at
//! least every `header_read_timeout`, so a request's headers, which start after
//! one look, are judged at the next one or at their own deadline, whichever is
//! later — exactly on time.
//!
//! At most `max_connections` are served at once. When they are all taken and
//! another client connects, one connection closes for it (as nginx reuses
//! kept-alive connections when it runs out): one at rest between requests at
//! once, or else the first to finish its request, after its answer
//! (`Connection: close`); the call stands again each second until a slot
//! frees (the one that answered may be writing to a slow reader). A crowd
//! that asks once a minute on each of its connections cannot keep a slot from
//! a newcomer, and a proxy's pool of kept-alive connections loses one per
//! newcomer, not all. Otherwise the newcomer waits until one closes, at most
//! `header_read_timeout` for a connection that never spoke or sends its
//! headers slowly, never a refusal. On the shutdown signal the listener
//! closes, idle connections close, requests in progress finish (their
//! connections then close), and whatever is still open after `drain_timeout`
//! is closed.
//!
//! Only HTTP/1.1 is served, as before: tesserad runs behind a TLS-terminating
//! proxy or on loopback, and HTTP/2 would bring its own limits to get right.

use crate::settings::Connections;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt as _;

/// The request line and headers together, at most: room for long authorization
/// URLs and large cookies and tokens, yet 900 connections hold under 30 MiB.
pub const MAX_HEAD_BYTES: usize = 32 * 1024;

/// Where a connection is; its deadline follows from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Accepted then; nothing received yet.
    New(Instant),
    /// The last answer was handed to hyper then (it may still be writing it).
    Idle(Instant),
    /// A request's first bytes arrived then; its headers are not complete.
    Headers(Instant),
    /// The router has the request.
    Busy,
}

/// The server's life as each connection sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Serving,
    /// Finish what is in progress, take nothing new.
    Draining,
    /// The drain timeout passed: close now.
    Closing,
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains. Each
/// request carries `ConnectInfo<SocketAddr>` (the TCP peer) like axum's own
/// `serve` with connect info.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Connections,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections as usize));
    let (stage_tx, stage) = watch::channel(Stage::Serving);
    let crowd = Arc::new(Crowd::default());
    let (crowded_tx, crowded) = watch::channel(0u64);
    let mut http = hyper::server::conn::http1::Builder::new();
    // The deadlines are ours (see `Phase`); hyper's would also count idle time.
    http.header_read_timeout(None)
        // hyper's default lets every connection buffer ~400 KiB of headers;
        // a larger head is answered 431.
        .max_header_size(MAX_HEAD_BYTES);
    let http = Arc::new(http);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let waited = permits.clone().acquire_owned();
                let mut waited = std::pin::pin!(waited);
                let permit = loop {
                    // Asked again each second: the connection that claimed
                    // the last call may still be writing to a slow reader.
                    crowd.waiting.store(true, Ordering::Release);
                    crowded_tx.send_modify(|times| *times = times.wrapping_add(1));
                    tokio::select! {
                        biased;
                        () = &mut shutdown => break None,
                        permit = &mut waited => {
                            break Some(permit.expect("the connection semaphore is never closed"));
                        }
                        () = tokio::time::sleep(CROWD_CALL_AGAIN) => {}
                    }
                };
                let Some(permit) = permit else { break };
                // A connection that ended by itself made the room: none
                // need close for this client any more.
                crowd.waiting.store(false, Ordering::Release);
                permit
            }
        };
        let connection = Connection {
            app: app.clone(),
            peer,
            limits,
            stage: stage.clone(),
            crowded: crowded.clone(),
            crowd: crowd.clone(),
            _permit: permit,
        };
        tokio::spawn(connection.run(http.clone(), stream));
    }
    drop(listener);
    let _ = stage_tx.send(Stage::Draining);
    let all = limits.max_connections;
    if tokio::time::timeout(limits.drain_timeout, permits.acquire_many(all))
        .await
        .is_err()
    {
        let open = all as usize - permits.available_permits();
        tracing::warn!(
            open,
            "closing the connections still open after the drain timeout"
        );
        let _ = stage_tx.send(Stage::Closing);
        let _ = permits.acquire_many(all).await;
    }
}

/// A failed `accept`: the peer's own trouble (it reset before we got to it) is
/// nothing to wait for; running out of file descriptors or memory is, briefly,
/// so the loop does not spin.
async fn accept_failed(e: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %e, "accepting a connection failed; retrying shortly");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// How long a waiting client's call for a slot stands before it is made again.
const CROWD_CALL_AGAIN: Duration = Duration::from_secs(1);

/// Whether a client waits for a slot that no connection has yet agreed to
/// give up. The first connection that can close for it claims it.
#[derive(Default)]
struct Crowd {
    waiting: AtomicBool,
}

impl Crowd {
    /// Takes the waiting client's claim; true for one caller per wait.
    fn claim(&self) -> bool {
        self.waiting.load(Ordering::Acquire)
            && self
                .waiting
                .compare_exchange(true, false, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }
}

struct Connection {
    app: Router,
    peer: SocketAddr,
    limits: Connections,
    stage: watch::Receiver<Stage>,
    /// Changes when a client starts waiting for a slot: a connection at rest
    /// may close for it.
    crowded: watch::Receiver<u64>,
    crowd: Arc<Crowd>,
    /// Returned to the cap when the connection ends.
    _permit: OwnedSemaphorePermit,
}

/// The [`Phase`] of one connection, written by its socket and its service and
/// read by its timer: all polled by the connection's one task, so the lock is
/// never contended.
#[derive(Clone)]
struct SharedPhase(Arc<Mutex<Phase>>);

impl SharedPhase {
    fn get(&self) -> Phase {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, phase: Phase) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = phase;
    }

    /// A request's first bytes: an idle connection starts reading headers.
    fn bytes_arrived(&self) {
        let mut phase = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(*phase, Phase::New(_) | Phase::Idle(_)) {
            *phase = Phase::Headers(Instant::now());
        }
    }
}

impl Connection {
    /// When the connection must close in `phase`, and why; `None` while busy.
    fn deadline(&self, phase: Phase) -> Option<(Instant, &'static str)> {
        match phase {
            Phase::New(since) => Some((since + self.limits.header_read_timeout, "new")),
            Phase::Idle(since) => Some((since + self.limits.idle_timeout, "idle")),
            Phase::Headers(since) => Some((since + self.limits.header_read_timeout, "headers")),
            Phase::Busy => None,
        }
    }

    async fn run(mut self, http: Arc<hyper::server::conn::http1::Builder>, stream: TcpStream) {
        let accepted = Instant::now();
        let phase = SharedPhase(Arc::new(Mutex::new(Phase::New(accepted))));
        let io = TokioIo::new(Watched {
            stream,
            phase: phase.clone(),
        });
        let (app, peer, service_phase) = (self.app.clone(), self.peer, phase.clone());
        let crowd = self.crowd.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let (app, phase, crowd) = (app.clone(), service_phase.clone(), crowd.clone());
            async move {
                phase.set(Phase::Busy);
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                let mut response = app.oneshot(request).await;
                if let Ok(response) = &mut response
                    && crowd.claim()
                {
                    // hyper closes the connection once this answer is written.
                    response.headers_mut().insert(
                        hyper::header::CONNECTION,
                        hyper::header::HeaderValue::from_static("close"),
                    );
                    closing_for_a_newcomer(peer);
                }
                phase.set(Phase::Idle(Instant::now()));
                response
            }
        });
        let conn = http.serve_connection(io, service);
        let mut conn = std::pin::pin!(conn);
        // Never later than a header read's deadline from now (see the module doc).
        let look_again = self.limits.header_read_timeout;
        let first = accepted + look_again;
        let mut timer = std::pin::pin!(tokio::time::sleep_until(first));
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    return;
                }
                () = timer.as_mut() => {
                    let now = Instant::now();
                    match self.deadline(phase.get()) {
                        Some((at, reason)) if at <= now => {
                            tracing::debug!(%peer, reason, "closing a connection past its deadline");
                            metrics::counter!(crate::metrics::CONNECTION_TIMEOUTS, "phase" => reason)
                                .increment(1);
                            return;
                        }
                        Some((at, _)) => timer.as_mut().reset(at.min(now + look_again)),
                        None => timer.as_mut().reset(now + look_again),
                    }
                }
                Ok(()) = self.crowded.changed() => {
                    if matches!(phase.get(), Phase::Idle(_)) && self.crowd.claim() {
                        closing_for_a_newcomer(peer);
                        // hyper finishes writing the last answer, then closes.
                        conn.as_mut().graceful_shutdown();
                    }
                }
                Ok(()) = self.stage.changed() => {
                    match (*self.stage.borrow_and_update(), phase.get()) {
                        (Stage::Closing, _) | (Stage::Draining, Phase::New(_)) => return,
                        // hyper finishes the request in progress and writing its
                        // answer, then closes.
                        (Stage::Draining, _) => conn.as_mut().graceful_shutdown(),
                        (Stage::Serving, _) => {}
                    }
                }
            }
        }
    }
}

fn closing_for_a_newcomer(peer: SocketAddr) {
    tracing::debug!(%peer, "closing a kept-alive connection for a waiting client");
    metrics::counter!(crate::metrics::CONNECTION_TIMEOUTS, "phase" => "crowded").increment(1);
}

/// The socket, noting when an idle connection receives a request's first bytes.
struct Watched {
    stream: TcpStream,
    phase: SharedPhase,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.phase.bytes_arrived();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
