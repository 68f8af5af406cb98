//! Every word `lofty-cli` prints, every file and variable it names:
//! `lofty-cli-auth.txt` (help pages in Commander's layout, identical to the
//! documentation), `lofty-api-keys.txt` and `lofty-auth-overview.txt`.

use tessera_cli::auth::credential::Active;
use tessera_cli::auth::login::oauth::DiscoveryWords;
use tessera_cli::auth::login::web::WebTexts;
use tessera_cli::commander::{HELP_OPTION, Help};
use tessera_cli::host::ErrorTexts;
use tessera_cli::texts::{SourceWords, describe, format_time, printable as p};
use tessera_cli::{CliError, Ctx, Io};
use tessera_client::oauth::OAuthError;
use tessera_client::{
    AppSpec, Authorization, Credential, DirDefault, Error as ClientError, Found, LoginMethod,
    OAuthSession, OAuthSpec, ReloginCommands, Resolution,
};
use tessera_proto::api::Me;

pub const LOFTY: AppSpec = AppSpec {
    name: "lofty-cli",
    config_dir_env: "LOFTY_CONFIG_DIR",
    config_dir_default: DirDefault::Home(".lofty"),
    config_file: "config.toml",
    credentials_file: "credentials.toml",
    api_key_env: "LOFTY_CUSTOMER_KEY",
    profile_env: "LOFTY_PROFILE",
    url_env: "LOFTY_API_URL",
    default_url: "http://127.0.0.1:8080",
    // The Lofty documents name no `.env`.
    dotenv_file: None,
    dotenv_key: "LOFTY_CUSTOMER_KEY",
    log_env: "LOFTY_LOG",
    key_login: "lofty-cli auth set <customer-key>",
    credentials_format: tessera_client::CredentialsFormat::Toml,
};

pub const LOFTY_OAUTH: OAuthSpec = OAuthSpec {
    default_client_id: "lofty-cli",
    client_id_env: "LOFTY_CLIENT_ID",
    client_secret_env: "LOFTY_CLIENT_SECRET",
    token_url_env: "LOFTY_TOKEN_URL",
    session_id_env: "LOFTY_SESSION_ID",
    id_token_env: "LOFTY_ID_TOKEN",
    relogin: ReloginCommands {
        client_credentials: "lofty-cli auth login",
        web: "lofty-cli auth login-browser",
        // lofty-cli has no device login; its browser login is the interactive one.
        device: "lofty-cli auth login-browser",
        session: "lofty-cli auth login-session",
        federated: "lofty-cli auth login",
    },
};

pub const ERRORS: ErrorTexts = ErrorTexts {
    error: "error: ",
    not_logged_in: "error: ",
    cancelled: None,
    hint: "",
    unreachable: Some("Check that the Lofty API is reachable (LOFTY_API_URL or --api-url)."),
    insecure_http: None,
};

const SOURCES: SourceWords = SourceWords {
    credentials_file: "{path}",
    dotenv: "{key} in {path}",
};

pub const DISCOVERY: DiscoveryWords = DiscoveryWords {
    unreachable: "is the Lofty API at {server} reachable? Set LOFTY_API_URL or --api-url",
    not_oauth: "{server} does not publish OAuth metadata (RFC 8414)",
};

pub const WEB: WebTexts = WebTexts {
    no_browser: "Cannot open a browser here: {why}.",
    opened: "Opening your browser for authorization. If it does not open, visit:\n\n  {url}\n\nWaiting for authorization…",
    open_failed: "Could not open a browser: {error}",
    open_manually: "Open this URL in a browser to authorize:\n\n  {url}\n\nWaiting for authorization… If the browser cannot reach this machine, paste the address it ends on here and press Enter:",
};

// --- help pages ------------------------------------------------------------------

pub const API_URL: &str = "API base URL (overrides LOFTY_API_URL; default http://127.0.0.1:8080)";
pub const SET: &str = "Save your customer key (API key)";
pub const SHOW: &str = "Display current customer key (masked by default)";
pub const REMOVE: &str = "Delete the saved customer key and OAuth cache";
pub const LOGIN: &str = "Obtain an OAuth access_token using customer key + vendor credentials";
pub const STATUS: &str = "Show current authentication status";
pub const LOGIN_SESSION: &str = "Authenticate via Token URL using session ID (Level 0)";
pub const LOGIN_BROWSER: &str = "Authorize via browser using OAuth PKCE flow (like Claude CLI)";
pub const LOGOUT: &str = "Clear all locally stored authentication credentials (Token URL cache, PKCE token, OAuth cache, customer key)";
pub const TEST: &str = "Verify authentication by making a test API call";
pub const HELP: &str = "display help for command";

