//! `auth login --device`: the device authorization grant (RFC 8628). Prints
//! where to go and the code to enter, then polls at the server's interval
//! (slower after `slow_down`), with a spinner when stderr is a terminal.

use super::LoginArgs;
use super::oauth as common;
use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use std::time::Duration;
use tessera_client::oauth::{self, Client, UreqClient};
use tessera_client::{LoginMethod, OAuthSession};
use tessera_proto::OAuthErrorCode;

pub fn run(args: &LoginArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let target = common::target(ctx)?;
    let http = UreqClient::new();
    let meta = common::discover(ctx, &http, &target.server)?;
    let endpoint = oauth::require_endpoint(
        &meta.device_authorization_endpoint,
        "device authorization endpoint",
    )
    .map_err(|e| common::oauth_error(e, None))?;
    let client = Client::public(common::public_client_id(ctx, args.client_id.as_deref()));
    let device =
        oauth::request_device_authorization(&http, endpoint, &client, args.scope.as_deref())
            .map_err(|e| common::oauth_error(e, None))?;

    writeln!(
        io.stderr,
        "To log in, open {} in a browser on any device and enter the code:\n\n    {}\n",
        device.verification_uri, device.user_code
    )?;
    if let Some(complete) = &device.verification_uri_complete {
        writeln!(
            io.stderr,
            "Or open this URL, which fills in the code:\n\n    {complete}\n"
        )?;
    }
    writeln!(
        io.stderr,
        "The code expires in {} minutes.",
        device.expires_in.div_ceil(60)
    )?;

    let spinner = io.stderr_is_tty.then(|| {
        let spinner = indicatif::ProgressBar::new_spinner()
            .with_message("Waiting for the login to be approved…");
        spinner.enable_steady_tick(Duration::from_millis(120));
        spinner
    });
    let polled = oauth::poll_device_token(&http, &meta.token_endpoint, &client, &device, ctx.clock);
    if let Some(spinner) = spinner {
        spinner.finish_and_clear();
    }
    let token = polled.map_err(|e| {
        let again = format!("run `{} auth login --device` to try again", ctx.spec.name);
        let hint = match e.oauth_code() {
            Some(OAuthErrorCode::AccessDenied) => {
                Some(format!("the login was denied in the browser; {again}"))
            }
            Some(OAuthErrorCode::ExpiredToken) => Some(format!(
                "the code expired before the login was approved; {again}"
            )),
            _ => None,
        };
        common::oauth_error(e, hint)
    })?;
    let mut session = OAuthSession::from_token(LoginMethod::Device, token, ctx.now);
    session.client_id = Some(client.id().to_owned());
    if session.scope.is_none() {
        session.scope = args.scope.clone();
    }
    let session = common::with_server(session, &meta);
    let profile = common::store_session(ctx, &target, session.clone(), None)?;
    common::report(ctx, io, &target, &profile, &session)
}
