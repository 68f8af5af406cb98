//! The `lofty-cli auth` commands. Each takes the context and the streams;
//! every secret reaches the terminal masked, except `show --raw`.

use crate::PROFILE;
use std::time::Duration;
use tessera_cli::auth::credential;
use tessera_cli::{CliError, Ctx, Io};
use tessera_client::oauth::{
    self, BrowserAvailability, Client, ClientCredentialsRequest, OAuthError, ServerMetadata,
    UreqClient, WebLogin, WebLoginEvent,
};
use tessera_client::{
    ApiClient, Authorization, Error as ClientError, LoginMethod, OAuthSession, Source,
};
use tessera_proto::{ApiKey, ClientSecret};

/// A session id from `--sessionid`: its `Debug` does not show it.
#[derive(Clone)]
pub struct SessionId(String);

impl SessionId {
    pub fn new(value: &str) -> Self {
        Self(value.to_owned())
    }
}

const SET_HINT: &str =
    "Save one with `lofty-cli auth set <customer-key>`, or set LOFTY_CUSTOMER_KEY.";

fn no_customer_key() -> CliError {
    CliError::NotLoggedIn {
        message: "No customer key found.".into(),
        hint: SET_HINT.into(),
    }
}

fn path(ctx: &Ctx) -> String {
    ctx.store.credentials_path().display().to_string()
}

fn describe(source: &Source) -> String {
    match source {
        Source::Flag => "--api-key flag".into(),
        Source::EnvVar(name) => format!("{name} environment variable"),
        Source::Profile { path, .. } => path.display().to_string(),
        Source::DotEnv { path, key } => format!("{key} in {}", path.display()),
    }
}

fn format_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// The server: `--api-url`, else `LOFTY_API_URL`, else the default.
fn server(ctx: &Ctx) -> Result<String, CliError> {
    let selection = ctx.resolver(None).select(&ctx.store.read_config()?);
    Ok(selection
        .server
        .ok_or(ClientError::UnknownEnvironment(selection.environment))?)
}

fn env_key_note(ctx: &Ctx, io: &mut Io, what: &str) -> Result<(), CliError> {
    if ctx.env.var(ctx.spec.api_key_env).is_some() {
        writeln!(
            io.stderr,
            "Note: LOFTY_CUSTOMER_KEY is set in this shell and {what}."
        )?;
    }
    Ok(())
}

/// `auth set <customer-key>`.
pub fn set(ctx: &Ctx, io: &mut Io, key: ApiKey) -> Result<(), CliError> {
    let key = ApiKey::new(key.expose_secret().trim());
    if key.expose_secret().is_empty() {
        return Err(CliError::Usage("the customer key is empty".into()));
    }
    ctx.store.update(|_, creds| {
        let entry = creds.profiles.entry(PROFILE.to_owned()).or_default();
        // A client-credentials token acts for the previous key's account.
        if entry
            .oauth
            .as_ref()
            .is_some_and(|s| s.method == LoginMethod::ClientCredentials)
        {
            entry.oauth = None;
        }
        entry.api_key = Some(key);
        Ok(())
    })?;
    writeln!(io.stderr, "Customer key saved to {}", path(ctx))?;
    env_key_note(ctx, io, "takes priority over the saved key")
}

/// `auth show [--raw]`.
pub fn show(ctx: &Ctx, io: &mut Io, raw: bool) -> Result<(), CliError> {
    let resolution = ctx.resolver(None).first()?;
    for warning in &resolution.warnings {
        io.warn(warning)?;
    }
    let found = resolution.winner().ok_or_else(no_customer_key)?;
    if raw {
        writeln!(io.stdout, "{}", found.key.expose_secret())?;
        io.stdout.flush()?;
        writeln!(io.stderr, "(from {})", describe(&found.source))?;
    } else {
        writeln!(io.stdout, "Customer key: {}", found.key.masked())?;
        writeln!(io.stdout, "Source:       {}", describe(&found.source))?;
    }
    Ok(())
}

/// `auth remove`: the saved customer key and the client-credentials token
/// obtained with it. Token-URL and browser logins stay (`logout` clears all).
pub fn remove(ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let removed = ctx.store.update(|_, creds| {
        let Some(entry) = creds.profiles.get_mut(PROFILE) else {
            return Ok(false);
        };
        let mut removed = entry.api_key.take().is_some();
        if entry
            .oauth
            .as_ref()
            .is_some_and(|s| s.method == LoginMethod::ClientCredentials)
        {
            entry.oauth = None;
            removed = true;
        }
        if entry.is_empty() {
            creds.profiles.remove(PROFILE);
        }
        Ok(removed)
    })?;
    if removed {
        writeln!(io.stderr, "Removed the saved customer key and OAuth cache.")?;
    } else {
        writeln!(io.stderr, "No saved customer key or OAuth cache to remove.")?;
    }
    env_key_note(ctx, io, "is not removed")
}

