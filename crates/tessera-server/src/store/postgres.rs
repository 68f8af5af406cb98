//! PostgreSQL: several `tesserad` instances may share one database.

use crate::error::{Error, Result};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use std::collections::HashMap;
use std::str::FromStr as _;
use std::time::Duration;

/// Per-request look-ups in flight at once, and keys answered per query
/// (see [`super::batch`]).
pub const BATCH_WORKERS: usize = 4;
pub const MAX_BATCH: usize = 64;
/// Requests answered by one read of the `auth_epoch` marker (see
/// [`super::auth_cache`]); more wait for the next read.
pub const MAX_EPOCH_WAITERS: usize = 1024;
/// The longest one read of `auth_epoch` may take (normally well under a
/// millisecond); past it every request waiting for it queries by itself. So a
/// request waits at most this for the read running when it arrived plus this
/// for its own, and while the database is unreachable its own query reports the
/// outage (503) after the pool's timeout, not after the epoch's and then its
/// own. One timer per read rather than per request: a timer was ~1,300
/// instructions of every request (bench/RESULTS.md).
const EPOCH_WAIT: Duration = Duration::from_millis(250);

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// How long a request waits for a connection. Short, so that while the database
/// is down requests get a 503 rather than hang; the pool reconnects by itself
/// when it is back.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// Start-up gives a first connection this many [`ACQUIRE_TIMEOUT`]s: a server
/// busy creating databases (seen in CI: a first connection took over 3 s) or
/// still coming up beside tesserad. Refused credentials or an unknown database
/// fail at once.
const STARTUP_ATTEMPTS: u32 = 2;

/// Connects, with TLS as the URL's `sslmode` says (libpq's meaning: `disable`,
/// `prefer` (the default), `require`, `verify-ca`, `verify-full`), trusting the
/// CA certificates in `sslrootcert` or else the Mozilla roots built in. A refused
/// certificate or an unreadable `sslrootcert` is a configuration error that says
/// what to change: no retry would fix it.
pub async fn connect(url: &str) -> Result<AnyPool> {
    check_secret_parameters(url)?;
    check_root_certificate(url)?;
    let options = AnyPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(ACQUIRE_TIMEOUT);
    let mut attempt = 1;
    loop {
        match options.clone().connect(url).await {
            Err(sqlx::Error::PoolTimedOut) if attempt < STARTUP_ATTEMPTS => attempt += 1,
            Err(sqlx::Error::PoolTimedOut) => return Err(why_no_connection(url).await),
            // A URL sqlx cannot read (a bad port, host or `sslmode`) is a
            // setting to fix, not a database failure (exit 2, not 1). sqlx's
            // words name the part, never the URL, so never the password.
            Err(sqlx::Error::Configuration(why)) => {
                return Err(Error::Config(format!(
                    "the database URL (--database, TESSERAD_DATABASE_URL or database_url) is \
                     not valid: {why}; write it as \
                     postgres://USER:PASSWORD@HOST:PORT/DATABASE[?sslmode=…]"
                )));
            }
            Err(e) => {
                return Err(match (certificate_problem(&e), refused_login(url, &e)) {
                    (Some(hint), _) => Error::Config(format!("{e} ({hint})")),
                    (None, Some(refused)) => Error::Config(refused),
                    (None, None) => e.into(),
                });
            }
            Ok(pool) => return Ok(pool),
        }
    }
}

/// The pool says only that it timed out (it retries refused connections
/// until then); one connection of our own says why: refused, no such host,
/// no answer. Its error names no URL, so no password.
async fn why_no_connection(url: &str) -> Error {
    use sqlx::Connection as _;
    match tokio::time::timeout(ACQUIRE_TIMEOUT, sqlx::AnyConnection::connect(url)).await {
        Ok(Err(e)) => Error::Unavailable(e),
        Ok(Ok(_)) | Err(_) => Error::Unavailable(sqlx::Error::PoolTimedOut),
    }
}