pub const ROOT: Help = Help {
    name: "",
    usage: "lofty-cli [options] [command]",
    description: "Command-line interface for the Lofty API",
    arguments: &[],
    options: &[
        ("-V, --version", "output the version number"),
        ("--api-url <url>", API_URL),
        HELP_OPTION,
    ],
    commands: &[
        ("auth", "Manage API authentication"),
        ("help [command]", HELP),
    ],
    after: "Environment variables:
  LOFTY_CUSTOMER_KEY   customer key (API key); used instead of the saved one
  LOFTY_API_URL        API base URL (default http://127.0.0.1:8080)
  LOFTY_CLIENT_ID      vendor client ID (auth login)
  LOFTY_CLIENT_SECRET  vendor client secret (auth login)
  LOFTY_TOKEN_URL      token URL (auth login-session)
  LOFTY_SESSION_ID     session ID (auth login-session)
  LOFTY_CONFIG_DIR     configuration directory (default ~/.lofty)

The customer key and tokens are saved in ~/.lofty/credentials.toml (mode 0600).
Requests send API keys as `Authorization: token <key>` and OAuth tokens as
`Authorization: Bearer <token>`.",
};

pub const AUTH: Help = Help {
    name: "auth",
    usage: "lofty-cli auth [options] [command]",
    description: "Manage API authentication",
    arguments: &[],
    options: &[HELP_OPTION],
    commands: &[
        ("set <customer-key>", SET),
        ("show [options]", SHOW),
        ("remove", REMOVE),
        ("login", LOGIN),
        ("status", STATUS),
        ("login-session [options]", LOGIN_SESSION),
        ("login-browser", LOGIN_BROWSER),
        ("logout", LOGOUT),
        ("test", TEST),
        ("help [command]", HELP),
    ],
    after: "",
};

/// A page of `lofty-cli auth NAME --help` with only `--help` for options.
const fn plain(
    name: &'static str,
    usage: &'static str,
    description: &'static str,
    after: &'static str,
) -> Help<'static> {
    Help {
        name,
        usage,
        description,
        arguments: &[],
        options: &[HELP_OPTION],
        commands: &[],
        after,
    }
}

/// `lofty-cli auth NAME --help`, and `lofty-cli auth help NAME`.
pub const PAGES: [Help; 10] = [
    Help {
        arguments: &[("customer-key", "Your Lofty customer key")],
        ..plain(
            "set",
            "lofty-cli auth set [options] <customer-key>",
            SET,
            "Example:\n  lofty-cli auth set eyJhbGciOiJIUzI1NiJ9...",
        )
    },
    Help {
        options: &[("--raw", "Show the full unmasked key"), HELP_OPTION],
        ..plain(
            "show",
            "lofty-cli auth show [options]",
            SHOW,
            "Example:\n  lofty-cli auth show\n  lofty-cli auth show --raw",
        )
    },
    plain(
        "remove",
        "lofty-cli auth remove [options]",
        REMOVE,
        "Example:\n  lofty-cli auth remove",
    ),
    plain(
        "login",
        "lofty-cli auth login [options]",
        LOGIN,
        "Requires environment variables:
  LOFTY_CLIENT_ID      Vendor client ID
  LOFTY_CLIENT_SECRET  Vendor client secret

Example:
  lofty-cli auth login",
    ),
    plain(
        "status",
        "lofty-cli auth status [options]",
        STATUS,
        "Example:\n  lofty-cli auth status",
    ),
    Help {
        options: &[
            (
                "--tokenurl <url>",
                "Token URL (overrides LOFTY_TOKEN_URL env var)",
            ),
            (
                "--sessionid <id>",
                "Session ID (overrides LOFTY_SESSION_ID env var)",
            ),
            HELP_OPTION,
        ],
        ..plain(
            "login-session",
            "lofty-cli auth login-session [options]",
            LOGIN_SESSION,
            "Requires environment variables (or CLI flags):
  LOFTY_TOKEN_URL   URL to obtain tokens from
  LOFTY_SESSION_ID  Session ID to authenticate with

Example:
  lofty-cli auth login-session
  lofty-cli auth login-session --tokenurl https://example.com/token --sessionid abc123",
        )
    },
    plain(
        "login-browser",
        "lofty-cli auth login-browser [options]",
        LOGIN_BROWSER,
        "This opens a browser for authorization. If browser cannot be opened,
a URL is printed for manual copy-paste.

Example:
  lofty-cli auth login-browser",
    ),
    plain(
        "logout",
        "lofty-cli auth logout [options]",
        LOGOUT,
        "Removes all locally stored authentication credentials.
This includes PKCE token, OAuth cache, and customer key.
Environment variables already exported in your current shell are not removed.

Example:
  lofty-cli auth logout",
    ),
    plain(
        "test",
        "lofty-cli auth test [options]",
        TEST,
        "Example:\n  lofty-cli auth test",
    ),
    plain("help", "lofty-cli auth help [options] [command]", HELP, ""),
];

