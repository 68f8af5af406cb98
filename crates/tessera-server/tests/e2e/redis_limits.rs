//! Rate limits on Redis (`--rate-limit-backend redis`) through the real binary:
//! two instances on one Redis admit each limit exactly once between them; Redis
//! stopped and restarted under load (`allow`: never a 5xx; `deny`: 503; limits
//! back within a second; nothing else lost); the password kept out of help,
//! errors and logs; a Redis Cluster; and both shared backends deciding exactly as
//! the in-process window does.
//!
//! The shared Redis of `TESSERA_TEST_REDIS_URL` serves the tests that only count;
//! the tests that stop Redis or build a cluster start `redis-server` processes of
//! their own on free loopback ports.

use crate::oauth_support as oauth;
use crate::support::{
    Backend, Database, REDIS_ENV, Server, json, master_key, postgres_available, redis_available,
};
use reqwest::StatusCode;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tessera_server::ratelimit::postgres::PostgresLimiter;
use tessera_server::ratelimit::redis::{RedisLimiter, RedisUrl};
use tessera_server::ratelimit::{Bucket, Window};

fn shared_redis() -> String {
    std::env::var(REDIS_ENV).expect(REDIS_ENV)
}

fn config(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("limits.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn header(response: &reqwest::Response, name: &str) -> Option<i64> {
    Some(
        response
            .headers()
            .get(name)?
            .to_str()
            .ok()?
            .parse()
            .unwrap(),
    )
}

/// Sends `total` GETs of `path` with `auth`, alternating between `servers`,
/// `concurrency` at a time: the statuses and the Remaining of each admitted one.
async fn burst(
    servers: &[&Server],
    path: &str,
    auth: &str,
    total: usize,
    concurrency: usize,
) -> (Vec<StatusCode>, Vec<i64>) {
    let urls: Vec<String> = servers.iter().map(|s| s.endpoint(path)).collect();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (urls, next, auth) = (urls.clone(), next.clone(), auth.to_owned());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut seen = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= total {
                    return seen;
                }
                let response = http
                    .get(&urls[i % urls.len()])
                    .header("authorization", &auth)
                    .send()
                    .await
                    .unwrap();
                seen.push((
                    response.status(),
                    header(&response, "x-ratelimit-remaining"),
                ));
            }
        }));
    }
    let (mut statuses, mut remaining) = (Vec::new(), Vec::new());
    for task in tasks {
        for (status, left) in task.await.unwrap() {
            statuses.push(status);
            if status == StatusCode::OK {
                remaining.push(left.expect("an admitted request carries Remaining"));
            }
        }
    }
    remaining.sort_unstable();
    (statuses, remaining)
}

/// Exactly `limit` of `limit + 20` requests admitted across both instances, each
/// with a different Remaining (limit-1 down to 0), the rest 429.
async fn assert_joint_limit(a: &Server, b: &Server, path: &str, auth: &str, limit: usize) {
    let (statuses, remaining) = burst(&[a, b], path, auth, limit + 20, 8).await;
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(
        (ok, refused),
        (limit, 20),
        "{path} limit {limit}: {statuses:?}"
    );
    let expected: Vec<i64> = (0..limit as i64).collect();
    assert_eq!(remaining, expected, "{path}: every Remaining exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_redis_admit_each_limit_once() {
    if !redis_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "[rate_limit_endpoints]\n\"/v1/projects\" = 5\n");
    let url = shared_redis();
    // One issuer, as behind a load balancer: a token from B is good on A.
    let args = [
        "--rate-limit-backend",
        "redis",
        "--config",
        config.as_str(),
        "--issuer",
        "http://tessera.example",
    ];
    let env = [("TESSERAD_REDIS_URL", url.as_str())];
    let db = Database::create(Backend::Sqlite);
    let a = Server::start_on_env(db, master_key(), &args, &env);
    let b = a.second_instance_env(&args, &env);
    let demo = a.demo_account().await;
    let auth = demo.auth().unwrap();

    // Development: a bare API key, 100/min; the endpoint's own window, 5/min.
    assert_joint_limit(&a, &b, "/v1/me", &auth, 100).await;
    let other = a.demo_account().await;
    assert_joint_limit(&a, &b, "/v1/projects", &other.auth().unwrap(), 5).await;

    // Production, 500/min, and an app's own override, both through OAuth tokens.
    for (extra, limit) in [
        (&["--mode", "production"][..], 500),
        (&["--rate-limit", "7/min"], 7),
    ] {
        let app = oauth::confidential_app(&a, &demo.email, extra);
        let basic = Some((app.client_id.as_str(), app.client_secret.as_str()));
        let (status, body) = oauth::token(&b, &[("grant_type", "client_credentials")], basic).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let bearer = format!("Bearer {}", body["access_token"].as_str().unwrap());
        assert_joint_limit(&a, &b, "/v1/me", &bearer, limit).await;
    }
}

