//! `admin app create --account E --name N [--mode development|production]
//! [--redirect-uri U]… [--public] [--client-id ID] [--grant G]… [--rate-limit N/min]
//! [--scope S]… [--dpop required|optional]` and `admin app update CLIENT_ID [--mode M]
//! [--rate-limit N/min|default] [--dpop required|optional]`.

use super::{Ctx, Output};
use crate::apps::{self, Grant, NewApp};
use crate::audit;
use crate::error::{Error, Result};
use crate::store::{App, AppMode};
use serde_json::json;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Register an OAuth app. Prints client_id and, for confidential apps, the
    /// client_secret (once).
    #[command(after_help = crate::cli::help::APP_CREATE)]
    Create(CreateArgs),
    /// Change an app's mode, rate limit or DPoP requirement. Running servers
    /// apply a rate limit within 5 s, the rest at once.
    Update(UpdateArgs),
    /// Approve an app's request for production mode (made in the developer portal
    /// when the server runs with `--production-requires-approval`).
    Approve {
        /// The app's client id.
        client_id: String,
    },
    /// Give a confidential app a new client secret, printed once; the old one
    /// stops working at once (a leaked secret).
    RotateSecret {
        /// The app's client id.
        client_id: String,
    },
    /// Delete an app. Its users' tokens are revoked first, on every instance.
    Delete {
        /// The app's client id.
        client_id: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    pub client_id: String,
    #[arg(long, value_enum)]
    pub mode: Option<AppMode>,
    /// Requests per minute (`N/min`), or `default` for the mode's limit.
    #[arg(long, value_name = "N/min|default", value_parser = parse_limit_override)]
    pub rate_limit: Option<LimitOverride>,
    /// Whether every token request must carry a DPoP proof (RFC 9449).
    #[arg(long, value_enum)]
    pub dpop: Option<Dpop>,
}

/// `--dpop`: whether an app's token requests must carry a DPoP proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Dpop {
    /// Every token request carries a proof; every token is bound to a key.
    Required,
    /// Tokens are bound when the request carries a proof.
    Optional,
}

/// `--rate-limit` of `app update`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitOverride {
    PerMinute(u32),
    ModeDefault,
}

fn parse_limit_override(s: &str) -> std::result::Result<LimitOverride, String> {
    if s.trim() == "default" {
        Ok(LimitOverride::ModeDefault)
    } else {
        crate::ratelimit::parse_per_minute(s).map(LimitOverride::PerMinute)
    }
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The owning account's email.
    #[arg(long)]
    pub account: String,
    #[arg(long)]
    pub name: String,
    #[arg(long, value_enum, default_value = "development")]
    pub mode: AppMode,
    /// An exact redirect URI (repeatable). Loopback URIs match any port.
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// A public client (a CLI or native app): no secret, PKCE required.
    #[arg(long)]
    pub public: bool,
    /// A fixed client id, e.g. the well-known id a CLI ships with.
    #[arg(long)]
    pub client_id: Option<String>,
    /// Restrict the grant types (repeatable).
    #[arg(long = "grant", value_enum, value_name = "GRANT")]
    pub grants: Vec<Grant>,
    /// Requests per minute (`N/min`), instead of the mode's default (development
    /// 100/min, production 500/min unless configured otherwise).
    #[arg(long, value_name = "N/min", value_parser = crate::ratelimit::parse_per_minute)]
    pub rate_limit: Option<u32>,
    /// A restricted scope the app may be granted (repeatable): `api_keys:write`
    /// lets its tokens create API keys, which outlive the app.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Whether every token request must carry a DPoP proof (RFC 9449).
    /// Default: optional (tokens are bound when a client sends proofs).
    #[arg(long, value_enum)]
    pub dpop: Option<Dpop>,
}