fn discover(http: &UreqClient, server: &str) -> Result<ServerMetadata, CliError> {
    oauth::discover(http, server).map_err(|e| {
        let hint = if e.is_unreachable() {
            format!("is the Lofty API at {server} reachable? Set LOFTY_API_URL or --api-url")
        } else {
            format!("{server} does not publish OAuth metadata (RFC 8414)")
        };
        CliError::from(ClientError::OAuth(e)).with_hint(hint)
    })
}

fn oauth_error(e: OAuthError, hint: Option<String>) -> CliError {
    let error = CliError::from(ClientError::OAuth(e));
    match hint {
        Some(hint) => error.with_hint(hint),
        None => error,
    }
}

fn store_session(ctx: &Ctx, session: OAuthSession) -> Result<(), CliError> {
    ctx.store.update(|_, creds| {
        creds.profiles.entry(PROFILE.to_owned()).or_default().oauth = Some(session);
        Ok(())
    })?;
    Ok(())
}

fn expiry_line(session: &OAuthSession) -> String {
    match session.expires_at {
        Some(exp) => format!("The access token expires at {}.", format_time(exp)),
        None => "The server did not say when the access token expires.".into(),
    }
}

/// `auth login`: client credentials from `LOFTY_CLIENT_ID`/`LOFTY_CLIENT_SECRET`,
/// with the customer key sent as `customer_key`.
pub fn login(ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let names = [ctx.oauth.client_id_env, ctx.oauth.client_secret_env];
    let missing: Vec<&str> = names
        .into_iter()
        .filter(|name| ctx.env.var(name).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(CliError::Usage(format!(
            "missing required environment variable{}: {}\n\
             Set your vendor credentials first, e.g.\n  \
             export LOFTY_CLIENT_ID=<vendor client ID>\n  \
             export LOFTY_CLIENT_SECRET=<vendor client secret>",
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", ")
        )));
    }
    let client_id = ctx.env.var(names[0]).expect("checked");
    let secret = ClientSecret::new(ctx.env.var(names[1]).expect("checked"));
    let resolution = ctx.resolver(None).first()?;
    let found = resolution.winner().ok_or_else(no_customer_key)?;

    let http = UreqClient::new();
    let meta = discover(&http, &server(ctx)?)?;
    let client = Client::confidential(client_id.clone(), secret.clone());
    let token = oauth::client_credentials(
        &http,
        &meta.token_endpoint,
        &client,
        ClientCredentialsRequest {
            scope: None,
            customer_key: Some(&found.key),
        },
    )
    .map_err(|e| {
        let hint = e
            .oauth_code()
            .is_some()
            .then(|| "check LOFTY_CLIENT_ID, LOFTY_CLIENT_SECRET and the customer key".to_owned());
        oauth_error(e, hint)
    })?;
    let mut session = OAuthSession::from_token(LoginMethod::ClientCredentials, token, ctx.now);
    session.client_id = Some(client_id);
    // Renewing resends the saved customer key; a key that only lives in the
    // environment is not written to disk, so such a login is not renewed.
    if matches!(found.source, Source::Profile { .. }) {
        session.client_secret = Some(secret);
    }
    let session = with_server(session, &meta);
    store_session(ctx, session.clone())?;
    writeln!(
        io.stderr,
        "Obtained an OAuth access_token for the customer key from {}.",
        describe(&found.source)
    )?;
    writeln!(io.stderr, "{}", expiry_line(&session))?;
    Ok(())
}

fn with_server(mut session: OAuthSession, meta: &ServerMetadata) -> OAuthSession {
    session.issuer = Some(meta.issuer.clone());
    session.token_endpoint = Some(meta.token_endpoint.clone());
    session.revocation_endpoint = meta.revocation_endpoint.clone();
    session
}

