//! `tesserad admin --json`: the field names DESIGN.md's contract promises.

use crate::support::{Backend, Server};

backend_tests!(
    admin_json_contract,
    admin_flags_anywhere_after_admin,
    admin_errors_exit_nonzero,
    admin_trust_list_of_an_unknown_app_is_not_found,
    admin_json_refusals_of_the_command_line_are_json,
    admin_on_a_database_that_does_not_exist_creates_nothing,
    admin_json_warnings_do_not_precede_a_refusal,
    admin_without_an_issuer_names_the_running_server,
    a_leaked_app_secret_is_rotated_and_an_app_deleted_from_the_shell
);

async fn admin_json_contract(backend: Backend) {
    let server = Server::start(backend).await;
    let account = server.admin(&["account", "create", "--email", "Alice@Example.com"]);
    assert!(account["id"].as_str().unwrap().starts_with("acct_"));
    assert_eq!(account["email"], "alice@example.com");

    let project = server.admin(&[
        "project",
        "create",
        "--account",
        "alice@example.com",
        "--name",
        "P1",
    ]);
    assert!(project["id"].is_string());
    assert_eq!(project["name"], "P1");

    let app = server.admin(&[
        "app",
        "create",
        "--account",
        "alice@example.com",
        "--name",
        "Web",
        "--redirect-uri",
        "https://app.example.com/cb",
    ]);
    assert!(app["client_id"].is_string());
    assert!(app["client_secret"].as_str().unwrap().len() >= 32);
    assert_eq!(app["name"], "Web");
    assert_eq!(app["mode"], "development");
    assert_eq!(
        app["grant_types"],
        serde_json::json!([
            "client_credentials",
            "authorization_code",
            "refresh_token",
            "device_code"
        ])
    );

    let public = server.admin(&[
        "app",
        "create",
        "--account",
        "alice@example.com",
        "--name",
        "Lofty CLI",
        "--public",
        "--client-id",
        "lofty-cli",
        "--mode",
        "production",
        "--redirect-uri",
        "http://127.0.0.1/callback",
    ]);
    assert_eq!(public["client_id"], "lofty-cli");
    assert!(public.get("client_secret").is_none(), "{public}");
    assert_eq!(public["mode"], "production");
    assert_eq!(
        public["grant_types"],
        serde_json::json!(["authorization_code", "refresh_token", "device_code"])
    );

    let restricted = server.admin(&[
        "app",
        "create",
        "--account",
        "alice@example.com",
        "--name",
        "Batch",
        "--grant",
        "client_credentials",
    ]);
    assert_eq!(
        restricted["grant_types"],
        serde_json::json!(["client_credentials"])
    );

    let key = server.admin(&["api-key", "create", "--account", "alice@example.com"]);
    assert!(key["id"].as_str().unwrap().starts_with("key_"));
    assert!(key["key"].as_str().unwrap().starts_with("eyJ"));
    assert_eq!(key["scope"], "THIRD_PARTY_OPERATION");
    assert!(key["expires_at"].is_null());

    let expiring = server.admin(&[
        "api-key",
        "create",
        "--account",
        "alice@example.com",
        "--expires-in",
        "30d",
    ]);
    let expires_at = expiring["expires_at"].as_str().unwrap();
    assert!(expires_at.ends_with('Z'), "{expires_at}");

    let session = server.admin(&["session", "create", "--account", "alice@example.com"]);
    assert!(session["session_id"].as_str().unwrap().len() >= 32);
    assert_eq!(
        session["token_url"],
        format!("{}/oauth/session-token", server.url)
    );

    let rotated = server.admin(&["keys", "rotate"]);
    assert!(rotated["kid"].as_str().unwrap().starts_with("sk_"));

    let list = server.admin(&["api-key", "list"]);
    let listed = list["api_keys"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed.iter().all(|k| k.get("key").is_none()),
        "a listing never shows keys"
    );

    let revoked = server.admin(&["api-key", "revoke", key["id"].as_str().unwrap()]);
    assert_eq!(revoked["revoked"], true);
}

