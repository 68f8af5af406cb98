//! The command host: the one `main` of every binary built on this crate
//! (`tessera` and the persona CLIs).
//!
//! A binary is a [`Persona`] (its names, how its errors and prompts read) and a
//! clap tree implementing [`App`], whose `run` maps each of its commands to a
//! library command and renders the result with the binary's texts. The host
//! does everything else the same way for all of them: parse (bad usage exits
//! 2), layer `--api-url` over the URL variable, start logging when asked,
//! build the context and the terminal streams, run, and turn the outcome into
//! words on stderr and an exit code ([`report`]).

use crate::auth::AuthCommand;
use crate::context::{Ctx, Storage};
use crate::docs::{self, DocsCommand};
use crate::error::CliError;
use crate::exit::{Exit, exit_for};
use crate::io::{Io, Prompter, ThemedPrompter};
use crate::texts::printable_lines;
use serde::Serialize;
use std::borrow::Cow;
use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use tessera_client::{AppSpec, EnvVars, OAuthSpec, Overlay, ProcessEnv, Store};

/// Everything that makes a binary itself, apart from its commands.
pub struct Persona {
    /// File locations and variable names.
    pub spec: &'static AppSpec,
    pub oauth: &'static OAuthSpec,
    /// `Some(name)`: the CLI keeps a single account, in this profile of its
    /// credentials file (lua, lofty-cli). `None`: profiles are chosen by flag,
    /// variable or the environment's current one (tessera, llamactl).
    pub profile: Option<&'static str>,
    pub errors: ErrorTexts,
    /// How prompts are drawn.
    pub theme: &'static dyn crate::io::Theme,
    /// How a command line clap refuses is reported; returns the exit status.
    pub usage: fn(&clap::Error, &Persona) -> Exit,
}

/// How a failed command reads on stderr: `{error}{message}`, then the hint on
/// a line of its own.
pub struct ErrorTexts {
    pub error: &'static str,
    /// Instead of `error` when there is no credential.
    pub not_logged_in: &'static str,
    /// The whole line when the user declined a confirmation; `None`: as any error.
    pub cancelled: Option<&'static str>,
    /// Before the hint.
    pub hint: &'static str,
    /// The hint when the server could not be reached and the error has none.
    pub unreachable: Option<&'static str>,
    /// The hint when plain http was refused: how this CLI opts in for a
    /// server that has no https, if it can (`auth env add NAME URL
    /// --insecure`); `None`: it cannot, and the error says to use https.
    pub insecure_http: Option<&'static str>,
}

impl ErrorTexts {
    /// `prefix` before every error, `hint: ` before hints, nothing else.
    pub const fn plain(prefix: &'static str) -> Self {
        ErrorTexts {
            error: prefix,
            not_logged_in: prefix,
            cancelled: None,
            hint: "hint: ",
            unreachable: None,
            insecure_http: None,
        }
    }
}

/// Options of the command line that the host acts on.
#[derive(Debug, Default)]
pub struct Globals {
    /// `--api-url`: read wherever the persona's URL variable is read.
    pub api_url: Option<String>,
    /// `--profile`.
    pub profile: Option<String>,
    /// Errors as JSON on stderr (`--json` of the command).
    pub json: bool,
    /// `--secure-storage` / `--insecure-storage` of a login.
    pub storage: Storage,
}

impl Globals {
    /// `--profile`, and what the `auth` command (when that is the one run) says
    /// about JSON errors and secret storage.
    pub fn auth(profile: Option<String>, command: Option<&AuthCommand>) -> Self {
        Globals {
            profile,
            json: command.is_some_and(AuthCommand::json),
            storage: command.map(AuthCommand::storage).unwrap_or_default(),
            api_url: None,
        }
    }

    /// Just `--api-url`.
    pub fn api_url(url: &Option<String>) -> Self {
        Globals {
            api_url: url.clone(),
            ..Globals::default()
        }
    }
}

