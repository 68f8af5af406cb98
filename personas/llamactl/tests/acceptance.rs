//! `llamactl auth`, line by line of `llamactl-auth.txt`: the real binary with a
//! temporary HOME, against a real tesserad (API keys, `GET /v1/projects`, and the
//! OIDC device flow approved on its `/device` page by a scripted browser).
//! Menus and prompts are driven through a pseudo-terminal.

use tessera_testkit::{Browser, DOWN, ENTER, Home, Tesserad};

const LLAMACTL: &str = env!("CARGO_BIN_EXE_llamactl");

fn home() -> Home {
    Home::new(LLAMACTL)
}

/// A tesserad with one account, two projects and an API key.
struct Server {
    tesserad: Tesserad,
    key_id: String,
    key: String,
    /// (id, name), in creation order.
    projects: Vec<(String, String)>,
}

fn server() -> Server {
    let tesserad = Tesserad::start();
    let email = tesserad.account();
    let projects = ["alpha", "beta"]
        .map(|name| (tesserad.project(&email, name), name.to_owned()))
        .to_vec();
    let (key_id, key) = tesserad.api_key(&email);
    Server {
        tesserad,
        key_id,
        key,
        projects,
    }
}

impl Server {
    fn url(&self) -> (&'static str, &str) {
        ("LLAMACTL_API_URL", self.tesserad.url.as_str())
    }

    /// `auth token --no-interactive` for project `n`.
    fn token(&self, home: &Home, n: usize) {
        home.run(
            &[
                "auth",
                "token",
                "--no-interactive",
                "--api-key",
                &self.key,
                "--project-id",
                &self.projects[n].0,
            ],
            &[self.url()],
        )
        .ok();
    }
}

fn config(home: &Home) -> String {
    std::fs::read_to_string(home.home().join(".config/llamactl/config.toml")).unwrap_or_default()
}

fn credentials(home: &Home) -> String {
    std::fs::read_to_string(home.home().join(".config/llamactl/credentials.toml"))
        .unwrap_or_default()
}

/// Rows of `auth list` (without the header).
fn list(home: &Home, vars: &[(&str, &str)]) -> Vec<String> {
    home.run(&["auth", "list"], vars)
        .ok()
        .stdout()
        .lines()
        .skip(1)
        .map(str::to_owned)
        .collect()
}

/// A tesserad whose account has `projects` projects and the public app
/// `llamactl`; `(server, account email)`.
fn device_server(projects: usize) -> (Tesserad, String) {
    let server = Tesserad::start();
    let email = server.account();
    for name in ["one", "two"].iter().take(projects) {
        server.project(&email, name);
    }
    server.admin(&[
        "app",
        "create",
        "--account",
        &email,
        "--name",
        "llamactl",
        "--public",
        "--client-id",
        "llamactl",
    ]);
    (server, email)
}

/// The `Or open: URL` line of `auth login` (the verification URL with the code).
fn verification_url(line: &str) -> Option<String> {
    line.strip_prefix("Or open: ").map(str::to_owned)
}

// --- auth token ---------------------------------------------------------------------------

#[test]
fn token_non_interactive_validates_the_key_by_listing_projects_and_sets_the_profile_current() {
    let server = server();
    let home = home();
    let run = home
        .run(
            &[
                "auth",
                "token",
                "--no-interactive",
                "--api-key",
                &server.key,
                "--project-id",
                &server.projects[1].0,
            ],
            &[server.url()],
        )
        .ok();
    assert!(
        run.stderr().contains("set it as current"),
        "{}",
        run.stderr()
    );
    let rows = list(&home, &[]);
    assert_eq!(rows.len(), 1);
    assert!(rows[0].starts_with("* default"), "{rows:?}");
    assert!(rows[0].contains(&server.projects[1].0), "{rows:?}");
    assert!(credentials(&home).contains(&server.key));
    assert!(
        config(&home).contains(&server.tesserad.url),
        "the API URL is in the profile"
    );
}

