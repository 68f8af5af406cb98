//! `admin trust add --app CLIENT_ID --issuer URL --audience AUD [--subject GLOB]
//! [--claim NAME=GLOB]… [--scope S]…`, `admin trust list [--app CLIENT_ID]` and
//! `admin trust remove ID`: the external issuers whose JWTs an app exchanges
//! for its own tokens (workload identity federation, RFC 8693).

use super::{Ctx, Output};
use crate::error::{Error, Result};
use crate::federation::{self, NewTrustRule};
use crate::store::{Reach, TrustRule};
use serde_json::json;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Trust an issuer's JWTs for an app: a JWT with this issuer and audience
    /// whose claims match the rules is exchanged for a token of the app's account.
    Add(AddArgs),
    /// List trust rules, of all apps or of one.
    List {
        /// Only this app's rules.
        #[arg(long, value_name = "CLIENT_ID")]
        app: Option<String>,
    },
    /// Delete a trust rule. Tokens already exchanged stay valid until they expire.
    Remove {
        /// The rule's id (`trust_…`).
        id: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The app (client id) whose account the exchanged tokens act for.
    #[arg(long, value_name = "CLIENT_ID")]
    pub app: String,
    /// The issuer, exactly as the JWT's `iss` (https, or http on loopback),
    /// e.g. `https://token.actions.githubusercontent.com`.
    #[arg(long, value_name = "URL")]
    pub issuer: String,
    /// The audience the JWT must carry in `aud`.
    #[arg(long, value_name = "AUD")]
    pub audience: String,
    /// A glob on `sub` (`*` matches anything), e.g. 'repo:acme/widgets:ref:refs/heads/main'.
    #[arg(long, value_name = "GLOB")]
    pub subject: Option<String>,
    /// A glob on a named claim (repeatable), e.g. repository=acme/widgets.
    #[arg(long = "claim", value_name = "NAME=GLOB", value_parser = parse_claim)]
    pub claims: Vec<(String, String)>,
    /// The scopes exchanged tokens carry at most (repeatable; default THIRD_PARTY_OPERATION).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
}

fn parse_claim(s: &str) -> std::result::Result<(String, String), String> {
    let (name, pattern) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not NAME=GLOB (e.g. repository=acme/widgets)"))?;
    Ok((name.trim().to_owned(), pattern.to_owned()))
}

/// A rule as `--json` prints it.
pub fn describe(rule: &TrustRule) -> serde_json::Value {
    json!({
        "id": rule.id,
        "client_id": rule.client_id,
        "issuer": rule.issuer,
        "audience": rule.audience,
        "subject": rule.subject,
        "claims": rule.claims,
        "scope": rule.scope,
        "reach": rule.reach.as_str(),
        "created_at": tessera_proto::timestamp::rfc3339(rule.created_at),
    })
}

/// A rule in one line of text.
fn line(rule: &TrustRule) -> String {
    let mut conditions: Vec<String> = rule.subject.iter().map(|s| format!("sub={s}")).collect();
    conditions.extend(rule.claims.iter().map(|(n, p)| format!("{n}={p}")));
    let reach = match rule.reach {
        Reach::Anywhere => "",
        Reach::Public => "  (a member's rule: keys fetched from public addresses only)",
    };
    format!(
        "{}  app {}  issuer {}  audience {}  {}  scope {}{reach}",
        rule.id,
        rule.client_id,
        rule.issuer,
        rule.audience,
        conditions.join(" "),
        rule.scope
    )
}

pub async fn run(ctx: &Ctx, command: Command) -> Result<Output> {
    match command {
        Command::Add(args) => {
            let mut claims = std::collections::BTreeMap::new();
            for (name, pattern) in args.claims {
                if claims.insert(name.clone(), pattern).is_some() {
                    return Err(Error::BadRequest(format!(
                        "--claim {name}=… is given twice; give each claim once"
                    )));
                }
            }
            let new = NewTrustRule {
                client_id: args.app,
                issuer: args.issuer,
                audience: args.audience,
                subject: args.subject,
                claims,
                scope: (!args.scopes.is_empty()).then(|| args.scopes.join(" ")),
                reach: Reach::Anywhere,
            };
            let rule = federation::add(&ctx.store, None, new, ctx.now()).await?;
            Ok(Output {
                text: format!(
                    "Added trust rule {}\n{}\nExchange a token at {}{} (grant_type {}).\n",
                    rule.id,
                    line(&rule),
                    ctx.settings.issuer,
                    crate::oauth::PATH_TOKEN,
                    crate::oauth::GRANT_TOKEN_EXCHANGE,
                ),
                json: describe(&rule),
            })
        }
        Command::List { app } => {
            // A mistyped client id is said, not answered with "No trust rules."
            if let Some(client_id) = &app
                && ctx.store.app_by_client_id(client_id).await?.is_none()
            {
                return Err(Error::NotFound(format!("no app {client_id}")));
            }
            let rules = ctx.store.trust_rules(app.as_deref()).await?;
            let text = if rules.is_empty() {
                "No trust rules.".to_owned()
            } else {
                rules.iter().map(line).collect::<Vec<_>>().join("\n")
            };
            Ok(Output {
                json: json!(rules.iter().map(describe).collect::<Vec<_>>()),
                text,
            })
        }
        Command::Remove { id } => {
            federation::remove(&ctx.store, None, None, &id, ctx.now()).await?;
            Ok(Output {
                text: format!("Removed trust rule {id}"),
                json: json!({ "id": id, "removed": true }),
            })
        }
    }
}
