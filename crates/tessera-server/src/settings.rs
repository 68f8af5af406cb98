//! Everything the server and the admin commands are configured with, as plain
//! data. Read and resolved once at the binary's edge (`cli::settings`: flags >
//! `TESSERAD_*` environment > TOML file > defaults); nothing reads the
//! environment later.

use crate::forwarded::ClientAddress;
use crate::master_key::MasterKey;
use crate::ratelimit::redis::RedisUrl;
use crate::ratelimit::{Backend, Policy, Unreachable};
use crate::secret::{Secret, SecretUrl};
use crate::store::DatabaseLocation;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Where the issuer came from, which decides who may change it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssuerSource {
    /// `--issuer` or the config file: used as given.
    Configured,
    /// Derived from a configured `--listen`: `serve` re-derives it from the
    /// bound address (port 0 gets the kernel's port).
    Listen,
    /// Derived from the default listen address: as [`IssuerSource::Listen`]
    /// for `serve`; `admin` uses the issuer `serve` last recorded in the
    /// database instead, so that what it prints (a token URL) names the
    /// running server.
    DefaultListen,
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database: DatabaseLocation,
    /// As configured, a trailing slash included: it is the discovery
    /// document's `issuer` and every token's `iss`, which clients compare
    /// exactly (RFC 8414 §3.3). URLs are built with [`Settings::url`].
    pub issuer: String,
    /// Where `issuer` came from.
    pub issuer_source: IssuerSource,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// Absolute lifetime of a login's refresh tokens, counted from the login
    /// (the token family's creation); rotation never extends it.
    pub refresh_token_max_lifetime: Duration,
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
    /// What a request gets when the counters cannot be reached (Redis or
    /// PostgreSQL down): served unlimited (`allow`, the default) or 503 (`deny`).
    pub rate_limit_unreachable: Unreachable,
    /// The Redis (or Redis Cluster seed nodes) of `rate_limit_backend = "redis"`.
    pub redis_url: Option<RedisUrl>,
    /// `redis_url` names nodes of a Redis Cluster.
    pub redis_cluster: bool,
    /// Seals signing keys' private halves at rest.
    pub master_key: MasterKey,
    /// Switching an app to production in the console needs an admin's approval.
    pub production_requires_approval: bool,
    /// Where DPoP proofs must carry a server nonce.
    pub dpop_nonce: NoncePolicy,
    /// Operations: `/metrics` answers only `Authorization: Bearer <token>`.
    pub metrics_token: Option<Secret>,
    /// Operations: `/metrics` (and the health checks) on this address of their own;
    /// the public listener then answers 404 there.
    pub metrics_listen: Option<SocketAddr>,
    /// Keep a valid `X-Request-Id` that came with the request (a proxy in front
    /// sets it) instead of generating one.
    pub trust_request_id: bool,
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
    /// The absolute URL of `path` (which starts with `/`) on this server.
    pub fn url(&self, path: &str) -> String {
        join(&self.issuer, path)
    }

    /// The access-token lifetime in seconds, as the keyring and tokens count it.
    pub fn access_token_ttl_secs(&self) -> i64 {
        i64::try_from(self.access_token_ttl.as_secs()).unwrap_or(i64::MAX / 2)
    }
}

/// Where the server asks for nonces (`serve --dpop-nonce`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoncePolicy {
    /// Never: `iat` and the `jti` check alone limit replay.
    Off,
    /// At the token endpoint, where proofs obtain new tokens (the default):
    /// a proof made ahead of time cannot be used there. One more round trip
    /// per login and refresh.
    #[default]
    Token,
    /// Also at the platform API: one more round trip per new client process.
    All,
}

impl NoncePolicy {
    pub fn at_token_endpoint(self) -> bool {
        matches!(self, Self::Token | Self::All)
    }

    pub fn at_resources(self) -> bool {
        self == Self::All
    }
}

/// `issuer` and `path`, with one slash between them.
pub fn join(issuer: &str, path: &str) -> String {
    format!("{}{path}", issuer.trim_end_matches('/'))
}
