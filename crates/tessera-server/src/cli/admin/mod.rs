//! `tesserad admin …`: manage a deployment from a shell, against the same database
//! the server uses. One module per noun; each command returns an [`Output`] that is
//! printed as text, or as JSON with `--json` (fields as DESIGN.md's contract says).
//! Every created id and secret is printed exactly once.

pub mod account;
pub mod api_key;
pub mod app;
pub mod keys;
pub mod project;
pub mod session;
pub mod trust;

use super::settings::{ServeOverrides, SettingsArgs, resolve};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::keys::{Keyring, ensure_current_key};
use crate::settings::{IssuerSource, Settings};
use crate::store::{Account, DatabaseLocation, Store};
use std::io::Write as _;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct AdminArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Accounts (users).
    Account {
        #[command(subcommand)]
        command: account::Command,
    },
    /// Projects of an account.
    Project {
        #[command(subcommand)]
        command: project::Command,
    },
    /// OAuth apps (clients).
    App {
        #[command(subcommand)]
        command: app::Command,
    },
    /// API keys.
    ApiKey {
        #[command(subcommand)]
        command: api_key::Command,
    },
    /// Token-URL login sessions.
    Session {
        #[command(subcommand)]
        command: session::Command,
    },
    /// Token signing keys.
    Keys {
        #[command(subcommand)]
        command: keys::Command,
    },
    /// Workload identity federation: external issuers whose JWTs an app trusts.
    Trust {
        #[command(subcommand)]
        command: trust::Command,
    },
}

/// What an admin command works with.
pub struct Ctx {
    pub settings: Settings,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
}

impl Ctx {
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The signing keys, with a first one made if the database has none yet.
    pub async fn keyring(&self) -> Result<Keyring> {
        let master = &self.settings.master_key;
        ensure_current_key(&self.store, master, self.now()).await?;
        Keyring::load(
            &self.store,
            master.clone(),
            self.settings.access_token_ttl_secs(),
            self.now(),
        )
        .await
    }

    pub async fn account(&self, email: &str) -> Result<Account> {
        crate::accounts::by_email(&self.store, email).await
    }
}

/// A command's result, both ways.
pub struct Output {
    pub json: serde_json::Value,
    pub text: String,
}

pub async fn run(mut args: AdminArgs) -> Result<()> {
    // `trust add --issuer` names the trusted issuer, and clap hands the same
    // value to the global `--issuer` (one name, one id): it must not become
    // this server's issuer, which then comes from TESSERAD_ISSUER, the config
    // file or what `serve` recorded.
    if let Command::Trust {
        command: trust::Command::Add(_),
    } = &args.command
    {
        args.settings.issuer = std::env::var("TESSERAD_ISSUER").ok();
    }
    // A mistyped path would quietly get a new, empty database, and the
    // command would answer from it ("No API keys.", "no API key …"), leaving
    // the new files behind. Only these two make sense on a new database.
    let starts_a_database = matches!(
        args.command,
        Command::Account {
            command: account::Command::Create { .. }
        } | Command::Keys { .. }
    );
    let overrides = ServeOverrides {
        existing_database: !starts_a_database,
        ..ServeOverrides::default()
    };
    let mut settings = resolve(
        &args.settings,
        overrides,
        super::settings::master_key_from_env(),
    )?;
    let new_database = match &settings.database {
        DatabaseLocation::Sqlite(path) => !path.exists(),
        DatabaseLocation::Postgres(_) => false,
    };
    let store = Store::open(&settings.database).await?;
    if new_database {
        eprintln!(
            "note: there was no database at {}; created a new one",
            settings.database
        );
    }
    if settings.issuer_source == IssuerSource::DefaultListen
        && let Some(issuer) = store.recorded_issuer().await?
    {
        settings.issuer = issuer;
    }
    let ctx = Ctx {
        settings,
        store,
        clock: Arc::new(SystemClock),
    };
    let result = dispatch(&ctx, args.command).await;
    ctx.store.close().await;
    let output = result?;
    let printed = if args.json {
        serde_json::to_string_pretty(&output.json).map_err(Error::internal)?
    } else {
        // Text holds names users chose: nothing in it may drive the terminal.
        tessera_proto::text::printable_lines(output.text.trim_end()).into_owned()
    };
    // A full disk or a closed pipe is said, not a panic: the command's effect
    // stands, and a secret it printed once is lost with the output.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{printed}")
        .and_then(|()| stdout.flush())
        .map_err(|e| {
            Error::Internal(format!(
                "the command ran, but its result could not be written to stdout ({e}); a key or secret it created was not shown: revoke the key (`tesserad admin api-key list`, `api-key revoke ID`) or rotate the app's secret (`tesserad admin app rotate-secret CLIENT_ID`)"
            ))
        })
}

async fn dispatch(ctx: &Ctx, command: Command) -> Result<Output> {
    match command {
        Command::Account { command } => account::run(ctx, command).await,
        Command::Project { command } => project::run(ctx, command).await,
        Command::App { command } => app::run(ctx, command).await,
        Command::ApiKey { command } => api_key::run(ctx, command).await,
        Command::Session { command } => session::run(ctx, command).await,
        Command::Keys { command } => keys::run(ctx, command).await,
        Command::Trust { command } => trust::run(ctx, command).await,
    }
}
