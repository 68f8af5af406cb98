//! `llamactl auth`, line by line of `llamactl-auth.txt`: the real binary with a
//! temporary HOME, against a real tesserad (API keys, `GET /v1/projects`), and a
//! stub on 127.0.0.1 for the OIDC device flow tesserad does not serve yet.
//! Menus and prompts are driven through a pseudo-terminal.

use persona_testkit::{
    DOWN, ENTER, Home, Stub, StubRequest, StubResponse, Tesserad, oauth_error, token_json,
};
use serde_json::json;

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

/// The device flow: code `dc-1` is approved at once; the token lists
/// `projects` projects.
fn device_stub(projects: usize) -> Stub {
    Stub::builder()
        .oauth_metadata()
        .route(
            "POST",
            "/oauth/device_authorization",
            |_: &StubRequest, base: &str| {
                StubResponse::json(
                    200,
                    json!({"device_code": "dc-1", "user_code": "WDJB-MJHT",
                           "verification_uri": format!("{base}/device"),
                           "verification_uri_complete": format!("{base}/device?user_code=WDJB-MJHT"),
                           "expires_in": 600, "interval": 1}),
                )
            },
        )
        .route("POST", "/oauth/token", |r: &StubRequest, _: &str| {
            if r.field("grant_type").as_deref()
                == Some("urn:ietf:params:oauth:grant-type:device_code")
                && r.field("device_code").as_deref() == Some("dc-1")
                && r.field("client_id").as_deref() == Some("llamactl")
            {
                token_json("at-device")
            } else {
                oauth_error(400, "invalid_grant")
            }
        })
        .route("GET", "/v1/projects", move |r: &StubRequest, _: &str| {
            if r.header("authorization") != Some("Bearer at-device") {
                return StubResponse::json(401, json!({"error": "invalid_token", "message": "no"}));
            }
            let all = [
                json!({"id": "prj_one", "name": "one"}),
                json!({"id": "prj_two", "name": "two"}),
            ];
            StubResponse::json(200, json!({"projects": all[..projects]}))
        })
        .start()
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

#[test]
fn token_non_interactive_requires_both_api_key_and_project_id() {
    let home = home();
    for args in [
        vec!["auth", "token", "--no-interactive", "--api-key", "k"],
        vec!["auth", "token", "--no-interactive", "--project-id", "p"],
        vec!["auth", "token"], // no terminal: non-interactive by default
    ] {
        let run = home.run(&args, &[]).expect_code(2);
        assert!(
            run.stderr()
                .contains("Non-interactive token requires both --api-key and --project-id"),
            "{args:?}: {}",
            run.stderr()
        );
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

#[test]
fn interactive_flag_without_a_terminal_is_refused() {
    let run = home()
        .run(&["auth", "token", "--interactive"], &[])
        .expect_code(2);
    assert!(
        run.stderr().contains("needs a terminal"),
        "{}",
        run.stderr()
    );
}

// --- auth login ------------------------------------------------------------------------------

#[test]
fn login_uses_the_device_flow_and_picks_the_only_project() {
    let stub = device_stub(1);
    let home = home();
    let run = home
        .run(
            &["auth", "login"],
            &[("LLAMACTL_API_URL", stub.url.as_str())],
        )
        .ok();
    let err = run.stderr();
    assert!(err.contains("WDJB-MJHT"), "{err}");
    assert!(err.contains(&format!("{}/device", stub.url)), "{err}");
    let auth = &stub.requests_to("/oauth/device_authorization")[0];
    assert_eq!(auth.field("client_id").as_deref(), Some("llamactl"));
    let rows = list(&home, &[]);
    assert!(rows[0].starts_with("* default"), "{rows:?}");
    assert!(
        rows[0].contains("prj_one") && rows[0].ends_with("login"),
        "{rows:?}"
    );
    assert!(credentials(&home).contains("at-device"));
}

#[test]
fn login_on_a_terminal_selects_the_project_with_arrow_keys() {
    let stub = device_stub(2);
    let home = home();
    let mut pty = home.pty(
        &["auth", "login"],
        &[("LLAMACTL_API_URL", stub.url.as_str())],
    );
    pty.expect("WDJB-MJHT");
    pty.expect("Select a project");
    pty.expect("two (prj_two)");
    pty.send(DOWN);
    pty.send(ENTER);
    let (code, rest) = pty.finish();
    assert_eq!(code, 0, "{rest}");
    assert!(list(&home, &[])[0].contains("prj_two"));
}

#[test]
fn login_without_a_terminal_never_shows_a_menu_and_says_how_to_pick_a_project() {
    let stub = device_stub(2);
    let home = home();
    let run = home
        .run(
            &["auth", "login"],
            &[("LLAMACTL_API_URL", stub.url.as_str())],
        )
        .ok();
    assert!(
        run.stderr().contains("llamactl auth project"),
        "{}",
        run.stderr()
    );
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

#[test]
fn switch_without_a_name_non_interactive_asks_for_the_name() {
    let run = home()
        .run(&["auth", "switch", "--no-interactive"], &[])
        .expect_code(2);
    assert!(
        run.stderr().contains("NAME is required"),
        "{}",
        run.stderr()
    );
}

#[test]
fn switch_to_an_unknown_profile_fails() {
    let run = home().run(&["auth", "switch", "ghost"], &[]).expect_code(1);
    assert!(run.stderr().contains("ghost"));
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

#[test]
fn project_without_a_current_profile_says_how_to_create_one() {
    let run = home().run(&["auth", "project", "x"], &[]).expect_code(3);
    assert!(
        run.stderr().contains("llamactl auth token"),
        "{}",
        run.stderr()
    );
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
