//! `auth login --web`: authorization code + PKCE in a browser, redirected to
//! a loopback port on 127.0.0.1 (RFC 8252).
//!
//! The browser is not opened with `--no-browser`, over SSH, or without a
//! display; then the URL is printed and the address the browser ends on (or
//! the bare code) is accepted on stdin, whichever of that and the redirect
//! comes first.

use super::LoginArgs;
use super::oauth as common;
use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use std::time::Duration;
use tessera_client::oauth::{
    self, BrowserAvailability, Client, OAuthError, UreqClient, WebLogin, WebLoginEvent,
};
use tessera_client::{LoginMethod, OAuthSession};

pub fn run(args: &LoginArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let target = common::target(ctx)?;
    let http = UreqClient::new();
    let meta = common::discover(ctx, &http, &target.server)?;
    let authorize = oauth::require_endpoint(&meta.authorization_endpoint, "authorization endpoint")
        .map_err(|e| common::oauth_error(e, None))?;
    let client = Client::public(common::public_client_id(ctx, args.client_id.as_deref()));
    let mut login = WebLogin::new(authorize, &meta.token_endpoint, &client);
    login.issuer = Some(&meta.issuer);
    login.scope = args.scope.as_deref();
    if let Some(seconds) = args.timeout {
        login.timeout = Duration::from_secs(seconds.max(1));
    }

    let env = |name: &str| ctx.env.var(name).map(std::ffi::OsString::from);
    let browser = match oauth::browser_availability(args.no_browser, &env) {
        BrowserAvailability::Usable => Some(ctx.browser),
        BrowserAvailability::Unavailable(why) => {
            writeln!(io.stderr, "Not opening a browser: {why}.")?;
            None
        }
    };
    // The paste is read on a thread of its own from the process's stdin (see
    // `with_process_io`: stdin is not held locked).
    let paste = Box::new(std::io::BufReader::new(std::io::stdin()));
    let stderr = &mut *io.stderr;
    let token = oauth::login_with_browser(&http, &login, browser, paste, &mut |event| {
        let _ = match event {
            WebLoginEvent::BrowserOpened { url } => writeln!(
                stderr,
                "Opened your browser to log in. If it did not open, visit:\n\n    {url}\n\nWaiting for the login to finish in the browser…"
            ),
            WebLoginEvent::OpenManually { url, open_error } => {
                if let Some(error) = open_error {
                    let _ = writeln!(stderr, "Could not open a browser: {error}");
                }
                writeln!(
                    stderr,
                    "Open this URL in a browser to log in:\n\n    {url}\n\nThen return here. If the browser cannot reach this machine, paste the address it ended on (or the code) and press Enter:"
                )
            }
        };
    })
    .map_err(|e| {
        let hint = match &e {
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
        common::oauth_error(e, hint)
    })?;
    let mut session = OAuthSession::from_token(LoginMethod::Web, token, ctx.now);
    session.client_id = Some(client.id().to_owned());
    if session.scope.is_none() {
        session.scope = args.scope.clone();
    }
    let session = common::with_server(session, &meta);
    let profile = common::store_session(ctx, &target, session.clone(), None)?;
    common::report(ctx, io, &target, &profile, &session)
}
