//! Accounts (with their argon2 password hash) and their projects.

use super::Store;
use crate::error::Result;
use sqlx::FromRow;

#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Project {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub created_at: i64,
}

impl Store {
    pub async fn insert_account(&self, account: &Account) -> Result<()> {
        let sql = "INSERT INTO accounts (id, email, created_at) VALUES ($1, $2, $3)";
        let values = (&account.id, &account.email, account.created_at);
        self.insert_unique(sql, values, || {
            format!("an account with email {} already exists", account.email)
        })
        .await
    }

    /// Emails are stored lower-cased; look-ups lower-case too.
    pub async fn account_by_email(&self, email: &str) -> Result<Option<Account>> {
        let sql = "SELECT id, email, created_at FROM accounts WHERE email = $1";
        self.optional(sql, (email.to_lowercase(),)).await
    }

    pub async fn account_by_id(&self, id: &str) -> Result<Option<Account>> {
        let sql = "SELECT id, email, created_at FROM accounts WHERE id = $1";
        self.optional(sql, (id,)).await
    }

    /// Sets (or with `None` removes) an account's argon2 password hash.
    pub async fn set_account_password(&self, account_id: &str, hash: Option<&str>) -> Result<()> {
        let sql = "UPDATE accounts SET password_hash = $1 WHERE id = $2";
        self.execute(sql, (hash, account_id)).await?;
        Ok(())
    }

    pub async fn account_password_hash(&self, account_id: &str) -> Result<Option<String>> {
        let sql = "SELECT password_hash FROM accounts WHERE id = $1";
        let row: Option<(Option<String>,)> = self.optional(sql, (account_id,)).await?;
        Ok(row.and_then(|(hash,)| hash))
    }

    pub async fn insert_project(&self, project: &Project) -> Result<()> {
        let sql = "INSERT INTO projects (id, account_id, name, created_at) VALUES ($1, $2, $3, $4)";
        let p = project;
        self.execute(sql, (&p.id, &p.account_id, &p.name, p.created_at))
            .await?;
        Ok(())
    }

    pub async fn projects_of(&self, account_id: &str) -> Result<Vec<Project>> {
        let sql = "SELECT id, account_id, name, created_at FROM projects \
                   WHERE account_id = $1 ORDER BY created_at, id";
        self.all(sql, (account_id,)).await
    }
}