/// Command lines refused before anything is asked or stored: exit code and the
/// reason on stderr. (No test here has a terminal.)
#[test]
fn command_lines_refused_with_their_reason() {
    const BOTH: &str = "Non-interactive token requires both --api-key and --project-id";
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["auth", "token", "--no-interactive", "--api-key", "k"],
            2,
            BOTH,
        ),
        (
            &["auth", "token", "--no-interactive", "--project-id", "p"],
            2,
            BOTH,
        ),
        // Without a terminal the token command is non-interactive by default.
        (&["auth", "token"], 2, BOTH),
        (&["auth", "token", "--interactive"], 2, "needs a terminal"),
        (
            &["auth", "switch", "--no-interactive"],
            2,
            "NAME is required",
        ),
        (&["auth", "switch", "ghost"], 1, "ghost"),
        // No current profile: says how to create one.
        (&["auth", "project", "x"], 3, "llamactl auth token"),
        // A group without its subcommand: its help, examples filled in.
        (&["auth", "env"], 2, "  llamactl auth env switch staging\n"),
    ];
    let home = home();
    for (args, code, says) in cases {
        let run = home.run(args, &[]).expect_code(*code);
        assert!(run.stderr().contains(says), "{args:?}: {}", run.stderr());
    }
}

#[test]
fn token_with_a_revoked_key_is_rejected_and_nothing_is_stored() {
    let server = server();
    server.tesserad.revoke(&server.key_id);
    let home = home();
    home.run(
        &[
            "auth",
            "token",
            "--no-interactive",
            "--api-key",
            &server.key,
            "--project-id",
            &server.projects[0].0,
        ],
        &[server.url()],
    )
    .expect_code(4);
    assert!(config(&home).is_empty());
}

#[test]
fn token_with_a_project_the_key_cannot_see_fails() {
    let server = server();
    let home = home();
    let run = home
        .run(
            &[
                "auth",
                "token",
                "--no-interactive",
                "--api-key",
                &server.key,
                "--project-id",
                "prj_unknown",
            ],
            &[server.url()],
        )
        .expect_code(2);
    assert!(run.stderr().contains("not found"), "{}", run.stderr());
    assert!(run.stderr().contains("alpha"), "{}", run.stderr());
}

#[test]
fn token_interactive_prompts_for_the_key_masked_then_selects_a_project_with_arrow_keys() {
    let server = server();
    let home = home();
    let mut pty = home.pty(&["auth", "token"], &[server.url()]);
    pty.expect("API key");
    pty.wait_for_hidden_input();
    pty.send_line(&server.key);
    pty.expect("Select a project");
    pty.expect("beta");
    pty.send(DOWN);
    pty.send(ENTER);
    let (code, rest) = pty.finish();
    assert_eq!(code, 0, "{rest}");
    assert!(!rest.contains(&server.key), "the key is not echoed");
    let rows = list(&home, &[]);
    assert!(rows[0].contains(&server.projects[1].0), "{rows:?}");
}

#[test]
fn token_names_profiles_automatically_and_the_newest_is_current() {
    let server = server();
    let home = home();
    server.token(&home, 0);
    server.token(&home, 1);
    let rows = list(&home, &[]);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows[0].starts_with("  default "), "{rows:?}");
    assert!(rows[1].starts_with("* default-2 "), "{rows:?}");
}

// --- auth login ------------------------------------------------------------------------------

#[test]
fn login_uses_the_device_flow_and_picks_the_only_project() {
    let (server, email) = device_server(1);
    let home = home();
    let mut login = home.spawn(&["auth", "login"], &[("LLAMACTL_API_URL", &server.url)]);
    let url = login.stderr_until(verification_url);
    assert!(url.starts_with(&format!("{}/device", server.url)), "{url}");
    Browser::new(&server.url).approve_device(&server, &email, &url);
    let (code, stderr) = login.finish();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("enter the code"), "{stderr}");
    let rows = list(&home, &[]);
    assert!(rows[0].starts_with("* default"), "{rows:?}");
    assert!(
        rows[0].contains("one (proj_") && rows[0].ends_with("login"),
        "{rows:?}"
    );
}

#[test]
fn login_on_a_terminal_selects_the_project_with_arrow_keys() {
    let (server, email) = device_server(2);
    let home = home();
    let mut pty = home.pty(&["auth", "login"], &[("LLAMACTL_API_URL", &server.url)]);
    pty.expect("Or open: ");
    let url = pty.read_line();
    Browser::new(&server.url).approve_device(&server, &email, &url);
    pty.expect("Select a project");
    pty.expect("two (proj_");
    pty.send(DOWN);
    pty.send(ENTER);
    let (code, rest) = pty.finish();
    assert_eq!(code, 0, "{rest}");
    assert!(list(&home, &[])[0].contains("two (proj_"));
}

