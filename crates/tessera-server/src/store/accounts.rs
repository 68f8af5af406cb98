//! Accounts (with their argon2 password hash) and their projects.

use super::{Store, conflict_on_unique};
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
        sqlx::query("INSERT INTO accounts (id, email, created_at) VALUES ($1, $2, $3)")
            .bind(&account.id)
            .bind(&account.email)
            .bind(account.created_at)
            .execute(&self.pool)
            .await
            .map_err(|e| {
                conflict_on_unique(e, || {
                    format!("an account with email {} already exists", account.email)
                })
            })?;
        Ok(())
    }

    /// Emails are stored lower-cased; look-ups lower-case too.
    pub async fn account_by_email(&self, email: &str) -> Result<Option<Account>> {
        Ok(
            sqlx::query_as("SELECT id, email, created_at FROM accounts WHERE email = $1")
                .bind(email.to_lowercase())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn account_by_id(&self, id: &str) -> Result<Option<Account>> {
        Ok(
            sqlx::query_as("SELECT id, email, created_at FROM accounts WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Sets (or with `None` removes) an account's argon2 password hash.
    pub async fn set_account_password(&self, account_id: &str, hash: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(account_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn account_password_hash(&self, account_id: &str) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT password_hash FROM accounts WHERE id = $1")
                .bind(account_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.and_then(|(hash,)| hash))
    }

    pub async fn insert_project(&self, project: &Project) -> Result<()> {
        sqlx::query(
            "INSERT INTO projects (id, account_id, name, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&project.id)
        .bind(&project.account_id)
        .bind(&project.name)
        .bind(project.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn projects_of(&self, account_id: &str) -> Result<Vec<Project>> {
        Ok(sqlx::query_as(
            "SELECT id, account_id, name, created_at FROM projects WHERE account_id = $1 ORDER BY created_at, id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
