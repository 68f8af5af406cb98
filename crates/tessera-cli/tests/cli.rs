//! The real `tessera` binary against a temporary config directory, and, where a
//! server is needed, a small HTTP stub on 127.0.0.1 that answers `/v1/me`.
// Unix only: file modes, SIGKILL, a Secret Service on D-Bus.
#![cfg(unix)]

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use support::{Tessera, closed_port_url, stderr, stdout};
use tessera_testkit::{CTRL_C, DOWN, ENTER, HttpStub, StubResponse};

#[path = "cli/api.rs"]
mod api;
#[path = "cli/keychain.rs"]
mod keychain;
#[path = "cli/kill_loop.rs"]
mod kill_loop;
#[path = "cli/trust.rs"]
mod trust;

/// An API key shaped like the server's: `lk_` + compact JWS.
fn jws_key(jti: &str, exp: Option<i64>) -> String {
    account_key("acct_1", jti, exp)
}

/// [`jws_key`] of the account `sub`.
fn account_key(sub: &str, jti: &str, exp: Option<i64>) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","kid":"k1"}"#);
    let mut claims = serde_json::json!({
        "iss": "http://127.0.0.1:8080", "sub": sub, "jti": jti,
        "scope": "THIRD_PARTY_OPERATION", "iat": 1_700_000_000, "token_use": "api_key",
    });
    if let Some(exp) = exp {
        claims["exp"] = exp.into();
    }
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    format!("lk_{header}.{payload}.c2lnbmF0dXJlLW9mLWEta2V5")
}

const GOOD_KEY: &str = "good-key-0123456789abcdef";
const BOOM_KEY: &str = "boom-key-0123456789abcdef";

