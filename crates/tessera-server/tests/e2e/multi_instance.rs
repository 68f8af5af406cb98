//! Two `tesserad` processes on one PostgreSQL database form one service: requests
//! alternate between them, and everything that must be shared is (rate-limit
//! counters, API-key revocations, signing keys, refresh-token families, device
//! codes), and a revocation on one holds on the other from the next request on,
//! even with the other under load and answering from its cache. PostgreSQL,
//! except the revocations: two processes on one SQLite file (a second server,
//! or the admin command beside the one server) must see each other's at once
//! too, through the SQLite change check (`store/sqlite.rs`).

use crate::oauth_support as oauth;
use crate::support::{Backend, Server, json, postgres_available};
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn remaining(response: &reqwest::Response) -> i64 {
    response.headers()["x-ratelimit-remaining"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_enforce_one_limit_together() {
    if !postgres_available() {
        return;
    }
    let a = Server::start(Backend::Postgres).await;
    let b = a.second_instance(&[]);
    let demo = a.demo_account().await;

    // Alternating one by one: Remaining counts down across both instances.
    for i in 0..10 {
        let server = if i % 2 == 0 { &a } else { &b };
        let response = server.get("/v1/me", demo.auth().as_deref()).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(remaining(&response), 99 - i);
    }

    // Then concurrently, from both: 100 admitted in all, not 100 each.
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let url = if worker % 2 == 0 {
            a.url.clone()
        } else {
            b.url.clone()
        };
        let auth = demo.auth().unwrap();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let (mut ok, mut limited) = (0u32, 0u32);
            for _ in 0..30 {
                let response = http
                    .get(format!("{url}/v1/me"))
                    .header("authorization", &auth)
                    .send()
                    .await
                    .unwrap();
                match response.status() {
                    StatusCode::OK => ok += 1,
                    StatusCode::TOO_MANY_REQUESTS => limited += 1,
                    other => panic!("unexpected {other}"),
                }
            }
            (ok, limited)
        }));
    }
    let (mut ok, mut limited) = (10u32, 0u32);
    for task in tasks {
        let (o, l) = task.await.unwrap();
        ok += o;
        limited += l;
    }
    // Exactly the limit (the brief allows 2%; the shared window is exact unless
    // the run outlasts a minute, which a bounded 250 requests does not).
    assert_eq!(ok, 100, "admitted {ok}, refused {limited}");
    assert_eq!(limited, 150);
    for server in [&a, &b] {
        let response = server.get("/v1/me", demo.auth().as_deref()).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    }
}

backend_tests!(
    revocation_on_one_instance_holds_on_the_other,
    a_revocation_races_no_request_on_the_other_instance,
    a_revocation_waits_for_a_lease_that_does_not_answer,
);

