//! `auth login --federated`: workload identity federation (RFC 8693). A CI
//! job or a pod exchanges the signed token its platform gave it (the subject
//! token) for a short-lived access token of the app named by `--client-id`
//! (or the client-id variable), whose trust rules on the server accept it.
//!
//! The subject token comes from `--id-token-file`, else the id-token variable
//! (`TESSERA_ID_TOKEN`), else GitHub Actions' token service (asked for
//! `--audience`, by default the server's issuer). Only the short access token
//! and where the subject token came from are stored: when the access token
//! runs out, `auth token` asks the source again and exchanges anew.

use super::LoginArgs;
use super::oauth::{self as common, LoginError, TESSERA_DISCOVERY};
use crate::auth::Target;
use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use std::path::Path;
use tessera_client::oauth::{self, Client, OAuthError, SubjectTokenSource};
use tessera_client::{LoginMethod, OAuthSession};
use tessera_proto::OAuthErrorCode;

pub fn run(args: &LoginArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let client_id = common::required(
        ctx,
        args.client_id.as_deref(),
        ctx.oauth.client_id_env,
        "--client-id ID",
        "a federated login needs the app's client id in",
    )?;
    let target = crate::auth::target(ctx)?;
    let obtained = obtain(
        ctx,
        io,
        &target,
        &client_id,
        args.id_token_file.as_deref(),
        args.audience.as_deref(),
        args.scope.as_deref(),
    );
    common::finish(ctx, io, &target, obtained, Some(&TESSERA_DISCOVERY), |e| {
        e.oauth_code().is_some().then(|| {
            format!(
                "the trust rules of app {client_id} on the server decide which tokens it accepts (issuer, audience, claims): an administrator lists them with `tesserad admin trust list --app {client_id}`"
            )
        })
    })
}

/// A federated session from `target`'s server: the subject token from the
/// file, the variable or GitHub Actions, exchanged as the public client
/// `client_id`.
pub fn obtain(
    ctx: &Ctx,
    io: &mut Io,
    target: &Target,
    client_id: &str,
    id_token_file: Option<&Path>,
    audience: Option<&str>,
    scope: Option<&str>,
) -> Result<OAuthSession, LoginError> {
    // Known to be missing before any network: say what to pass.
    let detect = |audience: &str| {
        SubjectTokenSource::detect(id_token_file, ctx.oauth.id_token_env, ctx.env, audience)
    };
    if detect("").is_none() {
        return Err(LoginError::Local(CliError::Usage(format!(
            "a federated login needs a subject token: pass --id-token-file FILE, set {}, or run in a GitHub Actions job with `permissions: id-token: write`",
            ctx.oauth.id_token_env
        ))));
    }
    let (http, meta) = common::discover(ctx, io, target)?;
    let source = detect(audience.unwrap_or(&meta.issuer)).expect("detected above");
    let subject = source.fetch(ctx.env, &http).map_err(LoginError::Setup)?;
    // A Bearer token first: CI jobs hand it on to tools that know nothing of
    // DPoP. An app that requires DPoP refuses that before the subject token is
    // used, and the same token is then exchanged with a proof of a key of this
    // job, kept with the login for its renewals and API calls.
    let exchange = |client: &Client| {
        oauth::token_exchange(&http, &meta.token_endpoint, client, &subject, scope)
    };
    let mut client = Client::public(client_id);
    let token = match exchange(&client) {
        Err(OAuthError::Rejected { body, .. })
            if body.error == OAuthErrorCode::InvalidDpopProof =>
        {
            client = common::public_client(client_id, &meta);
            exchange(&client)
        }
        other => other,
    }
    .map_err(LoginError::Grant)?;
    let mut session = OAuthSession::from_login(LoginMethod::Federated, token, &client, ctx.now);
    session.federated = Some(source);
    // The scope granted is the trust rule's: the one asked for only narrows it.
    Ok(common::completed(session, None, &meta))
}
