//! The command line around the server: `migrate`, the default database location,
//! `serve --dev`, and `man`.

use crate::support::{Backend, Database, DevServer, TESSERAD, json, postgres_available};
use std::process::Command;

#[tokio::test]
async fn default_database_lives_in_the_data_dir_in_wal_mode() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let out = Command::new(TESSERAD)
        .args(["migrate"])
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", &data)
        .env_remove("TESSERAD_DATABASE_URL")
        .env_remove("TESSERAD_MASTER_KEY")
        .env_remove("TESSERAD_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = data.join("tesserad").join("tesserad.db");
    assert!(db.is_file(), "no database at {}", db.display());
    // WAL mode is recorded in the file header (bytes 18 and 19 are 2).
    let header = std::fs::read(&db).unwrap();
    assert_eq!((header[18], header[19]), (2, 2), "not in WAL mode");
    // Without TESSERAD_MASTER_KEY a SQLite deployment keeps its key beside the
    // database, readable by the owner only.
    let key = data.join("tesserad").join("master.key");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    // The same key is used again next time: an API key created now verifies later.
    let run = |args: &[&str]| {
        Command::new(TESSERAD)
            .args(args)
            .env("HOME", home.path())
            .env("XDG_DATA_HOME", &data)
            .env_remove("TESSERAD_DATABASE_URL")
            .env_remove("TESSERAD_MASTER_KEY")
            .output()
            .unwrap()
    };
    assert!(
        run(&["admin", "account", "create", "--email", "a@b.c"])
            .status
            .success()
    );
    assert!(
        run(&["admin", "api-key", "create", "--account", "a@b.c"])
            .status
            .success()
    );
    assert!(run(&["admin", "keys", "rotate"]).status.success());
}

/// `migrate` on a SQLite path with no database behind it (a typo) creates
/// one, as a first install needs, but says so: "up to date" would let the
/// operator believe the real database was migrated.
#[test]
fn migrate_says_when_it_created_a_new_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tesserad.db");
    let migrate = || {
        Command::new(TESSERAD)
            .args(["migrate", "--database", db.to_str().unwrap()])
            .env_remove("TESSERAD_MASTER_KEY")
            .env_remove("TESSERAD_CONFIG")
            .output()
            .unwrap()
    };
    let first = migrate();
    assert!(first.status.success(), "{first:?}");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&first.stdout),
        String::from_utf8_lossy(&first.stderr),
    );
    assert!(stdout.contains("created database"), "{stdout}");
    assert!(!stdout.contains("up to date"), "{stdout}");
    assert!(stderr.contains("there was no database at"), "{stderr}");
    let again = migrate();
    assert!(again.status.success(), "{again:?}");
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains("is up to date"), "{stdout}");
    assert!(again.stderr.is_empty(), "{again:?}");
}

