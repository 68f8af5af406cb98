//! `lofty-cli auth`, line by line of `lofty-cli-auth.txt`, `lofty-api-keys.txt`
//! and `lofty-auth-overview.txt`: the real binary with a temporary HOME, against
//! a real tesserad: customer keys, client credentials, token URL sessions, and
//! the browser (PKCE) login with a scripted browser signing in and allowing.

use std::os::unix::fs::PermissionsExt as _;
use tessera_testkit::{
    Browser, Home, HttpStub, Landing, StubResponse, Tesserad, http_get, query_param,
};

const LOFTY: &str = env!("CARGO_BIN_EXE_lofty-cli");
const KEY: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhY2N0In0.c2lnbmF0dXJl";

fn home() -> Home {
    Home::new(LOFTY)
}

fn credentials(home: &Home) -> std::path::PathBuf {
    home.home().join(".lofty/credentials.toml")
}

fn saved(home: &Home) -> String {
    std::fs::read_to_string(credentials(home)).unwrap_or_default()
}

/// `credentials.toml` with every token's expiry set to 1970.
fn expired_in_file(text: &str) -> String {
    let lines = text
        .lines()
        .map(|line| match line.starts_with("expires_at = ") {
            true => "expires_at = 1",
            false => line,
        });
    lines.collect::<Vec<_>>().join("\n") + "\n"
}

/// A real tesserad with an account, its customer key (API key) and a
/// confidential vendor app.
struct Lofty {
    server: Tesserad,
    email: String,
    key: String,
    client_id: String,
    client_secret: String,
}

fn lofty() -> Lofty {
    lofty_with(&[])
}

fn lofty_with(serve_args: &[&str]) -> Lofty {
    let server = Tesserad::start_with(serve_args);
    let email = server.account();
    let (_, key) = server.api_key(&email);
    let (client_id, client_secret) = server.confidential_app(&email);
    Lofty {
        server,
        email,
        key,
        client_id,
        client_secret,
    }
}

impl Lofty {
    fn url(&self) -> (&'static str, &str) {
        ("LOFTY_API_URL", self.server.url.as_str())
    }

    /// LOFTY_API_URL, LOFTY_CLIENT_ID and LOFTY_CLIENT_SECRET.
    fn vendor(&self) -> Vec<(&'static str, &str)> {
        vec![
            self.url(),
            ("LOFTY_CLIENT_ID", self.client_id.as_str()),
            ("LOFTY_CLIENT_SECRET", self.client_secret.as_str()),
        ]
    }

    /// `auth set` then `auth login`.
    fn login(&self, home: &Home) {
        home.run(&["auth", "set", &self.key], &[]).ok();
        home.run(&["auth", "login"], &self.vendor()).ok();
    }
}

// --- help texts ------------------------------------------------------------------

const AUTH_HELP: &str = "\
Usage: lofty-cli auth [options] [command]

Manage API authentication

Options:
  -h, --help               display help for command

Commands:
  set <customer-key>       Save your customer key (API key)
  show [options]           Display current customer key (masked by default)
  remove                   Delete the saved customer key and OAuth cache
  login                    Obtain an OAuth access_token using customer key +
                           vendor credentials
  status                   Show current authentication status
  login-session [options]  Authenticate via Token URL using session ID (Level 0)
  login-browser            Authorize via browser using OAuth PKCE flow (like
                           Claude CLI)
  logout                   Clear all locally stored authentication credentials
                           (Token URL cache, PKCE token, OAuth cache, customer
                           key)
  test                     Verify authentication by making a test API call
  help [command]           display help for command
";

#[test]
fn auth_help_is_the_documented_overview() {
    assert_eq!(
        home().run(&["auth", "--help"], &[]).ok().stdout(),
        AUTH_HELP
    );
    assert_eq!(home().run(&["auth", "-h"], &[]).ok().stdout(), AUTH_HELP);
    assert_eq!(home().run(&["auth", "help"], &[]).ok().stdout(), AUTH_HELP);
    assert_eq!(home().run(&["help", "auth"], &[]).ok().stdout(), AUTH_HELP);
}

