//! Secrets in the OS keychain (opt-in): the Secret Service on Linux and the
//! BSDs, Keychain Services on macOS, the Credential Manager on Windows, each
//! through the `keyring` crate family (`keyring-core` and its platform
//! stores).
//!
//! Rules:
//! - Every call runs on a worker thread and is abandoned after a deadline
//!   (3 s unless set): a keychain waiting for an unlock prompt nobody can see,
//!   or a D-Bus that accepts and never answers, must not hang a command. An
//!   abandoned worker stays blocked until the process exits.
//! - Each failure is one [`KeychainProblem`] naming the cause and the fix.
//!   Nothing here falls back to a file: callers get the problem and decide
//!   (the store refuses to write the secret anywhere else).
//! - On Linux a locked default collection is detected before anything that
//!   would pop an unlock prompt, so "locked" is said at once, not after the
//!   deadline.
//!
//! The credentials file keeps only a [`KeychainRef`] (service + account) for
//! a profile whose secret is here (see the store module).

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

/// How long a keychain call may take before it is abandoned.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(3);

/// Where a secret lives in the keychain: the entry's service and account
/// (Secret Service attributes `service` and `username`; the keychain item's
/// service and account on macOS; the target on Windows).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KeychainRef {
    pub service: String,
    pub account: String,
}

impl std::fmt::Display for KeychainRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "service {:?}, account {:?}", self.service, self.account)
    }
}

/// Why the keychain could not be used. `Display` is the cause;
/// [`fix`](Self::fix) says what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeychainProblem {
    /// No session D-Bus to find a Secret Service on (headless box, SSH, CI).
    NoSessionBus,
    /// A session bus, but nothing on it provides `org.freedesktop.secrets`.
    NoSecretService,
    /// The keychain (its default collection) is locked, or has none.
    Locked,
    /// The user or the system refused access (an unlock prompt dismissed).
    Denied,
    /// No answer within the deadline.
    TimedOut { after: Duration },
    /// The entry a profile refers to is not in the keychain.
    Missing,
    /// The entry is there but is not a secret this program wrote.
    Unreadable(String),
    /// This platform has no keychain this program can use.
    Unsupported,
    /// Any other failure, as the platform worded it.
    Platform(String),
}

impl KeychainProblem {
    /// A stable machine-readable name, for `--json`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NoSessionBus => "no_session_bus",
            Self::NoSecretService => "no_secret_service",
            Self::Locked => "locked",
            Self::Denied => "denied",
            Self::TimedOut { .. } => "timed_out",
            Self::Missing => "missing",
            Self::Unreadable(_) => "unreadable",
            Self::Unsupported => "unsupported",
            Self::Platform(_) => "platform",
        }
    }

    /// What the user can do about it.
    pub fn fix(&self) -> &'static str {
        match self {
            Self::NoSessionBus => {
                "run the command inside a desktop session (or `dbus-run-session -- $SHELL` with a Secret Service such as gnome-keyring running), or keep the secret in the credentials file: log in with --insecure-storage"
            }
            Self::NoSecretService => {
                "start a Secret Service (gnome-keyring-daemon, KeePassXC, KWallet) in this session, or keep the secret in the credentials file: log in with --insecure-storage"
            }
            Self::Locked => {
                "unlock the keychain (log in to the desktop, or run `gnome-keyring-daemon --unlock` and type its password), then try again"
            }
            Self::Denied => {
                "allow access when the keychain asks, or keep the secret in the credentials file: log in with --insecure-storage"
            }
            Self::TimedOut { .. } => {
                "the keychain may be waiting for an unlock prompt that cannot be shown here: unlock it (`gnome-keyring-daemon --unlock`) or keep the secret in the credentials file: log in with --insecure-storage"
            }
            Self::Missing | Self::Unreadable(_) => "log in again to store a new secret",
            Self::Unsupported => {
                "keep the secret in the credentials file: log in with --insecure-storage"
            }
            Self::Platform(_) => {
                // No command here names a service: the entries are the
                // embedding CLI's (`AppSpec::name`), not Tessera's.
                "check that the keychain works, or keep the secret in the credentials file: log in with --insecure-storage"
            }
        }
    }
}

