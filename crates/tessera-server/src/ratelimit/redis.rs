//! The Redis limiter: each bucket's window is a Redis hash (second -> requests
//! admitted in it, plus the window's total, oldest and newest second), and each
//! decision is one round trip running [`SCRIPT`], which drops seconds that left
//! the window, admits when under the limit and computes the headers exactly as
//! [`super::Window::take`] does, in a constant number of commands per admitted
//! request. Redis runs a script atomically, so instances sharing a Redis admit
//! each limit once.
//!
//! Keys are `tessera:rl2:{<app, account or IP>}<|endpoint>`: the part in braces is
//! a Redis Cluster hash tag, so every bucket of one app (its general window and
//! its per-endpoint ones) lives in one slot, on one shard. A key expires when its
//! newest second has left the window, so nothing needs pruning. (`rl2`: the
//! hashes of the first version, under `tessera:rl:`, held the seconds only; the
//! two versions cannot read each other's, so during a rolling upgrade each counts
//! its own requests, for at most one window.)
//!
//! Connections: a few multiplexed connections (commands from concurrent requests
//! are pipelined on each), taken in turn; a Redis Cluster connection routes each
//! script to the shard owning its key. A lost connection is re-established on
//! the next decision, once at a time, with a single short attempt: while Redis
//! is down a decision fails within [`TIMEOUT`] and the caller applies
//! `rate_limit_unreachable`; once it is back, the next decision reconnects.
//! After a Redis restart the script is loaded again by itself (NOSCRIPT).
//!
//! The time is the instance's `now`, as for the other backends: instances need
//! synchronised clocks, Redis's own does not matter.

use super::{Bucket, Decision, PERIOD_SECS};
use crate::error::{Error, Result};
use crate::secret::SecretUrl;
use crate::store::batch::next_batch;
use futures_util::future::join_all;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, mpsc, oneshot};

/// The longest a decision may take, connecting included: past it the store
/// counts as unreachable, so a hung Redis never hangs requests.
pub const TIMEOUT: Duration = Duration::from_millis(500);

/// Multiplexed connections to a single Redis, used in turn.
const CONNECTIONS: usize = 4;

/// Decisions are made in batches: a worker takes every request waiting (up to
/// [`MAX_BATCH`]) and sends one script per bucket, so under load one app's
/// requests cost Redis one script call, not one each, and this process one
/// command. Each request is still decided by a script that started after it
/// asked, in arrival order, atomically: the answers are those of one script per
/// request. `WORKERS` batches are in flight at once.
const WORKERS: usize = 2;
const MAX_BATCH: usize = 64;

/// KEYS[1]: the bucket's hash. ARGV: the period (seconds), then `now, limit` for
/// each request to decide, in order. Returns `allowed (0/1), remaining, reset`
/// for each, flat: exactly what `Window::take` answers to the same calls one
/// after the other.
///
/// The hash holds one field per second with requests in the window (its count)
/// and three bookkeeping fields: `t` the window's total, `o` its oldest second
/// and `n` its newest. With them an admitted request costs a constant number of
/// commands whatever the window holds: seconds leave it from `o` upwards (each
/// second of the timeline is passed once in the key's life), the new request
/// goes into `n` or a new second, and Reset with requests still to spare is
/// `o + period`. Only at the limit (Remaining 0) does Reset need the counts of
/// the seconds, read in one `HMGET`. Every second between `o` and `n` that holds
/// requests has a field, no field holds zero, and a window with none is no key.
/// A batch's admissions are added up per second and written once, so a call
/// deciding many requests costs about what one deciding a single request does.
const SCRIPT: &str = r"
local key = KEYS[1]
local period = tonumber(ARGV[1])
local state = redis.call('HMGET', key, 't', 'o', 'n')
local total, oldest, newest = tonumber(state[1]) or 0, tonumber(state[2]), tonumber(state[3])
if total <= 0 then total, oldest, newest = 0, nil, nil end
local expiring = newest
local changed = false
-- Requests admitted by this call, by second: written once, at the end (or
-- before the counts are read for a Reset at the limit).
local added = {}
local function flush()
  for s, n in pairs(added) do redis.call('HINCRBY', key, s, n) end
  added = {}
end
local function holds(s)
  return added[s] ~= nil or redis.call('HEXISTS', key, s) == 1
