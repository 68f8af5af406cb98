//! Faults: PostgreSQL restarting under load (503 while it is down, `/readyz` too
//! while `/healthz` stays 200, recovery without restarting tesserad, nothing lost), and a tesserad SIGKILLed under load
//! (nothing it acknowledged is lost), on a real process and a real database.

use crate::support::{Backend, Database, OwnPostgres, Server, json, postgres_available};
use reqwest::StatusCode;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

backend_tests!(sigkill_loses_nothing_acknowledged);

/// Limits high enough that the load is never refused.
fn no_limits_config(dir: &Path) -> PathBuf {
    let path = dir.join("limits.toml");
    std::fs::write(&path, "rate_limit_development = 1000000\n").unwrap();
    path
}

/// What the load saw acknowledged: keys created (id, key) and keys revoked.
#[derive(Default)]
struct Acknowledged {
    created: Vec<(String, String)>,
    revoked: HashSet<String>,
    statuses: Vec<u16>,
}

/// Creates a key, uses it, revokes every other one, until `stop`; records only
/// what the server acknowledged.
async fn load(
    url: String,
    auth: String,
    ack: Arc<Mutex<Acknowledged>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    max_requests: usize,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for i in 0..max_requests {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        let response = http
            .post(format!("{url}/v1/api-keys"))
            .header("authorization", &auth)
            .json(&serde_json::json!({}))
            .send()
            .await;
        let Ok(response) = response else {
            ack.lock().unwrap().statuses.push(0);
            continue;
        };
        let status = response.status();
        ack.lock().unwrap().statuses.push(status.as_u16());
        if status != StatusCode::CREATED {
            continue;
        }
        let Ok(body) = response.json::<serde_json::Value>().await else {
            continue;
        };
        let id = body["id"].as_str().unwrap().to_owned();
        let key = body["key"].as_str().unwrap().to_owned();
        ack.lock().unwrap().created.push((id.clone(), key));
        if i % 2 == 0 {
            let revoked = http
                .delete(format!("{url}/v1/api-keys/{id}"))
                .header("authorization", &auth)
                .send()
                .await;
            if let Ok(r) = revoked {
                let mut ack = ack.lock().unwrap();
                ack.statuses.push(r.status().as_u16());
                if r.status() == StatusCode::NO_CONTENT {
                    ack.revoked.insert(id);
                }
            }
        }
    }
}

