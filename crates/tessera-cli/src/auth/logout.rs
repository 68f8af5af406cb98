//! `auth logout [NAME] [--all] [--force]`: delete profiles and their stored
//! credentials. Asks first on a terminal; without one, refuses unless `--force`.
//! Logging out of the current profile makes another of its environment's
//! profiles current, when there is one (as gh switches accounts).
//!
//! An OAuth login is revoked at the server first (RFC 7009: the refresh token,
//! then the access token). When that fails (server down, no revocation
//! endpoint) the local copy is deleted anyway, with a warning that the tokens
//! stay valid at the server until they expire, and the exit status is 0: the
//! user asked to be logged out here and is, as with `gh auth logout`. Scripts
//! that must know can read the warning or revoke the tokens themselves. A
//! configuration directory that cannot be written stops the logout before
//! anything is revoked.

use super::Target;
use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use tessera_client::oauth::{self, ServerMetadata, TokenToRevoke};
use tessera_client::token_cache;
use tessera_client::{Error as ClientError, OAuthSession, Resolver};

#[derive(Debug, Default, clap::Args)]
pub struct LogoutArgs {
    /// The profile to log out of (default: the selected profile).
    #[arg(conflicts_with = "all")]
    pub name: Option<String>,
    /// Log out of every profile in every environment.
    #[arg(long)]
    pub all: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &LogoutArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let config = ctx.store.read_config()?;
    let creds = ctx.store.read_credentials()?.file;
    let targets: Vec<String> = if args.all {
        let mut names: Vec<String> = config
            .profiles
            .keys()
            .chain(creds.profiles.keys())
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    } else {
        let name = args.name.clone().or_else(|| {
            ctx.resolver(None)
                .select(&config)
                .profile_name()
                .map(str::to_owned)
        });
        match name {
            Some(name)
                if config.profiles.contains_key(&name) || creds.profiles.contains_key(&name) =>
            {
                vec![name]
            }
            Some(name) => {
                return Err(CliError::NotLoggedIn {
                    message: format!("no profile named {name:?}"),
                    hint: format!("`{} auth list` shows the profiles", ctx.spec.name),
                });
            }
            None => match config.profiles_in(config.current_environment()).next() {
                // Profiles, none current: which one is the user's to say.
                Some(_) => {
                    return Err(CliError::Usage(format!(
                        "no profile of environment {:?} is current: name the one to log out of (`{app} auth logout NAME`; `{app} auth list` shows them)",
                        config.current_environment(),
                        app = ctx.spec.name
                    )));
                }
                None => vec![],
            },
        }
    };
    if targets.is_empty() {
        return Err(CliError::NotLoggedIn {
            message: "not logged in: there is no profile to log out of".into(),
            hint: ctx.login_hint(),
        });
    }

    let what = match targets.as_slice() {
        [one] => format!("logging out of profile {one:?}"),
        many => format!("logging out of {} profiles", many.len()),
    };
    if !args.force {
        let question = format!(
            "{}{}? This deletes the stored credentials.",
            what[..1].to_uppercase(),
            &what[1..]
        );
        if !io.confirm_or_flag(&question, &what, "--force")? {
            return Err(CliError::Cancelled);
        }
    }

