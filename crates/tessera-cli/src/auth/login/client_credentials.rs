//! `auth login --client-credentials`: a confidential client's own token
//! (RFC 6749 §4.4), with the account's API key sent as `customer_key` (Lofty:
//! the CLI uses the API key as `LOFTY_CUSTOMER_KEY`).
//!
//! The client secret is kept with the session: client credentials have no
//! refresh token, so a new token is obtained by asking again.

use super::LoginArgs;
use super::oauth::{self as common, LoginError, TESSERA_DISCOVERY};
use crate::auth::Target;
use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use tessera_client::oauth::{self, Client, ClientCredentialsRequest, OAuthError};
use tessera_client::{LoginMethod, OAuthSession};
use tessera_proto::{ApiKey, ClientSecret};

pub fn run(args: &LoginArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let needs = "client credentials need";
    let id_env = ctx.oauth.client_id_env;
    let client_id = common::required(
        ctx,
        args.client_id.as_deref(),
        id_env,
        "--client-id ID",
        needs,
    )?;
    let secret = match &args.client_secret {
        Some(secret) => secret.clone(),
        None => ClientSecret::new(common::required(
            ctx,
            None,
            ctx.oauth.client_secret_env,
            "--client-secret SECRET",
            needs,
        )?),
    };
    let customer_key = customer_key(args, ctx, io)?;

    let target = crate::auth::target(ctx)?;
    let session = obtain(
        ctx,
        io,
        &target,
        &client_id,
        &secret,
        customer_key.as_ref(),
        args.scope.as_deref(),
    )
    .map_err(|e| {
        e.hinted(ctx, Some(&TESSERA_DISCOVERY), |e| {
            e.oauth_code().is_some().then(|| {
                format!(
                    "check {} and {}, and that the app may use client credentials",
                    ctx.oauth.client_id_env, ctx.oauth.client_secret_env
                )
            })
        })
    })?;
    let sent_key = customer_key.is_some();
    common::save_and_report(ctx, io, &target, session, customer_key)?;
    if !sent_key {
        writeln!(
            io.stderr,
            "No API key was found to send as customer_key; pass --api-key KEY to act for an account."
        )?;
    }
    Ok(())
}

/// A confidential client's token from `target`'s server, acting for
/// `customer_key`'s account when given; the session to store (with the
/// client secret, to ask again when the token expires).
pub fn obtain(
    ctx: &Ctx,
    io: &mut Io,
    target: &Target,
    client_id: &str,
    secret: &ClientSecret,
    customer_key: Option<&ApiKey>,
    scope: Option<&str>,
) -> Result<OAuthSession, LoginError> {
    let (http, meta) = common::discover(ctx, io, target)?;
    // An API key goes only to its profile's server; metadata may name a
    // token endpoint elsewhere (RFC 8414 allows it), which may have the
    // client secret but not the key.
    if customer_key.is_some()
        && !tessera_client::config::same_origin(&meta.token_endpoint, &target.server)
    {
        return Err(LoginError::Setup(OAuthError::InvalidUrl {
            url: meta.token_endpoint.clone(),
            reason: format!(
                "the token endpoint is not on {}, so the API key is not sent there as customer_key",
                target.server
            ),
        }));
    }
    let client = Client::confidential(client_id, secret.clone());
    let token = oauth::client_credentials(
        &http,
        &meta.token_endpoint,
        &client,
        ClientCredentialsRequest {
            scope,
            customer_key,
        },
    )
    .map_err(LoginError::Grant)?;
    let mut session = OAuthSession::from_token(LoginMethod::ClientCredentials, token, ctx.now);
    session.client_id = Some(client_id.to_owned());
    session.client_secret = Some(secret.clone());
    Ok(common::completed(session, scope, &meta))
}

/// The API key sent as `customer_key`: `--api-key`, `--with-token` (stdin),
/// else whatever resolution finds (environment, profile, `.env`).
fn customer_key(args: &LoginArgs, ctx: &Ctx, io: &mut Io) -> Result<Option<ApiKey>, CliError> {
    if args.api_key.is_some() || args.with_token {
        return super::read_key(args, io).map(Some);
    }
    let resolution = ctx.resolver(None).first()?;
    let found = resolution.winner();
    found
        .map(crate::auth::credential::check_found_key)
        .transpose()?;
    Ok(found.map(|found| found.key.clone()))
}
