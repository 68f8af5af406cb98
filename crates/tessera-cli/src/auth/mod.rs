//! `auth`: the command group. This module only wires subcommands; each lives in
//! its own file as an argument struct and a `run` function, so persona binaries
//! can mount any of them under their own names.

pub mod credential;
pub mod env;
pub mod exec_credential;
pub mod git_credential;
pub mod list;
pub mod login;
pub mod logout;
pub mod project;
pub mod save;
pub mod shell_env;
pub mod show;
pub mod status;
pub mod switch;
pub mod test;
pub mod token;

use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use clap::Subcommand;
use serde::Serialize;
use tessera_proto::UnverifiedClaims;

/// Subcommands are deferred (see `Command` in the crate root): only the one
/// that runs defines its arguments.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum AuthCommand {
    /// Log in: API key, browser, device code, client credentials, token URL or email code.
    Login(login::LoginArgs),
    /// Show the environment, server, profile and credential in use, and where it came from.
    Status(status::StatusArgs),
    /// Print the credential alone, for `$(tessera auth token)`.
    Token(token::TokenArgs),
    /// Show the credential in use, masked unless --raw.
    Show(show::ShowArgs),
    /// List the profiles of the current environment; `*` marks the current one.
    List(list::ListArgs),
    /// Make a profile the current one.
    Switch(switch::SwitchArgs),
    /// Delete a profile and its stored credentials (OAuth tokens are revoked at the server first).
    Logout(logout::LogoutArgs),
    /// Manage environments (named servers); without a subcommand, print
    /// `export` lines for `eval "$(tessera auth env)"`.
    Env(EnvGroup),
    /// Call GET /v1/me and say who the credential acts for, or why not.
    Test(test::TestArgs),
    /// Git credential helper: `git config credential.helper '!tessera auth git-credential'`.
    GitCredential(git_credential::GitCredentialArgs),
    /// Kubernetes ExecCredential (client.authentication.k8s.io/v1) for kubectl.
    ExecCredential(exec_credential::ExecCredentialArgs),
}

/// `auth env`: a subcommand manages environments; none prints shell exports.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EnvGroup {
    #[command(subcommand)]
    pub command: Option<env::EnvCommand>,
}

impl AuthCommand {
    /// Whether errors should be reported as JSON.
    pub fn json(&self) -> bool {
        match self {
            AuthCommand::Status(a) => a.json,
            AuthCommand::Token(a) => a.json,
            AuthCommand::Show(a) => a.json,
            AuthCommand::List(a) => a.json,
            AuthCommand::Test(a) => a.json,
            AuthCommand::Env(EnvGroup {
                command: Some(env::EnvCommand::List(a)),
            }) => a.json,
            AuthCommand::Login(_)
            | AuthCommand::Switch(_)
            | AuthCommand::Logout(_)
            | AuthCommand::Env(_)
            | AuthCommand::GitCredential(_)
            | AuthCommand::ExecCredential(_) => false,
        }
    }
}

pub fn run(command: AuthCommand, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    match command {
        AuthCommand::Login(args) => login::run(&args, ctx, io),
        AuthCommand::Status(args) => status::run(&args, ctx, io),
        AuthCommand::Token(args) => token::run(&args, ctx, io),
        AuthCommand::Show(args) => show::run(&args, ctx, io),
        AuthCommand::List(args) => list::run(&args, ctx, io),
        AuthCommand::Switch(args) => switch::run(&args, ctx, io),
        AuthCommand::Logout(args) => logout::run(&args, ctx, io),
        AuthCommand::Env(EnvGroup {
            command: Some(command),
        }) => env::run(&command, ctx, io),
        AuthCommand::Env(EnvGroup { command: None }) => shell_env::run(ctx, io),
        AuthCommand::Test(args) => test::run(&args, ctx, io),
        AuthCommand::GitCredential(args) => git_credential::run(&args, ctx, io),
        AuthCommand::ExecCredential(args) => exec_credential::run(&args, ctx, io),
    }
}

/// The server of the selected environment and profile.
pub fn server_url(ctx: &Ctx) -> Result<String, CliError> {
    let selection = ctx.resolver(None).select(&ctx.store.read_config()?);
    selection.server.ok_or_else(|| {
        tessera_client::Error::UnknownEnvironment(selection.environment.clone()).into()
    })
}

pub(crate) fn print_json(io: &mut Io, value: &impl Serialize) -> Result<(), CliError> {
    serde_json::to_writer_pretty(&mut *io.stdout, value).map_err(std::io::Error::from)?;
    writeln!(io.stdout)?;
    Ok(())
}

pub(crate) fn print_warnings(
    io: &mut Io,
    warnings: &[tessera_client::PermissionWarning],
) -> Result<(), CliError> {
    for warning in warnings {
        io.warn(warning)?;
    }
    Ok(())
}

/// The claims of an API key, decoded without verification, when it is a JWS.
pub fn claims_of(key: &tessera_proto::ApiKey) -> Option<UnverifiedClaims> {
    UnverifiedClaims::decode(key.expose_secret())
}

/// Fails with exit code 4 when a key's own `exp` has passed; else returns
/// that `exp` (decoded once, for callers that report it).
pub(crate) fn ensure_not_expired(
    key: &tessera_proto::ApiKey,
    source: &tessera_client::Source,
    ctx: &Ctx,
) -> Result<Option<i64>, CliError> {
    let exp = claims_of(key).and_then(|c| c.claims().exp);
    if let Some(exp) = exp
        && exp <= ctx.now
    {
        return Err(CliError::Expired {
            message: format!(
                "the API key from {source} expired at {}",
                crate::texts::format_time(exp)
            ),
            hint: format!(
                "create a new key and run `{} auth login --api-key KEY`",
                ctx.spec.name
            ),
        });
    }
    Ok(exp)
}
