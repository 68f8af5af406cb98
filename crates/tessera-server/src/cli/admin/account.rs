//! `admin account create --email E`, `admin account set-password --account E`.

use super::{Ctx, Output};
use crate::error::{Error, Result};
use serde_json::json;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create an account. Prints its id.
    Create {
        #[arg(long)]
        email: String,
    },
    /// Set the password for web sign-in, read from stdin (one line), e.g.
    /// `printf '%s\n' "$PW" | tesserad admin account set-password --account E`.
    /// Accounts without a password sign in with an email code. Setting or
    /// removing it signs the account's browser sessions out.
    SetPassword {
        /// The account's email.
        #[arg(long)]
        account: String,
        /// Remove the password instead (email-code sign-in only).
        #[arg(long)]
        remove: bool,
    },
}

pub async fn run(ctx: &Ctx, command: Command) -> Result<Output> {
    match command {
        Command::Create { email } => {
            let account = crate::accounts::create(&ctx.store, &email, ctx.now()).await?;
            Ok(Output {
                text: format!("Created account {} ({})", account.id, account.email),
                json: json!({ "id": account.id, "email": account.email }),
            })
        }
        Command::SetPassword { account, remove } => {
            let account = ctx.account(&account).await?;
            let hash = if remove {
                None
            } else {
                use std::io::IsTerminal as _;
                // Typed at a terminal, the password would show as it is typed.
                if std::io::stdin().is_terminal() {
                    return Err(Error::BadRequest(format!(
                        "set-password reads the password from a pipe, not a terminal (it would be shown); e.g. `read -rs P && printf '%s\\n' \"$P\" | tesserad admin account set-password --account {}`",
                        account.email
                    )));
                }
                let mut line = String::new();
                std::io::stdin().read_line(&mut line).map_err(|e| {
                    Error::BadRequest(format!("cannot read the password from stdin: {e}"))
                })?;
                let password = line.trim_end_matches(['\r', '\n']);
                Some(crate::password::hash(password)?)
            };
            let ended = (ctx.store)
                .set_account_password(&account.id, hash.as_deref(), ctx.now())
                .await?;
            let done = if remove { "Removed" } else { "Set" };
            let sessions = match ended {
                0 => String::new(),
                1 => "; signed out its browser session".to_owned(),
                n => format!("; signed out its {n} browser sessions"),
            };
            Ok(Output {
                text: format!("{done} the password of {}{sessions}", account.email),
                json: json!({
                    "id": account.id,
                    "email": account.email,
                    "password": !remove,
                    "sessions_ended": ended,
                }),
            })
        }
    }
}