#[test]
fn login_without_a_terminal_never_shows_a_menu_and_says_how_to_pick_a_project() {
    let (server, email) = device_server(2);
    let home = home();
    let mut login = home.spawn(&["auth", "login"], &[("LLAMACTL_API_URL", &server.url)]);
    let url = login.stderr_until(verification_url);
    Browser::new(&server.url).approve_device(&server, &email, &url);
    let (code, stderr) = login.finish();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("llamactl auth project"), "{stderr}");
    assert!(list(&home, &[])[0].starts_with("* default"));
}

// --- auth list / switch ------------------------------------------------------------------------

#[test]
fn list_shows_a_table_with_the_current_profile_marked() {
    let server = server();
    let home = home();
    server.token(&home, 0);
    server.token(&home, 1);
    let out = home.run(&["auth", "list"], &[]).ok().stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains("NAME") && lines[0].contains("PROJECT"),
        "{out}"
    );
    assert!(
        lines[1].contains("alpha") && lines[2].contains("beta"),
        "{out}"
    );
    assert_eq!(lines.iter().filter(|l| l.starts_with('*')).count(), 1);
}

#[test]
fn switch_by_name_sets_the_current_profile() {
    let server = server();
    let home = home();
    server.token(&home, 0);
    server.token(&home, 1);
    home.run(&["auth", "switch", "default"], &[]).ok();
    assert!(list(&home, &[])[0].starts_with("* default "));
}

#[test]
fn switch_without_a_name_on_a_terminal_offers_an_arrow_key_menu() {
    let server = server();
    let home = home();
    server.token(&home, 0);
    server.token(&home, 1);
    let mut pty = home.pty(&["auth", "switch"], &[]);
    pty.expect("Select a profile");
    pty.expect("default-2");
    pty.send(ENTER);
    assert_eq!(pty.finish().0, 0);
    assert!(list(&home, &[])[0].starts_with("* default "));
}

// --- auth logout ---------------------------------------------------------------------------------

#[test]
fn logout_deletes_the_named_profile_and_its_key() {
    let server = server();
    let home = home();
    server.token(&home, 0);
    server.token(&home, 1);
    home.run(&["auth", "logout", "default"], &[]).ok();
    let rows = list(&home, &[]);
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0].starts_with("* default-2"),
        "the current one stays: {rows:?}"
    );
    assert!(!credentials(&home).contains("[profiles.default]"));
}

#[test]
fn logout_of_the_current_profile_clears_the_current_selection() {
    let server = server();
    let home = home();
    server.token(&home, 0);
    server.token(&home, 1);
    let run = home.run(&["auth", "logout", "default-2"], &[]).ok();
    assert!(run.stderr().contains("It was the current profile"));
    let rows = list(&home, &[]);
    assert_eq!(
        rows,
        vec![
            "  default  alpha (".to_owned()
                + &server.projects[0].0
                + ")  "
                + &server.tesserad.url
                + "  api key"
        ]
    );
    // No profile is current now: without a terminal, logout needs a name,
    // and says so rather than that there are no profiles.
    let run = home.run(&["auth", "logout"], &[]).expect_code(2);
    assert!(
        run.stderr().contains("llamactl auth logout NAME"),
        "{}",
        run.stderr()
    );
}

#[test]
fn logout_without_a_name_on_a_terminal_offers_an_arrow_key_menu() {
    let server = server();
    let home = home();
    server.token(&home, 0);
    server.token(&home, 1);
    let mut pty = home.pty(&["auth", "logout"], &[]);
    pty.expect("Select a profile to log out");
    pty.send(ENTER);
    assert_eq!(pty.finish().0, 0);
    let rows = list(&home, &[]);
    assert_eq!(rows.len(), 1);
    assert!(rows[0].contains("default-2"));
}

// --- auth project ---------------------------------------------------------------------------------

#[test]
fn project_with_an_id_changes_the_active_project_of_the_current_profile() {
    let server = server();
    let home = home();
    server.token(&home, 0);
    home.run(&["auth", "project", &server.projects[1].0], &[])
        .ok();
    assert!(list(&home, &[])[0].contains("beta"));
}

#[test]
fn project_without_an_id_on_a_terminal_selects_from_the_server_projects() {
    let server = server();
    let home = home();
    server.token(&home, 0);
    let mut pty = home.pty(&["auth", "project"], &[]);
    pty.expect("Select a project");
    pty.expect("beta");
    pty.send(DOWN);
    pty.send(ENTER);
    assert_eq!(pty.finish().0, 0);
    assert!(list(&home, &[])[0].contains("beta"));
}

