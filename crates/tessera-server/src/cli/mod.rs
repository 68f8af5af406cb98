//! The binary's edge: the `tesserad` command line (`serve`, `admin …`,
//! `migrate`), the one place that reads flags, the environment and the config
//! file ([`settings`]) and turns them into the plain `Settings` handed down.

pub mod admin;
pub mod dev;
mod help;
pub mod settings;

use crate::clock::SystemClock;
use crate::error::{Error, Result};
use crate::store::Store;
use clap::{Parser, Subcommand, ValueEnum};
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
    #[arg(long)]
    pub no_rate_limit: bool,
    /// Where rate-limit counters live: `memory` (one instance), `postgres` (shared
    /// by every instance on the database) or `redis` (shared, see --redis-url).
    /// Default: `postgres` with a postgres:// database, else `memory`.
    #[arg(long, value_enum, env = "TESSERAD_RATE_LIMIT_BACKEND")]
    pub rate_limit_backend: Option<crate::ratelimit::Backend>,
    /// The Redis of `--rate-limit-backend redis`: `redis://[:PASSWORD@]HOST:PORT`;
    /// with --redis-cluster, comma-separated seed nodes.
    #[arg(
        long,
        env = "TESSERAD_REDIS_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub redis_url: Option<String>,
    /// --redis-url names nodes of a Redis Cluster.
    #[arg(long, env = "TESSERAD_REDIS_CLUSTER")]
    #[arg(num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub redis_cluster: Option<bool>,
    /// When the rate-limit counters cannot be reached: `allow` (default: serve
    /// without limits, warn, count `tesserad_rate_limit_unenforced_total`) or
    /// `deny` (answer 503).
    #[arg(long, value_enum, env = "TESSERAD_RATE_LIMIT_UNREACHABLE")]
    pub rate_limit_unreachable: Option<crate::ratelimit::Unreachable>,
}

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
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
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                Error::Config(_) | Error::BadRequest(_) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

async fn run(command: Command) -> Result<()> {
    let master_key_env = std::env::var("TESSERAD_MASTER_KEY").ok();
    match command {
        Command::Serve(args) => {
            let overrides = ServeOverrides {
                dev: args.dev,
                no_rate_limit: args.no_rate_limit,
                rate_limit_backend: args.rate_limit_backend,
                redis_url: args.redis_url,
                redis_cluster: args.redis_cluster,
                rate_limit_unreachable: args.rate_limit_unreachable,
            };
            let mut settings_args = args.settings;
            if args.dev && settings_args.listen.is_none() {
                settings_args.listen = Some(settings::DEFAULT_LISTEN.parse().expect("valid"));
            }
            let settings = settings::resolve(&settings_args, overrides, master_key_env)?;
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
            let store = Store::open(&settings.database).await?;
            store.close().await;
            println!("database {} is up to date", settings.database);
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
    clap_mangen::generate_to(<Cli as clap::CommandFactory>::command(), dir).map_err(cannot)?;
    println!("wrote man pages to {}", dir.display());
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
