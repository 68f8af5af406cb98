//! `auth env list | add NAME URL | switch NAME | remove NAME`: named servers.

use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use clap::Subcommand;
use serde::Serialize;
use tessera_client::config::{parse_server_url, same_origin};
use tessera_client::{DEFAULT_ENVIRONMENT, Error as ClientError, Transport};

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// List environments; `*` marks the current one.
    List(EnvListArgs),
    /// Add an environment, or change its URL.
    Add(EnvAddArgs),
    /// Make an environment current.
    Switch(EnvSwitchArgs),
    /// Forget an environment that has no profiles left.
    #[command(visible_alias = "rm")]
    Remove(EnvRemoveArgs),
}

#[derive(Debug, Default, clap::Args)]
pub struct EnvListArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct EnvAddArgs {
    pub name: String,
    /// Server URL: https://, or http:// for a server on this machine.
    pub url: String,
    /// Allow plain http:// to a server that is not on this machine, for this
    /// URL only. Anyone on the network path can read the credentials sent.
    #[arg(long)]
    pub insecure: bool,
}

#[derive(Debug, clap::Args)]
pub struct EnvSwitchArgs {
    pub name: String,
}

#[derive(Debug, clap::Args)]
pub struct EnvRemoveArgs {
    pub name: String,
}

#[derive(Debug, Serialize)]
pub struct EnvRow {
    pub name: String,
    pub url: Option<String>,
    pub current: bool,
    pub current_profile: Option<String>,
    /// Plain http to `url` was allowed with `auth env add --insecure`.
    pub insecure: bool,
}

pub fn run(command: &EnvCommand, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    match command {
        EnvCommand::List(args) => list(args, ctx, io),
        EnvCommand::Add(args) => add(args, ctx, io),
        EnvCommand::Switch(args) => switch(args, ctx, io),
        EnvCommand::Remove(args) => remove(args, ctx, io),
    }
}

pub fn environments(ctx: &Ctx) -> Result<Vec<EnvRow>, CliError> {
    let config = ctx.store.read_config()?;
    let current = config.current_environment();
    Ok(config
        .environment_names()
        .into_iter()
        .map(|name| EnvRow {
            url: config
                .environment_url(ctx.spec, ctx.env, name)
                .as_deref()
                .map(tessera_client::config::display_url),
            current: name == current,
            current_profile: config.current_profile(name).map(str::to_owned),
            insecure: config.environments.get(name).is_some_and(|e| e.insecure),
            name: name.to_owned(),
        })
        .collect())
}

fn list(args: &EnvListArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let rows = environments(ctx)?;
    if args.json {
        return super::print_json(io, &rows);
    }
    let rows: Vec<(bool, Vec<String>)> = rows
        .into_iter()
        .map(|r| {
            let url = r.url.unwrap_or_else(|| "-".into());
            let url = match r.insecure {
                true => format!("{url} (insecure http allowed)"),
                false => url,
            };
            (r.current, vec![r.name, url])
        })
        .collect();
    crate::texts::table(io.stdout, &["NAME", "URL"], &rows)?;
    Ok(())
}

