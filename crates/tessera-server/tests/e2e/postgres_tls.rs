//! PostgreSQL over TLS: with `sslmode=verify-full&sslrootcert=CA` in the database
//! URL, tesserad's pool, its auth-cache lease and notification connections and
//! `tesserad admin` all reach a server that refuses unencrypted connections; a
//! certificate tesserad cannot check, or an unreadable `sslrootcert`, is a
//! configuration error (exit 2) that says what to change.

use crate::support::{
    Backend, Database, OwnPostgres, Server, TESSERAD, TestCertificate, config_error, master_key,
    postgres_available,
};
use reqwest::StatusCode;
use std::process::Output;

/// `tesserad migrate` against `url`.
fn migrate(url: &str) -> Output {
    std::process::Command::new(TESSERAD)
        .arg("migrate")
        .env("TESSERAD_DATABASE_URL", url)
        .env("TESSERAD_MASTER_KEY", master_key())
        .env_remove("TESSERAD_CONFIG")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_connection_is_encrypted_and_the_certificate_checked() {
    if !postgres_available() {
        return;
    }
    let certificate = TestCertificate::for_loopback();
    let pg = OwnPostgres::start_tls(&certificate);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &certificate.ca_pem).unwrap();
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        pg.url(),
        ca.display()
    );

    let a = Server::start_on(
        Database::existing(Backend::Postgres, &url),
        master_key(),
        &[],
    );
    let b = a.second_instance(&[]);
    let demo = a.demo_account().await;
    for server in [&a, &b] {
        let me = server.get("/v1/me", demo.auth().as_deref()).await;
        assert_eq!(me.status(), StatusCode::OK);
    }
    // A revocation through `tesserad admin` reaches both instances: their
    // leases and notifications run over TLS too.
    a.admin(&["api-key", "revoke", &demo.key_id]);
    for server in [&a, &b] {
        let me = server.get("/v1/me", demo.auth().as_deref()).await;
        assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    }

    // The CA left out: the built-in roots do not know it.
    let unchecked = migrate(&format!("{}?sslmode=verify-full", pg.url()));
    config_error(
        &unchecked,
        &["not issued by a CA tesserad trusts", "sslrootcert=PATH"],
    );

    // An sslrootcert that is not there.
    let missing = dir.path().join("no-such-ca.pem");
    let unreadable = migrate(&format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        pg.url(),
        missing.display()
    ));
    config_error(
        &unreadable,
        &[
            "cannot read the database's CA certificates",
            "no-such-ca.pem",
        ],
    );

    // Without TLS the server refuses, and says so.
    let plain = migrate(&format!("{}?sslmode=disable", pg.url()));
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert!(!plain.status.success(), "{stderr}");
    assert!(stderr.contains("no encryption"), "{stderr}");

    // With it, migrate is fine (and finds nothing to do).
    let checked = migrate(&url);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
}