impl std::fmt::Display for KeychainProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoSessionBus => f.write_str(
                "there is no D-Bus session to find a Secret Service on (DBUS_SESSION_BUS_ADDRESS is not set)",
            ),
            Self::NoSecretService => {
                f.write_str("no Secret Service (keychain) answers on the session D-Bus")
            }
            Self::Locked => f.write_str("the keychain is locked"),
            Self::Denied => f.write_str("access to the keychain was denied"),
            Self::TimedOut { after } => write!(
                f,
                "the keychain did not answer within {} s",
                after.as_secs_f32()
            ),
            Self::Missing => f.write_str("the secret is no longer in the keychain"),
            Self::Unreadable(why) => write!(f, "the keychain entry is unreadable: {why}"),
            Self::Unsupported => f.write_str("this platform has no supported keychain"),
            Self::Platform(message) => write!(f, "the keychain failed: {message}"),
        }
    }
}

/// The operations the store needs from a keychain. [`OsKeychain`] is the
/// real one; it is a trait so that a program can bring another
/// `keyring-core` store.
pub trait SecretBackend: Send + Sync {
    /// The secret, or `None` when there is no such entry.
    fn get(&self, entry: &KeychainRef) -> Result<Option<String>, KeychainProblem>;
    /// Creates or replaces the entry. `label` is what keychain UIs show.
    fn set(&self, entry: &KeychainRef, label: &str, secret: &str) -> Result<(), KeychainProblem>;
    /// Removes the entry; an absent entry is not an error.
    fn delete(&self, entry: &KeychainRef) -> Result<(), KeychainProblem>;
    /// An entry another program wrote: on the Secret Service, the item with
    /// attributes `service` and `account` (node-keytar's schema, which CLIs
    /// written in Node used); elsewhere the same as [`get`](Self::get).
    fn get_foreign(&self, entry: &KeychainRef) -> Result<Option<String>, KeychainProblem>;
    /// Removes what [`get_foreign`](Self::get_foreign) found.
    fn delete_foreign(&self, entry: &KeychainRef) -> Result<(), KeychainProblem>;
}

/// A keychain with a deadline on every call. Cheap to clone; building one
/// does no I/O.
#[derive(Clone)]
pub struct Keychain {
    backend: Arc<dyn SecretBackend>,
    deadline: Duration,
}

impl std::fmt::Debug for Keychain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keychain")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl Default for Keychain {
    fn default() -> Self {
        Self::os()
    }
}

impl Keychain {
    /// The platform's keychain, with the default deadline.
    pub fn os() -> Self {
        Self::new(Arc::new(OsKeychain), DEFAULT_DEADLINE)
    }

    pub fn new(backend: Arc<dyn SecretBackend>, deadline: Duration) -> Self {
        Self { backend, deadline }
    }

    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    pub fn get(&self, entry: &KeychainRef) -> Result<Option<String>, KeychainProblem> {
        let entry = entry.clone();
        self.run(move |b| b.get(&entry))
    }

    pub fn set(
        &self,
        entry: &KeychainRef,
        label: &str,
        secret: &str,
    ) -> Result<(), KeychainProblem> {
        let (entry, label, secret) = (entry.clone(), label.to_owned(), secret.to_owned());
        self.run(move |b| b.set(&entry, &label, &secret))
    }

    pub fn delete(&self, entry: &KeychainRef) -> Result<(), KeychainProblem> {
        let entry = entry.clone();
        self.run(move |b| b.delete(&entry))
    }

