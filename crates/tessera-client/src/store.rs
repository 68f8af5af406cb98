//! The credential store: a private directory with `config.toml` and
//! `credentials.toml`.
//!
//! Invariants:
//! - The directory is created 0700 and both files 0600 (Unix; elsewhere the
//!   files inherit the ACL of the user's profile directory, private by
//!   default on Windows, and no mode is checked).
//! - Readers never lock: every write replaces a file by `rename`, so a reader
//!   sees the old or the new content, never a mix.
//! - Writers hold an exclusive advisory lock on a sibling `<credentials>.lock`
//!   for the whole read-modify-write. Writing is only possible through a
//!   [`StoreLock`], so an unlocked write does not compile. Nothing holds it
//!   across a network request: a token renewal holds its profile's own lock
//!   (`<credentials>.<hash of the profile>.lock`, [`ProfileLock`]) through
//!   its requests, and the store's only to write the result, so one
//!   profile's renewal never waits behind another's.
//! - A write is: temp file in the same directory, fsync, rename, fsync of the
//!   directory. A process killed at any instant leaves the old or the new file.
//! - A profile with a keychain reference never has its secrets written to the
//!   file: they go to the keychain first, and when that fails nothing is
//!   written at all.
//! - A file that is not what this program writes (a symbolic link for the
//!   credentials, more than 1 MiB, not UTF-8, not TOML of the right shape) is
//!   an error naming the file and the problem, before anything is written.

use crate::app::{AppSpec, CredentialsFormat};
use crate::config::{Config, Credentials, CredentialsFile, KeychainPayload, KeychainState};
use crate::env::EnvVars;
use crate::error::Error;
use crate::keychain::{Keychain, KeychainProblem, KeychainRef};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeSet;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tessera_proto::ApiKey;

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};

#[cfg(unix)]
const FILE_MODE: u32 = 0o600;
#[cfg(unix)]
const DIR_MODE: u32 = 0o700;

/// Neither file is ever this large; a bigger one is the wrong file, and
/// reading it whole would only waste memory.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// How much a write after [`StoreLock::check_writable`] may add to the
/// credentials file: a renewed login's new tokens, longer than the old ones.
const WRITE_HEADROOM: u64 = 16 * 1024;

/// How long a writer waits for another process's lock. A token renewal holds
/// its profile's lock through its requests, which time out after 30 s each;
/// a process that holds a lock for longer is stopped (Ctrl-Z) or stuck, and
/// waiting on would hang every command of the user's, scripts included.
pub const LOCK_WAIT: Duration = Duration::from_secs(120);

#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
    app: &'static str,
    config_file: &'static str,
    credentials_file: &'static str,
    credentials_format: CredentialsFormat,
    keychain: Keychain,
    wait_notice: Option<WaitNotice>,
}

/// Said once when a wait for the store's lock lasts longer than `after` (a
/// refresh in another process waiting on a slow server, a holder stopped
/// with Ctrl-Z), so that a user at a terminal knows why nothing happens.
#[derive(Clone)]
pub struct WaitNotice {
    after: Duration,
    say: std::sync::Arc<dyn Fn(&Path) + Send + Sync>,
}

impl std::fmt::Debug for WaitNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitNotice")
            .field("after", &self.after)
            .finish_non_exhaustive()
    }
}

/// A credentials file or directory that others can read, and the command that
/// fixes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionWarning {
    pub path: PathBuf,
    /// `is accessible by group or others (mode 0644)`, `belongs to user 1001`.
    pub problem: String,
    pub fix: String,
}

impl std::fmt::Display for PermissionWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (path, problem, fix) = (self.path.display(), &self.problem, &self.fix);
        write!(f, "{path} {problem}; fix it with: {fix}")
    }
}

/// Why others could change the file or directory of `meta` (any bit of
/// `mask` in its mode, or an owner other than this user and root), with
/// the command that stops it.
#[cfg(unix)]
/// `me`: this process's effective user id.
fn open_to_others(
    path: &Path,
    meta: &std::fs::Metadata,
    mask: u32,
    me: u32,
) -> Option<(String, String)> {
    use std::os::unix::fs::MetadataExt as _;
    let (mode, owner) = (meta.permissions().mode(), meta.uid());
    if owner != me && owner != 0 {
        let problem = format!("belongs to user {owner} (not you), who can change it");
        return Some((problem, format!("sudo chown {me} {}", shell_quote(path))));
    }
    let chmod = if meta.is_dir() { 700 } else { 600 };
    (mode & mask != 0).then(|| {
        let problem = format!(
            "is accessible by group or others (mode {:04o})",
            mode & 0o7777
        );
        (problem, format!("chmod {chmod} {}", shell_quote(path)))
    })
}

/// The credentials file as read, with any permission problems found on the way.
#[derive(Debug, Default)]
pub struct CredentialsRead {
    pub file: CredentialsFile,
    pub warnings: Vec<PermissionWarning>,
}

impl Store {
    /// The store of `spec` in its configured directory. Does no I/O.
    pub fn open(spec: &AppSpec, env: &dyn EnvVars) -> Result<Self, Error> {
        Ok(Self::in_dir(spec.config_dir(env)?, spec))
    }

    /// A store whose keychain profiles use the OS keychain.
    pub fn in_dir(dir: impl Into<PathBuf>, spec: &AppSpec) -> Self {
        Self {
            dir: dir.into(),
            app: spec.name,
            config_file: spec.config_file,
            credentials_file: spec.credentials_file,
            credentials_format: spec.credentials_format,
            keychain: Keychain::os(),
            wait_notice: None,
        }
    }

    /// The same store with another keychain (a deadline, a backend).
    pub fn with_keychain(mut self, keychain: Keychain) -> Self {
        self.keychain = keychain;
        self
    }

    /// The same store calling `say` with the lock file's path once a wait for
    /// the lock has lasted `after` (the wait goes on, up to [`LOCK_WAIT`]).
    pub fn with_wait_notice(
        mut self,
        after: Duration,
        say: impl Fn(&Path) + Send + Sync + 'static,
    ) -> Self {
        self.wait_notice = Some(WaitNotice {
            after,
            say: std::sync::Arc::new(say),
        });
        self
    }

    pub fn keychain(&self) -> &Keychain {
        &self.keychain
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join(self.config_file)
    }

    pub fn credentials_path(&self) -> PathBuf {
        self.dir.join(self.credentials_file)
    }

