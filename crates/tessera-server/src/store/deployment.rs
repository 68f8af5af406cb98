//! What `serve` records about itself for `admin` commands (the `deployment`
//! table): the issuer.

use super::Store;
use crate::error::Result;

impl Store {
    /// Remembers the issuer `serve` answers as; every start replaces it.
    pub async fn record_issuer(&self, issuer: &str) -> Result<()> {
        let sql = "INSERT INTO deployment (name, value) VALUES ('issuer', $1) \
                   ON CONFLICT (name) DO UPDATE SET value = excluded.value";
        self.execute(sql, (issuer,)).await?;
        Ok(())
    }

    /// The issuer `serve` last recorded, if it ever ran on this database.
    pub async fn recorded_issuer(&self) -> Result<Option<String>> {
        let sql = "SELECT value FROM deployment WHERE name = 'issuer'";
        let row: Option<(String,)> = self.optional(sql, ()).await?;
        Ok(row.map(|(issuer,)| issuer))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::Fixture;

    #[tokio::test]
    async fn the_last_recorded_issuer_wins() {
        let fx = Fixture::new().await;
        let store = &fx.state.store;
        store.record_issuer("http://127.0.0.1:1").await.unwrap();
        store.record_issuer("http://127.0.0.1:2").await.unwrap();
        let recorded = store.recorded_issuer().await.unwrap();
        assert_eq!(recorded.as_deref(), Some("http://127.0.0.1:2"));
    }
}
