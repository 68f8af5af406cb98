//! The one-time migration from the OS keychain, where versions before 3.9.0
//! kept the key (through keytar), to `~/.lua-cli/credentials`.
//!
//! keytar stores a password under the libsecret attributes `service` and
//! `account`; `secret-tool` (libsecret-tools) looks up exactly those, which a
//! Rust Secret Service client would only find by re-implementing keytar's
//! schema. The keychain needs a desktop session: without a session D-Bus it
//! is reported unavailable at once, and a lookup that does not answer is
//! abandoned after a timeout, so `configure` never hangs on a headless box.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use tessera_cli::auth::save::{Saved, save};
use tessera_cli::{CliError, Ctx, Io};
use tessera_client::EnvVars;
use tessera_proto::ApiKey;

/// The keytar entry of the old Lua CLI.
pub const SERVICE: &str = "lua-cli";
pub const ACCOUNT: &str = "api-key";

/// Why the keychain could not be read.
#[derive(Debug, PartialEq, Eq)]
pub struct Unavailable(pub String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The old key's place in the OS keychain.
pub trait Keychain {
    fn find(&self) -> Result<Option<ApiKey>, Unavailable>;
    fn delete(&self) -> Result<(), Unavailable>;
}

/// Moves a key from the keychain into the credentials file when the file has
/// none. Returns whether it did. An unreadable keychain is said, not fatal.
pub fn migrate(ctx: &Ctx, io: &mut Io, keychain: &dyn Keychain) -> Result<bool, CliError> {
    let stored = ctx
        .store
        .read_credentials()?
        .file
        .profiles
        .get(crate::PROFILE)
        .is_some_and(|c| c.api_key.is_some());
    if stored {
        return Ok(false);
    }
    let key = match keychain.find() {
        Ok(Some(key)) => key,
        Ok(None) => return Ok(false),
        Err(why) => {
            writeln!(
                io.stderr,
                "Note: skipped the check for a key in the OS keychain: {why}."
            )?;
            return Ok(false);
        }
    };
    save(ctx, Saved::ApiKey(key))?;
    writeln!(
        io.stderr,
        "🔑 Migrated your API key from the OS keychain to {}",
        ctx.store.credentials_path().display()
    )?;
    if let Err(why) = keychain.delete() {
        writeln!(
            io.stderr,
            "Note: could not remove the old keychain entry ({why}); it is no longer used."
        )?;
    }
    Ok(true)
}

/// The real keychain, through `secret-tool`.
pub struct SecretTool {
    session_bus: Option<String>,
    program: std::path::PathBuf,
    timeout: Duration,
}

impl SecretTool {
    pub fn new(env: &dyn EnvVars) -> Self {
        Self {
            session_bus: env.var("DBUS_SESSION_BUS_ADDRESS"),
            program: "secret-tool".into(),
            timeout: Duration::from_secs(5),
        }
    }

    /// Runs `secret-tool ARGS service lua-cli account api-key`; `None` when it
    /// exits non-zero (libsecret's "not found").
    fn run(&self, args: &[&str]) -> Result<Option<String>, Unavailable> {
        let Some(bus) = &self.session_bus else {
            return Err(Unavailable(
                "there is no desktop session (DBUS_SESSION_BUS_ADDRESS is not set)".into(),
            ));
        };
        let mut child = Command::new(&self.program)
            .args(args)
            .args(["service", SERVICE, "account", ACCOUNT])
            .env("DBUS_SESSION_BUS_ADDRESS", bus)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    Unavailable("secret-tool (libsecret-tools) is not installed".into())
                }
                _ => Unavailable(format!("cannot run secret-tool: {e}")),
            })?;
        let mut stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut out = String::new();
            let _ = stdout.read_to_string(&mut out);
            let _ = tx.send(out);
        });
        let Ok(out) = rx.recv_timeout(self.timeout) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Unavailable(format!(
                "the keychain did not answer within {}s",
                self.timeout.as_secs()
            )));
        };
        let status = child
            .wait()
            .map_err(|e| Unavailable(format!("secret-tool: {e}")))?;
        Ok(status.success().then(|| out.trim().to_owned()))
    }
}

impl Keychain for SecretTool {
    fn find(&self) -> Result<Option<ApiKey>, Unavailable> {
        Ok(self
            .run(&["lookup"])?
            .filter(|k| !k.is_empty())
            .map(ApiKey::new))
    }