async fn admin_flags_anywhere_after_admin(backend: Backend) {
    let server = Server::start(backend).await;
    // `--json` and `--database` before the noun, between, and at the end.
    let out = std::process::Command::new(crate::support::TESSERAD)
        .args([
            "admin",
            "--json",
            "--database",
            &server.database.url,
            "account",
            "create",
            "--email",
            "a@x.io",
        ])
        .env("TESSERAD_MASTER_KEY", &server.master_key)
        .output()
        .unwrap();
    let v = tessera_testkit::json_stdout("tesserad admin", &out);
    assert_eq!(v["email"], "a@x.io");
    let out = std::process::Command::new(crate::support::TESSERAD)
        .args([
            "admin",
            "project",
            "--database",
            &server.database.url,
            "create",
            "--account",
            "a@x.io",
            "--name",
            "n",
            "--json",
        ])
        .env("TESSERAD_MASTER_KEY", &server.master_key)
        .output()
        .unwrap();
    let v = tessera_testkit::json_stdout("tesserad admin", &out);
    assert_eq!(v["name"], "n");
}

async fn admin_errors_exit_nonzero(backend: Backend) {
    let server = Server::start(backend).await;
    server.admin(&["account", "create", "--email", "dup@example.com"]);
    let dup = server.admin_output(&["account", "create", "--email", "dup@example.com"]);
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
    // With --json, the error is JSON too: what, which kind, which exit code.
    let said = |out: &std::process::Output| -> serde_json::Value {
        serde_json::from_slice(&out.stderr)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
    };
    assert_eq!(said(&dup)["kind"], "conflict");
    assert_eq!(said(&dup)["exit_code"], 1);
    let missing = server.admin_output(&["api-key", "create", "--account", "nobody@example.com"]);
    assert!(!missing.status.success());
    assert_eq!(said(&missing)["kind"], "not_found");
    let bad = server.admin_output(&["account", "create", "--email", "a@@example.com"]);
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(said(&bad)["kind"], "usage");
    let public_cc = server.admin_output(&[
        "app",
        "create",
        "--account",
        "dup@example.com",
        "--name",
        "x",
        "--public",
        "--grant",
        "client_credentials",
    ]);
    assert!(!public_cc.status.success());
}

