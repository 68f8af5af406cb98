//! Reading the configuration: command-line flags > environment (`TESSERAD_*`) >
//! TOML config file > defaults, resolved once into the plain `Settings` that
//! everything else is handed.

use crate::clock::parse_duration;
use crate::error::{Error, Result};
use crate::forwarded::{ClientAddress, DEFAULT_TRUSTED_PROXIES, TrustedProxies};
use crate::master_key::MasterKey;
use crate::ratelimit::redis::RedisUrl;
use crate::ratelimit::{Backend, EndpointLimit, Policy, Unreachable};
use crate::secret::{Secret, SecretUrl};
use crate::settings::{Connections, IssuerSource, NoncePolicy, Settings};
use crate::store::DatabaseLocation;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(3600);
const DEFAULT_REFRESH_TOKEN_TTL: Duration = Duration::from_secs(30 * 86400);
const DEFAULT_REFRESH_TOKEN_MAX_LIFETIME: Duration = Duration::from_secs(90 * 86400);
/// The longest token lifetime a setting may give (ten years).
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(3650 * 86400);
/// Headers of a real request arrive in milliseconds, even over a bad mobile link.
const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The issue's bound on the header-read timeout: a setting cannot reopen slowloris.
const MAX_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Every endpoint answers in milliseconds; 30 s leaves room for a slow database
/// and a slow upload of a 64 KiB body.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longer than the 60 s idle timeout of common load balancers, so a balancer
/// closes its pooled connections before tesserad does and never reuses one that
/// is being closed.
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);
/// Below the usual open-file limit of 1024, leaving room for the database pool
/// and log files.
const DEFAULT_MAX_CONNECTIONS: u32 = 900;
/// Requests are bounded by the request timeout; this bounds a client that does
/// not read its answer.
const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Flags shared by `serve`, `admin` and `migrate` (admin needs the issuer and key
/// prefix too: it signs API keys and prints token URLs).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct SettingsArgs {
    /// TOML file with any of the settings below (snake_case keys).
    #[arg(long, env = "TESSERAD_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// `postgres://…` for PostgreSQL, `sqlite://PATH` or a file path for SQLite.
    /// Default: a SQLite file in the user's data directory. A URL with a
    /// password belongs in the environment variable or the config file: a flag
    /// shows in `ps`.
    #[arg(long, env = "TESSERAD_DATABASE_URL", global = true, value_name = "URL")]
    #[arg(value_parser = SecretUrl::from_arg)]
    pub database: Option<SecretUrl>,
    /// Address to listen on (also the default issuer's host).
    #[arg(long, env = "TESSERAD_LISTEN", global = true, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Issuer URL, as in tokens and discovery. Default: `http://` + listen address.
    #[arg(long, env = "TESSERAD_ISSUER", global = true, value_name = "URL")]
    pub issuer: Option<String>,
    /// Lifetime of access tokens, e.g. `30s`, `10m`, `1h` (default), `30d`.
    #[arg(long, env = "TESSERAD_ACCESS_TOKEN_TTL", global = true, value_parser = parse_duration)]
    pub access_token_ttl: Option<Duration>,
    /// Lifetime of refresh tokens (default `30d`).
    #[arg(long, env = "TESSERAD_REFRESH_TOKEN_TTL", global = true, value_parser = parse_duration)]
    pub refresh_token_ttl: Option<Duration>,
    /// Absolute lifetime of a login's refresh tokens, from the sign-in; rotation
    /// never extends it (default `90d`).
    #[arg(long, env = "TESSERAD_REFRESH_TOKEN_MAX_LIFETIME", global = true)]
    #[arg(value_parser = parse_duration, value_name = "DURATION")]
    pub refresh_token_max_lifetime: Option<Duration>,
    /// Fixed text in front of every new API key (e.g. `lk_`), for secret scanners.
    #[arg(long, env = "TESSERAD_API_KEY_PREFIX", global = true)]
    #[arg(value_name = "PREFIX")]
    pub api_key_prefix: Option<String>,
    /// Directory for outgoing mail when no SMTP server is configured
    /// (default: `outbox/` beside the SQLite database file; with PostgreSQL,
    /// in the user's data directory).
    #[arg(long, env = "TESSERAD_MAIL_OUTBOX", global = true, value_name = "DIR")]
    pub mail_outbox: Option<PathBuf>,
    /// Send mail over SMTP: `smtps://user:pass@host` (TLS), `smtp://host:587?tls=required`
    /// (STARTTLS) or `smtp://host:25` (plain, local relays only). Unset: the outbox.
    /// With a password, prefer the environment variable or the config file: a
    /// flag shows in `ps`.
    #[arg(long, env = "TESSERAD_SMTP_URL", global = true, value_name = "URL")]
    #[arg(value_parser = SecretUrl::from_arg)]
    pub smtp_url: Option<SecretUrl>,
    /// `From:` of outgoing mail (default `Tessera <no-reply@localhost>`).
    #[arg(long, env = "TESSERAD_MAIL_FROM", global = true)]
    #[arg(value_name = "MAILBOX")]
    pub mail_from: Option<String>,
    /// Apps switched to production mode in the developer portal wait for an admin
    /// (`tesserad admin app approve CLIENT_ID`), the seeds' "security review".
    #[arg(long, env = "TESSERAD_PRODUCTION_REQUIRES_APPROVAL", global = true)]
    #[arg(num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub production_requires_approval: Option<bool>,
    /// Where DPoP proofs must carry a server nonce (RFC 9449 §8): `off`, `token`
    /// (the token endpoint; default) or `all` (also the platform API).
    #[arg(
        long,
        env = "TESSERAD_DPOP_NONCE",
        global = true,
        value_enum,
        value_name = "WHERE"
    )]
    pub dpop_nonce: Option<NoncePolicy>,
    /// Require `Authorization: Bearer TOKEN` on /metrics. Prefer the environment
    /// variable or the config file: a flag shows in `ps`.
    #[arg(
        long,
        env = "TESSERAD_METRICS_TOKEN",
        global = true,
        value_name = "TOKEN"
    )]
    #[arg(value_parser = Secret::from_arg)]
    pub metrics_token: Option<Secret>,
    /// Serve /metrics, /healthz and /readyz on this address of their own (e.g.
    /// 127.0.0.1:9090); the main listener then answers 404 at /metrics.
    #[arg(
        long,
        env = "TESSERAD_METRICS_LISTEN",
        global = true,
        value_name = "ADDR"
    )]
    pub metrics_listen: Option<SocketAddr>,
    /// Behind a proxy that sets `X-Request-Id`: keep its id (when valid) instead of
    /// generating one. Off by default: clients must not choose the ids in the logs.
    #[arg(long, env = "TESSERAD_TRUST_REQUEST_ID", global = true)]
    #[arg(num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub trust_request_id: Option<bool>,
}

