//! `admin api-key create|list|revoke`.

use super::{Ctx, Output};
use crate::api_keys::{self, NewApiKey};
use crate::error::{Error, Result};
use crate::store::Revoked;
use serde_json::json;
use tessera_proto::Scopes;
use tessera_proto::timestamp::rfc3339;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Issue an API key for an account. Prints the key once.
    #[command(after_help = crate::cli::help::API_KEY_CREATE)]
    Create {
        /// The account's email.
        #[arg(long)]
        account: String,
        /// Lifetime, e.g. `30d`, `12h`. Default: no expiry.
        #[arg(long, value_parser = crate::clock::parse_duration, conflicts_with = "expires_at")]
        expires_in: Option<std::time::Duration>,
        /// Exact expiry, RFC 3339 (e.g. `2027-01-01T00:00:00Z`).
        #[arg(long, value_parser = parse_rfc3339)]
        expires_at: Option<i64>,
        /// Scope the key carries (repeatable); replaces the default
        /// `THIRD_PARTY_OPERATION`.
        #[arg(long = "scope", value_name = "SCOPE", value_parser = parse_scope)]
        scopes: Vec<String>,
        /// A label to recognise the key by.
        #[arg(long)]
        name: Option<String>,
    },
    /// List API keys (never the keys themselves).
    List {
        /// Only this account's keys (email).
        #[arg(long)]
        account: Option<String>,
    },
    /// Revoke an API key; effective on the next request, on every instance.
    Revoke {
        /// The key's id (`key_…`, from `api-key list`), or the leaked key itself
        /// (read from stdin with `-`, so that it stays out of `ps` and history).
        #[arg(value_name = "ID|KEY|-")]
        id: String,
    },
}

/// Scope tokens as RFC 6749 §3.3 allows them (printable ASCII but `"` and
/// `\`: they are quoted in `WWW-Authenticate`), and short enough that the key
/// carrying them still fits in a request's headers.
fn parse_scope(s: &str) -> std::result::Result<String, String> {
    const MAX: usize = 1024;
    if s.len() > MAX {
        return Err(format!("a scope of at most {MAX} characters"));
    }
    let allowed = |c: char| c.is_ascii_graphic() && c != '"' && c != '\\';
    if let Some(bad) = s.chars().find(|&c| !allowed(c) && c != ' ') {
        return Err(format!(
            "{bad:?} cannot be in a scope (RFC 6749 §3.3: printable ASCII but \" and \\)"
        ));
    }
    Ok(s.to_owned())
}

fn parse_rfc3339(s: &str) -> std::result::Result<i64, String> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| format!("expected RFC 3339, e.g. 2027-01-01T00:00:00Z: {e}"))
}

