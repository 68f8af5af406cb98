//! `admin account create --email E`.

use super::{Ctx, Output};
use crate::error::{Error, Result};
use crate::store::{Account, Store};
use serde_json::json;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create an account. Prints its id.
    Create {
        #[arg(long)]
        email: String,
    },
}

pub async fn run(ctx: &Ctx, command: Command) -> Result<Output> {
    match command {
        Command::Create { email } => {
            let account = create(&ctx.store, &email, ctx.now()).await?;
            Ok(Output {
                text: format!("Created account {} ({})", account.id, account.email),
                json: json!({ "id": account.id, "email": account.email }),
            })
        }
    }
}

/// Creates an account; the email is trimmed and lower-cased.
pub async fn create(store: &Store, email: &str, now: i64) -> Result<Account> {
    let email = email.trim().to_lowercase();
    let plausible = email
        .split_once('@')
        .is_some_and(|(user, domain)| !user.is_empty() && !domain.is_empty())
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !plausible {
        return Err(Error::BadRequest(format!(
            "{email:?} is not an email address"
        )));
    }
    let account = Account {
        id: crate::ids::account(),
        email,
        created_at: now,
    };
    store.insert_account(&account).await?;
    Ok(account)
}