/// `auth login-session [--tokenurl URL] [--sessionid ID]`: Level 0.
pub fn login_session(
    ctx: &Ctx,
    io: &mut Io,
    token_url: Option<String>,
    session_id: Option<SessionId>,
) -> Result<(), CliError> {
    let token_url = token_url.or_else(|| ctx.env.var(ctx.oauth.token_url_env));
    let session_id = session_id
        .map(|s| s.0)
        .or_else(|| ctx.env.var(ctx.oauth.session_id_env));
    let mut missing = Vec::new();
    if token_url.is_none() {
        missing.push("LOFTY_TOKEN_URL (or --tokenurl <url>)");
    }
    if session_id.is_none() {
        missing.push("LOFTY_SESSION_ID (or --sessionid <id>)");
    }
    let (Some(token_url), Some(session_id)) = (token_url, session_id) else {
        return Err(CliError::Usage(format!(
            "missing required {}: {}",
            if missing.len() > 1 {
                "settings"
            } else {
                "setting"
            },
            missing.join(", ")
        )));
    };
    let http = UreqClient::new();
    let token = oauth::session_token(&http, &token_url, &session_id).map_err(|e| {
        let hint = e
            .oauth_code()
            .is_some()
            .then(|| "session IDs are single use; get a new session ID and try again".to_owned());
        oauth_error(e, hint)
    })?;
    let session = OAuthSession::from_token(LoginMethod::Session, token, ctx.now);
    store_session(ctx, session.clone())?;
    writeln!(io.stderr, "Authenticated via Token URL (Level 0).")?;
    writeln!(io.stderr, "{}", expiry_line(&session))?;
    Ok(())
}

/// `auth login-browser`: authorization code + PKCE with the public client
/// `lofty-cli`; prints the URL when no browser can be opened.
pub fn login_browser(ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let http = UreqClient::new();
    let meta = discover(&http, &server(ctx)?)?;
    let authorize = oauth::require_endpoint(&meta.authorization_endpoint, "authorization endpoint")
        .map_err(|e| oauth_error(e, None))?;
    let client = Client::public(ctx.oauth.default_client_id);
    let mut login = WebLogin::new(authorize, &meta.token_endpoint, &client);
    login.issuer = Some(&meta.issuer);
    login.timeout = Duration::from_secs(300);
    let env = |name: &str| ctx.env.var(name).map(std::ffi::OsString::from);
    let browser = match oauth::browser_availability(false, &env) {
        BrowserAvailability::Usable => Some(ctx.browser),
        BrowserAvailability::Unavailable(why) => {
            writeln!(io.stderr, "Cannot open a browser here: {why}.")?;
            None
        }
    };
    let paste = Box::new(std::io::BufReader::new(std::io::stdin()));
    let stderr = &mut *io.stderr;
    let token = oauth::login_with_browser(&http, &login, browser, paste, &mut |event| {
        let _ = match event {
            WebLoginEvent::BrowserOpened { url } => writeln!(
                stderr,
                "Opening your browser for authorization. If it does not open, visit:\n\n  {url}\n\nWaiting for authorization…"
            ),
            WebLoginEvent::OpenManually { url, open_error } => {
                if let Some(error) = open_error {
                    let _ = writeln!(stderr, "Could not open a browser: {error}");
                }
                writeln!(
                    stderr,
                    "Open this URL in a browser to authorize:\n\n  {url}\n\nWaiting for authorization… If the browser cannot reach this machine, paste the address it ends on here and press Enter:"
                )
            }
        };
    })
    .map_err(|e| {
        let hint = matches!(
            e,
            OAuthError::TimedOut { .. } | OAuthError::StateMismatch | OAuthError::InvalidInput(_)
        )
        .then(|| "run `lofty-cli auth login-browser` again".to_owned());
        oauth_error(e, hint)
    })?;
    let mut session = OAuthSession::from_token(LoginMethod::Web, token, ctx.now);
    session.client_id = Some(client.id().to_owned());
    let session = with_server(session, &meta);
    store_session(ctx, session.clone())?;
    writeln!(io.stderr, "Authorized. The PKCE token is saved.")?;
    writeln!(io.stderr, "{}", expiry_line(&session))?;
    Ok(())
}

/// `auth logout`: everything stored locally; exported variables stay.
pub fn logout(ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let had = ctx.store.update(|_, creds| {
        Ok(creds
            .profiles
            .remove(PROFILE)
            .is_some_and(|c| !c.is_empty()))
    })?;
    if had {
        writeln!(
            io.stderr,
            "Removed all locally stored authentication credentials (Token URL cache, PKCE token, OAuth cache, customer key)."
        )?;
    } else {
        writeln!(
            io.stderr,
            "No locally stored authentication credentials to remove."
        )?;
    }
    writeln!(
        io.stderr,
        "Environment variables already exported in your current shell are not removed."
    )?;
    let exported: Vec<&str> = [
        ctx.spec.api_key_env,
        ctx.oauth.client_id_env,
        ctx.oauth.client_secret_env,
        ctx.oauth.token_url_env,
        ctx.oauth.session_id_env,
    ]
    .into_iter()
    .filter(|name| ctx.env.var(name).is_some())
    .collect();
    if !exported.is_empty() {
        writeln!(
            io.stderr,
            "Still set in this shell: {} (run `unset {}` to remove them).",
            exported.join(", "),
            exported.join(" ")
        )?;
    }
    Ok(())
}

