//! `--secure-storage` against a real Secret Service (gnome-keyring on a
//! private D-Bus session, tessera-testkit's `SecretService`), and the ways
//! it fails on a headless machine: quickly, with the cause, the fix and exit
//! code 7, and nothing written in plaintext.

use super::{GOOD_KEY, Tessera, stderr, stdout, stub_server};
use std::time::{Duration, Instant};
use tessera_testkit::secret_service::{KEYRING_TOOLS, SecretService, skip_without};

/// The keychain says what is wrong well within its 3 s deadline.
const FAST: Duration = Duration::from_secs(3);

impl Tessera {
    /// The binary, talking to `server`, inside `session` when given.
    fn in_session(
        &self,
        args: &[&str],
        server: &str,
        session: Option<&SecretService>,
    ) -> std::process::Output {
        let mut cmd = self.cmd(args);
        cmd.env("TESSERA_URL", server);
        if let Some(session) = session {
            cmd.envs(session.vars());
        }
        cmd.output().unwrap()
    }
}

#[test]
fn secure_storage_round_trip_through_gnome_keyring() {
    if skip_without(KEYRING_TOOLS) {
        return;
    }
    let keyring = SecretService::start();
    let server = stub_server().url;
    let s = Tessera::sandbox();
    let run = |args: &[&str]| s.in_session(args, &server, Some(&keyring));

    let out = run(&["auth", "login", "--api-key", GOOD_KEY, "--secure-storage"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let file = std::fs::read_to_string(s.credentials_path()).unwrap();
    assert!(
        !file.contains(GOOD_KEY),
        "only a reference in the file: {file}"
    );
    assert!(file.contains("keychain"), "{file}");
    let account = format!("default@{}", s.config.display());
    let (found, secret) =
        keyring.secret_tool_output(&["lookup", "service", "tessera", "username", &account], "");
    assert!(
        found && secret.contains(GOOD_KEY),
        "in gnome-keyring: {secret}"
    );

    let out = run(&["auth", "status", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["storage"], "keychain", "{status}");
    assert_eq!(status["keychain"]["service"], "tessera", "{status}");
    let text = stdout(&run(&["auth", "status"]));
    assert!(text.contains("in the OS keychain"), "{text}");
    assert_eq!(stdout(&run(&["auth", "token"])), format!("{GOOD_KEY}\n"));
    assert!(run(&["auth", "test"]).status.success());

    // A new login keeps the profile in the keychain without the flag.
    let second = "good-key-second-000000";
    s.in_session(
        &["auth", "login", "--api-key", second, "--no-verify"],
        &server,
        Some(&keyring),
    );
    let file = std::fs::read_to_string(s.credentials_path()).unwrap();
    assert!(!file.contains(second), "{file}");
    assert_eq!(stdout(&run(&["auth", "token"])), format!("{second}\n"));

    // Asked for, the secret moves back to the file and the entry goes.
    let third = "good-key-third-0000000";
    run(&[
        "auth",
        "login",
        "--api-key",
        third,
        "--no-verify",
        "--insecure-storage",
    ]);
    let file = std::fs::read_to_string(s.credentials_path()).unwrap();
    assert!(file.contains(third) && !file.contains("keychain"), "{file}");
    let lookup = ["lookup", "service", "tessera", "username", &account];
    assert!(!keyring.secret_tool(&lookup, ""), "the entry is gone");

    // `secure_storage = true` in config.toml: new logins go to the keychain.
    let config = s.config.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("secure_storage = true\n{text}")).unwrap();
    run(&[
        "auth",
        "login",
        "--api-key",
        GOOD_KEY,
        "--no-verify",
        "--profile",
        "work",
    ]);
    let file = std::fs::read_to_string(s.credentials_path()).unwrap();
    assert!(!file.contains(GOOD_KEY), "{file}");
    let work = format!("work@{}", s.config.display());
    assert!(keyring.secret_tool(&["lookup", "service", "tessera", "username", &work], ""));

    let out = run(&["auth", "logout", "--all", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !keyring.secret_tool(&["lookup", "service", "tessera", "username", &work], ""),
        "the entry went with the profile"
    );
    assert_eq!(run(&["auth", "token"]).status.code(), Some(3));
}

#[test]
fn a_keychain_that_goes_away_is_an_error_not_a_fallback() {
    if skip_without(KEYRING_TOOLS) {
        return;
    }
    let keyring = SecretService::start();
    let server = stub_server().url;
    let s = Tessera::sandbox();
    let out = s.in_session(
        &[
            "auth",
            "login",
            "--api-key",
            GOOD_KEY,
            "--no-verify",
            "--secure-storage",
        ],
        &server,
        Some(&keyring),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // A key in .env must not silently stand in for the keychain's.
    std::fs::write(
        s.home.work().join(".env"),
        "TESSERA_API_KEY=dotenv-key-000000\n",
    )
    .unwrap();

    keyring.lock_login_keyring();
    for args in [
        &["auth", "token"][..],
        &["auth", "status"],
        &["api", "/v1/me"],
    ] {
        let started = Instant::now();
        let out = s.in_session(args, &server, Some(&keyring));
        assert!(
            started.elapsed() < FAST,
            "{args:?}: {:?}",
            started.elapsed()
        );
        assert_eq!(out.status.code(), Some(7), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("locked"), "{}", stderr(&out));
        assert!(!stdout(&out).contains("dotenv-key"), "{}", stdout(&out));
    }
    let out = s.in_session(&["auth", "status", "--json"], &server, Some(&keyring));
    let error: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(error["kind"], "keychain", "{error}");
    assert_eq!(error["exit_code"], 7, "{error}");
    // A key in the environment stands in; status still says what is wrong.
    let mut cmd = s.cmd(&["auth", "status", "--json"]);
    cmd.env("TESSERA_URL", &server)
        .env("TESSERA_API_KEY", "env-key-0000000000")
        .envs(keyring.vars());
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["storage"], "env", "{status}");
    assert_eq!(status["keychain_problem"]["kind"], "locked", "{status}");
    assert!(
        status["keychain_problem"]["fix"]
            .as_str()
            .unwrap()
            .contains("unlock")
    );

    drop(keyring);
    let out = s.in_session(&["auth", "token"], &server, None);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    // Logging out works without the keychain; its entry is left behind,
    // and the warning says so and how to remove it, not how to log in.
    let out = s.in_session(&["auth", "logout", "--force"], &server, None);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("stays in its entry"), "{err}");
    assert!(err.contains("secret-tool clear service 'tessera'"), "{err}");
    assert!(!err.contains("--insecure-storage"), "{err}");
}

#[test]
fn without_a_secret_service_secure_storage_fails_fast_and_writes_nothing() {
    let bus = (!skip_without(&["dbus-daemon"])).then(SecretService::bus_only);
    let stub = stub_server();
    let server = stub.url.clone();
    // No Secret Service on the bus; then no bus at all.
    for session in [bus.as_ref(), None] {
        let s = Tessera::sandbox();
        let started = Instant::now();
        let out = s.in_session(
            &["auth", "login", "--api-key", GOOD_KEY, "--secure-storage"],
            &server,
            session,
        );
        assert!(started.elapsed() < FAST, "{:?}", started.elapsed());
        assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("Secret Service"), "the cause: {err}");
        assert!(
            err.contains("log in with --insecure-storage"),
            "the fix: {err}"
        );
        assert!(!s.credentials_path().exists(), "nothing in plaintext");
        assert!(
            !s.config.join("config.toml").exists(),
            "no profile without its key"
        );
    }
    // The keychain is asked first: the server issued (here: checked)
    // nothing that would then be held by nobody.
    assert!(stub.requests().is_empty(), "{:?}", stub.requests().len());
}

#[test]
fn a_keychain_that_never_answers_is_given_up_at_the_deadline() {
    // Accepts connections and never says a word, like a wedged session bus.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("bus");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let s = Tessera::sandbox();
    let started = Instant::now();
    let out = s
        .cmd(&[
            "auth",
            "login",
            "--api-key",
            GOOD_KEY,
            "--no-verify",
            "--secure-storage",
        ])
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", socket.display()),
        )
        .output()
        .unwrap();
    // The 3 s deadline, and the process exits although the call is stuck.
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("did not answer within 3"),
        "{}",
        stderr(&out)
    );
    assert!(!s.credentials_path().exists(), "nothing in plaintext");
}
