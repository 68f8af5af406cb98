//! A real Secret Service for keychain tests: a private `dbus-daemon` in a
//! temp dir with `gnome-keyring-daemon` on it (its login keyring created and
//! unlocked), both stopped by PID on drop.
//!
//! The Secret Service is found through the process environment
//! (`DBUS_SESSION_BUS_ADDRESS`), so a test gives [`SecretService::vars`] to
//! the binary it runs; the test process's own environment is never changed.
//!
//! Needs `dbus-daemon`, `dbus-send`, `gnome-keyring-daemon` and `secret-tool`
//! (Debian: dbus-daemon, dbus-bin, gnome-keyring, libsecret-tools;
//! `scripts/lib.sh` `ensure_secret_service` installs them).
#![cfg(unix)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What a test of the real keychain needs installed.
pub const KEYRING_TOOLS: &[&str] = &[
    "dbus-daemon",
    "dbus-send",
    "gnome-keyring-daemon",
    "secret-tool",
];

/// Whether `program` is on `PATH`.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// True (and says so loudly) when one of `programs` is missing: the caller
/// returns early instead of failing on a machine without them.
pub fn skip_without(programs: &[&str]) -> bool {
    let missing: Vec<_> = programs.iter().filter(|p| !have(p)).collect();
    if missing.is_empty() {
        return false;
    }
    eprintln!(
        "\n*** SKIPPED: {missing:?} not installed; the real Secret Service is not tested. \
         Install with `source scripts/lib.sh; ensure_secret_service` ***\n"
    );
    true
}

/// A private session bus, optionally with gnome-keyring on it.
pub struct SecretService {
    dir: tempfile::TempDir,
    address: String,
    bus: Child,
    keyring: Option<Child>,
}

impl SecretService {
    /// A bus with gnome-keyring's Secret Service, ready to answer.
    pub fn start() -> Self {
        let mut session = Self::bus_only();
        let mut keyring = session
            .command("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start gnome-keyring-daemon");
        // --unlock reads the password to end of input.
        keyring
            .stdin
            .take()
            .expect("piped")
            .write_all(b"test-password")
            .expect("unlock password");
        session.keyring = Some(keyring);
        session.wait_for_secret_service();
        session
    }

    /// A session bus with no Secret Service on it.
    pub fn bus_only() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["services", "run", "home", "data"] {
            std::fs::create_dir(dir.path().join(sub)).expect("bus dirs");
        }
        // No standard service directories: nothing is started behind the
        // test's back (Debian's gnome-keyring installs an activation file).
        let config = dir.path().join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <servicedir>{dir}/services</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                dir = dir.path().display()
            ),
        )
        .expect("bus config");
        let mut bus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dbus-daemon");
        let mut address = String::new();
        BufReader::new(bus.stdout.take().expect("piped"))
            .read_line(&mut address)
            .expect("bus address");
        let address = address.trim().to_owned();
        assert!(address.starts_with("unix:"), "{address:?}");
        SecretService {
            dir,
            address,
            bus,
            keyring: None,
        }
    }

    /// The variables a process needs to find this session (and nothing
    /// else of the test's own desktop, if any).
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        let path = |sub: &str| self.dir.path().join(sub).display().to_string();
        vec![
            ("DBUS_SESSION_BUS_ADDRESS", self.address.clone()),
            ("XDG_RUNTIME_DIR", path("run")),
            ("XDG_DATA_HOME", path("data")),
        ]
    }

    /// A command that sees only this session.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .envs(self.vars())
            .env("HOME", self.dir.path().join("home"));
        command
    }

    /// The daemon takes its bus name once its keyring is open. Polled: it
    /// says nothing when ready.
    fn wait_for_secret_service(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = self
                .command("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .output()
                .expect("dbus-send");
            if String::from_utf8_lossy(&out.stdout).contains("boolean true") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gnome-keyring-daemon did not start"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Runs `secret-tool ARGS` with `stdin`; whether it succeeded.
    pub fn secret_tool(&self, args: &[&str], stdin: &str) -> bool {
        self.secret_tool_output(args, stdin).0
    }

    /// Runs `secret-tool ARGS` with `stdin`; whether it succeeded, and what
    /// it printed (`lookup`: the secret).
    pub fn secret_tool_output(&self, args: &[&str], stdin: &str) -> (bool, String) {
        let mut child = self
            .command("secret-tool")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("secret-tool");
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(stdin.as_bytes())
            .expect("secret-tool input");
        let out = child.wait_with_output().expect("secret-tool");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// Locks the login keyring, as after a screen lock.
    pub fn lock_login_keyring(&self) {
        let out = self
            .command("dbus-send")
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.secrets",
                "/org/freedesktop/secrets",
                "org.freedesktop.Secret.Service.Lock",
                "array:objpath:/org/freedesktop/secrets/collection/login",
            ])
            .output()
            .expect("dbus-send");
        assert!(out.status.success(), "{out:?}");
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        if let Some(keyring) = &mut self.keyring {
            let _ = keyring.kill();
            let _ = keyring.wait();
        }
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}
