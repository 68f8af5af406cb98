//! Where a stored credential may go: only to its own profile's server
//! (`api` refuses an absolute URL elsewhere and sends nothing), and over
//! plain http only to loopback or an environment the user opted in for.

use super::{GOOD_KEY, Tessera, stderr, stdout, stub_server};

#[test]
fn api_sends_a_credential_only_to_its_own_profiles_server() {
    let (home_stub, other_stub) = (stub_server(), stub_server());
    let (home, other) = (&home_stub.url, &other_stub.url);
    let s = Tessera::sandbox();
    for (name, url) in [("other", other), ("home", home)] {
        s.cmd(&["auth", "env", "add", name, url]).assert().success();
        s.cmd(&["auth", "env", "switch", name]).assert().success();
        s.login(GOOD_KEY, &[]);
    }
    let elsewhere = format!("{other}/v1/me");
    let scheme_relative = elsewhere.trim_start_matches("http:").to_owned();
    for url in [&elsewhere, &scheme_relative] {
        let out = s.cmd(&["api", url]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{url}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("refusing to send the credential"), "{err}");
        assert!(
            err.contains("`tessera --profile other api "),
            "names the profile of that server: {err}"
        );
    }
    assert_eq!(other_stub.connections(), 0, "nothing was sent");
    assert_eq!(home_stub.connections(), 0);

    // Told explicitly which server: its own profile's credential goes there.
    let out = s
        .cmd(&["--profile", "other", "api", &elsewhere])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("dev@example.test"));
    assert_eq!(other_stub.connections(), 1);
    // A path, or the server's own URL, is the current profile's.
    s.cmd(&["api", "/v1/me"]).assert().success();
    s.cmd(&["api", &format!("{home}/v1/me")]).assert().success();
    assert_eq!(home_stub.connections(), 2);
    // A redirect is said, and not followed with the credential.
    let out = s.cmd(&["api", "/v1/moved"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said =
        format!("the server answered HTTP 302: a redirect to {home}/elsewhere, not followed");
    assert!(stderr(&out).contains(&said), "{}", stderr(&out));
    assert_eq!(home_stub.requests_to("/elsewhere").len(), 0);

    // A server no profile belongs to: the hint says how to make one.
    let out = s
        .cmd(&["api", "https://api.example.test/v1/me"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("auth env add NAME URL"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn plain_http_off_this_machine_needs_an_opt_in_for_its_environment() {
    let s = Tessera::sandbox();
    let lab = "http://lab.example.test:8080";
    let out = s.cmd(&["auth", "env", "add", "lab", lab]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--insecure"), "{}", stderr(&out));
    assert!(!s.config.join("config.toml").exists(), "nothing written");

    let out = s
        .cmd(&["auth", "env", "add", "lab", lab, "--insecure"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("plain http"), "{}", stderr(&out));
    let out = s.cmd(&["auth", "env", "list", "--json"]).output().unwrap();
    let envs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(envs[1]["name"], "lab");
    assert_eq!(envs[1]["insecure"], true);
    // Changing the URL without the flag withdraws the opt-in.
    let https = "https://lab.example.test";
    s.cmd(&["auth", "env", "add", "lab", https])
        .assert()
        .success();
    let out = s.cmd(&["auth", "env", "list", "--json"]).output().unwrap();
    let envs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(envs[1]["insecure"], false);

    // A URL from the environment is never opted in: refused before any
    // connection (nothing listens there, and no name is looked up).
    for args in [
        &["auth", "login", "--api-key", GOOD_KEY][..],
        &["auth", "login", "--email", "me@example.test"],
    ] {
        let out = s
            .cmd(args)
            .env("TESSERA_URL", "http://api.example.test")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("plain http"), "{}", stderr(&out));
    }
    assert!(!s.credentials_path().exists(), "no key stored");
    // Nor is a stored key handed to tools that would send it there.
    s.login(GOOD_KEY, &[]);
    let out = s
        .cmd(&["auth", "env"])
        .env("TESSERA_URL", "http://api.example.test")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!stdout(&out).contains(GOOD_KEY));
}

#[test]
fn an_opt_in_in_a_config_others_can_write_is_not_trusted() {
    use std::os::unix::fs::PermissionsExt as _;
    let s = Tessera::sandbox();
    s.cmd(&[
        "auth",
        "env",
        "add",
        "lab",
        "http://10.0.0.5:8080",
        "--insecure",
    ])
    .assert()
    .success();
    let config = s.config.join("config.toml");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = s.cmd(&["auth", "env", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
}

/// A server URL that reads as another (a query, `..`) is refused before any
/// login or discovery, whatever set it, and nothing is sent.
#[test]
fn a_server_url_that_reads_as_another_is_refused_before_any_login() {
    let s = Tessera::sandbox();
    let stub = stub_server();
    for url in [format!("{}/a/../b", stub.url), format!("{}/?x=1", stub.url)] {
        for args in [
            &["auth", "login", "--device"][..],
            &["auth", "login", "--api-key", GOOD_KEY],
        ] {
            let out = s.cmd(args).env("TESSERA_URL", &url).output().unwrap();
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
            assert!(
                stderr(&out).contains("cannot be a server URL"),
                "{}",
                stderr(&out)
            );
        }
    }
    assert_eq!(stub.connections(), 0, "nothing was sent");
}

/// `api -H`: a user's own `Authorization` replaces the profile's credential
/// (which is then not sent at all), still only to the profile's server; a
/// header that would add a line or frame the request, and fields next to
/// `--data`, are usage errors (2) with nothing sent.
#[test]
fn api_headers_never_carry_the_profiles_credential_elsewhere() {
    let (home_stub, other_stub) = (stub_server(), stub_server());
    let s = Tessera::new(&home_stub.url);
    s.login(GOOD_KEY, &[]);
    let given = "Authorization: token users-own-key";
    let elsewhere = format!("{}/v1/me", other_stub.url);
    let out = s.cmd(&["api", "-H", given, &elsewhere]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(other_stub.connections(), 0, "nothing was sent");

    // To its own server: the user's header, not the profile's key.
    let out = s.cmd(&["api", "-H", given, "/v1/me"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the Authorization header given with --header"),
        "{}",
        stderr(&out)
    );
    let seen = home_stub.requests_to("/v1/me");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("authorization"), Some("token users-own-key"));
    // Other headers go with the profile's credential.
    s.cmd(&["api", "-H", "X-Request-Id: r-1", "/v1/me"])
        .assert()
        .success();
    let seen = home_stub.requests_to("/v1/me");
    assert_eq!(seen[1].header("x-request-id"), Some("r-1"));
    assert_eq!(
        seen[1].header("authorization"),
        Some(format!("token {GOOD_KEY}").as_str())
    );

    let requests = home_stub.requests().len();
    for args in [
        &["api", "-H", "X-A: a\r\nX-Injected: 1", "/v1/me"][..],
        &["api", "-H", "Host: elsewhere.test", "/v1/me"],
        &["api", "-H", "Content-Length: 0", "/v1/me"],
        &["api", "-H", "token-without-a-name", "/v1/me"],
        &["api", "-d", "{}", "-f", "a=b", "/v1/me"],
        &["api", "-f", "a[=b", "/v1/me"],
    ] {
        let out = s.cmd(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("X-Injected"), "{}", stderr(&out));
    }
    assert_eq!(home_stub.requests().len(), requests, "nothing was sent");
}
