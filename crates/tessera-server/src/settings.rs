//! Everything the server and the admin commands are configured with, as plain
//! data. Read and resolved once at the binary's edge (`cli::settings`: flags >
//! `TESSERAD_*` environment > TOML file > defaults); nothing reads the
//! environment later.

use crate::master_key::MasterKey;
use crate::ratelimit::redis::RedisUrl;
use crate::ratelimit::{Backend, Policy, Unreachable};
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
    /// Absolute lifetime of a login's refresh tokens, counted from the login
    /// (the token family's creation); rotation never extends it.
    pub refresh_token_max_lifetime: Duration,
    /// Empty when the deployment uses none.
    pub api_key_prefix: String,
    /// `serve --dev`: throwaway database, demo data, mail printed to the terminal.
    pub dev: bool,
    pub mail_outbox: PathBuf,
    /// SMTP server for outgoing mail; `None`: write to [`Settings::mail_outbox`].
    pub smtp_url: Option<SmtpUrl>,
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
    pub metrics_token: Option<MetricsToken>,
    /// Operations: `/metrics` (and the health checks) on this address of their own;
    /// the public listener then answers 404 there.
    pub metrics_listen: Option<SocketAddr>,
    /// Keep a valid `X-Request-Id` that came with the request (a proxy in front
    /// sets it) instead of generating one.
    pub trust_request_id: bool,
}

impl Settings {
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

/// The bearer token `/metrics` requires; `Debug` hides it.
#[derive(Clone)]
pub struct MetricsToken(pub String);

impl MetricsToken {
    /// Whether `presented` is the token, in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq as _;
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken([redacted])")
    }
}

/// An SMTP URL; it may carry a password, so `Debug` hides it.
#[derive(Clone)]
pub struct SmtpUrl(pub String);

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmtpUrl([redacted])")
    }
}