impl Globals {
    /// An empty `--api-url ""` is a mistake (a variable that expanded to
    /// nothing), not a request for the default server: refused as any URL
    /// that is not one. An empty URL variable still means unset.
    fn check(&self) -> Result<(), CliError> {
        match self.api_url.as_deref() {
            Some(url) if url.trim().is_empty() => {
                Err(tessera_client::Error::InvalidUrl(url.to_owned()).into())
            }
            _ => Ok(()),
        }
    }
}

/// A binary's command tree.
pub trait App: clap::Parser {
    fn globals(&self) -> Globals {
        Globals::default()
    }

    /// Runs the parsed command: the persona's table from its commands to the
    /// library's, each result rendered in its words.
    fn run(self, ctx: &Ctx, io: &mut Io) -> Result<(), CliError>;
}

/// The whole process of a binary: parse, optional logging, run, report.
pub fn main<A: App>(persona: &Persona) -> ExitCode {
    let (app, docs) = match parse::<A>() {
        Ok(parsed) => parsed,
        Err(e) => return (persona.usage)(&e, persona).into(),
    };
    let globals = app.globals();
    let checked = globals.check();
    let process = ProcessEnv;
    let env = Overlay::new(&process).with(persona.spec.url_env, globals.api_url);
    init_logging(persona.spec, &env);
    let profile = persona.profile.map(str::to_owned).or(globals.profile);
    with_process_io(&mut ThemedPrompter(persona.theme), |io| {
        let result = match docs {
            Some(command) => docs::run_naming::<A>(&command, io, &|page| own_names(page, persona)),
            None => checked
                .and_then(|()| context(persona, &env, profile))
                .map(|ctx| Ctx {
                    storage: globals.storage,
                    ..ctx
                })
                .and_then(|ctx| app.run(&ctx, io)),
        };
        report(result, globals.json, &persona.errors, io).into()
    })
}

/// The command line, and the [`DocsCommand`] it names, if any: a binary that
/// mounts those (`#[command(flatten)]`) has them run here, without a
/// context, so they work without a home directory.
fn parse<A: App>() -> Result<(A, Option<DocsCommand>), clap::Error> {
    use clap::{FromArgMatches as _, Subcommand as _};
    let matches = A::command().try_get_matches()?;
    let docs = match matches.subcommand_name() {
        Some(name) if DocsCommand::has_subcommand(name) => {
            Some(DocsCommand::from_arg_matches(&matches)?)
        }
        _ => None,
    };
    Ok((A::from_arg_matches(&matches)?, docs))
}

/// clap's own message for a refused command line; help and version are not
/// failures. Help names the command in its examples
/// ([`crate::texts::name_the_command`]).
pub fn clap_usage(error: &clap::Error, persona: &Persona) -> Exit {
    use clap::error::ErrorKind;
    // Asked for, help goes to stdout; shown for a missing subcommand, to
    // stderr with exit 2. Either way its examples name the command.
    if let ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand =
        error.kind()
    {
        let help = error.render();
        let plain = help.to_string();
        let refused = error.use_stderr();
        let terminal = match refused {
            true => std::io::stderr().is_terminal(),
            false => std::io::stdout().is_terminal(),
        };
        // As clap's own output does (https://no-color.org, and a dumb terminal).
        let plain_wanted = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
            || std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        let shown = match terminal && !plain_wanted {
            true => help.ansi().to_string(),
            false => plain.clone(),
        };
        let page = crate::texts::name_the_command(&plain, &shown);
        let page = own_names(&page, persona);
        if refused {
            let _ = std::io::stderr().write_all(page.as_bytes());
            return Exit::Usage;
        }
        return shown_on_stdout(page.as_bytes(), persona);
    }
    if error.use_stderr() && json_asked(std::env::args_os().skip(1), error) {
        let (message, hint) = refusal_parts(&error.render().to_string());
        let body = ErrorJson {
            error: message,
            kind: Exit::Usage.kind(),
            exit_code: Exit::Usage.code(),
            hint: Some(Cow::Borrowed(&hint)),
        };
        let _ = serde_json::to_writer(std::io::stderr(), &body);
        let _ = writeln!(std::io::stderr());
        return Exit::Usage;
    }
    let printed = error.print();
    if error.use_stderr() {
        Exit::Usage
    } else {
        written_or_reported(printed.and_then(|()| std::io::stdout().flush()), persona)
    }
}