/// A `redis-server` of the test's own on a free loopback port, nothing saved;
/// killed on drop.
struct OwnRedis {
    port: u16,
    password: Option<String>,
    extra: Vec<String>,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl OwnRedis {
    fn start(password: Option<&str>, extra: &[&str]) -> Self {
        let port = tessera_testkit::free_port();
        let mut redis = Self {
            port,
            password: password.map(str::to_owned),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        redis.run();
        redis
    }

    fn run(&mut self) {
        let conf = self.dir.path().join("redis.conf");
        // The password goes in a file, not on the command line.
        let text = match &self.password {
            Some(p) => format!("requirepass {p}\n"),
            None => String::new(),
        };
        std::fs::write(&conf, text).unwrap();
        let child = Command::new("redis-server")
            .arg(&conf)
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server; scripts/test installs it)");
        self.child = Some(child);
        assert!(
            self.wait_ready(),
            "redis-server on {} did not answer",
            self.port
        );
    }

    fn url(&self) -> String {
        match &self.password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    fn ping(&self) -> bool {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_ok()
    }

    /// Polls PING (bounded: a hang becomes a failure).
    fn wait_ready(&self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.ping() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes (`SIGSTOP`) or thaws (`SIGCONT`) the server: its sockets stay
    /// open and it answers nothing, as a hung Redis does.
    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let status = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(status.success(), "kill {signal} {pid}");
    }

    fn query<T: redis::FromRedisValue>(&self, command: &mut redis::Cmd) -> T {
        let mut conn = redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap();
        command.query(&mut conn).unwrap()
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What one instance answered under load.
#[derive(Default)]
struct Seen {
    statuses: Vec<StatusCode>,
    /// Keys whose creation was acknowledged (201), to check nothing was lost.
    created: Vec<String>,
}

/// Until `stop`: GET /v1/me, and every fourth request creates an API key.
async fn load(url: String, auth: String, seen: Arc<Mutex<Seen>>, stop: Arc<AtomicBool>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for i in 0..20_000 {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let response = if i % 4 == 0 {
            http.post(format!("{url}/v1/api-keys"))
                .header("authorization", &auth)
                .json(&serde_json::json!({}))
                .send()
                .await
                .unwrap()
        } else {
            http.get(format!("{url}/v1/me"))
                .header("authorization", &auth)
                .send()
                .await
                .unwrap()
        };
        let status = response.status();
        let key = if status == StatusCode::CREATED {
            let body = json(response).await;
            Some(body["key"].as_str().unwrap().to_owned())
        } else {
            None
        };
        let mut seen = seen.lock().unwrap();
        seen.statuses.push(status);
        seen.created.extend(key);
    }
}

fn answered(seen: &Mutex<Seen>) -> usize {
    seen.lock().unwrap().statuses.len()
}

/// Polls until `seen` has `n` more answers than `from` (bounded).
async fn until_answered(seen: &Mutex<Seen>, from: usize, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered(seen) < from + n {
        assert!(
            Instant::now() < deadline,
            "the load stalled at {}",
            answered(seen)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// How long until `server` counts requests again (a response with headers).
async fn until_enforced(server: &Server, auth: &str) -> Duration {
    let start = Instant::now();
    loop {
        let response = server.get("/v1/me", Some(auth)).await;
        if header(&response, "x-ratelimit-remaining").is_some() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never enforced again"
        );
    }
}

/// Two instances on one SQLite database and `redis`, limits far above any load:
/// one `allow`s requests while Redis cannot be reached, the other `deny`s them.
fn allow_and_deny(redis: &OwnRedis) -> (Server, Server) {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "rate_limit_development = 1000000\n");
    let url = redis.url();
    let env = [("TESSERAD_REDIS_URL", url.as_str())];
    let args = |policy: &'static str| {
        [
            "--rate-limit-backend",
            "redis",
            "--rate-limit-unreachable",
            policy,
            "--config",
            config.as_str(),
        ]
    };
    let db = Database::create(Backend::Sqlite);
    let allow = Server::start_on_env(db, master_key(), &args("allow"), &env);
    let deny = allow.second_instance_env(&args("deny"), &env);
    (allow, deny)
}

/// A Redis that accepts and never answers must not hold requests: each is
/// answered within the limiter's 500 ms (plus slack for a loaded machine),
/// without limits (`allow`) or 503 (`deny`), however many wait at once; once
/// Redis answers again, so do the limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_redis_holds_no_request() {
    if !redis_available() {
        return;
    }
    let mut redis = OwnRedis::start(None, &[]);
    let (allow, deny) = allow_and_deny(&redis);
    let demo = allow.demo_account().await;
    let auth = demo.auth().unwrap();
    until_enforced(&allow, &auth).await;
    until_enforced(&deny, &auth).await;

    redis.signal("-STOP");
    for (server, expected) in [
        (&allow, StatusCode::OK),
        (&deny, StatusCode::SERVICE_UNAVAILABLE),
    ] {
        // 24 requests at once, then 24 more while the first batch waits: the
        // second ones must not wait for a whole timeout of their own after it.
        let http = reqwest::Client::new();
        let mut asked = Vec::new();
        for wave in 0..2 {
            if wave == 1 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            for _ in 0..24 {
                let (http, url, auth) = (http.clone(), server.endpoint("/v1/me"), auth.clone());
                asked.push(tokio::spawn(async move {
                    let start = Instant::now();
                    let response = http
                        .get(url)
                        .header("authorization", auth)
                        .send()
                        .await
                        .unwrap();
                    let remaining = header(&response, "x-ratelimit-remaining");
                    (response.status(), remaining, start.elapsed())
                }));
            }
        }
        for answer in asked {
            let (status, remaining, elapsed) = answer.await.unwrap();
            assert_eq!(status, expected);
            assert_eq!(remaining, None, "a limit header without Redis");
            assert!(
                elapsed < Duration::from_millis(800),
                "answered after {elapsed:?}"
            );
        }
    }
    redis.signal("-CONT");
    for server in [&allow, &deny] {
        let back = until_enforced(server, &auth).await;
        assert!(back < Duration::from_secs(2), "limits back after {back:?}");
    }
    redis.stop();
}

/// Limits apply again on the first decision after Redis is back (README), not
/// on the first one on each of the limiter's connections: while Redis was down
/// every connection failed to reconnect, and each kept that refusal until its
/// next use. Every decision here is a single request (no load to hide a miss).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_decision_after_redis_returns_is_counted() {
    if !redis_available() {
        return;
    }
    let mut redis = OwnRedis::start(None, &[]);
    let url = RedisUrl::parse(&redis.url()).unwrap();
    let limiter = RedisLimiter::connect(&url, false).await.unwrap();
    let bucket = Bucket {
        key: format!("app:back-{}", uuid::Uuid::new_v4().simple()),
        limit: 100,
    };
    let now = 1_767_225_600;
    for _ in 0..8 {
        limiter.take(&bucket, now).await.unwrap();
    }
    redis.stop();
    // More decisions than connections: each one has tried Redis and failed.
    for _ in 0..8 {
        let error = limiter.take(&bucket, now).await.unwrap_err();
        assert!(error.to_string().contains("unreachable"), "{error}");
    }
    redis.run();
    // Redis came back empty: these are the first requests of a new window.
    for i in 0..8 {
        let decision = limiter.take(&bucket, now).await;
        assert_eq!(
            decision.map(|d| d.remaining).ok(),
            Some(99 - i),
            "decision {i}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_and_restarted_under_load() {
    if !redis_available() {
        return;
    }
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let mut redis = OwnRedis::start(Some(&password), &[]);
    let (allow, deny) = allow_and_deny(&redis);
    let demo = allow.demo_account().await;
    let auth = demo.auth().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let seen = [
        Arc::new(Mutex::new(Seen::default())),
        Arc::new(Mutex::new(Seen::default())),
    ];
    let mut workers = Vec::new();
    for (server, seen) in [&allow, &deny].into_iter().zip(&seen) {
        for _ in 0..2 {
            let task = load(server.url.clone(), auth.clone(), seen.clone(), stop.clone());
            workers.push(tokio::spawn(task));
        }
    }
    for s in &seen {
        until_answered(s, 0, 40).await;
    }
    redis.stop();
    let down: Vec<usize> = seen.iter().map(|s| answered(s)).collect();
    for (s, from) in seen.iter().zip(&down) {
        until_answered(s, *from, 60).await;
    }
    redis.run();
    let back = [
        until_enforced(&allow, &auth).await,
        until_enforced(&deny, &auth).await,
    ];
    for s in &seen {
        until_answered(s, answered(s), 40).await;
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }

    let allow_seen = std::mem::take(&mut *seen[0].lock().unwrap());
    let deny_seen = std::mem::take(&mut *seen[1].lock().unwrap());
    let server_errors = |s: &Seen, except: Option<StatusCode>| {
        s.statuses
            .iter()
            .filter(|st| st.is_server_error() && Some(**st) != except)
            .count()
    };
    assert_eq!(server_errors(&allow_seen, None), 0, "allow answered a 5xx");
    assert!(
        deny_seen
            .statuses
            .contains(&StatusCode::SERVICE_UNAVAILABLE),
        "deny never answered 503 while Redis was down"
    );
    assert_eq!(
        server_errors(&deny_seen, Some(StatusCode::SERVICE_UNAVAILABLE)),
        0,
        "deny answered a 5xx other than 503"
    );
    for elapsed in back {
        assert!(
            elapsed < Duration::from_secs(1),
            "limits back after {elapsed:?}"
        );
    }
    // Nothing else lost: every acknowledged key works, on both instances.
    let created: Vec<&String> = allow_seen
        .created
        .iter()
        .chain(&deny_seen.created)
        .collect();
    assert!(
        created.len() >= 20,
        "the load created {} keys",
        created.len()
    );
    for (i, key) in created.iter().enumerate() {
        let server = if i % 2 == 0 { &allow } else { &deny };
        let status = server
            .get("/v1/me", Some(&format!("token {key}")))
            .await
            .status();
        assert_eq!(status, StatusCode::OK);
    }
    let metrics = allow.get("/metrics", None).await.text().await.unwrap();
    let unenforced = metrics
        .lines()
        .find_map(|l| l.strip_prefix(r#"tesserad_rate_limit_unenforced_total{backend="redis"} "#))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or(0);
    assert!(unenforced > 0, "{metrics}");
    assert!(
        allow.logs().contains("rate limits are NOT enforced"),
        "{}",
        allow.logs()
    );
    for server in [&allow, &deny] {
        assert!(
            server.logs().contains("limits enforced"),
            "{}",
            server.logs()
        );
        assert!(
            !server.logs().contains(&password),
            "the Redis password was logged"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_password_stays_out_of_help_and_errors() {
    if !redis_available() {
        return;
    }
    let secret = "hunter2-redis-secret";
    let tesserad = |args: &[&str], url: &str| {
        Command::new(crate::support::TESSERAD)
            .args(args)
            .env("TESSERAD_REDIS_URL", url)
            .env("TESSERAD_MASTER_KEY", master_key())
            .env_remove("TESSERAD_CONFIG")
            .output()
            .unwrap()
    };
    let help = tesserad(
        &["serve", "--help"],
        &format!("redis://:{secret}@127.0.0.1:1"),
    );
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("--redis-url"), "{text}");
    assert!(!text.contains(secret), "help shows the password: {text}");

    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let serve = ["serve", "--listen", "127.0.0.1:0", "--database", &db];
    let mut args = serve.to_vec();
    args.extend(["--rate-limit-backend", "redis"]);
    // Not a redis:// URL; then a real Redis that refuses the password.
    let redis = OwnRedis::start(Some("the-right-one"), &[]);
    for url in [
        format!("http://:{secret}@127.0.0.1:1"),
        format!("redis://:{secret}@127.0.0.1:{}", redis.port),
    ] {
        let out = tesserad(&args, &url);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("Redis"), "{stderr}");
        assert!(
            !stderr.contains(secret),
            "the error shows the password: {stderr}"
        );
    }
    let missing = tesserad(&args, "");
    assert_eq!(missing.status.code(), Some(2));
}

/// A Redis URL without `--rate-limit-backend redis` is not used: the operator
/// who set only the URL is told so at start, without the URL's password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_url_without_the_redis_backend_is_warned_about() {
    let secret = "hunter2-unused-redis";
    let url = format!("redis://:{secret}@127.0.0.1:1");
    let db = Database::create(Backend::Sqlite);
    let server = Server::start_on_env(db, master_key(), &[], &[("TESSERAD_REDIS_URL", &url)]);
    let logs = server.logs();
    assert!(
        logs.contains("Redis is not used") && logs.contains("--rate-limit-backend redis"),
        "{logs}"
    );
    assert!(!logs.contains(secret), "{logs}");
}

/// A Redis URL that answers but can never work stops start-up (exit 2) with
/// what to change: something that is not Redis, a Redis that wants a password
/// the URL lacks, a database number it does not have. (Before, each was a
/// warning and the server ran without limits, or refused every request.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_url_that_cannot_work_stops_start_up() {
    if !redis_available() {
        return;
    }
    let secret = "hunter2-redis-secret";
    // An HTTP server where Redis should be.
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http_port = http.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut stream in http.incoming().flatten() {
            let _ = stream.read(&mut [0; 1024]);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let redis = OwnRedis::start(Some(secret), &[]);
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let key = master_key();
    for (url, says) in [
        (
            format!("redis://:{secret}@127.0.0.1:{http_port}"),
            "is not Redis",
        ),
        (
            format!("redis://127.0.0.1:{}", redis.port),
            "needs a password",
        ),
        (
            format!("redis://:{secret}@127.0.0.1:{}/99", redis.port),
            "has no such database",
        ),
    ] {
        let mut child = Command::new(crate::support::TESSERAD)
            .args(["serve", "--listen", "127.0.0.1:0", "--database", &db])
            .args(["--rate-limit-backend", "redis"])
            .env("TESSERAD_REDIS_URL", &url)
            .env("TESSERAD_MASTER_KEY", &key)
            .env_remove("TESSERAD_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Bounded: a server that starts anyway is a failure, not a hang.
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.and_then(|s| s.code()), Some(2), "{says}: {stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(
            !stderr.contains(secret),
            "the error shows the password: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cluster_keeps_each_apps_counters_on_one_shard() {
    if !redis_available() {
        return;
    }
    let nodes: Vec<OwnRedis> = (0..3)
        .map(|_| {
            OwnRedis::start(
                None,
                &["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"],
            )
        })
        .collect();
    let addresses: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    let created = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addresses)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .expect("redis-cli");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stdout)
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    for node in &nodes {
        loop {
            let info: String = node.query(redis::cmd("CLUSTER").arg("INFO"));
            if info.contains("cluster_state:ok") {
                break;
            }
            assert!(Instant::now() < deadline, "cluster never ok: {info}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "[rate_limit_endpoints]\n\"/v1/projects\" = 3\n");
    let seeds = format!("{},{}", nodes[0].url(), nodes[1].url());
    let args = [
        "--rate-limit-backend",
        "redis",
        "--redis-cluster",
        "--config",
        config.as_str(),
    ];
    let db = Database::create(Backend::Sqlite);
    let server = Server::start_on_env(db, master_key(), &args, &[("TESSERAD_REDIS_URL", &seeds)]);
    let mut keys_seen = 0;
    for _ in 0..4 {
        let demo = server.demo_account().await;
        let auth = demo.auth();
        for left in [2, 1, 0] {
            let response = server.get("/v1/projects", auth.as_deref()).await;
            assert_eq!(header(&response, "x-ratelimit-remaining"), Some(left));
        }
        let refused = server.get("/v1/projects", auth.as_deref()).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        // The three admitted there counted in the account's window too.
        let me = server.get("/v1/me", auth.as_deref()).await;
        assert_eq!(header(&me, "x-ratelimit-remaining"), Some(96));

        // Both of the account's windows on one node, none on the others.
        let pattern = format!("tessera:rl2:{{account:{}}}*", demo.account_id);
        let per_node: Vec<usize> = nodes
            .iter()
            .map(|n| {
                n.query::<Vec<String>>(redis::cmd("KEYS").arg(&pattern))
                    .len()
            })
            .collect();
        let mut sorted = per_node.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [0, 0, 2], "{per_node:?}");
        keys_seen += 2;
    }
    assert_eq!(keys_seen, 8);
}

/// A scripted run of requests: clock steps forward (sometimes back), limits
/// change, idle gaps. Each shared backend must answer as [`Window::take`] (and
/// give back as [`Window::refund`]).
fn script() -> Vec<(i64, u32)> {
    let mut t = 1_767_225_600_i64;
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..400)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            t += match x % 10 {
                0..=5 => 0,
                6 | 7 => 1 + (x >> 8) as i64 % 7,
                8 => -2,
                _ => 61,
            };
            let limit = if i < 150 {
                5
            } else if i < 300 {
                3
            } else {
                8
            };
            (t, limit)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_backends_decide_as_the_in_process_window() {
    if !redis_available() {
        return;
    }
    let url = RedisUrl::parse(&shared_redis()).unwrap();
    let redis = RedisLimiter::connect(&url, false).await.unwrap();
    let postgres = if postgres_available() {
        let db = Database::create(Backend::Postgres);
        let location = tessera_server::store::DatabaseLocation::parse(&db.url).unwrap();
        let store = tessera_server::store::Store::open(&location).await.unwrap();
        Some((PostgresLimiter::new(&store).unwrap(), db))
    } else {
        None
    };
    let key = format!("app:equivalence-{}", uuid::Uuid::new_v4().simple());
    let mut window = Window::default();
    for (step, (now, limit)) in script().into_iter().enumerate() {
        let expected = window.take(now, limit);
        let bucket = Bucket {
            key: key.clone(),
            limit,
        };
        let got = redis.take(&bucket, now).await.unwrap();
        assert_eq!(got, expected, "redis, step {step}");
        if let Some((pg, _)) = &postgres {
            let got = pg.take(&key, limit, now).await.unwrap();
            assert_eq!(got, expected, "postgres, step {step}");
        }
        // Some admitted requests turn out not to count (the token endpoint's
        // guesses-only limit), and now and then one more is given back than was
        // taken: every backend gives back as `Window::refund` does (the second
        // it was counted in, or after a clock step back the newest; never below
        // zero), which the next decisions' Remaining and Reset show.
        let refunds = usize::from(expected.allowed && step % 3 == 0) + usize::from(step % 7 == 0);
        for _ in 0..refunds {
            window.refund(now);
            redis.refund(&bucket, now).await.unwrap();
            if let Some((pg, _)) = &postgres {
                pg.refund(&key, now).await.unwrap();
            }
        }
    }
}

/// Requests arriving together are decided in one script per bucket (batched):
/// each answer is still one of a one-after-the-other run. Which caller gets
/// which depends on arrival, so the answers are compared as a whole, per round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_decisions_answer_as_one_after_the_other() {
    if !redis_available() {
        return;
    }
    let url = RedisUrl::parse(&shared_redis()).unwrap();
    let redis = Arc::new(RedisLimiter::connect(&url, false).await.unwrap());
    let id = uuid::Uuid::new_v4().simple();
    let buckets: Vec<Bucket> = [
        (format!("app:batch-{id}"), 20),
        (format!("app:batch-{id}|/v1/me"), 7),
    ]
    .into_iter()
    .map(|(key, limit)| Bucket { key, limit })
    .collect();
    let mut windows = vec![Window::default(), Window::default()];
    let start = 1_767_225_600_i64;
    // Same second twice (the second round is all refused), then one where the
    // first second has left the window.
    for now in [start, start, start + 60] {
        let mut expected = Vec::new();
        let mut calls = Vec::new();
        for (bucket, window) in buckets.iter().zip(&mut windows) {
            for _ in 0..30 {
                expected.push((bucket.key.clone(), window.take(now, bucket.limit)));
                let (redis, bucket) = (redis.clone(), bucket.clone());
                calls.push(tokio::spawn(async move {
                    let decision = redis.take(&bucket, now).await.unwrap();
                    (bucket.key, decision)
                }));
            }
        }
        let mut got = Vec::new();
        for call in calls {
            got.push(call.await.unwrap());
        }
        let order = |v: &mut Vec<(String, tessera_server::ratelimit::Decision)>| {
            v.sort_by_key(|(k, d)| (k.clone(), d.allowed, d.remaining, d.reset));
        };
        order(&mut expected);
        order(&mut got);
        assert_eq!(got, expected, "second {now}");
    }
}