pub async fn run(ctx: &Ctx, command: Command) -> Result<Output> {
    match command {
        Command::Create {
            account,
            expires_in,
            expires_at,
            scopes,
            name,
        } => {
            let account = ctx.account(&account).await?;
            let now = ctx.now();
            let expires_at = match (expires_in, expires_at) {
                (Some(ttl), _) => {
                    Some(now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2)))
                }
                (None, at) => at,
            };
            let scope = (!scopes.is_empty()).then(|| Scopes::parse(&scopes.join(" ")));
            // Both make keys that tests need (an expired key, a key without the
            // platform scope for a 403), so they are said, not refused; said
            // once the key is made, so that a refusal (`--json`: one JSON
            // object on stderr) comes alone.
            let mut warnings = Vec::new();
            if expires_at.is_some_and(|at| at <= now) {
                warnings.push(
                    "warning: this key is expired from the start (its expiry is not in the future)"
                        .to_owned(),
                );
            }
            if let Some(unknown) = (scope.iter().flat_map(|s| s.iter()))
                .find(|s| !crate::oauth::SCOPES_SUPPORTED.contains(s))
            {
                warnings.push(format!(
                    "warning: no endpoint of this server asks for the scope {unknown:?} (it grants {})",
                    crate::oauth::SCOPES_SUPPORTED.join(" "),
                ));
            }
            let keyring = ctx.keyring().await?;
            let issued = api_keys::issue(
                &ctx.store,
                &keyring,
                &ctx.settings.issuer,
                &ctx.settings.api_key_prefix,
                NewApiKey {
                    account_id: account.id,
                    name,
                    scope,
                    expires_at,
                },
                now,
            )
            .await?;
            for warning in warnings {
                eprintln!("{warning}");
            }
            let created = issued.to_created();
            Ok(Output {
                text: format!(
                    "Created API key {} for {}\nscope: {}\nexpires: {}\nkey (shown once, store it now):\n{}\n",
                    created.id,
                    account.email,
                    created.scope,
                    created.expires_at.as_deref().unwrap_or("never"),
                    created.key.expose_secret(),
                ),
                json: json!({
                    "id": created.id,
                    "key": created.key.expose_secret(),
                    "scope": created.scope.to_string(),
                    "expires_at": created.expires_at,
                }),
            })
        }
        Command::List { account } => {
            let account_id = match account {
                Some(email) => Some(ctx.account(&email).await?.id),
                None => None,
            };
            let keys = ctx.store.list_api_keys(account_id.as_deref()).await?;
            let now = ctx.now();
            let mut text = String::new();
            for k in &keys {
                text.push_str(&format!(
                    "{}  {}  {}  {}  expires {}  {}\n",
                    k.id,
                    k.account_id,
                    k.status(now),
                    k.scope,
                    k.expires_at.map(rfc3339).unwrap_or_else(|| "never".into()),
                    tessera_proto::text::printable(k.name.as_deref().unwrap_or("")),
                ));
            }
            if keys.is_empty() {
                text.push_str("No API keys.\n");
            }
            let json = json!({
                "api_keys": keys.iter().map(|k| json!({
                    "id": k.id,
                    "account_id": k.account_id,
                    "name": k.name,
                    "scope": k.scope,
                    "created_at": rfc3339(k.created_at),
                    "expires_at": k.expires_at.map(rfc3339),
                    "revoked_at": k.revoked_at.map(rfc3339),
                    "last_used_at": k.last_used_at.map(rfc3339),
                })).collect::<Vec<_>>()
            });
            Ok(Output { json, text })
        }
        Command::Revoke { id } => {
            let given = match id.as_str() {
                "-" => read_stdin_line()?,
                _ => id,
            };
            // A pasted key is never echoed: not found, it is described, not shown.
            let is_key = given.contains("eyJ");
            let id = match is_key {
                true => api_keys::id_of_presented(&ctx.store, &given)
                    .await?
                    .ok_or_else(|| {
                        Error::NotFound(
                            "the key given is not an API key of this server (or not as issued); `tesserad admin api-key list` shows the ids".into(),
                        )
                    })?,
                false => given,
            };
            match api_keys::revoke(&ctx.store, &id, None, ctx.now()).await? {
                Revoked::NotFound => Err(Error::NotFound(format!(
                    "no API key {id:?}; `tesserad admin api-key list` shows the ids (key_…)"
                ))),
                outcome => Ok(Output {
                    text: if outcome == Revoked::Now {
                        format!("Revoked API key {id}")
                    } else {
                        format!("API key {id} was already revoked")
                    },
                    json: json!({
                        "id": id,
                        "revoked": true,
                        "already_revoked": outcome != Revoked::Now,
                    }),
                }),
            }
        }
    }
}

/// One line of stdin, trimmed: a secret piped in rather than given as an
/// argument.
fn read_stdin_line() -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Error::BadRequest(format!("cannot read stdin: {e}")))?;
    Ok(line.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::parse_scope;

    #[test]
    fn scopes_keep_to_what_rfc_6749_allows() {
        for ok in ["THIRD_PARTY_OPERATION", "api_keys:write read", "a!#[]~"] {
            assert_eq!(parse_scope(ok).as_deref(), Ok(ok));
        }
        for refused in ["x\"y", "a\\b", "tab\there", "é", "\u{1b}[2J"] {
            assert!(parse_scope(refused).is_err(), "{refused:?}");
        }
        assert!(parse_scope(&"s".repeat(1025)).is_err());
    }
}
