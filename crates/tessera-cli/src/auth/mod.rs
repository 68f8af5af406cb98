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

use crate::context::{Ctx, Storage};
use crate::error::CliError;
use crate::io::Io;
use clap::Subcommand;
use serde::Serialize;
use tessera_client::oauth::UreqClient;
use tessera_client::{ApiClient, Error as ClientError, Selection, TlsTrust, Transport};
use tessera_proto::UnverifiedClaims;

/// Subcommands are deferred (see `Command` in the crate root): only the one
/// that runs defines its arguments.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum AuthCommand {
    /// Log in: API key, browser, device code, client credentials, token URL, email code or a CI token (federated).
    #[command(help_template = LOGIN_HELP)]
    Login(Box<login::LoginArgs>),
    /// Show the environment, server, profile and credential in use, and where it came from.
    #[command(help_template = STATUS_HELP)]
    Status(status::StatusArgs),
    /// Print the credential alone, for `$(tessera auth token)`.
    ///
    /// A token bound to this machine (DPoP: a browser or device login on a
    /// server that supports it) is refused by the server when sent alone,
    /// without a proof signed by this machine's key: use `tessera api`, which
    /// adds one to every request. `auth status` says whether a login is bound.
    #[command(help_template = TOKEN_HELP)]
    Token(token::TokenArgs),
    /// Show the credential in use, masked unless --raw.
    Show(show::ShowArgs),
    /// List the profiles of the current environment; `*` marks the current one.
    #[command(help_template = LIST_HELP)]
    List(list::ListArgs),
    /// Make a profile the current one.
    #[command(help_template = SWITCH_HELP)]
    Switch(switch::SwitchArgs),
    /// Delete a profile and its stored credentials (OAuth tokens are revoked at the server first).
    #[command(help_template = LOGOUT_HELP)]
    Logout(logout::LogoutArgs),
    /// Manage environments (named servers); without a subcommand, print
    /// `export` lines for `eval "$(tessera auth env)"`.
    ///
    /// The exported token of a login bound to this machine (DPoP) is refused
    /// by the server without a proof from this machine's key, which a shell
    /// variable cannot carry: use `tessera api` for such a login.
    #[command(help_template = ENV_HELP)]
    Env(EnvGroup),
    /// Call GET /v1/me and say who the credential acts for, or why not.
    Test(test::TestArgs),
    /// Git credential helper: `git config credential.helper '!tessera auth git-credential'`.
    ///
    /// Git can only pass a password on: the token of a login bound to this
    /// machine (DPoP) is refused by the server without a proof from this
    /// machine's key. For git, log in with an API key (`--api-key`) or on a
    /// server without DPoP.
    GitCredential(git_credential::GitCredentialArgs),
    /// Kubernetes ExecCredential (client.authentication.k8s.io/v1) for kubectl.
    ///
    /// kubectl sends the token as a bearer token: the token of a login bound to
    /// this machine (DPoP) is refused by the server without a proof from this
    /// machine's key. For kubectl, log in with an API key (`--api-key`).
    ExecCredential(exec_credential::ExecCredentialArgs),
}

const LOGIN_HELP: &str = crate::with_examples!(
    "  # check the key with GET /v1/me, then store it
  {command} --api-key \"$KEY\"
  # the key from stdin, not the command line; kept in the OS keychain
  echo \"$KEY\" | {command} --with-token --secure-storage
  # in a browser (--no-browser prints the URL), or with a code on any device
  {command} --web
  {command} --device
  # a code by email, then the code for a new API key
  {command} --email me@example.com
  {command} --email me@example.com --otp 123456"
);

const STATUS_HELP: &str = crate::with_examples!(
    "  {command}
  {command} --profile work
  {command} --json | jq -r .storage"
);

const TOKEN_HELP: &str = crate::with_examples!(
    "  # an API key goes in `Authorization: token …`, an OAuth token in `Bearer …`
  curl -H \"Authorization: token $({command})\" https://api.example.com/v1/me
  {command} --json | jq -r .token_type"
);

const LIST_HELP: &str = crate::with_examples!(
    "  {command}
  {command} --json | jq -r '.profiles[].name'"
);

const SWITCH_HELP: &str = crate::with_examples!(
    "  # also switches to the profile's environment
  {command} work"
);