pub async fn run(ctx: &Ctx, command: Command) -> Result<Output> {
    match command {
        Command::Create(args) => {
            let account = ctx.account(&args.account).await?;
            let created = apps::create(&ctx.store, &account.id, args.into(), ctx.now()).await?;
            let app = &created.app;
            let mut json = describe(ctx, app);
            let mut text = format!(
                "Created {} app {} ({}, {})\nclient_id: {}\ngrant_types: {}\n{}\n{}\n",
                if app.public { "public" } else { "confidential" },
                app.name,
                app.mode.as_str(),
                account.email,
                app.client_id,
                app.grant_types.join(" "),
                limit_line(ctx, app),
                dpop_line(app),
            );
            if !app.scopes.is_empty() {
                text.push_str(&format!("restricted scopes: {}\n", app.scopes));
            }
            if let Some(secret) = &created.client_secret {
                json["client_secret"] = json!(secret.expose_secret());
                text.push_str(&format!(
                    "client_secret (shown once, store it now): {}\n",
                    secret.expose_secret()
                ));
            }
            Ok(Output { json, text })
        }
        Command::Update(args) => {
            if args.mode.is_none() && args.rate_limit.is_none() && args.dpop.is_none() {
                return Err(Error::BadRequest(
                    "nothing to change: give --mode, --rate-limit and/or --dpop".into(),
                ));
            }
            if let Some(dpop) = args.dpop
                && !ctx
                    .store
                    .set_app_dpop_required(&args.client_id, dpop == Dpop::Required)
                    .await?
            {
                return Err(Error::NotFound(format!("no app {}", args.client_id)));
            }
            let limit = args.rate_limit.map(|l| match l {
                LimitOverride::PerMinute(n) => Some(i64::from(n)),
                LimitOverride::ModeDefault => None,
            });
            let app = ctx
                .store
                .update_app_limits(&args.client_id, args.mode, limit)
                .await?
                .ok_or_else(|| Error::NotFound(format!("no app {}", args.client_id)))?;
            let text = format!(
                "Updated app {} ({})\nmode: {}\n{}\n{}\n",
                app.name,
                app.client_id,
                app.mode.as_str(),
                limit_line(ctx, &app),
                dpop_line(&app),
            );
            Ok(Output {
                json: describe(ctx, &app),
                text,
            })
        }
        Command::Approve { client_id } => {
            // Approving twice (two operators, a retried script) is done, as
            // revoking a revoked key is.
            let text = if ctx.store.approve_production(&client_id).await? {
                format!("App {client_id} is now in production mode")
            } else {
                match ctx.store.app_by_client_id(&client_id).await? {
                    Some(app) if app.mode == AppMode::Production => {
                        format!("App {client_id} is already in production mode")
                    }
                    Some(_) => {
                        return Err(Error::NotFound(format!(
                            "app {client_id} has no pending request for production mode"
                        )));
                    }
                    None => return Err(Error::NotFound(format!("app {client_id} does not exist"))),
                }
            };
            Ok(Output {
                text,
                json: json!({ "client_id": client_id, "mode": "production" }),
            })
        }
        Command::RotateSecret { client_id } => {
            let app = existing(ctx, &client_id).await?;
            let owner = audit::Actor {
                account_id: &app.account_id,
                ip: None,
            };
            let secret = apps::rotate_secret(&ctx.store, owner, &app, ctx.now()).await?;
            Ok(Output {
                text: format!(
                    "New client_secret for {client_id} (shown once, store it now): {}\nThe old secret no longer works.",
                    secret.expose_secret()
                ),
                json: json!({ "client_id": client_id, "client_secret": secret.expose_secret() }),
            })
        }
        Command::Delete { client_id } => {
            let app = existing(ctx, &client_id).await?;
            let owner = audit::Actor {
                account_id: &app.account_id,
                ip: None,
            };
            apps::delete(&ctx.store, owner, &client_id, ctx.now()).await?;
            Ok(Output {
                text: format!("Deleted app {client_id}; the tokens of its users are revoked"),
                json: json!({ "client_id": client_id, "deleted": true }),
            })
        }
    }
}

async fn existing(ctx: &Ctx, client_id: &str) -> Result<App> {
    ctx.store
        .app_by_client_id(client_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("app {client_id} does not exist")))
}

/// The app as `--json` prints it (never the secret; `create` adds that).
fn describe(ctx: &Ctx, app: &App) -> serde_json::Value {
    json!({
        "client_id": app.client_id,
        "name": app.name,
        "mode": app.mode.as_str(),
        "public": app.public,
        "grant_types": app.grant_types,
        "scopes": app.scopes,
        "redirect_uris": app.redirect_uris,
        "rate_limit_per_min": effective_limit(ctx, app),
        "rate_limit_source": if app.rate_limit_per_min.is_some() { "app" } else { "mode" },
        "dpop": if app.dpop_required { "required" } else { "optional" },
    })
}

fn dpop_line(app: &App) -> &'static str {
    if app.dpop_required {
        "DPoP: required (every token is bound to the key of the machine that asked)"
    } else {
        "DPoP: optional (tokens are bound when the token request carries a proof)"
    }
}

fn effective_limit(ctx: &Ctx, app: &App) -> u32 {
    ctx.settings
        .rate_limit_policy
        .app_limit(app.mode, app.rate_limit_per_min)
}

fn limit_line(ctx: &Ctx, app: &App) -> String {
    let source = if app.rate_limit_per_min.is_some() {
        "set on the app"
    } else {
        "the mode's default"
    };
    format!("rate limit: {}/min ({source})", effective_limit(ctx, app))
}

impl From<CreateArgs> for NewApp {
    fn from(args: CreateArgs) -> Self {
        Self {
            name: args.name,
            mode: args.mode,
            redirect_uris: args.redirect_uris,
            public: args.public,
            client_id: args.client_id,
            grants: args.grants,
            rate_limit: args.rate_limit,
            scopes: args.scopes.iter().map(String::as_str).collect(),
            dpop_required: args.dpop == Some(Dpop::Required),
            self_service: false,
        }
    }
}
