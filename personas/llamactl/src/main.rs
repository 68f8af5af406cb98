//! `llamactl`: the `llamactl auth` commands, as `llamactl-auth.txt` documents
//! them, on Tessera's command host. Words, file locations and variable names
//! are in `texts.rs`; this file is the command tree and what each command does.
//!
//! A profile keeps its control plane API URL, its project and, optionally, an
//! API key (or the OAuth login of `auth login`). Profiles are listed and
//! chosen within the current environment (`llamactl auth env switch`).
//! Prompts and arrow-key menus appear only in interactive mode, which needs a
//! terminal; otherwise a missing value is an error naming the argument.

mod texts;

use clap::{Parser, Subcommand};
use tessera_cli::args::{Interactive, api_key_arg};
use tessera_cli::auth::save::{Saved, new_profile_target, save_new};
use tessera_cli::auth::{Target, credential, env, list, login, logout, project, switch};
use tessera_cli::docs::DocsCommand;
use tessera_cli::host::{App, Persona};
use tessera_cli::{CliError, Ctx, Io};
use tessera_client::{Authorization, Resolver};
use tessera_proto::ApiKey;
use tessera_proto::api::Project;

const PERSONA: Persona = Persona {
    spec: &texts::LLAMACTL,
    oauth: &texts::LLAMACTL_OAUTH,
    profile: None,
    errors: texts::ERRORS,
    theme: &tessera_cli::io::SimpleTheme,
    usage: tessera_cli::host::clap_usage,
};

#[derive(Parser)]
#[command(name = "llamactl", version, about = texts::ABOUT, after_help = texts::ENVIRONMENT_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand)]
enum Top {
    #[command(subcommand, about = texts::AUTH, after_help = texts::AUTH_NOTES)]
    Auth(Auth),
    #[command(flatten)]
    Docs(DocsCommand),
}

#[derive(Subcommand)]
enum Auth {
    #[command(about = texts::TOKEN, help_template = texts::TOKEN_HELP)]
    Token {
        #[arg(long, value_name = "ID", help = texts::PROJECT_ID)]
        project_id: Option<String>,
        #[arg(long, value_name = "KEY", value_parser = api_key_arg, help = texts::API_KEY)]
        api_key: Option<ApiKey>,
        #[arg(long, value_name = "URL", help = texts::API_URL)]
        api_url: Option<String>,
        #[command(flatten)]
        mode: Interactive,
    },
    #[command(about = texts::LOGIN, help_template = texts::LOGIN_HELP)]
    Login {
        #[arg(long, value_name = "URL", help = texts::API_URL)]
        api_url: Option<String>,
        #[command(flatten)]
        mode: Interactive,
    },
    #[command(about = texts::LIST)]
    List,
    #[command(about = texts::SWITCH, help_template = texts::SWITCH_HELP)]
    Switch {
        #[arg(help = texts::SWITCH_NAME)]
        name: Option<String>,
        #[command(flatten)]
        mode: Interactive,
    },
    #[command(about = texts::LOGOUT, help_template = texts::LOGOUT_HELP)]
    Logout {
        #[arg(help = texts::LOGOUT_NAME)]
        name: Option<String>,
        #[command(flatten)]
        mode: Interactive,
    },
    #[command(about = texts::PROJECT, help_template = texts::PROJECT_HELP)]
    Project {
        #[arg(help = texts::PROJECT_ARG)]
        project_id: Option<String>,
        #[command(flatten)]
        mode: Interactive,
    },
    #[command(subcommand, about = texts::ENV, help_template = texts::ENV_HELP)]
    Env(env::EnvCommand),
}

