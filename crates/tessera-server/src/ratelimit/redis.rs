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
//! TLS: a `rediss://` URL connects over TLS (rustls), checking the server's
//! certificate against the OS's CA certificates, or `SSL_CERT_FILE` instead, as
//! mail does; redis-rs's `#insecure` (no check) is refused. A certificate that
//! cannot be checked stops start-up with the fix: no retry would help.
//!
//! The time is the instance's `now`, as for the other backends: instances need
//! synchronised clocks, Redis's own does not matter.

use super::{Bucket, Decision, PERIOD_SECS};
use crate::error::{Error, Result};
use crate::secret::SecretUrl;
use futures_util::future::join_all;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// The longest a decision may take, from the request asking to its answer,
/// connecting and waiting for a batch included: past it the store counts as
/// unreachable, so a hung Redis never hangs requests.
pub const TIMEOUT: Duration = Duration::from_millis(500);

/// Multiplexed connections to a single Redis, used in turn.
const CONNECTIONS: usize = 4;

/// Decisions are made in batches: one worker takes every request waiting (up to
/// [`MAX_BATCH`]) and sends one script per bucket, so under load one app's
/// requests cost Redis one script call, not one each, and this process one
/// command. Each request is still decided by a script that started after it
/// asked, in arrival order, atomically: the answers are those of one script per
/// request. One batch is in flight at a time: the requests that arrive during its
/// round trip make the next one. (Two workers in flight made the second one
/// leave at once with whoever had just arrived: half the batch size, so twice
/// the calls, each costing Redis and this process about as much as a full one.)
const MAX_BATCH: usize = 64;

