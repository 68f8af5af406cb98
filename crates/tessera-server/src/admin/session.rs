//! `admin session create --account E`: a session id for the token-URL login
//! (`POST /oauth/session-token` with `session_id=…` returns a Level 0 token).

use super::{Ctx, Output};
use crate::digest;
use crate::error::Result;
use crate::store::{SessionRow, Store};
use serde_json::json;

/// A session must be exchanged within this time.
pub const SESSION_TTL_SECS: i64 = 10 * 60;
/// Assurance level of admin-created sessions: the lowest.
pub const LEVEL_0: &str = "0";
/// Path of the token URL, relative to the issuer.
pub const TOKEN_URL_PATH: &str = "/oauth/session-token";

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
            let (session_id, row) = create(&ctx.store, &account.id, LEVEL_0, ctx.now()).await?;
            let token_url = format!("{}{TOKEN_URL_PATH}", ctx.settings.issuer);
            Ok(Output {
                text: format!(
                    "Session for {} (single use, expires in {} minutes)\nsession_id: {session_id}\ntoken_url: {token_url}\n",
                    account.email,
                    SESSION_TTL_SECS / 60
                ),
                json: json!({
                    "session_id": session_id,
                    "token_url": token_url,
                    "expires_at": crate::apikey::rfc3339(row.expires_at),
                }),
            })
        }
    }
}

/// Creates a session; returns the secret session id (only its hash is stored).
pub async fn create(
    store: &Store,
    account_id: &str,
    acr: &str,
    now: i64,
) -> Result<(String, SessionRow)> {
    let session_id = digest::random_token(32);
    let row = SessionRow {
        id_hash: digest::secret_hash(&session_id),
        account_id: account_id.to_owned(),
        acr: acr.to_owned(),
        created_at: now,
        expires_at: now + SESSION_TTL_SECS,
        consumed_at: None,
    };
    store.insert_session(&row).await?;
    Ok((session_id, row))
}
