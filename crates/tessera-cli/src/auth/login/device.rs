//! `auth login --device`: the device authorization grant (RFC 8628). Prints
//! where to go and the code to enter, then polls at the server's interval
//! (slower after `slow_down`), with a spinner when stderr is a terminal.

use super::LoginArgs;
use super::oauth::{self as common, LoginError, TESSERA_DISCOVERY};
use crate::auth::Target;
use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use crate::texts::fill;
use std::time::Duration;
use tessera_client::oauth::{self, BrowserAvailability};
use tessera_client::{LoginMethod, OAuthSession};
use tessera_proto::OAuthErrorCode;

/// What a device login says on stderr while it runs.
pub struct DeviceTexts {
    /// `{uri}` and `{code}`.
    pub enter_code: &'static str,
    /// `{url}`: the address with the code filled in, when the server has one.
    pub complete: &'static str,
    /// `{minutes}`; `None`: not said.
    pub expires: Option<&'static str>,
    /// Said after opening the browser at the address; `None`: no browser is
    /// opened.
    pub opened: Option<&'static str>,
    pub waiting: &'static str,
    /// `waiting` is a spinner on a terminal (and not shown elsewhere) rather
    /// than a line.
    pub spinner: bool,
}

const TEXTS: DeviceTexts = DeviceTexts {
    enter_code: "To log in, open {uri} in a browser on any device and enter the code:\n\n    {code}\n",
    complete: "Or open this URL, which fills in the code:\n\n    {url}\n",
    expires: Some("The code expires in {minutes} minutes."),
    opened: None,
    waiting: "Waiting for the login to be approved…",
    spinner: true,
};

pub fn run(args: &LoginArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let target = crate::auth::target(ctx)?;
    let client_id = common::public_client_id(ctx, args.client_id.as_deref());
    let obtained = obtain(ctx, io, &target, &client_id, args.scope.as_deref(), &TEXTS);
    common::finish(ctx, io, &target, obtained, Some(&TESSERA_DISCOVERY), |e| {
        let again = format!("run `{} auth login --device` to try again", ctx.spec.name);
        match e.oauth_code() {
            Some(OAuthErrorCode::AccessDenied) => {
                Some(format!("the login was denied in the browser; {again}"))
            }
            Some(OAuthErrorCode::ExpiredToken) => Some(format!(
                "the code expired before the login was approved; {again}"
            )),
            _ => None,
        }
    })
}

/// A device login at `target`'s server with the public client `client_id`,
/// saying what to do in `texts`; the session to store.
pub fn obtain(
    ctx: &Ctx,
    io: &mut Io,
    target: &Target,
    client_id: &str,
    scope: Option<&str>,
    texts: &DeviceTexts,
) -> Result<OAuthSession, LoginError> {
    let (http, meta) = common::discover(ctx, io, target)?;
    let endpoint = oauth::require_endpoint(
        &meta.device_authorization_endpoint,
        "device authorization endpoint",
    )
    .map_err(LoginError::Setup)?;
    let client = common::public_client(client_id, &meta);
    let device = oauth::request_device_authorization(&http, endpoint, &client, scope)
        .map_err(LoginError::Setup)?;

    let values = [
        ("uri", device.verification_uri.as_str()),
        ("code", device.user_code.as_str()),
    ];
    writeln!(io.stderr, "{}", fill(texts.enter_code, &values))?;
    if let Some(complete) = &device.verification_uri_complete {
        writeln!(io.stderr, "{}", fill(texts.complete, &[("url", complete)]))?;
    }
    if let Some(expires) = texts.expires {
        let minutes = device.expires_in.div_ceil(60).to_string();
        writeln!(io.stderr, "{}", fill(expires, &[("minutes", &minutes)]))?;
    }
    if let Some(opened) = texts.opened {
        let url = device
            .verification_uri_complete
            .as_deref()
            .unwrap_or(&device.verification_uri);
        let env = |name: &str| ctx.env.var(name).map(std::ffi::OsString::from);
        if oauth::browser_availability(false, &env) == BrowserAvailability::Usable
            && ctx.browser.open(url).is_ok()
        {
            writeln!(io.stderr, "{opened}")?;
        }
    }
    let spinner = match texts.spinner {
        true => io.stderr_is_tty.then(|| {
            let spinner = indicatif::ProgressBar::new_spinner().with_message(texts.waiting);
            spinner.enable_steady_tick(Duration::from_millis(120));
            spinner
        }),
        false => {
            writeln!(io.stderr, "{}", texts.waiting)?;
            None
        }
    };
    let polled = oauth::poll_device_token(&http, &meta.token_endpoint, &client, &device, ctx.clock);
    if let Some(spinner) = spinner {
        spinner.finish_and_clear();
    }
    let token = polled.map_err(LoginError::Grant)?;
    let session = OAuthSession::from_login(LoginMethod::Device, token, &client, ctx.now);
    Ok(common::completed(session, scope, &meta))
}
