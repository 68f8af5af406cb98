//! Trust rules of workload identity federation (the domain's `federation`), and
//! the one-time use of the subject tokens exchanged under them.

use super::{Params as _, Store};
use crate::error::{Error, Result};
use sqlx::FromRow;
use std::collections::BTreeMap;

/// An app's trust in an external issuer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustRule {
    pub id: String,
    pub client_id: String,
    /// Compared with the subject token's `iss` exactly.
    pub issuer: String,
    /// Must be (one of) the subject token's `aud`.
    pub audience: String,
    /// Glob on `sub`; `None`: any.
    pub subject: Option<String>,
    /// Claim name -> glob.
    pub claims: BTreeMap<String, String>,
    /// Space-separated scopes the exchanged token carries at most.
    pub scope: String,
    /// Where tesserad may connect to fetch the issuer's keys.
    pub reach: Reach,
    pub created_at: i64,
}

/// Where tesserad may connect for a rule's issuer: what its author may make
/// the server fetch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Reach {
    /// An administrator's rule: an issuer on this server's own networks too.
    #[default]
    Anywhere,
    /// An account member's rule (the console): public addresses only, at
    /// every connection (the issuer, its `jwks_uri`, whatever DNS says then).
    Public,
}

impl Reach {
    pub fn as_str(self) -> &'static str {
        match self {
            Reach::Anywhere => "anywhere",
            Reach::Public => "public",
        }
    }
}

/// What [`Store::insert_trust_rule_checked`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum RuleInsert {
    Added,
    /// The app has a rule like it already (its id); nothing was added.
    Twin(String),
    /// The app has as many rules as it may.
    Full,
}

#[derive(FromRow)]
struct TrustRuleRow {
    id: String,
    client_id: String,
    issuer: String,
    audience: String,
    subject: Option<String>,
    claims: String,
    scope: String,
    reach: String,
    created_at: i64,
}

impl TryFrom<TrustRuleRow> for TrustRule {
    type Error = Error;

    fn try_from(r: TrustRuleRow) -> Result<Self> {
        Ok(Self {
            claims: serde_json::from_str(&r.claims)
                .map_err(|e| Error::internal(format!("trust rule {}: claims: {e}", r.id)))?,
            id: r.id,
            client_id: r.client_id,
            issuer: r.issuer,
            audience: r.audience,
            subject: r.subject,
            scope: r.scope,
            // Anything but the one value an administrator's rule has is read
            // as the narrower reach.
            reach: if r.reach == Reach::Anywhere.as_str() {
                Reach::Anywhere
            } else {
                Reach::Public
            },
            created_at: r.created_at,
        })
    }
}

macro_rules! trust_columns {
    () => {
        "id, client_id, issuer, audience, subject, claims, scope, reach, created_at"
    };
}

fn rules(rows: Vec<TrustRuleRow>) -> Result<Vec<TrustRule>> {
    rows.into_iter().map(TrustRule::try_from).collect()
}

const INSERT_TRUST_RULE: &str = concat!(
    "INSERT INTO trust_rules (",
    trust_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
);

#[allow(clippy::type_complexity)]
fn trust_rule_values(
    rule: &TrustRule,
) -> Result<(
    &str,
    &str,
    &str,
    &str,
    Option<&str>,
    String,
    &str,
    &'static str,
    i64,
)> {
    let claims = serde_json::to_string(&rule.claims).map_err(Error::internal)?;
    Ok((
        &rule.id,
        &rule.client_id,
        &rule.issuer,
        &rule.audience,
        rule.subject.as_deref(),
        claims,
        &rule.scope,
        rule.reach.as_str(),
        rule.created_at,
    ))
}

impl Store {
    /// Inserts a rule unless its app already has one that `same` says it
    /// repeats, or (with a `cap`) has `cap` rules, however many requests ask
    /// at once. `account_id` owns the app: its row is what such requests take
    /// turns on (see [`Store::insert_within`]), so each one reads the rules
    /// the others added.
    pub async fn insert_trust_rule_checked(
        &self,
        rule: &TrustRule,
        account_id: &str,
        cap: Option<usize>,
        same: impl Fn(&TrustRule) -> bool,
    ) -> Result<RuleInsert> {
        let mut tx = self.holding_account(account_id).await?;
        let sql = concat!(
            "SELECT ",
            trust_columns!(),
            " FROM trust_rules WHERE client_id = $1 ORDER BY created_at, id"
        );
        let rows: Vec<TrustRuleRow> =
            sqlx::query_as_with(sql, (rule.client_id.as_str(),).arguments()?)
                .fetch_all(&mut *tx)
                .await?;
        let existing = rules(rows)?;
        let refused = match existing.iter().find(|r| r.issuer == rule.issuer && same(r)) {
            Some(twin) => Some(RuleInsert::Twin(twin.id.clone())),
            None if cap.is_some_and(|cap| existing.len() >= cap) => Some(RuleInsert::Full),
            None => None,
        };
        if let Some(refused) = refused {
            tx.rollback().await?;
            return Ok(refused);
        }
        sqlx::query_with(INSERT_TRUST_RULE, trust_rule_values(rule)?.arguments()?)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.written(INSERT_TRUST_RULE).await;
        Ok(RuleInsert::Added)
    }

    /// Every rule, or an app's, oldest first.
    pub async fn trust_rules(&self, client_id: Option<&str>) -> Result<Vec<TrustRule>> {
        let sql = concat!(
            "SELECT ",
            trust_columns!(),
            " FROM trust_rules WHERE CAST($1 AS TEXT) IS NULL OR client_id = CAST($1 AS TEXT) \
             ORDER BY created_at, id"
        );
        rules(self.all(sql, (client_id,)).await?)
    }

    /// An app's rules for one issuer, oldest first: what a token exchange tries.
    pub async fn trust_rules_for(&self, client_id: &str, issuer: &str) -> Result<Vec<TrustRule>> {
        let sql = concat!(
            "SELECT ",
            trust_columns!(),
            " FROM trust_rules WHERE client_id = $1 AND issuer = $2 ORDER BY created_at, id"
        );
        rules(self.all(sql, (client_id, issuer)).await?)
    }

    /// Deletes a rule, only of `client_id` when given; whether it existed.
    pub async fn delete_trust_rule(&self, id: &str, client_id: Option<&str>) -> Result<bool> {
        let sql = "DELETE FROM trust_rules WHERE id = $1 \
                   AND (CAST($2 AS TEXT) IS NULL OR client_id = CAST($2 AS TEXT))";
        self.changed_one(sql, (id, client_id)).await
    }

    /// Records a subject token as used until `expires_at`: `false` when it was
    /// already (a replay). The primary key makes this one atomic decision
    /// across every instance.
    pub async fn use_subject_token(&self, token_key: &str, expires_at: i64) -> Result<bool> {
        let sql = "INSERT INTO subject_token_uses (token_key, expires_at) VALUES ($1, $2) \
                   ON CONFLICT (token_key) DO NOTHING";
        self.changed_one(sql, (token_key, expires_at)).await
    }

    /// Forgets used subject tokens that have expired anyway.
    pub async fn prune_subject_token_uses(&self, now: i64) -> Result<u64> {
        let sql = "DELETE FROM subject_token_uses WHERE expires_at <= $1";
        self.execute(sql, (now,)).await
    }
}