/// Help or the version, asked for: exit 0 only once all of it is written.
/// Lost to a full disk (`> /dev/full`) or a reader that went away
/// (`| true`), it is a failed command (1) reported as any failed write is,
/// not a panic (`print!`'s, exit 101) nor a success.
pub(crate) fn shown_on_stdout(page: &[u8], persona: &Persona) -> Exit {
    let mut stdout = std::io::stdout();
    let written = stdout.write_all(page).and_then(|()| stdout.flush());
    written_or_reported(written, persona)
}

/// [`Exit::Ok`] for a write that succeeded; else the failure, [`report`]ed.
pub(crate) fn written_or_reported(written: std::io::Result<()>, persona: &Persona) -> Exit {
    match written {
        Ok(()) => Exit::Ok,
        Err(e) => with_process_io(&mut ThemedPrompter(persona.theme), |io| {
            report(Err(e.into()), false, &persona.errors, io)
        }),
    }
}

/// Whether a refused command line asked for `--json` (before any `--`), and
/// the refusal is not about `--json` itself (a command that has none).
fn json_asked(args: impl Iterator<Item = std::ffi::OsString>, error: &clap::Error) -> bool {
    use clap::error::{ContextKind, ContextValue};
    let about_json = matches!(
        error.get(ContextKind::InvalidArg),
        Some(ContextValue::String(arg)) if arg.starts_with("--json")
    );
    !about_json && args.take_while(|a| a != "--").any(|a| a == "--json")
}

/// Clap's refusal (`error: …`, tips, `Usage: …`) split for the JSON error
/// every command prints under `--json`: the first line is the error, the
/// rest the hint.
fn refusal_parts(rendered: &str) -> (String, String) {
    let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("the command line is not valid");
    let rest: Vec<&str> = lines.map(|l| l.trim_start_matches("tip: ")).collect();
    let error = first.trim_start_matches("error: ").to_owned();
    (error, rest.join("; "))
}

