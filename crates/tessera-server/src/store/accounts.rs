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
    /// Addresses stored before addresses were compared composed (NFC, see
    /// `accounts::canonical_email`) are rewritten composed, once per
    /// database, so that look-ups find them. One whose composed form another
    /// account already has stays as it is, with a warning naming both: which
    /// is the person's is an operator's call.
    pub(super) async fn compose_stored_emails(&self) -> Result<()> {
        use unicode_normalization::{UnicodeNormalization as _, is_nfc};
        let done = "SELECT value FROM deployment WHERE name = 'emails_composed'";
        if self.optional::<(String,)>(done, ()).await?.is_some() {
            return Ok(());
        }
        let sql = "SELECT id, email, created_at FROM accounts";
        let accounts: Vec<Account> = self.all(sql, ()).await?;
        for account in accounts.iter().filter(|a| !is_nfc(&a.email)) {
            let composed: String = account.email.nfc().collect();
            let sql = "UPDATE accounts SET email = $1 WHERE id = $2";
            match self.execute(sql, (&composed, &account.id)).await {
                Err(e) if super::is_unique_violation(&e) => tracing::warn!(
                    account = %account.id,
                    "the account's email address, composed (NFC), is another account's: \
                     it is left as stored, and sign-in finds the other; merge or delete one"
                ),
                other => drop(other?),
            }
        }
        let sql = "INSERT INTO deployment (name, value) VALUES ('emails_composed', '1') \
                   ON CONFLICT (name) DO NOTHING";
        self.execute(sql, ()).await?;
        Ok(())
    }

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

    /// Sets (or with `None` removes) an account's argon2 password hash, and
    /// ends its browser sessions in the same transaction: whoever signed in
    /// with the old password (a leaked one is why it changes) is signed out.
    /// Returns how many sessions ended.
    pub async fn set_account_password(
        &self,
        account_id: &str,
        hash: Option<&str>,
        now: i64,
    ) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        let ended = sqlx::query(
            "UPDATE web_sessions SET revoked_at = $1 \
             WHERE account_id = $2 AND revoked_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.settle_auth_change().await;
        Ok(ended.rows_affected())
    }

    /// `email`'s account and its password hash, in one look-up: a password
    /// sign-in does the same work whether or not the account exists.
    pub async fn account_with_password_hash(
        &self,
        email: &str,
    ) -> Result<Option<(Account, Option<String>)>> {
        let sql = "SELECT id, email, created_at, password_hash FROM accounts WHERE email = $1";
        let row: Option<(String, String, i64, Option<String>)> =
            self.optional(sql, (email.to_lowercase(),)).await?;
        Ok(row.map(|(id, email, created_at, hash)| {
            (
                Account {
                    id,
                    email,
                    created_at,
                },
                hash,
            )
        }))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fixture;

    /// A database from before addresses were composed: the upgrade composes
    /// what it can, once, and leaves an address whose composed form is taken.
    #[tokio::test]
    async fn stored_addresses_are_composed_once_on_upgrade() {
        let fx = Fixture::new().await;
        let store = &fx.state.store;
        let account = |id: &str, email: &str| Account {
            id: id.into(),
            email: email.into(),
            created_at: 0,
        };
        for (id, email) in [
            ("acct_a", "jose\u{301}@example.com"),
            ("acct_b", "rene\u{301}@example.com"),
            ("acct_c", "ren\u{e9}@example.com"),
        ] {
            store.insert_account(&account(id, email)).await.unwrap();
        }
        let forget = "DELETE FROM deployment WHERE name = 'emails_composed'";
        store.execute(forget, ()).await.unwrap();
        store.migrate().await.unwrap();
        let found = store
            .account_by_email("jos\u{e9}@example.com")
            .await
            .unwrap();
        assert_eq!(found.unwrap().id, "acct_a");
        let left = store.account_by_id("acct_b").await.unwrap().unwrap();
        assert_eq!(
            left.email, "rene\u{301}@example.com",
            "the composed form is taken"
        );
        // Once: an address stored later as it came is not rewritten again.
        store
            .insert_account(&account("acct_d", "zoe\u{308}@example.com"))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let later = store.account_by_id("acct_d").await.unwrap().unwrap();
        assert_eq!(later.email, "zoe\u{308}@example.com");
    }
}
