//! `lofty-cli`: the Lofty CLI's `auth` commands, as `lofty-cli-auth.txt`
//! documents them, on Tessera's command host. Words, help pages, file
//! locations and variable names are in `texts.rs`; this file is the command
//! tree and which library command each command runs.
//!
//! One account per machine, as the Lofty CLI has: the customer key and the
//! cached OAuth login live in `~/.lofty/credentials.toml` (0600, directory
//! 0700). Resolution: `LOFTY_CUSTOMER_KEY` > saved key (no `.env`); requests use a
//! cached OAuth token (`Bearer`) when there is one, else the key (`token`).

mod texts;

use clap::{Parser, Subcommand};
use tessera_cli::args::{Secret, api_key_arg, secret_arg};
use tessera_cli::auth::login::{self, client_credentials, session, web};
use tessera_cli::auth::save::{Saved, forget_key, save};
use tessera_cli::auth::{self, credential, logout, show, status};
use tessera_cli::docs::DocsCommand;
use tessera_cli::host::{App, Globals, Persona};
use tessera_cli::{CliError, Ctx, Io};
use tessera_client::Source;
use tessera_proto::{ApiKey, ClientSecret};

/// The single profile the Lofty CLI keeps.
const PROFILE: &str = "default";

const PERSONA: Persona = Persona {
    spec: &texts::LOFTY,
    oauth: &texts::LOFTY_OAUTH,
    profile: Some(PROFILE),
    errors: texts::ERRORS,
    theme: &tessera_cli::io::SimpleTheme,
    usage: tessera_cli::commander::usage_error::<Cli>,
};

// `about` texts are not shown (the help pages are Commander's, rendered
// from texts.rs); they describe the commands in completions and man pages.
#[derive(Parser)]
// `args_override_self`: as in Commander, a repeated option's last value wins
// (a repeated flag stays set) instead of being refused.
#[command(name = "lofty-cli", version, disable_help_subcommand = true,
          arg_required_else_help = true, args_override_self = true,
          override_help = texts::ROOT.render(),
          about = texts::ROOT.description)]
struct Cli {
    #[arg(long, global = true, value_name = "url", help = texts::API_URL)]
    api_url: Option<String>,
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand)]
enum Top {
    #[command(subcommand, disable_help_subcommand = true, arg_required_else_help = true,
              override_help = texts::AUTH.render(), about = texts::AUTH.description)]
    Auth(Auth),
    #[command(override_help = texts::ROOT.render(), about = texts::HELP)]
    Help { command: Option<String> },
    /// Not in the documented help: `completion SHELL`, `man DIR`.
    #[command(flatten)]
    Docs(DocsCommand),
}

#[derive(Subcommand)]
enum Auth {
    #[command(override_help = texts::page("set"), about = texts::SET)]
    Set {
        #[arg(value_name = "customer-key", value_parser = api_key_arg)]
        customer_key: ApiKey,
    },
    #[command(override_help = texts::page("show"), about = texts::SHOW)]
    Show {
        #[arg(long)]
        raw: bool,
    },
    #[command(override_help = texts::page("remove"), about = texts::REMOVE)]
    Remove,
    #[command(override_help = texts::page("login"), about = texts::LOGIN)]
    Login,
    #[command(override_help = texts::page("status"), about = texts::STATUS)]
    Status,
    #[command(override_help = texts::page("login-session"), about = texts::LOGIN_SESSION)]
    LoginSession {
        // As Commander's: an option's value may start with `-` (session ids can).
        #[arg(long, value_name = "url", allow_hyphen_values = true)]
        tokenurl: Option<String>,
        #[arg(long, value_name = "id", value_parser = secret_arg, allow_hyphen_values = true)]
        sessionid: Option<Secret>,
    },
    #[command(override_help = texts::page("login-browser"), about = texts::LOGIN_BROWSER)]
    LoginBrowser,
    #[command(override_help = texts::page("logout"), about = texts::LOGOUT)]
    Logout,
    #[command(override_help = texts::page("test"), about = texts::TEST)]
    Test,
    #[command(override_help = texts::page("help"), about = texts::HELP)]
    Help { command: Option<String> },
}