    /// Reads an entry another program left, e.g. the key the Lua CLI kept
    /// before 3.9 (`service = "lua-cli"`, `account = "api-key"`), so that a
    /// migration to the credentials file uses the same deadline and errors.
    pub fn get_foreign(
        &self,
        service: &str,
        account: &str,
    ) -> Result<Option<String>, KeychainProblem> {
        let entry = KeychainRef {
            service: service.to_owned(),
            account: account.to_owned(),
        };
        self.run(move |b| b.get_foreign(&entry))
    }

    pub fn delete_foreign(&self, service: &str, account: &str) -> Result<(), KeychainProblem> {
        let entry = KeychainRef {
            service: service.to_owned(),
            account: account.to_owned(),
        };
        self.run(move |b| b.delete_foreign(&entry))
    }

    fn run<T: Send + 'static>(
        &self,
        op: impl FnOnce(&dyn SecretBackend) -> Result<T, KeychainProblem> + Send + 'static,
    ) -> Result<T, KeychainProblem> {
        let backend = self.backend.clone();
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("keychain".into())
            .spawn(move || {
                let _ = tx.send(op(backend.as_ref()));
            })
            .map_err(|e| KeychainProblem::Platform(format!("cannot start a thread: {e}")))?;
        match rx.recv_timeout(self.deadline) {
            Ok(answer) => answer,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(KeychainProblem::TimedOut {
                after: self.deadline,
            }),
            // The platform library panicked on the worker thread.
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(KeychainProblem::Platform(
                "the keychain call ended without an answer".into(),
            )),
        }
    }
}

/// The platform's keychain through its `keyring-core` store. A store (and
/// its connection) is made per call: calls are rare, and nothing global is
/// kept between them.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsKeychain;

#[cfg(any(windows, all(unix, not(any(target_os = "ios", target_os = "android")))))]
impl OsKeychain {
    fn entry(
        &self,
        entry: &KeychainRef,
        label: Option<&str>,
    ) -> Result<keyring_core::Entry, KeychainProblem> {
        use keyring_core::api::CredentialStoreApi as _;
        let store = platform::store()?;
        let modifiers = label.map(|l| std::collections::HashMap::from([("label", l)]));
        store
            .build(&entry.service, &entry.account, modifiers.as_ref())
            .map_err(platform::problem)
    }
}

#[cfg(any(windows, all(unix, not(any(target_os = "ios", target_os = "android")))))]
impl SecretBackend for OsKeychain {
    fn get(&self, entry: &KeychainRef) -> Result<Option<String>, KeychainProblem> {
        read_entry(&self.entry(entry, None)?)
    }

    fn set(&self, entry: &KeychainRef, label: &str, secret: &str) -> Result<(), KeychainProblem> {
        // macOS and Windows have no label modifier; the entry is still named
        // by service and account.
        let label = cfg!(all(
            unix,
            not(any(
                target_os = "macos",
                target_os = "ios",
                target_os = "android"
            ))
        ))
        .then_some(label);
        self.entry(entry, label)?
            .set_password(secret)
            .map_err(platform::problem)
    }

    fn delete(&self, entry: &KeychainRef) -> Result<(), KeychainProblem> {
        delete_entry(&self.entry(entry, None)?)
    }

    fn get_foreign(&self, entry: &KeychainRef) -> Result<Option<String>, KeychainProblem> {
        match platform::foreign(entry)? {
            Some(found) => read_entry(&found),
            None => Ok(None),
        }
    }

    fn delete_foreign(&self, entry: &KeychainRef) -> Result<(), KeychainProblem> {
        match platform::foreign(entry)? {
            Some(found) => delete_entry(&found),
            None => Ok(()),
        }
    }
}

