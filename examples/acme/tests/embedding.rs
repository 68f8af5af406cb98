//! The embedding guide's promises, on the real `acme` binary: Tessera's whole
//! `auth` group under Acme's names, against a real tesserad on a free port.

use std::os::unix::fs::PermissionsExt as _;
use tessera_testkit::{Browser, Home, HttpStub, StubResponse, Tesserad};

fn acme() -> Home {
    Home::new(env!("CARGO_BIN_EXE_acme"))
}

#[test]
fn help_lists_the_auth_group_and_acmes_own_command() {
    let help = acme().run(&["--help"], &[]).ok().stdout();
    assert!(help.contains("auth") && help.contains("whoami"), "{help}");
    let help = acme().run(&["auth", "--help"], &[]).ok().stdout();
    for command in ["login", "status", "token", "logout", "env"] {
        assert!(help.contains(command), "{command} missing from\n{help}");
    }
}

#[test]
fn not_logged_in_is_exit_3_with_a_json_error_naming_acmes_command() {
    let run = acme()
        .run(&["auth", "status", "--json"], &[])
        .expect_code(3);
    let error: serde_json::Value = serde_json::from_str(&run.stderr()).unwrap();
    assert_eq!(error["kind"], "not_logged_in");
    assert_eq!(error["exit_code"], 3);
    let hint = error["hint"].as_str().unwrap();
    assert!(hint.contains("acme auth login --api-key KEY") && hint.contains("ACME_API_KEY"));
    let run = acme().run(&["whoami"], &[]).expect_code(3);
    assert!(
        run.stderr().starts_with("acme: not logged in"),
        "{}",
        run.stderr()
    );
}

#[test]
fn login_status_token_and_acmes_own_command_against_tesserad() {
    let server = Tesserad::start();
    let email = server.account();
    let (key_id, key) = server.api_key(&email);
    let home = acme();
    let url = [("ACME_URL", server.url.as_str())];
    let run = home.run(&["auth", "login", "--api-key", &key], &url).ok();
    assert!(
        run.stderr()
            .contains(&format!("Logged in to {} as {email}", server.url))
    );
    let credentials = home.home().join(".config/acme/credentials.toml");
    let mode = std::fs::metadata(&credentials)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let status = home.run(&["auth", "status", "--json"], &url).ok().stdout();
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["source"], "credentials_file");
    assert_eq!(status["key_id"], key_id.as_str());
    assert_eq!(
        home.run(&["auth", "token"], &url).ok().stdout(),
        format!("{key}\n")
    );
    let me = home.run(&["whoami"], &url).ok().stdout();
    assert!(me.starts_with(&email), "{me}");

    server.revoke(&key_id);
    let run = home.run(&["whoami"], &url).expect_code(4);
    assert!(run.stderr().starts_with("acme: "), "{}", run.stderr());
}

#[test]
fn the_api_command_the_dpop_hint_names_exists_and_sends_a_proof() {
    let server = Tesserad::start();
    let email = server.account();
    server.admin(&[
        "app",
        "create",
        "--account",
        &email,
        "--name",
        "acme",
        "--public",
        "--client-id",
        "acme-cli",
    ]);
    let home = acme();
    let url = [("ACME_URL", server.url.as_str())];
    let mut login = home.spawn(&["auth", "login", "--device"], &url);
    let verification = login.stderr_until(|line| {
        let line = line.trim();
        line.contains("/device?user_code=").then(|| line.to_owned())
    });
    Browser::new(&server.url).approve_device(&server, &email, &verification);
    let (code, stderr) = login.finish();
    assert_eq!(code, 0, "{stderr}");

    let token = home.run(&["auth", "token"], &url).ok();
    assert!(
        token.stderr().contains("`acme api PATH` adds one"),
        "{}",
        token.stderr()
    );
    let me = home.run(&["api", "/v1/me"], &url).ok().stdout();
    let me: serde_json::Value = serde_json::from_str(&me).unwrap();
    assert_eq!(me["email"], email.as_str());
}

#[test]
fn refused_plain_http_says_how_acme_opts_in_as_tessera_does() {
    let home = acme();
    let key = [("ACME_API_KEY", "k")];
    let run = home
        .run(&["whoami"], &[key[0], ("ACME_URL", "http://10.9.9.9:8080")])
        .expect_code(2);
    assert!(
        run.stderr()
            .contains("  try: allow it for one server: `acme auth env add NAME URL --insecure`"),
        "{}",
        run.stderr()
    );
}

/// The platform's server logs see its own CLI first in `User-Agent`, with the
/// library's version after it.
#[test]
fn requests_name_acme_in_the_user_agent() {
    let stub = HttpStub::answering(StubResponse::json(200, serde_json::json!({})));
    let env = [("ACME_API_KEY", "k"), ("ACME_URL", stub.url.as_str())];
    acme().run(&["api", "/v1/me"], &env).ok();
    let request = stub.only_request();
    let agent = request.header("user-agent").unwrap_or_default();
    assert!(agent.starts_with("acme tessera/"), "{agent}");
}

/// Manual pages, completion scripts and help quote the library's commands and
/// variables in Acme's names: following them runs `acme`, not `tessera`.
#[test]
fn docs_name_acmes_commands_and_variables() {
    let home = acme();
    let dir = home.home().join("man");
    home.run(&["man", dir.to_str().unwrap()], &[]).ok();
    let mut text = String::new();
    for page in std::fs::read_dir(&dir).unwrap() {
        text += &std::fs::read_to_string(page.unwrap().path()).unwrap();
    }
    assert!(text.contains("ACME_CLIENT_ID") && text.contains("!acme auth git"));
    text += &acme().run(&["completion", "zsh"], &[]).ok().stdout();
    text += &acme().run(&["auth", "token", "--help"], &[]).ok().stdout();
    for tessera in ["TESSERA_", "`tessera", "(tessera", "!tessera"] {
        assert!(!text.contains(tessera), "{tessera} in\n{text}");
    }
}