async fn revocation_on_one_instance_holds_on_the_other(backend: Backend) {
    let a = Server::start(backend).await;
    let b = a.second_instance(&[]);
    let demo = a.demo_account().await;
    assert_eq!(
        b.get("/v1/me", demo.auth().as_deref()).await.status(),
        StatusCode::OK
    );

    // A key made on B through the API, revoked on A through the API.
    let (auth, id) = new_key(&b, &demo).await;
    assert_eq!(a.get("/v1/me", Some(&auth)).await.status(), StatusCode::OK);
    assert_eq!(b.get("/v1/me", Some(&auth)).await.status(), StatusCode::OK);
    let revoked = revoke_key(&a, &demo, &id).send().await.unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let response = b.get("/v1/me", Some(&auth)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        json(response).await["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );

    // And the admin command (a third process) reaches both.
    a.admin(&["api-key", "revoke", &demo.key_id]);
    for server in [&a, &b] {
        assert_eq!(
            server.get("/v1/me", demo.auth().as_deref()).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotated_elsewhere_verify_everywhere() {
    if !postgres_available() {
        return;
    }
    let a = Server::start(Backend::Postgres).await;
    let b = a.second_instance(&[]);
    let demo = a.demo_account().await;
    let kid = a.admin(&["keys", "rotate"]);
    let after = a.demo_account().await;
    let (header, _, _) = crate::support::jws_parts(&after.key);
    let header: serde_json::Value =
        serde_json::from_slice(&crate::support::b64url_decode(&header)).unwrap();
    assert_eq!(header["kid"], kid["kid"], "admin signs with the new key");
    for server in [&a, &b] {
        for key in [&demo, &after] {
            assert_eq!(
                server.get("/v1/me", key.auth().as_deref()).await.status(),
                StatusCode::OK
            );
        }
        let jwks = json(server.get("/.well-known/jwks.json", None).await).await;
        assert!(
            jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kid"] == kid["kid"]),
            "{jwks}"
        );
    }
}

/// Two instances behind one issuer, as a load balancer presents them.
const ISSUER: &str = "http://tessera.example";

/// Two instances on one fresh database with the shared issuer.
async fn pair() -> (Server, Server) {
    let a = Server::start_with(Backend::Postgres, &["--issuer", ISSUER]).await;
    let b = a.second_instance(&["--issuer", ISSUER]);
    (a, b)
}

async fn refresh(server: &Server, client_id: &str, refresh_token: &str) -> (StatusCode, Value) {
    oauth::token(
        server,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", refresh_token),
        ],
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotated_on_one_cannot_be_replayed_on_the_other() {
    if !postgres_available() {
        return;
    }
    let (a, b) = pair().await;
    let domain = oauth::domain(&a).await;
    let demo = a.demo_account().await;
    let cli = oauth::public_app(&a, &demo.email, "lofty-cli");
    let tokens = oauth::code_flow(&a, &domain, &cli, &demo.account_id).await;
    assert_eq!(
        oauth::me_status(&b, &tokens["access_token"]).await,
        StatusCode::OK,
        "an access token from one instance is good on the other"
    );
    let old = tokens["refresh_token"].as_str().unwrap();
    let (status, rotated) = refresh(&a, &cli, old).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");

    // The rotated-out token replayed on B: refused, and its whole family revoked,
    // for both instances (the new refresh token and its access token too).
    let (status, body) = refresh(&b, &cli, old).await;
    oauth::assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    let (status, body) = refresh(&a, &cli, rotated["refresh_token"].as_str().unwrap()).await;
    oauth::assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    for server in [&a, &b] {
        assert_eq!(
            oauth::me_status(server, &rotated["access_token"]).await,
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_codes_are_shared_between_instances() {
    if !postgres_available() {
        return;
    }
    let (a, b) = pair().await;
    let domain = oauth::domain(&a).await;
    let demo = a.demo_account().await;
    let cli = oauth::public_app(&a, &demo.email, "llamactl");
    let start = || async {
        let (status, _, auth) = oauth::post_form(
            &a,
            "/oauth/device_authorization",
            &[("client_id", cli.as_str())],
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{auth}");
        auth
    };
    let redeem = |server: &Server, device_code: &str| {
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", cli.as_str()),
            ("device_code", device_code),
        ]
        .map(|(k, v)| (k, v.to_owned()));
        let request = server
            .http()
            .post(server.endpoint("/oauth/token"))
            .form(&form);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, json(response).await)
        }
    };

    // Polling state is shared: a poll on A then at once on B is too fast.
    let pending = start().await;
    let code = pending["device_code"].as_str().unwrap();
    let (status, body) = redeem(&a, code).await;
    oauth::assert_oauth_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "authorization_pending",
    );
    let (status, body) = redeem(&b, code).await;
    oauth::assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "slow_down");

    // Started on A, approved (the verification page's step), redeemed on B, once.
    let auth = start().await;
    tessera_server::oauth::device::approve(
        &domain,
        auth["user_code"].as_str().unwrap(),
        &demo.account_id,
        domain.now(),
    )
    .await
    .unwrap();
    let code = auth["device_code"].as_str().unwrap();
    let (status, tokens) = redeem(&b, code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(
        oauth::me_status(&a, &tokens["access_token"]).await,
        StatusCode::OK
    );
    let (status, body) = redeem(&a, code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "redeemed twice: {body}");
}

/// Until `stop`: GET /v1/me with `auth`, recording when each request started
/// and what it got.
async fn probe(
    url: String,
    auth: String,
    stop: Arc<AtomicBool>,
) -> Vec<(std::time::Instant, StatusCode)> {
    let http = reqwest::Client::new();
    let mut seen = Vec::new();
    for _ in 0..50_000 {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let started = std::time::Instant::now();
        let response = http
            .get(format!("{url}/v1/me"))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap();
        seen.push((started, response.status()));
    }
    seen
}

/// Revokes with `revoke` on A while B is under load with `auth`: every request
/// to B that started after the revoking call returned is refused; the earlier
/// ones were admitted (so B was answering from its cache, not failing). On
/// PostgreSQL both instances hold their leases, so B answers without reading
/// the marker.
async fn race(a: &Server, b: &Server, auth: &str, revoke: impl AsyncFnOnce(&Server) -> StatusCode) {
    if a.database.backend == Backend::Postgres {
        leases_held(a, 2).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let probes: Vec<_> = (0..6)
        .map(|_| tokio::spawn(probe(b.url.clone(), auth.to_owned(), stop.clone())))
        .collect();
    // B is under load and admitting (bounded poll, no fixed sleep).
    for _ in 0..2000 {
        if b.get("/v1/me", Some(auth)).await.status() == StatusCode::OK {
            break;
        }
    }
    let status = revoke(a).await;
    let returned = std::time::Instant::now();
    assert!(status.is_success(), "revocation answered {status}");
    // Keep the load on until B has answered plenty after the revocation.
    let mut after = 0;
    for _ in 0..2000 {
        if b.get("/v1/me", Some(auth)).await.status() == StatusCode::UNAUTHORIZED {
            after += 1;
        }
        if after >= 50 {
            break;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let mut seen = Vec::new();
    for p in probes {
        seen.extend(p.await.unwrap());
    }
    let late: Vec<_> = seen.iter().filter(|(t, _)| *t > returned).collect();
    let admitted_late = late.iter().filter(|(_, s)| *s == StatusCode::OK).count();
    let admitted_early = seen
        .iter()
        .filter(|(t, s)| *t < returned && *s == StatusCode::OK)
        .count();
    assert!(
        admitted_early > 0,
        "B admitted nothing before the revocation"
    );
    assert!(
        late.len() >= 20,
        "only {} requests after the revocation",
        late.len()
    );
    assert_eq!(
        admitted_late,
        0,
        "{admitted_late} of {} requests that started after the revocation returned were admitted",
        late.len()
    );
    for (_, status) in late {
        assert_eq!(*status, StatusCode::UNAUTHORIZED);
    }
}

async fn a_revocation_races_no_request_on_the_other_instance(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let config = limits_off(&dir);
    let args = ["--issuer", ISSUER, "--config", config.to_str().unwrap()];
    let a = Server::start_with(backend, &args).await;
    let b = a.second_instance(&args);
    let demo = a.demo_account().await;

    // An API key revoked through the API on A.
    let (key_auth, id) = new_key(&a, &demo).await;
    race(&a, &b, &key_auth, async |a: &Server| {
        revoke_key(a, &demo, &id).send().await.unwrap().status()
    })
    .await;

    // An access token revoked at A's RFC 7009 endpoint.
    let app = oauth::confidential_app(&a, &demo.email, &[]);
    let basic = Some((app.client_id.as_str(), app.client_secret.as_str()));
    let (status, tokens) = oauth::token(&a, &[("grant_type", "client_credentials")], basic).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {token}");
    race(&a, &b, &bearer, async |a: &Server| {
        let (status, _, _) =
            oauth::post_form(a, "/oauth/revoke", &[("token", &token)], basic).await;
        status
    })
    .await;
}

/// A config file in `dir` that turns rate limiting off (loads that would
/// otherwise be refused with 429).
fn limits_off(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let config = dir.path().join("limits.toml");
    std::fs::write(&config, "rate_limit_enabled = false\n").unwrap();
    config
}

/// Until `count` instances hold a live lease on the auth cache's change marker
/// (bounded poll: an instance asks for its lease just after it starts).
async fn leases_held(server: &Server, count: i64) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&server.database.url).await.unwrap();
    let sql = match server.database.backend {
        Backend::Postgres => "SELECT count(*) FROM auth_leases WHERE until > now()",
        Backend::Sqlite => "SELECT count(*) FROM auth_leases WHERE until > $1",
    };
    for _ in 0..1000 {
        let mut query = sqlx::query_as(sql);
        if server.database.backend == Backend::Sqlite {
            query = query.bind(host_clock());
        }
        let (held,): (i64,) = query.fetch_one(&pool).await.unwrap();
        if held >= count {
            pool.close().await;
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{count} instances never held a lease");
}

/// The clock of a SQLite lease's `until`: nanoseconds on the host's
/// monotonic clock.
fn host_clock() -> i64 {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).unwrap();
    now.tv_sec() * 1_000_000_000 + now.tv_nsec()
}

/// A new API key of the demo account, made on `server`: (authorization, id).
async fn new_key(server: &Server, demo: &crate::support::Demo) -> (String, String) {
    let created = server
        .http()
        .post(server.endpoint("/v1/api-keys"))
        .header("authorization", demo.auth().unwrap())
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created = json(created).await;
    (
        format!("token {}", created["key"].as_str().unwrap()),
        created["id"].as_str().unwrap().to_owned(),
    )
}

fn revoke_key(server: &Server, demo: &crate::support::Demo, id: &str) -> reqwest::RequestBuilder {
    server
        .http()
        .delete(server.endpoint(&format!("/v1/api-keys/{id}")))
        .header("authorization", demo.auth().unwrap())
}

/// An instance that holds a lease but no longer acknowledges (hung, cut off):
/// a revocation waits for it, and returns once its lease must have run out on
/// its own clock even though the row says later.
async fn a_revocation_waits_for_a_lease_that_does_not_answer(backend: Backend) {
    let a = Server::start(backend).await;
    let demo = a.demo_account().await;
    let (auth, id) = new_key(&a, &demo).await;
    leases_held(&a, 1).await;
    match backend {
        Backend::Postgres => {
            let silent = "INSERT INTO auth_leases (instance, epoch, until) \
                          VALUES ('silent', 0, now() + interval '1 hour')";
            crate::support::execute(&a.database, silent).await;
        }
        Backend::Sqlite => {
            // A row further ahead than one lease is from before a reboot
            // and ignored: this one is as far as a live row can be.
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&a.database.url).await.unwrap();
            sqlx::query(
                "INSERT INTO auth_leases (instance, epoch, until) VALUES ('silent', 0, $1)",
            )
            .bind(host_clock() + 1_900_000_000)
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
    }
    let mut revoking = Box::pin(revoke_key(&a, &demo, &id).send());
    let early = tokio::time::timeout(std::time::Duration::from_millis(300), &mut revoking).await;
    assert!(
        early.is_err(),
        "returned before the silent lease could have run out"
    );
    assert_eq!(revoking.await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(
        a.get("/v1/me", Some(&auth)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// The notification connections are cut just before a revocation: the other
/// instance's lease still cannot outlive the revoked key (the grant checks the
/// counter), and the leases come back with the connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_hold_when_notifications_are_lost() {
    if !postgres_available() {
        return;
    }
    let a = Server::start(Backend::Postgres).await;
    let b = a.second_instance(&[]);
    let demo = a.demo_account().await;
    let (auth, id) = new_key(&a, &demo).await;
    leases_held(&a, 2).await;
    assert_eq!(b.get("/v1/me", Some(&auth)).await.status(), StatusCode::OK);
    let cut = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
               WHERE datname = current_database() AND query LIKE 'LISTEN%'";
    crate::support::execute(&a.database, cut).await;
    let revoked = revoke_key(&a, &demo, &id).send().await.unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        b.get("/v1/me", Some(&auth)).await.status(),
        StatusCode::UNAUTHORIZED
    );

    leases_held(&a, 2).await;
    for server in [&a, &b] {
        assert_eq!(
            server.get("/v1/me", demo.auth().as_deref()).await.status(),
            StatusCode::OK
        );
    }
    a.admin(&["api-key", "revoke", &demo.key_id]);
    for server in [&a, &b] {
        assert_eq!(
            server.get("/v1/me", demo.auth().as_deref()).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

/// Two processes writing one SQLite file under load lose nothing: every key
/// either acknowledged (201) works on both. SQLite coordinates the two through
/// POSIX locks on `-shm`, which a process drops all of when it closes *any*
/// descriptor of that file; a change check that opened and closed `-shm` itself
/// (d6dfb61's, and a session-36 attempt) let one process checkpoint and reset
/// the WAL under the other's commits, and acknowledged keys vanished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_sqlite_file_lose_no_write() {
    let dir = tempfile::tempdir().unwrap();
    let config = limits_off(&dir);
    let args = ["--config", config.to_str().unwrap()];
    let a = Server::start_with(Backend::Sqlite, &args).await;
    let b = a.second_instance(&args);
    let demo = a.demo_account().await;
    let auth = demo.auth().unwrap();
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let url = if worker % 2 == 0 { &a.url } else { &b.url }.clone();
        let auth = auth.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut created = Vec::new();
            for i in 0..120 {
                let request = if i % 6 == 0 {
                    let body = serde_json::json!({});
                    http.post(format!("{url}/v1/api-keys")).json(&body)
                } else {
                    http.get(format!("{url}/v1/me"))
                };
                let response = request.header("authorization", &auth).send().await.unwrap();
                if response.status() == StatusCode::CREATED {
                    created.push(json(response).await["key"].as_str().unwrap().to_owned());
                }
            }
            created
        }));
    }
    let mut created = Vec::new();
    for task in tasks {
        created.extend(task.await.unwrap());
    }
    assert_eq!(created.len(), 4 * 20, "every creation acknowledged");
    for key in &created {
        for server in [&a, &b] {
            let status = server
                .get("/v1/me", Some(&format!("token {key}")))
                .await
                .status();
            assert_eq!(status, StatusCode::OK, "an acknowledged key is gone");
        }
    }
}

/// Two processes on one SQLite file keep their rate-limit counters in their
/// own memory: the second says that together they admit each limit twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_one_sqlite_file_warns_of_its_own_counters() {
    let a = Server::start(Backend::Sqlite).await;
    let b = a.second_instance(&[]);
    let warning = "another tesserad serves this database";
    assert!(!a.logs().contains(warning), "{}", a.logs());
    assert!(b.logs().contains(warning), "{}", b.logs());
}
