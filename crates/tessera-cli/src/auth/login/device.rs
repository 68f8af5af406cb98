//! `auth login --device`: the device authorization grant (RFC 8628). Prints
//! where to go and the code to enter, then polls at the server's interval
//! (slower after `slow_down`), with a spinner when stderr is a terminal.

use super::LoginArgs;
use super::oauth::{self as common, LoginError, TESSERA_DISCOVERY};
use crate::auth::Target;
use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use crate::texts::{fill, printable};
use std::time::Duration;
use tessera_client::oauth::DeviceAuthorizationResponse;
use tessera_client::oauth::{self, BrowserAvailability};
use tessera_client::{LoginMethod, OAuthSession, Transport};
use tessera_proto::OAuthErrorCode;

/// What a device login says on stderr while it runs.
pub struct DeviceTexts {
    /// `{uri}` and `{code}`.
    pub enter_code: &'static str,
    /// `{url}`: the address with the code filled in, when the server has one.
    pub complete: &'static str,
    /// `{minutes}`: `1 minute`, `10 minutes`; `None`: not said.
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
    expires: Some("The code expires in {minutes}."),
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
    // Where the user is sent is held to the rule of this environment's own
    // requests (https, or plain http to loopback or with its opt-in).
    let rule = target.selection.transport(&Transport::default());
    let device = oauth::request_device_authorization(&http, endpoint, &client, scope, &rule)
        .map_err(LoginError::Setup)?;

    write!(io.stderr, "{}", announcement(&device, texts))?;
    if let Some(opened) = texts.opened {
        let url = device
            .verification_uri_complete
            .as_deref()
            .unwrap_or(&device.verification_uri);
        let env = |name: &str| ctx.env.var(name).map(std::ffi::OsString::from);
        // The browser carries the user's sign-in: it is opened only at https
        // or this machine, whatever the environment's opt-in allows for
        // requests (the address is printed above either way).
        if Transport::default().check_url(url).is_ok()
            && oauth::browser_availability(false, &env) == BrowserAvailability::Usable
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

/// What the user is told to do: where to go, the code, when it expires. The
/// address and the code are the server's text, shown [`printable`]: an
/// escape sequence in them would act on the terminal (clear it, set the
/// clipboard, hide a link behind other text) on the one screen whose text
/// the user copies and opens.
fn announcement(device: &DeviceAuthorizationResponse, texts: &DeviceTexts) -> String {
    let values = [
        ("uri", printable(&device.verification_uri)),
        ("code", printable(&device.user_code)),
    ];
    let values = values
        .each_ref()
        .map(|(name, value)| (*name, value.as_ref()));
    let mut out = format!("{}\n", fill(texts.enter_code, &values));
    if let Some(complete) = &device.verification_uri_complete {
        let url = printable(complete);
        out += &format!("{}\n", fill(texts.complete, &[("url", &url)]));
    }
    if let Some(expires) = texts.expires {
        let minutes = match device.expires_in.div_ceil(60) {
            1 => "1 minute".to_owned(),
            n => format!("{n} minutes"),
        };
        out += &format!("{}\n", fill(expires, &[("minutes", &minutes)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(user_code: &str, uri: &str, complete: Option<&str>) -> DeviceAuthorizationResponse {
        DeviceAuthorizationResponse {
            device_code: "dc".into(),
            user_code: user_code.into(),
            verification_uri: uri.into(),
            verification_uri_complete: complete.map(Into::into),
            expires_in: 600,
            interval: 5,
        }
    }

    #[test]
    fn the_announcement_is_unchanged_for_ordinary_answers() {
        let shown = announcement(
            &device(
                "WDJB-MJHT",
                "https://as.test/device",
                Some("https://as.test/device?user_code=WDJB-MJHT"),
            ),
            &TEXTS,
        );
        assert_eq!(
            shown,
            "To log in, open https://as.test/device in a browser on any device and enter the code:\n\n    WDJB-MJHT\n\n\
             Or open this URL, which fills in the code:\n\n    https://as.test/device?user_code=WDJB-MJHT\n\n\
             The code expires in 10 minutes.\n"
        );
        let mut short = device("WDJB-MJHT", "https://as.test/device", None);
        short.expires_in = 5;
        let shown = announcement(&short, &TEXTS);
        assert!(
            shown.ends_with("The code expires in 1 minute.\n"),
            "{shown}"
        );
    }

    /// The audit's login screen: a user code that clears the screen, sets
    /// the title, writes the clipboard (OSC 52), returns the carriage and
    /// reverses text; a link hidden behind another (OSC 8).
    #[test]
    fn server_text_reaches_the_terminal_escaped() {
        let hostile = device(
            "\u{1b}[2J\u{1b}]0;PWNED\u{7}\u{1b}]52;c;Y3VybA==\u{7}\rFAKE\u{202e}CODE\nhint: x",
            "\u{1b}]8;;https://evil.example/phish\u{7}https://as.test/device\u{1b}]8;;\u{7}",
            Some("https://as.test/d\u{1b}[31m"),
        );
        let shown = announcement(&hostile, &TEXTS);
        let acts = |c: char| c != '\n' && tessera_proto::text::acted_on(c);
        assert!(!shown.chars().any(acts), "{shown:?}");
        assert!(
            shown.contains("\\u{1b}]52;c;Y3VybA==\\u{7}\\u{d}FAKE\\u{202e}CODE\\u{a}hint: x"),
            "{shown}"
        );
        assert_eq!(shown.lines().count(), 9, "no line of the server's: {shown}");
    }
}
