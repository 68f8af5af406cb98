//! The OAuth endpoints working as they should: discovery, client credentials
//! (both client authentication methods, `customer_key`), code flow with refresh,
//! device flow, introspection, revocation, the token URL, and the token metrics.

use crate::oauth_support::*;
use crate::support::{Backend, Server, json};
use reqwest::StatusCode;
use tessera_server::oauth::device;

backend_tests!(
    discovery_lists_everything,
    client_credentials_both_auth_methods,
    client_credentials_with_customer_key,
    code_flow_with_refresh,
    device_flow,
    introspection_and_revocation,
    session_token_is_level_0_and_single_use,
    tokens_are_counted,
    public_app_with_well_known_id,
);

async fn discovery_lists_everything(backend: Backend) {
    let server = Server::start(backend).await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let doc = json(server.get(path, None).await).await;
        assert_eq!(doc["issuer"], server.url.as_str());
        for (field, endpoint) in [
            ("authorization_endpoint", "/oauth/authorize"),
            ("token_endpoint", "/oauth/token"),
            (
                "device_authorization_endpoint",
                "/oauth/device_authorization",
            ),
            ("revocation_endpoint", "/oauth/revoke"),
            ("introspection_endpoint", "/oauth/introspect"),
            ("jwks_uri", "/.well-known/jwks.json"),
        ] {
            assert_eq!(doc[field], format!("{}{endpoint}", server.url), "{field}");
        }
        assert_eq!(
            doc["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        let grants = doc["grant_types_supported"].as_array().unwrap();
        for grant in [
            "authorization_code",
            "client_credentials",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:device_code",
        ] {
            assert!(grants.iter().any(|g| g == grant), "{grant}");
        }
        let methods = doc["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap();
        assert!(methods.iter().any(|m| m == "client_secret_basic"));
        assert!(methods.iter().any(|m| m == "client_secret_post"));
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    }
}

async fn client_credentials_both_auth_methods(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    let app = confidential_app(&server, &demo.email, &[]);
    let (status, basic) = token(
        &server,
        &[("grant_type", "client_credentials")],
        Some((&app.client_id, &app.client_secret)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{basic}");
    assert_eq!(basic["token_type"], "Bearer");
    assert_eq!(basic["expires_in"], 3600);
    assert_eq!(basic["scope"], "THIRD_PARTY_OPERATION");
    assert!(basic.get("refresh_token").is_none());
    let (status, post) = token(
        &server,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &app.client_id),
            ("client_secret", &app.client_secret),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{post}");
    // The app's own token acts for the app's account.
    let me = me(&server, &post["access_token"]).await;
    assert_eq!(me["account_id"], demo.account_id.as_str());
    assert_eq!(me["client_id"], app.client_id.as_str());
    assert_eq!(me["credential"], "access_token");
}

async fn client_credentials_with_customer_key(backend: Backend) {
    let server = Server::start(backend).await;
    let vendor = server.demo_account().await;
    let customer = server.demo_account().await;
    let app = confidential_app(&server, &vendor.email, &[]);
    let (status, body) = customer_key_token(&server, &app, &customer.key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let me = me(&server, &body["access_token"]).await;
    assert_eq!(me["account_id"], customer.account_id.as_str());
    assert_eq!(me["scope"], "THIRD_PARTY_OPERATION");

    // A key with another scope passes that scope on, so the platform API says 403.
    let narrow = server.admin(&[
        "api-key",
        "create",
        "--account",
        &customer.email,
        "--scope",
        "read_only",
    ]);
    let (status, body) = customer_key_token(&server, &app, narrow["key"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "read_only");
    let response = me_response(&server, &body["access_token"]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(json(response).await["code"], 200100);

    // A revoked key is refused.
    server.admin(&["api-key", "revoke", &customer.key_id]);
    let (status, body) = customer_key_token(&server, &app, &customer.key).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
}

async fn code_flow_with_refresh(backend: Backend) {
    let server = Server::start(backend).await;
    let domain = domain(&server).await;
    let demo = server.demo_account().await;
    let cli = public_app(&server, &demo.email, "lofty-cli");
    let tokens = code_flow(&server, &domain, &cli, &demo.account_id).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["refresh_token"].as_str().unwrap().starts_with("rt_"));
    let me = me(&server, &tokens["access_token"]).await;
    assert_eq!(me["account_id"], demo.account_id.as_str());
    assert_eq!(me["client_id"], "lofty-cli");
    let (status, refreshed) = token(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &cli),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_eq!(
        me_status(&server, &refreshed["access_token"]).await,
        StatusCode::OK
    );
    // The old access token stays valid until it expires (only replay revokes).
    assert_eq!(
        me_status(&server, &tokens["access_token"]).await,
        StatusCode::OK
    );
}

async fn device_flow(backend: Backend) {
    let server = Server::start(backend).await;
    let domain = domain(&server).await;
    let demo = server.demo_account().await;
    let cli = public_app(&server, &demo.email, "llamactl");
    let (status, _, auth) = post_form(
        &server,
        "/oauth/device_authorization",
        &[("client_id", &cli)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{auth}");
    let user_code = auth["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9);
    assert_eq!(auth["verification_uri"], format!("{}/device", server.url));
    assert_eq!(
        auth["verification_uri_complete"],
        format!("{}/device?user_code={user_code}", server.url)
    );
    assert_eq!(auth["expires_in"], 600);
    let pending = device::lookup(
        &domain,
        user_code,
        "127.0.0.1".parse().unwrap(),
        domain.now(),
    )
    .await
    .unwrap();
    assert_eq!(pending.client_name, "A CLI");
    assert_eq!(pending.scope.to_string(), "THIRD_PARTY_OPERATION");
    device::approve(&domain, user_code, &demo.account_id, domain.now())
        .await
        .unwrap();
    let (status, tokens) = token(
        &server,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", &cli),
            ("device_code", auth["device_code"].as_str().unwrap()),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(tokens["refresh_token"].is_string());
    assert_eq!(
        me_status(&server, &tokens["access_token"]).await,
        StatusCode::OK
    );
}

async fn introspection_and_revocation(backend: Backend) {
    let server = Server::start(backend).await;
    let domain = domain(&server).await;
    let demo = server.demo_account().await;
    let app = confidential_app(&server, &demo.email, &[]);
    let basic = Some((app.client_id.as_str(), app.client_secret.as_str()));
    let (_, cc) = token(&server, &[("grant_type", "client_credentials")], basic).await;
    let at = cc["access_token"].as_str().unwrap();
    let (status, headers, body) =
        post_form(&server, "/oauth/introspect", &[("token", at)], basic).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], app.client_id.as_str());
    assert_eq!(body["sub"], demo.account_id.as_str());
    assert_eq!(body["scope"], "THIRD_PARTY_OPERATION");
    assert_eq!(body["iss"], server.url.as_str());
    assert!(body["exp"].as_i64().unwrap() > body["iat"].as_i64().unwrap());

    let cli = public_app(&server, &demo.email, "lofty-cli");
    let tokens = code_flow(&server, &domain, &cli, &demo.account_id).await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    // Another client's refresh token: the answer for an unknown token (RFC
    // 6749 §10.4, RFC 7662 §4).
    let (_, _, body) = post_form(&server, "/oauth/introspect", &[("token", rt)], basic).await;
    assert_eq!(body, serde_json::json!({"active": false}));

    // Revoking someone else's token does nothing (and says nothing).
    let (status, _, _) = post_form(
        &server,
        "/oauth/revoke",
        &[("token", tokens["access_token"].as_str().unwrap())],
        basic,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        me_status(&server, &tokens["access_token"]).await,
        StatusCode::OK
    );
    // Unknown tokens: 200 as well (RFC 7009 §2.2).
    let (status, _, _) = post_form(&server, "/oauth/revoke", &[("token", "garbage")], basic).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = post_form(&server, "/oauth/revoke", &[("token", at)], basic).await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, body) = post_form(&server, "/oauth/introspect", &[("token", at)], basic).await;
    assert_eq!(body, serde_json::json!({"active": false}));
}

async fn session_token_is_level_0_and_single_use(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    let session = server.admin(&["session", "create", "--account", &demo.email]);
    let token_url = session["token_url"].as_str().unwrap();
    assert_eq!(token_url, format!("{}/oauth/session-token", server.url));
    let session_id = session["session_id"].as_str().unwrap();
    let send = || {
        server
            .http()
            .post(token_url)
            .form(&[("session_id", session_id)])
            .send()
    };
    let response = send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = json(response).await;
    assert_eq!(body["acr"], "0");
    assert!(body["expires_in"].as_u64().unwrap() <= 900);
    let me = me(&server, &body["access_token"]).await;
    assert_eq!(me["acr"], "0");
    assert_eq!(me["account_id"], demo.account_id.as_str());
    let response = send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(response).await["error"], "invalid_grant");
}

async fn tokens_are_counted(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    let app = confidential_app(&server, &demo.email, &[]);
    let (status, _) = token(
        &server,
        &[("grant_type", "client_credentials")],
        Some((&app.client_id, &app.client_secret)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = session_token(&server, &demo.email).await;
    assert_eq!(status, StatusCode::OK);
    let metrics = server.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains(r#"tesserad_tokens_issued_total{grant="client_credentials"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"tesserad_tokens_issued_total{grant="session"} 1"#));
    assert!(metrics.contains(r#"tesserad_tokens_issued_total{grant="device_code"} 0"#));
}

/// `admin app create --public --client-id lofty-cli`: no secret, the loopback
/// redirect URI by default, the public grants.
async fn public_app_with_well_known_id(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    for id in ["lofty-cli", "llamactl"] {
        let app = server.admin(&[
            "app",
            "create",
            "--account",
            &demo.email,
            "--name",
            id,
            "--public",
            "--client-id",
            id,
        ]);
        assert_eq!(app["client_id"], id);
        assert!(app.get("client_secret").is_none());
        assert_eq!(
            app["grant_types"],
            serde_json::json!(["authorization_code", "refresh_token", "device_code"])
        );
        assert_eq!(app["redirect_uris"], serde_json::json!([LOOPBACK]));
        assert_eq!(
            app["dpop"], "optional",
            "stock clients send no proofs; tokens are bound when a client does"
        );
    }
}

/// `serve --dev`: the public apps of `tessera` and the seed CLIs are there
/// (device login works out of the box), admin commands work on its database,
/// and outgoing mail is printed to the terminal.
#[tokio::test]
async fn dev_server_has_the_cli_app_and_prints_mail() {
    let mut dev = crate::support::DevServer::start(&["--no-rate-limit"]);
    let (url, printed) = (dev.url.clone(), &dev.printed);
    assert!(printed.contains("tessera-cli"), "{printed}");
    let http = reqwest::Client::new();
    for client_id in ["tessera-cli", "lofty-cli", "llamactl"] {
        let response = http
            .post(format!("{url}/oauth/device_authorization"))
            .form(&[("client_id", client_id)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{client_id}");
    }
    // Admin commands reach the throwaway database: its master key is beside it.
    let database = printed
        .lines()
        .find_map(|l| l.split("throwaway database at ").nth(1))
        .expect("the database is printed")
        .trim()
        .to_owned();
    let created = std::process::Command::new(crate::support::TESSERAD)
        .args([
            "admin",
            "--database",
            &database,
            "--json",
            "api-key",
            "create",
        ])
        .args(["--account", "demo@example.com"])
        .env_remove("TESSERAD_MASTER_KEY")
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let response = http
        .post(format!("{url}/v1/auth/otp"))
        .json(&serde_json::json!({"email": "demo@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let mut mail = String::new();
    loop {
        let line = dev.next_line();
        mail.push_str(&line);
        mail.push('\n');
        if line.starts_with("--- end of mail") {
            break;
        }
    }
    assert!(mail.contains("--- mail to demo@example.com ---"), "{mail}");
    assert!(mail.contains("Your one-time code is "), "{mail}");
    dev.terminate();
}