/// `auth status`: the server, the customer key and the OAuth login, and which
/// of them requests use. Exit 3 when there is neither.
pub fn status(ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let resolution = ctx.resolver(None).all()?;
    for warning in &resolution.warnings {
        io.warn(warning)?;
    }
    let out = &mut *io.stdout;
    writeln!(out, "API URL:      {}", server(ctx)?)?;
    writeln!(out, "Credentials:  {}", path(ctx))?;
    match resolution.winner() {
        Some(found) => {
            writeln!(
                out,
                "Customer key: {} (from {})",
                found.key.masked(),
                describe(&found.source)
            )?;
            // A key is a JWS with metadata: show its scope and expiry, decoded
            // without verification (the server is the judge).
            if let Some(claims) = tessera_proto::UnverifiedClaims::decode(found.key.expose_secret())
            {
                let claims = claims.claims();
                let expiry = match claims.exp {
                    Some(exp) if exp <= ctx.now => format!("EXPIRED at {}", format_time(exp)),
                    Some(exp) => format!("expires {}", format_time(exp)),
                    None => "does not expire".into(),
                };
                writeln!(
                    out,
                    "              key {}, scope {}, {expiry}",
                    claims.jti, claims.scope
                )?;
            }
        }
        None => writeln!(out, "Customer key: not set")?,
    }
    for ignored in resolution.overridden() {
        writeln!(
            out,
            "              also found in {}, not used",
            describe(&ignored.source)
        )?;
    }
    match &resolution.session {
        Some(found) => {
            let session = &found.session;
            let kind = match session.method {
                LoginMethod::ClientCredentials => "OAuth access_token (client credentials)",
                LoginMethod::Session => "Token URL session (Level 0)",
                LoginMethod::Web => "PKCE token (browser login)",
                LoginMethod::Device => "device login",
            };
            writeln!(out, "OAuth:        {kind}")?;
            let expiry = match session.expires_at {
                Some(exp) if session.is_expired(ctx.now) => {
                    format!("expired at {}", format_time(exp))
                }
                Some(exp) => format!("valid until {}", format_time(exp)),
                None => "no expiry given".into(),
            };
            writeln!(out, "              {expiry}")?;
            if let Some(scope) = &session.scope {
                writeln!(out, "              scope {scope}")?;
            }
        }
        None => writeln!(out, "OAuth:        not logged in")?,
    }
    match resolution.credential() {
        Some(tessera_client::Credential::OAuth(_)) => writeln!(
            out,
            "Requests use: the OAuth access token (Authorization: Bearer)"
        )?,
        Some(tessera_client::Credential::ApiKey(_)) => {
            writeln!(out, "Requests use: the customer key (Authorization: token)")?
        }
        None => {
            return Err(CliError::NotLoggedIn {
                message: "Not authenticated.".into(),
                hint: format!(
                    "{SET_HINT} Or log in with `lofty-cli auth login`, `lofty-cli auth login-session` or `lofty-cli auth login-browser`."
                ),
            });
        }
    }
    Ok(())
}

/// `auth test`: `GET /v1/me` with what requests use.
pub fn test(ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let active = credential::active(ctx, None, io).map_err(|e| match e {
        CliError::NotLoggedIn { .. } => CliError::NotLoggedIn {
            message: "Not authenticated.".into(),
            hint: SET_HINT.into(),
        },
        other => other,
    })?;
    let server = server(ctx)?;
    let me = ApiClient::new(&server)
        .me(&active.authorization)
        .map_err(|e| {
            let hint = match &e {
                ClientError::Unauthorized { .. } => Some(format!(
                    "the credential from {} was rejected: check the customer key, or log in again",
                    active.source_detail
                )),
                ClientError::Forbidden { .. } => Some(
                    "the token is valid but lacks the required permission scope (code 200100); grant it in the Developer Portal and re-authorize".into(),
                ),
                ClientError::Network { .. } => {
                    Some("is the Lofty API reachable? Set LOFTY_API_URL or --api-url".into())
                }
                _ => None,
            };
            let error = CliError::from(e);
            match hint {
                Some(hint) => error.with_hint(hint),
                None => error,
            }
        })?;
    let how = match active.authorization {
        Authorization::ApiKey(_) => "customer key (Authorization: token)",
        Authorization::Bearer(_) => "OAuth access token (Authorization: Bearer)",
    };
    writeln!(
        io.stdout,
        "Authentication OK: {} (account {})",
        me.email, me.account_id
    )?;
    writeln!(io.stdout, "Credential: {how}")?;
    writeln!(io.stdout, "Scope:      {}", me.scope)?;
    if let Some(acr) = &me.acr {
        writeln!(io.stdout, "Level:      {acr}")?;
    }
    Ok(())
}