impl App for Cli {
    fn run(self, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
        let command = match self.command {
            Top::Auth(command) => command,
            Top::Docs(command) => return tessera_cli::docs::run::<Cli>(&command, io),
        };
        match command {
            Auth::Token {
                project_id,
                api_key,
                api_url,
                mode,
            } => {
                if !mode.resolve(io)? && (api_key.is_none() || project_id.is_none()) {
                    return Err(texts::usage(texts::TOKEN_NEEDS_BOTH));
                }
                let target = new_profile_target(ctx, api_url.as_deref())?;
                let key = match api_key {
                    Some(key) => key,
                    None => ApiKey::new(io.prompter.secret(texts::ENTER_KEY)?.trim()),
                };
                if key.expose_secret().is_empty() {
                    return Err(texts::usage("the API key is empty"));
                }
                let projects = projects(ctx, io, &target, &Authorization::ApiKey(key.clone()))?;
                let project = match &project_id {
                    Some(id) => find(&projects, id)?,
                    None => choose(io, &projects)?,
                };
                let settings = project::settings(&project);
                let name = save_new(ctx, &target, settings, Saved::ApiKey(key))?;
                Ok(texts::created(io, &name, Some(&project))?)
            }
            Auth::Login { api_url, mode } => {
                let interactive = mode.resolve(io)?;
                let target = new_profile_target(ctx, api_url.as_deref())?;
                let client_id = ctx.oauth.default_client_id;
                let session =
                    login::device::obtain(ctx, io, &target, client_id, None, &texts::DEVICE)
                        .map_err(|e| e.hinted(ctx, None, texts::device_hint))?;
                let token = Authorization::from(&session);
                let projects = projects(ctx, io, &target, &token)?;
                let project = match projects.as_slice() {
                    [only] => Some(only.clone()),
                    _ if interactive => Some(choose(io, &projects)?),
                    _ => None,
                };
                let settings = project.as_ref().map(project::settings).unwrap_or_default();
                let saved = Saved::OAuth {
                    session: Box::new(session),
                    customer_key: None,
                };
                let name = save_new(ctx, &target, settings, saved)?;
                Ok(texts::created(io, &name, project.as_ref())?)
            }
            Auth::List => {
                let profiles = list::profiles(ctx, io)?;
                Ok(texts::list(io, &profiles)?)
            }
            Auth::Switch { name, mode } => {
                let (environment, names, _) = list::names(ctx)?;
                let needs_name = || Err(texts::usage(texts::SWITCH_NEEDS_NAME));
                let name = pick(
                    io,
                    name,
                    &mode,
                    texts::SELECT_PROFILE,
                    &environment,
                    &names,
                    needs_name,
                )?;
                switch::make_current(ctx, &environment, &name)?;
                Ok(texts::switched(io, &name)?)
            }
            // Deletes the profile and its credentials; clears the current
            // selection when it was current.
            Auth::Logout { name, mode } => {
                let (environment, names, current) = list::names(ctx)?;
                let current = || match current {
                    Some(name) => Ok(name),
                    None if names.is_empty() => Err(texts::no_profiles(&environment)),
                    None => Err(texts::usage(texts::LOGOUT_NEEDS_NAME)),
                };
                let name = pick(
                    io,
                    name,
                    &mode,
                    texts::SELECT_LOGOUT,
                    &environment,
                    &names,
                    current,
                )?;
                let deleted = logout::delete(ctx, std::slice::from_ref(&name))?;
                Ok(texts::logged_out(io, &name, deleted.was_current)?)
            }
            Auth::Project { project_id, mode } => {
                change_project(ctx, io, project_id, mode.resolve(io)?)
            }
            Auth::Env(command) => env::run(&command, ctx, io),
        }
    }
}

fn main() -> std::process::ExitCode {
    tessera_cli::host::main::<Cli>(&PERSONA)
}

fn projects(
    ctx: &Ctx,
    io: &mut Io,
    target: &Target,
    auth: &Authorization,
) -> Result<Vec<Project>, CliError> {
    project::list(&target.api(ctx, io)?, auth).map_err(texts::rejected)
}

fn find(projects: &[Project], id: &str) -> Result<Project, CliError> {
    let found = projects.iter().find(|p| p.id == id).cloned();
    found.ok_or_else(|| texts::project_not_found(id, projects))
}

/// An arrow-key menu of projects.
fn choose(io: &mut Io, projects: &[Project]) -> Result<Project, CliError> {
    if projects.is_empty() {
        return Err(texts::no_projects());
    }
    let labels: Vec<String> = projects.iter().map(texts::label).collect();
    let items: Vec<&str> = labels.iter().map(String::as_str).collect();
    let picked = io.prompter.select(texts::SELECT_PROJECT, &items)?;
    Ok(projects[picked].clone())
}

/// A profile of the environment: `name`, else one chosen from a menu when
/// interactive, else `otherwise`'s.
fn pick(
    io: &mut Io,
    name: Option<String>,
    mode: &Interactive,
    prompt: &str,
    environment: &str,
    names: &[String],
    otherwise: impl FnOnce() -> Result<String, CliError>,
) -> Result<String, CliError> {
    let name = match name {
        Some(name) => name,
        None if mode.resolve(io)? => {
            if names.is_empty() {
                return Err(texts::no_profiles(environment));
            }
            let items: Vec<&str> = names.iter().map(String::as_str).collect();
            names[io.prompter.select(prompt, &items)?].clone()
        }
        None => otherwise()?,
    };
    match names.contains(&name) {
        true => Ok(name),
        false => Err(texts::unknown_profile(name, environment)),
    }
}

/// The current profile's project: one of the server's when the profile has
/// a credential, else (an environment without auth) any id typed in.
fn change_project(
    ctx: &Ctx,
    io: &mut Io,
    id: Option<String>,
    interactive: bool,
) -> Result<(), CliError> {
    let config = ctx.store.read_config()?;
    let environment = config.current_environment().to_owned();
    let Some(profile) = config.current_profile(&environment).map(str::to_owned) else {
        return Err(texts::no_current_profile(&environment));
    };
    let resolver = Resolver {
        profile_flag: Some(&profile),
        ..ctx.resolver(None)
    };
    let target = Target::of(resolver.select(&config))?;
    let server_projects = match credential::for_profile(ctx, &profile, io)? {
        Some(active) => Some(projects(ctx, io, &target, &active.authorization)?),
        None => None,
    };
    // Without a server to ask, a typed-in id is also the project's name.
    let typed = |id: String| Project {
        name: id.clone(),
        id,
    };
    let chosen = match (id, &server_projects) {
        (Some(id), Some(list)) => find(list, &id)?,
        (Some(id), None) => typed(id),
        (None, Some(list)) if interactive => choose(io, list)?,
        (None, None) if interactive => {
            let id = io.prompter.input(texts::ENTER_PROJECT)?.trim().to_owned();
            if id.is_empty() {
                return Err(texts::usage("the project ID is empty"));
            }
            typed(id)
        }
        (None, _) => return Err(texts::usage(texts::PROJECT_NEEDS_ID)),
    };
    project::set(ctx, &profile, &chosen)?;
    Ok(texts::project_set(io, &profile, &chosen)?)
}