/// Answers `GET /v1/me`: 200 for [`GOOD_KEY`] (or any `lk_` key), 500 for
/// [`BOOM_KEY`], 401 otherwise; counts its connections.
fn stub_server() -> HttpStub {
    let answer = StubResponse::text;
    HttpStub::builder()
        .route("GET", "/v1/me", move |request, _| {
            let authorization = request.header("authorization").unwrap_or_default();
            let key = authorization.strip_prefix("token ").unwrap_or("");
            if key == GOOD_KEY || key.starts_with("lk_") {
                answer(
                    200,
                    r#"{"account_id":"acct_1","email":"dev@example.test","credential":"api_key","credential_id":"key_1","scope":"THIRD_PARTY_OPERATION"}"#,
                )
            } else if key == BOOM_KEY {
                answer(500, r#"{"error":"internal","message":"internal error"}"#)
            } else {
                answer(
                    401,
                    r#"{"error":"invalid_token","message":"The API key is invalid or revoked."}"#,
                )
            }
        })
        .route("GET", "/v1/moved", move |_, base| {
            answer(302, "").header("location", &format!("{base}/elsewhere"))
        })
        .fallback(move |_, _| answer(404, r#"{"error":"not_found","message":"no such path"}"#))
        .start()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn token_without_login_exits_3_with_a_hint() {
    let s = Tessera::sandbox();
    let out = s.cmd(&["auth", "token"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).contains("auth login --api-key KEY"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("TESSERA_API_KEY"));
    // A profile that does not exist is said not to exist (as kubectl says of
    // a context), not to lack a credential.
    for command in [
        &["auth", "token"][..],
        &["auth", "test"],
        &["api", "/v1/me"],
    ] {
        let out = s.cmd(command).args(["--profile", "nope"]).output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{command:?}");
        assert!(
            stderr(&out).contains("there is no profile \"nope\""),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn login_then_token_prints_the_key_alone() {
    let s = Tessera::sandbox();
    s.login("my-secret-key-123456", &[]);
    s.cmd(&["auth", "token"])
        .assert()
        .success()
        .stdout("my-secret-key-123456\n")
        .stderr("");
    assert_eq!(mode(&s.config), 0o700);
    assert_eq!(mode(&s.credentials_path()), 0o600);
    assert_eq!(mode(&s.config.join("config.toml")), 0o600);
    // The TLS trust settings are read only to go to the network: a bad
    // SSL_CERT_DIR does not slow down or break the stored key's path...
    let bad = s.home.dir.path().join("no-such-dir");
    s.cmd(&["auth", "token"])
        .env("SSL_CERT_DIR", &bad)
        .assert()
        .success()
        .stdout("my-secret-key-123456\n");
    // ...and is said, with exit 2, where a request would be made.
    let out = s
        .cmd(&["auth", "test"])
        .env("SSL_CERT_DIR", &bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("SSL_CERT_DIR"), "{}", stderr(&out));
}

/// A proxy from the environment carries requests to other hosts, never to
/// loopback: plain http is allowed only there, and through a proxy the key
/// would cross the network in the clear (Go's net/http, so gh and kubectl,
/// decide the same). The proxy here is a closed port: used, it would fail.
#[test]
fn a_proxy_is_not_used_for_a_loopback_server() {
    let server = stub_server();
    let s = Tessera::new(&server.url).with_env("TESSERA_API_KEY", GOOD_KEY);
    let proxy = closed_port_url();
    let mut test = s.cmd(&["auth", "test"]);
    for name in ["ALL_PROXY", "HTTPS_PROXY", "HTTP_PROXY", "http_proxy"] {
        test.env(name, &proxy);
    }
    test.assert().success();
    assert_eq!(server.requests_to("/v1/me").len(), 1);
}

/// A key pasted with a line break: around it (CI secrets often end with one)
/// it is trimmed; inside it, login refuses to store it, and a key that still
/// cannot go in a header is a usage error (2) with nothing sent, not a
/// "server error".
#[test]
fn line_breaks_in_keys_are_trimmed_or_refused_before_anything_is_sent() {
    let server = stub_server();
    let s = Tessera::new(&server.url);
    s.cmd(&["auth", "test"])
        .env("TESSERA_API_KEY", format!("{GOOD_KEY}\n"))
        .assert()
        .success();
    let out = s
        .cmd(&["auth", "login", "--with-token", "--no-verify"])
        .write_stdin("first-half\nsecond-half\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("line break"), "{}", stderr(&out));
    assert!(!s.credentials_path().exists());
    let requests = server.requests().len();
    let out = s
        .cmd(&["auth", "test"])
        .env("TESSERA_API_KEY", "first-half\nsecond-half")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("line break"), "{}", stderr(&out));
    // `auth token` prints the key: a blank one, or one with a line break
    // (a header injected where it is used), is refused as `auth test` does;
    // `status` and `show` do not call it logged in.
    for bad in ["   ", "abc\r\nX-Injected: 1"] {
        for command in [
            &["auth", "token"][..],
            &["auth", "status"],
            &["auth", "show"],
        ] {
            let out = s.cmd(command).env("TESSERA_API_KEY", bad).output().unwrap();
            assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
            assert!(out.stdout.is_empty());
            assert!(!stderr(&out).contains("X-Injected"), "{}", stderr(&out));
            assert!(stderr(&out).contains("TESSERA_API_KEY"), "{}", stderr(&out));
        }
        // Nor is it sent as a client-credentials login's customer_key.
        let out = s
            .cmd(&["auth", "login", "--client-credentials"])
            .env("TESSERA_API_KEY", bad)
            .env("TESSERA_CLIENT_ID", "app_1")
            .env("TESSERA_CLIENT_SECRET", "s3cret")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
    }
    // No path is no request (not `GET /`).
    let out = s
        .cmd(&["api", ""])
        .env("TESSERA_API_KEY", GOOD_KEY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = s
        .cmd(&["api", "-X", "GE T", "/v1/me"])
        .env("TESSERA_API_KEY", GOOD_KEY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not an HTTP method"),
        "{}",
        stderr(&out)
    );
    assert_eq!(server.requests().len(), requests);
}

/// An address that cannot be one and a code that cannot be right are usage
/// errors, and nothing is sent: a code sent costs one of its five tries.
#[test]
fn email_login_input_is_checked_before_anything_is_sent() {
    let server = stub_server();
    let s = Tessera::new(&server.url);
    for args in [
        &["auth", "login", "--email", "not-an-email"][..],
        &["auth", "login", "--email", ""],
        &["auth", "login", "--email", "a@example.com", "--otp", "12ab"],
        &[
            "auth",
            "login",
            "--email",
            "a@example.com",
            "--otp",
            "1234567",
        ],
    ] {
        let out = s.cmd(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    assert!(server.requests().is_empty());
}

/// A password in the server URL would be repeated in every message and
/// listing that names the server: such a URL is refused (2) before anything
/// is sent, and where it is only shown, it is masked.
#[test]
fn a_server_url_with_a_password_is_refused_and_never_shown() {
    let server = stub_server();
    let with_password = server.url.replace("http://", "http://user:hunter2-secret@");
    let s = Tessera::new(&with_password).with_env("TESSERA_API_KEY", GOOD_KEY);
    for args in [
        &["auth", "test"][..],
        &["auth", "status"],
        &["auth", "env", "list"],
        &["auth", "env", "add", "lab", &with_password],
    ] {
        let out = s.run(args);
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!all.contains("hunter2"), "{args:?}: {all}");
        if args != ["auth", "status"] && args != ["auth", "env", "list"] {
            assert_eq!(out.status.code(), Some(2), "{args:?}: {all}");
            assert!(all.contains("user:password@"), "{args:?}: {all}");
        }
    }
    assert!(server.requests().is_empty());
}

/// Names become keys in the files, rows in listings and parts of messages:
/// empty ones, control characters (an escape sequence would repaint the
/// terminal), surrounding spaces and very long ones are refused (2), and
/// nothing is written.
#[test]
fn unprintable_or_empty_names_are_refused() {
    let s = Tessera::sandbox();
    let long = "p".repeat(65);
    for name in ["", " ", "a\nb", "\u{1b}[31mred", " padded", long.as_str()] {
        let out = s
            .cmd(&[
                "auth",
                "login",
                "--with-token",
                "--no-verify",
                "--profile",
                name,
            ])
            .write_stdin("a-key-0123456789\n")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("profile name"), "{}", stderr(&out));
        assert!(!stderr(&out).contains('\u{1b}'), "{}", stderr(&out));
        let out = s.run(&["auth", "env", "add", name, "https://api.example"]);
        assert_eq!(out.status.code(), Some(2), "{name:?}: {}", stderr(&out));
    }
    assert!(!s.credentials_path().exists());
    assert!(!s.config.join("config.toml").exists());
}

/// The id of the key a one-time code was traded for comes from the server:
/// an escape sequence in it (retitling the window, clearing the screen)
/// reaches the terminal only escaped.
#[test]
fn a_traded_keys_id_reaches_the_terminal_escaped() {
    let server = HttpStub::builder()
        .route("POST", "/v1/auth/otp/verify", |_, _| {
            StubResponse::text(
                200,
                r#"{"id":"key_1\u001b]0;PWNED\u0007\u001b[2J\rFAKE\u202e","key":"lk_otp-key-0123456789abcdef","scope":"THIRD_PARTY_OPERATION","expires_at":null}"#,
            )
        })
        .start();
    let s = Tessera::new(&server.url);
    let out = s.run(&[
        "auth",
        "login",
        "--email",
        "dev@example.test",
        "--otp",
        "123456",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stderr(&out);
    let acts = |c: char| c != '\n' && tessera_proto::text::acted_on(c);
    assert!(!said.chars().any(acts), "{said:?}");
    assert!(said.contains(r"key_1\u{1b}]0;PWNED"), "{said}");
}

/// Ctrl-C at a menu (cursor hidden) or at the API-key prompt (echo off):
/// exit 130 with the terminal as it was, so a shell without line editing
/// still shows what is typed next.
#[test]
fn ctrl_c_at_a_prompt_gives_the_terminal_back() {
    let s = Tessera::sandbox();
    // With a display, `auth login` asks how to log in.
    let display = [("DISPLAY", ":0")];
    let show_cursor = "\x1b[?25h";

    let mut pty = s.home.pty(&["auth", "login"], &display);
    pty.expect("Paste an API key");
    pty.send(CTRL_C);
    pty.expect(show_cursor);
    assert_eq!(pty.finish().0, 130);

    let mut pty = s.home.pty_echoing(&["auth", "login"], &display);
    pty.expect("Paste an API key");
    pty.send(&format!("{DOWN}{DOWN}{ENTER}"));
    pty.expect("Paste your API key");
    pty.wait_for_hidden_input();
    pty.send(CTRL_C);
    pty.expect(show_cursor);
    assert!(pty.echoes(), "echo left off");
    assert_eq!(pty.finish().0, 130);
    assert!(!s.credentials_path().exists());
    // Ctrl-C ignored by whoever started it (`trap '' INT`, a job a script
    // started with `&`) stays ignored: the prompt goes on, still hidden.
    let mut pty =
        s.home
            .pty_echoing_after("trap '' INT;", &["auth", "login", "--no-verify"], &display);
    pty.expect("Paste an API key");
    pty.send(&format!("{DOWN}{DOWN}{ENTER}"));
    pty.expect("Paste your API key");
    pty.wait_for_hidden_input();
    pty.send(CTRL_C);
    pty.send(&format!("hidden-key-0001{ENTER}"));
    let (code, rest) = pty.finish();
    assert_eq!(code, 0, "{rest}");
    assert!(
        !rest.contains("hidden-key-0001"),
        "the key was echoed: {rest}"
    );
}

/// SIGTERM (a CI timeout, `kill`) or SIGHUP at the hidden API-key prompt:
/// echo back on, as `ssh` and `sudo` leave it, and the process still ends
/// by that signal (no 130: that is Ctrl-C's).
#[test]
fn sigterm_or_sighup_at_a_prompt_gives_the_terminal_back() {
    use nix::sys::signal::Signal;
    use nix::sys::wait::WaitStatus;
    let s = Tessera::sandbox();
    let display = [("DISPLAY", ":0")];
    for signal in [Signal::SIGTERM, Signal::SIGHUP] {
        let mut pty = s.home.pty_echoing(&["auth", "login"], &display);
        pty.expect("Paste an API key");
        pty.send(&format!("{DOWN}{DOWN}{ENTER}"));
        pty.expect("Paste your API key");
        pty.wait_for_hidden_input();
        pty.session.process.signal(signal).unwrap();
        let status = pty.session.process.wait().unwrap();
        assert!(
            matches!(status, WaitStatus::Signaled(_, got, _) if got == signal),
            "{signal:?}: {status:?}"
        );
        assert!(pty.echoes(), "{signal:?}: echo left off");
    }
    assert!(!s.credentials_path().exists());
    // Under `nohup` a hangup is ignored: the prompt goes on, still hidden.
    let mut pty =
        s.home
            .pty_echoing_after("trap '' HUP;", &["auth", "login", "--no-verify"], &display);
    pty.expect("Paste an API key");
    pty.send(&format!("{DOWN}{DOWN}{ENTER}"));
    pty.expect("Paste your API key");
    pty.wait_for_hidden_input();
    pty.session.process.signal(Signal::SIGHUP).unwrap();
    pty.send(&format!("hidden-key-0001{ENTER}"));
    let (code, rest) = pty.finish();
    assert_eq!(code, 0, "{rest}");
    assert!(
        !rest.contains("hidden-key-0001"),
        "the key was echoed: {rest}"
    );
}

/// Help and the version, asked for with stdout on a full disk: not a panic
/// (101) and not a success (0) with the text lost, but exit 1 saying why.
#[test]
fn help_and_version_lost_on_stdout_are_a_failure_not_a_panic() {
    let s = Tessera::sandbox();
    for args in [
        &["--help"][..],
        &["--version"],
        &["auth", "login", "--help"],
    ] {
        let full = std::fs::File::create("/dev/full").unwrap();
        let out = s.command(args).stdout(full).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(err.contains("No space left on device"), "{args:?}: {err}");
    }
}

#[test]
fn login_with_token_reads_stdin() {
    let s = Tessera::sandbox();
    s.cmd(&["auth", "login", "--with-token", "--no-verify"])
        .write_stdin("from-stdin-key-0001\n")
        .assert()
        .success();
    s.cmd(&["auth", "token"])
        .assert()
        .stdout("from-stdin-key-0001\n");
    // Without a key and without a terminal there is nothing to prompt with.
    let out = s.cmd(&["auth", "login", "--no-verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--api-key"));
}

/// A key read from the wrong file (megabytes) would have made a credentials
/// file every later read refuses, locking out every profile: the login
/// fails instead, and the profiles already stored keep working.
#[test]
fn a_key_too_large_to_store_fails_the_login_and_loses_nothing() {
    let s = Tessera::sandbox();
    s.cmd(&[
        "--profile",
        "a",
        "auth",
        "login",
        "--with-token",
        "--no-verify",
    ])
    .write_stdin("kept-key-0001\n")
    .assert()
    .success();
    let out = s
        .cmd(&[
            "--profile",
            "b",
            "auth",
            "login",
            "--with-token",
            "--no-verify",
        ])
        .write_stdin("k".repeat(2 * 1024 * 1024))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing was written"),
        "{}",
        stderr(&out)
    );
    s.cmd(&["--profile", "a", "auth", "token"])
        .assert()
        .success()
        .stdout("kept-key-0001\n");
}

#[test]
fn login_verifies_against_the_server() {
    let s = Tessera::sandbox();
    let server = stub_server().url;
    s.cmd(&["auth", "env", "add", "local", &server])
        .assert()
        .success();
    s.cmd(&["auth", "env", "switch", "local"])
        .assert()
        .success();

    let out = s
        .cmd(&["auth", "login", "--api-key", GOOD_KEY])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("dev@example.test"),
        "{}",
        stderr(&out)
    );
    let status = s.cmd(&["auth", "status", "--json"]).output().unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["environment"], "local");
    assert_eq!(status["server"], server.as_str());
    assert_eq!(status["profile"], "local");

    let out = s
        .cmd(&[
            "auth",
            "login",
            "--api-key",
            "bad-key-0123456789abc",
            "--profile",
            "bad",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("invalid or revoked"),
        "{}",
        stderr(&out)
    );
    // Nothing was stored for the rejected key.
    s.cmd(&["auth", "token", "--profile", "bad"])
        .assert()
        .code(3);

    let out = s
        .cmd(&["auth", "login", "--api-key", BOOM_KEY])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
}

/// Logging in over the current profile with another account's key says so
/// (gh would add an account; here a profile holds one); the same account's
/// new key replaces the old without a word.
#[test]
fn a_login_over_another_accounts_profile_says_so() {
    let s = Tessera::sandbox();
    let login = |key: &str| {
        s.cmd(&["auth", "login", "--api-key", key, "--no-verify"])
            .output()
            .unwrap()
    };
    let first = login(&account_key("acct_bob", "key_1", None));
    assert!(first.status.success(), "{}", stderr(&first));
    let same = login(&account_key("acct_bob", "key_2", None));
    assert!(
        !stderr(&same).contains("another account"),
        "{}",
        stderr(&same)
    );
    let other = login(&account_key("acct_demo", "key_3", None));
    assert!(other.status.success(), "{}", stderr(&other));
    assert!(
        stderr(&other).contains("held the login of another account"),
        "{}",
        stderr(&other)
    );
}

#[test]
fn unreachable_server_exits_5_and_names_no_verify() {
    let s = Tessera::sandbox();
    let out = s
        .cmd(&["auth", "login", "--api-key", GOOD_KEY])
        .env("TESSERA_URL", closed_port_url())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("--no-verify"));
    assert!(!s.credentials_path().exists());
}

/// A URL where something else than an HTTP server listens (a wrong port):
/// the server answered, badly (6), for an API key check and an OAuth login
/// alike; not 5, which scripts wait out and try again.
#[test]
fn a_url_that_answers_not_in_http_exits_6_not_5() {
    let s = Tessera::sandbox();
    let url = tessera_testkit::not_http_url();
    for args in [
        &["auth", "login", "--api-key", GOOD_KEY][..],
        &["auth", "login", "--device"],
    ] {
        let out = s.cmd(args).env("TESSERA_URL", &url).output().unwrap();
        assert_eq!(out.status.code(), Some(6), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("not HTTP"), "{}", stderr(&out));
        assert!(!stderr(&out).contains("is the server running"));
    }
    assert!(!s.credentials_path().exists());
}

#[test]
fn resolution_order_and_reported_overrides() {
    let s = Tessera::sandbox();
    std::fs::write(
        s.home.work().join(".env"),
        "# local settings\r\nexport TESSERA_API_KEY=\"dotenv-key-000000\"\r\n",
    )
    .unwrap();
    s.cmd(&["auth", "token"])
        .assert()
        .stdout("dotenv-key-000000\n");
    s.login("stored-key-0000000", &[]);
    s.cmd(&["auth", "token"])
        .assert()
        .stdout("stored-key-0000000\n");
    s.cmd(&["auth", "token"])
        .env("TESSERA_API_KEY", "env-key-000000000")
        .assert()
        .stdout("env-key-000000000\n");
    s.cmd(&["auth", "token", "--api-key", "flag-key-00000000"])
        .env("TESSERA_API_KEY", "env-key-000000000")
        .assert()
        .stdout("flag-key-00000000\n");

    let out = s
        .cmd(&["auth", "status"])
        .env("TESSERA_API_KEY", "env-key-000000000")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("Source:      TESSERA_API_KEY environment variable"),
        "{text}"
    );
    assert!(text.contains("overrides profile \"default\""), "{text}");
    let out = s
        .cmd(&["auth", "status", "--json"])
        .env("TESSERA_API_KEY", "env-key-000000000")
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["source"], "env");
    let overrides: Vec<_> = json["overrides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["source"].as_str().unwrap())
        .collect();
    assert_eq!(overrides, ["credentials_file", "dotenv"]);
}

/// A profile that does not exist is said to not exist, not to have no key.
#[test]
fn status_of_a_profile_that_does_not_exist_says_so() {
    let s = Tessera::sandbox();
    s.login("stored-key-0000000", &[]);
    let out = s.run(&["--profile", "nope", "auth", "status"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("there is no profile \"nope\""),
        "{}",
        stderr(&out)
    );
    let out = s.run(&["auth", "status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Named by the environment variable, for a command that sends it.
    let out = s
        .cmd(&["auth", "token"])
        .env("TESSERA_PROFILE", "nope")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("there is no profile \"nope\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn status_decodes_claims_and_flags_expiry() {
    let s = Tessera::sandbox();
    let live = jws_key("key_live", Some(4_000_000_000));
    s.login(&live, &[]);
    let out = s.cmd(&["auth", "status", "--json"]).output().unwrap();
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["key_id"], "key_live");
    assert_eq!(json["scope"], "THIRD_PARTY_OPERATION");
    assert_eq!(json["expires_at"], 4_000_000_000i64);
    assert_eq!(json["expired"], false);
    assert_eq!(json["key"], format!("lk_e…{}", &live[live.len() - 4..]));

    let dead = jws_key("key_dead", Some(1_000_000_000));
    s.login(&dead, &["--profile", "old"]);
    let out = s.cmd(&["auth", "status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(stdout(&out).contains("(EXPIRED)"), "{}", stdout(&out));
    assert!(stdout(&out).contains("Key id:      key_dead"));
    let out = s.cmd(&["auth", "token"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).contains("expired at 2001-09-09T01:46:40Z"),
        "{}",
        stderr(&out)
    );
}

/// A key this machine's clock calls expired but the server accepts: the
/// login says the clock is the likely cause, since every later command
/// judges the key by it.
#[test]
fn a_key_expired_by_this_clock_but_accepted_blames_the_clock() {
    let server = stub_server();
    let s = Tessera::new(&server.url);
    let key = jws_key("key_skewed", Some(1_000_000_000));
    let out = s
        .cmd(&["auth", "login", "--api-key", &key])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("expired at 2001-09-09T01:46:40Z"), "{err}");
    assert!(err.contains("clock is probably ahead"), "{err}");
    // Not said when nothing was asked of the server.
    let out = s
        .cmd(&["auth", "login", "--api-key", &key, "--no-verify"])
        .output()
        .unwrap();
    assert!(!stderr(&out).contains("clock"), "{}", stderr(&out));
}

#[test]
fn show_masks_unless_raw() {
    let s = Tessera::sandbox();
    s.login("abcd-very-secret-middle-wxyz", &[]);
    let out = s.cmd(&["auth", "show"]).output().unwrap();
    assert!(stdout(&out).contains("abcd…wxyz"));
    assert!(!stdout(&out).contains("very-secret"));
    let out = s.cmd(&["auth", "show", "--raw"]).output().unwrap();
    assert!(stdout(&out).contains("abcd-very-secret-middle-wxyz"));
    let out = s.cmd(&["auth", "show", "--json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["key"], "abcd…wxyz");
    assert_eq!(json["masked"], true);
    assert_eq!(json["source"], "credentials_file");
}

#[test]
fn profiles_list_and_switch() {
    let s = Tessera::sandbox();
    s.login("first-key-000000000", &[]);
    s.login("second-key-00000000", &["--profile", "work"]);
    let out = s.cmd(&["auth", "list"]).output().unwrap();
    let text = stdout(&out);
    assert!(text.contains("* work"), "{text}");
    assert!(text.contains("  default"), "{text}");
    s.cmd(&["auth", "token"])
        .assert()
        .stdout("second-key-00000000\n");
    s.cmd(&["auth", "token", "--profile", "default"])
        .assert()
        .stdout("first-key-000000000\n");
    s.cmd(&["auth", "token"])
        .env("TESSERA_PROFILE", "default")
        .assert()
        .stdout("first-key-000000000\n");

    s.cmd(&["auth", "switch", "default"]).assert().success();
    s.cmd(&["auth", "token"])
        .assert()
        .stdout("first-key-000000000\n");
    let out = s.cmd(&["auth", "list", "--json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["environment"], "default");
    let current: Vec<_> = json["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["current"] == true)
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(current, ["default"]);

    let out = s.cmd(&["auth", "switch", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no profile named \"nope\""));
}

#[test]
fn profiles_belong_to_environments() {
    let s = Tessera::sandbox();
    s.login("default-key-0000000", &[]);
    s.cmd(&["auth", "env", "add", "staging", "https://staging.example/"])
        .assert()
        .success();
    s.cmd(&["auth", "env", "switch", "staging"])
        .assert()
        .success();
    s.cmd(&["auth", "token"]).assert().code(3);
    s.login("staging-key-0000000", &[]);
    let out = s.cmd(&["auth", "list", "--json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["profiles"].as_array().unwrap().len(), 1);
    assert_eq!(json["profiles"][0]["name"], "staging");
    let out = s.cmd(&["auth", "env", "list", "--json"]).output().unwrap();
    let envs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(envs[0]["name"], "default");
    assert_eq!(envs[0]["url"], "http://127.0.0.1:8080");
    assert_eq!(envs[1]["url"], "https://staging.example");
    assert_eq!(envs[1]["current"], true);
    // Switching to a profile of another environment switches the environment.
    s.cmd(&["auth", "switch", "default"]).assert().success();
    s.cmd(&["auth", "token"])
        .assert()
        .stdout("default-key-0000000\n");
    // TESSERA_URL sets the default environment's server.
    let out = s
        .cmd(&["auth", "status", "--json"])
        .env("TESSERA_URL", "http://127.0.0.1:9999")
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["server"], "http://127.0.0.1:9999");
    let out = s
        .cmd(&["auth", "status"])
        .env("TESSERA_URL", "http://127.0.0.1:9999")
        .env("TESSERA_PROFILE", "default")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("Server:      http://127.0.0.1:9999 (from TESSERA_URL)"),
        "{text}"
    );
    assert!(
        text.contains("Profile:     default (from TESSERA_PROFILE)"),
        "{text}"
    );

    // A value that is no URL is a bad argument, as clap's own refusals (2).
    s.cmd(&["auth", "env", "add", "bad", "not-a-url"])
        .assert()
        .code(2);
    s.cmd(&["auth", "env", "switch", "nope"]).assert().code(1);
}

/// `auth env remove` forgets a server, never a login: while profiles are in
/// the environment it refuses (logout revokes their tokens; dropping them
/// here would not), and the default environment always stays. Moving an
/// environment with profiles to another server warns.
#[test]
fn an_environment_is_removed_only_when_it_has_no_profiles() {
    let s = Tessera::sandbox();
    s.ok(&["auth", "env", "add", "staging", "https://staging.example/"]);
    s.ok(&["auth", "env", "switch", "staging"]);
    s.login("staging-key-0000000", &[]);
    // Moving it to another server is allowed, and said: the key goes there now.
    let said = s.fails(
        &["auth", "env", "add", "staging", "https://moved.example"],
        0,
    );
    assert!(
        said.contains(
            "warning: profile \"staging\" of environment \"staging\" now sends credentials to https://moved.example, not https://staging.example"
        ),
        "{said}"
    );
    let config = std::fs::read_to_string(s.config.join("config.toml")).unwrap();

    let said = s.fails(&["auth", "env", "remove", "staging"], 1);
    assert!(said.contains("still has profiles: \"staging\""), "{said}");
    assert!(said.contains("tessera auth logout staging"), "{said}");
    let unchanged = std::fs::read_to_string(s.config.join("config.toml")).unwrap();
    assert_eq!(unchanged, config);
    assert_eq!(s.ok(&["auth", "token"]), "staging-key-0000000\n");

    s.ok(&["auth", "logout", "staging", "--force"]);
    let said = s.fails(&["auth", "env", "rm", "staging"], 0);
    assert_eq!(
        said,
        "Removed environment \"staging\".\nSwitched to environment \"default\".\n"
    );
    let envs: serde_json::Value =
        serde_json::from_str(&s.ok(&["auth", "env", "list", "--json"])).unwrap();
    assert_eq!(envs.as_array().unwrap().len(), 1);
    assert_eq!(envs[0]["name"], "default");
    assert_eq!(envs[0]["current"], true);

    s.fails(&["auth", "env", "remove", "staging"], 1);
    s.fails(&["auth", "env", "remove", "default"], 2);
}

/// Logging out of the current profile leaves the user logged in with the
/// environment's other profile, as `gh auth logout` switches accounts; and
/// where profiles exist but none is current, the hint says to choose one, not
/// to log in again.
#[test]
fn logging_out_of_the_current_profile_switches_to_another() {
    let s = Tessera::sandbox();
    s.login("first-key-000000000", &[]);
    s.login("second-key-00000000", &["--profile", "work"]);
    let said = s.fails(&["auth", "logout", "--force"], 0);
    assert!(
        said.contains("Switched to profile \"default\" (environment \"default\")."),
        "{said}"
    );
    assert_eq!(s.ok(&["auth", "token"]), "first-key-000000000\n");

    // A config whose environment has a profile but no current one.
    let config = s.config.join("config.toml");
    let text: String = std::fs::read_to_string(&config)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("current_profile"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&config, text).unwrap();
    let said = s.fails(&["auth", "token"], 3);
    assert!(
        said.contains("hint: profile \"default\" is not current: `tessera auth switch default`"),
        "{said}"
    );
    let said = s.fails(&["auth", "logout", "--force"], 2);
    assert!(said.contains("tessera auth logout NAME"), "{said}");
    assert_eq!(
        s.ok(&["auth", "token", "--profile", "default"]),
        "first-key-000000000\n"
    );
}

#[test]
fn logout_refuses_without_a_terminal_unless_forced() {
    let s = Tessera::sandbox();
    s.login("first-key-000000000", &[]);
    s.login("second-key-00000000", &["--profile", "work"]);
    let out = s.cmd(&["auth", "logout"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    s.cmd(&["auth", "token"]).assert().success();

    s.cmd(&["auth", "logout", "work", "--force"])
        .assert()
        .success();
    s.cmd(&["auth", "token", "--profile", "work"])
        .assert()
        .code(3);
    s.cmd(&["auth", "logout", "work", "--force"])
        .assert()
        .code(3);
    s.cmd(&["auth", "token", "--profile", "default"])
        .assert()
        .success();

    s.cmd(&["auth", "logout", "--all", "--force"])
        .assert()
        .success();
    s.cmd(&["auth", "token", "--profile", "default"])
        .assert()
        .code(3);
    let creds = std::fs::read_to_string(s.credentials_path()).unwrap();
    assert!(!creds.contains("key"), "{creds}");
    s.cmd(&["auth", "logout", "--force"]).assert().code(3);
}

#[test]
fn group_readable_credentials_are_reported_with_the_chmod() {
    let s = Tessera::sandbox();
    s.login("perm-key-0000000000", &[]);
    std::fs::set_permissions(s.credentials_path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = s.cmd(&["auth", "token"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(stdout(&out), "perm-key-0000000000\n");
    let want = format!("chmod 600 {}", s.credentials_path().display());
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
    // The next write restores 0600.
    s.login("perm-key-0000000001", &[]);
    assert_eq!(mode(&s.credentials_path()), 0o600);
}

#[test]
fn errors_are_json_with_json() {
    let s = Tessera::sandbox();
    for args in [
        &["auth", "status", "--json"][..],
        &["auth", "token", "--json"],
        &["auth", "show", "--json"],
    ] {
        let out = s.cmd(args).output().unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert!(out.stdout.is_empty());
        let err: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
        assert_eq!(err["kind"], "not_logged_in");
        assert_eq!(err["exit_code"], 3);
        assert!(err["error"].as_str().unwrap().contains("not logged in"));
    }
}

#[test]
fn usage_errors_exit_2() {
    let s = Tessera::sandbox();
    s.cmd(&["auth", "nope"]).assert().code(2);
    s.cmd(&["auth", "login", "--api-key", "a", "--with-token"])
        .assert()
        .code(2);
    s.cmd(&["auth", "login", "--api-key", "  "])
        .assert()
        .code(2);
    s.cmd(&["--help"]).assert().success();
}

/// Every command at trace level, with a server to talk to: the key appears only
/// where it was asked for (`token`, `show --raw`).
#[test]
fn no_secret_in_any_output_at_trace_level() {
    let s = Tessera::sandbox();
    let server = stub_server().url;
    let key = jws_key("key_leak", Some(4_000_000_000));
    // The part of the key that masking never shows.
    let middle = &key[4..key.len() - 4];
    let runs: Vec<(Vec<&str>, bool)> = vec![
        (vec!["auth", "login", "--api-key", &key], false),
        (
            vec![
                "auth",
                "login",
                "--api-key",
                "wrong-key-000000000",
                "--profile",
                "x",
            ],
            false,
        ),
        (vec!["auth", "status"], false),
        (vec!["auth", "status", "--json"], false),
        (vec!["auth", "show"], false),
        (vec!["auth", "show", "--json"], false),
        (vec!["auth", "list"], false),
        (vec!["auth", "list", "--json"], false),
        (vec!["auth", "env", "list"], false),
        (vec!["auth", "switch", "default"], false),
        (vec!["auth", "token"], true),
        (vec!["auth", "show", "--raw"], true),
        (vec!["auth", "logout", "--force"], false),
    ];
    for (args, may_print_key) in runs {
        let out = s
            .cmd(&args)
            .env("TESSERA_URL", &server)
            .env("TESSERA_LOG", "trace")
            .env("RUST_LOG", "trace")
            .output()
            .unwrap();
        let (o, e) = (stdout(&out), stderr(&out));
        assert!(!e.contains(middle), "{args:?} leaked on stderr:\n{e}");
        if may_print_key {
            assert!(out.status.success(), "{args:?}: {e}");
            assert!(o.contains(&key));
        } else {
            assert!(!o.contains(middle), "{args:?} leaked on stdout:\n{o}");
        }
    }
    // The key sent in a request is also not echoed in errors from a bad file.
    std::fs::create_dir_all(&s.config).unwrap();
    std::fs::write(
        s.credentials_path(),
        format!("[profiles.default]\napi_key = \"{key}\n"),
    )
    .unwrap();
    let out = s
        .cmd(&["auth", "token", "--profile", "default"])
        .env("TESSERA_LOG", "trace")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!stderr(&out).contains(middle), "{}", stderr(&out));
    assert!(stderr(&out).contains("line 2"), "{}", stderr(&out));
}
