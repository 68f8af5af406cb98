//! API keys over HTTP: `/v1/me`, the key endpoints, revocation, expiry, scope,
//! signing-key rotation.

use crate::support::{Backend, Server, json};
use reqwest::StatusCode;
use reqwest::header::WWW_AUTHENTICATE;

backend_tests!(
    me_with_api_key,
    projects_of_the_account,
    revocation_is_immediate,
    a_leaked_key_is_revoked_by_pasting_it,
    expired_key_is_rejected,
    key_without_scope_gets_403_200100,
    api_key_endpoints,
    keys_survive_rotation,
    deployment_prefix,
);

async fn me_with_api_key(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    let response = server.get("/v1/me", demo.auth().as_deref()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let me = json(response).await;
    assert_eq!(me["account_id"], demo.account_id.as_str());
    assert_eq!(me["email"], demo.email.as_str());
    assert_eq!(me["credential"], "api_key");
    assert_eq!(me["credential_id"], demo.key_id.as_str());
    assert_eq!(me["scope"], "THIRD_PARTY_OPERATION");

    let response = server.get("/v1/me", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
}

async fn projects_of_the_account(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    let other = server.demo_account().await;
    server.admin(&[
        "project",
        "create",
        "--account",
        &demo.email,
        "--name",
        "Mine",
    ]);
    server.admin(&[
        "project",
        "create",
        "--account",
        &other.email,
        "--name",
        "Theirs",
    ]);
    let body = json(server.get("/v1/projects", demo.auth().as_deref()).await).await;
    let names: Vec<&str> = body["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Mine"]);
}

async fn revocation_is_immediate(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    assert_eq!(
        server.get("/v1/me", demo.auth().as_deref()).await.status(),
        StatusCode::OK
    );
    server.admin(&["api-key", "revoke", &demo.key_id]);
    let response = server.get("/v1/me", demo.auth().as_deref()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()[WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    assert!(
        json(response).await["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
}

/// Incident response starts from the leaked key, not its id: `api-key revoke
/// -` reads it from stdin (out of `ps` and shell history) and revokes exactly
/// that key. An altered key names nothing, and is never printed back.
async fn a_leaked_key_is_revoked_by_pasting_it(backend: Backend) {
    use std::io::Write as _;
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    let revoke = |args: &[&str], stdin: &str| {
        let mut child = server
            .admin_command()
            .args(["--json", "api-key", "revoke"])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    // One character of the signature changed: signed by no one, so no key.
    let mut altered = demo.key.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == 'A' { 'B' } else { 'A' });
    let out = revoke(&[&altered], "");
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("not an API key of this server"), "{said}");
    assert!(!said.contains(&altered[..20]), "the key is echoed: {said}");
    assert_eq!(
        server.get("/v1/me", demo.auth().as_deref()).await.status(),
        StatusCode::OK
    );

    let out = revoke(&["-"], &format!("{}\n", demo.key));
    let answer = tessera_testkit::json_stdout("tesserad admin", &out);
    assert_eq!(answer["id"], demo.key_id.as_str());
    assert_eq!(answer["already_revoked"], false);
    assert_eq!(
        server.get("/v1/me", demo.auth().as_deref()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let out = revoke(&[&demo.key], "");
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["already_revoked"], true);
}

async fn expired_key_is_rejected(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    // An expiry in the past: the check is the same one a key hits when its time
    // runs out, without waiting for it.
    let key = server.admin(&[
        "api-key",
        "create",
        "--account",
        &demo.email,
        "--expires-at",
        "2020-01-01T00:00:00Z",
    ]);
    let response = server
        .get(
            "/v1/me",
            Some(&format!("token {}", key["key"].as_str().unwrap())),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        json(response).await["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );

    let later = server.admin(&[
        "api-key",
        "create",
        "--account",
        &demo.email,
        "--expires-at",
        "2999-01-01T00:00:00Z",
    ]);
    let response = server
        .get(
            "/v1/me",
            Some(&format!("token {}", later["key"].as_str().unwrap())),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json(response).await["expires_at"], 32_472_144_000_i64);
}

async fn key_without_scope_gets_403_200100(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    let key = server.admin(&[
        "api-key",
        "create",
        "--account",
        &demo.email,
        "--scope",
        "read:other",
    ]);
    let auth = format!("token {}", key["key"].as_str().unwrap());
    for path in ["/v1/me", "/v1/projects", "/v1/api-keys"] {
        let response = server.get(path, Some(&auth)).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        // Counted against the account's app, as every authenticated answer.
        for header in [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
        ] {
            assert!(response.headers().contains_key(header), "{path}: {header}");
        }
        let body = json(response).await;
        assert_eq!(body["code"], 200100);
        assert_eq!(body["error"], "insufficient_scope");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("THIRD_PARTY_OPERATION")
        );
    }
}

async fn api_key_endpoints(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    let other = server.demo_account().await;
    let http = server.http();
    let auth = demo.auth().unwrap();

    let created = http
        .post(server.endpoint("/v1/api-keys"))
        .header("authorization", &auth)
        .json(&serde_json::json!({"name": "ci", "expires_in": "1h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    // The body is a new secret: no cache may keep it (RFC 9111 §5.2.2.5).
    assert_eq!(created.headers()["cache-control"], "no-store");
    assert_eq!(created.headers()["pragma"], "no-cache");
    let created = json(created).await;
    let new_key = created["key"].as_str().unwrap().to_owned();
    assert!(created["expires_at"].is_string());
    assert_eq!(created["scope"], "THIRD_PARTY_OPERATION");
    let new_auth = format!("token {new_key}");
    assert_eq!(
        server.get("/v1/me", Some(&new_auth)).await.status(),
        StatusCode::OK
    );

    // An expiring key cannot make a key that outlives it: without
    // `expires_in` the new key inherits its expiry, a later one is refused.
    let create_with = |authorization: String, body: serde_json::Value| {
        let request = http.post(server.endpoint("/v1/api-keys"));
        async move {
            let response = request
                .header("authorization", authorization)
                .json(&body)
                .send()
                .await
                .unwrap();
            (response.status(), json(response).await)
        }
    };
    let (status, inherited) = create_with(new_auth.clone(), serde_json::json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{inherited}");
    assert_eq!(inherited["expires_at"], created["expires_at"]);
    let (status, body) =
        create_with(new_auth.clone(), serde_json::json!({"expires_in": "2h"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("cannot outlive it")
    );
    // A field the server does not know is refused, not ignored: an ignored
    // `expires_at` would make a key that never expires.
    let (status, body) = create_with(
        auth.clone(),
        serde_json::json!({"expires_at": "2030-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("expires_at"));

    // Empty body: defaults.
    let plain = http
        .post(server.endpoint("/v1/api-keys"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::CREATED);

    // No escalation: a key can only carry the caller's scopes.
    let escalate = http
        .post(server.endpoint("/v1/api-keys"))
        .header("authorization", &auth)
        .json(&serde_json::json!({"scope": "THIRD_PARTY_OPERATION admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(escalate.status(), StatusCode::BAD_REQUEST);

    let list = json(server.get("/v1/api-keys", Some(&auth)).await).await;
    let keys = list["api_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 4);
    assert!(keys.iter().all(|k| k.get("key").is_none()));

    // Another account's key is not found, and stays valid.
    let delete_other = http
        .delete(server.endpoint(&format!("/v1/api-keys/{}", other.key_id)))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(delete_other.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        server.get("/v1/me", other.auth().as_deref()).await.status(),
        StatusCode::OK
    );

    let id = created["id"].as_str().unwrap();
    let delete = http
        .delete(server.endpoint(&format!("/v1/api-keys/{id}")))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        server.get("/v1/me", Some(&new_auth)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let list = json(server.get("/v1/api-keys", Some(&auth)).await).await;
    let revoked = list["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id)
        .unwrap()
        .clone();
    assert!(revoked["revoked_at"].is_i64());
}

async fn keys_survive_rotation(backend: Backend) {
    let server = Server::start(backend).await;
    let before = server.demo_account().await;
    let jwks_before = json(server.get("/.well-known/jwks.json", None).await).await;
    assert_eq!(jwks_before["keys"].as_array().unwrap().len(), 1);
    let rotated = server.admin(&["keys", "rotate"]);
    // A key signed by the new signing key, created by another process: the server
    // learns the new kid from the database on first sight.
    let after = server.demo_account().await;
    assert_eq!(
        server
            .get("/v1/me", before.auth().as_deref())
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        server.get("/v1/me", after.auth().as_deref()).await.status(),
        StatusCode::OK
    );
    let header = crate::support::jws_parts(&after.key).0;
    let header: serde_json::Value =
        serde_json::from_slice(&crate::support::b64url_decode(&header)).unwrap();
    assert_eq!(header["kid"], rotated["kid"]);
    assert_eq!(header["alg"], "EdDSA");
    let jwks = json(server.get("/.well-known/jwks.json", None).await).await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(kids.contains(&rotated["kid"].as_str().unwrap()), "{kids:?}");
    assert_eq!(kids.len(), 2, "the old key stays while its API keys live");
}

async fn deployment_prefix(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    let out = std::process::Command::new(crate::support::TESSERAD)
        .args([
            "admin",
            "--json",
            "api-key",
            "create",
            "--account",
            &demo.email,
        ])
        .env("TESSERAD_DATABASE_URL", &server.database.url)
        .env("TESSERAD_MASTER_KEY", &server.master_key)
        .env("TESSERAD_API_KEY_PREFIX", "lk_")
        .output()
        .unwrap();
    let key = tessera_testkit::json_stdout("tesserad admin", &out);
    let key = key["key"].as_str().unwrap();
    assert!(key.starts_with("lk_eyJ"), "{key}");
    let response = server.get("/v1/me", Some(&format!("token {key}"))).await;
    assert_eq!(response.status(), StatusCode::OK);
}
