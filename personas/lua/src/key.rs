//! `lua auth key [--force]`: shows the key resolution picks and where it came
//! from, after a confirmation (skipped by `--force`; required without a terminal).

use tessera_cli::{CliError, Ctx, Io};

#[derive(clap::Args)]
pub struct KeyArgs {
    /// Skip the confirmation prompt (useful in scripts)
    #[arg(long)]
    pub force: bool,
}

pub const QUESTION: &str = "This will display your API key. Are you sure you want to continue?";

pub fn run(args: &KeyArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let resolution = ctx.resolver(None).first()?;
    for warning in &resolution.warnings {
        io.warn(warning)?;
    }
    let Some(found) = resolution.winner() else {
        return Err(crate::no_api_key());
    };
    if !args.force && !io.confirm_or_flag(QUESTION, "displaying your API key", "--force")? {
        return Err(CliError::Cancelled);
    }
    // The key alone on stdout, so `$(lua auth key --force)` is just the key.
    writeln!(io.stderr, "🔑 Your API key:")?;
    writeln!(io.stdout, "{}", found.key.expose_secret())?;
    io.stdout.flush()?;
    writeln!(io.stderr, "Source: {}", crate::describe(&found.source))?;
    Ok(())
}
