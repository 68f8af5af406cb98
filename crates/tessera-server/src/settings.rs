//! Everything the server and the admin commands are configured with, as plain
//! data. Read and resolved once at the binary's edge (`cli::settings`: flags >
//! `TESSERAD_*` environment > TOML file > defaults); nothing reads the
//! environment later.

use crate::forwarded::ClientAddress;
use crate::master_key::MasterKey;
use crate::ratelimit::{Backend, Policy};
use crate::secret::SecretUrl;
use crate::store::DatabaseLocation;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database: DatabaseLocation,
    /// No trailing slash; equals the discovery document's `issuer` exactly.
    pub issuer: String,
    /// The issuer was not configured but derived from `listen`; `serve` re-derives it
    /// from the bound address when `listen` has port 0.
    pub issuer_follows_listen: bool,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// Empty when the deployment uses none.
    pub api_key_prefix: String,
    /// `serve --dev`: throwaway database, demo data, mail printed to the terminal.
    pub dev: bool,
    pub mail_outbox: PathBuf,
    /// SMTP server for outgoing mail; `None`: write to [`Settings::mail_outbox`].
    pub smtp_url: Option<SecretUrl>,
    pub mail_from: String,
    /// Turned off by `serve --no-rate-limit` or `rate_limit_enabled = false`.
    pub rate_limit_enabled: bool,
    /// Default: `postgres` with a PostgreSQL database (several instances share the
    /// counters), else `memory`.
    pub rate_limit_backend: Backend,
    pub rate_limit_policy: Policy,
    /// Seals signing keys' private halves at rest.
    pub master_key: MasterKey,
    /// Switching an app to production in the console needs an admin's approval.
    pub production_requires_approval: bool,
    /// Time limits and the cap of the HTTP connections `serve` accepts.
    pub connections: Connections,
    /// Where a request's client address comes from (behind proxies or not).
    pub client_address: ClientAddress,
}

/// How `serve` treats connections (issue 17 §1): no client may hold one, or a
/// request, for long without doing its part, and no crowd of clients may hold
/// more than `max_connections` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connections {
    /// From a request's first byte until its headers are complete: a client
    /// that sends them slowly (slowloris) is cut off.
    pub header_read_timeout: Duration,
    /// From complete headers until the answer, the body's upload included.
    pub request_timeout: Duration,
    /// A connection with no request in progress (new, or kept alive after an
    /// answer) is closed after this.
    pub idle_timeout: Duration,
    /// Connections served at once; more wait in the kernel's listen queue.
    pub max_connections: u32,
    /// After SIGTERM or SIGINT: how long requests in progress may finish before
    /// the remaining connections are closed.
    pub drain_timeout: Duration,
}

impl Settings {
    /// The access-token lifetime in seconds, as the keyring and tokens count it.
    pub fn access_token_ttl_secs(&self) -> i64 {
        i64::try_from(self.access_token_ttl.as_secs()).unwrap_or(i64::MAX / 2)
    }
}