/// `page` (a help page, a manual page, a completion script) with what the
/// library's commands say in Tessera's names written in this CLI's: the
/// commands they quote (`` `$(tessera auth token)` `` is
/// `` `$(acme auth token)` ``) and the variables, `acme auth login --help` says
/// `ACME_CLIENT_ID`. Identity for `tessera`.
fn own_names(page: &str, persona: &Persona) -> String {
    let page = own_variable_names(page, persona);
    let name = persona.spec.name;
    if name == "tessera" {
        return page;
    }
    // A quoted command starts after one of these, and help may wrap a line
    // right after the name.
    let mut out = String::with_capacity(page.len());
    let mut rest = page.as_str();
    while let Some(at) = rest.find("tessera") {
        let quoted = rest[..at].ends_with(['`', '(', '!']);
        let after = &rest[at + "tessera".len()..];
        out.push_str(&rest[..at]);
        match quoted && after.starts_with(char::is_whitespace) {
            true => out.push_str(name),
            false => out.push_str("tessera"),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

fn own_variable_names(page: &str, persona: &Persona) -> String {
    let (spec, oauth) = (persona.spec, persona.oauth);
    let export = crate::auth::shell_env::env_prefix(spec);
    let own = |name: &str| -> Option<String> {
        Some(match name {
            "API_KEY" => spec.api_key_env.to_owned(),
            "PROFILE" => spec.profile_env.to_owned(),
            "URL" => spec.url_env.to_owned(),
            "CONFIG_DIR" => spec.config_dir_env.to_owned(),
            "LOG" => spec.log_env.to_owned(),
            "CLIENT_ID" => oauth.client_id_env.to_owned(),
            "CLIENT_SECRET" => oauth.client_secret_env.to_owned(),
            "TOKEN_URL" => oauth.token_url_env.to_owned(),
            "SESSION_ID" => oauth.session_id_env.to_owned(),
            "ID_TOKEN" => oauth.id_token_env.to_owned(),
            "TOKEN" | "AUTHORIZATION" | "TOKEN_EXPIRES_AT" => format!("{export}{name}"),
            _ => return None,
        })
    };
    let mut out = String::with_capacity(page.len());
    let mut rest = page;
    while let Some(at) = rest.find("TESSERA_") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "TESSERA_".len()..];
        let end = after
            .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
            .unwrap_or(after.len());
        match own(&after[..end]) {
            Some(name) => out.push_str(&name),
            None => out.push_str(&rest[at..at + "TESSERA_".len() + end]),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Runs `f` with the process's real stdin, stdout, stderr and `prompter`.
///
/// stderr and stdin are not held locked: a progress spinner draws on stderr
/// from its own thread, and a web login reads a pasted redirect from stdin on
/// another thread; either would wait forever on a lock held here.
pub fn with_process_io<R>(prompter: &mut dyn Prompter, f: impl FnOnce(&mut Io) -> R) -> R {
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    let stderr_is_tty = stderr.is_terminal();
    let stdin = std::io::stdin();
    let stdin_is_tty = stdin.is_terminal();
    let mut stdin = std::io::BufReader::new(stdin);
    f(&mut Io {
        stdout: &mut stdout,
        stderr: &mut stderr,
        stdin: &mut stdin,
        stdin_is_tty,
        stderr_is_tty,
        prompter,
    })
}

/// The context of a real process: the system clock and browser, the store
/// in the persona's directory.
pub fn context<'a>(
    persona: &'a Persona,
    env: &'a dyn EnvVars,
    profile_flag: Option<String>,
) -> Result<Ctx<'a>, CliError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Ok(Ctx {
        spec: persona.spec,
        oauth: persona.oauth,
        one_profile: persona.profile,
        env,
        cwd: std::env::current_dir()?,
        now,
        clock: &tessera_client::oauth::SystemClock,
        browser: &tessera_client::oauth::SystemBrowser,
        store: with_wait_notice(Store::open(persona.spec, env)?, persona.spec.name),
        profile_flag,
        storage: Storage::AsBefore,
    })
}

/// At a terminal, a wait of more than a second for the store's lock is said
/// (scripts, reading stderr, get no extra line).
fn with_wait_notice(store: Store, app: &'static str) -> Store {
    if !std::io::stderr().is_terminal() {
        return store;
    }
    store.with_wait_notice(std::time::Duration::from_secs(1), move |lock| {
        eprintln!(
            "Waiting for another {app} command to release {} (up to {} s)…",
            lock.display(),
            tessera_client::store::LOCK_WAIT.as_secs()
        );
    })
}

#[derive(Serialize)]
struct ErrorJson<'a> {
    error: String,
    kind: &'static str,
    exit_code: u8,
    /// Always present (`null` without one), so scripts can read it unchecked.
    hint: Option<Cow<'a, str>>,
}

