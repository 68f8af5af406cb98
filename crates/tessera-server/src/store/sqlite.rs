//! SQLite: one file, WAL mode (readers never wait for the writer), created on first
//! use with its directory.

use crate::error::{Error, Result};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor as _};
use std::path::Path;
use std::time::Duration;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

pub async fn connect(path: &Path) -> Result<AnyPool> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::Config(format!(
                "cannot create database directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    refuse_what_is_no_database(path)?;
    create_private(path)?;
    refuse_what_cannot_be_written(path)?;
    if let Some(warning) = readable_by_others(path) {
        tracing::warn!("{warning}");
    }
    let path = path
        .to_str()
        .ok_or_else(|| Error::Config(format!("database path {} is not UTF-8", path.display())))?;
    // sqlx's SQLite options turn foreign keys on and wait up to 5 s on a locked
    // database; `mode=rwc` creates the file.
    let url = format!("sqlite://{}?mode=rwc", url_path(path));
    let pool = AnyPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                // WAL persists in the file; `synchronous=NORMAL` is the documented
                // safe pairing with WAL (durable across process crashes).
                conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
                    .await?;
                Ok(())
            })
        })
        .connect(&url)
        .await
        .map_err(|e| out_of_space(Path::new(path)).unwrap_or_else(|| e.into()))?;
    Ok(pool)
}

/// Why the pool could not open a connection, when it is a full disk: SQLite
/// says only "disk I/O error" (it cannot size its -shm file), and the pool
/// only that it timed out. Asked after a failure, so a nearly full disk that
/// SQLite can still use is never refused.
fn out_of_space(path: &Path) -> Option<Error> {
    use std::io::Write as _;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    // The size of the -shm file SQLite makes first.
    let probe = tempfile::tempfile_in(dir).and_then(|mut file| {
        file.write_all(&[0; 32 * 1024])?;
        file.sync_all()
    });
    let e = probe.err()?;
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
    .then(|| {
        Error::Config(format!(
            "cannot open the database {}: {e} in {dir}; SQLite needs room there for its -wal and -shm files: free some space (`df -h {dir}`) and try again",
            path.display(),
            dir = dir.display()
        ))
    })
}

/// A directory, a device or a file that is not SQLite's is said at once by
/// name; handed to the pool, it is retried until the pool's timeout, with a
/// log line each time, and reported without the path. A missing or empty
/// file is a new database.
pub(crate) fn refuse_what_is_no_database(path: &Path) -> Result<()> {
    use std::io::Read as _;
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    let shown = path.display();
    if meta.is_dir() {
        return Err(Error::Config(format!(
            "the database {shown} is a directory; give the path of a file in it"
        )));
    }
    if !meta.is_file() {
        return Err(Error::Config(format!(
            "the database {shown} is not a regular file"
        )));
    }
    let mut header = [0u8; 16];
    let read = std::fs::File::open(path).and_then(|mut f| f.read(&mut header));
    match read {
        Ok(0) => Ok(()),
        Ok(16) if &header == b"SQLite format 3\0" => Ok(()),
        Ok(_) => Err(Error::Config(format!(
            "{shown} is not a SQLite database; give tesserad's database file, or a new path for a new one"
        ))),
        Err(e) => Err(Error::Config(format!(
            "cannot read the database {shown}: {e}"
        ))),
    }
}

/// A database file or directory this process cannot write to is said at once,
/// with what to fix: the pool would retry for its whole timeout and report
/// "unavailable" (SQLite in WAL mode writes `-wal` and `-shm` files beside
/// the database, so the directory must be writable too).
fn refuse_what_cannot_be_written(path: &Path) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    let unwritable = |what: &str, e: std::io::Error| {
        Error::Config(format!(
            "cannot write {what}: {e}; tesserad needs to write the database and, \
             for SQLite's -wal and -shm files, its directory (check the owner and \
             mode, or the service's ReadWritePaths=)"
        ))
    };
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| unwritable(&format!("the database {}", path.display()), e))?;
    tempfile::tempfile_in(dir)
        .map_err(|e| unwritable(&format!("in the directory {}", dir.display()), e))?;
    Ok(())
}

/// The warning for a database file that group or others may read (made by
/// hand, or copied): it holds password hashes, sealed keys, emails and
/// addresses.
fn readable_by_others(path: &Path) -> Option<String> {
    let mode = crate::files::open_to_others(path, 0o044)?;
    Some(format!(
        "the database {path} can be read by other users of this host (mode {mode:04o}); \
         it holds password hashes, emails and addresses: `chmod 600 {path}`",
        path = path.display()
    ))
}