/// `trust list --app` with a client id no app has says so (exit 1,
/// `not_found`), as `api-key list --account` does for an unknown email,
/// rather than "No trust rules." for a typo.
async fn admin_trust_list_of_an_unknown_app_is_not_found(backend: Backend) {
    let server = Server::start(backend).await;
    let out = server.admin_output(&["trust", "list", "--app", "no-such-app"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(said["kind"], "not_found", "{said}");
    assert!(
        said["error"].as_str().unwrap().contains("no-such-app"),
        "{said}"
    );
    // An app without rules still lists none.
    let owner = server.admin(&["account", "create", "--email", "t@example.com"]);
    let app = server.admin(&[
        "app",
        "create",
        "--account",
        owner["email"].as_str().unwrap(),
        "--name",
        "ci",
    ]);
    let listed = server.admin(&["trust", "list", "--app", app["client_id"].as_str().unwrap()]);
    assert_eq!(listed, serde_json::json!([]));
}

/// With `--json`, a value clap refuses (a bad duration, a missing flag) is
/// the same JSON error object on stderr as any other error (README), exit 2;
/// help stays text.
async fn admin_json_refusals_of_the_command_line_are_json(backend: Backend) {
    let server = Server::start(backend).await;
    for args in [
        &[
            "api-key",
            "create",
            "--account",
            "a@example.com",
            "--expires-in",
            "1x",
        ][..],
        &["app", "update", "some-app", "--rate-limit", "0/min"],
        &["account", "create"],
        &["account", "frobnicate"],
    ] {
        let out = server.admin_output(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let said: serde_json::Value = serde_json::from_slice(&out.stderr)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stderr)));
        assert_eq!(said["kind"], "usage", "{said}");
        assert_eq!(said["exit_code"], 2, "{said}");
        let error = said["error"].as_str().unwrap();
        assert!(!error.is_empty() && !error.starts_with("error:"), "{said}");
    }
    let help = server.admin_output(&["account", "create", "--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("Usage"));
}

/// A SQLite path with no database behind it (a typo) is refused (exit 2,
/// JSON with `--json`) by every command that works on what a database holds,
/// and nothing is created there; `account create` and `keys rotate` may
/// start a new one.
async fn admin_on_a_database_that_does_not_exist_creates_nothing(backend: Backend) {
    if backend != Backend::Sqlite {
        return;
    }
    let server = Server::start(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("state").join("tesserad.db");
    let typo = typo.to_str().unwrap();
    for args in [
        &["api-key", "revoke", "key_x"][..],
        &["api-key", "list"],
        &["app", "delete", "some-app"],
        &["trust", "list"],
    ] {
        let out = server.admin_output(&[&["--database", typo][..], args].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let said: serde_json::Value = serde_json::from_slice(&out.stderr)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stderr)));
        assert!(
            said["error"].as_str().unwrap().contains("no database at"),
            "{said}"
        );
        assert!(
            !dir.path().join("state").exists(),
            "{args:?} left files behind"
        );
    }
    let out = server.admin_output(&[
        "--database",
        typo,
        "account",
        "create",
        "--email",
        "n@example.com",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(std::path::Path::new(typo).is_file());
}

/// `api-key create` warns of an unknown scope or a past expiry, but only
/// once the key is made: a refused command's stderr is the one JSON object.
async fn admin_json_warnings_do_not_precede_a_refusal(backend: Backend) {
    let server = Server::start(backend).await;
    let email = server.account();
    let refused = server.admin_output(&[
        "api-key",
        "create",
        "--account",
        &email,
        "--scope",
        "bogus",
        "--expires-in",
        "99999999999d",
    ]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let said: serde_json::Value = serde_json::from_slice(&refused.stderr)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&refused.stderr)));
    assert_eq!(said["kind"], "usage", "{said}");
    let made = server.admin_output(&["api-key", "create", "--account", &email, "--scope", "bogus"]);
    assert!(made.status.success(), "{made:?}");
    assert!(
        String::from_utf8_lossy(&made.stderr).contains("warning: no endpoint"),
        "{made:?}"
    );
}

/// An admin command given only the database (no `--issuer`, no `--listen`)
/// prints the running server's token URL: `serve` records its issuer.
async fn admin_without_an_issuer_names_the_running_server(backend: Backend) {
    let server = Server::start(backend).await;
    server.admin(&["account", "create", "--email", "a@example.com"]);
    let out = server
        .admin_command()
        .env_remove("TESSERAD_ISSUER")
        .args(["--json", "session", "create", "--account", "a@example.com"])
        .output()
        .unwrap();
    let session = tessera_testkit::json_stdout("tesserad admin", &out);
    assert_eq!(
        session["token_url"],
        format!("{}/oauth/session-token", server.url)
    );
}

/// Incident response without the console: a new secret ends the old one at
/// once; deleting the app ends its tokens.
async fn a_leaked_app_secret_is_rotated_and_an_app_deleted_from_the_shell(backend: Backend) {
    use crate::oauth_support::{confidential_app, me_status, token};
    use reqwest::StatusCode;
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    let app = confidential_app(&server, &demo.email, &[]);
    let grant = [("grant_type", "client_credentials")];
    let (status, issued) = token(&server, &grant, Some(app.basic())).await;
    assert_eq!(status, StatusCode::OK, "{issued}");

    let rotated = server.admin(&["app", "rotate-secret", &app.client_id]);
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, app.client_secret);
    let (status, _) = token(&server, &grant, Some(app.basic())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old secret is dead");
    let (status, _) = token(&server, &grant, Some((&app.client_id, new_secret))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        me_status(&server, &issued["access_token"]).await,
        StatusCode::OK
    );

    let deleted = server.admin(&["app", "delete", &app.client_id]);
    assert_eq!(deleted["deleted"], true);
    assert_eq!(
        me_status(&server, &issued["access_token"]).await,
        StatusCode::UNAUTHORIZED
    );
    let out = server.admin_output(&["app", "rotate-secret", &app.client_id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}