/// Prints an error (as `{"error":…}` when `json`) on stderr and returns the
/// exit status. The only place a command's outcome becomes an exit code.
pub fn report(result: Result<(), CliError>, json: bool, texts: &ErrorTexts, io: &mut Io) -> Exit {
    // What stdout still holds (bytes of `api` with no line end) is written
    // here: lost (`> /dev/full`), the command did not do what it was asked.
    let flushed = io.stdout.flush().map_err(CliError::from);
    let Err(error) = result.and(flushed) else {
        return Exit::Ok;
    };
    let exit = exit_for(&error);
    tracing::debug!(kind = exit.kind(), code = exit.code(), "command failed");
    // The reader went away (`| head`, `| true`): it wanted no more, and saying
    // so would only put noise after output it cut short.
    if matches!(&error, CliError::Io(e) if e.kind() == std::io::ErrorKind::BrokenPipe) {
        return exit;
    }
    if matches!(error, CliError::UsageShown) {
        return exit;
    }
    // The same what-to-do in both forms: a script reading `--json` needs it
    // as much as a person does.
    let hint = error
        .hint()
        .or(texts
            .unreachable
            .filter(|_| exit == Exit::Network && !is_certificate(&error))
            .map(Cow::Borrowed))
        .or(texts
            .insecure_http
            .filter(|_| is_insecure_http(&error))
            .map(Cow::Borrowed));
    if json {
        let body = ErrorJson {
            error: error.to_string(),
            kind: exit.kind(),
            exit_code: exit.code(),
            hint,
        };
        let _ = serde_json::to_writer(&mut *io.stderr, &body);
        let _ = writeln!(io.stderr);
        return exit;
    }
    // Messages carry what servers and files said (an error description, a
    // path): escaped, but for the line breaks of the messages' own layout.
    let message = error.to_string();
    let message = printable_lines(&message);
    let _ = match (&error, texts.cancelled) {
        (CliError::Cancelled, Some(line)) => writeln!(io.stderr, "{line}"),
        (CliError::NotLoggedIn { .. }, _) => {
            writeln!(io.stderr, "{}{message}", texts.not_logged_in)
        }
        _ => writeln!(io.stderr, "{}{message}", texts.error),
    };
    if let Some(hint) = hint {
        let _ = writeln!(io.stderr, "{}{}", texts.hint, printable_lines(&hint));
    }
    exit
}

/// Whether `error` is a refused TLS certificate: the server answered, and
/// the message already says what is wrong with it, so "is it reachable?"
/// would send the user looking in the wrong place.
fn is_certificate(error: &CliError) -> bool {
    use tessera_client::Error as ClientError;
    use tessera_client::oauth::{OAuthError, TransportError};
    matches!(
        error.client(),
        Some(
            ClientError::Certificate { .. }
                | ClientError::OAuth(OAuthError::Unreachable {
                    source: TransportError::Certificate(_),
                    ..
                })
        )
    )
}

/// Whether `error` is a refusal to use plain http.
fn is_insecure_http(error: &CliError) -> bool {
    use tessera_client::Error as ClientError;
    use tessera_client::oauth::OAuthError;
    matches!(
        error.client(),
        Some(
            ClientError::InsecureHttp { .. } | ClientError::OAuth(OAuthError::InsecureHttp { .. })
        )
    )
}