/// `serve`'s connection limits (see [`Connections`]).
#[derive(Clone, Copy, Debug, Default, clap::Args)]
pub struct ConnectionArgs {
    /// Time a request has, from its first byte, to send all its headers, and a
    /// new connection to start its first request; slower clients are
    /// disconnected (default `10s`, at most `30s`).
    #[arg(long, env = "TESSERAD_HEADER_READ_TIMEOUT", value_parser = parse_duration)]
    #[arg(value_name = "DURATION")]
    pub header_read_timeout: Option<Duration>,
    /// Time to answer a request once its headers are in, reading its body
    /// included; past it the answer is 503, or 408 while the body is still
    /// arriving (default `30s`).
    #[arg(long, env = "TESSERAD_REQUEST_TIMEOUT", value_parser = parse_duration)]
    #[arg(value_name = "DURATION")]
    pub request_timeout: Option<Duration>,
    /// A connection kept alive after an answer, with no request in progress, is
    /// closed after this (default `75s`).
    #[arg(long, env = "TESSERAD_IDLE_TIMEOUT", value_parser = parse_duration)]
    #[arg(value_name = "DURATION")]
    pub idle_timeout: Option<Duration>,
    /// Connections served at once; more wait until one closes (default 900).
    /// Keep it below the open-file limit (`ulimit -n`).
    #[arg(long, env = "TESSERAD_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<u32>,
    /// On SIGTERM or SIGINT, stop accepting and let requests in progress finish
    /// for at most this long (default `30s`).
    #[arg(long, env = "TESSERAD_DRAIN_TIMEOUT", value_parser = parse_duration)]
    #[arg(value_name = "DURATION")]
    pub drain_timeout: Option<Duration>,
}

/// The TOML config file. Flags and environment variables win over it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub database_url: Option<SecretUrl>,
    pub issuer: Option<String>,
    pub access_token_ttl: Option<String>,
    pub refresh_token_ttl: Option<String>,
    pub refresh_token_max_lifetime: Option<String>,
    pub api_key_prefix: Option<String>,
    pub mail_outbox: Option<PathBuf>,
    pub smtp_url: Option<SecretUrl>,
    pub mail_from: Option<String>,
    pub rate_limit_enabled: Option<bool>,
    /// `memory`, `postgres` or `redis` (see [`Backend`]).
    pub rate_limit_backend: Option<Backend>,
    /// `allow` or `deny` (see [`Unreachable`]).
    pub rate_limit_unreachable: Option<Unreachable>,
    /// For `rate_limit_backend = "redis"`; may carry a password.
    pub redis_url: Option<SecretUrl>,
    pub redis_cluster: Option<bool>,
    /// Requests per minute of a development-mode app (and of a bare API key).
    pub rate_limit_development: Option<u32>,
    /// Requests per minute of a production-mode app.
    pub rate_limit_production: Option<u32>,
    /// Requests per minute per client IP to each unauthenticated endpoint.
    pub rate_limit_per_ip: Option<u32>,
    /// Lower limits by path prefix, requests per minute: replaces the default
    /// table (`"/v1/auth/otp" = 20`).
    pub rate_limit_endpoints: Option<std::collections::BTreeMap<String, u32>>,
    /// Behind reverse proxies: every per-address limit (and the audit trail)
    /// takes the client's address from `X-Forwarded-For` (see `forwarded`).
    pub rate_limit_trust_forwarded_for: Option<bool>,
    /// The proxies' networks (addresses or CIDRs); default: loopback and
    /// private networks. Only with `rate_limit_trust_forwarded_for = true`.
    pub trusted_proxies: Option<Vec<String>>,
    pub production_requires_approval: Option<bool>,
    /// `off`, `token` or `all` (see [`NoncePolicy`]).
    pub dpop_nonce: Option<NoncePolicy>,
    /// Prefer `TESSERAD_MASTER_KEY` in the environment; a config file is easier to leak.
    pub master_key: Option<Secret>,
    /// Prefer `TESSERAD_METRICS_TOKEN` in the environment, as for the master key.
    pub metrics_token: Option<Secret>,
    pub metrics_listen: Option<SocketAddr>,
    pub trust_request_id: Option<bool>,
    pub header_read_timeout: Option<String>,
    pub request_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub max_connections: Option<u32>,
    pub drain_timeout: Option<String>,
}

impl FileConfig {
    /// Reads the file, and warns when it holds secrets that other users of the
    /// host can read (not refused: a container's mounted config is often 0644,
    /// and the fix may be to move the secrets out, not to change the mode).
    pub fn load(path: &Path) -> Result<Self> {
        let text = read_config(path)?;
        if let Some(mode) = crate::files::open_to_others(path, 0o002) {
            return Err(Error::Config(format!(
                "config {path} can be changed by every user of this host (mode {mode:04o}), who \
                 would choose the database, the issuer and the trusted proxies: `chmod o-w {path}` \
                 (on a mount that shows every file as 0777, such as WSL's /mnt/c, vboxsf or \
                 CIFS, copy it to a Linux file system first)",
                path = path.display()
            )));
        }
        let file = Self::parse(path, &text)?;
        let warnings = [
            file.exposed_secrets(path),
            writable_by_others(path),
            owned_by_another_user(path),
        ];
        for warning in warnings.into_iter().flatten() {
            tracing::warn!("{warning}");
        }
        Ok(file)
    }

    /// The warning for secrets in a file that group or others may read.
    fn exposed_secrets(&self, path: &Path) -> Option<String> {
        let mode = crate::files::open_to_others(path, 0o044)?;
        let url = |url: &Option<SecretUrl>| url.as_ref().is_some_and(SecretUrl::holds_password);
        let (names, envs): (Vec<&str>, Vec<&str>) = [
            (
                self.master_key.is_some(),
                "master_key",
                "TESSERAD_MASTER_KEY",
            ),
            (
                self.metrics_token.is_some(),
                "metrics_token",
                "TESSERAD_METRICS_TOKEN",
            ),
            (
                url(&self.database_url),
                "database_url",
                "TESSERAD_DATABASE_URL",
            ),
            (url(&self.smtp_url), "smtp_url", "TESSERAD_SMTP_URL"),
            (url(&self.redis_url), "redis_url", "TESSERAD_REDIS_URL"),
        ]
        .into_iter()
        .filter_map(|(set, name, env)| set.then_some((name, env)))
        .unzip();
        if names.is_empty() {
            return None;
        }
        Some(format!(
            "config {path} holds secrets ({names}) and other users of this host can read it \
             (mode {mode:04o}): `chmod 600 {path}`, or set them in the environment instead \
             ({envs})",
            path = path.display(),
            names = names.join(", "),
            envs = envs.join(", "),
        ))
    }

