//! `auth status`: which environment, server, profile and credential are in use,
//! where the credential came from, what its claims say, and which sources it
//! overrides. Works offline: the claims are decoded, not verified, and a
//! cached OAuth login is described, not refreshed.

use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use crate::texts::printable as p;
use serde::Serialize;
use tessera_client::config::display_url;
use tessera_client::{
    Credential, Error as ClientError, FoundSession, KeychainProblem, KeychainRef, ProfileFrom,
    Source,
};
use tessera_proto::ApiKey;

#[derive(Debug, Default, clap::Args)]
pub struct StatusArgs {
    #[arg(long, value_name = "KEY", value_parser = crate::args::api_key_arg, hide = true)]
    pub api_key: Option<ApiKey>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub environment: String,
    pub server: Option<String>,
    pub profile: Option<String>,
    /// `flag`, `env` or `current`.
    pub profile_from: Option<&'static str>,
    /// `flag`, `env`, `credentials_file`, `dotenv`, or `oauth` for a
    /// profile's OAuth login.
    pub source: &'static str,
    pub source_detail: String,
    /// Where the secret itself is kept: `keychain` (the OS keychain; the
    /// credentials file holds only `keychain`, the reference), `file`,
    /// `env`, `flag` or `dotenv`.
    pub storage: &'static str,
    /// The keychain entry, when `storage` is `keychain`.
    pub keychain: Option<KeychainRef>,
    /// The selected profile keeps its secret in a keychain that could not
    /// be read, and a higher-priority source (flag, variable) is in use.
    pub keychain_problem: Option<ProblemReport>,
    /// First and last four characters (of the access token for `oauth`).
    pub key: String,
    pub key_id: Option<String>,
    pub account_id: Option<String>,
    pub scope: Option<String>,
    /// Unix seconds; null when the key does not expire or is not a JWS.
    pub expires_at: Option<i64>,
    pub expired: bool,
    /// The profile's OAuth login, when it is what requests use.
    pub oauth: Option<OAuthStatus>,
    /// Lower-priority sources that also hold a key and are ignored.
    pub overrides: Vec<Overridden>,
}

/// A cached OAuth login as `status` shows it.
#[derive(Debug, Serialize)]
pub struct OAuthStatus {
    /// `client_credentials`, `web`, `device` or `session`.
    pub method: &'static str,
    /// The method in words, for people.
    #[serde(skip)]
    pub method_description: String,
    /// The `auth login` flag that logs in this way again.
    #[serde(skip)]
    pub login_flag: &'static str,
    /// Client credentials: the masked API key sent as `customer_key`.
    pub customer_key: Option<String>,
    pub client_id: Option<String>,
    pub issuer: Option<String>,
    pub scope: Option<String>,
    /// The assurance level (`acr`); `"0"` for token-URL sessions.
    pub level: Option<String>,
    /// Unix seconds; when the access token expires.
    pub expires_at: Option<i64>,
    /// The access token has expired (the next use renews it when `renewable`).
    pub expired: bool,
    /// A new access token can be had without logging in again.
    pub renewable: bool,
    /// Unix seconds; when the current access token was obtained.
    pub obtained_at: i64,
    /// The thumbprint of the DPoP key the tokens are bound to (RFC 9449):
    /// requests prove this machine holds it, and the token alone is refused.
    pub dpop_jkt: Option<String>,
}

/// A [`KeychainProblem`] as `status` shows it.
#[derive(Debug, Serialize)]
pub struct ProblemReport {
    /// A stable name: `no_session_bus`, `no_secret_service`, `locked`,
    /// `denied`, `timed_out`, `missing`, `unreadable`, `unsupported`,
    /// `platform`.
    pub kind: &'static str,
    pub message: String,
    pub fix: &'static str,
}