/// Each command's documented help, line by line (whitespace-normalised, as the
/// document's own copy is).
#[test]
fn every_subcommand_help_is_the_documented_text() {
    let docs: [(&str, &[&str]); 9] = [
        (
            "set",
            &[
                "Usage: lofty-cli auth set [options] <customer-key>",
                "Save your customer key (API key)",
                "Arguments:",
                "customer-key Your Lofty customer key",
                "Options:",
                "-h, --help display help for command",
                "Example:",
                "lofty-cli auth set eyJhbGciOiJIUzI1NiJ9...",
            ],
        ),
        (
            "show",
            &[
                "Usage: lofty-cli auth show [options]",
                "Display current customer key (masked by default)",
                "Options:",
                "--raw Show the full unmasked key",
                "-h, --help display help for command",
                "Example:",
                "lofty-cli auth show",
                "lofty-cli auth show --raw",
            ],
        ),
        (
            "remove",
            &[
                "Usage: lofty-cli auth remove [options]",
                "Delete the saved customer key and OAuth cache",
                "Options:",
                "-h, --help display help for command",
                "Example:",
                "lofty-cli auth remove",
            ],
        ),
        (
            "login",
            &[
                "Usage: lofty-cli auth login [options]",
                "Obtain an OAuth access_token using customer key + vendor credentials",
                "Options:",
                "-h, --help display help for command",
                "Requires environment variables:",
                "LOFTY_CLIENT_ID Vendor client ID",
                "LOFTY_CLIENT_SECRET Vendor client secret",
                "Example:",
                "lofty-cli auth login",
            ],
        ),
        (
            "status",
            &[
                "Usage: lofty-cli auth status [options]",
                "Show current authentication status",
                "Options:",
                "-h, --help display help for command",
                "Example:",
                "lofty-cli auth status",
            ],
        ),
        (
            "login-session",
            &[
                "Usage: lofty-cli auth login-session [options]",
                "Authenticate via Token URL using session ID (Level 0)",
                "Options:",
                "--tokenurl <url> Token URL (overrides LOFTY_TOKEN_URL env var)",
                "--sessionid <id> Session ID (overrides LOFTY_SESSION_ID env var)",
                "-h, --help display help for command",
                "Requires environment variables (or CLI flags):",
                "LOFTY_TOKEN_URL URL to obtain tokens from",
                "LOFTY_SESSION_ID Session ID to authenticate with",
                "Example:",
                "lofty-cli auth login-session",
                "lofty-cli auth login-session --tokenurl https://example.com/token --sessionid abc123",
            ],
        ),
        (
            "login-browser",
            &[
                "Usage: lofty-cli auth login-browser [options]",
                "Authorize via browser using OAuth PKCE flow (like Claude CLI)",
                "Options:",
                "-h, --help display help for command",
                "This opens a browser for authorization. If browser cannot be opened,",
                "a URL is printed for manual copy-paste.",
                "Example:",
                "lofty-cli auth login-browser",
            ],
        ),
        (
            "logout",
            &[
                "Usage: lofty-cli auth logout [options]",
                "Clear all locally stored authentication credentials (Token URL cache, PKCE",
                "token, OAuth cache, customer key)",
                "Options:",
                "-h, --help display help for command",
                "Removes all locally stored authentication credentials.",
                "This includes PKCE token, OAuth cache, and customer key.",
                "Environment variables already exported in your current shell are not removed.",
                "Example:",
                "lofty-cli auth logout",
            ],
        ),
        (
            "test",
            &[
                "Usage: lofty-cli auth test [options]",
                "Verify authentication by making a test API call",
                "Options:",
                "-h, --help display help for command",
                "Example:",
                "lofty-cli auth test",
            ],
        ),
    ];
    let home = home();
    for (command, lines) in docs {
        let help = home.run(&["auth", command, "--help"], &[]).ok().stdout();
        let got: Vec<String> = help
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(got, lines, "lofty-cli auth {command} --help");
        let via_help = home.run(&["auth", "help", command], &[]).ok().stdout();
        assert_eq!(via_help, help, "lofty-cli auth help {command}");
    }
}

#[test]
fn unknown_commands_and_missing_arguments_are_reported_like_commander() {
    let home = home();
    let run = home.run(&["auth", "frobnicate"], &[]).expect_code(2);
    assert_eq!(run.stderr(), "error: unknown command 'frobnicate'\n");
    let run = home.run(&["auth", "set"], &[]).expect_code(2);
    assert_eq!(
        run.stderr(),
        "error: missing required argument 'customer-key'\n"
    );
    // `help` of no command: the group's help page, on stderr.
    let run = home.run(&["auth", "help", "nope"], &[]).expect_code(2);
    assert_eq!(
        (run.stdout(), run.stderr()),
        (String::new(), AUTH_HELP.into())
    );
    // The rest of Commander's refusals, word for word.
    for (args, says) in [
        (
            &["auth", "sett", "x"][..],
            "error: unknown command 'sett'\n(Did you mean set?)\n",
        ),
        (
            &["auth", "set", "a", "b"],
            "error: too many arguments for 'set'. Expected 1 argument but got 2.\n",
        ),
        (
            &["auth", "status", "extra"],
            "error: too many arguments for 'status'. Expected 0 arguments but got 1.\n",
        ),
        (
            &["auth", "show", "--raw=1"],
            "error: unknown option '--raw=1'\n(Did you mean --raw?)\n",
        ),
        (
            &["auth", "stat"],
            "error: unknown command 'stat'\n(Did you mean one of set, status?)\n",
        ),
        // Options are suggested from the command's and the ones above it.
        (
            &["auth", "show", "--api-ur", "x"],
            "error: unknown option '--api-ur'\n(Did you mean --api-url?)\n",
        ),
        (
            &["auth", "show", "--hlep"],
            "error: unknown option '--hlep'\n(Did you mean --help?)\n",
        ),
        (
            &["auth", "status", "--foo"],
            "error: unknown option '--foo'\n",
        ),
        (
            &["auth", "login-session", "--tokenurl"],
            "error: option '--tokenurl <url>' argument missing\n",
        ),
    ] {
        assert_eq!(
            home.run(args, &[]).expect_code(2).stderr(),
            says,
            "{args:?}"
        );
    }
    // `.version()` prints the version alone.
    let version = home.run(&["--version"], &[]).ok().stdout();
    assert_eq!(version, format!("{}\n", env!("CARGO_PKG_VERSION")));
}

