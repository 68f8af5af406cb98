//! `lua auth logout [--force]`: deletes `~/.lua-cli/credentials` after a
//! confirmation. The key is not revoked on the server, as documented.

use tessera_cli::{CliError, Ctx, Io};

#[derive(clap::Args)]
pub struct LogoutArgs {
    /// Skip the confirmation prompt
    #[arg(long)]
    pub force: bool,
}

pub const QUESTION: &str =
    "Are you sure you want to delete your API key? This action cannot be undone.";

pub fn run(args: &LogoutArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let path = crate::credentials_path(ctx);
    if !ctx.store.credentials_path().exists() {
        writeln!(io.stderr, "No stored API key: {path} does not exist.")?;
        env_note(ctx, io)?;
        return Ok(());
    }
    if !args.force && !io.confirm_or_flag(QUESTION, "deleting your API key", "--force")? {
        return Err(CliError::Cancelled);
    }
    ctx.store.lock()?.remove_credentials()?;
    writeln!(io.stderr, "✅ API key deleted successfully.")?;
    writeln!(
        io.stderr,
        "To use the CLI again, run `lua auth configure` or set LUA_API_KEY."
    )?;
    writeln!(
        io.stderr,
        "Removed {path}. The key is NOT invalidated on the server and still works if used \
         elsewhere; to fully revoke access, regenerate a new key from the admin dashboard."
    )?;
    env_note(ctx, io)?;
    Ok(())
}

fn env_note(ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    if ctx.env.var(ctx.spec.api_key_env).is_some() {
        writeln!(
            io.stderr,
            "Note: {} is still set in this shell and will keep being used.",
            ctx.spec.api_key_env
        )?;
    }
    Ok(())
}
