//! Accounts and their projects.

use crate::error::{Error, Result};
use crate::store::{Account, Project, Store};

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

/// The account with this email, or `NotFound`.
pub async fn by_email(store: &Store, email: &str) -> Result<Account> {
    store
        .account_by_email(email)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no account with email {email}")))
}

/// Creates a project in an account.
pub async fn create_project(
    store: &Store,
    account_id: &str,
    name: &str,
    now: i64,
) -> Result<Project> {
    if name.trim().is_empty() {
        return Err(Error::BadRequest("a project needs a name".into()));
    }
    let name = crate::label::check("the project's name", name)?;
    let project = Project {
        id: crate::ids::project(),
        account_id: account_id.to_owned(),
        name: name.to_owned(),
        created_at: now,
    };
    store.insert_project(&project).await?;
    Ok(project)
}