/// The version and help, lost on a full disk: exit 1 saying why, not a
/// panic (101) nor a success.
#[test]
fn version_and_help_lost_on_stdout_are_a_failure() {
    let home = home();
    for args in [["--version"], ["--help"]] {
        let full = std::fs::File::create("/dev/full").unwrap();
        let out = home.cmd(&args, &[]).stdout(full).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err, "error: No space left on device (os error 28)\n");
    }
}

#[test]
fn root_help_documents_config_location_and_environment_variables() {
    let help = home().run(&["--help"], &[]).ok().stdout();
    for text in [
        "--api-url <url>",
        "~/.lofty/credentials.toml",
        "LOFTY_CUSTOMER_KEY",
        "LOFTY_API_URL",
        "LOFTY_CLIENT_ID",
        "LOFTY_TOKEN_URL",
    ] {
        assert!(help.contains(text), "{text} missing from\n{help}");
    }
}

// --- set / show / remove --------------------------------------------------------------

#[test]
fn set_saves_the_customer_key_privately() {
    let home = home();
    let run = home.run(&["auth", "set", KEY], &[]).ok();
    assert!(!run.stderr().contains(KEY));
    assert!(saved(&home).contains(KEY));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&credentials(&home)), 0o600);
    assert_eq!(mode(&home.home().join(".lofty")), 0o700);
}

#[test]
fn show_masks_the_key_by_default() {
    let home = home();
    home.run(&["auth", "set", KEY], &[]).ok();
    let out = home.run(&["auth", "show"], &[]).ok().stdout();
    assert!(!out.contains(KEY), "{out}");
    assert!(out.contains("eyJh"), "{out}");
}

#[test]
fn show_raw_prints_the_full_key() {
    let home = home();
    home.run(&["auth", "set", KEY], &[]).ok();
    let run = home.run(&["auth", "show", "--raw"], &[]).ok();
    assert_eq!(run.stdout(), format!("{KEY}\n"));
}

#[test]
fn show_without_a_key_says_how_to_set_one() {
    let run = home().run(&["auth", "show"], &[]).expect_code(3);
    assert!(run.stderr().contains("lofty-cli auth set <customer-key>"));
}

#[test]
fn lofty_customer_key_environment_variable_is_the_api_key() {
    let home = home();
    home.run(&["auth", "set", KEY], &[]).ok();
    let run = home
        .run(
            &["auth", "show", "--raw"],
            &[("LOFTY_CUSTOMER_KEY", "from-env")],
        )
        .ok();
    assert_eq!(run.stdout(), "from-env\n");
    assert!(
        run.stderr()
            .contains("LOFTY_CUSTOMER_KEY environment variable")
    );
}

#[test]
fn remove_deletes_the_customer_key_and_the_oauth_cache() {
    let lofty = lofty();
    let home = home();
    lofty.login(&home);
    assert!(saved(&home).contains("access_token"));
    let run = home.run(&["auth", "remove"], &[]).ok();
    assert!(
        run.stderr()
            .contains("Removed the saved customer key and OAuth cache.")
    );
    assert!(!saved(&home).contains(&lofty.key));
    assert!(!saved(&home).contains("access_token"));
    home.run(&["auth", "show"], &[]).expect_code(3);
}

// --- login (client credentials) ---------------------------------------------------------

#[test]
fn login_gets_a_token_with_vendor_credentials_and_the_customer_key() {
    let lofty = lofty();
    let home = home();
    home.run(&["auth", "set", &lofty.key], &[]).ok();
    let run = home.run(&["auth", "login"], &lofty.vendor()).ok();
    assert!(run.stderr().contains("access_token"), "{}", run.stderr());
    // The token acts for the customer key's account.
    let out = home.run(&["auth", "test"], &[lofty.url()]).ok().stdout();
    assert!(out.contains(&lofty.email), "{out}");
    assert!(out.contains("OAuth access token"), "{out}");
}

#[test]
fn login_uses_lofty_customer_key_from_the_environment() {
    let lofty = lofty();
    let home = home();
    let mut vars = lofty.vendor();
    vars.push(("LOFTY_CUSTOMER_KEY", lofty.key.as_str()));
    home.run(&["auth", "login"], &vars).ok();
    assert!(saved(&home).contains("access_token"));
    assert!(
        !saved(&home).contains(&lofty.key),
        "an exported key is not written to disk"
    );
}

#[test]
fn login_names_the_missing_environment_variables() {
    let home = home();
    home.run(&["auth", "set", KEY], &[]).ok();
    let run = home.run(&["auth", "login"], &[]).expect_code(2);
    assert!(
        run.stderr()
            .contains("LOFTY_CLIENT_ID, LOFTY_CLIENT_SECRET"),
        "{}",
        run.stderr()
    );
    let run = home
        .run(&["auth", "login"], &[("LOFTY_CLIENT_ID", "vendor")])
        .expect_code(2);
    assert!(
        run.stderr().contains("variable: LOFTY_CLIENT_SECRET"),
        "{}",
        run.stderr()
    );
}

#[test]
fn login_without_a_customer_key_says_so() {
    let lofty = lofty();
    let run = home()
        .run(&["auth", "login"], &lofty.vendor())
        .expect_code(3);
    assert!(run.stderr().contains("No customer key found."));
}