/// A login the server refused (SQLSTATE class 28: the password or the user;
/// 3D000: no such database), said with who logged in where and what to fix:
/// no retry would help, so it is a configuration error (exit 2). The
/// server's own words, without the source line sqlx appends; never the password.
fn refused_login(url: &str, error: &sqlx::Error) -> Option<String> {
    let sqlx::Error::Database(db) = error else {
        return None;
    };
    let code = db.code()?;
    const URL: &str = "the database URL (--database, TESSERAD_DATABASE_URL or database_url)";
    let fix = match &*code {
        "28P01" => format!("check the user and password in {URL}"),
        // Also pg_hba.conf turning the address, user or encryption away.
        "28000" => format!(
            "check the user in {URL}, and that the server's pg_hba.conf admits it from this \
             host with this sslmode"
        ),
        "3D000" => {
            format!("check the database name in {URL} (create it first, e.g. with createdb)")
        }
        _ => return None,
    };
    // Where and as whom sqlx logged in: the URL's `?host=`, `?user=` and
    // PGHOST/PGUSER count, as libpq's do.
    let options = sqlx::postgres::PgConnectOptions::from_str(url).ok()?;
    let place = match options.get_socket() {
        Some(dir) => format!("{} (port {})", dir.display(), options.get_port()),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    };
    Some(format!(
        "PostgreSQL at {place} refused the login as {user:?}: {said}; {fix}",
        user = options.get_username(),
        said = db.message(),
    ))
}

/// The URL's query parameters that sqlx reads and that look like secrets
/// ([`crate::secret::is_secret_param`]): the password itself, and the path of
/// the client key (`options[…]` are sent to the server, never logged).
const SECRET_PARAMETERS_READ: [&str; 3] = ["password", "sslkey", "ssl-key"];

/// sqlx logs every query parameter it does not read, value and all, at WARN
/// (`ignoring unrecognized connect parameter key=sslpassword value=…`), once
/// per connection attempt: a libpq `sslpassword`, or a misspelt `Password`,
/// would reach the log. Such a parameter is refused by name before sqlx sees
/// the URL.
fn check_secret_parameters(url: &str) -> Result<()> {
    let Ok(parsed) = url::Url::parse(url) else {
        return Ok(());
    };
    for (name, _) in parsed.query_pairs() {
        if crate::secret::is_secret_param(&name)
            && !SECRET_PARAMETERS_READ.contains(&&*name)
            && !name.starts_with("options[")
        {
            let hint = if name == "sslpassword" {
                " (an encrypted client key is not supported: give sslkey a key file \
                 without a passphrase that only tesserad's user can read)"
            } else {
                ""
            };
            return Err(Error::Config(format!(
                "the database URL (--database, TESSERAD_DATABASE_URL or database_url) has \
                 the parameter {name}, which tesserad's PostgreSQL driver does not read; \
                 it would be ignored with its value written to the log, so it is refused{hint}"
            )));
        }
    }
    Ok(())
}

/// sqlx reports a missing `sslrootcert` as a bare "No such file or directory".
fn check_root_certificate(url: &str) -> Result<()> {
    let Ok(parsed) = url::Url::parse(url) else {
        return Ok(());
    };
    for (name, value) in parsed.query_pairs() {
        if name == "sslrootcert"
            && let Err(e) = std::fs::read(&*value)
        {
            return Err(Error::Config(format!(
                "cannot read the database's CA certificates, sslrootcert={value}: {e} \
                 (give a readable PEM file, or leave sslrootcert out to trust the built-in roots)"
            )));
        }
    }
    Ok(())
}

/// What to change when the database server's TLS certificate was refused.
fn certificate_problem(error: &sqlx::Error) -> Option<&'static str> {
    use crate::tls::Refused;
    Some(match crate::tls::refused_certificate(error)? {
        Refused::UnknownIssuer => {
            "the database's TLS certificate is not issued by a CA tesserad trusts: \
             add sslrootcert=PATH (a PEM file with that CA) to the database URL"
        }
        Refused::OtherName => {
            "the database's TLS certificate is for another name: use that host \
             name in the database URL, or sslmode=verify-ca to check the issuer only"
        }
        Refused::Expired => "the database's TLS certificate has expired",
        Refused::Other => "the database's TLS certificate was refused",
    })
}

/// The change marker of the authentication cache (migration `0009_auth_epoch.sql`),
/// in the batcher's shape: one value for every waiting request.
///
/// Gives up after [`EPOCH_WAIT`] (an error: the waiters query alone).
pub async fn auth_epoch(pool: AnyPool) -> Result<HashMap<(), i64>> {
    let read = sqlx::query_as("SELECT n FROM auth_epoch WHERE id = 1").fetch_one(&pool);
    let (n,): (i64,) = tokio::time::timeout(EPOCH_WAIT, read)
        .await
        .map_err(|_| crate::error::Error::Unavailable(sqlx::Error::PoolTimedOut))??;
    Ok(HashMap::from([((), n)]))
}

