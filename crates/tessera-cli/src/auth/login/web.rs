//! `auth login --web`: authorization code + PKCE in a browser, redirected to
//! a loopback port on 127.0.0.1 (RFC 8252).
//!
//! The browser is not opened with `--no-browser`, over SSH, or without a
//! display; then the URL is printed and the address the browser ends on (or
//! the bare code) is accepted on stdin, whichever of that and the redirect
//! comes first.

use super::LoginArgs;
use super::oauth::{self as common, LoginError, TESSERA_DISCOVERY};
use crate::auth::Target;
use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use crate::texts::fill;
use std::time::Duration;
use tessera_client::oauth::{self, BrowserAvailability, OAuthError, WebLogin, WebLoginEvent};
use tessera_client::{LoginMethod, OAuthSession};

/// What a browser login says on stderr while it runs. Templates: `{why}` (no
/// browser can be used), `{url}` (the authorization URL), `{error}`.
pub struct WebTexts {
    pub no_browser: &'static str,
    pub opened: &'static str,
    pub open_failed: &'static str,
    pub open_manually: &'static str,
}

/// What a browser login asks for.
pub struct WebOptions<'a> {
    pub client_id: &'a str,
    pub scope: Option<&'a str>,
    /// How long to wait for the browser (default 300 s).
    pub timeout: Option<Duration>,
    pub no_browser: bool,
}

const TEXTS: WebTexts = WebTexts {
    no_browser: "Not opening a browser: {why}.",
    opened: "Opened your browser to log in. If it did not open, visit:\n\n    {url}\n\nWaiting for the login to finish in the browser…",
    open_failed: "Could not open a browser: {error}",
    open_manually: "Open this URL in a browser to log in:\n\n    {url}\n\nThen return here. If the browser cannot reach this machine, paste the address it ended on (or the code) and press Enter:",
};

pub fn run(args: &LoginArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let target = crate::auth::target(ctx)?;
    let client_id = common::public_client_id(ctx, args.client_id.as_deref());
    let options = WebOptions {
        client_id: &client_id,
        scope: args.scope.as_deref(),
        timeout: args.timeout.map(|s| Duration::from_secs(s.max(1))),
        no_browser: args.no_browser,
    };
    let hint = |e: &OAuthError| match e {
        OAuthError::TimedOut { .. } => Some(format!(
            "run `{} auth login --web` again; --timeout SECS allows more time",
            ctx.spec.name
        )),
        OAuthError::StateMismatch | OAuthError::InvalidInput(_) => Some(format!(
            "run `{} auth login --web` again and paste the address from that login",
            ctx.spec.name
        )),
        _ => None,
    };
    let obtained = obtain(ctx, io, &target, &options, &TEXTS);
    common::finish(ctx, io, &target, obtained, Some(&TESSERA_DISCOVERY), hint)
}

/// A browser login at `target`'s server, saying what happens in `texts`;
/// the session to store. The redirect must carry the server's issuer when
/// its metadata promises one (RFC 9207).
pub fn obtain(
    ctx: &Ctx,
    io: &mut Io,
    target: &Target,
    options: &WebOptions,
    texts: &WebTexts,
) -> Result<OAuthSession, LoginError> {
    let (http, meta) = common::discover(ctx, io, target)?;
    let client = common::public_client(options.client_id, &meta);
    let mut login = WebLogin::for_server(&meta, &client).map_err(LoginError::Setup)?;
    login.scope = options.scope;
    if let Some(timeout) = options.timeout {
        login.timeout = timeout;
    }
    let env = |name: &str| ctx.env.var(name).map(std::ffi::OsString::from);
    let browser = match oauth::browser_availability(options.no_browser, &env) {
        BrowserAvailability::Usable => Some(ctx.browser),
        BrowserAvailability::Unavailable(why) => {
            let why = why.to_string();
            writeln!(io.stderr, "{}", fill(texts.no_browser, &[("why", &why)]))?;
            None
        }
    };
    // The paste is read on a thread of its own from the process's stdin (see
    // `host::with_process_io`: stdin is not held locked).
    let paste = Box::new(std::io::BufReader::new(std::io::stdin()));
    let stderr = &mut *io.stderr;
    let token = oauth::login_with_browser(&http, &login, browser, paste, &mut |event| {
        let _ = match event {
            WebLoginEvent::BrowserOpened { url } => {
                writeln!(stderr, "{}", fill(texts.opened, &[("url", url)]))
            }
            WebLoginEvent::OpenManually { url, open_error } => {
                if let Some(error) = open_error {
                    let error = error.to_string();
                    let _ = writeln!(stderr, "{}", fill(texts.open_failed, &[("error", &error)]));
                }
                writeln!(stderr, "{}", fill(texts.open_manually, &[("url", url)]))
            }
        };
    })
    .map_err(LoginError::Grant)?;
    let session = OAuthSession::from_login(LoginMethod::Web, token, &client, ctx.now);
    Ok(common::completed(session, options.scope, &meta))
}