    // A renewal of one of these logins under way (it holds the profile's
    // lock, not the store's) is waited for: the tokens it gets are the ones
    // to revoke, not ones written after the logout.
    let _renewals = targets
        .iter()
        .map(|name| ctx.store.lock_profile(name))
        .collect::<Result<Vec<_>, _>>()?;
    // Revoking is not undone: a directory that cannot take the change must
    // stop the logout before it, not leave a profile whose tokens are dead.
    ctx.store.lock()?.check_writable()?;
    // Read again: while the question waited, another process may have
    // renewed a login (a new refresh token) or logged in anew; what is
    // revoked must be what is deleted.
    let mut creds = ctx.store.read_credentials()?.file;
    for name in &targets {
        let Some(stored) = creds.profiles.get_mut(name) else {
            continue;
        };
        // A keychain profile's tokens are in the keychain: read them to
        // revoke them. Failing that, logging out here goes ahead (a keychain
        // gone for good must not keep a profile forever), and says what it
        // leaves behind and how to clear it.
        if let Err(e) = ctx.store.load_secrets(name, stored) {
            let left = match (&e, &stored.keychain) {
                (ClientError::Keychain { problem, .. }, Some(entry)) => format!(
                    "the keychain cannot be used ({problem}): the secret of profile {name:?} stays in its entry {entry} (on Linux, remove it with `secret-tool clear service {} username {}` once the keychain answers)",
                    super::shell_env::shell_quote(&entry.service),
                    super::shell_env::shell_quote(&entry.account)
                ),
                _ => e.to_string(),
            };
            io.warn(format!(
                "{left}; its tokens, if any, were not revoked at the server and stay valid until they expire"
            ))?;
        }
        if let Some(session) = &stored.oauth {
            revoke_session(ctx, io, name, session)?;
        }
    }
    let left_without_current: std::collections::BTreeSet<&str> = targets
        .iter()
        .filter_map(|name| {
            let environment = config.profiles.get(name)?.environment.as_str();
            (config.current_profile(environment) == Some(name.as_str())).then_some(environment)
        })
        .collect();
    delete(ctx, &targets)?;
    for name in &targets {
        writeln!(io.stderr, "Logged out of profile {name:?}.")?;
    }
    let had_key = targets.iter().any(|name| {
        creds
            .profiles
            .get(name)
            .is_some_and(|c| c.api_key.is_some())
    });
    if had_key {
        writeln!(
            io.stderr,
            "The API key itself still works on the server until it is revoked there."
        )?;
    }
    for environment in left_without_current {
        if let Some(next) = make_another_current(ctx, environment)? {
            writeln!(
                io.stderr,
                "Switched to profile {next:?} (environment {environment:?})."
            )?;
        }
    }
    if ctx.env.var(ctx.spec.api_key_env).is_some() {
        io.warn(format!(
            "{} is still set in this environment and will keep being used",
            ctx.spec.api_key_env
        ))?;
    }
    Ok(())
}

/// What [`delete`] found.
#[derive(Debug)]
pub struct Deleted {
    /// One of the profiles was its environment's current one.
    pub was_current: bool,
    /// One of the profiles had a credential stored.
    pub had_credentials: bool,
}

/// Deletes profiles and their stored credentials, revoking nothing.
pub fn delete(ctx: &Ctx, names: &[String]) -> Result<Deleted, CliError> {
    Ok(ctx.store.update(|config, creds| {
        let mut deleted = Deleted {
            was_current: false,
            had_credentials: false,
        };
        for name in names {
            if let Some(profile) = config.profiles.get(name) {
                deleted.was_current |= config.current_profile(&profile.environment) == Some(name);
            }
            config.remove_profile(name);
            deleted.had_credentials |= creds.profiles.remove(name).is_some_and(|c| !c.is_empty());
        }
        Ok(deleted)
    })?)
}

/// After the current profile of `environment` was logged out, makes another
/// of its profiles current, as `gh auth logout` switches to the host's other
/// account: the user is still logged in there, and commands should say so.
fn make_another_current(ctx: &Ctx, environment: &str) -> Result<Option<String>, CliError> {
    Ok(ctx.store.update(|config, _| {
        if config.current_profile(environment).is_some() {
            return Ok(None);
        }
        let Some(next) = config
            .profiles_in(environment)
            .next()
            .map(|(n, _)| n.to_owned())
        else {
            return Ok(None);
        };
        config.set_current_profile(environment, &next);
        Ok(Some(next))
    })?)
}

/// Revokes a login's tokens at the profile's server ([`revoke`]). Failures
/// are warnings: logging out locally goes ahead.
fn revoke_session(
    ctx: &Ctx,
    io: &mut Io,
    profile: &str,
    session: &OAuthSession,
) -> Result<(), CliError> {
    match revoke(ctx, io, profile, session) {
        Ok(()) => writeln!(
            io.stderr,
            "Revoked the tokens of profile {profile:?} at the server."
        )?,
        Err(e) => io.warn(format!(
            "{e}; the tokens of profile {profile:?} were deleted here but not revoked at the server, and stay valid until they expire"
        ))?,
    }
    Ok(())
}

