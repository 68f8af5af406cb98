//! `auth login`: every way of logging in, each in its own module.
//!
//! - `--api-key KEY | --with-token`: verify a key with `GET /v1/me` (unless
//!   `--no-verify`) and store it (this file).
//! - `--client-credentials`, `--web`, `--device`, `--session`: OAuth logins
//!   whose token is cached in the profile ([`client_credentials`], [`web`],
//!   [`device`], [`session`]).
//! - `--email ADDR [--otp CODE]`: a one-time code by email, traded for a new
//!   API key ([`email`]).
//! - `--federated`: a CI job's or pod's platform token exchanged for a
//!   short-lived access token (RFC 8693, [`federated`]).
//!
//! Without a method: on a terminal, ask (or use the device flow when no
//! browser can be used); without one, fail naming the flags.
//!
//! Every login stores into the selected profile (a new one named after the
//! environment when none is selected) and makes that profile current.

pub mod client_credentials;
pub mod device;
pub mod email;
pub mod federated;
pub mod oauth;
pub mod session;
pub mod web;

use super::save::{Saved, replaced, save_replacing};
use crate::args::{Secret, api_key_arg, client_secret_arg, secret_arg};
use crate::context::{Ctx, Storage};
use crate::error::CliError;
use crate::io::Io;
use crate::texts::format_time;
use tessera_client::Error as ClientError;
use tessera_client::oauth::{BrowserAvailability, browser_availability};
use tessera_proto::api::Me;
use tessera_proto::{ApiKey, ClientSecret};

#[derive(Debug, Default, clap::Args)]
#[command(group(
    clap::ArgGroup::new("method")
        .args(["client_credentials", "web", "device", "session", "email", "federated"])
))]
pub struct LoginArgs {
    /// The API key to store (with --client-credentials: the key sent as customer_key).
    #[arg(long, value_name = "KEY", value_parser = api_key_arg, conflicts_with_all = ["with_token", "web", "device", "session", "email"])]
    pub api_key: Option<ApiKey>,
    /// Read the API key from stdin.
    #[arg(long, conflicts_with_all = ["web", "device", "session", "email"])]
    pub with_token: bool,
    /// Store the key without checking it against the server.
    #[arg(long)]
    pub no_verify: bool,
    /// Keep the secret in the OS keychain (Secret Service, macOS Keychain,
    /// Windows Credential Manager), not in the credentials file; fails when
    /// the keychain cannot be used.
    #[arg(long)]
    pub secure_storage: bool,
    /// Keep the secret in the credentials file, also for a profile whose
    /// secret was in the keychain or when config.toml sets secure_storage.
    #[arg(long, conflicts_with = "secure_storage")]
    pub insecure_storage: bool,

    /// OAuth client credentials (client id and secret from --client-id/--client-secret
    /// or TESSERA_CLIENT_ID/TESSERA_CLIENT_SECRET), with the API key as customer_key.
    #[arg(long)]
    pub client_credentials: bool,
    /// Log in in a browser (authorization code + PKCE, loopback redirect).
    #[arg(long)]
    pub web: bool,
    /// Log in with a code entered on another device's browser (device flow).
    #[arg(long)]
    pub device: bool,
    /// Log in with a token URL and a session id (Level 0).
    #[arg(long)]
    pub session: bool,
    /// Email a one-time code to ADDR; with --otp, trade the code for an API key.
    #[arg(long, value_name = "ADDR")]
    pub email: Option<String>,
    /// Exchange a CI job's or pod's platform token (OIDC) for a short-lived
    /// access token of the app --client-id (RFC 8693): from --id-token-file,
    /// TESSERA_ID_TOKEN, or GitHub Actions. Nothing long-lived is stored.
    #[arg(long)]
    pub federated: bool,
    /// The file holding the subject token (--federated), read again for each
    /// new access token (e.g. a Kubernetes projected service-account token).
    #[arg(long, value_name = "FILE", requires = "federated")]
    pub id_token_file: Option<std::path::PathBuf>,
    /// The audience to ask GitHub Actions for (--federated; default: the
    /// server's issuer). It must be the audience of the app's trust rule.
    #[arg(long, value_name = "AUD", requires = "federated")]
    pub audience: Option<String>,
    /// The 6-digit code from the email (step 2 of --email).
    #[arg(long, value_name = "CODE", requires = "email", value_parser = secret_arg)]
    pub otp: Option<Secret>,