/// The help page of a documented `auth` command.
pub fn page(name: &str) -> String {
    tessera_cli::commander::find(&PAGES, name).expect("a documented command")
}

// --- errors ------------------------------------------------------------------------

const SET_HINT: &str =
    "Save one with `lofty-cli auth set <customer-key>`, or set LOFTY_CUSTOMER_KEY.";

pub fn empty_key() -> CliError {
    CliError::Usage("the customer key is empty".into())
}

pub fn no_customer_key() -> CliError {
    CliError::NotLoggedIn {
        message: "No customer key found.".into(),
        hint: SET_HINT.into(),
    }
}

pub fn not_authenticated(with_logins: bool) -> CliError {
    let logins = " Or log in with `lofty-cli auth login`, `lofty-cli auth login-session` or `lofty-cli auth login-browser`.";
    CliError::NotLoggedIn {
        message: "Not authenticated.".into(),
        hint: format!("{SET_HINT}{}", if with_logins { logins } else { "" }),
    }
}

pub fn missing_vendor(missing: &[&str]) -> CliError {
    CliError::Usage(format!(
        "missing required environment variable{}: {}\n\
         Set your vendor credentials first, e.g.\n  \
         export LOFTY_CLIENT_ID=<vendor client ID>\n  \
         export LOFTY_CLIENT_SECRET=<vendor client secret>",
        if missing.len() > 1 { "s" } else { "" },
        missing.join(", ")
    ))
}

pub fn missing_session(token_url: bool, session_id: bool) -> CliError {
    let missing: Vec<&str> = [
        (token_url, "LOFTY_TOKEN_URL (or --tokenurl <url>)"),
        (session_id, "LOFTY_SESSION_ID (or --sessionid <id>)"),
    ]
    .into_iter()
    .filter_map(|(missing, what)| missing.then_some(what))
    .collect();
    CliError::Usage(format!(
        "missing required {}: {}",
        if missing.len() > 1 {
            "settings"
        } else {
            "setting"
        },
        missing.join(", ")
    ))
}

pub fn vendor_hint(e: &OAuthError) -> Option<String> {
    e.oauth_code()
        .is_some()
        .then(|| "check LOFTY_CLIENT_ID, LOFTY_CLIENT_SECRET and the customer key".to_owned())
}

/// What to do when the token URL did not give a token. Neither
/// LOFTY_API_URL nor --api-url plays a part in `login-session`: its hints
/// name the token URL and the session ID.
pub fn session_hint(e: &OAuthError) -> Option<String> {
    const URL: &str = "the token URL (--tokenurl or LOFTY_TOKEN_URL)";
    let hint = match e {
        _ if e.is_invalid_grant() => {
            "session IDs are single use; get a new session ID and try again".to_owned()
        }
        OAuthError::Unreachable { .. } => format!("check that {URL} is right and reachable"),
        OAuthError::Rejected {
            status: Some(404), ..
        }
        | OAuthError::BadResponse { status: 404, .. } => {
            format!("nothing is there: check {URL}")
        }
        OAuthError::Rejected { .. } => {
            format!("check {URL} and the session ID (--sessionid or LOFTY_SESSION_ID)")
        }
        OAuthError::BadResponse { .. } => {
            format!("that is not a token URL: check {URL}")
        }
        _ => return None,
    };
    Some(hint)
}