    fn parse(path: &Path, text: &str) -> Result<Self> {
        // toml's own message quotes the offending line, and serde's the
        // offending value: either may be a secret's.
        toml::from_str(text).map_err(|e| {
            let before = e.span().map_or("", |span| &text[..span.start.min(text.len())]);
            let line = 1 + before.matches('\n').count();
            // A line added at the end of a file that ends with a table (as
            // deploy/tesserad.toml does) belongs to that table.
            let table = before.lines().rev().map(str::trim).find(|l| l.starts_with('['));
            let hint = match table {
                Some(table) if line > 1 => format!(
                    " (this line is in the table {table}: top-level settings go above the first table)"
                ),
                _ => String::new(),
            };
            Error::Config(format!(
                "invalid config {} (line {line}): {}{hint}",
                path.display(),
                without_strings(e.message().trim_end())
            ))
        })
    }
}

/// The config's text, at most [`MAX_CONFIG_BYTES`] of it (`/dev/zero` would
/// fill the memory). A pipe is read like a file: `--config <(envsubst <
/// tesserad.toml.in)` is a way to keep secrets out of the file.
fn read_config(path: &Path) -> Result<String> {
    use std::io::Read as _;
    let cannot =
        |e: std::io::Error| Error::Config(format!("cannot read config {}: {e}", path.display()));
    if path.is_dir() {
        return Err(Error::Config(format!(
            "config {} is a directory: name the config file in it",
            path.display()
        )));
    }
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(Error::Config(format!(
            "config {} is larger than {} KiB: not a tesserad config",
            path.display(),
            MAX_CONFIG_BYTES / 1024
        )));
    }
    String::from_utf8(bytes)
        .map_err(|_| Error::Config(format!("config {} is not UTF-8 text", path.display())))
}

/// Secret scanners' prefixes are a few characters (`ghp_`, `sk_live_`).
const MAX_API_KEY_PREFIX: usize = 32;

/// A config is a page of settings; this is far beyond any.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// serde's message with each quoted value (`string "…"`, written as Rust's
/// `Debug`, and `integer `…``, `floating point `…``: a token of digits is a
/// secret too) replaced by its kind.
fn without_strings(message: &str) -> String {
    let message = without_scalars(message);
    let message = message.as_str();
    const QUOTED: &str = "string \"";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(QUOTED) {
        out.push_str(&rest[..start]);
        out.push_str("a string");
        let mut chars = rest[start + QUOTED.len()..].char_indices();
        let mut end = rest.len() - start - QUOTED.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                _ => {}
            }
        }
        rest = &rest[start + QUOTED.len() + end..];
    }
    out.push_str(rest);
    out
}

fn data_dir() -> Result<PathBuf> {
    use etcetera::BaseStrategy as _;
    let strategy = etcetera::choose_base_strategy()
        .map_err(|e| Error::Config(format!("cannot find the user's data directory: {e}")))?;
    Ok(strategy.data_dir().join("tesserad"))
}

/// serde's `integer `…``, `floating point `…`` and `unknown variant `…``
/// (a secret pasted on the wrong line), without the value.
fn without_scalars(message: &str) -> String {
    let mut out = message.to_owned();
    // The variant first: it is the user's text and may hold the others.
    for kind in ["unknown variant `", "integer `", "floating point `"] {
        while let Some(start) = out.find(kind) {
            let value = start + kind.len();
            // A variant is the user's text and may hold a backtick itself.
            let end = match kind {
                "unknown variant `" => out[value..].rfind("`, expected"),
                _ => None,
            };
            let Some(end) = end.or_else(|| out[value..].find('`')) else {
                break;
            };
            out.replace_range(start + kind.len() - 2..value + end + 1, "");
        }
    }
    out
}

/// The warning for a config file that its group may change: whoever can
/// edit it chooses the database, the issuer and which proxies are trusted.
/// (Every other user: refused, see [`FileConfig::load`].)
fn writable_by_others(path: &Path) -> Option<String> {
    let mode = crate::files::open_to_others(path, 0o022)?;
    Some(format!(
        "config {path} can be changed by other users of this host (mode {mode:04o}), who \
         would choose the database, the issuer and the trusted proxies: `chmod go-w {path}`",
        path = path.display()
    ))
}