/// KEYS[1]: the bucket's hash. ARGV[1]: the period (seconds); ARGV[2]: the
/// requests to decide, in order, each `now` (8 bytes, signed) and `limit` (4
/// bytes), little-endian. Returns for each `allowed` (1 byte, 0/1), `remaining`
/// (4 bytes) and `reset` (8 bytes, signed), little-endian, in one binary string:
/// exactly what `Window::take` answers to the same calls one after the other.
/// (Binary both ways because numbers as text cost: Redis formats a number about
/// as slowly as it runs the rest of the script, and one bulk string reads much
/// faster here than an array of integers.)
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
local requests = ARGV[2]
local now, limit
for i = 1, #requests, 12 do
  now, limit = struct.unpack('<i8I4', requests, i)
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
  answers[#answers + 1] = struct.pack('<BI4i8', allowed and 1 or 0, remaining, reset)
end
flush()
if total > 0 then
  if changed then redis.call('HSET', key, 't', total, 'o', oldest, 'n', newest) end
  if newest ~= expiring then redis.call('EXPIRE', key, math.max(newest + period - now, 1)) end
end
return table.concat(answers)
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

/// One request's decision, waiting for the worker.
struct Take {
    /// [`Bucket::key`].
    bucket: String,
    limit: u32,
    now: i64,
    /// When the request asked: it is answered by `asked + TIMEOUT`.
    asked: Instant,
    reply: oneshot::Sender<Result<Decision>>,
}

pub struct RedisLimiter {
    /// Unbounded, yet never longer than the requests in flight: each take's
    /// request waits for its answer.
    takes: mpsc::UnboundedSender<Take>,
    redis: Arc<Redis>,
}

/// The connections and the scripts, shared by the worker and the refunds.
struct Redis {
    connections: Connections,
    next: AtomicUsize,
    script: redis::Script,
    refund_script: redis::Script,
}

impl RedisLimiter {
    /// Sets up the connections without waiting for them, then checks Redis once:
    /// a refused or missing password, a database Redis does not have, a TLS
    /// certificate that cannot be trusted, or an answer that is not Redis's is a
    /// configuration error; a Redis that does not answer yet is only a warning
    /// (decisions retry it). Starts the worker, so it needs a Tokio runtime.
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
        Redis::check(url).await?;
        let (takes, waiting) = mpsc::unbounded_channel();
        tokio::spawn(redis.clone().work(waiting));
        Ok(Self { takes, redis })
    }

    /// Counts one request against `bucket` (when under its limit), together with
    /// whatever other requests are waiting (see [`MAX_BATCH`]). Answered within
    /// [`TIMEOUT`] by the worker, so no timer per request.
    pub async fn take(&self, bucket: &Bucket, now: i64) -> Result<Decision> {
        let (reply, decision) = oneshot::channel();
        let take = Take {
            bucket: bucket.key.clone(),
            limit: bucket.limit,
            now,
            asked: Instant::now(),
            reply,
        };
        let stopped = || Error::LimiterUnreachable("the Redis limiter's worker has stopped".into());
        self.takes.send(take).map_err(|_| stopped())?;
        decision.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Gives back a request taken at `taken_at` ([`REFUND_SCRIPT`]).
    pub async fn refund(&self, bucket: &Bucket, taken_at: i64) -> Result<()> {
        let mut invocation = self.redis.refund_script.key(key(&bucket.key));
        invocation.arg(taken_at);
        let _refunded: i64 = self
            .redis
            .run(&invocation, Instant::now() + TIMEOUT)
            .await?;
        Ok(())
    }
}

/// Whether `e` is redis-rs's "refused to switch database" (any error answer
/// to the `SELECT` of the URL's database) for the reason `said`. Only the
/// reason tells a database Redis lacks ("DB index is out of range") from a
/// missing password (NOAUTH) or a Redis busy for now (BUSY, which a retry
/// outlives and so must not stop start-up).
fn refused_select(e: &redis::RedisError, said: &str) -> bool {
    e.to_string().contains("refused to switch database")
        && e.detail().is_some_and(|d| d.contains(said))
}

impl Redis {
    /// Pings the first node on a connection of its own, which (unlike the
    /// managers and the cluster client) reports why it failed: a refused
    /// password or certificate is a configuration error.
    async fn check(url: &RedisUrl) -> Result<()> {
        let answer = tokio::time::timeout(TIMEOUT, async {
            let client = redis::Client::open(url.expose_secret()[0])?;
            let mut connection = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
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
            // Answers that no retry changes: starting anyway would serve
            // without limits (or refuse everything) until someone reads the log.
            Ok(Err(e))
                if e.code() == Some("NOAUTH") || refused_select(&e, "Authentication required") =>
            {
                return Err(Error::Config(format!(
                    "Redis at {url} needs a password: put it in the URL, \
                     redis://:PASSWORD@HOST:PORT ({})",
                    describe(&e)
                )));
            }
            Ok(Err(e)) if refused_select(&e, "out of range") => {
                return Err(Error::Config(format!(
                    "Redis at {url} has no such database: use /0 to /15, or what its \
                     `databases` setting allows ({})",
                    describe(&e)
                )));
            }
            Ok(Err(e))
                if matches!(
                    e.kind(),
                    redis::ErrorKind::Parse | redis::ErrorKind::UnexpectedReturnType
                ) =>
            {
                return Err(Error::Config(format!(
                    "what answers at {url} is not Redis: check the host and port"
                )));
            }
            Ok(Err(e)) if let Some(refused) = crate::tls::refused_certificate(&e) => {
                use crate::tls::Refused;
                let fix = match refused {
                    Refused::UnknownIssuer => {
                        "it is not issued by a CA this host trusts: add that CA to the OS \
                         store, or set SSL_CERT_FILE to a PEM bundle with it"
                    }
                    Refused::OtherName => {
                        "it is for another name: use that host name in the Redis URL"
                    }
                    Refused::Expired => "it has expired",
                    Refused::Other => "it was refused",
                };
                return Err(Error::Config(format!(
                    "Redis at {url}: its TLS certificate cannot be trusted; {fix} ({})",
                    describe(&e)
                )));
            }
            Ok(Err(e)) => describe(&e),
            Err(_) => format!("no answer within {} ms", TIMEOUT.as_millis()),
        };
        tracing::warn!(redis = %url, error = %problem, "Redis does not answer yet");
        Ok(())
    }

    /// The worker: one batch in flight at a time (see [`MAX_BATCH`]).
    async fn work(self: Arc<Self>, mut waiting: mpsc::UnboundedReceiver<Take>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
            // Let the runtime first run the tasks that are ready (under load,
            // requests whose bytes have just arrived) so that they join this
            // batch; with nothing else to do this returns at once.
            tokio::task::yield_now().await;
            while batch.len() < MAX_BATCH {
                match waiting.try_recv() {
                    Ok(take) => batch.push(take),
                    Err(_) => break,
                }
            }
            self.decide(std::mem::take(&mut batch)).await;
        }
    }

    /// Answers a batch: one [`SCRIPT`] per bucket, with that bucket's requests
    /// in the order they arrived (so one app's requests are a single script),
    /// the buckets' scripts sent together, all answered by the deadline of the
    /// oldest request. A request that has already waited [`TIMEOUT`] (behind a
    /// batch Redis did not answer) is answered at once, unsent.
    async fn decide(&self, batch: Vec<Take>) {
        let now = Instant::now();
        let mut buckets: Vec<Vec<Take>> = Vec::new();
        let mut deadline = None;
        for take in batch {
            let due = take.asked + TIMEOUT;
            if due <= now {
                let _ = take.reply.send(Err(no_answer()));
                continue;
            }
            deadline = Some(deadline.map_or(due, |d: Instant| d.min(due)));
            match buckets.iter_mut().find(|b| b[0].bucket == take.bucket) {
                Some(bucket) => bucket.push(take),
                None => buckets.push(vec![take]),
            }
        }
        let Some(deadline) = deadline else { return };
        join_all(
            buckets
                .into_iter()
                .map(|takes| self.decide_bucket(takes, deadline)),
        )
        .await;
    }

    async fn decide_bucket(&self, takes: Vec<Take>, deadline: Instant) {
        let mut requests = Vec::with_capacity(takes.len() * 12);
        for take in &takes {
            requests.extend_from_slice(&take.now.to_le_bytes());
            requests.extend_from_slice(&take.limit.to_le_bytes());
        }
        let mut invocation = self.script.key(key(&takes[0].bucket));
        invocation.arg(PERIOD_SECS).arg(requests);
        // Every request of the bucket gets the same failure, so keep its reason.
        let answers = match self.run::<Vec<u8>>(&invocation, deadline).await {
            Ok(reply) => parse_answers(&reply, takes.len()),
            Err(Error::LimiterUnreachable(why)) => Err(why),
            Err(e) => Err(e.to_string()),
        };
        for (i, take) in takes.into_iter().enumerate() {
            let decision = match &answers {
                Ok(a) => Ok(Decision {
                    allowed: a[i].0,
                    limit: take.limit,
                    remaining: a[i].1,
                    reset: a[i].2,
                    now: take.now,
                }),
                Err(why) => Err(Error::LimiterUnreachable(why.clone())),
            };
            let _ = take.reply.send(decision);
        }
    }

    /// One script on the next connection (the owning shard in a cluster), by
    /// `deadline`; a failure is [`Error::LimiterUnreachable`].
    async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
        deadline: Instant,
    ) -> Result<T> {
        let run = async {
            match &self.connections {
                Connections::Single(managers) => {
                    let i = self.next.fetch_add(1, Ordering::Relaxed) % managers.len();
                    let mut manager = managers[i].clone();
                    match invocation.invoke_async(&mut manager).await {
                        // A refusal is this connection's last attempt to
                        // connect, made while Redis was down: nothing was sent.
                        // It has just started a new attempt; waiting for that
                        // one makes the first decision after Redis is back
                        // count, not the first on each of the connections.
                        Err(e) if e.is_connection_refusal() => {
                            invocation.invoke_async(&mut manager).await
                        }
                        answer => answer,
                    }
                }
                Connections::Cluster(conn) => invocation.invoke_async(&mut conn.clone()).await,
            }
        };
        match tokio::time::timeout_at(deadline.into(), run).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(Error::LimiterUnreachable(describe(&e))),
            Err(_) => Err(no_answer()),
        }
    }
}