#[cfg(test)]
mod tests {
    /// A server that refuses connections is named as such at start-up (after
    /// the start-up attempts), never with the URL's password.
    #[tokio::test]
    async fn a_refused_connection_says_so_without_the_password() {
        sqlx::any::install_default_drivers();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let url = format!("postgres://u:secret-pw@127.0.0.1:{port}/db");
        let err = super::connect(&url).await.unwrap_err().to_string();
        assert!(err.contains("refused"), "{err}");
        assert!(!err.contains("secret-pw"), "{err}");
    }

    /// A URL that does not parse is a setting to fix (`Error::Config`, exit
    /// 2) that names the setting and the part, never the password.
    #[tokio::test]
    async fn a_malformed_url_is_a_setting_error_without_the_password() {
        sqlx::any::install_default_drivers();
        for url in [
            "postgres://u:secret-pw@127.0.0.1:99999/db",
            "postgres://u:secret-pw@[::1/db",
            "postgres://u:secret-pw@127.0.0.1:1/db?sslmode=bogus",
        ] {
            let err = super::connect(url).await.unwrap_err();
            assert!(
                matches!(err, crate::error::Error::Config(_)),
                "{url}: {err:?}"
            );
            let err = err.to_string();
            assert!(err.contains("TESSERAD_DATABASE_URL"), "{err}");
            assert!(!err.contains("secret-pw"), "{err}");
        }
    }

    /// A secret in a query parameter sqlx does not read (libpq's
    /// `sslpassword`, a misspelt `Password`) is refused by name: sqlx would
    /// log the parameter's value at every connection attempt.
    #[tokio::test]
    async fn a_secret_parameter_the_driver_ignores_is_refused_unlogged() {
        let (log, _guard) = crate::testing::CapturedLog::start();
        sqlx::any::install_default_drivers();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        for name in ["sslpassword", "Password", "api_token"] {
            let url = format!("postgres://u@127.0.0.1:{port}/db?sslmode=disable&{name}=secret-pw");
            let err = super::connect(&url).await.unwrap_err();
            assert!(matches!(err, crate::error::Error::Config(_)), "{err:?}");
            let err = err.to_string();
            assert!(err.contains(name) && !err.contains("secret-pw"), "{err}");
        }
        let log = log.text();
        assert!(!log.contains("secret-pw"), "{log}");
        // What sqlx reads passes.
        let url = "postgres://u@h/db?password=pw&sslkey=/k&ssl-key=/k&options[a_key]=b";
        assert!(super::check_secret_parameters(url).is_ok());
    }

    /// A user or database the server does not know is a configuration error
    /// that names who, where and what to check; never the password.
    #[tokio::test]
    async fn a_refused_login_says_what_to_check() {
        let Ok(server) = std::env::var(tessera_testkit::POSTGRES_ENV) else {
            return;
        };
        sqlx::any::install_default_drivers();
        let mut url = url::Url::parse(&server).unwrap();
        url.set_path("/no_such_database_here");
        let err = super::connect(url.as_str()).await.unwrap_err();
        assert!(matches!(err, crate::error::Error::Config(_)), "{err:?}");
        assert!(err.to_string().contains("check the database name"), "{err}");
        url.set_path("/postgres");
        url.set_username("no_such_role_here").unwrap();
        url.set_password(Some("secret-pw")).unwrap();
        let err = super::connect(url.as_str()).await.unwrap_err().to_string();
        assert!(
            err.contains("refused the login as \"no_such_role_here\""),
            "{err}"
        );
        assert!(err.contains("check the user in the database URL"), "{err}");
        assert!(
            !err.contains("secret-pw") && !err.contains(" at line "),
            "{err}"
        );
        // Said as sqlx logged in: a user in the query counts too.
        url.set_username("").unwrap();
        url.set_password(None).unwrap();
        url.set_query(Some("user=another_unknown_role"));
        let err = super::connect(url.as_str()).await.unwrap_err().to_string();
        assert!(
            err.contains("refused the login as \"another_unknown_role\""),
            "{err}"
        );
    }
}