/// The warning for a config file that belongs to a user other than the one
/// running tesserad or root: that user may change it. Not refused, as a
/// container's mounted config often keeps the host's owner.
fn owned_by_another_user(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let owner = std::fs::metadata(path).ok()?.uid();
        let me = rustix::process::geteuid().as_raw();
        (owner != me && owner != 0).then(|| {
            format!(
                "config {path} belongs to user {owner}, who may change it and so choose the \
                 database, the issuer and the trusted proxies: make it root's or this user's",
                path = path.display()
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// `TESSERAD_MASTER_KEY`: the one setting read only from the environment (or the
/// config file), never a flag, so it cannot show up in `ps`.
pub fn master_key_from_env() -> Option<Secret> {
    std::env::var("TESSERAD_MASTER_KEY").ok().map(Secret::new)
}

/// What `serve` adds to the shared flags.
#[derive(Clone, Default)]
pub struct ServeOverrides {
    pub dev: bool,
    pub no_rate_limit: bool,
    /// `serve --rate-limit-backend` / `TESSERAD_RATE_LIMIT_BACKEND`.
    pub rate_limit_backend: Option<Backend>,
    /// `serve --redis-url` / `TESSERAD_REDIS_URL` (may carry a password).
    pub redis_url: Option<SecretUrl>,
    pub redis_cluster: Option<bool>,
    pub rate_limit_unreachable: Option<Unreachable>,
    pub connections: ConnectionArgs,
    /// An `admin` command that acts on what the database already holds: a
    /// SQLite file that does not exist is a mistyped path, refused before
    /// anything (the file, its directory, `master.key`) is created.
    pub existing_database: bool,
}

/// Resolves flags/env (`args`) over the config file over defaults.
///
/// The master key comes from `TESSERAD_MASTER_KEY` (read by the caller and passed
/// in as `master_key_env`) or the config file; failing both, a SQLite deployment
/// keeps a generated key in `master.key` (mode 0600) beside the database, and a
/// PostgreSQL deployment must set one (all its instances need the same key).
pub fn resolve(
    args: &SettingsArgs,
    serve: ServeOverrides,
    master_key_env: Option<Secret>,
) -> Result<Settings> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let connections = connections(&serve.connections, &file)?;
    let configured_listen = args.listen.or(file.listen);
    let listen = match configured_listen {
        Some(addr) => addr,
        None => DEFAULT_LISTEN.parse().expect("valid default address"),
    };
    // Removed again if anything below fails; kept (for `serve` to remove at
    // its end) once the settings are whole.
    let dev_dir = if serve.dev {
        Some(
            tempfile::Builder::new()
                .prefix(crate::server::DEV_DIR_PREFIX)
                .tempdir()
                .map_err(|e| Error::Config(format!("cannot create a temporary directory: {e}")))?,
        )
    } else {
        None
    };
    let configured_database = args.database.as_ref().or(file.database_url.as_ref());
    if dev_dir.is_some() && configured_database.is_some() {
        tracing::warn!(
            "--dev uses a throwaway database: the configured database (--database, TESSERAD_DATABASE_URL or database_url) is not used"
        );
    }
    let database = match (&dev_dir, configured_database) {
        (Some(dir), _) => DatabaseLocation::Sqlite(dir.path().join("tesserad.db")),
        (None, Some(url)) => DatabaseLocation::parse(url.expose())?,
        (None, None) => DatabaseLocation::Sqlite(data_dir()?.join("tesserad.db")),
    };
    if let (true, DatabaseLocation::Sqlite(path)) = (serve.existing_database, &database)
        && !path.exists()
    {
        return Err(Error::Config(format!(
            "there is no database at {}: give the server's database (--database, \
             TESSERAD_DATABASE_URL or database_url); this command works on what is in it",
            path.display()
        )));
    }
    let configured_issuer = args.issuer.clone().or(file.issuer);
    let issuer_source = match (&configured_issuer, configured_listen) {
        (Some(_), _) => IssuerSource::Configured,
        (None, Some(_)) => IssuerSource::Listen,
        (None, None) => IssuerSource::DefaultListen,
    };
    let issuer =
        normalize_issuer(&configured_issuer.unwrap_or_else(|| format!("http://{listen}")))?;
    let token_lifetime = |name: &str, flag, file: &Option<String>, default, example: &str| {
        let d = duration(name, flag, file.as_deref(), default)?;
        if d.is_zero() {
            // A token that expires as it is issued is no token at all.
            return Err(Error::Config(format!(
                "{name} must be positive, e.g. `{example}`"
            )));
        }
        // `expires_in` and `exp` must stay numbers every client reads (past
        // 2^53 JavaScript rounds them, past 2^63 Go and Java fail).
        if d > MAX_TOKEN_LIFETIME {
            return Err(Error::Config(format!(
                "{name} must be at most 3650d (ten years), e.g. `{example}`"
            )));
        }
        Ok(d)
    };
    let access_token_ttl = token_lifetime(
        "access_token_ttl",
        args.access_token_ttl,
        &file.access_token_ttl,
        DEFAULT_ACCESS_TOKEN_TTL,
        "15m",
    )?;
    let refresh_token_ttl = token_lifetime(
        "refresh_token_ttl",
        args.refresh_token_ttl,
        &file.refresh_token_ttl,
        DEFAULT_REFRESH_TOKEN_TTL,
        "30d",
    )?;
    let refresh_token_max_lifetime = token_lifetime(
        "refresh_token_max_lifetime",
        args.refresh_token_max_lifetime,
        &file.refresh_token_max_lifetime,
        DEFAULT_REFRESH_TOKEN_MAX_LIFETIME,
        "90d",
    )?;
    let api_key_prefix = args
        .api_key_prefix
        .clone()
        .or(file.api_key_prefix)
        .unwrap_or_default();
    // Every key carries it in each request's headers: a long one makes keys
    // that no request can carry (heads are capped at 32 KiB), issued and
    // shown once as if usable.
    if api_key_prefix.contains("eyJ")
        || !api_key_prefix.bytes().all(|b| b.is_ascii_graphic())
        || api_key_prefix.len() > MAX_API_KEY_PREFIX
    {
        return Err(Error::Config(format!(
            "the API key prefix must be at most {MAX_API_KEY_PREFIX} printable ASCII characters without `eyJ`, e.g. `lk_`"
        )));
    }
    let mail_outbox = match args.mail_outbox.clone().or(file.mail_outbox) {
        Some(dir) => dir,
        None => match database.sqlite_dir() {
            Some(dir) => dir.join("outbox"),
            None => data_dir()?.join("outbox"),
        },
    };
    let rate_limit_backend = match (
        serve.rate_limit_backend.or(file.rate_limit_backend),
        &database,
    ) {
        (Some(Backend::Postgres), DatabaseLocation::Sqlite(_)) => {
            return Err(Error::Config(
                "rate_limit_backend = \"postgres\" needs a postgres:// database; \
                     a SQLite deployment is one instance and limits in memory"
                    .into(),
            ));
        }
        (Some(backend), _) => backend,
        (None, DatabaseLocation::Postgres(_)) => Backend::Postgres,
        (None, DatabaseLocation::Sqlite(_)) => Backend::Memory,
    };
    let redis_url = match serve.redis_url.or(file.redis_url) {
        Some(url) => Some(RedisUrl::parse(url.expose()).map_err(Error::Config)?),
        None => None,
    };
    match (rate_limit_backend, &redis_url) {
        (Backend::Redis, None) => {
            return Err(Error::Config(
                "rate_limit_backend = \"redis\" needs --redis-url redis://HOST:PORT \
                 (or TESSERAD_REDIS_URL, or redis_url in the config file)"
                    .into(),
            ));
        }
        // Not an error: one environment may serve instances of both kinds (the
        // benchmarks do). But an operator who set only the URL believes the
        // instances share Redis's counts.
        (backend, Some(_)) if backend != Backend::Redis => tracing::warn!(
            "a Redis URL is set (--redis-url, TESSERAD_REDIS_URL or redis_url) but rate limits \
             are counted in {}: Redis is not used; add --rate-limit-backend redis to use it",
            backend.as_str()
        ),
        _ => {}
    }
    let defaults = Policy::default();
    let positive = |name: &str, value: Option<u32>, default: u32| match value {
        Some(0) => Err(Error::Config(format!(
            "{name} must be at least 1 request per minute (use rate_limit_enabled = false to turn limits off)"
        ))),
        Some(n) => Ok(n),
        None => Ok(default),
    };
    let endpoints = match file.rate_limit_endpoints {
        Some(table) => table
            .into_iter()
            .map(|(prefix, per_min)| {
                if !prefix.starts_with('/') {
                    return Err(Error::Config(format!(
                        "rate_limit_endpoints: {prefix:?} must be a path starting with /"
                    )));
                }
                Ok(EndpointLimit {
                    per_min: positive("rate_limit_endpoints", Some(per_min), 0)?,
                    prefix,
                })
            })
            .collect::<Result<Vec<_>>>()?,
        None => defaults.endpoints.clone(),
    };
    let rate_limit_policy = Policy::new(
        positive(
            "rate_limit_development",
            file.rate_limit_development,
            defaults.development_per_min,
        )?,
        positive(
            "rate_limit_production",
            file.rate_limit_production,
            defaults.production_per_min,
        )?,
        positive(
            "rate_limit_per_ip",
            file.rate_limit_per_ip,
            defaults.per_ip_per_min,
        )?,
        endpoints,
    );
    let client_address = match (
        file.rate_limit_trust_forwarded_for.unwrap_or(false),
        file.trusted_proxies,
    ) {
        (true, networks) => ClientAddress::Forwarded(
            match networks {
                Some(networks) => TrustedProxies::parse(&networks),
                None => TrustedProxies::parse(&DEFAULT_TRUSTED_PROXIES),
            }
            .map_err(|e| Error::Config(format!("trusted_proxies: {e}")))?,
        ),
        (false, None) => ClientAddress::Peer,
        (false, Some(_)) => {
            return Err(Error::Config(
                "trusted_proxies is only read with rate_limit_trust_forwarded_for = true".into(),
            ));
        }
    };
    let metrics_token = metrics_token(args.metrics_token.clone().or(file.metrics_token))?;
    // Last, once every other setting is known good: for SQLite it may create
    // the database's directory and its `master.key`, and a command refused
    // must leave nothing behind (a stray key beside a database copied there
    // later would be taken for that database's own).
    let master_key = match (master_key_env.or(file.master_key), &database) {
        (Some(encoded), _) => MasterKey::parse(encoded.expose())?,
        (None, DatabaseLocation::Sqlite(path)) => {
            if path.is_dir() {
                return Err(Error::Config(format!(
                    "the database {} is a directory: name the database file in it, e.g. {}",
                    path.display(),
                    path.join("tesserad.db").display()
                )));
            }
            let dir = path.parent().unwrap_or(Path::new("."));
            let key_file = dir.join("master.key");
            // A database moved without its key (or made with the variable):
            // a new key could not read its signing keys, and would be the
            // wrong key beside it from then on.
            let populated = std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
            // A file that is no database at all (a mistyped path naming a
            // config or a log) is said to be so, not sent looking for its key.
            if populated {
                crate::store::sqlite::refuse_what_is_no_database(path)?;
            }
            if populated && !key_file.exists() {
                return Err(Error::Config(format!(
                    "the database {} exists but its master key {} does not: restore the \
                     master.key made with it, or set TESSERAD_MASTER_KEY to the key it was \
                     created with",
                    path.display(),
                    key_file.display()
                )));
            }
            MasterKey::load_or_create(&key_file)?
        }
        (None, DatabaseLocation::Postgres(_)) => {
            return Err(Error::Config(
                "set TESSERAD_MASTER_KEY (32 random bytes, base64) for a PostgreSQL database: \
                     every instance must use the same key to read the signing keys; \
                     generate one with `openssl rand -base64 32`"
                    .into(),
            ));
        }
    };
    let settings = Settings {
        listen,
        database,
        issuer,
        issuer_source,
        access_token_ttl,
        refresh_token_ttl,
        refresh_token_max_lifetime,
        api_key_prefix,
        dev: serve.dev,
        mail_outbox,
        smtp_url: args.smtp_url.clone().or(file.smtp_url),
        mail_from: args
            .mail_from
            .clone()
            .or(file.mail_from)
            .unwrap_or_else(|| DEFAULT_MAIL_FROM.to_owned()),
        rate_limit_enabled: !serve.no_rate_limit && file.rate_limit_enabled.unwrap_or(true),
        rate_limit_backend,
        rate_limit_policy,
        rate_limit_unreachable: serve
            .rate_limit_unreachable
            .or(file.rate_limit_unreachable)
            .unwrap_or_default(),
        redis_url,
        redis_cluster: serve.redis_cluster.or(file.redis_cluster).unwrap_or(false),
        master_key,
        production_requires_approval: args
            .production_requires_approval
            .or(file.production_requires_approval)
            .unwrap_or(false),
        dpop_nonce: args.dpop_nonce.or(file.dpop_nonce).unwrap_or_default(),
        metrics_token,
        metrics_listen: args.metrics_listen.or(file.metrics_listen),
        trust_request_id: args
            .trust_request_id
            .or(file.trust_request_id)
            .unwrap_or(false),
        connections,
        client_address,
    };
    if let Some(dir) = dev_dir {
        let _kept = dir.keep();
    }
    Ok(settings)
}

/// A flag's duration, else the config file's, else the default.
/// The flag, else the config file's `name`, else `default`.
fn duration(
    name: &str,
    flag: Option<Duration>,
    file: Option<&str>,
    default: Duration,
) -> Result<Duration> {
    match (flag, file) {
        (Some(d), _) => Ok(d),
        (None, Some(s)) => {
            parse_duration(s).map_err(|e| Error::Config(format!("{name} in the config file: {e}")))
        }
        (None, None) => Ok(default),
    }
}

fn connections(args: &ConnectionArgs, file: &FileConfig) -> Result<Connections> {
    let timeout = |name: &str, flag, file: &Option<String>, default, max: Option<Duration>| {
        let d = duration(name, flag, file.as_deref(), default)?;
        let max = max.unwrap_or(Duration::MAX);
        if d.is_zero() || d > max {
            let bound = if max == Duration::MAX {
                String::new()
            } else {
                format!(" and at most {}s", max.as_secs())
            };
            return Err(Error::Config(format!(
                "{name} must be at least 1s{bound} (it is {}s)",
                d.as_secs()
            )));
        }
        Ok(d)
    };
    let max_connections = args
        .max_connections
        .or(file.max_connections)
        .unwrap_or(DEFAULT_MAX_CONNECTIONS);
    if max_connections == 0 {
        return Err(Error::Config("max_connections must be at least 1".into()));
    }
    Ok(Connections {
        header_read_timeout: timeout(
            "header_read_timeout",
            args.header_read_timeout,
            &file.header_read_timeout,
            DEFAULT_HEADER_READ_TIMEOUT,
            Some(MAX_HEADER_READ_TIMEOUT),
        )?,
        request_timeout: timeout(
            "request_timeout",
            args.request_timeout,
            &file.request_timeout,
            DEFAULT_REQUEST_TIMEOUT,
            None,
        )?,
        idle_timeout: timeout(
            "idle_timeout",
            args.idle_timeout,
            &file.idle_timeout,
            DEFAULT_IDLE_TIMEOUT,
            None,
        )?,
        max_connections,
        drain_timeout: timeout(
            "drain_timeout",
            args.drain_timeout,
            &file.drain_timeout,
            DEFAULT_DRAIN_TIMEOUT,
            None,
        )?,
    })
}

/// A token short enough to guess would protect nothing; one with spaces or
/// control characters cannot be sent in a header.
fn metrics_token(token: Option<Secret>) -> Result<Option<Secret>> {
    match token {
        Some(t) if t.expose().len() < 16 || !t.expose().bytes().all(|b| b.is_ascii_graphic()) => {
            Err(Error::Config(
                "metrics_token must be at least 16 printable ASCII characters without spaces; \
                 generate one with `openssl rand -hex 32`"
                    .into(),
            ))
        }
        token => Ok(token),
    }
}

const DEFAULT_MAIL_FROM: &str = "Tessera <no-reply@localhost>";

fn normalize_issuer(issuer: &str) -> Result<String> {
    let url = url::Url::parse(issuer)
        .map_err(|e| Error::Config(format!("invalid issuer URL {issuer:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https")
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(Error::Config(format!(
            "invalid issuer URL {issuer:?}: use http(s)://host[:port][/path] without \
             credentials, query or fragment"
        )));
    }
    // Kept as given, a trailing slash included: clients compare it exactly.
    // So it must be what it means: no stray whitespace (a newline from an
    // env file), no `..`, no default port, a lower-case host.
    let normal = url.as_str();
    // (A `//` in the path is kept by the parser but no well-known URL or
    // endpoint can be built on it.)
    if issuer != normal && format!("{issuer}/") != normal || url.path().contains("//") {
        let bare_host = url.path() == "/" && !issuer.ends_with('/');
        return Err(Error::Config(format!(
            "invalid issuer URL {issuer:?}: it is compared exactly and means {:?}; \
             write it that way",
            normal
                .strip_suffix('/')
                .filter(|_| bare_host)
                .unwrap_or(normal)
        )));
    }
    Ok(issuer.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issuer_means_what_it_says() {
        for good in [
            "https://auth.example.com",
            "https://auth.example.com/",
            "https://auth.example.com/tenant",
            "http://127.0.0.1:8080",
        ] {
            assert_eq!(normalize_issuer(good).unwrap(), good);
        }
        for bad in [
            "https://auth.example.com\n",
            " https://auth.example.com",
            "https://auth.example.com/a/../b",
            "https://Auth.example.com",
            "https://auth.example.com:443",
            "https://user:pw@auth.example.com",
            "https://auth.example.com/?x=1",
            "https://auth.example.com//",
        ] {
            let err = normalize_issuer(bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid issuer URL"), "{bad:?}: {err}");
        }
        // The hint keeps a trailing slash that was written.
        let err = normalize_issuer("http://127.0.0.1:80/")
            .unwrap_err()
            .to_string();
        assert!(err.contains(r#"means "http://127.0.0.1/""#), "{err}");
    }

    /// A setting added below the last table belongs to it; the error says so
    /// and never repeats the value, which may be a secret.
    #[test]
    fn a_config_error_shows_no_value_and_names_the_table() {
        let text = "listen = \"127.0.0.1:7000\"\n[rate_limit_endpoints]\n\"/v1/x\" = 5\n\
                    smtp_url = \"smtps://u:Pass\\\"w0rd@mail.example\"\n";
        let err = FileConfig::parse(Path::new("t.toml"), text)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("w0rd"), "{err}");
        assert!(err.contains("line 4"), "{err}");
        assert!(err.contains("a string"), "{err}");
        assert!(err.contains("in the table [rate_limit_endpoints]"), "{err}");
        assert_eq!(
            without_strings(r#"invalid type: string "a\"b", expected u32; string "c""#),
            "invalid type: a string, expected u32; a string"
        );
        // A token of digits is a number to TOML, and a secret all the same.
        let err = FileConfig::parse(Path::new("t.toml"), "metrics_token = 84629174\n")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("84629174"), "{err}");
        assert!(err.contains("invalid type: integer, expected"), "{err}");
        let err = FileConfig::parse(Path::new("t.toml"), "rate_limit_backend = \"hunter2x\"\n")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2x"), "{err}");
        assert!(err.contains("unknown variant, expected"), "{err}");
        let err = FileConfig::parse(Path::new("t.toml"), "rate_limit_backend = \"ab`cd\"\n")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("cd"), "{err}");
    }

    /// What cannot be a config is refused by name: a directory, more than a
    /// page (a device that never ends), a file every user may change. A pipe
    /// is read like a file.
    #[cfg(unix)]
    #[test]
    fn a_config_that_is_no_file_or_anyones_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let err = FileConfig::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("is a directory"), "{err}");
        let err = FileConfig::load(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("larger than 1024 KiB"), "{err}");
        let open = dir.path().join("open.toml");
        std::fs::write(&open, "listen = \"127.0.0.1:7000\"\n").unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = FileConfig::load(&open).unwrap_err().to_string();
        assert!(err.contains("`chmod o-w "), "{err}");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o664)).unwrap();
        assert!(FileConfig::load(&open).is_ok(), "group-writable: a warning");
        // `--config <(…)`: a pipe.
        let fifo = dir.path().join("fifo.toml");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        let writer = std::thread::spawn({
            let fifo = fifo.clone();
            move || std::fs::write(fifo, "listen = \"127.0.0.1:7000\"\n").unwrap()
        });
        let piped = FileConfig::load(&fifo).unwrap();
        assert_eq!(piped.listen, Some("127.0.0.1:7000".parse().unwrap()));
        writer.join().unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn secrets_in_a_file_others_can_read_are_warned_about() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tesserad.toml");
        let warning = |text: &str, mode: u32| {
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            FileConfig::parse(&path, text)
                .unwrap()
                .exposed_secrets(&path)
        };
        let secrets = "master_key = \"k\"\n\
                       database_url = \"postgres://app:hunter2@db/tessera\"\n\
                       redis_url = \"redis://10.0.0.1:6379\"\n";
        let said = warning(secrets, 0o644).expect("a warning");
        assert!(
            said.contains("holds secrets (master_key, database_url)")
                && said.contains("mode 0644")
                && said.contains(&format!("`chmod 600 {}`", path.display()))
                && said.contains("(TESSERAD_MASTER_KEY, TESSERAD_DATABASE_URL)"),
            "{said}"
        );
        assert!(!said.contains("hunter2"), "{said}");
        assert!(warning(secrets, 0o640).is_some(), "group-readable");
        assert_eq!(warning(secrets, 0o600), None);
        let no_secrets =
            "database_url = \"postgres://app@db/tessera\"\nlisten = \"127.0.0.1:7000\"\n";
        assert_eq!(warning(no_secrets, 0o644), None);
        // Whoever may change it chooses the database and the issuer.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let said = writable_by_others(&path).expect("a warning");
        assert!(said.contains("`chmod go-w "), "{said}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(writable_by_others(&path), None);
    }

    #[test]
    fn flags_win_over_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tesserad.toml");
        std::fs::write(
            &file,
            r#"
listen = "127.0.0.1:7000"
database_url = "/tmp/from-file.db"
issuer = "https://auth.example.com/"
access_token_ttl = "10m"
refresh_token_max_lifetime = "7d"
api_key_prefix = "lk_"
rate_limit_enabled = false
"#,
        )
        .unwrap();
        let args = SettingsArgs {
            config: Some(file.clone()),
            access_token_ttl: Some(Duration::from_secs(30)),
            ..Default::default()
        };
        let key = Some(Secret::new(MasterKey::generate().encode()));
        let s = resolve(&args, ServeOverrides::default(), key.clone()).unwrap();
        assert_eq!(s.listen, "127.0.0.1:7000".parse().unwrap());
        assert_eq!(
            s.database,
            DatabaseLocation::Sqlite("/tmp/from-file.db".into())
        );
        // As configured, the trailing slash included; URLs have one slash.
        assert_eq!(s.issuer, "https://auth.example.com/");
        assert_eq!(s.url("/v1/me"), "https://auth.example.com/v1/me");
        assert_eq!(s.issuer_source, IssuerSource::Configured);
        assert_eq!(s.access_token_ttl, Duration::from_secs(30));
        assert_eq!(s.refresh_token_ttl, DEFAULT_REFRESH_TOKEN_TTL);
        assert_eq!(s.refresh_token_max_lifetime, Duration::from_secs(7 * 86400));
        assert_eq!(s.api_key_prefix, "lk_");
        assert!(!s.rate_limit_enabled);

        std::fs::write(&file, "unknown_setting = 1\n").unwrap();
        let err = resolve(&args, ServeOverrides::default(), key).unwrap_err();
        assert!(err.to_string().contains("unknown_setting"), "{err}");
    }

    /// `deploy/tesserad.toml` loads with the server's own loader, resolves, and
    /// mentions every key the loader knows (set or commented out), so the example
    /// cannot drift from the settings.
    #[test]
    fn the_deploy_example_config_names_every_setting_and_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/tesserad.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        for key in file_config_keys() {
            let named = text.lines().any(|line| {
                let line = line.trim_start_matches(['#', ' ']);
                line.starts_with(&format!("{key} =")) || line == format!("[{key}]")
            });
            assert!(named, "deploy/tesserad.toml does not mention `{key}`");
        }
        let file = FileConfig::load(&path).unwrap();
        assert_eq!(file.metrics_listen, Some("127.0.0.1:9090".parse().unwrap()));
        let args = SettingsArgs {
            config: Some(path),
            ..Default::default()
        };
        let key = Some(Secret::new(MasterKey::generate().encode()));
        let s = resolve(&args, ServeOverrides::default(), key).unwrap();
        assert_eq!(s.issuer, "https://auth.example.com");
        assert_eq!(
            s.database,
            DatabaseLocation::Sqlite("/var/lib/tesserad/tesserad.db".into())
        );
    }

    /// The keys `FileConfig` accepts, as serde sees them: a deserializer that
    /// only records the field list it is handed.
    fn file_config_keys() -> &'static [&'static str] {
        struct Keys(&'static [&'static str]);
        #[derive(Debug)]
        struct Recorded;
        impl std::fmt::Display for Recorded {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("recorded")
            }
        }
        impl std::error::Error for Recorded {}
        impl serde::de::Error for Recorded {
            fn custom<T: std::fmt::Display>(_: T) -> Self {
                Recorded
            }
        }
        impl<'de> serde::Deserializer<'de> for &mut Keys {
            type Error = Recorded;
            fn deserialize_any<V: serde::de::Visitor<'de>>(
                self,
                _: V,
            ) -> Result<V::Value, Recorded> {
                Err(Recorded)
            }
            fn deserialize_struct<V: serde::de::Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Recorded> {
                self.0 = fields;
                Err(Recorded)
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
                bytes byte_buf option unit unit_struct newtype_struct seq tuple
                tuple_struct map enum identifier ignored_any
            }
        }
        let mut keys = Keys(&[]);
        let _ = FileConfig::deserialize(&mut keys);
        assert!(keys.0.len() > 10, "{:?}", keys.0);
        keys.0
    }

    #[test]
    fn connection_limits_from_flags_file_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tesserad.toml");
        let key = || Some(Secret::new(MasterKey::generate().encode()));
        let resolve_with = |toml: &str, flags: ConnectionArgs| {
            std::fs::write(&file, toml).unwrap();
            let args = SettingsArgs {
                config: Some(file.clone()),
                database: Some(SecretUrl::new("/tmp/never-created.db")),
                ..Default::default()
            };
            let serve = ServeOverrides {
                connections: flags,
                ..Default::default()
            };
            resolve(&args, serve, key()).map(|s| s.connections)
        };
        let defaults = resolve_with("", ConnectionArgs::default()).unwrap();
        assert_eq!(
            defaults,
            Connections {
                header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
                request_timeout: DEFAULT_REQUEST_TIMEOUT,
                idle_timeout: DEFAULT_IDLE_TIMEOUT,
                max_connections: DEFAULT_MAX_CONNECTIONS,
                drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            }
        );
        let toml = "header_read_timeout = \"5s\"\nrequest_timeout = \"1m\"\nidle_timeout = \"2m\"\n\
                    max_connections = 64\ndrain_timeout = \"10s\"\n";
        let flags = ConnectionArgs {
            idle_timeout: Some(Duration::from_secs(20)),
            ..Default::default()
        };
        let configured = resolve_with(toml, flags).unwrap();
        assert_eq!(configured.header_read_timeout, Duration::from_secs(5));
        assert_eq!(configured.request_timeout, Duration::from_secs(60));
        assert_eq!(configured.idle_timeout, Duration::from_secs(20));
        assert_eq!(configured.max_connections, 64);
        assert_eq!(configured.drain_timeout, Duration::from_secs(10));

        for (toml, says) in [
            ("header_read_timeout = \"31s\"\n", "at most 30s"),
            (
                "idle_timeout = \"0s\"\n",
                "idle_timeout must be at least 1s",
            ),
            (
                "max_connections = 0\n",
                "max_connections must be at least 1",
            ),
            ("drain_timeout = \"soon\"\n", "invalid duration"),
        ] {
            let err = resolve_with(toml, ConnectionArgs::default()).unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{err}");
            assert!(err.to_string().contains(says), "{toml}: {err}");
        }
    }

    /// A prefix long enough that keys no longer fit in a request's headers
    /// is refused before any key is made with it.
    #[test]
    fn the_api_key_prefix_is_short_printable_and_no_jws() {
        let with = |prefix: &str| SettingsArgs {
            api_key_prefix: Some(prefix.to_owned()),
            ..Default::default()
        };
        let key = || Some(Secret::new(MasterKey::generate().encode()));
        for refused in ["a b", "eyJ", "x\n", &"p".repeat(33), &"p".repeat(40_000)] {
            let err = resolve(&with(refused), ServeOverrides::default(), key()).unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{refused:?}: {err}");
        }
        for ok in ["lk_", &"p".repeat(32)] {
            let s = resolve(&with(ok), ServeOverrides::default(), key()).unwrap();
            assert_eq!(s.api_key_prefix, ok);
        }
    }

    #[test]
    fn token_lifetimes_are_positive_and_at_most_ten_years() {
        let with = |ttl: &str| SettingsArgs {
            access_token_ttl: Some(crate::clock::parse_duration(ttl).unwrap()),
            ..Default::default()
        };
        let key = || Some(Secret::new(MasterKey::generate().encode()));
        for refused in ["0s", "3651d", "9300000000000000000s"] {
            let err = resolve(&with(refused), ServeOverrides::default(), key()).unwrap_err();
            assert!(
                err.to_string().contains("access_token_ttl"),
                "{refused}: {err}"
            );
        }
        let ok = resolve(&with("3650d"), ServeOverrides::default(), key()).unwrap();
        assert_eq!(ok.access_token_ttl, MAX_TOKEN_LIFETIME);
    }

    #[test]
    fn postgres_needs_a_master_key() {
        let args = SettingsArgs {
            database: Some(SecretUrl::new("postgres://u@127.0.0.1/db")),
            ..Default::default()
        };
        let err = resolve(&args, ServeOverrides::default(), None).unwrap_err();
        assert!(err.to_string().contains("TESSERAD_MASTER_KEY"), "{err}");
    }

    /// A database without the key it was made with gets no new one: that
    /// key could not read its signing keys.
    #[test]
    fn a_database_moved_without_its_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        std::fs::write(&db, "SQLite format 3\0...").unwrap();
        let args = SettingsArgs {
            database: Some(SecretUrl::new(db.to_str().unwrap())),
            ..Default::default()
        };
        let err = resolve(&args, ServeOverrides::default(), None).unwrap_err();
        assert!(err.to_string().contains("master.key"), "{err}");
        assert!(!dir.path().join("master.key").exists());
        // A file that is no database is named as such, not as one without its key.
        let notes = dir.path().join("notes.toml");
        std::fs::write(&notes, "listen = \"127.0.0.1:1\"\n").unwrap();
        let args = SettingsArgs {
            database: Some(SecretUrl::new(notes.to_str().unwrap())),
            ..Default::default()
        };
        let err = resolve(&args, ServeOverrides::default(), None).unwrap_err();
        assert!(
            err.to_string().contains("is not a SQLite database"),
            "{err}"
        );
        assert!(!dir.path().join("master.key").exists());
        // A new database gets a new key.
        let new = dir.path().join("new.db");
        let args = SettingsArgs {
            database: Some(SecretUrl::new(new.to_str().unwrap())),
            ..Default::default()
        };
        assert!(resolve(&args, ServeOverrides::default(), None).is_ok());
        assert!(dir.path().join("master.key").exists());
        // A directory is named as one, not as a database without its key.
        let args = SettingsArgs {
            database: Some(SecretUrl::new(dir.path().to_str().unwrap())),
            ..Default::default()
        };
        let err = resolve(&args, ServeOverrides::default(), None).unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
    }

    /// Settings refused for any reason leave no `master.key` (nor its
    /// directory) behind for a database that does not exist yet.
    #[test]
    fn refused_settings_make_no_master_key() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state").join("t.db");
        let args = SettingsArgs {
            database: Some(SecretUrl::new(db.to_str().unwrap())),
            ..Default::default()
        };
        let short_token = SettingsArgs {
            metrics_token: Some(Secret::new(String::from("short"))),
            ..args.clone()
        };
        let redis_without_url = ServeOverrides {
            rate_limit_backend: Some(Backend::Redis),
            ..Default::default()
        };
        for (args, serve) in [
            (&short_token, ServeOverrides::default()),
            (&args, redis_without_url),
        ] {
            assert!(matches!(resolve(args, serve, None), Err(Error::Config(_))));
            assert!(!dir.path().join("state").exists(), "left behind");
        }
        resolve(&args, ServeOverrides::default(), None).unwrap();
        assert!(dir.path().join("state").join("master.key").exists());
    }

    #[test]
    fn issuer_defaults_to_listen_address() {
        let args = SettingsArgs {
            listen: Some("127.0.0.1:9999".parse().unwrap()),
            database: Some(SecretUrl::new("/tmp/never-created.db")),
            ..Default::default()
        };
        let s = resolve(
            &args,
            ServeOverrides::default(),
            Some(Secret::new(MasterKey::generate().encode())),
        )
        .unwrap();
        assert_eq!(s.issuer, "http://127.0.0.1:9999");
        assert_eq!(s.mail_outbox, PathBuf::from("/tmp/outbox"));
    }
}
