//! The `llamactl auth` commands. Prompts and arrow-key menus appear only in
//! interactive mode, which needs a terminal; `--no-interactive` (the default
//! without a terminal) turns every missing value into an error naming the
//! argument to pass.

use tessera_cli::auth::credential;
use tessera_cli::{CliError, Ctx, Io};
use tessera_client::config::parse_server_url;
use tessera_client::oauth::{self, BrowserAvailability, Client, UreqClient};
use tessera_client::{
    ApiClient, Authorization, Error as ClientError, LoginMethod, OAuthSession, Resolver,
};
use tessera_proto::ApiKey;
use tessera_proto::api::Project;

/// Profile settings keys.
const PROJECT_ID: &str = "project_id";
const PROJECT_NAME: &str = "project_name";

/// `--interactive/--no-interactive`, as the Click flag pair: interactive by
/// default on a terminal.
#[derive(clap::Args)]
pub struct Interactive {
    /// Prompt for missing values (the default on a terminal)
    #[arg(long, overrides_with = "no_interactive")]
    interactive: bool,
    /// Never prompt; missing values are errors
    #[arg(long, overrides_with = "interactive")]
    no_interactive: bool,
}

impl Interactive {
    fn resolve(&self, io: &Io) -> Result<bool, CliError> {
        if self.no_interactive {
            return Ok(false);
        }
        if self.interactive && !io.stdin_is_tty {
            return Err(CliError::Usage(
                "--interactive needs a terminal; pass the values as arguments with --no-interactive"
                    .into(),
            ));
        }
        Ok(io.stdin_is_tty)
    }
}

#[derive(clap::Args)]
pub struct TokenArgs {
    /// Project to use (selected from a list when interactive)
    #[arg(long, value_name = "ID")]
    project_id: Option<String>,
    /// API key (prompted for, masked, when interactive)
    #[arg(long, value_name = "KEY", value_parser = tessera_cli::args::api_key_arg)]
    api_key: Option<ApiKey>,
    /// Control plane API URL for this profile (default: the environment's)
    #[arg(long, value_name = "URL")]
    api_url: Option<String>,
    #[command(flatten)]
    mode: Interactive,
}

#[derive(clap::Args)]
pub struct LoginArgs {
    /// Control plane API URL for this profile (default: the environment's)
    #[arg(long, value_name = "URL")]
    api_url: Option<String>,
    #[command(flatten)]
    mode: Interactive,
}

#[derive(clap::Args)]
pub struct SwitchArgs {
    /// Profile to make current (selected from a list when omitted)
    name: Option<String>,
    #[command(flatten)]
    mode: Interactive,
}

#[derive(clap::Args)]
pub struct LogoutArgs {
    /// Profile to delete (default: selected from a list, or the current one)
    name: Option<String>,
    #[command(flatten)]
    mode: Interactive,
}

#[derive(clap::Args)]
pub struct ProjectArgs {
    /// Project to make active (selected from the server's projects when omitted)
    project_id: Option<String>,
    #[command(flatten)]
    mode: Interactive,
}

/// The credential a new profile keeps.
enum NewCredential {
    ApiKey(ApiKey),
    OAuth(Box<OAuthSession>),
}

/// The current environment and the API URL a new profile gets.
fn target(ctx: &Ctx, api_url: Option<&str>) -> Result<(String, String), CliError> {
    let config = ctx.store.read_config()?;
    let environment = config.current_environment().to_owned();
    let url = match api_url {
        Some(url) => parse_server_url(url)?,
        None => config
            .environment_url(ctx.spec, ctx.env, &environment)
            .ok_or_else(|| ClientError::UnknownEnvironment(environment.clone()))?,
    };
    Ok((environment, url))
}

fn projects(url: &str, auth: &Authorization) -> Result<Vec<Project>, CliError> {
    ApiClient::new(url)
        .projects(auth)
        .map(|list| list.projects)
        .map_err(|e| match e {
            ClientError::Unauthorized { message } => CliError::Expired {
                message: format!("the API rejected the credential: {message}"),
                hint: "check the API key, or create a new one".into(),
            },
            other => CliError::from(other),
        })
}

fn label(project: &Project) -> String {
    format!("{} ({})", project.name, project.id)
}

/// An arrow-key menu of projects.
fn choose_project(io: &mut Io, projects: &[Project]) -> Result<Project, CliError> {
    if projects.is_empty() {
        return Err(CliError::Usage(
            "this account has no projects to select".into(),
        ));
    }
    let labels: Vec<String> = projects.iter().map(label).collect();
    let items: Vec<&str> = labels.iter().map(String::as_str).collect();
    let picked = io.prompter.select("Select a project", &items)?;
    Ok(projects[picked].clone())
}