#[cfg(any(windows, all(unix, not(any(target_os = "ios", target_os = "android")))))]
fn read_entry(entry: &keyring_core::Entry) -> Result<Option<String>, KeychainProblem> {
    match entry.get_password() {
        Ok(secret) => Ok(Some(secret)),
        Err(keyring_core::Error::NoEntry) => Ok(None),
        Err(keyring_core::Error::BadEncoding(_)) => {
            Err(KeychainProblem::Unreadable("not UTF-8 text".into()))
        }
        Err(e) => Err(platform::problem(e)),
    }
}

#[cfg(any(windows, all(unix, not(any(target_os = "ios", target_os = "android")))))]
fn delete_entry(entry: &keyring_core::Entry) -> Result<(), KeychainProblem> {
    match entry.delete_credential() {
        Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
        Err(e) => Err(platform::problem(e)),
    }
}

/// Platforms without a keychain store: every call says so at once.
#[cfg(not(any(windows, all(unix, not(any(target_os = "ios", target_os = "android"))))))]
impl SecretBackend for OsKeychain {
    fn get(&self, _: &KeychainRef) -> Result<Option<String>, KeychainProblem> {
        Err(KeychainProblem::Unsupported)
    }
    fn set(&self, _: &KeychainRef, _: &str, _: &str) -> Result<(), KeychainProblem> {
        Err(KeychainProblem::Unsupported)
    }
    fn delete(&self, _: &KeychainRef) -> Result<(), KeychainProblem> {
        Err(KeychainProblem::Unsupported)
    }
    fn get_foreign(&self, _: &KeychainRef) -> Result<Option<String>, KeychainProblem> {
        Err(KeychainProblem::Unsupported)
    }
    fn delete_foreign(&self, _: &KeychainRef) -> Result<(), KeychainProblem> {
        Err(KeychainProblem::Unsupported)
    }
}

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
mod platform {
    //! The Secret Service over D-Bus (zbus, pure Rust).

    use super::{KeychainProblem, KeychainRef};
    use keyring_core::api::CredentialStoreApi as _;
    use secret_service::EncryptionType;
    use secret_service::blocking::SecretService;
    use std::sync::Arc;

    /// The store, after checking what would otherwise end in an unlock
    /// prompt or an opaque D-Bus error: a session bus exists, a Secret
    /// Service answers on it, and its default collection is unlocked.
    pub(super) fn store() -> Result<Arc<zbus_secret_service_keyring_store::Store>, KeychainProblem>
    {
        if !session_bus_configured() {
            return Err(KeychainProblem::NoSessionBus);
        }
        // Plain: this connection only reads the collection's lock state.
        let service = SecretService::connect(EncryptionType::Plain).map_err(service_problem)?;
        let locked = service
            .get_default_collection()
            .and_then(|c| c.is_locked())
            .map_err(service_problem)?;
        if locked {
            return Err(KeychainProblem::Locked);
        }
        zbus_secret_service_keyring_store::Store::new().map_err(problem)
    }

