//! `acme`: Acme's new CLI, Tessera's `auth` and `api` plus its own `whoami` (docs/embedding.md).

use clap::{Parser, Subcommand};
use tessera_cli::auth::{self, AuthCommand, credential};
use tessera_cli::docs::{self, DocsCommand};
use tessera_cli::host::{self, App, ErrorTexts, Globals, Persona};
use tessera_cli::{CliError, Ctx, Io, api};
use tessera_client::{AppSpec, CredentialsFormat, DirDefault, OAuthSpec};

const ACME: AppSpec = AppSpec {
    name: "acme",
    config_dir_env: "ACME_CONFIG_DIR",
    config_dir_default: DirDefault::PlatformConfig("acme"), // ~/.config/acme
    config_file: "config.toml",
    credentials_file: "credentials.toml",
    api_key_env: "ACME_API_KEY",
    profile_env: "ACME_PROFILE",
    url_env: "ACME_URL",
    default_url: "https://api.acme.example",
    dotenv_file: Some(".env"),
    dotenv_key: "ACME_API_KEY",
    log_env: "ACME_LOG",
    key_login: "acme auth login --api-key KEY",
    credentials_format: CredentialsFormat::Toml,
};

/// Acme's registered OAuth client, and what to run when a login cannot be renewed.
const ACME_OAUTH: OAuthSpec = OAuthSpec {
    default_client_id: "acme-cli",
    client_id_env: "ACME_CLIENT_ID",
    client_secret_env: "ACME_CLIENT_SECRET",
    token_url_env: "ACME_TOKEN_URL",
    session_id_env: "ACME_SESSION_ID",
    id_token_env: "ACME_ID_TOKEN",
    relogin: tessera_client::relogin_commands!("acme"), // `acme auth login --web …`
};

const PERSONA: Persona = Persona {
    spec: &ACME,
    oauth: &ACME_OAUTH,
    profile: None, // named profiles per environment, like gh and gcloud
    errors: ErrorTexts {
        hint: "  try: ",
        insecure_http: Some("allow it for one server: `acme auth env add NAME URL --insecure`"),
        ..ErrorTexts::plain("acme: ")
    },
    theme: &tessera_cli::io::SimpleTheme,
    usage: host::clap_usage,
};

#[derive(Parser)]
#[command(name = "acme", version, about = "Acme's command line")]
struct Cli {
    /// Profile to use instead of the current one (also: ACME_PROFILE).
    #[arg(long, global = true, value_name = "NAME")]
    profile: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Log in, inspect and manage credentials, profiles and environments.
    #[command(subcommand)]
    Auth(Box<AuthCommand>),
    /// Call the Acme API with the credential in use (like `gh api`).
    Api(api::ApiArgs),
    /// Who the credential in use acts for (the one `auth token` prints).
    Whoami,
    #[command(flatten)]
    Docs(DocsCommand), // `completion SHELL` and (hidden) `man DIR`; the host runs them
}

impl App for Cli {
    fn globals(&self) -> Globals {
        let auth = match &self.command {
            Command::Auth(command) => Some(&**command),
            Command::Api(_) | Command::Whoami | Command::Docs(_) => None,
        };
        Globals::auth(self.profile.clone(), auth)
    }

    fn run(self, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
        match self.command {
            Command::Auth(command) => auth::run(*command, ctx, io),
            Command::Api(args) => api::run(&args, ctx, io),
            Command::Whoami => {
                let active = credential::active(ctx, None, io)?;
                let me = auth::target(ctx)?.api(ctx, io)?.me(&active.authorization)?;
                writeln!(io.stdout, "{} ({})", me.email, active.source_detail)?;
                Ok(())
            }
            Command::Docs(command) => docs::run::<Cli>(&command, io),
        }
    }
}

fn main() -> std::process::ExitCode {
    host::main::<Cli>(&PERSONA)
}