    /// OAuth client id (also TESSERA_CLIENT_ID; web and device logins default to the CLI's own).
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// OAuth client secret for --client-credentials (also TESSERA_CLIENT_SECRET).
    // A generated secret is base64url and may start with `-`.
    #[arg(long, value_name = "SECRET", value_parser = client_secret_arg, allow_hyphen_values = true)]
    pub client_secret: Option<ClientSecret>,
    /// Scopes to ask for, space-separated (default: the server's).
    #[arg(long, value_name = "SCOPES")]
    pub scope: Option<String>,
    /// Do not open a browser; print the URL and accept the pasted redirect (--web).
    #[arg(long)]
    pub no_browser: bool,
    /// Seconds to wait for the browser login to finish (--web; default 300).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// The token URL of --session (also TESSERA_TOKEN_URL).
    #[arg(long, value_name = "URL")]
    pub token_url: Option<String>,
    /// The session id of --session (also TESSERA_SESSION_ID).
    // Session ids are random and may start with `-`.
    #[arg(long, value_name = "ID", value_parser = secret_arg, allow_hyphen_values = true)]
    pub session_id: Option<Secret>,
}

impl LoginArgs {
    /// Where the login keeps its secret.
    pub fn storage(&self) -> Storage {
        match (self.secure_storage, self.insecure_storage) {
            (true, _) => Storage::Keychain,
            (false, true) => Storage::File,
            (false, false) => Storage::AsBefore,
        }
    }
}

/// The ways to log in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    ApiKey,
    ClientCredentials,
    Web,
    Device,
    Session,
    EmailRequest,
    EmailVerify,
    Federated,
}

/// The flags that pick a method, for "no method given" errors.
pub const METHOD_FLAGS: &str = "--web, --device, --api-key KEY, --with-token, --client-credentials, --session, --email ADDR or --federated";

/// Which method the flags ask for; without one, asks on a terminal (the
/// device flow when no browser can be used) and fails without one.
pub fn choose_method(args: &LoginArgs, ctx: &Ctx, io: &mut Io) -> Result<Method, CliError> {
    let explicit = [
        (args.client_credentials, Method::ClientCredentials),
        (args.web, Method::Web),
        (args.device, Method::Device),
        (args.session, Method::Session),
        (
            args.email.is_some() && args.otp.is_none(),
            Method::EmailRequest,
        ),
        (args.otp.is_some(), Method::EmailVerify),
        (args.federated, Method::Federated),
        (args.api_key.is_some() || args.with_token, Method::ApiKey),
    ];
    if let Some((_, method)) = explicit.iter().find(|(given, _)| *given) {
        return Ok(*method);
    }
    if !io.stdin_is_tty {
        return Err(CliError::Usage(format!(
            "no login method given and stdin is not a terminal; pass {METHOD_FLAGS}"
        )));
    }
    let env = |name: &str| ctx.env.var(name).map(std::ffi::OsString::from);
    if let BrowserAvailability::Unavailable(why) = browser_availability(args.no_browser, &env) {
        writeln!(
            io.stderr,
            "No browser can be used here ({why}): logging in with a device code."
        )?;
        return Ok(Method::Device);
    }
    let choices = [
        ("Log in with a web browser", Method::Web),
        (
            "Log in with a code on another device (device flow)",
            Method::Device,
        ),
        ("Paste an API key", Method::ApiKey),
    ];
    let items: Vec<&str> = choices.iter().map(|(label, _)| *label).collect();
    let picked = io
        .prompter
        .select("How would you like to log in?", &items)?;
    Ok(choices.get(picked).map_or(Method::Web, |(_, m)| *m))
}

pub fn run(args: &LoginArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let method = choose_method(args, ctx, io)?;
    // Before the server is asked: a key or token it issued that the keychain
    // then refused would stay valid, held by nobody.
    let config = ctx.store.read_config()?;
    let to_keychain = match ctx.storage {
        Storage::Keychain => true,
        Storage::AsBefore => config.secure_storage(),
        Storage::File => false,
    };
    if to_keychain && method != Method::EmailRequest {
        let selection = ctx.resolver(None).select(&config);
        let profile = selection.profile_name().unwrap_or(&selection.environment);
        ctx.store.check_keychain(profile)?;
    }
    match method {
        Method::ApiKey => run_api_key(args, ctx, io),
        Method::ClientCredentials => client_credentials::run(args, ctx, io),
        Method::Web => web::run(args, ctx, io),
        Method::Device => device::run(args, ctx, io),
        Method::Session => session::run(args, ctx, io),
        Method::EmailRequest => email::request(args, ctx, io),
        Method::EmailVerify => email::verify(args, ctx, io),
        Method::Federated => federated::run(args, ctx, io),
    }
}