/// Adds or changes an environment. Plain http to a host that is not
/// loopback is refused unless `--insecure`: the opt-in is stored with this
/// URL, and changing the URL without the flag withdraws it. Moving an
/// environment with profiles to another server is allowed (a server that
/// changed its name) but warned about: their credentials go there from now on.
fn add(args: &EnvAddArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    super::check_name("environment", &args.name)?;
    let url = parse_server_url(&args.url)?;
    let plain_http = Transport::default().check_url(&url);
    let needs_opt_in = plain_http.is_err();
    if !args.insecure {
        plain_http.map_err(|e| {
            CliError::from(e).with_hint(format!(
                "if {url} has no https, allow plain http for this environment: `{} auth env add {} {url} --insecure`",
                ctx.spec.name, args.name
            ))
        })?;
    }
    let moved = ctx.store.update(|config, _| {
        let before = config.environment_url(ctx.spec, ctx.env, &args.name);
        let was_insecure = config
            .environments
            .get(&args.name)
            .is_some_and(|e| e.insecure);
        // Profiles that follow the environment's URL (llamactl's may carry
        // their own) send their credentials to the new server from now on.
        let following: Vec<String> = config
            .profiles_in(&args.name)
            .filter(|(_, p)| p.url.is_none())
            .map(|(n, _)| n.to_owned())
            .collect();
        let environment = config.environments.entry(args.name.clone()).or_default();
        environment.url = Some(url.clone());
        environment.insecure = args.insecure;
        Ok(before
            .filter(|before| !same_origin(before, &url) && !following.is_empty())
            .map(|before| (before, was_insecure, following)))
    })?;
    writeln!(io.stderr, "Environment {:?} is {url}.", args.name)?;
    if let Some((before, was_insecure, profiles)) = moved {
        let app = ctx.spec.name;
        let back = format!(
            "{app} auth env add {} {}{}",
            args.name,
            tessera_client::config::display_url(&before),
            if was_insecure { " --insecure" } else { "" }
        );
        let (which, logout) = match profiles.as_slice() {
            [one] => (
                format!("profile {one:?} of environment {:?} now sends", args.name),
                format!("`{app} auth logout {one}`"),
            ),
            many => (
                format!(
                    "profiles {} of environment {:?} now send",
                    many.iter()
                        .map(|p| format!("{p:?}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    args.name
                ),
                format!("`{app} auth logout NAME`"),
            ),
        };
        io.warn(format!(
            "{which} credentials to {url}, not {}; to log out at the old server instead, put its URL back (`{back}`) and run {logout}",
            tessera_client::config::display_url(&before),
        ))?;
    }
    if args.insecure && needs_opt_in {
        io.warn(format!(
            "credentials sent to {url} travel in plain http: anyone on the network path can read them"
        ))?;
    }
    Ok(())
}

fn switch(args: &EnvSwitchArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    ctx.store
        .update(|config, _| {
            if !config.has_environment(&args.name) {
                return Err(ClientError::UnknownEnvironment(args.name.clone()));
            }
            config.current_environment = Some(args.name.clone());
            Ok(())
        })
        .map_err(|e| {
            CliError::from(e).with_hint(format!(
                "add it with `{} auth env add {} URL`",
                ctx.spec.name, args.name
            ))
        })?;
    writeln!(io.stderr, "Switched to environment {:?}.", args.name)?;
    Ok(())
}

/// Forgets an environment. Its profiles must be logged out first: dropping
/// them here would leave their tokens valid at the server, where logout
/// revokes them. The default environment always exists and is not removed.
fn remove(args: &EnvRemoveArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let name = &args.name;
    let app = ctx.spec.name;
    if name == DEFAULT_ENVIRONMENT {
        return Err(CliError::Usage(format!(
            "the {name:?} environment always exists and cannot be removed; `{app} auth env add {name} URL` changes its URL"
        )));
    }
    let outcome = ctx
        .store
        .update(|config, _| {
            if !config.environments.contains_key(name) {
                return Err(ClientError::UnknownEnvironment(name.clone()));
            }
            let profiles: Vec<String> = config
                .profiles_in(name)
                .map(|(p, _)| p.to_owned())
                .collect();
            if !profiles.is_empty() {
                return Ok(Removal::HasProfiles(profiles));
            }
            config.environments.remove(name);
            let was_current = config.current_environment.as_deref() == Some(name.as_str());
            if was_current {
                config.current_environment = None;
            }
            Ok(Removal::Removed { was_current })
        })
        .map_err(|e| {
            CliError::from(e).with_hint(format!("`{app} auth env list` shows the environments"))
        })?;
    match outcome {
        Removal::HasProfiles(profiles) => {
            let quoted: Vec<String> = profiles.iter().map(|p| format!("{p:?}")).collect();
            let logout = match profiles.as_slice() {
                [one] => format!("`{app} auth logout {one}`"),
                _ => format!("`{app} auth logout NAME` for each"),
            };
            Err(CliError::Conflict {
                message: format!(
                    "environment {name:?} still has profiles: {}",
                    quoted.join(", ")
                ),
                hint: format!("log out of them first ({logout}), then remove the environment"),
            })
        }
        Removal::Removed { was_current } => {
            writeln!(io.stderr, "Removed environment {name:?}.")?;
            if was_current {
                writeln!(
                    io.stderr,
                    "Switched to environment {DEFAULT_ENVIRONMENT:?}."
                )?;
            }
            Ok(())
        }
    }
}

enum Removal {
    HasProfiles(Vec<String>),
    Removed { was_current: bool },
}