    fn delete(&self) -> Result<(), Unavailable> {
        self.run(&["clear"]).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use tessera_cli::io::testing::Captured;
    use tessera_client::Store;

    /// An in-memory keychain.
    struct Memory(RefCell<Option<ApiKey>>);

    impl Keychain for Memory {
        fn find(&self) -> Result<Option<ApiKey>, Unavailable> {
            Ok(self.0.borrow().clone())
        }
        fn delete(&self) -> Result<(), Unavailable> {
            *self.0.borrow_mut() = None;
            Ok(())
        }
    }

    struct Headless;

    impl Keychain for Headless {
        fn find(&self) -> Result<Option<ApiKey>, Unavailable> {
            Err(Unavailable("no session bus".into()))
        }
        fn delete(&self) -> Result<(), Unavailable> {
            Err(Unavailable("no session bus".into()))
        }
    }

    static NO_ENV: BTreeMap<&str, &str> = BTreeMap::new();

    struct NoBrowser;

    impl tessera_client::oauth::BrowserOpener for NoBrowser {
        fn open(&self, url: &str) -> std::io::Result<()> {
            panic!("a test tried to open {url}")
        }
    }

    fn ctx(dir: &tempfile::TempDir) -> Ctx<'static> {
        Ctx {
            spec: &crate::texts::LUA,
            oauth: &tessera_client::TESSERA_OAUTH,
            one_profile: Some(crate::PROFILE),
            env: &NO_ENV,
            cwd: dir.path().to_owned(),
            now: 1_800_000_000,
            clock: &tessera_client::oauth::SystemClock,
            browser: &NoBrowser,
            store: Store::in_dir(dir.path().join(".lua-cli"), &crate::texts::LUA),
            profile_flag: Some(crate::PROFILE.into()),
            storage: Default::default(),
        }
    }

    fn stored(ctx: &Ctx) -> Option<String> {
        let file = ctx.store.read_credentials().unwrap().file;
        let key = file.profiles.get(crate::PROFILE)?.api_key.as_ref()?;
        Some(key.expose_secret().to_owned())
    }

    #[test]
    fn a_keychain_key_moves_into_the_credentials_file() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ctx(&dir);
        let keychain = Memory(RefCell::new(Some(ApiKey::new("old-keytar-key"))));
        let mut cap = Captured::default();
        assert!(migrate(&ctx, &mut cap.io(), &keychain).unwrap());
        assert_eq!(stored(&ctx).as_deref(), Some("old-keytar-key"));
        assert!(
            keychain.0.borrow().is_none(),
            "the keychain entry is removed"
        );
        assert!(
            cap.stderr()
                .contains("Migrated your API key from the OS keychain")
        );
        // Once done, there is nothing left to migrate.
        assert!(!migrate(&ctx, &mut cap.io(), &keychain).unwrap());
    }

    #[test]
    fn a_stored_key_is_never_replaced_by_the_keychain() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ctx(&dir);
        save(&ctx, Saved::ApiKey(ApiKey::new("current"))).unwrap();
        let keychain = Memory(RefCell::new(Some(ApiKey::new("old"))));
        assert!(!migrate(&ctx, &mut Captured::default().io(), &keychain).unwrap());
        assert_eq!(stored(&ctx).as_deref(), Some("current"));
        assert!(keychain.0.borrow().is_some());
    }

    #[test]
    fn an_unavailable_keychain_is_reported_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ctx(&dir);
        let mut cap = Captured::default();
        assert!(!migrate(&ctx, &mut cap.io(), &Headless).unwrap());
        assert!(cap.stderr().contains("no session bus"), "{}", cap.stderr());
        assert_eq!(stored(&ctx), None);
    }

    /// A `secret-tool` stand-in: a shell script with `body`, which sees the
    /// real arguments.
    fn fake_secret_tool(dir: &tempfile::TempDir, body: &str, timeout: Duration) -> SecretTool {
        use std::os::unix::fs::PermissionsExt as _;
        let path = dir.path().join("secret-tool");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        SecretTool {
            session_bus: Some("unix:path=/nonexistent".into()),
            program: path,
            timeout,
        }
    }

    #[test]
    fn secret_tool_looks_up_the_keytar_entry() {
        let dir = tempfile::tempdir().unwrap();
        let body = r#"[ "$*" = "lookup service lua-cli account api-key" ] && printf old-key && exit 0; exit 1"#;
        let keychain = fake_secret_tool(&dir, body, Duration::from_secs(60));
        let key = keychain.find().unwrap().unwrap();
        assert_eq!(key.expose_secret(), "old-key");
    }

    #[test]
    fn secret_tool_not_finding_the_entry_is_no_key() {
        let dir = tempfile::tempdir().unwrap();
        let keychain = fake_secret_tool(&dir, "exit 1", Duration::from_secs(60));
        assert_eq!(keychain.find().unwrap(), None);
    }

    #[test]
    fn a_keychain_that_does_not_answer_is_abandoned_after_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        // A keychain stuck waiting for an unlock prompt nobody sees.
        let keychain = fake_secret_tool(&dir, "exec sleep 600", Duration::from_millis(200));
        let err = keychain.find().unwrap_err();
        assert!(err.0.contains("did not answer"), "{err}");
    }

    #[test]
    fn without_a_session_bus_secret_tool_is_not_even_started() {
        let keychain = SecretTool::new(&NO_ENV);
        let err = keychain.find().unwrap_err();
        assert!(err.0.contains("DBUS_SESSION_BUS_ADDRESS"), "{err}");
    }
}