fn find_project(projects: &[Project], id: &str) -> Result<Project, CliError> {
    projects
        .iter()
        .find(|p| p.id == id)
        .cloned()
        .ok_or_else(|| {
            let known: Vec<String> = projects.iter().map(label).collect();
            CliError::Usage(format!(
                "project {id:?} not found; this account has: {}",
                if known.is_empty() {
                    "no projects".to_owned()
                } else {
                    known.join(", ")
                }
            ))
        })
}

/// Creates an auto-named profile in `environment` and makes it current.
fn create_profile(
    ctx: &Ctx,
    environment: &str,
    url: &str,
    project: Option<&Project>,
    credential: NewCredential,
) -> Result<String, CliError> {
    Ok(ctx.store.update(|config, creds| {
        let name = config.new_profile_name(environment);
        config.set_current_profile(environment, &name);
        let profile = config.profiles.get_mut(&name).expect("just created");
        profile.url = Some(url.to_owned());
        if let Some(project) = project {
            profile
                .settings
                .insert(PROJECT_ID.into(), project.id.clone());
            profile
                .settings
                .insert(PROJECT_NAME.into(), project.name.clone());
        }
        let entry = creds.profiles.entry(name.clone()).or_default();
        match credential {
            NewCredential::ApiKey(key) => entry.api_key = Some(key),
            NewCredential::OAuth(session) => entry.oauth = Some(*session),
        }
        Ok(name)
    })?)
}

fn created(io: &mut Io, name: &str, project: Option<&Project>) -> Result<(), CliError> {
    match project {
        Some(project) => writeln!(
            io.stderr,
            "Created profile '{name}' with project {} and set it as current.",
            label(project)
        )?,
        None => writeln!(
            io.stderr,
            "Created profile '{name}' and set it as current. Select a project with `llamactl auth project`."
        )?,
    }
    Ok(())
}

/// `auth token`: an API key, validated by listing the projects.
pub fn token(args: &TokenArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let interactive = args.mode.resolve(io)?;
    if !interactive && (args.api_key.is_none() || args.project_id.is_none()) {
        return Err(CliError::Usage(
            "Non-interactive token requires both --api-key and --project-id".into(),
        ));
    }
    let (environment, url) = target(ctx, args.api_url.as_deref())?;
    let key = match &args.api_key {
        Some(key) => key.clone(),
        None => ApiKey::new(io.prompter.secret("API key")?.trim()),
    };
    if key.expose_secret().is_empty() {
        return Err(CliError::Usage("the API key is empty".into()));
    }
    let projects = projects(&url, &Authorization::ApiKey(key.clone()))?;
    let project = match &args.project_id {
        Some(id) => find_project(&projects, id)?,
        None => choose_project(io, &projects)?,
    };
    let name = create_profile(
        ctx,
        &environment,
        &url,
        Some(&project),
        NewCredential::ApiKey(key),
    )?;
    created(io, &name, Some(&project))
}

/// `auth login`: the OIDC device flow, then a project.
pub fn login(args: &LoginArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let interactive = args.mode.resolve(io)?;
    let (environment, url) = target(ctx, args.api_url.as_deref())?;
    let http = UreqClient::new();
    let oauth_failed = |e| CliError::from(ClientError::OAuth(e));
    let meta = oauth::discover(&http, &url).map_err(oauth_failed)?;
    let endpoint = oauth::require_endpoint(
        &meta.device_authorization_endpoint,
        "device authorization endpoint",
    )
    .map_err(oauth_failed)?;
    let client = Client::public(ctx.oauth.default_client_id);
    let device = oauth::request_device_authorization(&http, endpoint, &client, None)
        .map_err(oauth_failed)?;
    let open = device
        .verification_uri_complete
        .as_deref()
        .unwrap_or(&device.verification_uri);
    writeln!(
        io.stderr,
        "To log in, open {} in your browser and enter the code: {}",
        device.verification_uri, device.user_code
    )?;
    if device.verification_uri_complete.is_some() {
        writeln!(io.stderr, "Or open: {open}")?;
    }
    let env = |name: &str| ctx.env.var(name).map(std::ffi::OsString::from);
    if oauth::browser_availability(false, &env) == BrowserAvailability::Usable
        && ctx.browser.open(open).is_ok()
    {
        writeln!(io.stderr, "Opened your browser.")?;
    }
    writeln!(io.stderr, "Waiting for the login to be approved…")?;
    let token = oauth::poll_device_token(&http, &meta.token_endpoint, &client, &device, ctx.clock)
        .map_err(|e| {
            let again = e
                .oauth_code()
                .is_some()
                .then(|| "run `llamactl auth login` to try again".to_owned());
            let error = oauth_failed(e);
            match again {
                Some(hint) => error.with_hint(hint),
                None => error,
            }
        })?;
    let mut session = OAuthSession::from_token(LoginMethod::Device, token, ctx.now);
    session.client_id = Some(client.id().to_owned());
    session.issuer = Some(meta.issuer.clone());
    session.token_endpoint = Some(meta.token_endpoint.clone());
    session.revocation_endpoint = meta.revocation_endpoint.clone();

    let projects = projects(&url, &Authorization::Bearer(session.access_token.clone()))?;
    let project = match projects.as_slice() {
        [only] => Some(only.clone()),
        _ if interactive => Some(choose_project(io, &projects)?),
        _ => None,
    };
    let name = create_profile(
        ctx,
        &environment,
        &url,
        project.as_ref(),
        NewCredential::OAuth(Box::new(session)),
    )?;
    created(io, &name, project.as_ref())
}