    /// zbus connects to `DBUS_SESSION_BUS_ADDRESS`, else to
    /// `$XDG_RUNTIME_DIR/bus`; when neither exists there is no session.
    fn session_bus_configured() -> bool {
        if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|a| !a.is_empty()) {
            return true;
        }
        std::env::var_os("XDG_RUNTIME_DIR")
            .is_some_and(|dir| std::path::Path::new(&dir).join("bus").exists())
    }

    /// An entry written by node-keytar (libsecret attributes `service` and
    /// `account`), which the keyring store's own entries (`username`) do not
    /// match.
    pub(super) fn foreign(
        entry: &KeychainRef,
    ) -> Result<Option<keyring_core::Entry>, KeychainProblem> {
        let spec = std::collections::HashMap::from([
            ("service", entry.service.as_str()),
            ("account", entry.account.as_str()),
        ]);
        Ok(store()?.search(&spec).map_err(problem)?.into_iter().next())
    }

    pub(super) fn problem(error: keyring_core::Error) -> KeychainProblem {
        match error {
            keyring_core::Error::NoStorageAccess(source)
            | keyring_core::Error::PlatformFailure(source) => {
                match source.downcast::<secret_service::Error>() {
                    Ok(e) => service_problem(*e),
                    Err(other) => KeychainProblem::Platform(other.to_string()),
                }
            }
            other => KeychainProblem::Platform(other.to_string()),
        }
    }

    fn service_problem(error: secret_service::Error) -> KeychainProblem {
        use secret_service::Error as E;
        // A bus where nobody owns `org.freedesktop.secrets` and nothing can
        // be activated to own it.
        let unknown_service = |name: &str| {
            matches!(
                name,
                "org.freedesktop.DBus.Error.ServiceUnknown"
                    | "org.freedesktop.DBus.Error.NameHasNoOwner"
            )
        };
        match error {
            E::Unavailable => KeychainProblem::NoSecretService,
            E::Zbus(zbus::Error::MethodError(name, _, _)) if unknown_service(name.as_str()) => {
                KeychainProblem::NoSecretService
            }
            E::ZbusFdo(
                zbus::fdo::Error::ServiceUnknown(_) | zbus::fdo::Error::NameHasNoOwner(_),
            ) => KeychainProblem::NoSecretService,
            // No default collection is what a never-unlocked gnome-keyring
            // shows; unlocking it creates one.
            E::Locked | E::NoResult => KeychainProblem::Locked,
            E::Prompt => KeychainProblem::Denied,
            other => KeychainProblem::Platform(other.to_string()),
        }
    }
}

/// Keychain Services and the Credential Manager: the keyring stores name an
/// entry by service and account, as node-keytar did, so a foreign entry is an
/// ordinary one.
#[cfg(any(target_os = "macos", windows))]
mod platform {
    use super::{KeychainProblem, KeychainRef};
    use std::sync::Arc;

    #[cfg(target_os = "macos")]
    pub(super) fn store()
    -> Result<Arc<apple_native_keyring_store::keychain::Store>, KeychainProblem> {
        apple_native_keyring_store::keychain::Store::new().map_err(problem)
    }

    #[cfg(windows)]
    pub(super) fn store() -> Result<Arc<windows_native_keyring_store::Store>, KeychainProblem> {
        windows_native_keyring_store::Store::new().map_err(problem)
    }

    pub(super) fn foreign(
        entry: &KeychainRef,
    ) -> Result<Option<keyring_core::Entry>, KeychainProblem> {
        use keyring_core::api::CredentialStoreApi as _;
        store()?
            .build(&entry.service, &entry.account, None)
            .map(Some)
            .map_err(problem)
    }

