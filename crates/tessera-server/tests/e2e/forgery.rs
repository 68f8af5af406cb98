//! Forged and misused credentials: each is a 401 with `WWW-Authenticate`.

use crate::support::{Backend, Server, b64url, b64url_decode, json, jws_parts};
use reqwest::StatusCode;
use reqwest::header::WWW_AUTHENTICATE;

backend_tests!(
    alg_none_is_rejected,
    hs256_signed_with_the_public_key_is_rejected,
    unknown_kid_is_rejected,
    tampered_payload_is_rejected,
    wrong_header_scheme_is_rejected,
    truncated_and_garbage_tokens_are_rejected,
);

async fn assert_rejected(server: &Server, authorization: &str, why: &str) {
    let response = server.get("/v1/me", Some(authorization)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
    assert!(response.headers().contains_key(WWW_AUTHENTICATE), "{why}");
    let body = json(response).await;
    assert!(
        body["error"].is_string() && body["message"].is_string(),
        "{why}: {body}"
    );
}

fn header_json(header_b64: &str) -> serde_json::Value {
    serde_json::from_slice(&b64url_decode(header_b64)).unwrap()
}

async fn alg_none_is_rejected(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    let (header, payload, _) = jws_parts(&demo.key);
    let kid = header_json(&header)["kid"].clone();
    for alg in ["none", "None", "NONE"] {
        let forged_header = b64url(
            serde_json::json!({"alg": alg, "kid": kid})
                .to_string()
                .as_bytes(),
        );
        assert_rejected(&server, &format!("token {forged_header}.{payload}."), alg).await;
        assert_rejected(&server, &format!("token {forged_header}.{payload}"), alg).await;
    }
}

async fn hs256_signed_with_the_public_key_is_rejected(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    let (header, payload, _) = jws_parts(&demo.key);
    let kid = header_json(&header)["kid"].as_str().unwrap().to_owned();
    let jwks = json(server.get("/.well-known/jwks.json", None).await).await;
    let x = jwks["keys"][0]["x"].as_str().unwrap().to_owned();
    // The classic confusion: an HMAC keyed with bytes the attacker knows — the raw
    // public key, its base64url text, or the whole JWK.
    let candidates: Vec<Vec<u8>> = vec![
        b64url_decode(&x),
        x.as_bytes().to_vec(),
        jwks["keys"][0].to_string().into_bytes(),
    ];
    for alg in ["HS256", "HS384", "HS512"] {
        let forged_header = b64url(
            serde_json::json!({"alg": alg, "kid": kid, "typ": "JWT"})
                .to_string()
                .as_bytes(),
        );
        let signing_input = format!("{forged_header}.{payload}");
        for secret in &candidates {
            let algorithm = match alg {
                "HS256" => aws_lc_rs::hmac::HMAC_SHA256,
                "HS384" => aws_lc_rs::hmac::HMAC_SHA384,
                _ => aws_lc_rs::hmac::HMAC_SHA512,
            };
            let key = aws_lc_rs::hmac::Key::new(algorithm, secret);
            let tag = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
            let forged = format!("{signing_input}.{}", b64url(tag.as_ref()));
            assert_rejected(&server, &format!("token {forged}"), alg).await;
        }
    }
}

async fn unknown_kid_is_rejected(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    let (header, payload, signature) = jws_parts(&demo.key);
    let mut h = header_json(&header);
    for kid in [
        serde_json::json!("sk_does_not_exist"),
        serde_json::json!(""),
        serde_json::Value::Null,
    ] {
        h["kid"] = kid.clone();
        let forged = format!("{}.{payload}.{signature}", b64url(h.to_string().as_bytes()));
        assert_rejected(&server, &format!("token {forged}"), &format!("kid {kid}")).await;
    }
    h.as_object_mut().unwrap().remove("kid");
    let forged = format!("{}.{payload}.{signature}", b64url(h.to_string().as_bytes()));
    assert_rejected(&server, &format!("token {forged}"), "no kid").await;
}

async fn tampered_payload_is_rejected(backend: Backend) {
    let server = Server::start(backend).await;
    let victim = server.demo_account().await;
    let attacker = server.demo_account().await;
    let (header, payload, signature) = jws_parts(&attacker.key);
    let mut claims: serde_json::Value = serde_json::from_slice(&b64url_decode(&payload)).unwrap();
    claims["sub"] = serde_json::json!(victim.account_id);
    let forged = format!(
        "{header}.{}.{signature}",
        b64url(claims.to_string().as_bytes())
    );
    assert_rejected(&server, &format!("token {forged}"), "sub swapped").await;

    let mut claims: serde_json::Value = serde_json::from_slice(&b64url_decode(&payload)).unwrap();
    claims["exp"] = serde_json::json!(4_102_444_800_i64);
    claims["scope"] = serde_json::json!("THIRD_PARTY_OPERATION admin");
    let forged = format!(
        "{header}.{}.{signature}",
        b64url(claims.to_string().as_bytes())
    );
    assert_rejected(&server, &format!("token {forged}"), "claims widened").await;

    // A flipped signature byte.
    let mut sig = b64url_decode(&signature);
    sig[0] ^= 1;
    let forged = format!("{header}.{payload}.{}", b64url(&sig));
    assert_rejected(&server, &format!("token {forged}"), "signature flipped").await;
}

async fn wrong_header_scheme_is_rejected(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    let key = &demo.key;
    // An API key is not an access token: `Bearer` wants `token_use: access`.
    assert_rejected(&server, &format!("Bearer {key}"), "api key as bearer").await;
    assert_rejected(&server, &format!("Basic {key}"), "basic").await;
    assert_rejected(&server, key, "no scheme").await;
    assert_rejected(&server, &format!("ApiKey {key}"), "ApiKey scheme").await;
    assert_rejected(&server, "token", "scheme without credential").await;
    assert_rejected(&server, "token ", "empty credential").await;
}

async fn truncated_and_garbage_tokens_are_rejected(backend: Backend) {
    let server = Server::start(backend).await;
    let demo = server.demo_account().await;
    let (header, payload, signature) = jws_parts(&demo.key);
    for (why, value) in [
        ("two parts", format!("{header}.{payload}")),
        ("four parts", format!("{header}.{payload}.{signature}.x")),
        ("not base64", format!("{header}.{payload}.!!!")),
        ("header not json", format!("eyJub3Q.{payload}.{signature}")),
        ("garbage", "hello".to_owned()),
    ] {
        assert_rejected(&server, &format!("token {value}"), why).await;
    }
}