/// Creates a missing database file readable by its owner alone: it holds
/// password hashes, emails and addresses, and SQLite gives its `-wal` and
/// `-shm` files the database file's mode.
fn create_private(path: &Path) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::Config(format!(
            "cannot create the database {}: {e}",
            path.display()
        ))),
    }
}

/// `path` as sqlx reads it back out of a URL: sqlx percent-decodes the file
/// name, so a `%` must be encoded (and `?`, `#`, which would end it), or
/// `a%20b.db` would open `a b.db` while the change watch reads `a%20b.db`:
/// a revocation would then never reach the server's caches.
fn url_path(path: &str) -> String {
    let mut encoded = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '%' => encoded.push_str("%25"),
            '?' => encoded.push_str("%3F"),
            '#' => encoded.push_str("%23"),
            c => encoded.push(c),
        }
    }
    encoded
}

/// Reads the authentication cache's change marker, the counter `auth_epoch.n`
/// (migration `0017_auth_leases.sql`), when this process holds no lease on it
/// ([`super::auth_lease`]): starting, one-off commands, a lease that lapsed.
/// On a connection of its own that never writes (`query_only`), outside sqlx's
/// pool: a synchronous call of a few microseconds on the request's thread,
/// where a query through the pool is a round trip to a worker thread. Any
/// failure reads as "unknown" (`None`), and callers query; a failed connection
/// is reopened on the next call.
///
/// Not `PRAGMA data_version` (any commit changes it, so every write emptied
/// the cache) and not the WAL-index header in `-shm` (d6dfb61): opening and
/// closing a descriptor of `-shm` in this process drops every POSIX lock the
/// process holds on it, SQLite's WAL locks included, and another process on
/// the file then loses acknowledged writes
/// (`multi_instance::two_processes_on_one_sqlite_file_lose_no_write`).
#[derive(Debug)]
pub struct ChangeWatch {
    path: std::path::PathBuf,
    conn: std::sync::Mutex<Option<rusqlite::Connection>>,
}

impl ChangeWatch {
    pub fn new(db_path: &Path) -> Self {
        Self {
            path: db_path.to_owned(),
            conn: std::sync::Mutex::new(None),
        }
    }

    /// The current marker, or `None` when it cannot be read.
    pub fn version(&self) -> Option<i64> {
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if conn.is_none() {
            *conn = open_watch(&self.path).ok();
        }
        let read = conn
            .as_ref()?
            .prepare_cached("SELECT n FROM auth_epoch WHERE id = 1")
            .and_then(|mut statement| statement.query_row([], |row| row.get(0)));
        if read.is_err() {
            *conn = None;
        }
        read.ok()
    }
}

fn open_watch(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = open_existing(path)?;
    conn.pragma_update(None, "query_only", true)?;
    // Never wait on a lock on a request's thread: unknown is fine, callers query.
    conn.busy_timeout(Duration::ZERO)?;
    Ok(conn)
}

