//! `admin app create --account E --name N [--mode development|production]
//! [--redirect-uri U]… [--public] [--client-id ID] [--grant G]… [--rate-limit N/min]`
//! and `admin app update CLIENT_ID [--mode M] [--rate-limit N/min|default]`.

use super::{Ctx, Output};
use crate::digest;
use crate::error::{Error, Result};
use crate::store::{App, AppMode, Store};
use serde_json::json;
use tessera_proto::ClientSecret;

/// The redirect URI public apps get by default: what `tessera auth login --web`
/// listens on, any port.
pub const LOOPBACK_REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// Grant types an app may use (the OAuth token endpoint's `grant_type`, with the
/// device grant's URN shortened).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Grant {
    #[value(name = "client_credentials")]
    ClientCredentials,
    #[value(name = "authorization_code")]
    AuthorizationCode,
    #[value(name = "refresh_token")]
    RefreshToken,
    #[value(
        name = "device_code",
        alias = "urn:ietf:params:oauth:grant-type:device_code"
    )]
    DeviceCode,
}

impl Grant {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::DeviceCode => "device_code",
        }
    }

    /// DESIGN.md: confidential apps get all four; public apps all but
    /// client_credentials (they cannot keep a secret).
    pub fn defaults(public: bool) -> Vec<Grant> {
        let mut grants = vec![
            Self::AuthorizationCode,
            Self::RefreshToken,
            Self::DeviceCode,
        ];
        if !public {
            grants.insert(0, Self::ClientCredentials);
        }
        grants
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Register an OAuth app. Prints client_id and, for confidential apps, the
    /// client_secret (once).
    Create(CreateArgs),
    /// Change an app's mode or rate limit. Running servers apply it within 5 s.
    Update(UpdateArgs),
    /// Approve an app's request for production mode (made in the developer portal
    /// when the server runs with `--production-requires-approval`).
    Approve {
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
}

/// What `create` made: the app, and the secret when it is confidential.
pub struct CreatedApp {
    pub app: App,
    pub client_secret: Option<ClientSecret>,
}

pub async fn run(ctx: &Ctx, command: Command) -> Result<Output> {
    match command {
        Command::Create(args) => {
            let account = ctx.account(&args.account).await?;
            let created = create(&ctx.store, &account.id, args, ctx.now()).await?;
            let app = &created.app;
            let mut json = describe(ctx, app);
            let mut text = format!(
                "Created {} app {} ({}, {})\nclient_id: {}\ngrant_types: {}\n{}\n",
                if app.public { "public" } else { "confidential" },
                app.name,
                app.mode.as_str(),
                account.email,
                app.client_id,
                app.grant_types.join(" "),
                limit_line(ctx, app),
            );
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
            if args.mode.is_none() && args.rate_limit.is_none() {
                return Err(Error::BadRequest(
                    "nothing to change: give --mode and/or --rate-limit".into(),
                ));
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
                "Updated app {} ({})\nmode: {}\n{}\n",
                app.name,
                app.client_id,
                app.mode.as_str(),
                limit_line(ctx, &app)
            );
            Ok(Output {
                json: describe(ctx, &app),
                text,
            })
        }
        Command::Approve { client_id } => {
            if !ctx.store.approve_production(&client_id).await? {
                return Err(Error::NotFound(format!(
                    "app {client_id} has no pending request for production mode"
                )));
            }
            Ok(Output {
                text: format!("App {client_id} is now in production mode"),
                json: json!({ "client_id": client_id, "mode": "production" }),
            })
        }
    }
}

/// The app as `--json` prints it (never the secret; `create` adds that).
fn describe(ctx: &Ctx, app: &App) -> serde_json::Value {
    json!({
        "client_id": app.client_id,
        "name": app.name,
        "mode": app.mode.as_str(),
        "public": app.public,
        "grant_types": app.grant_types,
        "redirect_uris": app.redirect_uris,
        "rate_limit_per_min": effective_limit(ctx, app),
        "rate_limit_source": if app.rate_limit_per_min.is_some() { "app" } else { "mode" },
    })
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

fn valid_client_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// RFC 6749 §3.1.2: absolute, no fragment.
fn valid_redirect_uri(uri: &str) -> bool {
    url::Url::parse(uri).is_ok_and(|u| u.fragment().is_none() && !u.cannot_be_a_base())
}

pub async fn create(
    store: &Store,
    account_id: &str,
    args: CreateArgs,
    now: i64,
) -> Result<CreatedApp> {
    let name = args.name.trim();
    if name.is_empty() {
        return Err(Error::BadRequest("an app needs a name".into()));
    }
    let client_id = match args.client_id {
        Some(id) if valid_client_id(&id) => id,
        Some(id) => {
            return Err(Error::BadRequest(format!(
                "client id {id:?}: use 1-128 letters, digits, `-`, `_`, `.` or `:`"
            )));
        }
        None => crate::ids::app(),
    };
    if let Some(bad) = args.redirect_uris.iter().find(|u| !valid_redirect_uri(u)) {
        return Err(Error::BadRequest(format!(
            "redirect URI {bad:?} must be an absolute URL without a fragment"
        )));
    }
    // A public app is a CLI or native app: without explicit redirect URIs it gets
    // the loopback one, which matches any port (RFC 8252 §7.3).
    let redirect_uris = if args.public && args.redirect_uris.is_empty() {
        vec![LOOPBACK_REDIRECT_URI.to_owned()]
    } else {
        args.redirect_uris
    };
    let mut grants = if args.grants.is_empty() {
        Grant::defaults(args.public)
    } else {
        args.grants
    };
    grants.dedup();
    if args.public && grants.contains(&Grant::ClientCredentials) {
        return Err(Error::BadRequest(
            "a public app cannot use client_credentials: it has no secret".into(),
        ));
    }
    let client_secret = (!args.public).then(|| ClientSecret::new(digest::random_token(32)));
    let app = App {
        client_id,
        account_id: account_id.to_owned(),
        name: name.to_owned(),
        mode: args.mode,
        public: args.public,
        client_secret_hash: client_secret
            .as_ref()
            .map(|s| digest::secret_hash(s.expose_secret())),
        redirect_uris,
        grant_types: grants.iter().map(|g| g.as_str().to_owned()).collect(),
        rate_limit_per_min: args.rate_limit.map(i64::from),
        created_at: now,
    };
    store.insert_app(&app).await?;
    Ok(CreatedApp { app, client_secret })
}