pub fn browser_hint(e: &OAuthError) -> Option<String> {
    matches!(
        e,
        OAuthError::TimedOut { .. } | OAuthError::StateMismatch | OAuthError::InvalidInput(_)
    )
    .then(|| "run `lofty-cli auth login-browser` again".to_owned())
}

pub fn test_failed(active: &Active, e: ClientError) -> CliError {
    let hint = match &e {
        ClientError::Unauthorized { .. } => Some(format!(
            "the credential from {} was rejected: check the customer key, or log in again",
            active.source_detail
        )),
        // 200100 is the documented missing-scope refusal; any other 403 is
        // the server's own words, which the error already carries.
        ClientError::Forbidden {
            code: Some(200100), ..
        } => Some(
            "the token is valid but lacks the required permission scope (code 200100); grant it in the Developer Portal and re-authorize".into(),
        ),
        ClientError::Network { .. } => {
            Some("is the Lofty API reachable? Set LOFTY_API_URL or --api-url".into())
        }
        _ => None,
    };
    CliError::from(e).maybe_hint(hint)
}

// --- reports -------------------------------------------------------------------------

fn env_key_note(ctx: &Ctx, io: &mut Io, what: &str) -> std::io::Result<()> {
    if ctx.env.var(ctx.spec.api_key_env).is_some() {
        writeln!(
            io.stderr,
            "Note: LOFTY_CUSTOMER_KEY is set in this shell and {what}."
        )?;
    }
    Ok(())
}

pub fn saved(ctx: &Ctx, io: &mut Io) -> std::io::Result<()> {
    writeln!(
        io.stderr,
        "Customer key saved to {}",
        ctx.store.credentials_path().display()
    )?;
    env_key_note(ctx, io, "takes priority over the saved key")
}

pub fn show(io: &mut Io, found: &Found, raw: bool) -> std::io::Result<()> {
    let source = describe(&found.source, &SOURCES);
    // A key from the environment may hold anything; one a terminal would act
    // on is no usable key, so escaping it changes no key that works.
    if raw {
        writeln!(io.stdout, "{}", p(found.key.expose_secret()))?;
        io.stdout.flush()?;
        writeln!(io.stderr, "(from {source})")
    } else {
        writeln!(io.stdout, "Customer key: {}", p(&found.key.masked()))?;
        writeln!(io.stdout, "Source:       {source}")
    }
}

pub fn removed(ctx: &Ctx, io: &mut Io, removed: bool) -> std::io::Result<()> {
    if removed {
        writeln!(io.stderr, "Removed the saved customer key and OAuth cache.")?;
    } else {
        writeln!(io.stderr, "No saved customer key or OAuth cache to remove.")?;
    }
    env_key_note(ctx, io, "is not removed")
}

fn expiry(session: &OAuthSession) -> String {
    match session.expires_at {
        Some(exp) => format!("The access token expires at {}.", format_time(exp)),
        None => "The server did not say when the access token expires.".into(),
    }
}

pub fn client_credentials(io: &mut Io, key: &Found, session: &OAuthSession) -> std::io::Result<()> {
    writeln!(
        io.stderr,
        "Obtained an OAuth access_token for the customer key from {}.",
        describe(&key.source, &SOURCES)
    )?;
    writeln!(io.stderr, "{}", expiry(session))
}

pub fn token_url(io: &mut Io, session: &OAuthSession) -> std::io::Result<()> {
    writeln!(io.stderr, "Authenticated via Token URL (Level 0).")?;
    writeln!(io.stderr, "{}", expiry(session))
}

pub fn browser(io: &mut Io, session: &OAuthSession) -> std::io::Result<()> {
    writeln!(io.stderr, "Authorized. The PKCE token is saved.")?;
    writeln!(io.stderr, "{}", expiry(session))
}