/// `migrate` says what it did to an existing database: nothing, the
/// tables of an empty one, or which schema it upgraded from.
#[tokio::test]
async fn migrate_says_what_it_changed() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if backend == Backend::Postgres && !postgres_available() {
            continue;
        }
        let db = Database::create(backend);
        // The SQLite file exists, empty, as a database made beforehand would.
        if let Some(path) = db.url.strip_prefix("sqlite://") {
            std::fs::write(path, b"").unwrap();
        }
        let migrate = || {
            let out = Command::new(TESSERAD)
                .args(["migrate", "--database", &db.url])
                .env("TESSERAD_MASTER_KEY", tessera_testkit::master_key())
                .env_remove("TESSERAD_CONFIG")
                .output()
                .unwrap();
            assert!(out.status.success(), "{backend:?}: {out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        assert!(
            migrate().contains("created the tables of database"),
            "{backend:?}"
        );
        let again = migrate();
        assert!(
            again.contains("is up to date (schema 17)"),
            "{backend:?}: {again}"
        );
        // As a database left at schema 16 by the tesserad before migration
        // 0017 (which creates nothing on PostgreSQL).
        crate::support::execute(&db, "DELETE FROM _sqlx_migrations WHERE version = 17").await;
        if backend == Backend::Sqlite {
            let undo = "DROP TABLE auth_leases; DROP TABLE auth_epoch; \
                DROP TRIGGER api_keys_auth_epoch_insert; DROP TRIGGER api_keys_auth_epoch_delete; \
                DROP TRIGGER api_keys_auth_epoch_update; DROP TRIGGER accounts_auth_epoch_insert; \
                DROP TRIGGER accounts_auth_epoch_delete; DROP TRIGGER accounts_auth_epoch_update; \
                DROP TRIGGER revoked_access_tokens_auth_epoch_insert; \
                DROP TRIGGER revoked_access_tokens_auth_epoch_update; \
                DROP TRIGGER apps_auth_epoch_insert; DROP TRIGGER apps_auth_epoch_delete; \
                DROP TRIGGER apps_auth_epoch_update; DROP TRIGGER token_families_auth_epoch_insert; \
                DROP TRIGGER token_families_auth_epoch_delete; \
                DROP TRIGGER token_families_auth_epoch_update";
            crate::support::execute(&db, undo).await;
        }
        let upgraded = migrate();
        assert!(
            upgraded.contains("from schema 16 to 17"),
            "{backend:?}: {upgraded}"
        );
    }
}

#[tokio::test]
async fn postgres_requires_a_master_key() {
    if !postgres_available() {
        return;
    }
    let db = Database::create(Backend::Postgres);
    let out = Command::new(TESSERAD)
        .args(["migrate", "--database", &db.url])
        .env_remove("TESSERAD_MASTER_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("TESSERAD_MASTER_KEY"));
    let out = Command::new(TESSERAD)
        .args(["migrate", "--database", &db.url])
        .env(
            "TESSERAD_MASTER_KEY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn serve_dev_seeds_and_prints_what_to_try() {
    let mut dev = DevServer::start(&[]);
    let (url, printed) = (dev.url.clone(), dev.printed.clone());
    let curl = printed
        .lines()
        .find(|l| l.trim_start().starts_with("curl "))
        .unwrap_or_else(|| panic!("no curl line in:\n{printed}"));
    assert!(
        printed.contains("tessera auth login --api-key eyJ"),
        "{printed}"
    );
    assert!(printed.contains("demo@example.com"));
    assert!(printed.contains("client_secret"));
    let key = curl
        .split("Authorization: token ")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    assert!(curl.trim_end().ends_with(&format!("{url}/v1/me")), "{curl}");
    let me = reqwest::Client::new()
        .get(format!("{url}/v1/me"))
        .header("authorization", format!("token {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(json(me).await["email"], "demo@example.com");
    let db = printed
        .split("throwaway database at sqlite://")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .map(std::path::PathBuf::from)
        .expect("the database path is printed");
    assert!(db.is_file());
    assert!(dev.terminate().success());
    assert!(
        !db.parent().unwrap().exists(),
        "the throwaway database is removed"
    );
}

/// `tesserad man DIR`: a page per command from the clap definitions, with the
/// help's Examples; an unwritable directory is a usage error that says so.
#[test]
fn man_writes_a_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man1");
    let out = Command::new(TESSERAD)
        .args(["man", out_dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for page in [
        "tesserad.1",
        "tesserad-serve.1",
        "tesserad-admin.1",
        "tesserad-admin-api-key-create.1",
    ] {
        let text = std::fs::read_to_string(out_dir.join(page)).unwrap();
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page}: {text}"
        );
    }
    let serve = std::fs::read_to_string(out_dir.join("tesserad-serve.1")).unwrap();
    assert!(serve.contains("metrics\\-listen"), "{serve}");
    assert!(serve.contains("Examples:"), "{serve}");

    let blocked = dir.path().join("a-file");
    std::fs::write(&blocked, "").unwrap();
    let out = Command::new(TESSERAD)
        .args(["man", blocked.join("man1").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot write man pages to"), "{stderr}");
}
