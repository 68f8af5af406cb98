//! The binary's edge: the `tesserad` command line (`serve`, `admin …`,
//! `migrate`), the one place that reads flags, the environment and the config
//! file ([`settings`]) and turns them into the plain `Settings` handed down.

pub mod admin;
pub mod dev;
mod help;
pub mod settings;

use crate::clock::SystemClock;
use crate::error::{Error, Result};
use crate::secret::SecretUrl;
use crate::store::Store;
use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand, ValueEnum};
use settings::{ServeOverrides, SettingsArgs};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(
    name = "tesserad",
    version,
    about = "The Tessera authorization server and platform API",
    after_help = help::TESSERAD
)]
pub struct Cli {
    /// Log output format (logs go to stderr; never contain secrets).
    #[arg(
        long,
        value_enum,
        default_value = "text",
        env = "TESSERAD_LOG_FORMAT",
        global = true
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    #[command(after_help = help::SERVE)]
    Serve(ServeArgs),
    /// Manage accounts, apps, keys and sessions in the database.
    #[command(after_help = help::ADMIN)]
    Admin(admin::AdminArgs),
    /// Create or upgrade the database schema, then exit.
    #[command(after_help = help::MIGRATE)]
    Migrate(MigrateArgs),
    /// Write man pages: tesserad(1) and one per subcommand (tesserad-serve(1), …).
    #[command(after_help = help::MAN)]
    Man {
        /// Directory to write `*.1` files into (created if missing).
        dir: std::path::PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Throwaway database on 127.0.0.1:8080 (unless --listen), seeded with demo
    /// data that is printed with the commands to try next.
    #[arg(long)]
    pub dev: bool,
    /// Turn rate limiting off (e.g. to measure what it costs).
    #[arg(long, env = "TESSERAD_NO_RATE_LIMIT")]
    pub no_rate_limit: bool,
    /// Where rate-limit counters live: `memory` (one instance), `postgres` (shared
    /// by every instance on the database) or `redis` (shared, see --redis-url).
    /// Default: `postgres` with a postgres:// database, else `memory`.
    #[arg(long, value_enum, env = "TESSERAD_RATE_LIMIT_BACKEND")]
    pub rate_limit_backend: Option<crate::ratelimit::Backend>,
    /// The Redis of `--rate-limit-backend redis`: `redis://[:PASSWORD@]HOST:PORT`,
    /// or `rediss://…` over TLS (trusting the OS's CAs, or SSL_CERT_FILE); with
    /// --redis-cluster, comma-separated seed nodes. Prefer the environment
    /// variable: a flag shows in `ps`.
    #[arg(long, env = "TESSERAD_REDIS_URL", value_name = "URL")]
    #[arg(value_parser = SecretUrl::from_arg)]
    pub redis_url: Option<SecretUrl>,
    /// --redis-url names nodes of a Redis Cluster.
    #[arg(long, env = "TESSERAD_REDIS_CLUSTER")]
    #[arg(num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub redis_cluster: Option<bool>,
    /// When the rate-limit counters cannot be reached: `allow` (default: serve
    /// without limits, warn, count `tesserad_rate_limit_unenforced_total`) or
    /// `deny` (answer 503).
    #[arg(long, value_enum, env = "TESSERAD_RATE_LIMIT_UNREACHABLE")]
    pub rate_limit_unreachable: Option<crate::ratelimit::Unreachable>,
    #[command(flatten)]
    pub connections: settings::ConnectionArgs,
}

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// The command line as parsed. `--help` shows which environment variable feeds
/// each flag but never its value: several are secrets (database and SMTP URLs),
/// and a flag added later must not have to remember to hide its own.
pub fn command() -> clap::Command {
    fn hide_env_values(command: clap::Command) -> clap::Command {
        command
            .mut_args(|arg| arg.hide_env_values(true))
            .mut_subcommands(hide_env_values)
    }
    // Every build is the crate's version; the schema it migrates to is what
    // tells an operator whether it can run on a given database.
    let version = format!(
        "{} (database schema {})",
        env!("CARGO_PKG_VERSION"),
        Store::schema_version()
    );
    hide_env_values(Cli::command().version(version.leak() as &'static str))
}

pub fn main() -> ExitCode {
    let command = command();
    let empty = |chosen| empty_variable(&command, chosen, |name| std::env::var_os(name));
    // `admin --json` is known before clap has parsed anything, so that a
    // refused command line is JSON too (see `refused`).
    let json = admin_json(std::env::args_os().skip(1));
    // Help, the version and the man pages read no setting: an empty variable
    // does not keep anyone from them. Any other command line, parsed (its
    // own variables) or refused by clap (which says "a value is required for
    // '--flag'" of an empty one), is told which variable is empty.
    let matches = match command.clone().try_get_matches() {
        Ok(matches) => matches,
        Err(e) if is_a_value(&e) => match empty(None) {
            Some(name) => return said_empty(&name, json),
            None => refused(e, json),
        },
        Err(e) => refused(e, json),
    };
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| refused(e, json));
    if let Some(name) = empty(Some(&matches))
        && !matches!(cli.command, Command::Man { .. })
    {
        return said_empty(&name, json);
    }
    init_logging(cli.log_format);
    crate::tls::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // `admin --json` answers in JSON whatever happens: scripts read errors too.
    let json = matches!(&cli.command, Command::Admin(admin) if admin.json);
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let (code, kind) = match e {
                Error::Config(_) | Error::BadRequest(_) => (2, "usage"),
                Error::NotFound(_) => (1, "not_found"),
                Error::Conflict(_) => (1, "conflict"),
                _ => (1, "failure"),
            };
            if json {
                eprintln!("{}", json_error(&e.to_string(), kind, code));
            } else {
                eprintln!(
                    "error: {}",
                    tessera_proto::text::printable_lines(&e.to_string())
                );
            }
            ExitCode::from(code)
        }
    }
}

