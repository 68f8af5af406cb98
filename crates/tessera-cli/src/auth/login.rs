//! `auth login --api-key KEY | --with-token`: verify a key with `GET /v1/me`
//! (unless `--no-verify`) and store it in the selected profile, making that
//! profile current.

use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;

use tessera_client::{ApiClient, Error as ClientError};
use tessera_proto::ApiKey;
use tessera_proto::api::Me;

#[derive(Debug, Default, clap::Args)]
pub struct LoginArgs {
    /// The API key to store.
    #[arg(long, value_name = "KEY", value_parser = super::api_key_arg, conflicts_with = "with_token")]
    pub api_key: Option<ApiKey>,
    /// Read the API key from stdin.
    #[arg(long)]
    pub with_token: bool,
    /// Store the key without checking it against the server.
    #[arg(long)]
    pub no_verify: bool,
}

/// What a login stored.
#[derive(Debug)]
pub struct LoginOutcome {
    pub profile: String,
    pub environment: String,
    pub server: String,
    /// Who the key acts for; `None` when not verified.
    pub me: Option<Me>,
}

pub fn run(args: &LoginArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let key = read_key(args, io)?;
    if let Some(exp) = super::claims_of(&key).and_then(|c| c.claims().exp)
        && exp <= ctx.now
    {
        io.warn(format!(
            "this API key expired at {}",
            super::format_time(exp)
        ))?;
    }
    let outcome = store_api_key(ctx, &key, !args.no_verify)?;
    match &outcome.me {
        Some(me) => writeln!(
            io.stderr,
            "Logged in to {} as {} (profile {:?}, environment {:?}).",
            outcome.server, me.email, outcome.profile, outcome.environment
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
        io.stdin.read_to_string(&mut text)?;
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

/// Verifies `key` against the selected environment's server when `verify`, then
/// stores it in the selected profile (a new one named after the environment if
/// none is selected) and makes that profile current.
pub fn store_api_key(ctx: &Ctx, key: &ApiKey, verify: bool) -> Result<LoginOutcome, CliError> {
    let resolver = ctx.resolver(None);
    let selection = resolver.select(&ctx.store.read_config()?);
    let server = selection
        .server
        .clone()
        .ok_or_else(|| ClientError::UnknownEnvironment(selection.environment.clone()))?;
    let me = if verify {
        Some(verify_key(ctx, &server, key)?)
    } else {
        None
    };
    let environment = selection.environment.clone();
    let profile = ctx.store.update(|config, creds| {
        // Named again under the lock: a concurrent login may have created the
        // profile this one would otherwise have been given.
        let name = match selection.profile_name() {
            Some(name) => name.to_owned(),
            None => config
                .current_profile(&environment)
                .map_or_else(|| config.new_profile_name(&environment), str::to_owned),
        };
        config.set_current_profile(&environment, &name);
        let entry = creds.profiles.entry(name.clone()).or_default();
        entry.api_key = Some(key.clone());
        // A key login replaces an OAuth login of the profile, which would
        // otherwise keep winning resolution.
        entry.oauth = None;
        Ok(name)
    })?;
    Ok(LoginOutcome {
        profile,
        environment,
        server,
        me,
    })
}

fn verify_key(ctx: &Ctx, server: &str, key: &ApiKey) -> Result<Me, CliError> {
    ApiClient::new(server)
        .me_with_api_key(key)
        .map_err(|e| match e {
            ClientError::Unauthorized { .. } => CliError::from(e).with_hint(
                "the key is invalid, expired or revoked; check it or create a new one",
            ),
            ClientError::Network { .. } => CliError::from(e).with_hint(format!(
                "is the server running? To store the key without checking it, run `{} auth login --no-verify`",
                ctx.spec.name
            )),
            other => other.into(),
        })
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
            };
            let got = read_key(&args, &mut cap.io());
            let got = got.as_ref().map(|k| k.expose_secret()).map_err(exit_for);
            assert_eq!(got, want, "{flag:?} {with_token} {stdin:?} {tty}");
        }
    }

    #[test]
    fn first_login_names_the_profile_after_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ctx(&dir);
        let outcome = store_api_key(&ctx, &ApiKey::new("k1"), false).unwrap();
        assert_eq!(outcome.profile, "default");
        assert_eq!(outcome.server, "http://127.0.0.1:8080");
        // A second login replaces the key of the current profile.
        store_api_key(&ctx, &ApiKey::new("k2"), false).unwrap();
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
}