    pub(super) fn problem(error: keyring_core::Error) -> KeychainProblem {
        match error {
            keyring_core::Error::NoStorageAccess(_) => KeychainProblem::Denied,
            other => KeychainProblem::Platform(other.to_string()),
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Keychains for unit tests of the store's rules. The real Secret
    //! Service is exercised in `tests/keychain.rs`.

    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Entries in memory, counting writes.
    #[derive(Default)]
    pub struct Memory {
        pub entries: Mutex<BTreeMap<KeychainRef, String>>,
        pub sets: AtomicUsize,
        /// When set, every call fails with it.
        pub down: Mutex<Option<KeychainProblem>>,
    }

    impl Memory {
        pub fn sets(&self) -> usize {
            self.sets.load(Ordering::SeqCst)
        }

        fn check(&self) -> Result<(), KeychainProblem> {
            match self.down.lock().unwrap().clone() {
                Some(problem) => Err(problem),
                None => Ok(()),
            }
        }
    }

    impl SecretBackend for Memory {
        fn get(&self, entry: &KeychainRef) -> Result<Option<String>, KeychainProblem> {
            self.check()?;
            Ok(self.entries.lock().unwrap().get(entry).cloned())
        }
        fn set(&self, entry: &KeychainRef, _: &str, secret: &str) -> Result<(), KeychainProblem> {
            self.check()?;
            self.sets.fetch_add(1, Ordering::SeqCst);
            self.entries
                .lock()
                .unwrap()
                .insert(entry.clone(), secret.to_owned());
            Ok(())
        }
        fn delete(&self, entry: &KeychainRef) -> Result<(), KeychainProblem> {
            self.check()?;
            self.entries.lock().unwrap().remove(entry);
            Ok(())
        }
        fn get_foreign(&self, entry: &KeychainRef) -> Result<Option<String>, KeychainProblem> {
            self.get(entry)
        }
        fn delete_foreign(&self, entry: &KeychainRef) -> Result<(), KeychainProblem> {
            self.delete(entry)
        }
    }

    /// A keychain that never answers, as one waiting for an unseen prompt.
    pub struct Hung(pub Mutex<mpsc::Receiver<()>>);

    impl SecretBackend for Hung {
        fn get(&self, _: &KeychainRef) -> Result<Option<String>, KeychainProblem> {
            let _ = self.0.lock().unwrap().recv();
            Err(KeychainProblem::Platform("released".into()))
        }
        fn set(&self, e: &KeychainRef, _: &str, _: &str) -> Result<(), KeychainProblem> {
            self.get(e).map(drop)
        }
        fn delete(&self, e: &KeychainRef) -> Result<(), KeychainProblem> {
            self.get(e).map(drop)
        }
        fn get_foreign(&self, e: &KeychainRef) -> Result<Option<String>, KeychainProblem> {
            self.get(e)
        }
        fn delete_foreign(&self, e: &KeychainRef) -> Result<(), KeychainProblem> {
            self.get(e).map(drop)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::Hung;
    use super::*;

    #[test]
    fn a_keychain_that_does_not_answer_is_abandoned_at_the_deadline() {
        let (_release, rx) = mpsc::channel();
        let keychain = Keychain::new(
            Arc::new(Hung(std::sync::Mutex::new(rx))),
            Duration::from_millis(50),
        );
        let entry = KeychainRef {
            service: "s".into(),
            account: "a".into(),
        };
        let err = keychain.get(&entry).unwrap_err();
        assert_eq!(
            err,
            KeychainProblem::TimedOut {
                after: Duration::from_millis(50)
            }
        );
        assert!(
            err.to_string().contains("did not answer within 0.05 s"),
            "{err}"
        );
        assert!(err.fix().contains("--insecure-storage"));
    }

    fn every_problem() -> [KeychainProblem; 9] {
        [
            KeychainProblem::NoSessionBus,
            KeychainProblem::NoSecretService,
            KeychainProblem::Locked,
            KeychainProblem::Denied,
            KeychainProblem::TimedOut {
                after: DEFAULT_DEADLINE,
            },
            KeychainProblem::Missing,
            KeychainProblem::Unreadable("x".into()),
            KeychainProblem::Unsupported,
            KeychainProblem::Platform("x".into()),
        ]
    }

    #[test]
    fn every_problem_names_a_fix_and_a_kind() {
        let all = every_problem();
        let kinds: std::collections::BTreeSet<_> = all.iter().map(KeychainProblem::kind).collect();
        assert_eq!(kinds.len(), all.len(), "kinds are distinct");
        for problem in &all {
            assert!(!problem.to_string().is_empty() && !problem.fix().is_empty());
        }
        assert!(
            KeychainProblem::Locked
                .fix()
                .contains("gnome-keyring-daemon --unlock")
        );
    }

    /// Every CLI built on the library shows these fixes, and its entries are
    /// under its own service name: a fix naming Tessera's sends `acme`'s user
    /// looking for entries that are not there.
    #[test]
    fn no_fix_names_tesseras_keychain_service() {
        for problem in &every_problem() {
            assert!(
                !problem.fix().contains("tessera"),
                "{problem:?}: {}",
                problem.fix()
            );
        }
    }
}
