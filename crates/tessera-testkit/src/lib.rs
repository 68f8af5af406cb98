//! The one test kit of every Tessera suite: servers, browsers, peers and
//! stubs are started the same way everywhere.
//!
//! - [`Tesserad`]: a real `tesserad serve` on a kernel-picked loopback port
//!   with a fresh database ([`Backend::Sqlite`] in a temp dir, or a new
//!   database on the PostgreSQL server of `TESSERA_TEST_POSTGRES_URL`, dropped
//!   when its last server stops), `tesserad admin --json` against it, and
//!   [`backend_tests!`] to run a test on both backends.
//! - [`Browser`]: a scripted browser (cookie jar, forms with their CSRF
//!   fields, redirects) that signs in with a code from the server's outbox
//!   or a password, consents and approves device logins; it also walks npm
//!   oidc-provider's pages.
//! - [`OidcProvider`]: npm oidc-provider (`tests/interop/oidc-provider`), as
//!   the authorization server a client talks to or as the foreign issuer of
//!   workload identity federation.
//! - [`HttpStub`]: a scripted HTTP server on `127.0.0.1` that records every
//!   request, for tests that check which requests are made at all.
//! - [`Home`]: a temporary `HOME` and working directory, and the binary under
//!   test run there with a clean environment, in the background, or on a
//!   pseudo-terminal ([`Pty`]).
//! - [`secret_service::SecretService`]: a private D-Bus session with
//!   gnome-keyring on it, for the OS keychain.
//!
//! Everything is blocking: async tests call it directly (each server and
//! peer is another process).

mod browser;
mod home;
mod oidc;
pub mod secret_service;
mod stub;
mod tesserad;

pub use browser::{Browser, CookieJar, Landing, Page};
pub use home::{CTRL_C, DOWN, ENTER, Home, Pty, Run, Running};
pub use oidc::{CC_BASIC, ISSUER_SECRET, OidcProvider, issuer_token};
pub use stub::{HttpStub, HttpStubBuilder, StubRequest, StubResponse};
pub use tesserad::{
    Backend, Database, Demo, POSTGRES_ENV, REDIS_ENV, Tesserad, TesseradBuilder, json_stdout,
    master_key, peer_available, postgres_available, redis_available, tesserad_path,
};

/// Status codes and header maps: the `http` crate reqwest and axum use too.
pub use ureq::http;

use std::io::{BufRead as _, BufReader};
use std::process::Child;
use std::sync::mpsc;
use std::time::Duration;

/// A bound, not a timing assertion: it only turns a hang into a failure.
pub const HANG: Duration = Duration::from_secs(60);

/// A loopback URL nothing listens on (the port was free a moment ago).
pub fn closed_port_url() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

/// A loopback URL where something that is not an HTTP server answers (an
/// SSH banner, as a URL with the wrong port meets), for as long as the test
/// runs: each connection gets the banner once its request came, then closes.
pub fn not_http_url() -> String {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.read(&mut [0; 4096]);
            let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
        }
    });
    url
}

/// A loopback port nobody listens on now, for a peer that must be told its
/// port (and for a URL that must refuse connections).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Runs `jobs` on threads of their own, all at once (attacks that race each
/// other); their results in order.
pub fn all_at_once<T: Send>(jobs: impl IntoIterator<Item = impl FnOnce() -> T + Send>) -> Vec<T> {
    std::thread::scope(|scope| {
        let running: Vec<_> = jobs.into_iter().map(|job| scope.spawn(job)).collect();
        running
            .into_iter()
            .map(|thread| thread.join().expect("a job panicked"))
            .collect()
    })
}

/// A query parameter of a URL, percent-decoded.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// A plain HTTP GET of a loopback URL (the browser's part of a redirect to a
/// CLI's listener); the whole response, head and body, as text.
pub fn http_get(url: &str) -> String {
    use std::io::{Read as _, Write as _};
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

/// Reads `child`'s stdout until a line starting with `prefix`; the first
/// word after it (a URL). Lines starting with `also` before it are returned
/// too (the last one's first word). Keeps draining stdout afterwards so the
/// pipe never fills. On a hang or an early exit the child is killed and
/// `None` returned: the caller says what failed and shows its log.
fn wait_for_line(
    child: &mut Child,
    prefix: &'static str,
    also: Option<&'static str>,
) -> Option<(String, Option<String>)> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let first_word = |rest: &str| {
            rest.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        };
        let (mut sent, mut seen_also) = (false, None);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = also.and_then(|also| line.strip_prefix(also)) {
                seen_also = Some(first_word(rest));
            }
            if !sent && let Some(rest) = line.strip_prefix(prefix) {
                let _ = tx.send((first_word(rest), seen_also.take()));
                sent = true;
            }
        }
    });
    let found = rx.recv_timeout(HANG).ok();
    if found.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    found
}

/// `n` random bytes (keys, and names no other run has used).
fn random_bytes(n: usize) -> Vec<u8> {
    use std::io::Read as _;
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .expect("random bytes");
    bytes
}

/// Unique within this process (emails of accounts a test creates).
fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_are_decoded() {
        let url = "http://127.0.0.1:1/cb?code=a%2Bb&state=x+y&e=";
        assert_eq!(query_param(url, "code").as_deref(), Some("a+b"));
        assert_eq!(query_param(url, "state").as_deref(), Some("x y"));
        assert_eq!(query_param(url, "e").as_deref(), Some(""));
        assert_eq!(query_param(url, "nope"), None);
    }

    #[test]
    fn jobs_run_at_once_and_keep_their_order() {
        let barrier = std::sync::Barrier::new(3);
        let barrier = &barrier;
        // Each job waits for the other two: only concurrent jobs finish.
        let results = all_at_once((0..3).map(|i| {
            move || {
                barrier.wait();
                i * 10
            }
        }));
        assert_eq!(results, [0, 10, 20]);
    }
}