#[test]
fn login_with_wrong_vendor_credentials_is_rejected() {
    let lofty = lofty();
    let home = home();
    home.run(&["auth", "set", &lofty.key], &[]).ok();
    let run = home
        .run(
            &["auth", "login"],
            &[
                lofty.url(),
                ("LOFTY_CLIENT_ID", lofty.client_id.as_str()),
                ("LOFTY_CLIENT_SECRET", "wrong"),
            ],
        )
        .expect_code(4);
    assert!(
        run.stderr().contains("LOFTY_CLIENT_SECRET"),
        "{}",
        run.stderr()
    );
}

// --- status -------------------------------------------------------------------------------

#[test]
fn status_shows_the_customer_key_and_that_requests_use_the_token_header() {
    let home = home();
    home.run(&["auth", "set", KEY], &[]).ok();
    let out = home.run(&["auth", "status"], &[]).ok().stdout();
    assert!(out.contains("Customer key: eyJh"), "{out}");
    assert!(out.contains("OAuth:        not logged in"), "{out}");
    assert!(out.contains("Authorization: token"), "{out}");
    assert!(!out.contains(KEY));
}

#[test]
fn status_after_login_shows_the_oauth_token_used_as_bearer() {
    let lofty = lofty();
    let home = home();
    lofty.login(&home);
    let out = home.run(&["auth", "status"], &[lofty.url()]).ok().stdout();
    assert!(out.contains("client credentials"), "{out}");
    assert!(out.contains("Authorization: Bearer"), "{out}");
}

#[test]
fn status_when_not_authenticated_exits_3() {
    let run = home().run(&["auth", "status"], &[]).expect_code(3);
    assert!(run.stderr().contains("Not authenticated."));
}

// --- login-session (Level 0) -------------------------------------------------------------------

#[test]
fn login_session_uses_lofty_token_url_and_session_id_and_is_level_0() {
    let lofty = lofty();
    let (session_id, token_url) = lofty.server.session(&lofty.email);
    let home = home();
    let run = home
        .run(
            &["auth", "login-session"],
            &[
                ("LOFTY_TOKEN_URL", token_url.as_str()),
                ("LOFTY_SESSION_ID", session_id.as_str()),
            ],
        )
        .ok();
    assert!(run.stderr().contains("Level 0"), "{}", run.stderr());
    let out = home.run(&["auth", "status"], &[]).ok().stdout();
    assert!(out.contains("Token URL session (Level 0)"), "{out}");
    let out = home.run(&["auth", "test"], &[lofty.url()]).ok().stdout();
    assert!(
        out.contains(&lofty.email) && out.contains("Level:      0"),
        "{out}"
    );
}

#[test]
fn login_session_flags_override_the_environment_variables() {
    let lofty = lofty();
    let (session_id, token_url) = lofty.server.session(&lofty.email);
    home()
        .run(
            &[
                "auth",
                "login-session",
                "--tokenurl",
                &token_url,
                "--sessionid",
                &session_id,
            ],
            &[
                ("LOFTY_TOKEN_URL", "http://127.0.0.1:9/nowhere"),
                ("LOFTY_SESSION_ID", "wrong"),
            ],
        )
        .ok();
}

#[test]
fn login_session_names_what_is_missing() {
    let run = home().run(&["auth", "login-session"], &[]).expect_code(2);
    let err = run.stderr();
    assert!(
        err.contains("LOFTY_TOKEN_URL (or --tokenurl <url>)"),
        "{err}"
    );
    assert!(
        err.contains("LOFTY_SESSION_ID (or --sessionid <id>)"),
        "{err}"
    );
    // A token URL that is not one is a usage error, not an unreachable API.
    let args = [
        "auth",
        "login-session",
        "--tokenurl",
        "notaurl",
        "--sessionid",
        "s",
    ];
    let err = home().run(&args, &[]).expect_code(2).stderr();
    assert!(
        err.contains("token URL \"notaurl\" is not an http"),
        "{err}"
    );
    assert!(!err.contains("LOFTY_API_URL"), "{err}");
}

#[test]
fn login_session_ids_are_single_use() {
    let lofty = lofty();
    let (session_id, token_url) = lofty.server.session(&lofty.email);
    let args = [
        "auth",
        "login-session",
        "--tokenurl",
        &token_url,
        "--sessionid",
        &session_id,
    ];
    home().run(&args, &[]).ok();
    let run = home().run(&args, &[]).expect_code(4);
    assert!(run.stderr().contains("single use"), "{}", run.stderr());
}

#[test]
fn an_expired_token_url_session_names_login_session_to_log_in_again() {
    // A session cannot be renewed: its token serves until it expires, then
    // only a new login helps. (It is made to have expired in the file.)
    let lofty = lofty();
    let (session_id, token_url) = lofty.server.session(&lofty.email);
    let home = home();
    home.run(
        &[
            "auth",
            "login-session",
            "--tokenurl",
            &token_url,
            "--sessionid",
            &session_id,
        ],
        &[],
    )
    .ok();
    home.run(&["auth", "test"], &[lofty.url()]).ok();
    let text = saved(&home);
    let expired = expired_in_file(&text);
    assert_ne!(expired, text, "{text}");
    std::fs::write(credentials(&home), expired).unwrap();
    let run = home.run(&["auth", "test"], &[lofty.url()]).expect_code(4);
    assert!(
        run.stderr()
            .contains("log in again: `lofty-cli auth login-session`"),
        "{}",
        run.stderr()
    );
}

