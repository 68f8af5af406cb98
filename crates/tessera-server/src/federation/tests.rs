//! The token exchange in process: the router, a fixed clock, and an issuer on
//! a loopback port whose keys the test holds (so it can also sign what no
//! honest issuer would). The same refusals against real peers (npm
//! oidc-provider, a second tesserad) are in `tests/e2e/federation.rs`.

use super::testing::{Issuer, Signer, issuer};
use super::*;
use crate::apps::NewApp;
use crate::testing::{Fixture, body_json};
use axum::http::StatusCode;
use serde_json::json;
use tessera_proto::token::exchange;

const AUDIENCE: &str = "https://tessera.test";

struct Setup {
    fx: Fixture,
    issuer: Issuer,
    signer: Signer,
    client_id: String,
}

/// An app trusting `issuer` for `repo:acme/widgets:*` with `repository =
/// acme/widgets`, whose keys are one Ed25519 key `k1`.
async fn setup() -> Setup {
    let fx = Fixture::new().await;
    let account = fx.account("ci@example.com").await;
    let app = fx.app(&account, NewApp::named("ci")).await.app;
    let issuer = issuer().await;
    let signer = Signer::ed();
    issuer.publish(&[(&signer, "k1")]);
    let new = NewTrustRule {
        client_id: app.client_id.clone(),
        issuer: issuer.url.clone(),
        audience: AUDIENCE.into(),
        subject: Some("repo:acme/widgets:*".into()),
        claims: BTreeMap::from([("repository".into(), "acme/widgets".into())]),
        scope: None,
        reach: Reach::Anywhere,
    };
    add(&fx.state.store, None, new, fx.clock_now())
        .await
        .unwrap();
    Setup {
        fx,
        issuer,
        signer,
        client_id: app.client_id,
    }
}

impl Setup {
    /// Claims that the rule accepts, valid for ten minutes from now.
    fn claims(&self) -> Value {
        let now = self.fx.clock_now();
        json!({
            "iss": self.issuer.url, "aud": AUDIENCE, "sub": "repo:acme/widgets:ref:refs/heads/main",
            "repository": "acme/widgets", "iat": now, "nbf": now, "exp": now + 600,
            "jti": uuid::Uuid::new_v4().to_string(),
        })
    }

    fn token(&self, claims: &Value) -> String {
        self.signer.token("k1", claims)
    }

    async fn exchange(&self, subject_token: &str) -> (StatusCode, Value) {
        let response = self
            .fx
            .post_form(
                crate::oauth::PATH_TOKEN,
                &[
                    ("grant_type", exchange::GRANT_TYPE),
                    ("client_id", &self.client_id),
                    ("subject_token", subject_token),
                    ("subject_token_type", exchange::JWT),
                ],
            )
            .await;
        (response.status(), body_json(response).await)
    }

