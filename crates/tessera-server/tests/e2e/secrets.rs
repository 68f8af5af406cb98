//! Secret settings never shown: not in `--help`, not in start-up errors, not in
//! the log of a running server (issue 17 §4). The secrets are the database and
//! SMTP URLs' passwords and the master key.

use crate::support::{Backend, Database, Server, TESSERAD, postgres_available};
use std::process::Command;

const DB_PASSWORD: &str = "db-pa55word-never-shown";
const SMTP_PASSWORD: &str = "smtp-pa55word-never-shown";
const MASTER_KEY: &str = "c2VjcmV0LW1hc3Rlci1rZXktbmV2ZXItc2hvd24tMTI=";

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_hidden(shown: &str) {
    for secret in [DB_PASSWORD, SMTP_PASSWORD, MASTER_KEY] {
        assert!(!shown.contains(secret), "a secret was shown:\n{shown}");
    }
}

#[test]
fn help_names_the_variables_but_never_their_values() {
    for args in [
        &["serve", "--help"][..],
        &["admin", "--help"],
        &["migrate", "--help"],
        &["admin", "api-key", "create", "--help"],
    ] {
        let out = Command::new(TESSERAD)
            .args(args)
            .env(
                "TESSERAD_DATABASE_URL",
                format!("postgres://app:{DB_PASSWORD}@127.0.0.1:1/tessera"),
            )
            .env(
                "TESSERAD_SMTP_URL",
                format!("smtps://mailer:{SMTP_PASSWORD}@127.0.0.1:1"),
            )
            .env("TESSERAD_MASTER_KEY", MASTER_KEY)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        let help = text(&out);
        assert_hidden(&help);
        assert!(help.contains("TESSERAD_DATABASE_URL"), "{args:?}: {help}");
        assert!(!help.contains("127.0.0.1:1"), "{args:?}: {help}");
    }
}

/// A database that refuses the connection (nothing listens) and, with a
/// PostgreSQL server at hand, one that answers with an error: either way the
/// error names the URL with `***` for the password and exits non-zero.
#[tokio::test]
async fn a_failing_database_url_is_reported_without_its_password() {
    let mut urls = vec![format!("postgres://app:{DB_PASSWORD}@127.0.0.1:1/tessera")];
    if postgres_available() {
        let db = Database::create(Backend::Postgres);
        let mut url = url::Url::parse(&db.url).unwrap();
        url.set_password(Some(DB_PASSWORD)).unwrap();
        url.set_path("/no_such_database_here");
        urls.push(url.to_string());
    }
    for url in urls {
        for command in [&["serve", "--listen", "127.0.0.1:0"][..], &["migrate"]] {
            let out = Command::new(TESSERAD)
                .args(command)
                .args(["--database", &url, "--smtp-url"])
                .arg(format!("smtps://mailer:{SMTP_PASSWORD}@127.0.0.1:1"))
                .env("TESSERAD_MASTER_KEY", MASTER_KEY)
                .env_remove("TESSERAD_CONFIG")
                .output()
                .unwrap();
            let shown = text(&out);
            assert!(!out.status.success(), "{command:?} {url}: {shown}");
            assert_hidden(&shown);
            assert!(shown.contains("error"), "{shown}");
        }
    }
}

/// A config file whose broken line holds a secret: the error says which line,
/// not what it holds.
#[test]
fn a_config_error_does_not_quote_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tesserad.toml");
    std::fs::write(
        &config,
        format!("listen = \"127.0.0.1:0\"\ndatabase_ur = \"postgres://app:{DB_PASSWORD}@h/db\"\n"),
    )
    .unwrap();
    let out = Command::new(TESSERAD)
        .args(["migrate", "--config", config.to_str().unwrap()])
        .env("TESSERAD_MASTER_KEY", MASTER_KEY)
        .output()
        .unwrap();
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(2), "{shown}");
    assert_hidden(&shown);
    assert!(shown.contains("line 2"), "{shown}");
    assert!(shown.contains("database_ur"), "{shown}");
}

/// Secrets in a config file other users can read: a warning that names them and
/// the fix, never their values; none once the file is private.
#[cfg(unix)]
#[test]
fn a_config_file_others_can_read_is_warned_about_without_its_secrets() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tesserad.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = \"{}\"\nmaster_key = \"{MASTER_KEY}\"\n\
             smtp_url = \"smtps://mailer:{SMTP_PASSWORD}@127.0.0.1:1\"\n",
            dir.path().join("tesserad.db").display()
        ),
    )
    .unwrap();
    let migrate = |mode: u32| {
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = Command::new(TESSERAD)
            .args(["migrate", "--config", config.to_str().unwrap()])
            .env_remove("TESSERAD_MASTER_KEY")
            .output()
            .unwrap();
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(0), "{shown}");
        assert_hidden(&shown);
        shown
    };
    let shown = migrate(0o644);
    assert!(
        shown.contains("holds secrets (master_key, smtp_url)")
            && shown.contains("mode 0644")
            && shown.contains("chmod 600")
            && shown.contains("TESSERAD_MASTER_KEY, TESSERAD_SMTP_URL"),
        "{shown}"
    );
    let shown = migrate(0o600);
    assert!(!shown.contains("holds secrets"), "{shown}");
}

backend_tests!(a_running_server_logs_no_secret);

/// Start-up, mail that cannot be delivered, and debug logging: the log names
/// the database and SMTP server without their passwords.
async fn a_running_server_logs_no_secret(backend: Backend) {
    let smtp = format!("smtps://mailer:{SMTP_PASSWORD}@127.0.0.1:1");
    let created = Database::create(backend);
    let db = if backend == Backend::Postgres {
        // The test server trusts loopback, so a password in the URL is carried
        // everywhere the URL goes yet never checked: what this test needs.
        let mut url = url::Url::parse(&created.url).unwrap();
        url.set_password(Some(DB_PASSWORD)).unwrap();
        Database::existing(backend, url.as_str())
    } else {
        created.clone()
    };
    let server = Server::start_on(db, MASTER_KEY.to_owned(), &["--smtp-url", &smtp]);
    let demo = server.demo_account().await;
    let sent = server
        .http()
        .post(server.endpoint("/v1/auth/otp"))
        .json(&serde_json::json!({ "email": demo.email }))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    // The failed delivery is logged in the background; wait for that line.
    let mut logs = String::new();
    for _ in 0..100 {
        logs = server.logs();
        if logs.contains("sending a one-time code failed") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(logs.contains("sending a one-time code failed"), "{logs}");
    assert!(logs.contains("tesserad ready"), "{logs}");
    assert_hidden(&logs);
}
