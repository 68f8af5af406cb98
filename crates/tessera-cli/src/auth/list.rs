//! `auth list`: the profiles of the current environment, current one marked `*`.

use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, clap::Args)]
pub struct ListArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
pub struct ProfileRow {
    pub name: String,
    pub current: bool,
    /// Masked; null when the profile has no stored key, or keeps it in the
    /// OS keychain (not read to list profiles).
    pub key: Option<String>,
    /// The secret is in the OS keychain; the credentials file holds only a
    /// reference.
    pub keychain: bool,
    /// The method of the profile's OAuth login (`web`, `device`,
    /// `client_credentials`, `session`), when it has one.
    pub oauth: Option<&'static str>,
    pub settings: BTreeMap<String, String>,
    /// The profile's server (its own URL, else its environment's).
    #[serde(skip)]
    pub server: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ProfileList {
    pub environment: String,
    pub profiles: Vec<ProfileRow>,
}

/// The profiles of the current environment, as data.
pub fn profiles(ctx: &Ctx, io: &mut Io) -> Result<ProfileList, CliError> {
    let config = ctx.store.read_config()?;
    let creds = ctx.store.read_credentials()?;
    super::print_warnings(io, &creds.warnings)?;
    let environment = config.current_environment();
    let current = config.current_profile(environment);
    let profiles = config
        .profiles_in(environment)
        .map(|(name, profile)| {
            let stored = creds.file.profiles.get(name);
            ProfileRow {
                name: name.to_owned(),
                current: current == Some(name),
                key: stored.and_then(|c| c.api_key.as_ref()).map(|k| k.masked()),
                keychain: stored.is_some_and(|c| c.in_keychain()),
                oauth: stored
                    .and_then(|c| c.oauth.as_ref())
                    .map(|s| s.method.as_str()),
                settings: profile.settings.clone(),
                server: config
                    .server_url(ctx.spec, ctx.env, environment, Some(name))
                    .as_deref()
                    .map(tessera_client::config::display_url),
            }
        })
        .collect();
    Ok(ProfileList {
        environment: environment.to_owned(),
        profiles,
    })
}

pub fn run(args: &ListArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let list = profiles(ctx, io)?;
    if args.json {
        return super::print_json(io, &list);
    }
    if list.profiles.is_empty() {
        writeln!(
            io.stderr,
            "No profiles in environment {:?}; {}.",
            list.environment,
            ctx.login_hint()
        )?;
        return Ok(());
    }
    let rows: Vec<(bool, Vec<String>)> = list
        .profiles
        .iter()
        .map(|p| {
            let key = match (&p.key, p.oauth, p.keychain) {
                (_, Some(method), _) => format!("OAuth ({method} login)"),
                (Some(key), None, _) => key.clone(),
                (None, None, true) => "in the OS keychain".to_owned(),
                (None, None, false) => "-".to_owned(),
            };
            (p.current, vec![p.name.clone(), key])
        })
        .collect();
    crate::texts::table(io.stdout, &["NAME", "KEY"], &rows)?;
    Ok(())
}

/// The current environment, its profiles' names and its current profile:
/// what commands that pick a profile of it need (no credentials are read).
pub fn names(ctx: &Ctx) -> Result<(String, Vec<String>, Option<String>), CliError> {
    let config = ctx.store.read_config()?;
    let environment = config.current_environment().to_owned();
    let names = config
        .profiles_in(&environment)
        .map(|(name, _)| name.to_owned())
        .collect();
    let current = config.current_profile(&environment).map(str::to_owned);
    Ok((environment, names, current))
}