async fn run(command: Command) -> Result<()> {
    let master_key_env = settings::master_key_from_env();
    match command {
        Command::Serve(args) => {
            let overrides = ServeOverrides {
                dev: args.dev,
                no_rate_limit: args.no_rate_limit,
                rate_limit_backend: args.rate_limit_backend,
                redis_url: args.redis_url,
                redis_cluster: args.redis_cluster,
                rate_limit_unreachable: args.rate_limit_unreachable,
                connections: args.connections,
                existing_database: false,
            };
            let settings = settings::resolve(&args.settings, overrides, master_key_env)?;
            let dev = settings.dev;
            crate::server::serve(settings, Arc::new(SystemClock), async |state| {
                if dev {
                    dev::seed_and_print(state).await?;
                }
                Ok(())
            })
            .await
        }
        Command::Admin(args) => admin::run(args).await,
        Command::Man { dir } => write_man_pages(&dir),
        Command::Migrate(args) => {
            let settings =
                settings::resolve(&args.settings, ServeOverrides::default(), master_key_env)?;
            // `migrate` creates a first database, but a mistyped path must not
            // pass for "up to date": the real one would be left unmigrated.
            let new_database = match &settings.database {
                crate::store::DatabaseLocation::Sqlite(path) => !path.exists(),
                crate::store::DatabaseLocation::Postgres(_) => false,
            };
            let store = Store::connect(&settings.database).await?;
            let before = store.applied_schema().await;
            let migrated = store.migrate().await;
            store.close().await;
            let (before, schema) = (before?, Store::schema_version());
            migrated?;
            let database = &settings.database;
            match new_database {
                true => {
                    eprintln!("note: there was no database at {database}; created a new one");
                    println!("created database {database} (schema {schema})");
                }
                false if before == schema => {
                    println!("database {database} is up to date (schema {schema})")
                }
                false if before == 0 => {
                    println!("created the tables of database {database} (schema {schema})")
                }
                false => println!("migrated database {database} from schema {before} to {schema}"),
            }
            Ok(())
        }
    }
}

/// Man pages from the same clap definitions as `--help`, one file per command.
fn write_man_pages(dir: &std::path::Path) -> Result<()> {
    let cannot = |e: std::io::Error| {
        Error::Config(format!("cannot write man pages to {}: {e}", dir.display()))
    };
    std::fs::create_dir_all(dir).map_err(cannot)?;
    clap_mangen::generate_to(command(), dir).map_err(cannot)?;
    println!("wrote man pages to {}", dir.display());
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    // Colours for a person at a terminal; a log file or journal gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// clap refused a value (an empty one among them), not the command line's shape.
fn is_a_value(e: &clap::Error) -> bool {
    use clap::error::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    )
}

fn said_empty(name: &str, json: bool) -> ExitCode {
    let message = format!("{name} is set but empty; give it a value or unset it (`unset {name}`)");
    match json {
        true => eprintln!("{}", json_error(&message, "usage", 2)),
        false => eprintln!("error: {message}"),
    }
    ExitCode::from(2)
}

/// `admin --json`'s error object on stderr (README: `error`, `kind`, `exit_code`).
fn json_error(message: &str, kind: &str, code: u8) -> serde_json::Value {
    serde_json::json!({ "error": message, "kind": kind, "exit_code": code })
}

/// Whether the command line is `admin` with `--json` after it (a global flag
/// of `admin`, so anywhere after it), read from the raw arguments: clap's
/// matches do not exist when it refuses the line.
fn admin_json(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    let mut args = args.into_iter().take_while(|arg| arg != "--");
    args.any(|arg| arg == "admin") && args.any(|arg| arg == "--json")
}

/// A command line clap refused: as clap says it (help and the version too),
/// or, for `admin --json`, as the one JSON error object scripts read, with
/// the same exit code 2.
fn refused(e: clap::Error, json: bool) -> ! {
    use clap::error::ErrorKind;
    let shown = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if !json || shown {
        e.exit()
    }
    // clap's first line is the error; the usage and tip after it are for a
    // person at a terminal.
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or_default();
    let message = first.strip_prefix("error: ").unwrap_or(first);
    eprintln!("{}", json_error(message, "usage", 2));
    std::process::exit(2)
}

