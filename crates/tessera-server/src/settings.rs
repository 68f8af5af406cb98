//! Everything the server and the admin commands are configured with, as plain
//! data. Read and resolved once at the binary's edge (`cli::settings`: flags >
//! `TESSERAD_*` environment > TOML file > defaults); nothing reads the
//! environment later.

use crate::master_key::MasterKey;
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
}

impl Settings {
    /// The access-token lifetime in seconds, as the keyring and tokens count it.
    pub fn access_token_ttl_secs(&self) -> i64 {
        i64::try_from(self.access_token_ttl.as_secs()).unwrap_or(i64::MAX / 2)
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

/// One or more `redis://` URLs (comma-separated: a cluster's seed nodes). A URL may carry a password, so `Debug` hides everything and `Display`
/// masks the password; [`RedisUrl::expose_secret`] is the only way to the value.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(Vec<String>);

impl RedisUrl {
    pub fn parse(s: &str) -> Result<Self, String> {
        let urls: Vec<String> = s
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect();
        if urls.is_empty() {
            return Err("the Redis URL is empty: use redis://HOST:PORT".into());
        }
        for (i, u) in urls.iter().enumerate() {
            let parsed = url::Url::parse(u)
                .ok()
                .filter(|p| p.scheme() == "redis" && p.host_str().is_some());
            if parsed.is_none() {
                // Never echo the URL: it may hold the password.
                return Err(format!(
                    "Redis URL number {} is not redis://[:PASSWORD@]HOST:PORT[/DB]",
                    i + 1
                ));
            }
        }
        Ok(Self(urls))
    }

    /// The URLs, password included: only for connecting.
    pub fn expose_secret(&self) -> &[String] {
        &self.0
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisUrl([redacted])")
    }
}

impl std::fmt::Display for RedisUrl {
    /// The nodes without any password, for logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<String> = self
            .0
            .iter()
            .map(|u| match url::Url::parse(u) {
                Ok(mut u) => {
                    if u.password().is_some() {
                        let _ = u.set_password(Some("****"));
                    }
                    u.to_string()
                }
                Err(_) => "redis://(unparseable)".into(),
            })
            .collect();
        f.write_str(&shown.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::RedisUrl;

    #[test]
    fn redis_passwords_never_print() {
        let url = RedisUrl::parse("redis://:hunter2@127.0.0.1:6379/0, redis://u:pw2@10.0.0.2:7000")
            .unwrap();
        assert_eq!(url.expose_secret().len(), 2);
        for shown in [format!("{url}"), format!("{url:?}")] {
            assert!(
                !shown.contains("hunter2") && !shown.contains("pw2"),
                "{shown}"
            );
        }
        assert_eq!(
            url.to_string(),
            "redis://:****@127.0.0.1:6379/0,redis://u:****@10.0.0.2:7000"
        );
        let err = RedisUrl::parse("http://:hunter2@host").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(RedisUrl::parse(" , ").is_err());
    }
}