    pub fn lock_path(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.credentials_file))
    }

    /// The lock a token renewal of `profile` holds through its requests,
    /// beside [`Store::lock_path`]. Named by a hash of the profile: a
    /// profile name may hold `/`, `..` or anything else a file name must not.
    pub fn profile_lock_path(&self, profile: &str) -> PathBuf {
        use sha2::{Digest as _, Sha256};
        use std::fmt::Write as _;
        let digest = Sha256::digest(profile.as_bytes());
        let mut name = format!("{}.", self.credentials_file);
        for b in &digest[..16] {
            let _ = write!(name, "{b:02x}");
        }
        name.push_str(".lock");
        self.dir.join(name)
    }

    /// The keychain entry a profile of this store gets when its secret moves
    /// to the keychain: service = the application, account = the profile and
    /// this directory, so that two configuration directories (a test's, a
    /// `TESSERA_CONFIG_DIR`) never share an entry.
    pub fn keychain_ref(&self, profile: &str) -> KeychainRef {
        KeychainRef {
            service: self.app.to_owned(),
            account: format!("{profile}@{}", self.dir.display()),
        }
    }

    /// Keeps `profile`'s secrets in the keychain from the next write on, as a
    /// login with `--keychain` leaves it.
    #[cfg(test)]
    pub(crate) fn keep_in_keychain(&self, profile: &str) {
        let reference = self.keychain_ref(profile);
        self.update(|_, creds| {
            creds.profiles.get_mut(profile).expect("profile").keychain = Some(reference);
            Ok(())
        })
        .unwrap();
    }

    /// Whether the keychain answers (reading `profile`'s entry, within the
    /// keychain's deadline). A login that will keep its secret there asks
    /// before it contacts the server: a key or token issued and then not
    /// stored would stay valid with nobody holding it.
    pub fn check_keychain(&self, profile: &str) -> Result<(), Error> {
        match self.keychain.get(&self.keychain_ref(profile)) {
            Ok(_) => Ok(()),
            Err(problem) => Err(Error::Keychain {
                profile: Some(profile.to_owned()),
                problem,
            }),
        }
    }

    /// `config.toml`, or an empty config when there is none yet.
    ///
    /// An insecure-http opt-in is only believed from a file no one else can
    /// write: otherwise whoever could write it could downgrade this user's
    /// connections ([`Error::UntrustedConfig`]).
    pub fn read_config(&self) -> Result<Config, Error> {
        let path = self.config_path();
        let Some(file) = open_regular(&path)? else {
            return Ok(Config::default());
        };
        let config: Config = parse(&path, &read_text(&path, &file)?)?;
        #[cfg(unix)]
        if config.environments.values().any(|e| e.insecure) {
            let meta = file.metadata().map_err(Error::io(&path))?;
            let me = rustix::process::geteuid().as_raw();
            if let Some((problem, fix)) = open_to_others(&path, &meta, 0o022, me) {
                return Err(Error::UntrustedConfig { path, problem, fix });
            }
        }
        Ok(config)
    }

    /// `credentials.toml` (empty when missing), and a warning when it or the
    /// directory is open to group or others. Keychain profiles come back with
    /// their reference only; [`load_secrets`](Self::load_secrets) reads
    /// their secrets in.
    pub fn read_credentials(&self) -> Result<CredentialsRead, Error> {
        let path = self.credentials_path();
        let Some((file, meta)) = open_regular_not_linked(&path)? else {
            return Ok(CredentialsRead::default());
        };
        let warnings = self.permission_warnings(&path, &meta);
        let text = read_text(&path, &file)?;
        let file = match self.credentials_format {
            CredentialsFormat::BareKey { profile } if is_bare_key(&text) => {
                let mut file = CredentialsFile::default();
                let key = text.trim();
                if !key.is_empty() {
                    file.profiles.entry(profile.to_owned()).or_default().api_key =
                        Some(ApiKey::new(key));
                }
                file
            }
            // Neither one key nor the TOML form: say what the file is for,
            // not how TOML failed on text that was never meant to be TOML.
            CredentialsFormat::BareKey { .. } => {
                parse(&path, &text).map_err(|_| Error::Parse {
                    path: path.clone(),
                    message: "it holds something other than an API key alone: the file is one key, one word on one line".into(),
                })?
            }
            CredentialsFormat::Toml => parse(&path, &text)?,
        };
        Ok(CredentialsRead { file, warnings })
    }

    #[cfg(unix)]
    fn permission_warnings(&self, path: &Path, meta: &std::fs::Metadata) -> Vec<PermissionWarning> {
        let config = self.config_path();
        let me = rustix::process::geteuid().as_raw();
        let on_disk = |p: &Path, mask| {
            let meta = std::fs::metadata(p).ok()?;
            open_to_others(p, &meta, mask, me)
        };
        let found = [
            (path, open_to_others(path, meta, 0o077, me)),
            (self.dir.as_path(), on_disk(&self.dir, 0o077)),
            // Not secret, but whoever can change it can point this user's
            // credentials at another server.
            (config.as_path(), on_disk(&config, 0o022)),
        ];
        (found.into_iter())
            .filter_map(|(path, found)| {
                let (problem, fix) = found?;
                let path = path.to_owned();
                Some(PermissionWarning { path, problem, fix })
            })
            .collect()
    }

    #[cfg(not(unix))]
    fn permission_warnings(&self, _: &Path, _: &std::fs::Metadata) -> Vec<PermissionWarning> {
        Vec::new()
    }

    /// Reads a keychain profile's secrets into `credentials` (nothing to do
    /// for a file profile, or when already read). Goes through the
    /// keychain's deadline; its failure is [`Error::Keychain`].
    ///
    /// An entry that is gone (or unreadable) is an error for the caller but
    /// not a lock on the profile: a new login may replace it.
    pub fn load_secrets(&self, profile: &str, credentials: &mut Credentials) -> Result<(), Error> {
        let Some(reference) = &credentials.keychain else {
            return Ok(());
        };
        if matches!(credentials.keychain_state, KeychainState::Read(_)) {
            return Ok(());
        }
        let failed = |problem: KeychainProblem| Error::Keychain {
            profile: Some(profile.to_owned()),
            problem,
        };
        let payload = match self.keychain.get(reference) {
            Ok(Some(text)) => serde_json::from_str::<KeychainPayload>(&text).map_err(|_| {
                KeychainProblem::Unreadable("not a credential this program stored".into())
            }),
            Ok(None) => Err(KeychainProblem::Missing),
            Err(problem) => {
                credentials.keychain_state = KeychainState::Failed(problem.clone());
                return Err(failed(problem));
            }
        };
        match payload {
            Ok(payload) => {
                credentials.api_key = payload.api_key.clone();
                credentials.oauth = payload.oauth.clone();
                credentials.keychain_state = KeychainState::Read(Box::new(payload));
                Ok(())
            }
            Err(problem) => {
                credentials.keychain_state = KeychainState::Read(Box::default());
                Err(failed(problem))
            }
        }
    }

    /// Takes the store's exclusive lock, creating the directory (0700) if needed.
    /// Waits while another process holds it, up to [`LOCK_WAIT`]. Released
    /// when the guard drops.
    pub fn lock(&self) -> Result<StoreLock<'_>, Error> {
        self.lock_within(LOCK_WAIT)
    }

    fn lock_within(&self, wait: Duration) -> Result<StoreLock<'_>, Error> {
        let (path, file) = self.open_lock_file()?;
        let file = wait_for_lock(
            &path,
            file,
            Access::Exclusive,
            wait,
            self.wait_notice.as_ref(),
        )?;
        Ok(self.locked(&path, file))
    }

    /// The lock if no other process holds it, else `None` at once.
    pub fn try_lock(&self) -> Result<Option<StoreLock<'_>>, Error> {
        let (path, file) = self.open_lock_file()?;
        match file.try_lock() {
            Ok(()) => Ok(Some(self.locked(&path, file))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io(path)(e)),
        }
    }

    /// Blocks until no process holds the lock, without taking it: a shared
    /// lock taken and dropped. Every process waiting this way goes on when
    /// the writer finishes, instead of one after another as exclusive
    /// waiters would.
    pub fn wait_for_writer(&self) -> Result<(), Error> {
        self.wait_for_writer_within(LOCK_WAIT)
    }

    /// [`Store::wait_for_writer`], giving up with [`Error::LockHeld`] after
    /// `wait`.
    pub fn wait_for_writer_within(&self, wait: Duration) -> Result<(), Error> {
        let (path, file) = self.open_lock_file()?;
        wait_for_lock(&path, file, Access::Shared, wait, self.wait_notice.as_ref())?;
        Ok(())
    }

    /// Takes `profile`'s renewal lock ([`Store::profile_lock_path`]),
    /// waiting up to [`LOCK_WAIT`]. It does not let one write: a renewal
    /// holds it through its requests, so that processes racing to renew the
    /// same login send one request, and takes the store's lock only to write
    /// the result; another profile's renewal or a write elsewhere goes on
    /// meanwhile.
    pub fn lock_profile(&self, profile: &str) -> Result<ProfileLock, Error> {
        let (path, file) = self.open_lock_file_at(self.profile_lock_path(profile))?;
        let file = wait_for_lock(
            &path,
            file,
            Access::Exclusive,
            LOCK_WAIT,
            self.wait_notice.as_ref(),
        )?;
        Ok(ProfileLock { _file: file })
    }

    /// `profile`'s renewal lock if no other process holds it, else `None` at once.
    pub fn try_lock_profile(&self, profile: &str) -> Result<Option<ProfileLock>, Error> {
        let (path, file) = self.open_lock_file_at(self.profile_lock_path(profile))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(ProfileLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io(path)(e)),
        }
    }

    /// [`Store::wait_for_writer_within`] for `profile`'s renewal lock.
    pub fn wait_for_profile_within(&self, profile: &str, wait: Duration) -> Result<(), Error> {
        let (path, file) = self.open_lock_file_at(self.profile_lock_path(profile))?;
        wait_for_lock(&path, file, Access::Shared, wait, self.wait_notice.as_ref())?;
        Ok(())
    }

    fn open_lock_file(&self) -> Result<(PathBuf, File), Error> {
        self.open_lock_file_at(self.lock_path())
    }

    fn open_lock_file_at(&self, path: PathBuf) -> Result<(PathBuf, File), Error> {
        let mut options = OpenOptions::new();
        options.create(true).truncate(false).write(true);
        // As the other store files, the lock is a regular file or nothing: a
        // symbolic link is not followed (it would create its target), and a
        // FIFO does not block the open until a reader comes (every writing
        // command would hang without a word).
        #[cfg(unix)]
        options
            .mode(FILE_MODE)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        let not_regular = || {
            Error::Parse {
            path: path.clone(),
            message: "not a regular file, as the store's lock must be; check what it is (`ls -l`), and move it away".into(),
        }
        };
        // The directory is made (0700) when the lock file cannot be for
        // want of it, not asked for at every lock.
        let opened = match options.open(&path) {
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                let mut dir = DirBuilder::new();
                dir.recursive(true);
                #[cfg(unix)]
                dir.mode(DIR_MODE);
                dir.create(&self.dir).map_err(Error::io(&self.dir))?;
                options.open(&path)
            }
            opened => opened,
        };
        let file = match opened {
            Ok(file) => file,
            // ELOOP (a link), ENXIO (a FIFO without a reader), EISDIR: said
            // as what is there rather than as the open's errno.
            Err(e) => {
                let regular = std::fs::symlink_metadata(&path).map(|m| m.is_file());
                return Err(match regular {
                    Ok(false) => not_regular(),
                    _ => Error::io(&path)(e),
                });
            }
        };
        // A FIFO with a reader, or a device, opens: refused all the same.
        if !file.metadata().map_err(Error::io(&path))?.is_file() {
            return Err(not_regular());
        }
        Ok((path, file))
    }

    fn locked(&self, path: &Path, file: File) -> StoreLock<'_> {
        tracing::trace!(path = %path.display(), "store locked");
        StoreLock {
            store: self,
            _file: file,
            keychain_refs: Default::default(),
        }
    }

    /// Read-modify-write of both files under the lock. Only files whose content
    /// changed are written, and a credentials file others can read (written
    /// again, it is 0600); credentials before config, so that a crash between
    /// the two leaves at worst an unused secret, never a profile pointing at a
    /// key that was not saved.
    ///
    /// `change` sees keychain profiles with their secrets read in, so it can
    /// change them like any other. When the keychain cannot be read, profiles
    /// whose secrets it leaves alone are still written; changing their
    /// secrets is refused with the keychain's problem.
    pub fn update<T>(
        &self,
        change: impl FnOnce(&mut Config, &mut CredentialsFile) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let lock = self.lock()?;
        let config = lock.read_config()?;
        let read = lock.read_credentials()?;
        let exposed = read
            .warnings
            .iter()
            .any(|w| w.path == self.credentials_path());
        let mut credentials = read.file;
        self.load_all_secrets(&mut credentials);
        let (mut new_config, mut new_credentials) = (config.clone(), credentials.clone());
        let out = change(&mut new_config, &mut new_credentials)?;
        if new_credentials != credentials {
            lock.write_credentials(&new_credentials)?;
        } else if exposed && let Err(e) = lock.write_credentials(&new_credentials) {
            // Tightening is a courtesy here; the warning still says how.
            tracing::debug!(error = %e, "could not rewrite the credentials file 0600");
        }
        if new_config != config {
            lock.write_config(&new_config)?;
        }
        Ok(out)
    }

    /// Reads every keychain profile in; after the first keychain failure the
    /// rest are marked failed without asking again (one deadline, not one
    /// per profile).
    fn load_all_secrets(&self, file: &mut CredentialsFile) {
        let mut down: Option<KeychainProblem> = None;
        for (name, credentials) in file.profiles.iter_mut() {
            if credentials.keychain.is_none() {
                continue;
            }
            if let Some(problem) = &down {
                credentials.keychain_state = KeychainState::Failed(problem.clone());
                continue;
            }
            if let Err(Error::Keychain { problem, .. }) = self.load_secrets(name, credentials)
                && matches!(credentials.keychain_state, KeychainState::Failed(_))
            {
                down = Some(problem);
            }
        }
    }

    fn temp_prefix(file: &str) -> String {
        format!(".{file}.")
    }
}