pub fn logged_out(ctx: &Ctx, io: &mut Io, had: bool) -> std::io::Result<()> {
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

/// The server, the customer key and the OAuth login, and which of them
/// requests use.
pub fn status(ctx: &Ctx, io: &mut Io, server: &str, r: &Resolution) -> std::io::Result<()> {
    let out = &mut *io.stdout;
    writeln!(out, "API URL:      {}", p(server))?;
    writeln!(
        out,
        "Credentials:  {}",
        ctx.store.credentials_path().display()
    )?;
    match r.winner() {
        Some(found) => {
            writeln!(
                out,
                "Customer key: {} (from {})",
                p(&found.key.masked()),
                describe(&found.source, &SOURCES)
            )?;
            // A key is a JWS with metadata: its scope and expiry, decoded
            // without verification (the server is the judge), so written by
            // anyone: printed printable.
            if let Some(claims) = tessera_cli::auth::claims_of(&found.key) {
                let claims = claims.claims();
                let expiry = match claims.exp {
                    Some(exp) if exp <= ctx.now => format!("EXPIRED at {}", format_time(exp)),
                    Some(exp) => format!("expires {}", format_time(exp)),
                    None => "does not expire".into(),
                };
                writeln!(
                    out,
                    "              key {}, scope {}, {expiry}",
                    p(&claims.jti),
                    p(&claims.scope.to_string())
                )?;
            }
        }
        None => writeln!(out, "Customer key: not set")?,
    }
    for ignored in r.overridden() {
        writeln!(
            out,
            "              also found in {}, not used",
            describe(&ignored.source, &SOURCES)
        )?;
    }
    match &r.session {
        Some(found) => {
            let session = &found.session;
            let kind = match session.method {
                LoginMethod::ClientCredentials => "OAuth access_token (client credentials)",
                LoginMethod::Session => "Token URL session (Level 0)",
                LoginMethod::Web => "PKCE token (browser login)",
                LoginMethod::Device => "device login",
                LoginMethod::Federated => "federated token (workload identity)",
            };
            writeln!(out, "OAuth:        {kind}")?;
            let expiry = match session.expires_at {
                Some(exp) if session.is_expired(ctx.now) && !session.renewable() => format!(
                    "expired at {}, and cannot be renewed: log in again",
                    format_time(exp)
                ),
                Some(exp) if session.is_expired(ctx.now) => {
                    format!(
                        "expired at {} (renewed at the next request)",
                        format_time(exp)
                    )
                }
                Some(exp) => format!("valid until {}", format_time(exp)),
                None => "no expiry given".into(),
            };
            writeln!(out, "              {expiry}")?;
            if let Some(scope) = &session.scope {
                writeln!(out, "              scope {}", p(scope))?;
            }
        }
        None => writeln!(out, "OAuth:        not logged in")?,
    }
    match r.credential() {
        Some(Credential::OAuth(found)) if found.session.is_dpop_bound() => writeln!(
            out,
            "Requests use: the OAuth access token, bound to this machine (Authorization: DPoP, with a proof)\n              the token alone, copied elsewhere, will be refused by the server"
        ),
        Some(Credential::OAuth(_)) => writeln!(
            out,
            "Requests use: the OAuth access token (Authorization: Bearer)"
        ),
        Some(Credential::ApiKey(_)) => {
            writeln!(out, "Requests use: the customer key (Authorization: token)")
        }
        None => Ok(()),
    }
}

pub fn tested(io: &mut Io, active: &Active, me: &Me) -> std::io::Result<()> {
    let how = match active.authorization {
        Authorization::ApiKey(_) => "customer key (Authorization: token)",
        Authorization::Bearer(_) => "OAuth access token (Authorization: Bearer)",
        Authorization::Dpop { .. } => {
            "OAuth access token bound to this machine (Authorization: DPoP, with a proof)"
        }
    };
    // The server's words: printed printable.
    writeln!(
        io.stdout,
        "Authentication OK: {} (account {})",
        p(&me.email),
        p(&me.account_id)
    )?;
    writeln!(io.stdout, "Credential: {how}")?;
    writeln!(io.stdout, "Scope:      {}", p(&me.scope.to_string()))?;
    if let Some(acr) = &me.acr {
        writeln!(io.stdout, "Level:      {}", p(acr))?;
    }
    Ok(())
}
