//! The keychain against a real Secret Service: a private `dbus-daemon` with
//! `gnome-keyring-daemon` on it (tessera-testkit's `SecretService`, stopped
//! by PID); and the
//! ways it fails on a headless box: no session bus, a bus without a Secret
//! Service, a locked keyring, a bus that never answers.
//!
//! The Secret Service is found through the process environment
//! (`DBUS_SESSION_BUS_ADDRESS`), as every D-Bus client finds it, so each
//! scenario runs in a child process (this test binary again, running the
//! ignored test `child`) with the environment it needs; the test process's
//! own environment is never changed.
//!
//! Needs `dbus-daemon`, `dbus-send`, `gnome-keyring-daemon` and `secret-tool`
//! (Debian: dbus-daemon, dbus-bin, gnome-keyring, libsecret-tools;
//! `scripts/lib.sh` installs them). Without them the scenarios that need
//! them say so loudly and pass.
#![cfg(unix)]

use std::process::Command;
use std::time::{Duration, Instant};
use tessera_client::app::TESSERA;
use tessera_client::{ApiKey, Error, Keychain, KeychainProblem, KeychainRef, Store};
use tessera_testkit::secret_service::{KEYRING_TOOLS, SecretService, skip_without};

const CHILD_VAR: &str = "TESSERA_KEYCHAIN_TEST_CHILD";

/// Runs `scenario` in a child test process inside `session`.
fn run_in(session: &SecretService, scenario: &str) {
    run_child(scenario, session.command(std::env::current_exe().unwrap()));
}

fn run_child(scenario: &str, mut command: Command) {
    let out = command
        .args([
            "--exact",
            "child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_VAR, scenario)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scenario {scenario} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "scenario {scenario} did not run: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn secure_storage_round_trip_through_gnome_keyring() {
    if skip_without(KEYRING_TOOLS) {
        return;
    }
    let session = SecretService::start();
    // What the Lua CLI (node-keytar) left before 3.9.
    assert!(session.secret_tool(
        &[
            "store",
            "--label=lua",
            "service",
            "lua-cli",
            "account",
            "api-key"
        ],
        "old-keytar-key",
    ));
    run_in(&session, "round_trip");
    assert!(
        !session.secret_tool(&["lookup", "service", "lua-cli", "account", "api-key"], ""),
        "the foreign entry was deleted"
    );
}

#[test]
fn a_locked_keyring_is_said_at_once_with_the_fix() {
    if skip_without(KEYRING_TOOLS) {
        return;
    }
    let session = SecretService::start();
    assert!(session.secret_tool(
        &["store", "--label=x", "service", "s", "username", "u"],
        "v"
    ));
    session.lock_login_keyring();
    run_in(&session, "locked");
}

#[test]
fn a_bus_without_a_secret_service_fails_fast() {
    if skip_without(&["dbus-daemon"]) {
        return;
    }
    run_in(&SecretService::bus_only(), "no_secret_service");
}

#[test]
fn no_session_bus_fails_at_once() {
    let run_dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("XDG_RUNTIME_DIR", run_dir.path());
    run_child("no_session_bus", command);
}

#[test]
fn a_bus_that_never_answers_is_abandoned_at_the_deadline() {
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
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", socket.display()),
        )
        .env("XDG_RUNTIME_DIR", dir.path());
    run_child("hung", command);
}

/// The scenarios, each run by a parent test in its own process.
#[test]
#[ignore = "run by the tests above in a child process"]
fn child() {
    let Ok(scenario) = std::env::var(CHILD_VAR) else {
        return;
    };
    match scenario.as_str() {
        "round_trip" => round_trip(),
        "locked" => expect_fast(KeychainProblem::Locked, "gnome-keyring-daemon --unlock"),
        "no_secret_service" => expect_fast(KeychainProblem::NoSecretService, "--insecure-storage"),
        "no_session_bus" => expect_fast(KeychainProblem::NoSessionBus, "--insecure-storage"),
        "hung" => {
            let keychain = Keychain::new(
                std::sync::Arc::new(tessera_client::keychain::OsKeychain),
                Duration::from_millis(500),
            );
            let err = keychain.get(&entry("s", "u")).unwrap_err();
            assert_eq!(
                err,
                KeychainProblem::TimedOut {
                    after: Duration::from_millis(500)
                }
            );
        }
        other => panic!("unknown scenario {other}"),
    }
}

fn entry(service: &str, account: &str) -> KeychainRef {
    KeychainRef {
        service: service.into(),
        account: account.into(),
    }
}

fn secure_login(store: &Store, profile: &str, key: &str) -> Result<(), Error> {
    let reference = store.keychain_ref(profile);
    store.update(|config, creds| {
        config.set_current_profile("default", profile);
        let entry = creds.profiles.entry(profile.into()).or_default();
        entry.api_key = Some(ApiKey::new(key));
        entry.keychain = Some(reference);
        Ok(())
    })
}

/// Fails in well under the deadline, and a secure login through the store
/// fails the same way, naming the fix, with nothing written.
fn expect_fast(expected: KeychainProblem, fix: &str) {
    let started = Instant::now();
    let err = Keychain::os().get(&entry("s", "u")).unwrap_err();
    assert_eq!(err, expected);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::in_dir(tmp.path().join("cfg"), &TESSERA);
    let err = secure_login(&store, "work", "never-in-plaintext").unwrap_err();
    assert!(
        matches!(&err, Error::Keychain { problem, .. } if *problem == expected),
        "{err:?}"
    );
    assert!(err.to_string().contains(&expected.to_string()), "{err}");
    assert!(err.to_string().contains(fix), "{err}");
    assert!(!store.credentials_path().exists(), "nothing in plaintext");
}

fn round_trip() {
    let keychain = Keychain::os();
    let e = entry("tessera-test", "round-trip");
    assert_eq!(keychain.get(&e).unwrap(), None);
    keychain.set(&e, "Tessera test", "s3cret").unwrap();
    assert_eq!(keychain.get(&e).unwrap().as_deref(), Some("s3cret"));
    keychain.set(&e, "Tessera test", "s3cret-2").unwrap();
    assert_eq!(keychain.get(&e).unwrap().as_deref(), Some("s3cret-2"));
    keychain.delete(&e).unwrap();
    assert_eq!(keychain.get(&e).unwrap(), None);
    keychain.delete(&e).unwrap();

    // The store: the file holds a reference, the keychain the key.
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::in_dir(tmp.path().join("cfg"), &TESSERA);
    secure_login(&store, "work", "key-in-gnome-keyring").unwrap();
    let text = std::fs::read_to_string(store.credentials_path()).unwrap();
    assert!(!text.contains("key-in-gnome-keyring"), "{text}");
    let mut creds = store
        .read_credentials()
        .unwrap()
        .file
        .profiles
        .remove("work")
        .unwrap();
    store.load_secrets("work", &mut creds).unwrap();
    assert_eq!(
        creds.api_key.unwrap().expose_secret(),
        "key-in-gnome-keyring"
    );
    store
        .update(|config, creds| {
            config.remove_profile("work");
            creds.profiles.remove("work");
            Ok(())
        })
        .unwrap();
    assert_eq!(keychain.get(&store.keychain_ref("work")).unwrap(), None);

    // The Lua CLI's pre-3.9 key, by keytar's attributes.
    let old = keychain.get_foreign("lua-cli", "api-key").unwrap();
    assert_eq!(old.as_deref(), Some("old-keytar-key"));
    keychain.delete_foreign("lua-cli", "api-key").unwrap();
    assert_eq!(keychain.get_foreign("lua-cli", "api-key").unwrap(), None);
}