#[test]
fn project_without_an_id_non_interactive_asks_for_the_id() {
    let server = server();
    let home = home();
    server.token(&home, 0);
    let run = home.run(&["auth", "project"], &[]).expect_code(2);
    assert!(
        run.stderr().contains("PROJECT_ID is required"),
        "{}",
        run.stderr()
    );
}

#[test]
fn project_unknown_to_the_server_is_refused() {
    let server = server();
    let home = home();
    server.token(&home, 0);
    home.run(&["auth", "project", "prj_nope"], &[])
        .expect_code(2);
    assert!(list(&home, &[])[0].contains("alpha"));
}

// --- environments -----------------------------------------------------------------------------------

#[test]
fn env_add_list_and_switch_manage_environments() {
    let home = home();
    home.run(
        &["auth", "env", "add", "staging", "http://127.0.0.1:9"],
        &[],
    )
    .ok();
    let out = home.run(&["auth", "env", "list"], &[]).ok().stdout();
    assert!(
        out.contains("* default") && out.contains("  staging"),
        "{out}"
    );
    home.run(&["auth", "env", "switch", "staging"], &[]).ok();
    let out = home.run(&["auth", "env", "list"], &[]).ok().stdout();
    assert!(out.contains("* staging"), "{out}");
    home.run(&["auth", "env", "switch", "nowhere"], &[])
        .expect_code(1);
}

#[test]
fn profiles_are_filtered_by_the_current_environment() {
    let server = server();
    let home = home();
    server.token(&home, 0);
    home.run(
        &["auth", "env", "add", "staging", &server.tesserad.url],
        &[],
    )
    .ok();
    home.run(&["auth", "env", "switch", "staging"], &[]).ok();
    assert!(list(&home, &[]).is_empty());
    server.token(&home, 1);
    let rows = list(&home, &[]);
    assert_eq!(rows.len(), 1);
    assert!(rows[0].starts_with("* staging"), "{rows:?}");
    home.run(&["auth", "switch", "default"], &[]).expect_code(1);
    home.run(&["auth", "env", "switch", "default"], &[]).ok();
    assert!(list(&home, &[])[0].starts_with("* default"));
}

#[test]
fn llamactl_api_url_sets_the_default_environment_and_api_url_overrides_it() {
    let server = server();
    let home = home();
    home.run(
        &[
            "auth",
            "token",
            "--no-interactive",
            "--api-key",
            &server.key,
            "--project-id",
            &server.projects[0].0,
            "--api-url",
            &server.tesserad.url,
        ],
        &[("LLAMACTL_API_URL", "http://127.0.0.1:9")],
    )
    .ok();
    assert!(config(&home).contains(&server.tesserad.url));
}

// --- where credentials may go ------------------------------------------------------------

#[test]
fn a_plain_http_server_off_this_machine_gets_no_key_unless_its_environment_opted_in() {
    let server = server();
    let home = home();
    let far = "http://api.llama.example";
    // From the variable or --api-url: refused before connecting.
    let token = [
        "auth",
        "token",
        "--no-interactive",
        "--api-key",
        &server.key,
        "--project-id",
        "p",
    ];
    for (extra, vars) in [
        (&[][..], &[("LLAMACTL_API_URL", far)][..]),
        (&["--api-url", far][..], &[]),
    ] {
        let run = home.run(&[&token[..], extra].concat(), vars).expect_code(2);
        assert!(run.stderr().contains("plain http"), "{}", run.stderr());
    }
    assert!(credentials(&home).is_empty(), "nothing stored");
    // A profile whose URL someone changed in the file.
    server.token(&home, 0);
    let path = home.home().join(".config/llamactl/config.toml");
    let edited = config(&home).replace(&server.tesserad.url, far);
    std::fs::write(&path, edited).unwrap();
    let run = home.run(&["auth", "project", "p2"], &[]).expect_code(2);
    assert!(run.stderr().contains("plain http"), "{}", run.stderr());
    // `auth env add` refuses such a URL without --insecure.
    home.run(&["auth", "env", "add", "far", far], &[])
        .expect_code(2);
    home.run(&["auth", "env", "add", "far", far, "--insecure"], &[])
        .ok();
}
