//! `admin session create --account E`: a session id for the token-URL login
//! (`POST /oauth/session-token` with `session_id=…` returns a Level 0 token).

use super::{Ctx, Output};
use crate::error::Result;
use crate::oauth::session_token::{self, LEVEL_0, SESSION_TTL_SECS};
use serde_json::json;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a single-use session for an account. Prints the session id once.
    Create {
        /// The account's email.
        #[arg(long)]
        account: String,
    },
}

pub async fn run(ctx: &Ctx, command: Command) -> Result<Output> {
    match command {
        Command::Create { account } => {
            let account = ctx.account(&account).await?;
            let (session_id, row) =
                session_token::create(&ctx.store, &account.id, LEVEL_0, ctx.now()).await?;
            let token_url = ctx.settings.url(crate::oauth::PATH_SESSION_TOKEN);
            Ok(Output {
                text: format!(
                    "Session for {} (single use, expires in {} minutes)\nsession_id: {session_id}\ntoken_url: {token_url}\n",
                    account.email,
                    SESSION_TTL_SECS / 60
                ),
                json: json!({
                    "session_id": session_id,
                    "token_url": token_url,
                    "expires_at": tessera_proto::timestamp::rfc3339(row.expires_at),
                }),
            })
        }
    }
}