/// What a key login stored.
#[derive(Debug)]
pub struct LoginOutcome {
    pub profile: String,
    pub environment: String,
    pub server: String,
    /// Who the key acts for; `None` when not verified.
    pub me: Option<Me>,
}

fn run_api_key(args: &LoginArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let key = read_key(args, io)?;
    let expired = super::claims_of(&key)
        .and_then(|c| c.claims().exp)
        .filter(|exp| *exp <= ctx.now);
    if let Some(exp) = expired {
        io.warn(format!("this API key expired at {}", format_time(exp)))?;
    }
    let outcome = api_key(ctx, io, &key, !args.no_verify).map_err(|e| verify_hint(ctx, e))?;
    if expired.is_some() && outcome.me.is_some() {
        // Every later command judges the key by this machine's clock (exit 4
        // without asking the server): say why the two disagree.
        io.warn(
            "the server accepted it all the same, so this machine's clock is probably ahead of the server's (check `date`); until it is set right, commands here refuse the key as expired",
        )?;
    }
    match &outcome.me {
        Some(me) => writeln!(
            io.stderr,
            "Logged in to {} as {} (profile {:?}, environment {:?}).",
            crate::texts::printable(&outcome.server),
            crate::texts::printable(&me.email),
            outcome.profile,
            outcome.environment
        )?,
        None => writeln!(
            io.stderr,
            "Stored the API key in profile {:?} (environment {:?}) without verifying it.",
            outcome.profile, outcome.environment
        )?,
    }
    if ctx.env.var(ctx.spec.api_key_env).is_some() {
        io.warn(format!(
            "{} is set in this environment and takes priority over the stored key",
            ctx.spec.api_key_env
        ))?;
    }
    Ok(())
}

/// The key from `--api-key`, from stdin with `--with-token`, or from a prompt
/// when stdin is a terminal.
pub fn read_key(args: &LoginArgs, io: &mut Io) -> Result<ApiKey, CliError> {
    let raw = if let Some(key) = &args.api_key {
        key.expose_secret().to_owned()
    } else if args.with_token {
        let mut text = String::new();
        io.stdin.read_to_string(&mut text).map_err(|e| match e.kind() {
            // Said as what was piped in, not as a failure of this program.
            std::io::ErrorKind::InvalidData => CliError::Usage(
                "what --with-token read from stdin is not text, so not an API key; check what is piped in".into(),
            ),
            _ => CliError::from(e),
        })?;
        text
    } else if io.stdin_is_tty {
        io.prompter.secret("Paste your API key")?
    } else {
        return Err(CliError::Usage(
            "no API key given and stdin is not a terminal; pass --api-key KEY, or --with-token to read it from stdin".into(),
        ));
    };
    let key = raw.trim();
    if key.is_empty() {
        return Err(CliError::Usage("the API key is empty".into()));
    }
    Ok(ApiKey::new(key))
}

/// The key login of every CLI: checks `key` with `GET /v1/me` on the selected
/// server when `verify`, then stores it ([`save_replacing`]). Failures carry no hint:
/// each CLI says what to do in its own words.
pub fn api_key(
    ctx: &Ctx,
    io: &mut Io,
    key: &ApiKey,
    verify: bool,
) -> Result<LoginOutcome, CliError> {
    // What a paste brings around a key is not part of it.
    let key = &ApiKey::new(key.expose_secret().trim());
    if key.expose_secret().is_empty() {
        return Err(CliError::Usage("the API key is empty".into()));
    }
    check_key_characters(key, verify)?;
    let target = super::target(ctx)?;
    let me = if verify {
        Some(target.api(ctx, io)?.me_with_api_key(key)?)
    } else {
        None
    };
    let stored = save_replacing(ctx, Saved::ApiKey(key.clone()))?;
    let now_for = super::claims_of(key).map(|c| c.claims().sub.clone());
    replaced(ctx, io, &stored, now_for.as_deref())?;
    Ok(LoginOutcome {
        profile: stored.profile,
        environment: target.selection.environment,
        server: target.server,
        me,
    })
}

