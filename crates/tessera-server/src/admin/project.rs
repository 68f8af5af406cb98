//! `admin project create --account E --name N`.

use super::{Ctx, Output};
use crate::error::{Error, Result};
use crate::store::{Project, Store};
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
            let project = create(&ctx.store, &account.id, &name, ctx.now()).await?;
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

pub async fn create(store: &Store, account_id: &str, name: &str, now: i64) -> Result<Project> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::BadRequest("a project needs a name".into()));
    }
    let project = Project {
        id: crate::ids::project(),
        account_id: account_id.to_owned(),
        name: name.to_owned(),
        created_at: now,
    };
    store.insert_project(&project).await?;
    Ok(project)
}