/// Allocates `len` bytes of `file` (Linux `fallocate`): `Ok(false)` where
/// the file system cannot, `Err` (ENOSPC) where there is no room.
#[cfg(target_os = "linux")]
fn set_aside(file: &File, len: u64) -> std::io::Result<bool> {
    use rustix::io::Errno;
    match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len) {
        Ok(()) => Ok(true),
        Err(Errno::OPNOTSUPP | Errno::NOSYS | Errno::INVAL) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(target_os = "linux"))]
fn set_aside(_: &File, _: u64) -> std::io::Result<bool> {
    Ok(false)
}

#[derive(Clone, Copy)]
enum Access {
    Exclusive,
    Shared,
}

/// `file` locked for `access`, or [`Error::LockHeld`] after `wait`.
///
/// std has no timed `flock`, so a held lock is asked for again after a pause
/// of a sixteenth of the time already waited (1 ms to 50 ms): had within a
/// millisecond of its release in the wait of a renewal (milliseconds), within
/// 6% of the wait in a long one, at no more than 20 tries a second. A thread
/// blocking in `flock` would have it at once, but costs more than the wait it
/// saves: with 32 processes renewing one token, the 22 or so that wait made
/// the race 1.09x as long with a thread each (`bench/token-refresh`).
fn wait_for_lock(
    path: &Path,
    file: File,
    access: Access,
    wait: Duration,
    notice: Option<&WaitNotice>,
) -> Result<File, Error> {
    let start = std::time::Instant::now();
    let mut unsaid = notice;
    loop {
        let tried = match access {
            Access::Exclusive => file.try_lock(),
            Access::Shared => file.try_lock_shared(),
        };
        match tried {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(path)(e)),
        }
        let waited = start.elapsed();
        if waited >= wait {
            return Err(Error::LockHeld {
                path: path.to_owned(),
                seconds: wait.as_secs(),
            });
        }
        if let Some(notice) = unsaid.take_if(|n| waited >= n.after) {
            (notice.say)(path);
        }
        let pause = (waited / 16).clamp(Duration::from_millis(1), Duration::from_millis(50));
        std::thread::sleep(pause.min(wait - waited));
    }
}

/// Proof that this process holds one profile's renewal lock
/// ([`Store::lock_profile`]); released when dropped. Writing still needs the
/// store's lock.
#[derive(Debug)]
pub struct ProfileLock {
    _file: File,
}

/// Proof that this process holds the store's lock; the only way to write.
pub struct StoreLock<'a> {
    store: &'a Store,
    _file: File,
    /// The keychain entries the credentials file names, as last read or
    /// written under this lock: what [`StoreLock::write_credentials`] compares
    /// with, so that a read-modify-write reads the file once (no one else
    /// writes it while the lock is held).
    keychain_refs: std::cell::RefCell<Option<BTreeSet<KeychainRef>>>,
}