    /// The refusal's description, after checking it is `invalid_request`
    /// (RFC 8693 §2.2.2).
    async fn refused(&self, subject_token: &str) -> String {
        let (status, body) = self.exchange(subject_token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"], "invalid_request", "{body}");
        body["error_description"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn a_matching_token_becomes_a_short_lived_access_token_of_the_app() {
    let s = setup().await;
    let (status, body) = s.exchange(&s.token(&s.claims())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["issued_token_type"], exchange::ACCESS_TOKEN);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "THIRD_PARTY_OPERATION");
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(body["expires_in"].as_u64().unwrap() <= 3600);
    let token = body["access_token"].as_str().unwrap();
    let me = s.fx.get("/v1/me", &format!("Bearer {token}")).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(body_json(me).await["email"], "ci@example.com");
}

#[tokio::test]
async fn every_accepted_algorithm_works_and_others_are_refused() {
    let s = setup().await;
    let (rsa, ec) = (Signer::rsa(), Signer::ec());
    s.issuer
        .publish(&[(&s.signer, "k1"), (&rsa, "rsa"), (&ec, "ec")]);
    for (signer, kid) in [(&rsa, "rsa"), (&ec, "ec")] {
        let (status, body) = s.exchange(&signer.token(kid, &s.claims())).await;
        assert_eq!(status, StatusCode::OK, "{kid}: {body}");
    }
    // HS256 "signed" with the public key of kid rsa: the confusion attack.
    let hs = s
        .signer
        .sign(&json!({"alg": "HS256", "kid": "rsa"}), &s.claims());
    let why = s.refused(&hs).await;
    assert!(why.contains("algorithm 'HS256' is not accepted"), "{why}");
    let none = s
        .signer
        .sign(&json!({"alg": "none", "kid": "k1"}), &s.claims());
    assert!(s.refused(&none).await.contains("'none'"));
    let jku = json!({"alg": "EdDSA", "kid": "k1", "jku": "https://evil.example/jwks"});
    assert!(
        s.refused(&s.signer.sign(&jku, &s.claims()))
            .await
            .contains("jku")
    );
}

#[tokio::test]
async fn wrong_audience() {
    let s = setup().await;
    let mut claims = s.claims();
    claims["aud"] = json!("https://somewhere-else.test");
    let why = s.refused(&s.token(&claims)).await;
    assert!(why.contains("audience"), "{why}");
    // An array holding the audience is fine.
    claims["aud"] = json!(["https://somewhere-else.test", AUDIENCE]);
    assert_eq!(s.exchange(&s.token(&claims)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn wrong_issuer() {
    let s = setup().await;
    let mut claims = s.claims();
    claims["iss"] = json!("https://token.actions.githubusercontent.com");
    let why = s.refused(&s.token(&claims)).await;
    assert!(why.contains("trusts no issuer"), "{why}");
    assert_eq!(
        s.issuer.fetches(),
        0,
        "an untrusted issuer is never fetched"
    );
}

#[tokio::test]
async fn expired_and_not_yet_valid_with_a_minute_of_skew() {
    let s = setup().await;
    let token = s.token(&s.claims());
    s.fx.clock.advance(600 + SKEW_SECS);
    assert!(s.refused(&token).await.contains("expired"));
    let s = setup().await;
    // Within the skew: accepted.
    s.fx.clock.advance(600 + SKEW_SECS - 1);
    let mut claims = s.claims();
    claims["exp"] = json!(s.fx.clock_now() - SKEW_SECS + 1);
    assert_eq!(s.exchange(&s.token(&claims)).await.0, StatusCode::OK);
    let now = s.fx.clock_now();
    let mut early = s.claims();
    early["nbf"] = json!(now + SKEW_SECS + 1);
    assert!(
        s.refused(&s.token(&early))
            .await
            .contains("not valid before")
    );
    let mut future = s.claims();
    future["iat"] = json!(now + SKEW_SECS + 1);
    assert!(s.refused(&s.token(&future)).await.contains("in the future"));
    let mut no_exp = s.claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert!(s.refused(&s.token(&no_exp)).await.contains("no exp"));
    let mut forever = s.claims();
    forever["exp"] = json!(now + MAX_SUBJECT_LIFETIME_SECS + 1);
    assert!(s.refused(&s.token(&forever)).await.contains("24 hours"));
    // Numbers at the edges of what JSON holds: refused, no overflow.
    for (claim, value) in [
        ("exp", json!(1e300)),
        ("exp", json!(-1e300)),
        ("exp", json!(i64::MIN)),
        ("nbf", json!(i64::MIN)),
        ("iat", json!(u64::MAX)),
        ("exp", json!("tomorrow")),
    ] {
        let mut odd = s.claims();
        odd[claim] = value;
        let (status, body) = s.exchange(&s.token(&odd)).await;
        let accepted = claim == "nbf";
        assert_eq!(status == StatusCode::OK, accepted, "{claim}: {body}");
    }
}

#[tokio::test]
async fn replayed() {
    let s = setup().await;
    let token = s.token(&s.claims());
    assert_eq!(s.exchange(&token).await.0, StatusCode::OK);
    assert!(s.refused(&token).await.contains("already been exchanged"));
    // Another token with the same jti from the same issuer: also a replay.
    let mut same_jti = s.claims();
    same_jti["jti"] = s.claims()["jti"].clone();
    let first = s.token(&same_jti);
    assert_eq!(s.exchange(&first).await.0, StatusCode::OK);
    same_jti["sub"] = json!("repo:acme/widgets:ref:refs/heads/other");
    assert!(s.refused(&s.token(&same_jti)).await.contains("already"));
    // Without jti, the token itself is single use.
    let mut no_jti = s.claims();
    no_jti.as_object_mut().unwrap().remove("jti");
    let token = s.token(&no_jti);
    assert_eq!(s.exchange(&token).await.0, StatusCode::OK);
    assert!(s.refused(&token).await.contains("already"));
}

/// ECDSA signatures are malleable: `(r, n - s)` is as valid as `(r, s)`.
fn other_ecdsa_signature(token: &str) -> String {
    use base64::Engine as _;
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51,
    ];
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut signature = b64.decode(signature).unwrap();
    let s = &mut signature[32..];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(N[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(d < 0);
        s[i] = d.rem_euclid(256) as u8;
    }
    format!("{signed}.{}", b64.encode(signature))
}

/// A token without `jti` is single use by what it says, not by its bytes:
/// another signature over the same claims is the same token.
#[tokio::test]
async fn a_token_without_jti_is_not_exchanged_again_with_another_signature() {
    let s = setup().await;
    let ec = Signer::ec();
    s.issuer.publish(&[(&s.signer, "k1"), (&ec, "ec")]);
    let mut no_jti = s.claims();
    no_jti.as_object_mut().unwrap().remove("jti");
    let token = ec.token("ec", &no_jti);
    let twin = other_ecdsa_signature(&token);
    assert_ne!(twin, token);
    let key = jws::PublicKey::from_jwk(&ec.jwk("ec")).unwrap().unwrap();
    assert_eq!(jws::parse(&twin).unwrap().verify(&key), Ok(()), "valid too");
    assert_eq!(s.exchange(&token).await.0, StatusCode::OK);
    let why = s.refused(&twin).await;
    assert!(why.contains("already been exchanged"), "{why}");
}

#[tokio::test]
async fn claim_rule_not_matched() {
    let s = setup().await;
    let mut claims = s.claims();
    claims["repository"] = json!("acme/other");
    let why = s.refused(&s.token(&claims)).await;
    assert!(why.contains("repository ('acme/other')"), "{why}");
    let mut claims = s.claims();
    claims["sub"] = json!("repo:evil/widgets:ref:refs/heads/main");
    assert!(s.refused(&s.token(&claims)).await.contains("sub"));
    let mut claims = s.claims();
    claims.as_object_mut().unwrap().remove("repository");
    assert!(s.refused(&s.token(&claims)).await.contains("missing"));
}

#[tokio::test]
async fn unknown_kid_after_a_jwks_refresh() {
    let s = setup().await;
    assert_eq!(s.exchange(&s.token(&s.claims())).await.0, StatusCode::OK);
    assert_eq!(s.issuer.fetches(), 1);
    let stranger = Signer::ed();
    let why = s.refused(&stranger.token("k2", &s.claims())).await;
    assert!(why.contains("kid 'k2'"), "{why}");
    assert_eq!(s.issuer.fetches(), 2, "fetched again once for the new kid");
    // The issuer rotates to k2 later: after the throttle, it is found.
    s.issuer.publish(&[(&stranger, "k2")]);
    s.fx.clock
        .advance(jwks::FetchConfig::default().unknown_kid_interval_secs);
    let (status, body) = s.exchange(&stranger.token("k2", &s.claims())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A key of the right kid but another key: a bad signature.
    let forger = Signer::ed();
    assert!(
        s.refused(&forger.token("k2", &s.claims()))
            .await
            .contains("signature")
    );
}

/// Keys of different types may share a kid (RFC 7517 §4.5): each checks the
/// tokens of its own algorithm, whichever the JWKS lists first.
#[tokio::test]
async fn keys_of_different_types_may_share_a_kid() {
    let s = setup().await;
    let (rsa, ec) = (Signer::rsa(), Signer::ec());
    s.issuer.publish(&[(&rsa, "shared"), (&ec, "shared")]);
    for signer in [&ec, &rsa] {
        let (status, body) = s.exchange(&signer.token("shared", &s.claims())).await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", signer.alg());
    }
    let forger = Signer::ec();
    let why = s.refused(&forger.token("shared", &s.claims())).await;
    assert!(why.contains("signature"), "{why}");
}

#[tokio::test]
async fn issuer_unreachable() {
    let fx = Fixture::new().await;
    let account = fx.account("ci@example.com").await;
    let app = fx.app(&account, NewApp::named("ci")).await.app;
    let closed = tessera_testkit::closed_port_url();
    let new = NewTrustRule {
        client_id: app.client_id.clone(),
        issuer: closed.clone(),
        audience: AUDIENCE.into(),
        subject: Some("*x*".into()),
        ..Default::default()
    };
    add(&fx.state.store, None, new, fx.clock_now())
        .await
        .unwrap();
    let now = fx.clock_now();
    let token = Signer::ed().token(
        "k1",
        &json!({"iss": closed, "aud": AUDIENCE, "sub": "x", "exp": now + 60}),
    );
    let response = fx
        .post_form(
            crate::oauth::PATH_TOKEN,
            &[
                ("grant_type", exchange::GRANT_TYPE),
                ("client_id", &app.client_id),
                ("subject_token", &token),
                ("subject_token_type", exchange::ID_TOKEN),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = body_json(response).await;
    assert_eq!(body["error"], "temporarily_unavailable");
    let why = body["error_description"].as_str().unwrap();
    assert!(
        why.contains(&closed) && why.contains("cannot connect"),
        "{why}"
    );
}

#[tokio::test]
async fn the_request_is_checked_before_the_token() {
    let s = setup().await;
    let token = s.token(&s.claims());
    let post = |fields: Vec<(&'static str, String)>| async {
        let mut all = vec![
            ("grant_type", exchange::GRANT_TYPE.to_owned()),
            ("subject_token", token.clone()),
        ];
        all.extend(fields);
        let pairs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = s.fx.post_form(crate::oauth::PATH_TOKEN, &pairs).await;
        (response.status(), body_json(response).await)
    };
    let client = ("client_id", s.client_id.clone());
    let jwt = ("subject_token_type", exchange::JWT.to_owned());
    let cases = [
        (vec![client.clone()], "invalid_request"),
        (vec![jwt.clone()], "invalid_request"),
        (
            vec![client.clone(), ("subject_token_type", "urn:x".into())],
            "invalid_request",
        ),
        (
            vec![client.clone(), jwt.clone(), ("actor_token", "a".into())],
            "invalid_request",
        ),
        (
            vec![
                client.clone(),
                jwt.clone(),
                ("requested_token_type", exchange::ID_TOKEN.into()),
            ],
            "invalid_request",
        ),
        (
            vec![
                client.clone(),
                jwt.clone(),
                ("audience", "https://other.test".into()),
            ],
            "invalid_target",
        ),
        (
            vec![client.clone(), jwt.clone(), ("scope", "admin".into())],
            "invalid_scope",
        ),
        (
            vec![("client_id", "nobody".into()), jwt.clone()],
            "invalid_client",
        ),
        (
            vec![
                client.clone(),
                jwt.clone(),
                ("client_secret", "wrong".into()),
            ],
            "invalid_client",
        ),
    ];
    for (fields, error) in cases {
        let (_, body) = post(fields.clone()).await;
        assert_eq!(body["error"], error, "{fields:?}: {body}");
    }
    // None of those used the token up.
    assert_eq!(s.exchange(&token).await.0, StatusCode::OK);
}

#[tokio::test]
async fn rules_must_constrain_the_workload_and_name_a_safe_issuer() {
    let fx = Fixture::new().await;
    let account = fx.account("ci@example.com").await;
    let app = fx.app(&account, NewApp::named("ci")).await.app;
    let base = NewTrustRule {
        client_id: app.client_id.clone(),
        issuer: "https://token.actions.githubusercontent.com".into(),
        audience: AUDIENCE.into(),
        subject: Some("repo:acme/*".into()),
        ..Default::default()
    };
    let store = &fx.state.store;
    let now = fx.clock_now();
    let bad = [
        NewTrustRule {
            subject: None,
            ..base.clone()
        },
        NewTrustRule {
            subject: Some("**".into()),
            ..base.clone()
        },
        NewTrustRule {
            issuer: "http://ci.example.com".into(),
            ..base.clone()
        },
        NewTrustRule {
            audience: String::new(),
            ..base.clone()
        },
        NewTrustRule {
            claims: BTreeMap::from([("aud".into(), "x".into())]),
            ..base.clone()
        },
        NewTrustRule {
            scope: Some("admin".into()),
            ..base.clone()
        },
        NewTrustRule {
            audience: "aud\u{1b}[2J".into(),
            ..base.clone()
        },
        NewTrustRule {
            subject: Some("repo:acme/\u{202E}*".into()),
            ..base.clone()
        },
        NewTrustRule {
            claims: BTreeMap::from([("\u{1b}[2J".into(), "x".into())]),
            ..base.clone()
        },
        // Pasted with a space: no token would ever match.
        NewTrustRule {
            audience: format!("{AUDIENCE} "),
            ..base.clone()
        },
        NewTrustRule {
            subject: Some(" repo:acme/*".into()),
            ..base.clone()
        },
        NewTrustRule {
            claims: BTreeMap::from([("repository".into(), "acme/widgets ".into())]),
            ..base.clone()
        },
    ];
    // Spellings no token's iss (or the issuer's discovery document) has:
    // each would refuse every token as from an untrusted issuer.
    for (issuer, meant) in [
        (
            "https://Token.Actions.GithubUserContent.com",
            "https://token.actions.githubusercontent.com",
        ),
        ("HTTPS://ci.example.com/", "https://ci.example.com/"),
        ("https://ci.example.com:443", "https://ci.example.com"),
        (
            "https://ci.example.com/a/../tenant",
            "https://ci.example.com/tenant",
        ),
        ("https://bücher.example", "https://xn--bcher-kva.example"),
    ] {
        let new = NewTrustRule {
            issuer: issuer.into(),
            ..base.clone()
        };
        let Err(Error::BadRequest(why)) = add(store, None, new, now).await else {
            panic!("{issuer} was accepted")
        };
        assert!(why.contains(&format!("did you mean {meant}?")), "{why}");
    }
    // With and without the trailing slash, as issuers use both.
    for issuer in ["https://ci.example.com/", "https://ci.example.com/tenant/"] {
        let new = NewTrustRule {
            issuer: issuer.into(),
            ..base.clone()
        };
        let rule = add(store, None, new, now).await.expect(issuer);
        remove(store, None, None, &rule.id, now).await.unwrap();
    }
    for new in bad {
        let shown = format!("{new:?}");
        assert!(
            matches!(add(store, None, new, now).await, Err(Error::BadRequest(_))),
            "{shown}"
        );
    }
    let missing_app = NewTrustRule {
        client_id: "app_none".into(),
        ..base.clone()
    };
    assert!(matches!(
        add(store, None, missing_app, now).await,
        Err(Error::NotFound(_))
    ));
    let rule = add(store, None, base.clone(), now).await.unwrap();
    assert_eq!(rule.scope, "THIRD_PARTY_OPERATION");
    // The same rule again adds nothing.
    let twin = add(store, None, base, now).await;
    assert!(
        matches!(&twin, Err(Error::Conflict(m)) if m.contains(&rule.id)),
        "{twin:?}"
    );
    assert!(
        remove(store, None, Some("app_other"), &rule.id, now)
            .await
            .is_err()
    );
    remove(store, None, Some(&app.client_id), &rule.id, now)
        .await
        .unwrap();
    assert!(store.trust_rules(None).await.unwrap().is_empty());
}

/// A console member adds a bounded number of rules to an app; removing one
/// makes room.
#[tokio::test]
async fn a_member_adds_a_bounded_number_of_rules_to_an_app() {
    let fx = Fixture::new().await;
    let account = fx.account("rules@example.com").await;
    let (store, now) = (&fx.state.store, fx.clock_now());
    let app = crate::apps::create(store, &account, NewApp::named("ci"), now)
        .await
        .unwrap()
        .app;
    let actor = crate::audit::Actor {
        account_id: &account,
        ip: None,
    };
    let rule = |i: usize| NewTrustRule {
        client_id: app.client_id.clone(),
        issuer: "https://ci.example.com".into(),
        audience: AUDIENCE.into(),
        subject: Some(format!("repo:acme/r{i}:*")),
        reach: Reach::Public,
        ..Default::default()
    };
    let mut first = None;
    for i in 0..MAX_RULES_PER_APP {
        let added = add(store, Some(actor), rule(i), now).await.unwrap();
        first.get_or_insert(added.id);
    }
    let refused = add(store, Some(actor), rule(MAX_RULES_PER_APP), now).await;
    assert!(
        matches!(&refused, Err(Error::Conflict(m)) if m.contains("remove")),
        "{refused:?}"
    );
    remove(
        store,
        Some(actor),
        Some(&app.client_id),
        &first.unwrap(),
        now,
    )
    .await
    .unwrap();
    add(store, Some(actor), rule(MAX_RULES_PER_APP), now)
        .await
        .unwrap();
}

tessera_testkit::backend_tests!(
    rules_added_at_the_same_moment_stop_at_the_cap,
    the_same_rule_added_at_the_same_moment_is_stored_once
);

/// Rules added at the same moment each counted the app's rules, saw room,
/// and all were added. Now exactly one gets the last place.
async fn rules_added_at_the_same_moment_stop_at_the_cap(backend: tessera_testkit::Backend) {
    let Some(fx) = Fixture::on(backend).await else {
        return;
    };
    let account = fx.account("race@example.com").await;
    let (store, now) = (&fx.state.store, fx.clock_now());
    let app = fx.app(&account, NewApp::named("ci")).await.app;
    let rule = |i: usize| NewTrustRule {
        client_id: app.client_id.clone(),
        issuer: "https://ci.example.com".into(),
        audience: AUDIENCE.into(),
        subject: Some(format!("repo:acme/r{i}:*")),
        reach: Reach::Public,
        ..Default::default()
    };
    for i in 1..MAX_RULES_PER_APP {
        add(store, None, rule(i), now).await.unwrap();
    }
    let tries = (0..16).map(|i| {
        let (store, account, new) = (store.clone(), account.clone(), rule(100 + i));
        tokio::spawn(async move {
            let actor = crate::audit::Actor {
                account_id: &account,
                ip: None,
            };
            add(&store, Some(actor), new, now).await.map(drop)
        })
    });
    let answers = futures_util::future::join_all(tries).await;
    let made = crate::testing::one_made_the_rest_refused(answers);
    let rules = store.trust_rules(Some(&app.client_id)).await.unwrap().len();
    assert_eq!((made, rules), (1, MAX_RULES_PER_APP));
}

/// Identical rules added at the same moment each looked for a twin, found
/// none, and were all stored: removing one of the copies then left the trust
/// its remover meant to end. Now one is added and the others are refused.
async fn the_same_rule_added_at_the_same_moment_is_stored_once(backend: tessera_testkit::Backend) {
    let Some(fx) = Fixture::on(backend).await else {
        return;
    };
    let account = fx.account("race@example.com").await;
    let (store, now) = (&fx.state.store, fx.clock_now());
    let app = fx.app(&account, NewApp::named("ci")).await.app;
    let tries = (0..16).map(|_| {
        let (store, account) = (store.clone(), account.clone());
        let new = NewTrustRule {
            client_id: app.client_id.clone(),
            issuer: "https://ci.example.com".into(),
            audience: AUDIENCE.into(),
            subject: Some("repo:acme/widgets:*".into()),
            reach: Reach::Public,
            ..Default::default()
        };
        tokio::spawn(async move {
            let actor = crate::audit::Actor {
                account_id: &account,
                ip: None,
            };
            add(&store, Some(actor), new, now).await.map(drop)
        })
    });
    let answers = futures_util::future::join_all(tries).await;
    let made = crate::testing::one_made_the_rest_refused(answers);
    let rules = store.trust_rules(Some(&app.client_id)).await.unwrap().len();
    assert_eq!((made, rules), (1, 1));
}

#[test]
fn globs() {
    let cases = [
        ("acme/widgets", "acme/widgets", true),
        ("acme/widgets", "acme/widgets2", false),
        ("repo:acme/*", "repo:acme/widgets:ref:refs/heads/main", true),
        (
            "repo:acme/*:ref:refs/heads/main",
            "repo:acme/w:ref:refs/heads/main",
            true,
        ),
        (
            "repo:acme/*:ref:refs/heads/main",
            "repo:acme/w:ref:refs/heads/dev",
            false,
        ),
        ("*", "", true),
        ("a*b*c", "abc", true),
        ("a*b*c", "axxbyyc", true),
        ("a*b*c", "acb", false),
        ("ab*ba", "aba", false),
        ("?", "x", false),
        ("", "", true),
        ("", "x", false),
    ];
    for (pattern, text, want) in cases {
        assert_eq!(glob_matches(pattern, text), want, "{pattern:?} {text:?}");
    }
}