impl App for Cli {
    fn globals(&self) -> Globals {
        Globals::api_url(&self.api_url)
    }

    fn run(self, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
        let auth = match self.command {
            Top::Help { command } => {
                let page = match command.as_deref() {
                    None | Some("help") => texts::ROOT.render(),
                    Some("auth") => texts::AUTH.render(),
                    Some(_) => return no_such_command(&texts::ROOT.render(), io),
                };
                return Ok(write!(io.stdout, "{page}")?);
            }
            Top::Auth(auth) => auth,
            Top::Docs(command) => return tessera_cli::docs::run::<Cli>(&command, io),
        };
        match auth {
            Auth::Help { command } => {
                let page = match command.as_deref() {
                    None => texts::AUTH.render(),
                    Some(name) => match tessera_cli::commander::find(&texts::PAGES, name) {
                        Some(page) => page,
                        None => return no_such_command(&texts::AUTH.render(), io),
                    },
                };
                Ok(write!(io.stdout, "{page}")?)
            }
            Auth::Set { customer_key } => {
                let key = ApiKey::new(customer_key.expose_secret().trim());
                if key.expose_secret().is_empty() {
                    return Err(texts::empty_key());
                }
                login::check_key_characters(&key, false)?;
                save(ctx, Saved::ApiKey(key))?;
                Ok(texts::saved(ctx, io)?)
            }
            Auth::Show { raw } => {
                let found = show::key(ctx, io)?.ok_or_else(texts::no_customer_key)?;
                Ok(texts::show(io, &found, raw)?)
            }
            Auth::Remove => Ok(texts::removed(ctx, io, forget_key(ctx, PROFILE)?)?),
            Auth::Login => login(ctx, io),
            Auth::Status => {
                let resolution = status::sources(ctx, None, io)?;
                texts::status(ctx, io, &auth::target(ctx)?.server, &resolution)?;
                match resolution.credential() {
                    Some(_) => Ok(()),
                    None => Err(texts::not_authenticated(true)),
                }
            }
            Auth::LoginSession {
                tokenurl,
                sessionid,
            } => {
                let url = tokenurl.or_else(|| ctx.env.var(ctx.oauth.token_url_env));
                // An empty `--sessionid ""` (a variable that expanded to
                // nothing) is as missing as an empty LOFTY_SESSION_ID.
                let id = sessionid
                    .map(|s| s.expose_secret().to_owned())
                    .filter(|s| !s.is_empty())
                    .or_else(|| ctx.env.var(ctx.oauth.session_id_env));
                let (Some(url), Some(id)) = (&url, &id) else {
                    return Err(texts::missing_session(url.is_none(), id.is_none()));
                };
                let session = session::obtain(ctx, io, url, id, None)
                    .map_err(|e| e.hinted(ctx, None, texts::session_hint))?;
                store(ctx, &session)?;
                Ok(texts::token_url(io, &session)?)
            }
            Auth::LoginBrowser => {
                let options = web::WebOptions {
                    client_id: ctx.oauth.default_client_id,
                    scope: None,
                    timeout: None,
                    no_browser: false,
                };
                let target = auth::target(ctx)?;
                let session = web::obtain(ctx, io, &target, &options, &texts::WEB)
                    .map_err(|e| e.hinted(ctx, Some(&texts::DISCOVERY), texts::browser_hint))?;
                store(ctx, &session)?;
                Ok(texts::browser(io, &session)?)
            }
            Auth::Logout => {
                let had = match logout::delete(ctx, &[PROFILE.to_owned()]) {
                    Ok(deleted) => deleted.had_credentials,
                    // "Clear all" of a credentials file that no longer parses:
                    // it holds only this CLI's one profile, so it goes whole.
                    Err(e) if is_unreadable_credentials(ctx, &e) => {
                        ctx.store.lock()?.remove_credentials()?
                    }
                    Err(e) => return Err(e),
                };
                Ok(texts::logged_out(ctx, io, had)?)
            }
            Auth::Test => {
                let active = credential::active(ctx, None, io).map_err(|e| match e {
                    CliError::NotLoggedIn { .. } => texts::not_authenticated(false),
                    other => other,
                })?;
                // "429: Rate limit exceeded. Retry with backoff." (overview)
                let client = auth::target(ctx)?.api(ctx, io)?;
                let me = auth::test::me(ctx, io, &client, &active.authorization)
                    .map_err(|e| texts::test_failed(&active, e))?;
                Ok(texts::tested(io, &active, &me)?)
            }
        }
    }
}