/// The profiles of the current environment, by name, and the current one.
fn current_environment_profiles(
    ctx: &Ctx,
) -> Result<(String, Vec<String>, Option<String>), CliError> {
    let config = ctx.store.read_config()?;
    let environment = config.current_environment().to_owned();
    let names = config
        .profiles_in(&environment)
        .map(|(name, _)| name.to_owned())
        .collect();
    let current = config.current_profile(&environment).map(str::to_owned);
    Ok((environment, names, current))
}

fn choose_profile(io: &mut Io, prompt: &str, names: &[String]) -> Result<String, CliError> {
    let items: Vec<&str> = names.iter().map(String::as_str).collect();
    let picked = io.prompter.select(prompt, &items)?;
    Ok(names[picked].clone())
}

fn no_profiles(environment: &str) -> CliError {
    CliError::NotLoggedIn {
        message: format!("no profiles in environment '{environment}'"),
        hint: "create one with `llamactl auth token` or `llamactl auth login`".into(),
    }
}

/// `auth list`: a table; `*` marks the current profile.
pub fn list(ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let config = ctx.store.read_config()?;
    let creds = ctx.store.read_credentials()?;
    for warning in &creds.warnings {
        io.warn(warning)?;
    }
    let environment = config.current_environment();
    let current = config.current_profile(environment);
    let rows: Vec<[String; 4]> = config
        .profiles_in(environment)
        .map(|(name, profile)| {
            let project = match (
                profile.settings.get(PROJECT_NAME),
                profile.settings.get(PROJECT_ID),
            ) {
                (Some(n), Some(id)) => format!("{n} ({id})"),
                (None, Some(id)) => id.clone(),
                _ => "-".into(),
            };
            let saved = creds.file.profiles.get(name);
            let auth = if saved.is_some_and(|c| c.oauth.is_some()) {
                "login"
            } else if saved.is_some_and(|c| c.api_key.is_some()) {
                "api key"
            } else {
                "none"
            };
            let url = config
                .server_url(ctx.spec, ctx.env, environment, Some(name))
                .unwrap_or_else(|| "-".into());
            [name.to_owned(), project, url, auth.to_owned()]
        })
        .collect();
    if rows.is_empty() {
        writeln!(
            io.stderr,
            "No profiles in environment '{environment}'. Create one with `llamactl auth token` or `llamactl auth login`."
        )?;
        return Ok(());
    }
    let header = ["NAME", "PROJECT", "API URL", "AUTH"].map(str::to_owned);
    let widths: Vec<usize> = (0..4)
        .map(|i| {
            rows.iter()
                .chain([&header])
                .map(|r| r[i].len())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |mark: &str, r: &[String; 4]| {
        format!(
            "{mark} {:w0$}  {:w1$}  {:w2$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        )
    };
    writeln!(io.stdout, "{}", line(" ", &header).trim_end())?;
    for row in &rows {
        let mark = if current == Some(row[0].as_str()) {
            "*"
        } else {
            " "
        };
        writeln!(io.stdout, "{}", line(mark, row).trim_end())?;
    }
    Ok(())
}

/// `auth switch [NAME]`.
pub fn switch(args: &SwitchArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let (environment, names, _) = current_environment_profiles(ctx)?;
    let name = match &args.name {
        Some(name) => name.clone(),
        None if args.mode.resolve(io)? => {
            if names.is_empty() {
                return Err(no_profiles(&environment));
            }
            choose_profile(io, "Select a profile", &names)?
        }
        None => {
            return Err(CliError::Usage(
                "NAME is required in non-interactive mode: llamactl auth switch NAME".into(),
            ));
        }
    };
    if !names.contains(&name) {
        return Err(
            CliError::from(ClientError::UnknownProfile(name)).with_hint(format!(
                "`llamactl auth list` shows the profiles of environment '{environment}'"
            )),
        );
    }
    ctx.store.update(|config, _| {
        config.set_current_profile(&environment, &name);
        Ok(())
    })?;
    writeln!(io.stderr, "Switched to profile '{name}'.")?;
    Ok(())
}

/// `auth logout [NAME]`: deletes the profile and its credentials; clears the
/// current selection when it was current.
pub fn logout(args: &LogoutArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let (environment, names, current) = current_environment_profiles(ctx)?;
    let name = match &args.name {
        Some(name) => name.clone(),
        None if args.mode.resolve(io)? => {
            if names.is_empty() {
                return Err(no_profiles(&environment));
            }
            choose_profile(io, "Select a profile to log out", &names)?
        }
        None => current.ok_or_else(|| no_profiles(&environment))?,
    };
    if !names.contains(&name) {
        return Err(
            CliError::from(ClientError::UnknownProfile(name)).with_hint(format!(
                "`llamactl auth list` shows the profiles of environment '{environment}'"
            )),
        );
    }
    let was_current = ctx.store.update(|config, creds| {
        let was_current = config.current_profile(&environment) == Some(name.as_str());
        config.remove_profile(&name);
        creds.profiles.remove(&name);
        Ok(was_current)
    })?;
    writeln!(io.stderr, "Logged out of profile '{name}'.")?;
    if was_current {
        writeln!(
            io.stderr,
            "It was the current profile; choose another with `llamactl auth switch`."
        )?;
    }
    Ok(())
}

/// The current profile's credential, when it has one.
fn profile_authorization(ctx: &Ctx, profile: &str) -> Result<Option<Authorization>, CliError> {
    let resolver = Resolver {
        profile_flag: Some(profile),
        ..ctx.resolver(None)
    };
    let resolution = resolver.first()?;
    if resolution.credential().is_none() {
        return Ok(None);
    }
    Ok(Some(
        credential::from_resolution(ctx, &resolution)?.authorization,
    ))
}

/// `auth project [PROJECT_ID]`.
pub fn project(args: &ProjectArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let interactive = args.mode.resolve(io)?;
    let config = ctx.store.read_config()?;
    let environment = config.current_environment().to_owned();
    let Some(profile) = config.current_profile(&environment).map(str::to_owned) else {
        return Err(CliError::NotLoggedIn {
            message: format!("no current profile in environment '{environment}'"),
            hint: "create one with `llamactl auth token` or `llamactl auth login`, or pick one with `llamactl auth switch`".into(),
        });
    };
    let url = config
        .server_url(ctx.spec, ctx.env, &environment, Some(&profile))
        .ok_or_else(|| ClientError::UnknownEnvironment(environment.clone()))?;
    let auth = profile_authorization(ctx, &profile)?;
    let server_projects = match &auth {
        Some(auth) => Some(projects(&url, auth)?),
        None => None,
    };
    let chosen = match (&args.project_id, &server_projects) {
        (Some(id), Some(list)) => find_project(list, id)?,
        (Some(id), None) => Project {
            id: id.clone(),
            name: id.clone(),
        },
        (None, Some(list)) if interactive => choose_project(io, list)?,
        // An environment without auth: the project id is typed in.
        (None, None) if interactive => {
            let id = io.prompter.input("Project ID")?.trim().to_owned();
            if id.is_empty() {
                return Err(CliError::Usage("the project ID is empty".into()));
            }
            Project {
                name: id.clone(),
                id,
            }
        }
        (None, _) => {
            return Err(CliError::Usage(
                "PROJECT_ID is required in non-interactive mode: llamactl auth project PROJECT_ID"
                    .into(),
            ));
        }
    };
    ctx.store.update(|config, _| {
        let entry = config
            .profiles
            .get_mut(&profile)
            .ok_or_else(|| ClientError::UnknownProfile(profile.clone()))?;
        entry.settings.insert(PROJECT_ID.into(), chosen.id.clone());
        if chosen.name == chosen.id {
            entry.settings.remove(PROJECT_NAME);
        } else {
            entry
                .settings
                .insert(PROJECT_NAME.into(), chosen.name.clone());
        }
        Ok(())
    })?;
    writeln!(
        io.stderr,
        "Active project of profile '{profile}' is now {}.",
        if chosen.name == chosen.id {
            chosen.id.clone()
        } else {
            label(&chosen)
        }
    )?;
    Ok(())
}
