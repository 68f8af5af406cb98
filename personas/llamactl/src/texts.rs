//! Every word `llamactl` prints, every file and variable it names, as
//! `llamactl-auth.txt` documents them.

use tessera_cli::auth::list::ProfileList;
use tessera_cli::auth::login::device::DeviceTexts;
use tessera_cli::auth::project;
use tessera_cli::host::ErrorTexts;
use tessera_cli::texts::printable;
use tessera_cli::{CliError, Io};
use tessera_client::oauth::OAuthError;
use tessera_client::{AppSpec, DirDefault, Error as ClientError, OAuthSpec, ReloginCommands};
use tessera_proto::api::Project;

pub const LLAMACTL: AppSpec = AppSpec {
    name: "llamactl",
    config_dir_env: "LLAMACTL_CONFIG_DIR",
    config_dir_default: DirDefault::PlatformConfig("llamactl"),
    config_file: "config.toml",
    credentials_file: "credentials.toml",
    api_key_env: "LLAMACTL_API_KEY",
    profile_env: "LLAMACTL_PROFILE",
    url_env: "LLAMACTL_API_URL",
    default_url: "http://127.0.0.1:8080",
    // The llamactl documents name no `.env`.
    dotenv_file: None,
    dotenv_key: "LLAMACTL_API_KEY",
    log_env: "LLAMACTL_LOG",
    key_login: "llamactl auth token --api-key KEY --project-id ID",
    credentials_format: tessera_client::CredentialsFormat::Toml,
};

pub const LLAMACTL_OAUTH: OAuthSpec = OAuthSpec {
    default_client_id: "llamactl",
    client_id_env: "LLAMACTL_CLIENT_ID",
    client_secret_env: "LLAMACTL_CLIENT_SECRET",
    token_url_env: "LLAMACTL_TOKEN_URL",
    session_id_env: "LLAMACTL_SESSION_ID",
    id_token_env: "LLAMACTL_ID_TOKEN",
    // Every OAuth login of llamactl is `auth login` (device flow).
    relogin: ReloginCommands {
        client_credentials: "llamactl auth login",
        web: "llamactl auth login",
        device: "llamactl auth login",
        session: "llamactl auth login",
        federated: "llamactl auth login",
    },
};

pub const ERRORS: ErrorTexts = ErrorTexts {
    error: "Error: ",
    not_logged_in: "Error: ",
    cancelled: None,
    hint: "",
    unreachable: Some("Check the control plane API URL: `llamactl auth env list` shows it."),
    insecure_http: Some(
        "if the server has no https, add it as an environment that allows plain http: `llamactl auth env add NAME URL --insecure`",
    ),
};

pub const DEVICE: DeviceTexts = DeviceTexts {
    enter_code: "To log in, open {uri} in your browser and enter the code: {code}",
    complete: "Or open: {url}",
    expires: None,
    opened: Some("Opened your browser."),
    waiting: "Waiting for the login to be approved…",
    spinner: false,
};

// --- help -----------------------------------------------------------------------

