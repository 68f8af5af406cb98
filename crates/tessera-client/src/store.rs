//! The credential store: a private directory with `config.toml` and
//! `credentials.toml`.
//!
//! Invariants:
//! - The directory is created 0700 and both files 0600.
//! - Readers never lock: every write replaces a file by `rename`, so a reader
//!   sees the old or the new content, never a mix.
//! - Writers hold an exclusive advisory lock on a sibling `<credentials>.lock`
//!   for the whole read-modify-write. Writing is only possible through a
//!   [`StoreLock`], so an unlocked write does not compile.
//! - A write is: temp file in the same directory, fsync, rename, fsync of the
//!   directory. A process killed at any instant leaves the old or the new file.

use crate::app::AppSpec;
use crate::config::{Config, CredentialsFile};
use crate::env::EnvVars;
use crate::error::Error;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

const FILE_MODE: u32 = 0o600;
const DIR_MODE: u32 = 0o700;

#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
    config_file: &'static str,
    credentials_file: &'static str,
}

/// A credentials file or directory that others can read, and the command that
/// fixes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionWarning {
    pub path: PathBuf,
    pub mode: u32,
    pub fix: String,
}

impl std::fmt::Display for PermissionWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is accessible by group or others (mode {:04o}); fix it with: {}",
            self.path.display(),
            self.mode & 0o7777,
            self.fix
        )
    }
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

    pub fn in_dir(dir: impl Into<PathBuf>, spec: &AppSpec) -> Self {
        Self {
            dir: dir.into(),
            config_file: spec.config_file,
            credentials_file: spec.credentials_file,
        }
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

    /// `config.toml`, or an empty config when there is none yet.
    pub fn read_config(&self) -> Result<Config, Error> {
        let path = self.config_path();
        match std::fs::read_to_string(&path) {
            Ok(text) => parse(&path, &text),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(Error::io(path)(e)),
        }
    }

    /// `credentials.toml` (empty when missing), and a warning when it or the
    /// directory is open to group or others.
    pub fn read_credentials(&self) -> Result<CredentialsRead, Error> {
        let path = self.credentials_path();
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(CredentialsRead::default()),
            Err(e) => return Err(Error::io(path)(e)),
        };
        let mut warnings = Vec::new();
        let mode = file
            .metadata()
            .map_err(Error::io(&path))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            warnings.push(PermissionWarning {
                fix: format!("chmod 600 {}", shell_quote(&path)),
                path: path.clone(),
                mode,
            });
        }
        if let Ok(meta) = std::fs::metadata(&self.dir) {
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                warnings.push(PermissionWarning {
                    fix: format!("chmod 700 {}", shell_quote(&self.dir)),
                    path: self.dir.clone(),
                    mode,
                });
            }
        }
        let text = std::io::read_to_string(file).map_err(Error::io(&path))?;
        Ok(CredentialsRead {
            file: parse(&path, &text)?,
            warnings,
        })
    }

    /// Takes the store's exclusive lock, creating the directory (0700) if needed.
    /// Blocks while another process holds it. Released when the guard drops.
    pub fn lock(&self) -> Result<StoreLock<'_>, Error> {
        let (path, file) = self.open_lock_file()?;
        file.lock().map_err(Error::io(&path))?;
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
    /// lock taken and dropped. Every process waiting this way is released at
    /// the same moment when the writer finishes, instead of one after another
    /// as exclusive waiters would be.
    pub fn wait_for_writer(&self) -> Result<(), Error> {
        let (path, file) = self.open_lock_file()?;
        file.lock_shared().map_err(Error::io(&path))?;
        Ok(())
    }

    fn open_lock_file(&self) -> Result<(PathBuf, File), Error> {
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(&self.dir)
            .map_err(Error::io(&self.dir))?;
        let path = self.lock_path();
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(FILE_MODE)
            .open(&path)
            .map_err(Error::io(&path))?;
        Ok((path, file))
    }

    fn locked(&self, path: &Path, file: File) -> StoreLock<'_> {
        tracing::trace!(path = %path.display(), "store locked");
        let guard = StoreLock {
            store: self,
            _file: file,
        };
        guard.remove_stale_temp_files();
        guard
    }

    /// Read-modify-write of both files under the lock. Only files whose content
    /// changed are written; credentials before config, so that a crash between
    /// the two leaves at worst an unused secret, never a profile pointing at a
    /// key that was not saved.
    pub fn update<T>(
        &self,
        change: impl FnOnce(&mut Config, &mut CredentialsFile) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let lock = self.lock()?;
        let config = lock.read_config()?;
        let credentials = lock.read_credentials()?.file;
        let (mut new_config, mut new_credentials) = (config.clone(), credentials.clone());
        let out = change(&mut new_config, &mut new_credentials)?;
        if new_credentials != credentials {
            lock.write_credentials(&new_credentials)?;
        }
        if new_config != config {
            lock.write_config(&new_config)?;
        }
        Ok(out)
    }

    fn temp_prefix(file: &str) -> String {
        format!(".{file}.")
    }
}