fn is_unreadable_credentials(ctx: &Ctx, error: &CliError) -> bool {
    matches!(
        error.client(),
        Some(tessera_client::Error::Parse { path, .. }) if *path == ctx.store.credentials_path()
    )
}

/// `help NAME` of no command: Commander shows the group's help page on
/// stderr, with no message of its own.
fn no_such_command(page: &str, io: &mut Io) -> Result<(), CliError> {
    write!(io.stderr, "{page}")?;
    Err(CliError::UsageShown)
}

fn main() -> std::process::ExitCode {
    tessera_cli::host::main::<Cli>(&PERSONA)
}

fn store(ctx: &Ctx, session: &tessera_client::OAuthSession) -> Result<String, CliError> {
    save(
        ctx,
        Saved::OAuth {
            session: Box::new(session.clone()),
            customer_key: None,
        },
    )
}

/// Client credentials from `LOFTY_CLIENT_ID`/`LOFTY_CLIENT_SECRET`, with the
/// customer key sent as `customer_key`.
fn login(ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let [id, secret] =
        [ctx.oauth.client_id_env, ctx.oauth.client_secret_env].map(|v| ctx.env.var(v));
    let (Some(id), Some(secret)) = (id, secret) else {
        let names = [ctx.oauth.client_id_env, ctx.oauth.client_secret_env];
        let missing: Vec<&str> = names
            .into_iter()
            .filter(|n| ctx.env.var(n).is_none())
            .collect();
        return Err(texts::missing_vendor(&missing));
    };
    let resolution = ctx.resolver(None).first()?;
    let found = resolution.winner().ok_or_else(texts::no_customer_key)?;
    auth::credential::check_found_key(found)?;
    let target = auth::target(ctx)?;
    let secret = ClientSecret::new(secret);
    let mut session =
        client_credentials::obtain(ctx, io, &target, &id, &secret, Some(&found.key), None)
            .map_err(|e| e.hinted(ctx, Some(&texts::DISCOVERY), texts::vendor_hint))?;
    // Renewing resends the saved customer key; a key that only lives in the
    // environment is not written to disk, so such a login is not renewed.
    if !matches!(found.source, Source::Profile { .. }) {
        session.client_secret = None;
    }
    store(ctx, &session)?;
    Ok(texts::client_credentials(io, found, &session)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_values_may_start_with_a_dash_as_in_commander() {
        let args = ["lofty-cli", "auth", "login-session", "--sessionid", "-e4x"];
        let Top::Auth(Auth::LoginSession { sessionid, .. }) =
            Cli::try_parse_from(args).unwrap().command
        else {
            panic!("not login-session");
        };
        assert_eq!(sessionid.unwrap().expose_secret(), "-e4x");
    }

    #[test]
    fn a_repeated_option_takes_its_last_value_as_in_commander() {
        let line = "lofty-cli auth login-session --sessionid abc --sessionid def --tokenurl x";
        let cli = Cli::try_parse_from(line.split(' ')).unwrap();
        let Top::Auth(Auth::LoginSession { sessionid, .. }) = cli.command else {
            panic!("not login-session");
        };
        assert_eq!(sessionid.unwrap().expose_secret(), "def");
        let line = "lofty-cli --api-url a --api-url b auth show --raw --raw";
        let cli = Cli::try_parse_from(line.split(' ')).unwrap();
        assert_eq!(cli.api_url.as_deref(), Some("b"));
        assert!(matches!(cli.command, Top::Auth(Auth::Show { raw: true })));
    }
}