impl StoreLock<'_> {
    pub fn store(&self) -> &Store {
        self.store
    }

    pub fn read_config(&self) -> Result<Config, Error> {
        self.store.read_config()
    }

    /// As [`Store::read_credentials`]: keychain secrets are not read in.
    /// Secrets set on such a profile without [`Store::load_secrets`] replace
    /// the keychain's copy whole.
    pub fn read_credentials(&self) -> Result<CredentialsRead, Error> {
        let read = self.store.read_credentials()?;
        let refs = keychain_refs(&read.file).cloned().collect();
        *self.keychain_refs.borrow_mut() = Some(refs);
        Ok(read)
    }

    pub fn write_config(&self, config: &Config) -> Result<(), Error> {
        let text = to_toml(&self.store.config_path(), config)?;
        self.write(self.store.config_file, &text)
    }

    /// Writes the credentials file. Keychain profiles' secrets go to the
    /// keychain (only when they changed) and the file keeps the reference;
    /// a keychain failure stops the write before the file is touched. A
    /// keychain entry no profile refers to any more is deleted afterwards;
    /// failing that leaves an unused entry (logged), never a lost profile.
    pub fn write_credentials(&self, credentials: &CredentialsFile) -> Result<(), Error> {
        refuse_symlink(&self.store.credentials_path())?;
        let known = self.keychain_refs.take();
        let before: BTreeSet<KeychainRef> = known.unwrap_or_else(|| {
            (self.store.read_credentials())
                .map(|read| keychain_refs(&read.file).cloned().collect())
                .unwrap_or_default()
        });
        let mut file = credentials.clone();
        for (name, profile) in file.profiles.iter_mut() {
            let Some(reference) = profile.keychain.clone() else {
                continue;
            };
            let payload = profile.payload();
            let has_secrets = payload != KeychainPayload::default();
            match &profile.keychain_state {
                KeychainState::Read(stored) if **stored == payload => {}
                KeychainState::Failed(problem) if has_secrets => {
                    return Err(Error::Keychain {
                        profile: Some(name.clone()),
                        problem: problem.clone(),
                    });
                }
                KeychainState::Read(_) | KeychainState::NotRead if has_secrets => {
                    let text = serde_json::to_string(&payload).map_err(|e| Error::Parse {
                        path: self.store.credentials_path(),
                        message: e.to_string(),
                    })?;
                    let label = format!("{} credentials for profile {name}", self.store.app);
                    self.store
                        .keychain
                        .set(&reference, &label, &text)
                        .map_err(|problem| Error::Keychain {
                            profile: Some(name.clone()),
                            problem,
                        })?;
                }
                // Every secret removed: the entry goes with its reference.
                KeychainState::Read(_) => profile.keychain = None,
                KeychainState::NotRead | KeychainState::Failed(_) => {}
            }
            profile.api_key = None;
            profile.oauth = None;
        }
        let text = match self.store.credentials_format {
            CredentialsFormat::Toml => to_toml(&self.store.credentials_path(), &file)?,
            CredentialsFormat::BareKey { profile } => {
                bare_key_text(&self.store.credentials_path(), &file, profile)?
            }
        };
        self.write(self.store.credentials_file, &text)?;
        let kept: BTreeSet<KeychainRef> = keychain_refs(&file).cloned().collect();
        self.forget(before.iter().filter(|r| !kept.contains(r)));
        *self.keychain_refs.borrow_mut() = Some(kept);
        Ok(())
    }

    /// Fails as [`StoreLock::write_credentials`] would for want of a writable
    /// directory or of room on its disk, before something is done whose
    /// result must be kept. The probe takes as much room as the file may
    /// become: on a full disk an empty file is still created (it takes no
    /// block). Where the file system sets room aside at once (`fallocate`)
    /// that is all; elsewhere the bytes are written and synced, as some file
    /// systems (NFS) say ENOSPC only at `fsync`. A sync costs the renewal,
    /// on which every other process of the profile waits, a journal commit.
    pub fn check_writable(&self) -> Result<(), Error> {
        let dir = &self.store.dir;
        // Nameless where the system can (Linux `O_TMPFILE`): no directory
        // entry to add and remove, nothing left behind by a crash.
        let mut probe = tempfile::tempfile_in(dir).map_err(Error::io(dir))?;
        let path = self.store.credentials_path();
        let now = std::fs::metadata(&path).map_or(0, |m| m.len());
        let room = (now + WRITE_HEADROOM).min(MAX_FILE_BYTES);
        if !set_aside(&probe, room).map_err(Error::io(&path))? {
            probe
                .write_all(&vec![0u8; room as usize])
                .map_err(Error::io(&path))?;
            probe.sync_all().map_err(Error::io(&path))?;
        }
        // An immutable or append-only file (`chattr +i`/`+a`) cannot be
        // replaced however writable its directory: opening it for writing
        // says so (EPERM) without changing it. EACCES (a 0400 file) is no
        // obstacle to the rename, and is not refused.
        #[cfg(unix)]
        if let Err(e) = OpenOptions::new().write(true).open(&path)
            && e.raw_os_error() == Some(libc::EPERM)
        {
            return Err(Error::io(&path)(e));
        }
        Ok(())
    }

    /// Deletes the credentials file, for CLIs whose logout is documented as
    /// removing it, and the keychain entries it referred to. Returns whether
    /// there was one. The directory is synced so the deletion survives a
    /// crash.
    pub fn remove_credentials(&self) -> Result<bool, Error> {
        let path = self.store.credentials_path();
        let referenced: Vec<KeychainRef> = self
            .read_credentials()
            .map(|read| keychain_refs(&read.file).cloned().collect())
            .unwrap_or_default();
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io(path)(e)),
        }
        sync_dir(&self.store.dir)?;
        self.forget(referenced.iter());
        Ok(true)
    }

    fn forget<'r>(&self, entries: impl Iterator<Item = &'r KeychainRef>) {
        for entry in entries {
            if let Err(problem) = self.store.keychain.delete(entry) {
                tracing::warn!(%entry, %problem, "could not delete an unused keychain entry");
            }
        }
    }

    /// Replaces `name` atomically (a temporary file renamed over it). A
    /// `config.toml` that is a link (into a dotfiles repository) is replaced
    /// at the link's target, so the link survives; `credentials.toml` never
    /// gets here as a link ([`refuse_symlink`]).
    fn write(&self, name: &str, text: &str) -> Result<(), Error> {
        let link = self.store.dir.join(name);
        // Every read refuses a file over this size: written, it would lock
        // every profile out until the file is fixed by hand. The file as it
        // was stays.
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(Error::Parse {
                path: link,
                message: format!(
                    "would be larger than {} KiB, which this program does not read back; nothing was written (a key or token far longer than any is?)",
                    MAX_FILE_BYTES / 1024
                ),
            });
        }
        let path = match std::fs::symlink_metadata(&link) {
            // A link to a file not made yet is made at the link's target.
            Ok(meta) if meta.file_type().is_symlink() => match std::fs::canonicalize(&link) {
                Ok(target) => target,
                Err(_) => {
                    let target = std::fs::read_link(&link).map_err(Error::io(&link))?;
                    self.store.dir.join(target)
                }
            },
            _ => link,
        };
        let dir = path.parent().unwrap_or(&self.store.dir);
        self.remove_stale_temp_files();
        let prefix = Store::temp_prefix(name);
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        #[cfg(unix)]
        builder.permissions(std::fs::Permissions::from_mode(FILE_MODE));
        let mut tmp = builder.tempfile_in(dir).map_err(Error::io(dir))?;
        // Failures name the file being replaced, not the temporary one
        // (gone by the time it is read); through `as_file_mut`, as tempfile
        // would add its own path to the error.
        tmp.as_file_mut()
            .write_all(text.as_bytes())
            .map_err(Error::io(&path))?;
        tmp.as_file().sync_all().map_err(Error::io(&path))?;
        tmp.persist(&path).map_err(|e| Error::io(&path)(e.error))?;
        sync_dir(dir)?;
        tracing::debug!(path = %path.display(), "store file written");
        Ok(())
    }

    /// Temp files left by a writer killed before its rename. Safe to delete: the
    /// lock means no other writer is between creating and renaming one.
    fn remove_stale_temp_files(&self) {
        let prefixes = [
            Store::temp_prefix(self.store.config_file),
            Store::temp_prefix(self.store.credentials_file),
        ];
        let Ok(entries) = std::fs::read_dir(&self.store.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(".tmp") && prefixes.iter().any(|p| name.starts_with(p.as_str())) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// The credentials file is not followed through a link: a write replaces
/// the file, which would cut the link and leave its target stale, and a link
/// planted elsewhere could expose what is written. Refused, nothing touched.
fn refuse_symlink(path: &Path) -> Result<(), Error> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            // A relative target is relative to the link's directory.
            let target = std::fs::read_link(path)
                .map(|t| path.parent().map_or(t.clone(), |dir| dir.join(&t)))
                .unwrap_or_default();
            let fix = if target.is_file() {
                format!(
                    "replace the link with the file itself (`mv {} {}`)",
                    shell_quote(&target),
                    shell_quote(path)
                )
            } else {
                format!(
                    "the link leads to no file; remove it (`rm {}`) and log in again",
                    shell_quote(path)
                )
            };
            Err(Error::SymlinkedCredentials {
                path: path.to_owned(),
                target: target.display().to_string(),
                fix,
            })
        }
        _ => Ok(()),
    }
}

fn keychain_refs(file: &CredentialsFile) -> impl Iterator<Item = &KeychainRef> {
    file.profiles.values().filter_map(|c| c.keychain.as_ref())
}

/// A rename or deletion survives a crash once the directory is synced. On
/// Windows a directory cannot be opened as a file; NTFS journals renames.
fn sync_dir(dir: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io(dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn to_toml(path: &Path, value: &impl Serialize) -> Result<String, Error> {
    toml::to_string(value).map_err(|e| Error::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// A [`CredentialsFormat::BareKey`] file's text: one word (the key), or
/// nothing. Anything else is read as the TOML form.
fn is_bare_key(text: &str) -> bool {
    text.split_whitespace().count() <= 1 && !text.contains(['=', '['])
}

/// `file` as a [`CredentialsFormat::BareKey`] file: `profile`'s key alone,
/// with no line break after it, as the `lua` CLI writes it. Anything the form
/// cannot hold is refused rather than dropped.
fn bare_key_text(path: &Path, file: &CredentialsFile, profile: &str) -> Result<String, Error> {
    let unrepresentable = file
        .profiles
        .iter()
        .any(|(name, c)| name != profile && !c.is_empty())
        || file
            .profiles
            .get(profile)
            .is_some_and(|c| c.oauth.is_some() || c.keychain.is_some());
    if unrepresentable || !file.other.is_empty() {
        return Err(Error::Parse {
            path: path.to_owned(),
            message: "this file holds one API key only; nothing else can be stored in it".into(),
        });
    }
    Ok(file
        .profiles
        .get(profile)
        .and_then(|c| c.api_key.as_ref())
        .map(|key| key.expose_secret().to_owned())
        .unwrap_or_default())
}

/// Opens a file this program reads; `None` when there is none. Anything but
/// a regular file (a FIFO, a device, a directory) is refused before it is
/// opened: opening a FIFO waits for a writer, and `/dev/zero` never ends.
fn open_regular(path: &Path) -> Result<Option<File>, Error> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => File::open(path).map(Some).map_err(Error::io(path)),
        Ok(_) => Err(Error::Parse {
            path: path.to_owned(),
            message: NOT_REGULAR.into(),
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path)(e)),
    }
}

const NOT_REGULAR: &str = "not a regular file; check that it is the right file, or move it away";

/// The credentials file opened for reading with its metadata, `None` when
/// missing; a link ([`refuse_symlink`]) or anything but a regular file is
/// refused. On Unix one `open` and one `fstat` decide it all: `O_NOFOLLOW`
/// fails on a link, and `O_NONBLOCK` keeps a FIFO from holding up the open.
fn open_regular_not_linked(path: &Path) -> Result<Option<(File, std::fs::Metadata)>, Error> {
    #[cfg(unix)]
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            if e.raw_os_error() == Some(libc::ELOOP) {
                refuse_symlink(path)?;
            }
            return Err(Error::io(path)(e));
        }
    };
    #[cfg(not(unix))]
    let file = {
        refuse_symlink(path)?;
        let Some(file) = open_regular(path)? else {
            return Ok(None);
        };
        file
    };
    let meta = file.metadata().map_err(Error::io(path))?;
    if !meta.is_file() {
        return Err(Error::Parse {
            path: path.to_owned(),
            message: NOT_REGULAR.into(),
        });
    }
    Ok(Some((file, meta)))
}

