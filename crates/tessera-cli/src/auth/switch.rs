//! `auth switch NAME`: make a profile current. A profile of another environment
//! switches the environment too, so the server and the key always match.

use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use tessera_client::Error as ClientError;

#[derive(Debug, clap::Args)]
pub struct SwitchArgs {
    /// The profile to make current.
    pub name: String,
}

/// Returns the environment the profile belongs to.
pub fn switch(ctx: &Ctx, name: &str) -> Result<String, CliError> {
    Ok(ctx.store.update(|config, _| {
        let environment = config
            .profiles
            .get(name)
            .ok_or_else(|| ClientError::UnknownProfile(name.to_owned()))?
            .environment
            .clone();
        config.set_current_profile(&environment, name);
        config.current_environment = Some(environment.clone());
        Ok(environment)
    })?)
}

/// Makes `name` the current profile of `environment`, leaving which
/// environment is current as it is.
pub fn make_current(ctx: &Ctx, environment: &str, name: &str) -> Result<(), CliError> {
    ctx.store.update(|config, _| {
        config.set_current_profile(environment, name);
        Ok(())
    })?;
    Ok(())
}

pub fn run(args: &SwitchArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    // The list helps with a name that is not a profile; a file that cannot
    // be written keeps its own hint.
    let environment = switch(ctx, &args.name).map_err(|e| match e.client() {
        Some(ClientError::UnknownProfile(_)) => e.with_hint(format!(
            "`{} auth list` shows the profiles of the current environment",
            ctx.spec.name
        )),
        _ => e,
    })?;
    writeln!(
        io.stderr,
        "Switched to profile {:?} (environment {environment:?}).",
        args.name
    )?;
    Ok(())
}