end
local answers = {}
local now
for i = 2, #ARGV, 2 do
  now = tonumber(ARGV[i])
  local limit = tonumber(ARGV[i + 1])
  local horizon = now - period
  if total > 0 and newest <= horizon then
    redis.call('DEL', key)
    added = {}
    total, oldest, newest, expiring = 0, nil, nil, nil
  elseif total > 0 then
    while oldest <= horizon do
      total = total - (tonumber(redis.call('HGET', key, oldest)) or 0) - (added[oldest] or 0)
      redis.call('HDEL', key, oldest)
      added[oldest] = nil
      repeat oldest = oldest + 1 until holds(oldest)
      changed = true
    end
  end
  local allowed = total < limit
  if allowed then
    -- A clock that stepped back counts in the newest second.
    local at = now
    if newest ~= nil and newest >= now then at = newest end
    added[at] = (added[at] or 0) + 1
    total = total + 1
    if oldest == nil then oldest = at end
    newest = at
    changed = true
  end
  local remaining = math.max(limit - total, 0)
  local reset = now + period
  if total > 0 and remaining > 0 then
    reset = oldest + period
  elseif total > 0 then
    flush()
    local seconds = {}
    for s = oldest, newest do seconds[#seconds + 1] = s end
    local counts = redis.call('HMGET', key, unpack(seconds))
    local freed = 0
    for j, s in ipairs(seconds) do
      local n = tonumber(counts[j])
      if n ~= nil then
        freed = freed + n
        reset = s + period
        if total - freed < limit then break end
      end
    end
  end
  answers[#answers + 1] = allowed and 1 or 0
  answers[#answers + 1] = remaining
  answers[#answers + 1] = reset
end
flush()
if total > 0 then
  if changed then redis.call('HSET', key, 't', total, 'o', oldest, 'n', newest) end
  if newest ~= expiring then redis.call('EXPIRE', key, math.max(newest + period - now, 1)) end
end
return answers
";

/// KEYS[1]: the bucket's hash (as [`SCRIPT`] keeps it). ARGV: the second the
/// request was taken at. Gives one request back, as `Window::refund`: from that
/// second, or (after a clock step back, when [`SCRIPT`] counted it in the newest)
/// from the newest second if that is later; a second left at zero is deleted and
/// `o`/`n` move to the next second holding any, so Reset stays exact. Never below
/// zero: with no such second, nothing changes.
const REFUND_SCRIPT: &str = r"
local key = KEYS[1]
local taken = tonumber(ARGV[1])
local state = redis.call('HMGET', key, 't', 'o', 'n')
local total, oldest, newest = tonumber(state[1]) or 0, tonumber(state[2]), tonumber(state[3])
if total <= 0 then return 0 end
local target = nil
if redis.call('HEXISTS', key, taken) == 1 then
  target = taken
elseif newest > taken then
  target = newest
else
  return 0
end
total = total - 1
if total == 0 then
  redis.call('DEL', key)
  return 1
end
if redis.call('HINCRBY', key, target, -1) <= 0 then
  redis.call('HDEL', key, target)
  if target == oldest then
    repeat oldest = oldest + 1 until redis.call('HEXISTS', key, oldest) == 1
  end
  if target == newest then
    repeat newest = newest - 1 until redis.call('HEXISTS', key, newest) == 1
  end
end
redis.call('HSET', key, 't', total, 'o', oldest, 'n', newest)
return 1
";

/// The Redis key of a bucket (see the module documentation).
pub fn key(bucket: &str) -> String {
    let (tag, endpoint) = bucket.split_at(bucket.find('|').unwrap_or(bucket.len()));
    format!("tessera:rl2:{{{tag}}}{endpoint}")
}

enum Connections {
    Single(Vec<ConnectionManager>),
    Cluster(ClusterConnection),
}

/// One request's decision, waiting for a worker.
struct Take {
    key: String,
    limit: u32,
    now: i64,
    reply: oneshot::Sender<Result<Decision>>,
}

pub struct RedisLimiter {
    takes: mpsc::Sender<Take>,
    redis: Arc<Redis>,
}

/// The connections and the scripts, shared by the workers and the refunds.
struct Redis {
    connections: Connections,
    next: AtomicUsize,
    script: redis::Script,
    refund_script: redis::Script,
}

impl RedisLimiter {
    /// Sets up the connections without waiting for them, then checks Redis once:
    /// a refused password is a configuration error; a Redis that does not answer
    /// yet is only a warning (decisions retry it). Starts the workers, so it needs
    /// a Tokio runtime.
    pub async fn connect(url: &RedisUrl, cluster: bool) -> Result<Self> {
        let urls = url.expose_secret();
        let connections = if cluster {
            let client = redis::cluster::ClusterClientBuilder::new(urls.iter().copied())
                .retries(1)
                .min_retry_wait(10)
                .max_retry_wait(100)
                .build()
                .map_err(|e| config_error(&e))?;
            let config = redis::cluster::ClusterConfig::new()
                .set_connection_timeout(TIMEOUT)
                .set_response_timeout(TIMEOUT);
            Connections::Cluster(client.get_pending_async_connection_with_config(config))
        } else {
            if urls.len() > 1 {
                return Err(Error::Config(
                    "several Redis URLs are a cluster's nodes: add --redis-cluster \
                     (redis_cluster = true)"
                        .into(),
                ));
            }
            let client = redis::Client::open(urls[0]).map_err(|e| config_error(&e))?;
            // One connection attempt per reconnection, not a backoff loop: a
            // decision never waits for retries, and the next one tries again.
            let config = ConnectionManagerConfig::new()
                .set_number_of_retries(0)
                .set_connection_timeout(Some(TIMEOUT))
                .set_response_timeout(Some(TIMEOUT));
            let managers = (0..CONNECTIONS)
                .map(|_| ConnectionManager::new_lazy_with_config(client.clone(), config.clone()))
                .collect::<redis::RedisResult<Vec<_>>>()
                .map_err(|e| config_error(&e))?;
            Connections::Single(managers)
        };
        let redis = Arc::new(Redis {
            connections,
            next: AtomicUsize::new(0),
            script: redis::Script::new(SCRIPT),
            refund_script: redis::Script::new(REFUND_SCRIPT),
        });
        redis.check(url).await?;
        let (takes, waiting) = mpsc::channel(WORKERS * MAX_BATCH * 4);
        let waiting = Arc::new(Mutex::new(waiting));
        for _ in 0..WORKERS {
            let (redis, waiting) = (redis.clone(), waiting.clone());
            tokio::spawn(async move {
                while let Some(batch) = next_batch(&waiting, MAX_BATCH).await {
                    redis.decide(batch).await;
                }
            });
        }
        Ok(Self { takes, redis })
    }

    /// Counts one request against `bucket` (when under its limit), together with
    /// whatever other requests are waiting (see [`WORKERS`]).
    pub async fn take(&self, bucket: &Bucket, now: i64) -> Result<Decision> {
        let (reply, decision) = oneshot::channel();
        let take = Take {
            key: key(&bucket.key),
            limit: bucket.limit,
            now,
            reply,
        };
        let decided = async {
            self.takes.send(take).await.ok()?;
            decision.await.ok()
        };
        match tokio::time::timeout(TIMEOUT, decided).await {
            Ok(Some(decision)) => decision,
            Ok(None) => Err(Error::LimiterUnreachable(
                "the Redis limiter's workers have stopped".into(),
            )),
            Err(_) => Err(no_answer()),
        }
    }

    /// Gives back a request taken at `taken_at` ([`REFUND_SCRIPT`]).
    pub async fn refund(&self, bucket: &Bucket, taken_at: i64) -> Result<()> {
        let mut invocation = self.redis.refund_script.key(key(&bucket.key));
        invocation.arg(taken_at);
        let _refunded: i64 = self.redis.run(&invocation).await?;
        Ok(())
    }
}

impl Redis {
    async fn check(&self, url: &RedisUrl) -> Result<()> {
        let ping = redis::cmd("PING");
        let answer = tokio::time::timeout(TIMEOUT, async {
            match &self.connections {
                Connections::Single(managers) => {
                    ping.query_async::<String>(&mut managers[0].clone()).await
                }
                Connections::Cluster(conn) => ping.query_async::<String>(&mut conn.clone()).await,
            }
        })
        .await;
        let problem = match answer {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) if e.kind() == redis::ErrorKind::AuthenticationFailed => {
                return Err(Error::Config(format!(
                    "Redis at {url} refused the credentials: {}",
                    describe(&e)
                )));
            }
            Ok(Err(e)) => describe(&e),
            Err(_) => format!("no answer within {} ms", TIMEOUT.as_millis()),
        };
        tracing::warn!(redis = %url, error = %problem, "Redis does not answer yet");
        Ok(())
    }

    /// Answers a batch: one [`SCRIPT`] per bucket, with that bucket's requests
    /// in the order they arrived (so one app's requests are a single script),
    /// the buckets' scripts sent together.
    async fn decide(&self, batch: Vec<Take>) {
        let mut buckets: Vec<Vec<Take>> = Vec::new();
        for take in batch {
            match buckets.iter_mut().find(|b| b[0].key == take.key) {
                Some(bucket) => bucket.push(take),
                None => buckets.push(vec![take]),
            }
        }
        join_all(buckets.into_iter().map(|takes| self.decide_bucket(takes))).await;
    }

    async fn decide_bucket(&self, takes: Vec<Take>) {
        let mut invocation = self.script.key(&takes[0].key);
        invocation.arg(PERIOD_SECS);
        for take in &takes {
            invocation.arg(take.now).arg(take.limit);
        }
        // Every request of the bucket gets the same failure, so keep its reason.
        let answers = match self.run::<Vec<i64>>(&invocation).await {
            Ok(a) if a.len() == takes.len() * 3 => Ok(a),
            Ok(a) => Err(format!(
                "the Redis script answered {} numbers for {} requests",
                a.len(),
                takes.len()
            )),
            Err(Error::LimiterUnreachable(why)) => Err(why),
            Err(e) => Err(e.to_string()),
        };
        for (i, take) in takes.into_iter().enumerate() {
            let decision = match &answers {
                Ok(a) => Ok(Decision {
                    allowed: a[3 * i] == 1,
                    limit: take.limit,
                    remaining: u32::try_from(a[3 * i + 1]).unwrap_or(0),
                    reset: a[3 * i + 2],
                    now: take.now,
                }),
                Err(why) => Err(Error::LimiterUnreachable(why.clone())),
            };
            let _ = take.reply.send(decision);
        }
    }

    /// One script on the next connection (the owning shard in a cluster), within
    /// [`TIMEOUT`]; a failure is [`Error::LimiterUnreachable`].
    async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T> {
        let run = async {
            match &self.connections {
                Connections::Single(managers) => {
                    let i = self.next.fetch_add(1, Ordering::Relaxed) % managers.len();
                    invocation.invoke_async(&mut managers[i].clone()).await
                }
                Connections::Cluster(conn) => invocation.invoke_async(&mut conn.clone()).await,
            }
        };
        match tokio::time::timeout(TIMEOUT, run).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(Error::LimiterUnreachable(describe(&e))),
            Err(_) => Err(no_answer()),
        }
    }
}

fn no_answer() -> Error {
    Error::LimiterUnreachable(format!(
        "no answer from Redis within {} ms",
        TIMEOUT.as_millis()
    ))
}

/// One or more `redis://` URLs (comma-separated: a cluster's seed nodes). Each
/// may carry a password, so each is a [`SecretUrl`]: `Debug` and `Display` show
/// it as `***` (the one redaction of every secret setting), and
/// [`RedisUrl::expose_secret`] is the only way to the value.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(Vec<SecretUrl>);

impl RedisUrl {
    pub fn parse(s: &str) -> Result<Self, String> {
        let urls: Vec<SecretUrl> = s
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(SecretUrl::new)
            .collect();
        if urls.is_empty() {
            return Err("the Redis URL is empty: use redis://HOST:PORT".into());
        }
        for (i, u) in urls.iter().enumerate() {
            let parsed = url::Url::parse(u.expose())
                .ok()
                .filter(|p| p.scheme() == "redis" && p.host_str().is_some());
            if parsed.is_none() {
                // Never echo the URL: it may hold the password.
                return Err(format!(
                    "Redis URL number {} is not redis://[:PASSWORD@]HOST:PORT[/DB]",
                    i + 1
                ));
            }
        }
        Ok(Self(urls))
    }

    /// The URLs, password included: only for connecting.
    pub fn expose_secret(&self) -> Vec<&str> {
        self.0.iter().map(SecretUrl::expose).collect()
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}

impl std::fmt::Display for RedisUrl {
    /// The nodes without any password, for logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<String> = self.0.iter().map(SecretUrl::redacted).collect();
        f.write_str(&shown.join(","))
    }
}

/// A Redis error for logs and messages. Its text comes from the server or the
/// socket, never from the URL, so it cannot carry the password.
fn describe(e: &redis::RedisError) -> String {
    e.to_string()
}

fn config_error(e: &redis::RedisError) -> Error {
    Error::Config(format!("cannot use the Redis URL: {}", describe(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::Window;
    use redis::cluster_routing::Slot;

    /// With Redis down a decision fails fast, and its reason reads once.
    #[tokio::test]
    async fn an_unreachable_redis_is_said_once() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = RedisUrl::parse(&format!("redis://127.0.0.1:{port}")).unwrap();
        let limiter = RedisLimiter::connect(&url, false).await.unwrap();
        let bucket = Bucket {
            key: "app:down".into(),
            limit: 5,
        };
        let error = limiter.take(&bucket, 1_767_225_600).await.unwrap_err();
        assert!(matches!(error, Error::LimiterUnreachable(_)), "{error:?}");
        let shown = error.to_string();
        assert_eq!(shown.matches("unreachable").count(), 1, "{shown}");
    }

    /// One script deciding several requests answers as one call per request:
    /// a timeline with idle gaps, clock steps back and changing limits, cut into
    /// batches of 1 to 7, against the in-process window. Needs the test script's
    /// Redis (`TESSERA_TEST_REDIS_URL`); without it there is nothing to run.
    #[tokio::test]
    async fn a_batch_decides_as_its_requests_one_by_one() {
        let Ok(url) = std::env::var("TESSERA_TEST_REDIS_URL") else {
            return;
        };
        let limiter = RedisLimiter::connect(&RedisUrl::parse(&url).unwrap(), false)
            .await
            .unwrap();
        let key = key(&format!("app:batch-unit-{}", uuid::Uuid::new_v4().simple()));
        let (mut window, mut now, mut x) = (Window::default(), 1_767_225_600_i64, 0x9e37_79b9_u64);
        let mut step = 0;
        while step < 600 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let size = 1 + (x % 7) as usize;
            let mut takes = Vec::new();
            let mut expected = Vec::new();
            let mut answers = Vec::new();
            for j in 0..size {
                now += match (x >> (8 + 4 * j)) % 12 {
                    0..=6 => 0,
                    7 | 8 => 1 + (x >> 40) as i64 % 5,
                    9 => -2,
                    10 => 30,
                    _ => 61,
                };
                let limit = [4, 9, 2][(step / 200).min(2)];
                expected.push(window.take(now, limit));
                let (reply, answer) = oneshot::channel();
                takes.push(Take {
                    key: key.clone(),
                    limit,
                    now,
                    reply,
                });
                answers.push(answer);
                step += 1;
            }
            limiter.redis.decide_bucket(takes).await;
            for (j, (answer, expected)) in answers.into_iter().zip(expected).enumerate() {
                let got = answer.await.unwrap().unwrap();
                assert_eq!(got, expected, "step {}", step - size + j);
            }
        }
    }

    #[test]
    fn redis_passwords_never_print() {
        let url = RedisUrl::parse("redis://:hunter2@127.0.0.1:6379/0, redis://u:pw2@10.0.0.2:7000")
            .unwrap();
        assert_eq!(url.expose_secret().len(), 2);
        for shown in [format!("{url}"), format!("{url:?}")] {
            assert!(
                !shown.contains("hunter2") && !shown.contains("pw2"),
                "{shown}"
            );
        }
        assert_eq!(
            url.to_string(),
            "redis://:***@127.0.0.1:6379/0,redis://u:***@10.0.0.2:7000"
        );
        let err = RedisUrl::parse("http://:hunter2@host").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(RedisUrl::parse(" , ").is_err());
    }

    #[test]
    fn an_apps_buckets_share_one_cluster_slot() {
        assert_eq!(key("app:app_1"), "tessera:rl2:{app:app_1}");
        assert_eq!(
            key("app:app_1|/v1/projects"),
            "tessera:rl2:{app:app_1}|/v1/projects"
        );
        assert_eq!(
            key("ip:203.0.113.1|/oauth/token"),
            "tessera:rl2:{ip:203.0.113.1}|/oauth/token"
        );
        let slot = |bucket: &str| Slot::for_key(key(bucket));
        for app in ["app_1", "lofty-cli", "app_01JD8Z"] {
            let general = slot(&format!("app:{app}"));
            for endpoint in ["/v1/projects", "/v1/auth/otp", "/v1/me"] {
                assert_eq!(slot(&format!("app:{app}|{endpoint}")), general);
            }
        }
        // Different apps spread over the slots.
        let spread: std::collections::HashSet<Slot> =
            (0..64).map(|i| slot(&format!("app:app_{i}"))).collect();
        assert!(spread.len() > 32, "{}", spread.len());
    }
}