/// A small text file that is not this program's (a project's `.env`): its
/// text, `None` when it is missing, or an error when it is not a regular
/// file, is larger than any such file, or is not UTF-8.
pub(crate) fn read_foreign_text(path: &Path) -> Result<Option<String>, Error> {
    match open_regular(path)? {
        Some(file) => read_text(path, &file).map(Some),
        None => Ok(None),
    }
}

/// The whole file as text, refusing what this program never writes: more
/// than [`MAX_FILE_BYTES`], or bytes that are not UTF-8.
fn read_text(path: &Path, file: &File) -> Result<String, Error> {
    let invalid = |message: String| Error::Parse {
        path: path.to_owned(),
        message,
    };
    // Room for a usual file up front, read in one go: `Take` hides its size,
    // and read_to_end would grow the buffer from 32 bytes, a read each.
    let mut bytes = Vec::with_capacity(8 * 1024);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(Error::io(path))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(invalid(format!(
            "larger than {} KiB, which no file this program writes is; check that it is the right file, or move it away",
            MAX_FILE_BYTES / 1024
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        invalid(format!(
            "not UTF-8 text (at byte {}); check that it is the right file, or move it away",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// TOML parse errors can quote the offending line, which in the credentials
/// file may be a secret. Keep the line number and the reason only.
fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, Error> {
    toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        let reason = without_quoted_values(e.message());
        Error::Parse {
            path: path.to_owned(),
            message: match line {
                Some(line) => format!("line {line}: {reason}"),
                None => reason,
            },
        }
    })
}

/// The parser's reason without the values it quotes in backticks
/// (`` invalid type: integer `123456789`, expected a string ``): in the
/// credentials file a value may be a secret. What it expected is the
/// program's (a type, the variants of an enum: `` expected one of `web`,
/// `device` ``), and is kept whole.
fn without_quoted_values(message: &str) -> String {
    // The first `expected` outside backticks: one inside is the file's.
    let mut outside = true;
    let cut = message
        .char_indices()
        .find(|&(i, c)| {
            outside ^= c == '`';
            outside && message[i..].starts_with("expected")
        })
        .map_or(message.len(), |(i, _)| i);
    let (found, expected) = message.split_at(cut);
    let mut kept = String::with_capacity(message.len());
    for (i, part) in found.split('`').enumerate() {
        // What the parser expected (`=`, `]`) is punctuation, never the file's.
        if i % 2 == 0 {
            kept.push_str(part);
        } else if !part.chars().any(char::is_alphanumeric) {
            kept.push('`');
            kept.push_str(part);
            kept.push('`');
        }
    }
    let kept = kept.replace(" ,", ",");
    format!("{kept}{expected}").trim_end().to_owned()
}

/// Where a file this program must write was taken by another user, most
/// often by running it once with `sudo` (root then owns the directory it
/// created in the user's home): the topmost such entry on the way to `path`
/// whose parent is the user's own, and the command that gives it back. `None` when
/// nothing on the way belongs to someone else, or when no ancestor is the
/// user's (a `chown -R` of a system directory is no advice to give).
#[cfg(unix)]
pub fn taken_by_another_user(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let uid = rustix::process::geteuid().as_raw();
    let gid = rustix::process::getegid().as_raw();
    let mut taken: Option<(&Path, u32)> = None;
    for entry in path.ancestors() {
        let Ok(meta) = std::fs::symlink_metadata(entry) else {
            continue;
        };
        if meta.uid() != uid {
            taken = Some((entry, meta.uid()));
        } else if let Some((path, owner)) = taken {
            let owner = match owner {
                0 => "root".to_owned(),
                other => format!("user {other}"),
            };
            return Some(format!(
                "{} belongs to {owner}, not to you (perhaps from running this program with sudo); take it back with: sudo chown -R {uid}:{gid} {}",
                path.display(),
                shell_quote(path)
            ));
        }
    }
    None
}

#[cfg(not(unix))]
pub fn taken_by_another_user(_: &Path) -> Option<String> {
    None
}

/// A path as a POSIX shell word (the hints it appears in are commands to run).
pub fn shell_quote(path: &Path) -> String {
    let s = path.display().to_string();
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+~:@".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::app::TESSERA;
    use crate::keychain::testing::Memory;
    use std::fs::Permissions;
    use tessera_proto::ApiKey;

    fn store() -> (tempfile::TempDir, Store) {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::in_dir(tmp.path().join("tessera"), &TESSERA);
        (tmp, store)
    }

    /// A store whose current profile `p` holds the API key `keep`.
    fn store_keeping_p() -> (tempfile::TempDir, Store) {
        let (tmp, store) = store();
        store
            .update(|config, creds| {
                config.set_current_profile("default", "p");
                creds.profiles.entry("p".into()).or_default().api_key = Some(ApiKey::new("keep"));
                Ok(())
            })
            .unwrap();
        (tmp, store)
    }

    fn key(store: &Store, profile: &str) -> Option<String> {
        store
            .read_credentials()
            .unwrap()
            .file
            .profiles
            .get(profile)?
            .api_key
            .as_ref()
            .map(|k| k.expose_secret().to_owned())
    }

    /// Root's tests hand a directory to another user; anyone else cannot
    /// give one away and sees only that nothing of theirs is reported.
    #[test]
    fn a_directory_taken_by_another_user_is_named_with_the_command_to_take_it_back() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("taken/cfg/config.toml");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        assert_eq!(taken_by_another_user(&file), None, "all of it is ours");
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let taken = tmp.path().join("taken");
        for dir in [&taken, &taken.join("cfg")] {
            std::os::unix::fs::chown(dir, Some(65534), Some(65534)).unwrap();
        }
        let hint = taken_by_another_user(&file).unwrap();
        assert!(
            hint.starts_with(&format!(
                "{} belongs to user 65534, not to you",
                taken.display()
            )),
            "{hint}"
        );
        assert!(
            hint.ends_with(&format!("sudo chown -R 0:0 {}", taken.display())),
            "{hint}"
        );
        assert_eq!(
            taken_by_another_user(Path::new("/proc/1")),
            None,
            "no chown -R of /"
        );
    }

    #[test]
    fn missing_files_read_as_empty() {
        let (_tmp, store) = store();
        assert_eq!(store.read_config().unwrap(), Config::default());
        assert!(store.read_credentials().unwrap().file.profiles.is_empty());
        assert!(!store.dir().exists(), "reading creates nothing");
    }

    #[test]
    fn update_writes_both_files_privately() {
        let (_tmp, store) = store();
        store
            .update(|config, creds| {
                config.set_current_profile("default", "work");
                creds.profiles.insert(
                    "work".into(),
                    Credentials {
                        api_key: Some(ApiKey::new("secret-key")),
                        ..Default::default()
                    },
                );
                Ok(())
            })
            .unwrap();
        assert_eq!(key(&store, "work").as_deref(), Some("secret-key"));
        assert_eq!(
            store.read_config().unwrap().current_profile("default"),
            Some("work")
        );
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(store.dir()), 0o700);
        assert_eq!(mode(&store.credentials_path()), 0o600);
        assert_eq!(mode(&store.config_path()), 0o600);
        assert!(store.read_credentials().unwrap().warnings.is_empty());
        let leftovers: Vec<_> = std::fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn unchanged_files_are_not_rewritten() {
        let (_tmp, store) = store();
        store.update(|_, _| Ok(())).unwrap();
        assert!(!store.config_path().exists());
        assert!(!store.credentials_path().exists());
    }

    #[test]
    fn failed_change_writes_nothing() {
        let (_tmp, store) = store();
        let err = store.update(|config, _| {
            config.set_current_profile("default", "x");
            Err::<(), _>(Error::UnknownProfile("x".into()))
        });
        assert!(err.is_err());
        assert!(!store.config_path().exists());
    }

    #[test]
    fn lock_guard_reads_and_writes() {
        let (_tmp, store) = store();
        let lock = store.lock().unwrap();
        let mut creds = lock.read_credentials().unwrap().file;
        creds.profiles.entry("p".into()).or_default().api_key = Some(ApiKey::new("v1"));
        lock.write_credentials(&creds).unwrap();
        drop(lock);
        assert_eq!(key(&store, "p").as_deref(), Some("v1"));
    }

    #[test]
    fn readers_do_not_wait_for_the_lock() {
        let (_tmp, store) = store();
        let lock = store.lock().unwrap();
        let mut creds = lock.read_credentials().unwrap().file;
        creds.profiles.entry("p".into()).or_default().api_key = Some(ApiKey::new("v"));
        lock.write_credentials(&creds).unwrap();
        // Still locked: a plain read sees the renamed file without blocking.
        assert_eq!(key(&store, "p").as_deref(), Some("v"));
        drop(lock);
    }

    #[test]
    fn try_lock_fails_while_held_and_waiting_needs_no_lock() {
        let (_tmp, store) = store();
        let held = store.lock().unwrap();
        assert!(store.try_lock().unwrap().is_none());
        drop(held);
        store.wait_for_writer().unwrap();
        let again = store.try_lock().unwrap();
        assert!(again.is_some());
    }

    #[test]
    fn a_lock_held_elsewhere_is_waited_for_then_given_up() {
        let (_tmp, store) = store();
        let held = store.lock().unwrap();
        let err = store.lock_within(Duration::ZERO).err().unwrap();
        assert!(matches!(err, Error::LockHeld { .. }), "{err}");
        assert!(err.to_string().contains("fuser"), "{err}");
        std::thread::scope(|s| {
            let waiting = s.spawn(|| store.lock_within(Duration::from_secs(600)).is_ok());
            drop(held);
            assert!(waiting.join().unwrap());
        });
        // The waiter that gave up took nothing with it.
        assert!(store.try_lock().unwrap().is_some());
    }

    #[test]
    fn a_long_wait_for_the_lock_is_said_once_and_goes_on() {
        let (_tmp, store) = store();
        let (said, heard) = std::sync::mpsc::channel();
        let waiter = store.clone().with_wait_notice(Duration::ZERO, move |path| {
            said.send(path.to_owned()).unwrap()
        });
        let held = store.lock().unwrap();
        std::thread::scope(|s| {
            let waiting = s.spawn(|| waiter.lock_within(Duration::from_secs(600)).is_ok());
            assert_eq!(heard.recv().unwrap(), store.lock_path());
            drop(held);
            assert!(waiting.join().unwrap());
        });
        assert!(heard.try_recv().is_err(), "said once");
        // A lock that is free is taken without a word.
        drop(waiter.lock().unwrap());
        assert!(heard.try_recv().is_err());
    }

    #[test]
    fn remove_credentials_deletes_the_file_once() {
        let (_tmp, store) = store();
        let lock = store.lock().unwrap();
        assert!(!lock.remove_credentials().unwrap());
        let mut creds = CredentialsFile::default();
        creds.profiles.entry("p".into()).or_default().api_key = Some(ApiKey::new("v"));
        lock.write_credentials(&creds).unwrap();
        assert!(lock.remove_credentials().unwrap());
        assert!(!store.credentials_path().exists());
    }

    #[test]
    fn group_readable_credentials_are_reported_with_the_fix() {
        let (_tmp, store) = store();
        store
            .update(|_, creds| {
                creds.profiles.entry("p".into()).or_default().api_key = Some(ApiKey::new("v"));
                Ok(())
            })
            .unwrap();
        std::fs::set_permissions(store.credentials_path(), Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(store.dir(), Permissions::from_mode(0o755)).unwrap();
        let warnings = store.read_credentials().unwrap().warnings;
        assert_eq!(warnings.len(), 2);
        // A config others can change could send the credentials elsewhere.
        std::fs::write(store.config_path(), "").unwrap();
        std::fs::set_permissions(store.config_path(), Permissions::from_mode(0o664)).unwrap();
        let with_config = store.read_credentials().unwrap().warnings;
        assert_eq!(with_config.len(), 3);
        assert_eq!(
            with_config[2].fix,
            format!("chmod 600 {}", store.config_path().display())
        );
        assert_eq!(
            warnings[0].fix,
            format!("chmod 600 {}", store.credentials_path().display())
        );
        assert!(warnings[0].to_string().contains("mode 0644"));
        assert_eq!(
            warnings[1].fix,
            format!("chmod 700 {}", store.dir().display())
        );
        // Any update writes the file 0600 again, even one that changes nothing.
        store.update(|_, _| Ok(())).unwrap();
        let meta = std::fs::metadata(store.credentials_path()).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn parse_errors_do_not_quote_the_file() {
        let (_tmp, store) = store();
        std::fs::create_dir_all(store.dir()).unwrap();
        std::fs::write(
            store.credentials_path(),
            "[profiles.p]\napi_key = \"super-secret-value\n",
        )
        .unwrap();
        let err = store.read_credentials().unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(!err.contains("super-secret"), "{err}");
        // A value of the wrong type is not repeated either.
        std::fs::write(
            store.credentials_path(),
            "[profiles.p]\napi_key = 987654321\n",
        )
        .unwrap();
        let err = store.read_credentials().unwrap_err().to_string();
        assert!(
            err.contains("line 2: invalid type: integer, expected"),
            "{err}"
        );
        assert!(!err.contains("987654321"), "{err}");
    }

    /// What the parser expected is the program's text and stays; the value
    /// it found is the file's and goes, even when it reads `expected`.
    #[test]
    fn parse_errors_keep_what_was_expected() {
        let cases = [
            (
                "unknown variant `bogus`, expected one of `api_key`, `web`, `device`",
                "unknown variant, expected one of `api_key`, `web`, `device`",
            ),
            (
                "unknown variant `secret, expected one of`, expected `a` or `b`",
                "unknown variant, expected `a` or `b`",
            ),
            (
                "invalid type: integer `123`, expected a string",
                "invalid type: integer, expected a string",
            ),
            ("duplicate key `api_key`", "duplicate key"),
            ("expected `.`, `=`", "expected `.`, `=`"),
        ];
        for (message, kept) in cases {
            assert_eq!(without_quoted_values(message), kept, "{message}");
        }
        let (_tmp, store) = store();
        std::fs::create_dir_all(store.dir()).unwrap();
        std::fs::write(
            store.credentials_path(),
            "[profiles.h.oauth]\nmethod = \"bogus-secret\"\naccess_token = \"AT\"\n",
        )
        .unwrap();
        let err = store.read_credentials().unwrap_err().to_string();
        assert!(
            err.contains("line 2: unknown variant, expected one of `"),
            "{err}"
        );
        assert!(
            !err.contains("bogus-secret") && !err.contains(",,"),
            "{err}"
        );
    }

    #[test]
    fn stale_temp_files_are_removed_by_the_next_write() {
        let (_tmp, store) = store();
        std::fs::create_dir_all(store.dir()).unwrap();
        let stale = store.dir().join(".credentials.toml.abc123.tmp");
        std::fs::write(&stale, "half").unwrap();
        let lock = store.lock().unwrap();
        lock.check_writable().unwrap();
        assert!(
            stale.exists(),
            "a lock that writes nothing leaves the directory as it is"
        );
        lock.write_config(&Config::default()).unwrap();
        assert!(!stale.exists());
    }

    fn keychain_store() -> (tempfile::TempDir, Store, std::sync::Arc<Memory>) {
        let (tmp, store) = store();
        let memory = std::sync::Arc::new(Memory::default());
        let store = store.with_keychain(Keychain::new(
            memory.clone(),
            std::time::Duration::from_secs(3),
        ));
        (tmp, store, memory)
    }

    /// What `auth login --secure-storage` does: the key and a reference.
    fn secure_login(store: &Store, profile: &str, key: &str) -> Result<(), Error> {
        let reference = store.keychain_ref(profile);
        store.update(|config, creds| {
            config.set_current_profile("default", profile);
            let entry = creds.profiles.entry(profile.into()).or_default();
            entry.api_key = Some(ApiKey::new(key));
            entry.oauth = None;
            entry.keychain = Some(reference);
            Ok(())
        })
    }

    fn loaded_key(store: &Store, profile: &str) -> String {
        let key = loaded(store, profile).unwrap().api_key.unwrap();
        key.expose_secret().to_owned()
    }

    fn loaded(store: &Store, profile: &str) -> Result<Credentials, Error> {
        let mut creds = store
            .read_credentials()?
            .file
            .profiles
            .remove(profile)
            .unwrap();
        store.load_secrets(profile, &mut creds)?;
        Ok(creds)
    }

    #[test]
    fn a_keychain_profile_keeps_only_a_reference_in_the_file() {
        let (_tmp, store, memory) = keychain_store();
        secure_login(&store, "work", "secret-in-keychain").unwrap();
        let text = std::fs::read_to_string(store.credentials_path()).unwrap();
        assert!(!text.contains("secret-in-keychain"), "{text}");
        assert!(text.contains("[profiles.work.keychain]"), "{text}");
        let raw = store.read_credentials().unwrap().file.profiles["work"].clone();
        assert!(raw.in_keychain() && raw.api_key.is_none());
        let creds = loaded(&store, "work").unwrap();
        assert_eq!(creds.api_key.unwrap().expose_secret(), "secret-in-keychain");
        assert_eq!(memory.sets(), 1);

        // Changing something else neither rewrites nor loses the secret.
        store
            .update(|config, creds| {
                config.set_current_profile("default", "other");
                creds.profiles.entry("other".into()).or_default().api_key = Some(ApiKey::new("o"));
                Ok(())
            })
            .unwrap();
        assert_eq!(memory.sets(), 1);
        assert_eq!(loaded_key(&store, "work"), "secret-in-keychain");
    }

    #[test]
    fn a_dpop_key_follows_its_token_into_the_keychain() {
        let (_tmp, store, _memory) = keychain_store();
        let key = crate::DpopKey::generate("ES256");
        let token: crate::oauth::TokenResponse = serde_json::from_str(
            r#"{"access_token":"at-secret","token_type":"DPoP","refresh_token":"rt-secret"}"#,
        )
        .unwrap();
        let client = crate::oauth::Client::public("cli").with_dpop(key.clone());
        let session =
            crate::OAuthSession::from_login(crate::LoginMethod::Device, token, &client, 0);
        let reference = store.keychain_ref("work");
        store
            .update(|_, creds| {
                let entry = creds.profiles.entry("work".into()).or_default();
                entry.oauth = Some(session);
                entry.keychain = Some(reference);
                Ok(())
            })
            .unwrap();
        let text = std::fs::read_to_string(store.credentials_path()).unwrap();
        assert!(
            !text.contains("dpop_key") && !text.contains("at-secret"),
            "{text}"
        );
        let loaded = loaded(&store, "work").unwrap().oauth.unwrap();
        assert_eq!(loaded.dpop_key, Some(key));
    }

    #[test]
    fn changing_part_of_a_keychain_profile_keeps_the_rest() {
        let (_tmp, store, memory) = keychain_store();
        secure_login(&store, "work", "customer-key").unwrap();
        let session = crate::session::OAuthSession::from_token(
            crate::session::LoginMethod::ClientCredentials,
            serde_json::from_str(r#"{"access_token":"at-1","token_type":"Bearer"}"#).unwrap(),
            0,
        );
        store
            .update(|_, creds| {
                creds.profiles.get_mut("work").unwrap().oauth = Some(session);
                Ok(())
            })
            .unwrap();
        let creds = loaded(&store, "work").unwrap();
        assert_eq!(creds.api_key.unwrap().expose_secret(), "customer-key");
        assert_eq!(creds.oauth.unwrap().access_token.expose_secret(), "at-1");
        assert_eq!(memory.sets(), 2);
        assert!(
            !std::fs::read_to_string(store.credentials_path())
                .unwrap()
                .contains("at-1")
        );
    }

    #[test]
    fn a_keychain_that_fails_writes_nothing_anywhere() {
        let (_tmp, store, memory) = keychain_store();
        *memory.down.lock().unwrap() = Some(KeychainProblem::Locked);
        let err = secure_login(&store, "work", "must-not-leak").unwrap_err();
        assert!(
            matches!(
                err,
                Error::Keychain {
                    problem: KeychainProblem::Locked,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("gnome-keyring-daemon --unlock"),
            "{err}"
        );
        assert!(!store.credentials_path().exists(), "no plaintext fallback");
        assert!(
            !store.config_path().exists(),
            "no profile without its secret"
        );
    }

    #[test]
    fn a_locked_keychain_blocks_only_the_profiles_it_holds() {
        let (_tmp, store, memory) = keychain_store();
        secure_login(&store, "vault", "v").unwrap();
        *memory.down.lock().unwrap() = Some(KeychainProblem::Locked);
        // A file profile can still be written, and the keychain one survives.
        store
            .update(|_, creds| {
                creds.profiles.entry("plain".into()).or_default().api_key = Some(ApiKey::new("p"));
                Ok(())
            })
            .unwrap();
        let raw = store.read_credentials().unwrap().file;
        assert!(raw.profiles["vault"].in_keychain());
        // Replacing the locked profile's secret is refused, not guessed.
        let err = secure_login(&store, "vault", "new").unwrap_err();
        assert!(matches!(err, Error::Keychain { .. }), "{err:?}");
        *memory.down.lock().unwrap() = None;
        assert_eq!(loaded_key(&store, "vault"), "v");
    }

    #[test]
    fn a_removed_profile_takes_its_keychain_entry_along() {
        let (_tmp, store, memory) = keychain_store();
        secure_login(&store, "a", "ka").unwrap();
        secure_login(&store, "b", "kb").unwrap();
        store
            .update(|config, creds| {
                config.remove_profile("a");
                creds.profiles.remove("a");
                Ok(())
            })
            .unwrap();
        let entries = memory.entries.lock().unwrap().clone();
        assert_eq!(entries.len(), 1);
        assert!(entries.contains_key(&store.keychain_ref("b")));
        drop(entries);
        assert!(store.lock().unwrap().remove_credentials().unwrap());
        assert!(memory.entries.lock().unwrap().is_empty());
    }

    #[test]
    fn a_secret_gone_from_the_keychain_is_said_and_a_new_login_replaces_it() {
        let (_tmp, store, memory) = keychain_store();
        secure_login(&store, "work", "k1").unwrap();
        memory.entries.lock().unwrap().clear();
        let err = loaded(&store, "work").unwrap_err();
        assert!(
            matches!(
                err,
                Error::Keychain {
                    problem: KeychainProblem::Missing,
                    ..
                }
            ),
            "{err:?}"
        );
        secure_login(&store, "work", "k2").unwrap();
        assert_eq!(loaded_key(&store, "work"), "k2");
    }

    #[test]
    fn moving_a_profile_into_the_keychain_removes_the_plaintext() {
        let (_tmp, store, _memory) = keychain_store();
        store
            .update(|_, creds| {
                creds.profiles.entry("p".into()).or_default().api_key =
                    Some(ApiKey::new("was-plain"));
                Ok(())
            })
            .unwrap();
        store.keep_in_keychain("p");
        let text = std::fs::read_to_string(store.credentials_path()).unwrap();
        assert!(!text.contains("was-plain"), "{text}");
        assert_eq!(loaded_key(&store, "p"), "was-plain");
    }

    #[test]
    fn keychain_entries_are_named_per_directory() {
        let (_tmp, store) = store();
        let other = Store::in_dir("/elsewhere/tessera", &TESSERA);
        assert_eq!(store.keychain_ref("p").service, "tessera");
        assert_ne!(store.keychain_ref("p"), other.keychain_ref("p"));
    }

    #[test]
    fn a_symlinked_credentials_file_is_refused_and_left_alone() {
        let (tmp, store) = store();
        std::fs::create_dir_all(store.dir()).unwrap();
        let target = tmp.path().join("elsewhere.toml");
        std::fs::write(&target, "[profiles.p]\napi_key = \"k\"\n").unwrap();
        std::os::unix::fs::symlink(&target, store.credentials_path()).unwrap();
        let err = store.read_credentials().unwrap_err();
        assert!(matches!(err, Error::SymlinkedCredentials { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains(&format!("`mv {} ", target.display())),
            "{err}"
        );
        let err = store
            .update(|_, creds| {
                creds.profiles.clear();
                Ok(())
            })
            .unwrap_err();
        assert!(matches!(err, Error::SymlinkedCredentials { .. }));
        let lock = store.lock().unwrap();
        let err = lock
            .write_credentials(&CredentialsFile::default())
            .unwrap_err();
        assert!(matches!(err, Error::SymlinkedCredentials { .. }));
        drop(lock);
        assert!(
            std::fs::symlink_metadata(store.credentials_path())
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "[profiles.p]\napi_key = \"k\"\n"
        );
    }

    /// A write that would make a file its reads refuse (over 1 MiB) is
    /// refused instead, and the profiles already stored stay readable.
    #[test]
    fn a_write_too_large_to_read_back_is_refused_and_nothing_is_lost() {
        let (_tmp, store) = store_keeping_p();
        let huge = "k".repeat(MAX_FILE_BYTES as usize);
        let err = store
            .update(|_, creds| {
                creds.profiles.entry("q".into()).or_default().api_key = Some(ApiKey::new(&huge));
                Ok(())
            })
            .unwrap_err();
        assert!(
            matches!(err, Error::Parse { .. }) && err.to_string().contains("nothing was written"),
            "{err}"
        );
        let creds = store.read_credentials().unwrap().file;
        assert_eq!(creds.profiles["p"].api_key, Some(ApiKey::new("keep")));
        assert!(!creds.profiles.contains_key("q"));
    }

    #[test]
    fn hostile_files_are_clear_errors_and_nothing_is_lost() {
        let (_tmp, store) = store_keeping_p();
        let good = std::fs::read(store.credentials_path()).unwrap();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![b'#'; 2 * 1024 * 1024], "larger than"),
            (b"[profiles.p]\napi_key = \"a\0b\"\n".to_vec(), "line 2"),
            (
                b"[profiles.p]\napi_key = \"\xff\xfe\"\n".to_vec(),
                "not UTF-8",
            ),
            (b"profiles = 5\n".to_vec(), "line 1"),
            (b"[profiles.p]\napi_key = 7\n".to_vec(), "line 2"),
            (
                b"[profiles.p.oauth]\nmethod = \"web\"\n".to_vec(),
                "missing field",
            ),
        ];
        for (content, says) in cases {
            std::fs::write(store.credentials_path(), &content).unwrap();
            let err = store.read_credentials().unwrap_err();
            assert!(matches!(err, Error::Parse { .. }), "{err:?}");
            assert!(err.to_string().contains(says), "{says}: {err}");
            assert!(err.to_string().contains("credentials.toml"), "{err}");
            // The next write refuses too, so the file is not replaced.
            assert!(
                store
                    .update(|_, creds| {
                        creds.profiles.clear();
                        Ok(())
                    })
                    .is_err()
            );
            assert_eq!(std::fs::read(store.credentials_path()).unwrap(), content);
        }
        std::fs::write(store.credentials_path(), &good).unwrap();
        assert_eq!(key(&store, "p").as_deref(), Some("keep"));
    }

    #[test]
    fn a_dangling_credentials_link_is_refused_with_a_fix_that_works() {
        let (_tmp, store) = store();
        std::fs::create_dir_all(store.dir()).unwrap();
        std::os::unix::fs::symlink("gone.toml", store.credentials_path()).unwrap();
        let err = store.read_credentials().unwrap_err().to_string();
        let quoted = shell_quote(&store.credentials_path());
        assert!(err.contains(&format!("`rm {quoted}`")), "{err}");
        assert!(
            err.contains(&store.dir().join("gone.toml").display().to_string()),
            "{err}"
        );
    }

    /// A bare-key store writes the key alone and refuses what that form
    /// cannot hold, leaving the file as it was.
    #[test]
    fn a_bare_key_file_holds_one_key_and_refuses_more() {
        let (_tmp, store) = store();
        let spec = AppSpec {
            credentials_format: CredentialsFormat::BareKey { profile: "default" },
            ..crate::app::TESSERA
        };
        let store = Store::in_dir(store.dir(), &spec);
        store
            .update(|_, creds| {
                creds.profiles.entry("default".into()).or_default().api_key =
                    Some(ApiKey::new("lk_one"));
                Ok(())
            })
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(store.credentials_path()).unwrap(),
            "lk_one"
        );
        let err = store
            .update(|_, creds| {
                creds.profiles.entry("other".into()).or_default().api_key =
                    Some(ApiKey::new("lk_two"));
                Ok(())
            })
            .unwrap_err();
        assert!(err.to_string().contains("one API key only"), "{err}");
        assert_eq!(
            std::fs::read_to_string(store.credentials_path()).unwrap(),
            "lk_one"
        );
    }

    /// config.toml linked from a dotfiles repository: a write replaces the
    /// target and keeps the link.
    #[test]
    fn a_linked_config_is_written_through_its_link() {
        let (tmp, store) = store();
        std::fs::create_dir_all(store.dir()).unwrap();
        let dotfiles = tmp.path().join("dotfiles");
        std::fs::create_dir_all(&dotfiles).unwrap();
        let target = dotfiles.join("tessera.toml");
        std::fs::write(&target, "current_environment = \"default\"\n").unwrap();
        std::os::unix::fs::symlink(&target, store.config_path()).unwrap();
        store
            .update(|config, _| {
                config.set_current_profile("default", "work");
                Ok(())
            })
            .unwrap();
        let link = std::fs::symlink_metadata(store.config_path()).unwrap();
        assert!(link.file_type().is_symlink());
        assert!(std::fs::read_to_string(&target).unwrap().contains("work"));
        assert_eq!(
            store.read_config().unwrap().current_profile("default"),
            Some("work")
        );
        // A link to a file not made yet: the first write makes it.
        std::fs::remove_file(&target).unwrap();
        store
            .update(|config, _| {
                config.set_current_profile("default", "home");
                Ok(())
            })
            .unwrap();
        assert!(std::fs::read_to_string(&target).unwrap().contains("home"));
    }

    /// A FIFO would block the open until a writer came, a device would never
    /// end: both are refused before they are opened, and nothing is written.
    #[test]
    fn files_that_are_not_regular_are_refused_without_waiting() {
        let (_tmp, store) = store();
        std::fs::create_dir_all(store.dir()).unwrap();
        for path in [store.config_path(), store.credentials_path()] {
            let made = std::process::Command::new("mkfifo").arg(&path).status();
            assert!(made.unwrap().success());
        }
        for err in [
            store.read_config().unwrap_err(),
            store.read_credentials().unwrap_err(),
        ] {
            assert!(err.to_string().contains("not a regular file"), "{err}");
        }
        assert!(store.update(|_, _| Ok(())).is_err());
        let dotenv = store.dir().join(".env");
        std::os::unix::fs::symlink("/dev/zero", &dotenv).unwrap();
        let err = read_foreign_text(&dotenv).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    /// The lock file is held to the same rule: a FIFO there once hung every
    /// writing command in `open` without a word, and a symbolic link there
    /// was followed, creating its target.
    #[test]
    fn a_lock_file_that_is_not_regular_is_refused_without_waiting() {
        let (tmp, store) = store();
        std::fs::create_dir_all(store.dir()).unwrap();
        let lock = store.lock_path();
        let made = std::process::Command::new("mkfifo").arg(&lock).status();
        assert!(made.unwrap().success());
        let fifo = store.update(|_, _| Ok(())).unwrap_err();
        assert!(fifo.to_string().contains("not a regular file"), "{fifo}");
        assert!(matches!(store.try_lock(), Err(Error::Parse { .. })));
        assert!(store.wait_for_writer().is_err());

        std::fs::remove_file(&lock).unwrap();
        let target = tmp.path().join("created-through-the-link");
        std::os::unix::fs::symlink(&target, &lock).unwrap();
        let Err(link) = store.lock() else {
            panic!("a linked lock file was used")
        };
        assert!(link.to_string().contains("not a regular file"), "{link}");
        assert!(store.wait_for_writer().is_err());
        assert!(!target.exists(), "the link's target was created");

        std::fs::remove_file(&lock).unwrap();
        std::fs::create_dir(&lock).unwrap();
        let dir = store.update(|_, _| Ok(())).unwrap_err();
        assert!(dir.to_string().contains("not a regular file"), "{dir}");
    }

    /// A renewal's lock is its profile's alone, beside the store's lock
    /// whatever the profile is called, and opened with the same care: 0600,
    /// no link followed, nothing but a regular file.
    #[test]
    fn each_profile_has_a_lock_of_its_own_made_with_the_same_care() {
        let (tmp, store) = store();
        let odd = "../../etc/passwd\0\n/..";
        let lock = store.profile_lock_path(odd);
        assert_eq!(lock.parent(), Some(store.dir()));
        let name = lock.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("credentials.toml.") && name.ends_with(".lock"));
        assert_ne!(lock, store.profile_lock_path("a"));
        assert_ne!(lock, store.lock_path());

        let held = store.lock_profile(odd).unwrap();
        let mode = std::fs::metadata(&lock).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(store.try_lock_profile(odd).unwrap().is_none());
        let other = store.try_lock_profile("a").unwrap();
        assert!(other.is_some(), "another profile's lock is free");
        assert!(store.try_lock().unwrap().is_some(), "the store's too");
        assert!(store.wait_for_profile_within(odd, Duration::ZERO).is_err());
        drop((held, other));
        store.wait_for_profile_within(odd, Duration::ZERO).unwrap();

        std::fs::remove_file(&lock).unwrap();
        let target = tmp.path().join("created-through-the-link");
        std::os::unix::fs::symlink(&target, &lock).unwrap();
        let Err(link) = store.lock_profile(odd) else {
            panic!("a linked lock file was used")
        };
        assert!(link.to_string().contains("not a regular file"), "{link}");
        assert!(!target.exists(), "the link's target was created");
        std::fs::remove_file(&lock).unwrap();
        let made = std::process::Command::new("mkfifo").arg(&lock).status();
        assert!(made.unwrap().success());
        assert!(matches!(
            store.try_lock_profile(odd),
            Err(Error::Parse { .. })
        ));
    }

    #[test]
    fn an_insecure_opt_in_is_only_trusted_from_a_private_config() {
        let (_tmp, store) = store();
        std::fs::create_dir_all(store.dir()).unwrap();
        std::fs::write(
            store.config_path(),
            "[environments.lab]\nurl = \"http://10.0.0.5:8080\"\ninsecure = true\n",
        )
        .unwrap();
        std::fs::set_permissions(store.config_path(), Permissions::from_mode(0o600)).unwrap();
        let config = store.read_config().unwrap();
        assert!(config.insecure_http_allowed("lab", "http://10.0.0.5:8080/"));
        std::fs::set_permissions(store.config_path(), Permissions::from_mode(0o666)).unwrap();
        let err = store.read_config().unwrap_err();
        assert!(matches!(err, Error::UntrustedConfig { .. }), "{err:?}");
        assert!(err.to_string().contains("chmod 600"), "{err}");
        // Nor from a private config another user owns (only root can give
        // a file away, so only then is this tested).
        if rustix::process::geteuid().is_root() {
            std::fs::set_permissions(store.config_path(), Permissions::from_mode(0o600)).unwrap();
            std::os::unix::fs::chown(store.config_path(), Some(65534), None).unwrap();
            let err = store.read_config().unwrap_err();
            assert!(err.to_string().contains("belongs to user 65534"), "{err}");
            assert!(err.to_string().contains("sudo chown 0 "), "{err}");
            std::fs::write(store.credentials_path(), "").unwrap();
            let warnings = store.read_credentials().unwrap().warnings;
            let said: Vec<String> = warnings.iter().map(ToString::to_string).collect();
            assert!(
                said.iter().any(|w| w.contains("belongs to user 65534")),
                "{said:?}"
            );
            std::os::unix::fs::chown(store.config_path(), Some(0), None).unwrap();
        }
        // Without an opt-in in it, a loose config is just read.
        std::fs::write(store.config_path(), "current_environment = \"lab\"\n").unwrap();
        store.read_config().unwrap();
    }

    #[test]
    fn quotes_paths_for_the_shell() {
        assert_eq!(shell_quote(Path::new("/a/b.toml")), "/a/b.toml");
        assert_eq!(shell_quote(Path::new("/a b/it's")), r"'/a b/it'\''s'");
    }
}