// --- login-browser (PKCE) ------------------------------------------------------------------------

#[test]
fn login_browser_prints_the_url_when_no_browser_opens_and_completes_the_pkce_flow() {
    let lofty = lofty();
    lofty.server.admin(&[
        "app",
        "create",
        "--account",
        &lofty.email,
        "--name",
        "Lofty CLI",
        "--public",
        "--client-id",
        "lofty-cli",
        "--redirect-uri",
        "http://127.0.0.1/callback",
    ]);
    let home = home();
    // No DISPLAY and no BROWSER: no browser can be opened here.
    let mut running = home.spawn(&["auth", "login-browser"], &[lofty.url()]);
    let authorize = format!("{}/oauth/authorize?", lofty.server.url);
    let url = running.stderr_until(|line| {
        line.trim()
            .starts_with(&authorize)
            .then(|| line.trim().to_owned())
    });
    assert_eq!(query_param(&url, "client_id").as_deref(), Some("lofty-cli"));
    assert_eq!(
        query_param(&url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    // Play the user: sign in, allow, and land on the CLI's loopback address.
    let browser = Browser::new(&lofty.server.url);
    let consent = browser.sign_in(&lofty.server, &lofty.email, &url);
    let Landing::Away(redirect) = browser.consent(consent.page(), "approve") else {
        panic!("allowing did not redirect to the CLI");
    };
    assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
    let page = http_get(&redirect);
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let (code, stderr) = running.finish();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("PKCE token"), "{stderr}");
    // The server does DPoP: the login is bound to this machine's key (the
    // app does not require it; the CLI asks for it), and `auth test` got
    // through with a proof.
    let out = home.run(&["auth", "test"], &[lofty.url()]).ok().stdout();
    assert!(out.contains(&lofty.email), "{out}");
    assert!(out.contains("Authorization: DPoP"), "{out}");
    let status = home.run(&["auth", "status"], &[lofty.url()]).ok().stdout();
    assert!(status.contains("bound to this machine"), "{status}");
}

// --- logout -----------------------------------------------------------------------------------------

#[test]
fn logout_clears_every_local_credential_and_says_exported_variables_stay() {
    let lofty = lofty();
    let (session_id, token_url) = lofty.server.session(&lofty.email);
    let home = home();
    home.run(&["auth", "set", &lofty.key], &[]).ok();
    home.run(
        &[
            "auth",
            "login-session",
            "--tokenurl",
            &token_url,
            "--sessionid",
            &session_id,
        ],
        &[],
    )
    .ok();
    let run = home
        .run(&["auth", "logout"], &[("LOFTY_CUSTOMER_KEY", "exported")])
        .ok();
    let err = run.stderr();
    assert!(
        err.contains("Token URL cache, PKCE token, OAuth cache, customer key"),
        "{err}"
    );
    assert!(
        err.contains(
            "Environment variables already exported in your current shell are not removed."
        )
    );
    assert!(
        err.contains("Still set in this shell: LOFTY_CUSTOMER_KEY"),
        "{err}"
    );
    let left = saved(&home);
    assert!(
        !left.contains(&lofty.key) && !left.contains("access_token"),
        "{left}"
    );
    home.run(&["auth", "status"], &[]).expect_code(3);
}

/// "Clear all" also when the credentials file no longer parses: it holds
/// only this CLI's credentials, so logout removes it rather than leaving the
/// user stuck with an error.
#[test]
fn logout_clears_a_credentials_file_that_no_longer_parses() {
    let home = home();
    home.run(&["auth", "set", KEY], &[]).ok();
    std::fs::write(credentials(&home), "[profiles.default\napi_key = ").unwrap();
    let err = home.run(&["auth", "logout"], &[]).ok().stderr();
    assert!(err.contains("Removed all locally stored"), "{err}");
    assert!(!credentials(&home).exists());
    home.run(&["auth", "status"], &[]).expect_code(3);
}

// --- test ---------------------------------------------------------------------------------------------

#[test]
fn test_calls_the_api_with_the_customer_key_as_a_token_header() {
    let server = Tesserad::start();
    let email = server.account();
    let (_, key) = server.api_key(&email);
    let home = home();
    home.run(&["auth", "set", &key], &[]).ok();
    let out = home
        .run(&["auth", "test"], &[("LOFTY_API_URL", server.url.as_str())])
        .ok()
        .stdout();
    assert!(out.contains(&email), "{out}");
    assert!(out.contains("Authorization: token"), "{out}");
}

#[test]
fn test_with_a_revoked_key_fails_with_exit_4() {
    let server = Tesserad::start();
    let email = server.account();
    let (id, key) = server.api_key(&email);
    server.revoke(&id);
    let run = home()
        .run(
            &["auth", "test"],
            &[
                ("LOFTY_API_URL", server.url.as_str()),
                ("LOFTY_CUSTOMER_KEY", key.as_str()),
            ],
        )
        .expect_code(4);
    assert!(run.stderr().contains("rejected"), "{}", run.stderr());
}

/// Only the documented 200100 refusal is explained as a missing scope; any
/// other 403 is said in the server's words.
#[test]
fn another_403_is_not_explained_as_a_missing_scope() {
    let body = r#"{"code": 999, "message": "account suspended"}"#;
    let json = StubResponse::text(403, body).header("content-type", "application/json");
    let server = HttpStub::answering(json);
    let run = home()
        .run(
            &["auth", "test"],
            &[("LOFTY_API_URL", &server.url), ("LOFTY_CUSTOMER_KEY", "k")],
        )
        .expect_code(1);
    let err = run.stderr();
    assert!(
        err.contains("account suspended") && !err.contains("200100"),
        "{err}"
    );
}

/// "429 — Rate limit exceeded. Retry with backoff." (lofty-auth-overview.txt):
/// `auth test` gave up at the first 429 (exit 6); it now waits per
/// `Retry-After` as `tessera auth test` does, and says so.
#[test]
fn test_waits_out_a_rate_limit_as_documented() {
    let me = r#"{"account_id":"acct_1","email":"a@example.test","credential":"api_key","credential_id":"key_1","scope":"THIRD_PARTY_OPERATION"}"#;
    let answers = std::sync::Mutex::new(vec![
        StubResponse::text(200, me).header("content-type", "application/json"),
        StubResponse::text(429, r#"{"message":"Rate limit exceeded"}"#)
            .header("content-type", "application/json")
            .header("Retry-After", "0"),
    ]);
    let server = HttpStub::builder()
        .fallback(move |_, _| answers.lock().unwrap().pop().expect("two requests"))
        .start();
    let run = home()
        .run(
            &["auth", "test"],
            &[("LOFTY_API_URL", &server.url), ("LOFTY_CUSTOMER_KEY", "k")],
        )
        .ok();
    assert_eq!(server.requests_to("/v1/me").len(), 2);
    assert!(
        run.stderr()
            .starts_with("rate limited (HTTP 429); retrying in 0."),
        "{}",
        run.stderr()
    );
    assert!(
        run.stdout()
            .starts_with("Authentication OK: a@example.test (account acct_1)"),
        "{}",
        run.stdout()
    );
}

#[test]
fn test_with_a_key_lacking_the_scope_explains_the_200100_error() {
    let server = Tesserad::start();
    let email = server.account();
    let key = server.admin(&[
        "api-key",
        "create",
        "--account",
        &email,
        "--scope",
        "OTHER_SCOPE",
    ]);
    let key = key["key"].as_str().unwrap();
    let run = home()
        .run(
            &["auth", "test"],
            &[
                ("LOFTY_API_URL", server.url.as_str()),
                ("LOFTY_CUSTOMER_KEY", key),
            ],
        )
        .expect_code(1);
    let err = run.stderr();
    assert!(
        err.contains("200100") && err.contains("Developer Portal"),
        "{err}"
    );
}

#[test]
fn status_shows_the_key_scope_and_expiry_from_its_jws_metadata() {
    let server = Tesserad::start();
    let email = server.account();
    let created = server.admin(&[
        "api-key",
        "create",
        "--account",
        &email,
        "--expires-in",
        "30d",
    ]);
    let home = home();
    home.run(&["auth", "set", created["key"].as_str().unwrap()], &[])
        .ok();
    let out = home.run(&["auth", "status"], &[]).ok().stdout();
    assert!(out.contains("scope THIRD_PARTY_OPERATION"), "{out}");
    assert!(out.contains(created["id"].as_str().unwrap()), "{out}");
    assert!(out.contains("expires 20"), "{out}");
}

#[test]
fn test_with_an_oauth_login_sends_a_bearer_token() {
    // tesserad accepts an access token only as `Bearer`.
    let lofty = lofty();
    let home = home();
    lofty.login(&home);
    let out = home.run(&["auth", "test"], &[lofty.url()]).ok().stdout();
    assert!(out.contains(&lofty.email), "{out}");
    assert!(
        out.contains("OAuth access token (Authorization: Bearer)"),
        "{out}"
    );
}

#[test]
fn test_when_not_authenticated_exits_3() {
    let run = home().run(&["auth", "test"], &[]).expect_code(3);
    assert!(run.stderr().contains("Not authenticated."));
}

#[test]
fn api_url_flag_overrides_lofty_api_url() {
    let lofty = lofty();
    let home = home();
    home.run(&["auth", "set", &lofty.key], &[]).ok();
    home.run(
        &["--api-url", &lofty.server.url, "auth", "login"],
        &[
            ("LOFTY_API_URL", "http://127.0.0.1:9"),
            ("LOFTY_CLIENT_ID", lofty.client_id.as_str()),
            ("LOFTY_CLIENT_SECRET", lofty.client_secret.as_str()),
        ],
    )
    .ok();
    assert!(saved(&home).contains("access_token"));
}

// --- where credentials may go ---------------------------------------------------------------

#[test]
fn a_hostile_url_in_the_environment_or_the_credentials_file_gets_no_credential() {
    let lofty = lofty();
    let home = home();
    home.run(&["auth", "set", &lofty.key], &[]).ok();
    // Plain http off this machine: refused before connecting.
    let far = [("LOFTY_API_URL", "http://api.lofty.example")];
    let run = home.run(&["auth", "test"], &far).expect_code(2);
    assert!(run.stderr().contains("plain http"), "{}", run.stderr());
    home.run(
        &["auth", "login"],
        &[&lofty.vendor()[1..], &far[..]].concat(),
    )
    .expect_code(2);

    // A cached login whose token endpoint someone pointed elsewhere, due
    // for renewal: the customer key and client secret are not sent there.
    lofty.login(&home);
    let elsewhere = HttpStub::builder().start();
    let edited: Vec<String> = saved(&home)
        .replace(&lofty.server.url, &elsewhere.url)
        .lines()
        .map(|line| match line.starts_with("expires_at = ") {
            true => "expires_at = 1000".to_owned(),
            false => line.to_owned(),
        })
        .collect();
    std::fs::write(credentials(&home), edited.join("\n")).unwrap();
    let run = home.run(&["auth", "test"], &[lofty.url()]).expect_code(2);
    assert!(run.stderr().contains("Log in again"), "{}", run.stderr());
    assert!(elsewhere.requests().is_empty(), "nothing was sent there");
}

// --- refusals found by the audit -------------------------------------------------------------

/// Keys whose claims are not what a server signs: unverified JWS payloads.
const KEY_WITH_ESCAPES: &str = "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.eyJpc3MiOiAieCIsICJzdWIiOiAiYWNjdF8xIiwgImp0aSI6ICJrZXlfXHUwMDFiXTA7UFdORURcdTAwMDdcdTAwMWJbMkoiLCAic2NvcGUiOiAiVEhJUkRfUEFSVFlfT1BFUkFUSU9OIiwgImlhdCI6IDEsICJ0b2tlbl91c2UiOiAiYXBpX2tleSJ9.c2ln";
/// `exp` 1000 (1970).
const EXPIRED_KEY: &str = "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.eyJpc3MiOiAieCIsICJzdWIiOiAiYWNjdF8xIiwgImp0aSI6ICJrZXlfb2xkIiwgInNjb3BlIjogIlRISVJEX1BBUlRZX09QRVJBVElPTiIsICJpYXQiOiAxLCAiZXhwIjogMTAwMCwgInRva2VuX3VzZSI6ICJhcGlfa2V5In0.c2ln";

#[test]
fn set_refuses_a_key_no_request_could_carry() {
    let home = home();
    for bad in ["abc\ndef", "a b", "eyJabc\u{2019}def", "abc\u{1b}[2J"] {
        let run = home.run(&["auth", "set", bad], &[]).expect_code(2);
        assert!(
            run.stderr().contains("another character no API key has"),
            "{bad:?}: {}",
            run.stderr()
        );
    }
    assert!(!credentials(&home).exists(), "nothing was saved");
    // What a paste brings around a key is still trimmed.
    home.run(&["auth", "set", &format!("  {KEY}\n")], &[]).ok();
    assert!(saved(&home).contains(&format!("\"{KEY}\"")));
}

#[test]
fn a_key_beyond_ascii_in_the_environment_is_a_usage_error_not_a_network_one() {
    let lofty = lofty();
    let key = [("LOFTY_CUSTOMER_KEY", "eyJabc\u{2019}def"), lofty.url()];
    let run = home().run(&["auth", "test"], &key).expect_code(2);
    assert!(
        run.stderr().contains("an HTTP header cannot carry"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_repeated_option_takes_its_last_value_as_in_commander() {
    let lofty = lofty();
    let home = home();
    home.run(&["auth", "set", &lofty.key], &[]).ok();
    let out = home.run(&["auth", "show", "--raw", "--raw"], &[]).ok();
    assert_eq!(out.stdout(), format!("{}\n", lofty.key));
    let url = lofty.server.url.as_str();
    let args = [
        "--api-url",
        "http://127.0.0.1:9",
        "--api-url",
        url,
        "auth",
        "test",
    ];
    let out = home.run(&args, &[]).ok().stdout();
    assert!(out.contains(&lofty.email), "{out}");
}

#[test]
fn a_command_group_without_its_command_shows_its_help_whatever_the_options() {
    let home = home();
    let root = home.run(&[], &[]);
    assert!(
        root.stderr()
            .starts_with("Usage: lofty-cli [options] [command]")
    );
    let with_option = home.run(&["--api-url", "http://127.0.0.1:1"], &[]);
    assert_eq!(
        (with_option.code(), with_option.stderr()),
        (root.code(), root.stderr())
    );
    let auth = home.run(&["auth"], &[]);
    assert!(
        auth.stderr()
            .starts_with("Usage: lofty-cli auth [options] [command]")
    );
    for args in [
        &["auth", "--api-url", "http://127.0.0.1:1"][..],
        &["--api-url", "http://127.0.0.1:1", "auth"],
    ] {
        let run = home.run(args, &[]);
        assert_eq!(
            (run.code(), run.stderr()),
            (auth.code(), auth.stderr()),
            "{args:?}"
        );
        assert!(!run.stderr().contains("completion"), "{args:?}");
    }
}

/// "429 — Rate limit exceeded. Retry with backoff." (lofty-auth-overview.txt):
/// a login answered 429 or 5xx was told to check what is on this side: "does
/// not publish OAuth metadata (RFC 8414)", "check LOFTY_CLIENT_ID, ...", "check
/// the token URL ... and the session ID". It is now told the server is limiting
/// requests or failing.
#[test]
fn a_rate_limited_or_failing_server_is_not_blamed_on_the_credentials() {
    let limited = HttpStub::answering(
        StubResponse::text(429, r#"{"error":"rate_limited"}"#)
            .header("content-type", "application/json")
            .header("Retry-After", "0"),
    );
    let failing = HttpStub::answering(
        StubResponse::text(500, r#"{"error":"server_error"}"#)
            .header("content-type", "application/json"),
    );
    let vendor = [
        ("LOFTY_CUSTOMER_KEY", "k"),
        ("LOFTY_CLIENT_ID", "app_1"),
        ("LOFTY_CLIENT_SECRET", "s"),
    ];
    for (server, hint) in [
        (
            &limited,
            "the server is limiting requests (HTTP 429), not refusing the credential: try again in a while",
        ),
        (
            &failing,
            "the fault is on the server's side, not the credential's: try again in a while; if it persists, tell the server's operators",
        ),
    ] {
        let token_url = format!("{}/token", server.url);
        let mut vars = vendor.to_vec();
        vars.push(("LOFTY_API_URL", &server.url));
        for args in [
            &["auth", "login"][..],
            &["auth", "login-browser"],
            &[
                "auth",
                "login-session",
                "--tokenurl",
                &token_url,
                "--sessionid",
                "abc",
            ],
        ] {
            let stderr = home().run(args, &vars).expect_code(6).stderr();
            let lines: Vec<&str> = stderr.lines().collect();
            assert_eq!(lines.len(), 2, "{args:?}: {stderr}");
            assert!(lines[0].starts_with("error: "), "{args:?}: {}", lines[0]);
            assert_eq!(lines[1], hint, "{args:?}");
        }
    }
}

#[test]
fn login_session_hints_name_the_token_url_and_the_session_id() {
    // Nothing listens: the token URL is named, not the API URL.
    let args = [
        "auth",
        "login-session",
        "--tokenurl",
        "http://127.0.0.1:9/token",
        "--sessionid",
        "abc",
    ];
    let err = home().run(&args, &[]).expect_code(5).stderr();
    assert!(err.contains("--tokenurl or LOFTY_TOKEN_URL"), "{err}");
    assert!(!err.contains("LOFTY_API_URL"), "{err}");
    // A wrong path on a real server: not a used-up session.
    let lofty = lofty();
    let wrong = format!("{}/oauth/no-such-token-url", lofty.server.url);
    let args = [
        "auth",
        "login-session",
        "--tokenurl",
        &wrong,
        "--sessionid",
        "abc",
    ];
    let err = home().run(&args, &[]).stderr();
    assert!(!err.contains("single use"), "{err}");
    assert!(err.contains("--tokenurl or LOFTY_TOKEN_URL"), "{err}");
    // An empty session id is a missing one, sent nowhere.
    let (_, token_url) = lofty.server.session(&lofty.email);
    let args = [
        "auth",
        "login-session",
        "--tokenurl",
        &token_url,
        "--sessionid",
        "",
    ];
    let err = home().run(&args, &[]).expect_code(2).stderr();
    assert!(
        err.contains("LOFTY_SESSION_ID (or --sessionid <id>)"),
        "{err}"
    );
}

/// The Lofty documents name no `.env`: one in the working directory (a
/// repository someone else wrote) does not choose the account.
#[test]
fn a_dotenv_file_is_not_read() {
    let home = home();
    std::fs::create_dir_all(home.work()).unwrap();
    std::fs::write(home.work().join(".env"), "LOFTY_CUSTOMER_KEY=planted\n").unwrap();
    let run = home.run(&["auth", "show"], &[]).expect_code(3);
    assert!(!run.stdout().contains("planted") && !run.stderr().contains(".env"));
}

#[test]
fn what_a_key_says_reaches_the_terminal_escaped() {
    let home = home();
    let hostile = [("LOFTY_CUSTOMER_KEY", KEY_WITH_ESCAPES)];
    let out = home.run(&["auth", "status"], &hostile).ok().stdout();
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
    assert!(
        out.contains("key key_\\u{1b}]0;PWNED\\u{7}\\u{1b}[2J, scope THIRD_PARTY_OPERATION"),
        "{out}"
    );
}

#[test]
fn an_expired_key_from_the_environment_says_to_replace_the_variable() {
    let run = home()
        .run(&["auth", "test"], &[("LOFTY_CUSTOMER_KEY", EXPIRED_KEY)])
        .expect_code(4);
    let err = run.stderr();
    assert!(
        err.contains("set LOFTY_CUSTOMER_KEY to it, or unset LOFTY_CUSTOMER_KEY"),
        "{err}"
    );
    // Saved, the key is replaced with `auth set`.
    let home = home();
    home.run(&["auth", "set", EXPIRED_KEY], &[]).ok();
    let err = home.run(&["auth", "test"], &[]).expect_code(4).stderr();
    assert!(
        err.contains("run `lofty-cli auth set <customer-key>`"),
        "{err}"
    );
}

#[test]
fn an_empty_api_url_flag_is_refused_and_an_empty_variable_is_unset() {
    let home = home();
    home.run(&["auth", "set", KEY], &[]).ok();
    let run = home
        .run(&["--api-url", "", "auth", "test"], &[])
        .expect_code(2);
    assert!(
        run.stderr().contains("is not a valid server URL"),
        "{}",
        run.stderr()
    );
    let out = home
        .run(&["auth", "status"], &[("LOFTY_API_URL", "")])
        .ok()
        .stdout();
    assert!(
        out.starts_with("API URL:      http://127.0.0.1:8080"),
        "{out}"
    );
}