const LOGOUT_HELP: &str = crate::with_examples!(
    "  # the current profile, after asking
  {command}
  # no question, for scripts
  {command} work --force
  {command} --all --force"
);

const ENV_HELP: &str = crate::with_examples!(
    "  {command} add staging https://staging.example.com
  {command} switch staging
  {command} list
  # plain http to a server off this machine needs an opt-in
  {command} add lab http://10.0.0.5:8080 --insecure
  # forget one, once its profiles are logged out
  {command} remove lab
  # the server and an Authorization header value, for other tools
  eval \"$({command})\" && curl -H \"Authorization: $TESSERA_AUTHORIZATION\" \"$TESSERA_URL/v1/me\""
);

// `auth env`: a subcommand manages environments; none prints shell exports.
// Not a doc comment: clap would show it as the command's help in place of
// the `AuthCommand::Env` variant's.
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

    /// Where a login keeps its secret (`--secure-storage`).
    pub fn storage(&self) -> Storage {
        match self {
            AuthCommand::Login(a) => a.storage(),
            _ => Storage::AsBefore,
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

/// Where a command's requests go: the selected environment, profile and
/// server.
#[derive(Clone, Debug)]
pub struct Target {
    pub selection: Selection,
    pub server: String,
}

/// The server of the selected environment and profile.
pub fn target(ctx: &Ctx) -> Result<Target, CliError> {
    Target::of(ctx.resolver(None).select(&ctx.store.read_config()?))
}

impl Target {
    /// `selection`, when its environment has a server.
    pub fn of(selection: Selection) -> Result<Target, CliError> {
        let server = selection
            .server
            .clone()
            .ok_or_else(|| ClientError::UnknownEnvironment(selection.environment.clone()))?;
        if let Ok(url) = url::Url::parse(&server) {
            tessera_client::config::refuse_credentials_in_url(&url)?;
            // Before discovery or any login: a query, `..` or a stray space
            // would send them somewhere else than the URL says.
            tessera_client::config::refuse_unusable_server_url(&server, &url)?;
        }
        Ok(Target { selection, server })
    }

    /// How requests to the server go out: the process's TLS trust
    /// (`SSL_CERT_FILE`, `SSL_CERT_DIR`) and the environment's insecure-http
    /// opt-in, which is said on stderr each time it is used. Only for
    /// commands that go to the network: `SSL_CERT_DIR` may hold hundreds of
    /// files, and `auth token` with a cached token must not read them.
    pub fn transport(&self, ctx: &Ctx, io: &mut Io) -> Result<Transport, CliError> {
        let trust = TlsTrust::from_env(ctx.env)?;
        let transport = self.transport_without_trust(ctx, io)?;
        Ok(Transport { trust, ..transport })
    }

    /// [`Target::transport`] with the OS's trust in place of the process's:
    /// for a caller that reads `SSL_CERT_FILE` / `SSL_CERT_DIR` itself, only
    /// if it makes a request ([`super::credential`]'s renewal).
    pub fn transport_without_trust(&self, ctx: &Ctx, io: &mut Io) -> Result<Transport, CliError> {
        let transport = self.selection.transport(&Transport {
            app: Some(ctx.spec.name),
            ..Transport::default()
        });
        let opted_in = transport.insecure_http_origin.is_some();
        if opted_in && Transport::default().check_url(&self.server).is_err() {
            io.warn(format!(
                "{} is plain http (environment {:?} was added with --insecure): anyone on the network path can read the credentials sent to it",
                self.server, self.selection.environment
            ))?;
        }
        Ok(transport)
    }

    /// For helpers that hand the credential to another program which sends
    /// it to the server (git, `eval "$(… auth env)"`): the same rule as for
    /// this program's own requests, plain http only to loopback or with the
    /// environment's opt-in. Reads no TLS settings.
    pub fn check_plain_http(&self) -> Result<(), CliError> {
        let rule = self.selection.transport(&Transport::default());
        Ok(rule.check_url(&self.server)?)
    }

    /// A platform API client for the server ([`Target::transport`]).
    pub fn api(&self, ctx: &Ctx, io: &mut Io) -> Result<ApiClient, CliError> {
        Ok(ApiClient::with_transport(
            &self.server,
            &self.transport(ctx, io)?,
        ))
    }

    /// An OAuth HTTP client for the server ([`Target::transport`]).
    pub fn oauth_http(&self, ctx: &Ctx, io: &mut Io) -> Result<UreqClient, CliError> {
        Ok(UreqClient::with_transport(
            &self.transport(ctx, io)?,
            OAUTH_TIMEOUT,
        ))
    }
}

/// A whole OAuth request, connecting included.
pub(crate) const OAUTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A profile or environment name a user gives: it becomes a key in the
/// files, a line in listings and part of messages, so it is printable text
/// without surrounding spaces, of a length a table can show.
pub(crate) fn check_name(kind: &str, name: &str) -> Result<(), CliError> {
    let problem = if name.trim().is_empty() {
        "is empty"
    } else if name.chars().any(char::is_control) {
        "holds a control character (a line break, an escape)"
    } else if name.trim() != name {
        "starts or ends with a space"
    } else if name.chars().count() > 64 {
        "is longer than 64 characters"
    } else {
        return Ok(());
    };
    Err(CliError::Usage(format!(
        "the {kind} name {name:?} {problem}"
    )))
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
            hint: new_key_hint(source.kind(), ctx),
        });
    }
    Ok(exp)
}