/// Proof that this process holds the store's lock; the only way to write.
pub struct StoreLock<'a> {
    store: &'a Store,
    _file: File,
}

impl StoreLock<'_> {
    pub fn store(&self) -> &Store {
        self.store
    }

    pub fn read_config(&self) -> Result<Config, Error> {
        self.store.read_config()
    }

    pub fn read_credentials(&self) -> Result<CredentialsRead, Error> {
        self.store.read_credentials()
    }

    pub fn write_config(&self, config: &Config) -> Result<(), Error> {
        self.write(self.store.config_file, config)
    }

    pub fn write_credentials(&self, credentials: &CredentialsFile) -> Result<(), Error> {
        self.write(self.store.credentials_file, credentials)
    }

    /// Deletes the credentials file, for CLIs whose logout is documented as
    /// removing it. Returns whether there was one. The directory is synced so
    /// the deletion survives a crash.
    pub fn remove_credentials(&self) -> Result<bool, Error> {
        let path = self.store.credentials_path();
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io(path)(e)),
        }
        let dir = &self.store.dir;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(Error::io(dir))?;
        Ok(true)
    }

    fn write(&self, name: &str, value: &impl Serialize) -> Result<(), Error> {
        let dir = &self.store.dir;
        let path = dir.join(name);
        let text = toml::to_string(value).map_err(|e| Error::Parse {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let mut tmp = tempfile::Builder::new()
            .prefix(&Store::temp_prefix(name))
            .suffix(".tmp")
            .permissions(Permissions::from_mode(FILE_MODE))
            .tempfile_in(dir)
            .map_err(Error::io(dir))?;
        tmp.write_all(text.as_bytes())
            .map_err(Error::io(tmp.path()))?;
        tmp.as_file().sync_all().map_err(Error::io(tmp.path()))?;
        tmp.persist(&path).map_err(|e| Error::io(&path)(e.error))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(Error::io(dir))?;
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

/// TOML parse errors can quote the offending line, which in the credentials
/// file may be a secret. Keep the line number and the reason only.
fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, Error> {
    toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        Error::Parse {
            path: path.to_owned(),
            message: match line {
                Some(line) => format!("line {line}: {}", e.message()),
                None => e.message().to_owned(),
            },
        }
    })
}

fn shell_quote(path: &Path) -> String {
    let s = path.display().to_string();
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+~:@".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::TESSERA;
    use crate::config::Credentials;
    use tessera_proto::ApiKey;

    fn store() -> (tempfile::TempDir, Store) {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::in_dir(tmp.path().join("tessera"), &TESSERA);
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
        assert_eq!(
            warnings[0].fix,
            format!("chmod 600 {}", store.credentials_path().display())
        );
        assert!(warnings[0].to_string().contains("mode 0644"));
        assert_eq!(
            warnings[1].fix,
            format!("chmod 700 {}", store.dir().display())
        );
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
    }

    #[test]
    fn stale_temp_files_are_removed_under_the_lock() {
        let (_tmp, store) = store();
        std::fs::create_dir_all(store.dir()).unwrap();
        let stale = store.dir().join(".credentials.toml.abc123.tmp");
        std::fs::write(&stale, "half").unwrap();
        drop(store.lock().unwrap());
        assert!(!stale.exists());
    }

    #[test]
    fn quotes_paths_for_the_shell() {
        assert_eq!(shell_quote(Path::new("/a/b.toml")), "/a/b.toml");
        assert_eq!(shell_quote(Path::new("/a b/it's")), r"'/a b/it'\''s'");
    }
}
