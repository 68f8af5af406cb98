//! `admin project create --account E --name N`.

use super::{Ctx, Output};
use crate::error::Result;
use serde_json::json;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a project in an account.
    Create {
        /// The account's email.
        #[arg(long)]
        account: String,
        #[arg(long)]
        name: String,
    },
}

pub async fn run(ctx: &Ctx, command: Command) -> Result<Output> {
    match command {
        Command::Create { account, name } => {
            let account = ctx.account(&account).await?;
            let project =
                crate::accounts::create_project(&ctx.store, &account.id, &name, ctx.now()).await?;
            Ok(Output {
                text: format!(
                    "Created project {} ({}) for {}",
                    project.id, project.name, account.email
                ),
                json: json!({ "id": project.id, "name": project.name, "account_id": account.id }),
            })
        }
    }
}
