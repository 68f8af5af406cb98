//! `admin keys rotate`: a new signing key signs from now on; older keys stay in the
//! JWKS and verifiable while tokens they signed can be valid. Running servers pick
//! the new key up within 10 seconds (or at once on an unknown `kid`).

use super::{Ctx, Output};
use crate::error::Result;
use serde_json::json;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Add a new signing key and make it current.
    Rotate,
}

pub async fn run(ctx: &Ctx, command: Command) -> Result<Output> {
    match command {
        Command::Rotate => {
            // Loading first makes sure a key exists to rotate away from.
            ctx.keyring().await?;
            let kid = crate::keys::rotate(&ctx.store, &ctx.settings.master_key, ctx.now()).await?;
            Ok(Output {
                text: format!("New signing key {kid} is now current; older keys stay verifiable."),
                json: json!({ "kid": kid }),
            })
        }
    }
}