/// Logging is off unless the application's log variable or `RUST_LOG` asks for
/// it: building a filter costs more than `auth token` itself.
pub fn init_logging(spec: &AppSpec, env: &dyn EnvVars) {
    let Some(filter) = env.var(spec.log_env).or_else(|| env.var("RUST_LOG")) else {
        return;
    };
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::{Layer as _, filter};
    // ureq's protocol layer dumps the bytes of requests and responses at
    // trace level, and they carry tokens, API keys and client secrets: none of
    // it, always. A separate filter, as a directive appended to the user's
    // (`ureq_proto=debug`) loses to a more specific one of theirs
    // (`ureq_proto::util=trace`).
    let no_wire_dump = filter::filter_fn(|meta| {
        !(*meta.level() == tracing::Level::TRACE && meta.target().starts_with("ureq_proto"))
    });
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && env.var("NO_COLOR").is_none())
        .with_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_filter(no_wire_dump);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the host is for: a persona is its clap tree and which library
    /// command each command runs (at most 300 lines), its words in one
    /// `texts.rs`; the embedding guide's example stays at most 100 lines.
    #[test]
    fn personas_and_the_example_stay_small() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let lines =
            |path: std::path::PathBuf| std::fs::read_to_string(path).unwrap().lines().count();
        for persona in ["lofty-cli", "lua", "llamactl"] {
            let src = root.join("personas").join(persona).join("src");
            let mut files: Vec<_> = std::fs::read_dir(&src)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.retain(|f| f.file_name().unwrap() != "texts.rs");
            let total: usize = files.into_iter().map(lines).sum();
            assert!(
                total <= 300,
                "{persona}: {total} lines of Rust outside texts.rs"
            );
        }
        let example = lines(root.join("examples/acme/src/main.rs"));
        assert!(example <= 100, "examples/acme: {example} lines");
    }

    #[test]
    fn a_refused_command_line_is_json_when_json_was_asked() {
        use clap::Parser;
        #[derive(Parser, Debug)]
        struct Cmd {
            #[arg(long)]
            json: bool,
        }
        let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        let bogus = Cmd::try_parse_from(["acme", "--json", "--bogus"]).unwrap_err();
        assert!(json_asked(args(&["--json", "--bogus"]).into_iter(), &bogus));
        assert!(!json_asked(args(&["--", "--json"]).into_iter(), &bogus));
        let (error, hint) = refusal_parts(&bogus.render().to_string());
        assert_eq!(error, "unexpected argument '--bogus' found");
        assert!(hint.contains("Usage: acme"), "{hint}");
        // A command without --json refuses the flag itself: that stays text.
        #[derive(Parser, Debug)]
        struct Plain {}
        let no_json = Plain::try_parse_from(["acme", "--json"]).unwrap_err();
        assert!(!json_asked(args(&["--json"]).into_iter(), &no_json));
    }
    use crate::io::testing::Captured;

    #[test]
    fn help_names_the_variables_of_the_cli_that_shows_it() {
        static ACME: AppSpec = AppSpec {
            name: "acme",
            url_env: "ACME_URL",
            api_key_env: "ACME_API_KEY",
            ..tessera_client::TESSERA
        };
        static ACME_OAUTH: tessera_client::OAuthSpec = tessera_client::OAuthSpec {
            client_id_env: "ACME_CLIENT_ID",
            ..tessera_client::TESSERA_OAUTH
        };
        let acme = Persona {
            spec: &ACME,
            oauth: &ACME_OAUTH,
            ..crate::TESSERA
        };
        let page = "TESSERA_CLIENT_ID/TESSERA_URL, $TESSERA_AUTHORIZATION, TESSERA_TOKEN_EXPIRES_AT, TESSERA_KILL_SEED, tessera, `tessera api`, `$(tessera auth token)`, '!tessera auth git-credential', `tessera\napi`, (tessera)";
        assert_eq!(
            own_names(page, &acme),
            "ACME_CLIENT_ID/ACME_URL, $ACME_AUTHORIZATION, ACME_TOKEN_EXPIRES_AT, TESSERA_KILL_SEED, tessera, `acme api`, `$(acme auth token)`, '!acme auth git-credential', `acme\napi`, (tessera)"
        );
        assert_eq!(own_names(page, &crate::TESSERA), page);
    }

    const WORDS: ErrorTexts = ErrorTexts {
        error: "❌ ",
        not_logged_in: "Error: ",
        cancelled: Some("Operation cancelled."),
        hint: "",
        unreachable: Some("Is the API reachable?"),
        insecure_http: Some("allow it: `acme auth env add NAME URL --insecure`"),
    };

    fn reported(error: CliError) -> (Exit, String) {
        let mut cap = Captured::default();
        let exit = report(Err(error), false, &WORDS, &mut cap.io());
        (exit, cap.stderr())
    }

    #[test]
    fn a_reader_that_went_away_is_not_an_error_message() {
        let gone = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        let (exit, stderr) = reported(CliError::Io(gone));
        assert_eq!(exit, Exit::Failure);
        assert_eq!(stderr, "");
    }

    /// Output that reaches the device only at the last flush, and is lost
    /// there: a failure, not exit 0.
    #[test]
    fn output_lost_at_the_last_flush_is_a_failure() {
        struct Full;
        impl std::io::Write for Full {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Err(std::io::Error::from(std::io::ErrorKind::StorageFull))
            }
        }
        let mut cap = Captured::default();
        let mut io = cap.io();
        let mut full = Full;
        io.stdout = &mut full;
        let exit = report(Ok(()), false, &WORDS, &mut io);
        assert_eq!(exit, Exit::Failure);
        assert!(cap.stderr().starts_with("❌ "), "{}", cap.stderr());
    }

    #[test]
    fn refused_plain_http_gets_the_clis_own_way_to_allow_it() {
        let refused = CliError::from(tessera_client::Error::InsecureHttp {
            url: "http://api.example".into(),
        });
        let (exit, stderr) = reported(refused);
        assert_eq!(exit, Exit::Usage);
        assert!(
            stderr.ends_with("use https\nallow it: `acme auth env add NAME URL --insecure`\n"),
            "{stderr}"
        );
    }

    /// `--json` carried `"hint":null` where the text form said how to allow
    /// plain http: the fallback hints belong to both forms.
    #[test]
    fn refused_plain_http_gets_its_hint_in_json_too() {
        let refused = CliError::from(tessera_client::Error::InsecureHttp {
            url: "http://api.example".into(),
        });
        let mut cap = Captured::default();
        let exit = report(Err(refused), true, &WORDS, &mut cap.io());
        assert_eq!(exit, Exit::Usage);
        let body: serde_json::Value = serde_json::from_str(&cap.stderr()).unwrap();
        assert_eq!(
            body["hint"], "allow it: `acme auth env add NAME URL --insecure`",
            "{body}"
        );
    }

    #[test]
    fn errors_read_in_the_personas_words() {
        let (exit, text) = reported(CliError::NotLoggedIn {
            message: "No API key found.".into(),
            hint: "Run configure.".into(),
        });
        assert_eq!(
            (exit, text.as_str()),
            (
                Exit::NotLoggedIn,
                "Error: No API key found.\nRun configure.\n"
            )
        );
        let (exit, text) = reported(CliError::Cancelled);
        assert_eq!(
            (exit, text.as_str()),
            (Exit::Failure, "Operation cancelled.\n")
        );
        let (_, text) = reported(CliError::Usage("bad".into()));
        assert_eq!(text, "❌ bad\n");
    }

    #[test]
    fn what_a_server_said_reaches_the_terminal_escaped() {
        let said = "no such key\u{1b}]0;PWNED\u{7}";
        let error = CliError::from(tessera_client::Error::InvalidResponse {
            url: "http://127.0.0.1:9".into(),
            message: said.into(),
        })
        .with_hint("line one\nline two\u{1b}[2J");
        let (_, text) = reported(error);
        assert_eq!(
            text,
            "❌ unexpected response from http://127.0.0.1:9: no such key\\u{1b}]0;PWNED\\u{7}\n\
             line one\nline two\\u{1b}[2J\n"
        );
    }

    #[test]
    fn an_empty_api_url_flag_is_refused_and_no_flag_is_not() {
        let empty = Globals::api_url(&Some(String::new())).check().unwrap_err();
        assert_eq!(crate::exit::exit_for(&empty), Exit::Usage);
        assert!(
            empty.to_string().contains("is not a valid server URL"),
            "{empty}"
        );
        assert!(Globals::api_url(&None).check().is_ok());
        let given = Some("http://127.0.0.1:9".to_owned());
        assert!(Globals::api_url(&given).check().is_ok());
    }

    #[test]
    fn an_unreachable_server_gets_the_personas_hint() {
        let error = tessera_client::Error::Network {
            url: "http://127.0.0.1:9".into(),
            source: ureq::Error::ConnectionFailed,
        };
        let (exit, text) = reported(error.into());
        assert_eq!(exit, Exit::Network);
        assert!(text.ends_with("\nIs the API reachable?\n"), "{text}");
    }

    /// A refused certificate is no server that could not be reached: it
    /// answered. The hint "is it reachable?" (for `tessera`: "is the server
    /// running?") under "the server's certificate was refused" sent the user
    /// to the wrong place, in both forms.
    #[test]
    fn a_refused_certificate_gets_no_unreachable_hint() {
        use tessera_client::oauth::{OAuthError, TransportError};
        let refused = || {
            [
                CliError::from(tessera_client::Error::Certificate {
                    url: "https://127.0.0.1:8443/v1/me".into(),
                    problem: "the server's certificate has expired".into(),
                }),
                CliError::from(tessera_client::Error::OAuth(OAuthError::Unreachable {
                    url: "https://127.0.0.1:8443/oauth/token".into(),
                    source: TransportError::Certificate(
                        "the server's certificate has expired".into(),
                    ),
                })),
            ]
        };
        for error in refused() {
            let (exit, text) = reported(error);
            assert_eq!(exit, Exit::Network);
            assert!(!text.contains("reachable"), "{text}");
        }
        for error in refused() {
            let mut cap = Captured::default();
            report(Err(error), true, &WORDS, &mut cap.io());
            let body: serde_json::Value = serde_json::from_str(&cap.stderr()).unwrap();
            assert_eq!(body["hint"], serde_json::Value::Null, "{body}");
        }
    }

    /// A 5xx says whose fault it is and what to do, in both forms.
    #[test]
    fn a_server_error_says_what_to_do() {
        let error = || {
            CliError::from(tessera_client::Error::Server {
                url: "https://api.example/v1/me".into(),
                status: 503,
                message: "database down".into(),
            })
        };
        let (exit, text) = reported(error());
        assert_eq!(exit, Exit::Server);
        assert_eq!(
            text,
            "❌ the server answered HTTP 503 at https://api.example/v1/me: database down\n\
             the fault is on the server's side, not the credential's: try again in a while; if it persists, tell the server's operators\n"
        );
        let mut cap = Captured::default();
        report(Err(error()), true, &WORDS, &mut cap.io());
        let body: serde_json::Value = serde_json::from_str(&cap.stderr()).unwrap();
        assert_eq!(body["exit_code"], 6);
        assert!(
            body["hint"]
                .as_str()
                .unwrap()
                .starts_with("the fault is on the server's side")
        );
        // A 404 is the URL's fault, not the server's: no such hint.
        let (exit, text) = reported(CliError::from(tessera_client::Error::Server {
            url: "https://api.example/v1/nope".into(),
            status: 404,
            message: "not found".into(),
        }));
        assert_eq!(exit, Exit::Failure);
        assert!(!text.contains("server's side"), "{text}");
    }

    /// A server that took the connection and said nothing in time runs:
    /// the server's trouble (6) with a hint to wait, never the persona's
    /// "is it reachable?" of a server that could not be reached (5).
    #[test]
    fn a_silent_server_is_the_servers_trouble_not_unreachable() {
        let error = tessera_client::Error::NoAnswer {
            url: "http://127.0.0.1:9/v1/me".into(),
            seconds: 30.0,
        };
        let (exit, text) = reported(error.into());
        assert_eq!(exit, Exit::Server);
        assert_eq!(
            text,
            "❌ the server at http://127.0.0.1:9/v1/me accepted the connection but did not answer within 30 s\n\
             the server may be overloaded or stuck; try again in a while\n"
        );
    }
}