/// One answer of [`SCRIPT`]'s reply: allowed, remaining, reset.
const ANSWER_BYTES: usize = 1 + 4 + 8;

/// [`SCRIPT`]'s reply, one `(allowed, remaining, reset)` per request.
fn parse_answers(reply: &[u8], requests: usize) -> Result<Vec<(bool, u32, i64)>, String> {
    if reply.len() != requests * ANSWER_BYTES {
        return Err(format!(
            "the Redis script answered {} bytes for {requests} requests",
            reply.len()
        ));
    }
    Ok(reply
        .chunks_exact(ANSWER_BYTES)
        .map(|a| {
            let remaining = u32::from_le_bytes(a[1..5].try_into().expect("4 bytes"));
            let reset = i64::from_le_bytes(a[5..13].try_into().expect("8 bytes"));
            (a[0] == 1, remaining, reset)
        })
        .collect())
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
                .filter(|p| matches!(p.scheme(), "redis" | "rediss") && p.host_str().is_some());
            // Never echo the URL: it may hold the password.
            let Some(parsed) = parsed else {
                return Err(format!(
                    "Redis URL number {} is not redis[s]://[:PASSWORD@]HOST:PORT[/DB] \
                     (rediss: over TLS)",
                    i + 1
                ));
            };
            if parsed.fragment().is_some() {
                return Err(format!(
                    "Redis URL number {} ends in a #fragment: tesserad does not turn \
                     certificate checks off (#insecure); trust the server's CA with \
                     SSL_CERT_FILE or the OS store instead",
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

    /// TLS is `rediss://`; no URL turns its certificate check off, and no
    /// message repeats a URL (it may hold the password).
    #[test]
    fn urls_with_and_without_tls() {
        assert!(RedisUrl::parse("redis://:pw@127.0.0.1:6379").is_ok());
        assert!(RedisUrl::parse("rediss://:pw@127.0.0.1:6380/2").is_ok());
        for bad in [
            "rediss://:hunter2@127.0.0.1:6380/#insecure",
            "http://:hunter2@127.0.0.1:6379",
            "redis+unix:///tmp/hunter2.sock",
        ] {
            let error = RedisUrl::parse(bad).unwrap_err();
            assert!(error.starts_with("Redis URL number 1 "), "{error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
    }

    /// A Redis on 127.0.0.1 that answers `SELECT` with `select` and `PING`
    /// with `ping` (other commands `+OK`), one connection after another.
    fn scripted_redis(select: &'static str, ping: &'static str) -> u16 {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut buf = [0; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    // Each command is an array whose first bulk string is its
                    // name: the line after the `$len` that follows `*N`.
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let lines: Vec<&str> = text.split("\r\n").collect();
                    let mut answer = String::new();
                    for (i, line) in lines.iter().enumerate() {
                        if line.starts_with('*') {
                            answer.push_str(match lines.get(i + 2).copied() {
                                Some("SELECT") => select,
                                Some("PING") => ping,
                                _ => "+OK\r\n",
                            });
                        }
                    }
                    if stream.write_all(answer.as_bytes()).is_err() {
                        break;
                    }
                }
            }
        });
        port
    }

    /// The database of the URL is refused at start-up only when Redis says it
    /// has no such database; a missing password says so; a Redis busy with a
    /// script (BUSY, to SELECT too) is only a warning, as a Redis down is: it
    /// was refused as "no such database", and start-up stopped.
    #[tokio::test]
    async fn only_a_database_redis_lacks_is_refused_as_such() {
        const BUSY: &str = "-BUSY Redis is busy running a script. You can only call \
                            SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";
        let url = |port| RedisUrl::parse(&format!("redis://127.0.0.1:{port}/1")).unwrap();
        let busy = scripted_redis(BUSY, BUSY);
        assert!(Redis::check(&url(busy)).await.is_ok());
        let no_auth = "-NOAUTH Authentication required.\r\n";
        let no_auth = url(scripted_redis(no_auth, no_auth));
        let error = Redis::check(&no_auth).await.unwrap_err().to_string();
        assert!(error.contains("needs a password"), "{error}");
        let missing = "-ERR DB index is out of range\r\n";
        let missing = url(scripted_redis(missing, "+PONG\r\n"));
        let error = Redis::check(&missing).await.unwrap_err().to_string();
        assert!(error.contains("has no such database"), "{error}");
    }

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
        let bucket = format!("app:batch-unit-{}", uuid::Uuid::new_v4().simple());
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
                    bucket: bucket.clone(),
                    limit,
                    now,
                    asked: Instant::now(),
                    reply,
                });
                answers.push(answer);
                step += 1;
            }
            let deadline = Instant::now() + TIMEOUT;
            limiter.redis.decide_bucket(takes, deadline).await;
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