pub const ABOUT: &str = "llamactl: manage LlamaDeploy deployments from the command line";
pub const ENVIRONMENT_HELP: &str = "\
Environment variables:
  LLAMACTL_API_URL     API URL of the default environment (default http://127.0.0.1:8080)
  LLAMACTL_API_KEY     API key used instead of the current profile's
  LLAMACTL_CONFIG_DIR  configuration directory (default ~/.config/llamactl)

Profiles live in ~/.config/llamactl/config.toml; API keys and tokens in
~/.config/llamactl/credentials.toml (mode 0600).";
pub const AUTH: &str = "Authenticate and manage profiles for the current environment";
pub const AUTH_NOTES: &str = "\
Notes:
  Profiles are filtered by the current environment (llamactl auth env switch).
  Non-interactive token requires both --api-key and --project-id.";
pub const TOKEN: &str = "Create profile from API key; validates token and selects a project";
pub const LOGIN: &str = "Login via web browser (OIDC device flow) and create a profile";
pub const LIST: &str = "List login profiles in the current environment";
pub const SWITCH: &str = "Set currently logged in user/token";
pub const LOGOUT: &str = "Delete a login and its local data";
pub const PROJECT: &str = "Change the active project for the current profile";
pub const ENV: &str = "List, add and switch environments (control plane API URLs)";
pub const PROJECT_ID: &str = "Project to use (selected from a list when interactive)";
pub const API_KEY: &str = "API key (prompted for, masked, when interactive)";
pub const API_URL: &str = "Control plane API URL for this profile (default: the environment's)";
pub const SWITCH_NAME: &str = "Profile to make current (selected from a list when omitted)";
pub const LOGOUT_NAME: &str =
    "Profile to delete (default: selected from a list, or the current one)";
pub const PROJECT_ARG: &str =
    "Project to make active (selected from the server's projects when omitted)";

// --- prompts --------------------------------------------------------------------

pub const ENTER_KEY: &str = "API key";
pub const ENTER_PROJECT: &str = "Project ID";
pub const SELECT_PROJECT: &str = "Select a project";
pub const SELECT_PROFILE: &str = "Select a profile";
pub const SELECT_LOGOUT: &str = "Select a profile to log out";

// --- errors -------------------------------------------------------------------------

pub const TOKEN_HELP: &str = tessera_cli::with_examples!(
    "  # on a terminal: the key (masked), then a project from a menu
  {command}
  # scripts and CI
  {command} --api-key \"$LLAMACTL_API_KEY\" --project-id PROJECT_ID --no-interactive"
);
pub const LOGIN_HELP: &str = tessera_cli::with_examples!(
    "  {command}
  {command} --api-url https://llama.example.com"
);
pub const SWITCH_HELP: &str = tessera_cli::with_examples!(
    "  {command}            # a menu of the environment's profiles
  {command} NAME"
);
pub const LOGOUT_HELP: &str = tessera_cli::with_examples!(
    "  {command}            # a menu of the environment's profiles
  {command} NAME --no-interactive"
);
pub const PROJECT_HELP: &str = tessera_cli::with_examples!(
    "  {command}            # a menu of the server's projects
  {command} PROJECT_ID"
);
pub const ENV_HELP: &str = tessera_cli::with_examples!(
    "  {command} add staging https://staging.llama.example.com
  {command} switch staging
  {command} list"
);

pub const TOKEN_NEEDS_BOTH: &str = "Non-interactive token requires both --api-key and --project-id";
pub const SWITCH_NEEDS_NAME: &str =
    "NAME is required in non-interactive mode: llamactl auth switch NAME";
/// Profiles exist, none is current, and there is no menu to pick from.
pub const LOGOUT_NEEDS_NAME: &str =
    "no profile is current; NAME is required in non-interactive mode: llamactl auth logout NAME";
pub const PROJECT_NEEDS_ID: &str =
    "PROJECT_ID is required in non-interactive mode: llamactl auth project PROJECT_ID";

pub fn usage(message: &str) -> CliError {
    CliError::Usage(message.into())
}

pub fn rejected(e: ClientError) -> CliError {
    match e {
        ClientError::Unauthorized { message } => CliError::Expired {
            message: format!("the API rejected the credential: {message}"),
            hint: "check the API key, or create a new one".into(),
        },
        other => CliError::from(other),
    }
}

pub fn device_hint(e: &OAuthError) -> Option<String> {
    e.oauth_code()
        .is_some()
        .then(|| "run `llamactl auth login` to try again".to_owned())
}

pub fn no_projects() -> CliError {
    usage("this account has no projects to select")
}

pub fn project_not_found(id: &str, projects: &[Project]) -> CliError {
    let known: Vec<String> = projects.iter().map(label).collect();
    CliError::Usage(format!(
        "project {id:?} not found; this account has: {}",
        if known.is_empty() {
            "no projects".to_owned()
        } else {
            known.join(", ")
        }
    ))
}

pub fn no_profiles(environment: &str) -> CliError {
    CliError::NotLoggedIn {
        message: format!("no profiles in environment '{environment}'"),
        hint: "create one with `llamactl auth token` or `llamactl auth login`".into(),
    }
}

pub fn no_current_profile(environment: &str) -> CliError {
    CliError::NotLoggedIn {
        message: format!("no current profile in environment '{environment}'"),
        hint: "create one with `llamactl auth token` or `llamactl auth login`, or pick one with `llamactl auth switch`".into(),
    }
}

pub fn unknown_profile(name: String, environment: &str) -> CliError {
    CliError::from(ClientError::UnknownProfile(name)).with_hint(format!(
        "`llamactl auth list` shows the profiles of environment '{environment}'"
    ))
}

// --- reports ---------------------------------------------------------------------------

/// A project as the server names it, printable (the server's words).
pub fn label(project: &Project) -> String {
    printable(&format!("{} ({})", project.name, project.id)).into_owned()
}

pub fn created(io: &mut Io, name: &str, project: Option<&Project>) -> std::io::Result<()> {
    match project {
        Some(project) => writeln!(
            io.stderr,
            "Created profile '{name}' with project {} and set it as current.",
            label(project)
        ),
        None => writeln!(
            io.stderr,
            "Created profile '{name}' and set it as current. Select a project with `llamactl auth project`."
        ),
    }
}

/// A table of the current environment's profiles; `*` marks the current one.
pub fn list(io: &mut Io, list: &ProfileList) -> std::io::Result<()> {
    if list.profiles.is_empty() {
        return writeln!(
            io.stderr,
            "No profiles in environment '{}'. Create one with `llamactl auth token` or `llamactl auth login`.",
            list.environment
        );
    }
    let rows: Vec<(bool, Vec<String>)> = list
        .profiles
        .iter()
        .map(|p| {
            let setting = |name| p.settings.get(name);
            let project = match (setting(project::PROJECT_NAME), setting(project::PROJECT_ID)) {
                (Some(name), Some(id)) => format!("{name} ({id})"),
                (None, Some(id)) => id.clone(),
                _ => "-".into(),
            };
            let auth = match (p.oauth, &p.key) {
                (Some(_), _) => "login",
                (None, Some(_)) => "api key",
                (None, None) => "none",
            };
            let url = p.server.clone().unwrap_or_else(|| "-".into());
            (p.current, vec![p.name.clone(), project, url, auth.into()])
        })
        .collect();
    tessera_cli::texts::table(io.stdout, &["NAME", "PROJECT", "API URL", "AUTH"], &rows)
}

pub fn switched(io: &mut Io, name: &str) -> std::io::Result<()> {
    writeln!(io.stderr, "Switched to profile '{name}'.")
}

pub fn logged_out(io: &mut Io, name: &str, was_current: bool) -> std::io::Result<()> {
    writeln!(io.stderr, "Logged out of profile '{name}'.")?;
    if was_current {
        writeln!(
            io.stderr,
            "It was the current profile; choose another with `llamactl auth switch`."
        )?;
    }
    Ok(())
}

pub fn project_set(io: &mut Io, profile: &str, project: &Project) -> std::io::Result<()> {
    writeln!(
        io.stderr,
        "Active project of profile '{profile}' is now {}.",
        if project.name == project.id {
            printable(&project.id).into_owned()
        } else {
            label(project)
        }
    )
}