/// Refuses a (trimmed) key holding a character no API key has, for every
/// command that stores a key (`auth login --api-key`, a persona's `auth set`).
///
/// Stored as is, a key with a line break or a character beyond ASCII in it
/// would fail every request later, far from the paste that caused it. A
/// space can be sent: when the key is `verified` the server refuses it, and
/// each CLI says so in its own words (lua's list "Ensure no extra spaces");
/// unverified, it is refused here.
pub fn check_key_characters(key: &ApiKey, verified: bool) -> Result<(), CliError> {
    let sendable = |c: char| c.is_ascii_graphic() || (verified && c == ' ');
    if key.expose_secret().chars().all(sendable) {
        return Ok(());
    }
    Err(CliError::Usage(
        "the API key holds a space, a line break or another character no API key has; copy it again"
            .into(),
    ))
}

fn verify_hint(ctx: &Ctx, error: CliError) -> CliError {
    match error.client() {
        Some(ClientError::Unauthorized { .. }) => {
            error.with_hint("the key is invalid, expired or revoked; check it or create a new one")
        }
        Some(ClientError::Network { .. }) => error.with_hint(format!(
            "is the server running? To store the key without checking it, add --no-verify (`{} auth login --api-key KEY --no-verify`)",
            ctx.spec.name
        )),
        // Up but failing or silent: the key may well be good, and the way
        // to store it meanwhile is the same.
        Some(ClientError::NoAnswer { .. } | ClientError::Server { status: 500.., .. }) => error
            .with_hint(format!(
                "the server is failing, not the key; try again in a while, or store the key without checking it: `{} auth login --api-key KEY --no-verify`",
                ctx.spec.name
            )),
        _ => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::testing::ctx;
    use crate::exit::{Exit, exit_for};
    use crate::io::testing::Captured;

    /// (flag, --with-token, stdin, tty, prompt answer) -> key or exit code
    #[test]
    fn where_the_key_comes_from() {
        type Case<'a> = (
            Option<&'a str>,
            bool,
            &'a str,
            bool,
            Option<&'a str>,
            Result<&'a str, Exit>,
        );
        let cases: [Case; 6] = [
            (Some("flag-key"), false, "", false, None, Ok("flag-key")),
            (None, true, "  piped-key\n", false, None, Ok("piped-key")),
            (None, false, "", true, Some("typed-key"), Ok("typed-key")),
            (None, false, "", false, None, Err(Exit::Usage)),
            (None, true, "\n", false, None, Err(Exit::Usage)),
            (None, false, "", true, Some(" "), Err(Exit::Usage)),
        ];
        for (flag, with_token, stdin, tty, typed, want) in cases {
            let mut cap = Captured {
                tty,
                stdin: std::io::Cursor::new(stdin.as_bytes().to_vec()),
                ..Default::default()
            };
            cap.prompter.secrets.extend(typed.map(str::to_owned));
            let args = LoginArgs {
                api_key: flag.map(ApiKey::new),
                with_token,
                no_verify: true,
                ..Default::default()
            };
            let got = read_key(&args, &mut cap.io());
            let got = got.as_ref().map(|k| k.expose_secret()).map_err(exit_for);
            assert_eq!(got, want, "{flag:?} {with_token} {stdin:?} {tty}");
        }
    }

    /// Bytes that are not UTF-8 on stdin (the wrong file piped in) are a
    /// usage error that says so, not a failure of the program (exit 1).
    #[test]
    fn with_token_refuses_stdin_that_is_not_text() {
        let mut cap = Captured {
            stdin: std::io::Cursor::new(b"\xff\xfe\x00key".to_vec()),
            ..Default::default()
        };
        let args = LoginArgs {
            with_token: true,
            no_verify: true,
            ..Default::default()
        };
        let err = read_key(&args, &mut cap.io()).unwrap_err();
        assert_eq!(exit_for(&err), Exit::Usage, "{err}");
        assert!(err.to_string().contains("--with-token"), "{err}");
    }

    #[test]
    fn method_from_flags_then_terminal_then_browser() {
        let dir = tempfile::tempdir().unwrap();
        let display = std::collections::BTreeMap::from([("DISPLAY", ":0")]);
        let with_display = Ctx {
            env: &display,
            ..ctx(&dir)
        };
        let headless = ctx(&dir);
        let choose = |args: &LoginArgs, ctx: &Ctx, tty: bool, pick: Option<usize>| {
            let mut cap = Captured {
                tty,
                ..Default::default()
            };
            cap.prompter.selections.extend(pick);
            let got = choose_method(args, ctx, &mut cap.io());
            if let Err(e) = &got {
                assert!(e.to_string().contains("--device"), "{e}");
            }
            (
                got.map_err(|e| exit_for(&e)),
                !cap.prompter.asked.is_empty(),
            )
        };

        // A flag names its method: with no terminal and no display, unasked.
        type SetFlag = fn(&mut LoginArgs);
        let by_flag: [(SetFlag, Method); 8] = [
            (|a| a.web = true, Method::Web),
            (|a| a.device = true, Method::Device),
            (|a| a.client_credentials = true, Method::ClientCredentials),
            (|a| a.session = true, Method::Session),
            (|a| a.email = Some("a@b".into()), Method::EmailRequest),
            (
                |a| (a.email, a.otp) = (Some("a@b".into()), Some(Secret::new("123456"))),
                Method::EmailVerify,
            ),
            (|a| a.with_token = true, Method::ApiKey),
            (|a| a.federated = true, Method::Federated),
        ];
        for (set, want) in by_flag {
            let mut args = LoginArgs::default();
            set(&mut args);
            assert_eq!(choose(&args, &headless, false, None), (Ok(want), false));
        }

        // No flag: (--no-browser, ctx, stdin is a terminal, menu pick) -> method
        // or exit, asked?
        type Case<'a> = (
            bool,
            &'a Ctx<'a>,
            bool,
            Option<usize>,
            Result<Method, Exit>,
            bool,
        );
        let cases: [Case; 5] = [
            (false, &headless, false, None, Err(Exit::Usage), false),
            // No display: the device flow, without asking.
            (false, &headless, true, None, Ok(Method::Device), false),
            (true, &with_display, true, None, Ok(Method::Device), false),
            (false, &with_display, true, Some(0), Ok(Method::Web), true),
            (
                false,
                &with_display,
                true,
                Some(2),
                Ok(Method::ApiKey),
                true,
            ),
        ];
        for (i, (no_browser, ctx, tty, pick, want, asked)) in cases.into_iter().enumerate() {
            let args = LoginArgs {
                no_browser,
                ..Default::default()
            };
            assert_eq!(choose(&args, ctx, tty, pick), (want, asked), "case {i}");
        }
    }

    #[test]
    fn first_login_names_the_profile_after_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ctx(&dir);
        let mut cap = Captured::default();
        let outcome = api_key(&ctx, &mut cap.io(), &ApiKey::new("k1"), false).unwrap();
        assert_eq!(outcome.profile, "default");
        assert_eq!(outcome.server, "http://127.0.0.1:8080");
        // A second login replaces the key of the current profile.
        api_key(&ctx, &mut cap.io(), &ApiKey::new("k2"), false).unwrap();
        let creds = ctx.store.read_credentials().unwrap().file;
        assert_eq!(creds.profiles.len(), 1);
        assert_eq!(
            creds.profiles["default"]
                .api_key
                .as_ref()
                .unwrap()
                .expose_secret(),
            "k2"
        );
    }

    /// A server that took the connection and said nothing, or answered
    /// 5xx: the hint keeps the way to store the key unchecked, and does
    /// not ask whether the server runs.
    #[test]
    fn a_failing_server_hint_offers_no_verify() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ctx(&dir);
        for source in [
            ClientError::NoAnswer {
                url: "http://127.0.0.1:9/v1/me".into(),
                seconds: 30.0,
            },
            ClientError::Server {
                url: "http://127.0.0.1:9/v1/me".into(),
                status: 502,
                message: "no message in its answer".into(),
            },
        ] {
            let error = verify_hint(&ctx, source.into());
            let hint = error.hint().unwrap().into_owned();
            assert!(hint.contains("--no-verify"), "{hint}");
            assert!(!hint.contains("is the server running"), "{hint}");
        }
    }
}