/// `workers` concurrent [`load`]s against `server`.
struct Load {
    ack: Arc<Mutex<Acknowledged>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    async fn start(server: &Server, workers: usize, max_requests: usize) -> Self {
        let demo = server.demo_account().await;
        let ack = Arc::new(Mutex::new(Acknowledged::default()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let workers = (0..workers)
            .map(|_| {
                tokio::spawn(load(
                    server.url.clone(),
                    demo.auth().unwrap(),
                    ack.clone(),
                    stop.clone(),
                    max_requests,
                ))
            })
            .collect();
        Self { ack, stop, workers }
    }

    fn created(&self) -> usize {
        self.ack.lock().unwrap().created.len()
    }

    /// Until `n` keys have been created in all (bounded poll, no fixed sleep).
    async fn until_created(&self, n: usize) {
        for _ in 0..2000 {
            if self.created() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Until some request of the load has been answered `status` (bounded poll).
    async fn until_answered(&self, status: u16) {
        for _ in 0..2000 {
            if self.ack.lock().unwrap().statuses.contains(&status) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops the workers and hands over what they saw.
    async fn finish(self) -> Acknowledged {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for w in self.workers {
            w.await.unwrap();
        }
        std::mem::take(&mut *self.ack.lock().unwrap())
    }
}

/// Every acknowledged key works on `server` unless its revocation was
/// acknowledged; every acknowledged revocation holds.
async fn check_nothing_lost(server: &Server, ack: &Acknowledged) {
    assert!(!ack.created.is_empty(), "the load created nothing");
    for (id, key) in &ack.created {
        let status = server
            .get("/v1/me", Some(&format!("token {key}")))
            .await
            .status();
        if ack.revoked.contains(id) {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "revocation of {id} lost");
        } else {
            // Revoked but unacknowledged is possible (the answer never came).
            assert!(
                status == StatusCode::OK || status == StatusCode::UNAUTHORIZED,
                "{id}: {status}"
            );
            if status == StatusCode::UNAUTHORIZED {
                let listed = server.admin(&["api-key", "list"]);
                let row = listed
                    .as_array()
                    .or_else(|| listed["api_keys"].as_array())
                    .unwrap()
                    .iter()
                    .find(|k| k["id"] == id.as_str())
                    .cloned();
                assert!(row.is_some(), "acknowledged key {id} was lost");
            }
        }
    }
}

async fn sigkill_loses_nothing_acknowledged(backend: Backend) {
    let db = Database::create(backend);
    let config = no_limits_config(db.dir());
    let master_key = crate::support::master_key();
    let server = Server::start_on(
        db.clone(),
        master_key.clone(),
        &["--config", config.to_str().unwrap()],
    );
    let load = Load::start(&server, 4, 400).await;
    // Kill once the load is well under way.
    load.until_created(40).await;
    let status = Command::new("kill")
        .args(["-KILL", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let ack = load.finish().await;
    // A new process on the same database.
    let restarted = Server::start_on(db, master_key, &["--config", config.to_str().unwrap()]);
    check_nothing_lost(&restarted, &ack).await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_under_load_is_503_then_recovers() {
    if !postgres_available() {
        return;
    }
    let pg = OwnPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let config = no_limits_config(dir.path());
    let db = Database::existing(Backend::Postgres, &pg.url());
    let server = Server::start_on(
        db,
        crate::support::master_key(),
        &["--config", config.to_str().unwrap()],
    );
    let demo = server.demo_account().await;
    let load = Load::start(&server, 3, 100_000).await;
    load.until_created(20).await;
    pg.stop();

    // While it is down: 503 with a clear error, for every kind of request. (An
    // answer cached under the instance's lease may still be given until the
    // instance has seen its notification connection close, at most the 1.5 s
    // lease: poll, bounded.)
    let mut down = server.get("/v1/me", demo.auth().as_deref()).await;
    for _ in 0..300 {
        if down.status() != StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        down = server.get("/v1/me", demo.auth().as_deref()).await;
    }
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(down.headers().contains_key("retry-after"));
    let body = json(down).await;
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(
        body["message"].as_str().unwrap().contains("database"),
        "{body}"
    );
    let seen_while_down = load.ack.lock().unwrap().statuses.len();
    // Not ready, yet alive.
    let ready = server.get("/readyz", None).await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.headers().contains_key("retry-after"));
    assert_eq!(json(ready).await["status"], "unavailable");
    assert_eq!(server.get("/healthz", None).await.status(), StatusCode::OK);

    // The load sees the outage too before PostgreSQL returns: a worker whose key
    // was written just before the stop waits out the 2 s lease of the
    // acknowledgement (`auth_lease::settle`) before its next request.
    load.until_answered(503).await;
    pg.pg_ctl_start();
    // Recovers by itself: poll (bounded) until a request succeeds.
    let mut recovered = false;
    for _ in 0..200 {
        if server.get("/v1/me", demo.auth().as_deref()).await.status() == StatusCode::OK {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        recovered,
        "tesserad did not recover after PostgreSQL came back"
    );
    assert_eq!(server.get("/readyz", None).await.status(), StatusCode::OK);
    // Let the load run against the recovered database for a moment.
    load.until_created(load.created() + 10).await;
    let ack = load.finish().await;
    assert!(ack.statuses.len() > seen_while_down);
    for status in &ack.statuses {
        assert!(
            matches!(status, 200 | 201 | 204 | 503),
            "unexpected status {status} during the restart: {:?}",
            ack.statuses
        );
    }
    assert!(ack.statuses.contains(&503), "the load never saw the outage");
    check_nothing_lost(&server, &ack).await;
}