/// The environment variables of `command` and, of its subcommands, the one
/// `chosen` names (all of them without a choice).
fn variables(command: &clap::Command, chosen: Option<&clap::ArgMatches>) -> Vec<String> {
    let own = command
        .get_arguments()
        .filter_map(|arg| arg.get_env()?.to_str());
    let mut names: Vec<String> = own.map(str::to_owned).collect();
    match chosen.map(clap::ArgMatches::subcommand) {
        Some(Some((name, matches))) => {
            let sub = command.find_subcommand(name);
            names.extend(
                sub.map(|sub| variables(sub, Some(matches)))
                    .unwrap_or_default(),
            );
        }
        Some(None) => {}
        None => names.extend(
            command
                .get_subcommands()
                .flat_map(|sub| variables(sub, None)),
        ),
    }
    names
}

/// The first variable the command line reads that is set but empty. An
/// empty variable is a mistake (`TESSERAD_METRICS_TOKEN=$TYPO`), never "not
/// set": quietly falling back to the default could leave `/metrics` open or
/// open another database (and clap would name the flag, not the variable, or
/// take "" as a value).
fn empty_variable(
    command: &clap::Command,
    chosen: Option<&clap::ArgMatches>,
    var: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Option<String> {
    let mut names = variables(command, chosen);
    // Read by hand, not through a flag: a secret.
    names.push("TESSERAD_MASTER_KEY".to_owned());
    names
        .into_iter()
        .find(|name| var(name).is_some_and(|value| value.is_empty()))
}

#[cfg(test)]
mod tests {
    /// `--version` names the schema the binary migrates to, which is what
    /// differs between two builds of one crate version.
    #[test]
    fn the_version_names_the_database_schema() {
        let version = super::command().render_version();
        let schema = format!(
            "(database schema {})",
            crate::store::Store::schema_version()
        );
        assert!(version.contains(&schema), "{version}");
        assert!(version.contains(env!("CARGO_PKG_VERSION")), "{version}");
    }

    #[test]
    fn an_empty_variable_is_named_not_taken_for_unset() {
        let command = super::command();
        let only = |set: &'static str, value: &'static str| {
            move |name: &str| (name == set).then(|| std::ffi::OsString::from(value))
        };
        let empty = |set, value| super::empty_variable(&command, None, only(set, value));
        assert_eq!(empty("TESSERAD_LISTEN", "127.0.0.1:1"), None);
        assert_eq!(empty("TESSERAD_BIN", ""), None, "not one of ours");
        for name in [
            "TESSERAD_METRICS_TOKEN",
            "TESSERAD_REDIS_URL",
            "TESSERAD_MASTER_KEY",
        ] {
            assert_eq!(empty(name, "").as_deref(), Some(name));
        }
    }

    /// `admin --json` is told from the raw arguments, `--json` anywhere after
    /// `admin` (before a `--`), so that clap's refusals can be JSON too.
    #[test]
    fn admin_json_is_seen_before_clap_parses() {
        let says = |line: &str| super::admin_json(line.split(' ').map(std::ffi::OsString::from));
        assert!(says("admin --json api-key create --expires-in 1x"));
        assert!(says("admin api-key create --json --expires-in 1x"));
        assert!(says("--log-format json admin account create --json"));
        assert!(!says("admin api-key create --expires-in 1x"));
        assert!(!says("serve --json"));
        assert!(!says("--json admin account create"));
        assert!(!says("admin account create -- --json"));
    }

    /// `--mail-outbox` said its default was `outbox/` beside the SQLite file,
    /// and said nothing of a PostgreSQL deployment, whose outbox is in the
    /// user's data directory.
    #[test]
    fn the_outbox_help_gives_both_defaults() {
        let mut command = super::command();
        command.build();
        let serve = command.find_subcommand("serve").expect("serve");
        let outbox = serve
            .get_arguments()
            .find(|arg| arg.get_id() == "mail_outbox")
            .expect("--mail-outbox");
        let help = outbox.get_help().expect("help").to_string();
        assert!(help.contains("beside the SQLite database file"), "{help}");
        assert!(help.contains("PostgreSQL"), "{help}");
        assert!(help.contains("data directory"), "{help}");
    }

    #[test]
    fn help_never_shows_environment_values() {
        fn check(command: &clap::Command, path: &str, seen: &mut usize) {
            for arg in command.get_arguments() {
                if let Some(env) = arg.get_env() {
                    *seen += 1;
                    assert!(
                        arg.is_hide_env_values_set(),
                        "{path} --{}: the value of {env:?} would show in --help",
                        arg.get_id()
                    );
                }
            }
            for sub in command.get_subcommands() {
                check(sub, &format!("{path} {}", sub.get_name()), seen);
            }
        }
        let mut command = super::command();
        command.build();
        let mut seen = 0;
        check(&command, "tesserad", &mut seen);
        assert!(seen > 10, "only {seen} flags with an environment variable");
    }
}