/// Where a new key has to go for requests to use it, by the kind of source
/// ([`tessera_client::Source::kind`]) the expired one came from: a key from
/// the flag or the variable outranks the saved one, so saving a new key would
/// change nothing while they are given.
pub(crate) fn new_key_hint(source_kind: &str, ctx: &Ctx) -> String {
    let (env, save) = (ctx.spec.api_key_env, ctx.spec.key_login);
    match source_kind {
        "flag" => "create a new key and pass it with --api-key".into(),
        "env" => format!(
            "create a new key and set {env} to it, or unset {env} to use the saved key (`{save}`)"
        ),
        _ => format!("create a new key and run `{save}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::testing::ctx;
    use crate::io::testing::Captured;

    fn target(server: &str, insecure_http: bool) -> Target {
        Target::of(Selection {
            environment: "lab".into(),
            server: Some(server.into()),
            profile: None,
            insecure_http,
        })
        .unwrap()
    }

    /// A key whose `exp` has passed, from each source -> where the hint
    /// says a new key goes.
    #[test]
    fn an_expired_key_is_replaced_where_it_came_from() {
        use base64::Engine as _;
        let dir = tempfile::tempdir().unwrap();
        let ctx = ctx(&dir);
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let payload = format!(
            r#"{{"iss":"x","sub":"acct_1","jti":"key_1","scope":"","iat":1,"exp":{},"token_use":"api_key"}}"#,
            ctx.now - 1
        );
        let key = tessera_proto::ApiKey::new(format!(
            "{}.{}.c2ln",
            b64(r#"{"alg":"EdDSA"}"#),
            b64(&payload)
        ));
        let profile = tessera_client::Source::Profile {
            name: "default".into(),
            path: "/c".into(),
            keychain: None,
        };
        for (source, says) in [
            (
                tessera_client::Source::EnvVar("TESSERA_API_KEY"),
                "set TESSERA_API_KEY to it, or unset TESSERA_API_KEY",
            ),
            (tessera_client::Source::Flag, "pass it with --api-key"),
            (profile, "run `tessera auth login --api-key KEY`"),
        ] {
            let err = ensure_not_expired(&key, &source, &ctx).unwrap_err();
            let hint = err.hint().unwrap();
            assert!(hint.contains(says), "{source}: {hint}");
        }
    }

    /// (server, opted in) -> plain http allowed, warned
    #[test]
    fn an_opted_in_plain_http_server_is_warned_about_each_time_it_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ctx(&dir);
        for (server, opted_in, allowed, warned) in [
            ("http://10.0.0.5:8080", true, true, true),
            ("http://10.0.0.5:8080", false, false, false),
            ("http://127.0.0.1:8080", false, false, false),
            ("https://api.test", true, true, false),
        ] {
            let mut cap = Captured::default();
            let transport = target(server, opted_in)
                .transport(&ctx, &mut cap.io())
                .unwrap();
            let case = (server, opted_in);
            assert_eq!(
                transport.insecure_http_origin.is_some(),
                allowed,
                "{case:?}"
            );
            assert_eq!(cap.stderr().contains("plain http"), warned, "{case:?}");
        }
    }
}