/// A rusqlite connection (the same libsqlite3 as sqlx's, so SQLite's locks are
/// shared within the process) to the very file the pool opened, never a new
/// one: a watch or a lease on a file no one writes would say "no change"
/// forever.
pub fn open_existing(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    let flags = OpenFlags::default() - OpenFlags::SQLITE_OPEN_CREATE - OpenFlags::SQLITE_OPEN_URI;
    rusqlite::Connection::open_with_flags(path, flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file name with `%`, `?`, `#` and a space is the one file both the
    /// pool and the change watch open, and the watch sees the pool's commits.
    #[tokio::test]
    async fn the_pool_and_the_watch_open_the_same_file_whatever_its_name() {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rev%20 a?b#c.db");
        let pool = connect(&path).await.unwrap();
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".db"))
            .collect();
        assert_eq!(names, ["rev%20 a?b#c.db"]);
        pool.execute(
            "CREATE TABLE auth_epoch (id INTEGER PRIMARY KEY, n INTEGER); \
                      INSERT INTO auth_epoch VALUES (1, 0)",
        )
        .await
        .unwrap();
        let watch = ChangeWatch::new(&path);
        assert_eq!(watch.version(), Some(0), "the watch opens the file");
        pool.execute("UPDATE auth_epoch SET n = 1").await.unwrap();
        assert_eq!(watch.version(), Some(1), "a commit is noticed");
        // Private, and so are the files SQLite makes beside it.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            for file in [path.clone(), dir.path().join("rev%20 a?b#c.db-wal")] {
                let mode = std::fs::metadata(&file).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{}", file.display());
            }
        }
    }

    /// Another process holding the file's lock (a backup, a `sqlite3`
    /// shell in a transaction) is a wait and try again (503), not a broken
    /// database (500).
    #[tokio::test]
    async fn a_database_locked_by_another_process_is_unavailable_for_now() {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let pool = connect(&path).await.unwrap();
        pool.execute("CREATE TABLE t (x INTEGER)").await.unwrap();
        let other = rusqlite::Connection::open(&path).unwrap();
        other.execute_batch("BEGIN EXCLUSIVE").unwrap();
        // Without waiting out the busy timeout.
        let mut conn = pool.acquire().await.unwrap();
        conn.execute("PRAGMA busy_timeout = 0").await.unwrap();
        let locked = conn.execute("INSERT INTO t VALUES (1)").await.unwrap_err();
        let error = Error::from(locked);
        assert!(matches!(error, Error::Unavailable(_)), "{error:?}");
        assert!(error.to_string().contains("try again"), "{error}");
    }

    /// A full disk (SQLITE_FULL; `max_page_count` stands in for it) is an
    /// outage that ends when space is freed: 503 and try again, as for a
    /// lock, not a 500 that reads as a bug.
    #[tokio::test]
    async fn a_full_disk_is_unavailable_for_now() {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let pool = connect(&dir.path().join("t.db")).await.unwrap();
        let mut conn = pool.acquire().await.unwrap();
        conn.execute("CREATE TABLE t (x BLOB)").await.unwrap();
        conn.execute("PRAGMA max_page_count = 8").await.unwrap();
        let full = loop {
            if let Err(e) = conn.execute("INSERT INTO t VALUES (zeroblob(4096))").await {
                break e;
            }
        };
        let error = Error::from(full);
        assert!(matches!(error, Error::Unavailable(_)), "{error:?}");
        assert!(error.to_string().contains("full"), "{error}");
    }

    /// A database on a full disk is said as such, by path, rather than as
    /// the pool's timeout. Needs a small tmpfs, hence root; skipped without.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_database_on_a_full_disk_is_refused_by_name() {
        use std::io::Write as _;
        use std::process::Command;
        struct Mount(std::path::PathBuf);
        impl Drop for Mount {
            fn drop(&mut self) {
                let _ = Command::new("umount").arg(&self.0).status();
            }
        }
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let mounted = rustix::process::geteuid().is_root()
            && Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("skipped: mounting a tmpfs needs root");
            return;
        }
        let _mount = Mount(dir.path().to_owned());
        let path = dir.path().join("t.db");
        let pool = connect(&path).await.unwrap();
        pool.execute("CREATE TABLE t (x INTEGER)").await.unwrap();
        pool.close().await;
        let mut fill = std::fs::File::create(dir.path().join("fill")).unwrap();
        while fill.write_all(&[0; 4096]).is_ok() {}
        let said = connect(&path).await.unwrap_err().to_string();
        assert!(said.contains(&path.display().to_string()), "{said}");
        assert!(said.contains("No space left"), "{said}");
        assert!(said.contains("free some space"), "{said}");
    }

    #[tokio::test]
    async fn what_is_no_database_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "hello").unwrap();
        for (path, says) in [
            (dir.path().to_owned(), "is a directory"),
            (text, "is not a SQLite database"),
            ("/dev/null".into(), "not a regular file"),
        ] {
            let err = connect(&path).await.unwrap_err().to_string();
            assert!(
                err.contains(says) && err.contains(&*path.to_string_lossy()),
                "{err}"
            );
        }
    }

    /// A database whose directory cannot be written is said at once, with
    /// the fix, not after the pool's timeout as "unavailable". (Root writes
    /// anywhere: there the test has nothing to show.)
    #[cfg(unix)]
    #[tokio::test]
    async fn an_unwritable_directory_is_refused_at_once() {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        if std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o500)).unwrap();
        let err = connect(&path).await.unwrap_err().to_string();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(err.contains("cannot write in the directory"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_database_others_can_read_is_warned_about() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        create_private(&path).unwrap();
        assert_eq!(readable_by_others(&path), None, "created 0600");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let said = readable_by_others(&path).expect("a warning");
        assert!(
            said.contains("mode 0644") && said.contains("`chmod 600 "),
            "{said}"
        );
    }

    /// A watch on a path where there is no database reads "unknown" and
    /// creates nothing.
    #[test]
    fn a_watch_never_creates_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.db");
        assert_eq!(ChangeWatch::new(&path).version(), None);
        assert!(!path.exists());
    }
}