/// RFC 7009 at the revocation endpoint stored with the login, once it is
/// known to be the profile's server's ([`oauth::check_stored_endpoint`]):
/// the refresh token first (revoking it also ends the grant's access tokens
/// on servers that support it), then the access token.
pub(crate) fn revoke(
    ctx: &Ctx,
    io: &mut Io,
    profile: &str,
    session: &OAuthSession,
) -> Result<(), CliError> {
    let endpoint = oauth::require_endpoint(&session.revocation_endpoint, "revocation endpoint")
        .map_err(ClientError::from)?;
    let resolver = Resolver {
        profile_flag: Some(profile),
        ..ctx.resolver(None)
    };
    let target = Target::of(resolver.select(&ctx.store.read_config()?))?;
    let http = target.oauth_http(ctx, io)?;
    let listed: fn(&ServerMetadata) -> Option<&str> = |m| m.revocation_endpoint.as_deref();
    oauth::check_stored_endpoint(&http, &target.server, endpoint, listed)
        .map_err(ClientError::from)?;
    let client = token_cache::session_client(session);
    let refresh = session.refresh_token.as_ref().map(TokenToRevoke::Refresh);
    // A server that refuses one token (e.g. `unsupported_token_type` for
    // refresh tokens) may still revoke the other: both are tried, and the
    // first refusal is the answer. One that cannot be reached is not asked
    // twice.
    let mut refused = None;
    for token in refresh
        .into_iter()
        .chain([TokenToRevoke::Access(&session.access_token)])
    {
        match oauth::revoke(&http, endpoint, &client, token) {
            Ok(()) => {}
            Err(e) if no_use_asking_again(&e) => return Err(ClientError::from(e).into()),
            Err(e) => {
                refused.get_or_insert(e);
            }
        }
    }
    match refused {
        Some(e) => Err(ClientError::from(e).into()),
        None => Ok(()),
    }
}

/// A revocation endpoint that could not be reached, or that took the
/// connection and said nothing until the deadline, is not asked about the
/// second token: it would only wait out the whole deadline again.
fn no_use_asking_again(error: &oauth::OAuthError) -> bool {
    error.is_unreachable() || matches!(error, oauth::OAuthError::NoAnswer { .. })
}

#[cfg(test)]
mod tests {
    /// `auth logout` against a revocation endpoint that never answered
    /// waited its 30 s deadline twice (refresh token, then access token).
    #[test]
    fn a_silent_revocation_endpoint_is_asked_once() {
        let silent = oauth::OAuthError::NoAnswer {
            url: "http://127.0.0.1:9/revoke".into(),
            seconds: 30.0,
        };
        assert!(no_use_asking_again(&silent));
        let refused = oauth::OAuthError::Rejected {
            status: Some(400),
            body: serde_json::from_str(r#"{"error":"unsupported_token_type"}"#).unwrap(),
        };
        assert!(!no_use_asking_again(&refused));
    }

    use super::*;
    use crate::context::testing::ctx;
    use crate::exit::{Exit, exit_for};
    use crate::io::testing::Captured;
    use tessera_client::ApiKey;

    /// (stdin is a terminal, --force, the answer if asked) -> asked?, exit, logged out?
    #[test]
    fn prompt_on_a_terminal_refuse_without_one() {
        let cases = [
            (true, false, Some(true), true, Exit::Ok, true),
            (true, false, Some(false), true, Exit::Failure, false),
            (false, false, None, false, Exit::Usage, false),
            (false, true, None, false, Exit::Ok, true),
            (true, true, None, false, Exit::Ok, true),
        ];
        for (tty, force, answer, want_asked, want_exit, want_gone) in cases {
            let dir = tempfile::tempdir().unwrap();
            let ctx = ctx(&dir);
            ctx.store
                .update(|config, creds| {
                    config.set_current_profile("default", "default");
                    creds.profiles.entry("default".into()).or_default().api_key =
                        Some(ApiKey::new("k"));
                    Ok(())
                })
                .unwrap();
            let mut cap = Captured {
                tty,
                ..Default::default()
            };
            cap.prompter.answers.extend(answer);
            let args = LogoutArgs {
                force,
                ..Default::default()
            };
            let result = run(&args, &ctx, &mut cap.io());
            let exit = result.as_ref().map_or_else(exit_for, |()| Exit::Ok);
            let case = (tty, force, answer);
            assert_eq!(exit, want_exit, "{case:?}: {result:?}");
            assert_eq!(!cap.prompter.asked.is_empty(), want_asked, "{case:?}");
            let gone = !ctx
                .store
                .read_credentials()
                .unwrap()
                .file
                .profiles
                .contains_key("default");
            assert_eq!(gone, want_gone, "{case:?}");
            if want_exit == Exit::Usage {
                assert!(result.unwrap_err().to_string().contains("--force"));
            }
        }
    }
}