impl From<&KeychainProblem> for ProblemReport {
    fn from(problem: &KeychainProblem) -> Self {
        ProblemReport {
            kind: problem.kind(),
            message: problem.to_string(),
            fix: problem.fix(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Overridden {
    pub source: &'static str,
    pub source_detail: String,
}

pub fn run(args: &StatusArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let report = report(args, ctx, io)?;
    if args.json {
        super::print_json(io, &report)?;
    } else {
        print_human(&report, ctx, io)?;
    }
    if let Some(oauth) = report.oauth.as_ref().filter(|_| report.expired) {
        return Err(CliError::Expired {
            message: format!(
                "the {} has expired and cannot be renewed",
                report.source_detail
            ),
            hint: format!(
                "log in again: `{} auth login {}`",
                ctx.spec.name, oauth.login_flag
            ),
        });
    }
    if report.expired {
        return Err(CliError::Expired {
            message: format!("the API key from {} has expired", report.source_detail),
            hint: super::new_key_hint(report.source, ctx),
        });
    }
    Ok(())
}

/// Every source that holds a credential, best first, and the profile's OAuth
/// login: the facts behind any `status`. Permission warnings go to stderr.
pub fn sources(
    ctx: &Ctx,
    api_key_flag: Option<&ApiKey>,
    io: &mut Io,
) -> Result<tessera_client::Resolution, CliError> {
    let resolution = ctx.resolver(api_key_flag).all()?;
    super::print_warnings(io, &resolution.warnings)?;
    Ok(resolution)
}

/// The status as data, for `--json` and the human form.
pub fn report(args: &StatusArgs, ctx: &Ctx, io: &mut Io) -> Result<StatusReport, CliError> {
    let resolution = sources(ctx, args.api_key.as_ref(), io)?;
    let selection = resolution
        .selection
        .clone()
        .expect("resolving every source selects a profile");
    let profile_from = selection.profile.as_ref().map(|(_, from)| match from {
        ProfileFrom::Flag => "flag",
        ProfileFrom::EnvVar(_) => "env",
        ProfileFrom::Current => "current",
    });
    // The selected profile's secret is in a keychain that cannot be read:
    // unless a flag or variable stands in for it, that is the status.
    let keychain_problem = resolution.keychain_problem.as_ref();
    let stands_in = resolution
        .winner()
        .is_some_and(|f| matches!(f.source, Source::Flag | Source::EnvVar(_)));
    if let Some(problem) = keychain_problem.filter(|_| !stands_in) {
        return Err(ClientError::Keychain {
            profile: selection.profile_name().map(str::to_owned),
            problem: problem.clone(),
        }
        .into());
    }
    let keychain_problem = keychain_problem.map(ProblemReport::from);
    if let Some(Credential::OAuth(found)) = resolution.credential() {
        return Ok(oauth_report(
            ctx,
            &resolution,
            found,
            selection,
            profile_from,
        ));
    }
    let Some(found) = resolution.winner() else {
        let server = selection
            .server
            .as_deref()
            .map_or("no server configured".into(), display_url);
        // A CLI of one fixed profile has it whether or not anything is stored.
        let known = |profile: &str| {
            ctx.one_profile.is_some()
                || ctx
                    .store
                    .read_config()
                    .is_ok_and(|c| c.profiles.contains_key(profile))
        };
        let message = match selection.profile_name() {
            Some(profile) if !known(profile) => format!(
                "not logged in: there is no profile {profile:?} (environment {:?}, {server})",
                selection.environment
            ),
            Some(profile) => format!(
                "not logged in: profile {profile:?} has no API key (environment {:?}, {server})",
                selection.environment
            ),
            None => format!(
                "not logged in to environment {:?} ({server})",
                selection.environment
            ),
        };
        return Err(CliError::NotLoggedIn {
            message,
            hint: ctx.login_hint(),
        });
    };
    // The key in use is what the status is about: a blank one is not "logged in".
    super::credential::check_found_key(found)?;
    let claims = super::claims_of(&found.key);
    let claims = claims.as_ref().map(|c| c.claims());
    let expires_at = claims.and_then(|c| c.exp);
    let mut overrides: Vec<Overridden> = resolution
        .overridden()
        .iter()
        .map(|f| Overridden {
            source: f.source.kind(),
            source_detail: f.source.to_string(),
        })
        .collect();
    if let Some(session) = &resolution.session {
        overrides.push(Overridden {
            source: "oauth",
            source_detail: session_detail(session),
        });
    }
    Ok(StatusReport {
        server: selection.server.as_deref().map(display_url),
        profile: selection.profile_name().map(str::to_owned),
        profile_from,
        environment: selection.environment,
        source: found.source.kind(),
        source_detail: found.source.to_string(),
        storage: found.source.storage(),
        keychain: match &found.source {
            Source::Profile { keychain, .. } => keychain.clone(),
            _ => None,
        },
        keychain_problem,
        key: found.key.masked(),
        key_id: claims.map(|c| c.jti.clone()),
        account_id: claims.map(|c| c.sub.clone()),
        scope: claims.map(|c| c.scope.to_string()),
        expires_at,
        expired: expires_at.is_some_and(|exp| exp <= ctx.now),
        oauth: None,
        overrides,
    })
}

fn session_detail(found: &FoundSession) -> String {
    let place = match &found.keychain {
        Some(_) => "the OS keychain".to_owned(),
        None => found.path.display().to_string(),
    };
    format!(
        "{} login of profile {:?} in {place}",
        found.session.method, found.profile
    )
}

/// The profile's own API key next to its OAuth login: a client-credentials
/// login's customer key, part of the login rather than overridden by it.
fn is_own_key(key: &tessera_client::Found, login: &FoundSession) -> bool {
    matches!(&key.source, tessera_client::Source::Profile { name, .. } if *name == login.profile)
}

fn oauth_report(
    ctx: &Ctx,
    resolution: &tessera_client::Resolution,
    found: &FoundSession,
    selection: tessera_client::Selection,
    profile_from: Option<&'static str>,
) -> StatusReport {
    let session = &found.session;
    StatusReport {
        server: selection.server.as_deref().map(display_url),
        profile: selection.profile_name().map(str::to_owned),
        profile_from,
        environment: selection.environment,
        source: "oauth",
        source_detail: session_detail(found),
        storage: if found.keychain.is_some() {
            "keychain"
        } else {
            "file"
        },
        keychain: found.keychain.clone(),
        keychain_problem: None,
        key: session.access_token.masked(),
        key_id: None,
        account_id: None,
        scope: session.scope.clone(),
        expires_at: session.expires_at,
        // An expired access token is renewed on use; only a login that cannot
        // be renewed has expired.
        expired: session.is_expired(ctx.now) && !session.renewable(),
        oauth: Some(OAuthStatus {
            method: session.method.as_str(),
            method_description: session.method_description(),
            login_flag: session.method.login_flag(),
            customer_key: resolution
                .found
                .iter()
                .find(|f| is_own_key(f, found))
                .map(|f| f.key.masked()),
            client_id: session.client_id.clone(),
            issuer: session.issuer.clone(),
            scope: session.scope.clone(),
            level: session.acr.clone(),
            expires_at: session.expires_at,
            expired: session.is_expired(ctx.now),
            renewable: session.renewable(),
            obtained_at: session.obtained_at,
            dpop_jkt: session.dpop_key.as_ref().map(|k| k.thumbprint().to_owned()),
        }),
        overrides: resolution
            .found
            .iter()
            .filter(|f| !is_own_key(f, found))
            .map(|f| Overridden {
                source: f.source.kind(),
                source_detail: f.source.to_string(),
            })
            .collect(),
    }
}

fn print_human(r: &StatusReport, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let out = &mut *io.stdout;
    writeln!(out, "Environment: {}", r.environment)?;
    let server = r.server.as_deref().unwrap_or("(not configured)");
    // Say when the URL variable, not the stored configuration, picked the server.
    if r.environment == tessera_client::DEFAULT_ENVIRONMENT
        && ctx.env.var(ctx.spec.url_env).is_some()
    {
        writeln!(
            out,
            "Server:      {} (from {})",
            p(server),
            ctx.spec.url_env
        )?;
    } else {
        writeln!(out, "Server:      {}", p(server))?;
    }
    let profile = match (&r.profile, r.profile_from) {
        (Some(name), Some("flag")) => format!("{name} (from --profile)"),
        (Some(name), Some("env")) => format!("{name} (from {})", ctx.spec.profile_env),
        (Some(name), _) => name.clone(),
        (None, _) => "(none)".into(),
    };
    writeln!(out, "Profile:     {}", p(&profile))?;
    writeln!(out, "Source:      {}", p(&r.source_detail))?;
    if let Some(entry) = &r.keychain {
        writeln!(out, "Keychain:    {}", p(&entry.to_string()))?;
    }
    if let Some(problem) = &r.keychain_problem {
        writeln!(
            out,
            "Note:        the profile's secret is in the OS keychain, which cannot be read: {}; {}",
            problem.message, problem.fix
        )?;
    }
    if let Some(oauth) = &r.oauth {
        return print_oauth(r, oauth, ctx.spec.name, out);
    }
    // The key's claims are decoded unverified: anyone could have written them.
    writeln!(out, "API key:     {}", p(&r.key))?;
    if let Some(id) = &r.key_id {
        writeln!(out, "Key id:      {}", p(id))?;
    }
    if let Some(account) = &r.account_id {
        writeln!(out, "Account:     {}", p(account))?;
    }
    if let Some(scope) = &r.scope {
        writeln!(out, "Scope:       {}", p(scope))?;
    }
    match r.expires_at {
        Some(exp) => expires(out, exp, if r.expired { " (EXPIRED)" } else { "" })?,
        None if r.key_id.is_some() => writeln!(out, "Expires:     never")?,
        None => {}
    }
    for o in &r.overrides {
        writeln!(
            out,
            "Note:        the {} overrides {}",
            p(&r.source_detail),
            p(&o.source_detail)
        )?;
    }
    Ok(())
}

fn print_oauth(
    r: &StatusReport,
    oauth: &OAuthStatus,
    name: &str,
    out: &mut dyn std::io::Write,
) -> Result<(), CliError> {
    writeln!(out, "Login:       OAuth, {}", oauth.method_description)?;
    if let Some(level) = &oauth.level {
        writeln!(out, "Level:       Level {}", p(level))?;
    }
    if let Some(client) = &oauth.client_id {
        writeln!(out, "Client:      {}", p(client))?;
    }
    if let Some(key) = &oauth.customer_key {
        writeln!(out, "Customer key: {}", p(key))?;
    }
    writeln!(out, "Token:       {}", p(&r.key))?;
    if oauth.dpop_jkt.is_some() {
        writeln!(
            out,
            "Binding:     bound to this machine (DPoP): `{name} auth token` output alone will be refused by the server"
        )?;
    }
    if let Some(scope) = &oauth.scope {
        writeln!(out, "Scopes:      {}", p(scope))?;
    }
    match oauth.expires_at {
        Some(exp) => {
            let note = match (oauth.expired, oauth.renewable) {
                (true, true) => " (expired; renewed on next use)",
                (true, false) => " (EXPIRED; log in again)",
                (false, _) => "",
            };
            expires(out, exp, note)?
        }
        None => writeln!(out, "Expires:     unknown (the server did not say)")?,
    }
    for o in &r.overrides {
        writeln!(
            out,
            "Note:        this login overrides {}",
            p(&o.source_detail)
        )?;
    }
    Ok(())
}

fn expires(out: &mut dyn std::io::Write, exp: i64, note: &str) -> std::io::Result<()> {
    writeln!(out, "Expires:     {}{note}", crate::texts::format_time(exp))
}
