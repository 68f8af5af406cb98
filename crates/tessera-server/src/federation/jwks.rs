//! The signing keys of trusted issuers: found through the issuer's OpenID
//! discovery document (`/.well-known/openid-configuration` → `jwks_uri`),
//! cached per issuer, fetched again when the cache is older than its TTL or a
//! token names a `kid` the cache lacks.
//!
//! - Only issuers of some trust rule are ever fetched (the caller looks the
//!   rules up first), so a token cannot make the server call a URL of its
//!   choosing. Both documents must be https, or http on a loopback address.
//! - For an account member's rule ([`Reach::Public`]) every connection goes to
//!   a public address only: the resolver drops the others when it connects,
//!   so neither a `jwks_uri` pointing inwards nor a DNS answer that changed
//!   since the rule was added (rebinding) reaches this server's networks.
//! - A refresh for an unknown `kid` happens at most once per
//!   [`FetchConfig::unknown_kid_interval_secs`] per issuer, so a flood of
//!   tokens with made-up kids costs the issuer nothing.
//! - One fetch per issuer at a time: concurrent requests wait for it.
//! - Connect and whole-request timeouts, no redirects, bounded bodies: a slow
//!   or hostile issuer cannot hang the token endpoint.
//! - When the issuer cannot be reached and the cached keys are not older than
//!   [`FetchConfig::max_stale_secs`], they are used (and a warning logged).
//! - A failed fetch is the answer for [`FAILURE_BACKOFF_SECS`]: tokens naming
//!   an issuer that is down do not queue for fetches of their own.
//!
//! Time (`now`, Unix seconds) comes from the caller's clock.

use super::jws::PublicKey;
use super::refusal::Refusal;
use crate::store::Reach;
use serde_json::Value;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How keys are fetched and kept.
#[derive(Clone, Copy, Debug)]
pub struct FetchConfig {
    /// Establishing the connection.
    pub connect_timeout: Duration,
    /// One request, from start to the end of the body.
    pub request_timeout: Duration,
    /// Keys are fetched again when older than this.
    pub ttl_secs: i64,
    /// At most one refresh per issuer within this, for unknown kids.
    pub unknown_kid_interval_secs: i64,
    /// Keys this old are still used while the issuer cannot be reached.
    pub max_stale_secs: i64,
    /// Members' rules may reach loopback addresses too: this server's own
    /// issuer is on loopback, a development machine.
    pub members_reach_loopback: bool,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(5),
            ttl_secs: 300,
            unknown_kid_interval_secs: 10,
            max_stale_secs: 3600,
            members_reach_loopback: false,
        }
    }
}

/// Discovery documents and JWKS larger than this are refused.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

struct Fetched {
    keys: Vec<PublicKey>,
    fetched_at: i64,
    /// The last refresh made because of an unknown kid.
    unknown_kid_refresh_at: Option<i64>,
}

/// What is known of one issuer's keys.
#[derive(Default)]
struct Cached {
    fetched: Option<Fetched>,
    /// The last fetch that failed, and when: for [`FAILURE_BACKOFF_SECS`]
    /// it is the answer, without another attempt.
    failed: Option<(i64, FetchFailure)>,
}

/// While an issuer is down or slow, each token naming it would wait for a
/// fetch of its own (one at a time per issuer, up to the timeouts): a queue
/// that anyone can lengthen, with every app that trusts the issuer in it.
/// For this long after a failure, the failure is the answer at once.
const FAILURE_BACKOFF_SECS: i64 = 5;

type Slot = Arc<tokio::sync::Mutex<Cached>>;

/// The key cache of every trusted issuer; one per server (in `Services`).
pub struct IssuerKeys {
    /// For administrators' rules.
    http: reqwest::Client,
    /// For members' rules: resolves to public addresses only.
    http_public: reqwest::Client,
    config: FetchConfig,
    /// Per issuer and reach: keys fetched as an administrator's rule allows
    /// are not handed to a member's.
    slots: Mutex<HashMap<(String, Reach), Slot>>,
}

/// Resolves host names to the addresses a member's rule may reach (see
/// [`allowed_for_members`]); a name with none left does not resolve.
struct PublicResolver {
    loopback: bool,
}

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let loopback = self.loopback;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allowed_for_members(a.ip(), loopback))
                .collect();
            if found.is_empty() {
                return Err(
                    format!("{host} has no address outside this server's own networks").into(),
                );
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether a member's rule may make tesserad connect to `ip`.
fn allowed_for_members(ip: IpAddr, loopback: bool) -> bool {
    is_public(ip) || (loopback && ip.is_loopback())
}

/// Whether `url` may be fetched: https, or plain http on a loopback address
/// (tests, and an issuer on the same machine). Says why not.
pub fn check_url(url: &str) -> Result<url::Url, String> {
    // Named in every message without a password someone pasted into it.
    let shown = crate::urls::without_password(url);
    let parsed = url::Url::parse(url).map_err(|e| format!("{shown:?} is not a URL: {e}"))?;
    let url = &shown;
    let loopback = crate::urls::is_loopback(&parsed);
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(format!(
                "{url} is plain http: an issuer must use https (plain http only on a loopback address)"
            ));
        }
        other => return Err(format!("{url}: the scheme {other}: is not https")),
    }
    if parsed.host().is_none() || !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("{url} must name a host and no user or password"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!("{url} must have no query or fragment"));
    }
    Ok(parsed)
}

/// Whether an account member may name `url` as an issuer in the console:
/// its host must not be on this server's own networks (loopback, private,
/// link-local, shared, unique-local addresses), or any account could make
/// tesserad fetch its neighbours (SSRF) by trusting them and sending a token.
/// An administrator may name any (`tesserad admin trust add`); a server whose
/// own issuer (`server_issuer`) is on loopback, a development machine, lets
/// members name loopback issuers too. A host name is resolved now (for 3 s
/// at most); one that does not resolve cannot be fetched either and passes.
pub async fn check_member_issuer(url: &str, server_issuer: &str) -> Result<(), String> {
    let parsed = check_url(url)?;
    let local_server = is_loopback_url(server_issuer);
    let addresses: Vec<IpAddr> = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => vec![ip.into()],
        Some(url::Host::Ipv6(ip)) => vec![ip.into()],
        Some(url::Host::Domain(name)) => {
            let port = parsed.port_or_known_default().unwrap_or(443);
            let lookup = tokio::net::lookup_host((name, port));
            match tokio::time::timeout(Duration::from_secs(3), lookup).await {
                Ok(Ok(found)) => found.map(|a| a.ip()).collect(),
                _ => Vec::new(),
            }
        }
        None => Vec::new(),
    };
    match addresses
        .into_iter()
        .find(|ip| !allowed_for_members(*ip, local_server))
    {
        Some(ip) => Err(format!(
            "{url} is on a local or private network address ({ip}); ask an administrator to add it with `tesserad admin trust add`"
        )),
        None => Ok(()),
    }
}

/// Whether `url` (this server's issuer) is on loopback: a development machine.
pub fn is_loopback_url(url: &str) -> bool {
    check_url(url).is_ok_and(|s| crate::urls::is_loopback(&s))
}

/// An address on the internet at large, not one of this machine's networks.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            let shared = a == 100 && (64..128).contains(&b); // RFC 6598
            let benchmarking = a == 198 && (18..20).contains(&b); // RFC 2544
            let protocol = a == 192 && b == 0 && c == 0; // RFC 6890
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || shared
                || benchmarking
                || protocol
                || a == 0
                || a >= 240) // reserved (RFC 1112)
        }
        IpAddr::V6(v6) => {
            // Addresses that carry an IPv4 address reach it: mapped, NAT64
            // (RFC 6052: a translator turns 64:ff9b::10.0.0.1 into 10.0.0.1)
            // and 6to4 (RFC 3056).
            let s = v6.segments();
            let embedded = |hi: u16, lo: u16| {
                let [a, b] = hi.to_be_bytes();
                let [c, d] = lo.to_be_bytes();
                std::net::Ipv4Addr::new(a, b, c, d)
            };
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(v4.into());
            }
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return is_public(embedded(s[6], s[7]).into());
            }
            if s[0] == 0x2002 {
                return is_public(embedded(s[1], s[2]).into());
            }
            let local_nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1; // RFC 8215
            let ipv4_compatible = s[..6] == [0; 6]; // ::a.b.c.d, deprecated
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || local_nat64
                || ipv4_compatible)
        }
    }
}

impl IssuerKeys {
    pub fn new(config: FetchConfig) -> Result<Self, String> {
        let builder = || {
            reqwest::Client::builder()
                .connect_timeout(config.connect_timeout)
                .timeout(config.request_timeout)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("tesserad/", env!("CARGO_PKG_VERSION")))
        };
        let failed =
            |e: reqwest::Error| format!("cannot build the HTTP client for issuer keys: {e}");
        let public = PublicResolver {
            loopback: config.members_reach_loopback,
        };
        Ok(Self {
            http: builder().build().map_err(failed)?,
            // No proxy: the resolver must see the name tesserad connects to.
            http_public: (builder().no_proxy().dns_resolver(public).build()).map_err(failed)?,
            config,
            slots: Mutex::new(HashMap::new()),
        })
    }

    fn slot(&self, issuer: &str, reach: Reach) -> Slot {
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry((issuer.to_owned(), reach))
            .or_default()
            .clone()
    }

    /// The keys named `kid` of `issuer` (at least one), from the cache or the
    /// issuer, fetched only from addresses `reach` allows. Several keys may
    /// share a kid (RFC 7517 §4.5: e.g. an RSA and an EC key); the token's
    /// signature picks among them.
    pub async fn key(
        &self,
        issuer: &str,
        kid: &str,
        reach: Reach,
        now: i64,
    ) -> Result<Vec<PublicKey>, Refusal> {
        let find = |f: &Fetched| {
            let named: Vec<PublicKey> = f.keys.iter().filter(|k| k.kid == kid).cloned().collect();
            (!named.is_empty()).then_some(named)
        };
        let slot = self.slot(issuer, reach);
        let mut cached = slot.lock().await;
        let fresh = cached
            .fetched
            .as_ref()
            .is_some_and(|f| now - f.fetched_at < self.config.ttl_secs);
        if fresh {
            let fetched = cached.fetched.as_mut().expect("fresh means cached");
            if let Some(key) = find(fetched) {
                return Ok(key);
            }
            let may_refresh = fetched
                .unknown_kid_refresh_at
                .is_none_or(|at| now - at >= self.config.unknown_kid_interval_secs);
            if !may_refresh {
                return Err(Refusal::UnknownKey(kid.to_owned()));
            }
            fetched.unknown_kid_refresh_at = Some(now);
            tracing::info!(issuer, kid, "unknown kid: fetching the issuer's keys again");
        }
        let failed_lately = cached
            .failed
            .as_ref()
            .filter(|(at, _)| now - at < FAILURE_BACKOFF_SECS)
            .map(|(_, failure)| failure.clone());
        // When the answer was known: a fetch that timed out ended seconds
        // after `now`, and the pause after a failure counts from its end, or
        // an issuer slower than the pause would be fetched again by the next
        // token, which waits out the timeout as well.
        let mut known_at = now;
        let result = match failed_lately {
            Some(failure) => Err(failure),
            None => {
                let started = std::time::Instant::now();
                let result = self.fetch(issuer, reach).await;
                let took = i64::try_from(started.elapsed().as_secs()).unwrap_or(i64::MAX);
                known_at = now.saturating_add(took);
                if let Err(reason) = &result {
                    // Debug-quoted: it holds what the issuer sent (a URL, a kid).
                    tracing::warn!(issuer, detail = ?reason.detail, "cannot fetch an issuer's keys");
                }
                result
            }
        };
        match result {
            Ok(keys) => {
                let unknown_kid_refresh_at = cached
                    .fetched
                    .as_ref()
                    .and_then(|f| f.unknown_kid_refresh_at);
                cached.failed = None;
                let fetched = cached.fetched.insert(Fetched {
                    keys,
                    fetched_at: now,
                    unknown_kid_refresh_at,
                });
                find(fetched).ok_or_else(|| Refusal::UnknownKey(kid.to_owned()))
            }
            Err(reason) => {
                let stale = cached
                    .fetched
                    .as_ref()
                    .filter(|stale| now - stale.fetched_at < self.config.max_stale_secs)
                    .map(|stale| find(stale).ok_or_else(|| Refusal::UnknownKey(kid.to_owned())));
                let refusal = Refusal::IssuerUnavailable {
                    issuer: issuer.to_owned(),
                    reason: reason.public,
                    detail: reason.detail.clone(),
                };
                if cached
                    .failed
                    .as_ref()
                    .is_none_or(|(at, _)| now - at >= FAILURE_BACKOFF_SECS)
                {
                    cached.failed = Some((known_at, reason));
                }
                // Cached keys not too old stand in while the issuer is away.
                stale.unwrap_or(Err(refusal))
            }
        }
    }

    /// The issuer's usable signing keys, via its discovery document.
    async fn fetch(&self, issuer: &str, reach: Reach) -> Result<Vec<PublicKey>, FetchFailure> {
        let discovery = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let metadata = self.get_json(&discovery, reach).await?;
        if metadata.get("issuer").and_then(Value::as_str) != Some(issuer) {
            return Err(FetchFailure::unusable(format!(
                "{discovery} names another issuer ({}); it must be exactly {issuer}",
                metadata.get("issuer").unwrap_or(&Value::Null)
            )));
        }
        let jwks_uri = metadata
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| FetchFailure::unusable(format!("{discovery} has no jwks_uri")))?;
        check_url(jwks_uri).map_err(FetchFailure::unusable)?;
        let jwks = self.get_json(jwks_uri, reach).await?;
        let listed = jwks.get("keys").and_then(Value::as_array).ok_or_else(|| {
            FetchFailure::unusable(format!("{jwks_uri} is not a JWKS (no \"keys\" array)"))
        })?;
        let mut keys: Vec<PublicKey> = Vec::new();
        // A token is checked with every key of its kid that fits its alg. A
        // JWKS repeating one kid and type (256 KiB hold over a thousand
        // P-256 keys) would make each token anyone sends, forged or not,
        // cost a thousand signature checks; RFC 7517 §4.5 lets keys share a
        // kid when they differ, e.g. in kty. The first of each is kept.
        let mut kinds = std::collections::HashSet::new();
        let mut repeated = 0usize;
        for jwk in listed {
            match PublicKey::from_jwk(jwk) {
                Ok(Some(key)) if kinds.insert((key.kid.clone(), key.kind())) => keys.push(key),
                Ok(Some(_)) => repeated += 1,
                Ok(None) => {}
                Err(why) => tracing::warn!(issuer, ?why, "skipping a broken key in the JWKS"),
            }
        }
        if repeated > 0 {
            tracing::warn!(
                issuer,
                repeated,
                "skipping keys whose kid and type an earlier key of the JWKS has"
            );
        }
        tracing::info!(issuer, keys = keys.len(), "fetched issuer keys");
        Ok(keys)
    }

    async fn get_json(&self, url: &str, reach: Reach) -> Result<Value, FetchFailure> {
        let parsed = check_url(url).map_err(FetchFailure::unusable)?;
        let http = match reach {
            Reach::Anywhere => &self.http,
            Reach::Public => {
                // An address in the URL is not resolved: checked here.
                let literal: Option<IpAddr> = match parsed.host() {
                    Some(url::Host::Ipv4(ip)) => Some(ip.into()),
                    Some(url::Host::Ipv6(ip)) => Some(ip.into()),
                    _ => None,
                };
                if let Some(ip) = literal
                    .filter(|ip| !allowed_for_members(*ip, self.config.members_reach_loopback))
                {
                    return Err(FetchFailure {
                        public: "cannot connect",
                        detail: format!(
                            "{url}: {ip} is on this server's own networks, which only an administrator's trust rule may reach"
                        ),
                    });
                }
                &self.http_public
            }
        };
        let mut response = http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| describe(url, &e))?;
        if !response.status().is_success() {
            let detail = format!("{url} answered HTTP {}", response.status());
            return Err(FetchFailure::unusable(detail));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(FetchFailure::unusable(format!(
                "{url} is larger than 256 KiB"
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| describe(url, &e))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_DOCUMENT_BYTES {
                return Err(FetchFailure::unusable(format!(
                    "{url} is larger than 256 KiB"
                )));
            }
        }
        serde_json::from_slice(&body)
            .map_err(|e| FetchFailure::unusable(format!("{url} is not JSON: {e}")))
    }
}

/// A failed request in words: timed out, refused, or what else.
/// Why fetching an issuer's keys failed: `public` for the token endpoint's
/// answer (see [`Refusal::IssuerUnavailable`]), `detail` for the log.
#[derive(Clone, Debug)]
struct FetchFailure {
    public: &'static str,
    detail: String,
}

impl FetchFailure {
    /// It answered, but not with a discovery document and JWKS for this issuer.
    fn unusable(detail: String) -> Self {
        Self {
            public: "it does not serve a usable discovery document and JWKS",
            detail,
        }
    }
}

fn describe(url: &str, e: &reqwest::Error) -> FetchFailure {
    let public = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "the request failed"
    };
    let what = if public == "the request failed" {
        e.to_string()
    } else {
        public.to_owned()
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    let detail = if detail.is_empty() {
        format!("{url}: {what}")
    } else {
        format!("{url}: {what} ({detail})")
    };
    FetchFailure { public, detail }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Signer, issuer};
    use super::*;

    fn keys() -> IssuerKeys {
        IssuerKeys::new(FetchConfig::default()).unwrap()
    }

    #[tokio::test]
    async fn keys_are_cached_and_refreshed_for_a_new_kid_once_per_interval() {
        let issuer = issuer().await;
        let (a, b) = (Signer::ed(), Signer::ec());
        issuer.publish(&[(&a, "a")]);
        let cache = keys();
        let t = 1_000;
        assert_eq!(
            cache
                .key(&issuer.url, "a", Reach::Anywhere, t)
                .await
                .unwrap()[0]
                .kid,
            "a"
        );
        assert_eq!(
            cache
                .key(&issuer.url, "a", Reach::Anywhere, t + 1)
                .await
                .unwrap()[0]
                .kid,
            "a"
        );
        assert_eq!(issuer.fetches(), 1, "cached");

        // The issuer rotates: an unknown kid makes one refresh.
        issuer.publish(&[(&a, "a"), (&b, "b")]);
        assert_eq!(
            cache
                .key(&issuer.url, "b", Reach::Anywhere, t + 2)
                .await
                .unwrap()[0]
                .kid,
            "b"
        );
        assert_eq!(issuer.fetches(), 2);

        // Made-up kids: refused after at most one refresh per interval.
        let interval = FetchConfig::default().unknown_kid_interval_secs;
        for i in 0..20 {
            assert_eq!(
                cache
                    .key(&issuer.url, &format!("junk{i}"), Reach::Anywhere, t + 3)
                    .await,
                Err(Refusal::UnknownKey(format!("junk{i}")))
            );
        }
        assert_eq!(issuer.fetches(), 2, "refreshed at t+2 already");
        let later = t + 2 + interval;
        assert!(
            cache
                .key(&issuer.url, "junk", Reach::Anywhere, later)
                .await
                .is_err()
        );
        assert_eq!(issuer.fetches(), 3, "one refresh after the interval");
        assert!(
            cache
                .key(&issuer.url, "junk", Reach::Anywhere, later)
                .await
                .is_err()
        );
        assert_eq!(issuer.fetches(), 3);

        // After the TTL the keys are fetched again, kid known or not.
        let ttl = FetchConfig::default().ttl_secs;
        assert!(
            cache
                .key(&issuer.url, "a", Reach::Anywhere, later + ttl)
                .await
                .is_ok()
        );
        assert_eq!(issuer.fetches(), 4);
    }

    /// Keys sharing a kid are kept one per type: a JWKS listing one kid
    /// a thousand times would otherwise cost a thousand signature checks for
    /// every token naming it, forged ones included.
    #[tokio::test]
    async fn a_kid_keeps_one_key_of_each_type() {
        let issuer = issuer().await;
        let (ec, other_ec, ed) = (Signer::ec(), Signer::ec(), Signer::ed());
        let mut listed = vec![(&ec, "a"), (&ed, "a"), (&ec, "b")];
        listed.extend(std::iter::repeat_n((&other_ec, "a"), 50));
        issuer.publish(&listed);
        let cache = keys();
        let found = cache
            .key(&issuer.url, "a", Reach::Anywhere, 0)
            .await
            .unwrap();
        let kinds: Vec<_> = found.iter().map(PublicKey::kind).collect();
        assert_eq!(
            kinds,
            [super::super::jws::Alg::Es256, super::super::jws::Alg::EdDsa]
        );
        let b = cache
            .key(&issuer.url, "b", Reach::Anywhere, 0)
            .await
            .unwrap();
        assert_eq!(b.len(), 1);
    }

    #[tokio::test]
    async fn an_unreachable_issuer_is_a_clear_error_and_stale_keys_bridge_it() {
        let issuer = issuer().await;
        let a = Signer::ed();
        issuer.publish(&[(&a, "a")]);
        let cache = keys();
        assert!(
            cache
                .key(&issuer.url, "a", Reach::Anywhere, 0)
                .await
                .is_ok()
        );
        // Nothing listens on a port that was just released.
        let closed = tessera_testkit::closed_port_url();
        let err = cache
            .key(&closed, "a", Reach::Anywhere, 0)
            .await
            .unwrap_err();
        let Refusal::IssuerUnavailable {
            issuer: named,
            reason,
            ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(named, &closed);
        assert_eq!(*reason, "cannot connect");
        // The issuer's keys expired from the cache, and it went away: stale
        // keys are used for a while, then not.
        let gone = keys();
        assert!(gone.key(&issuer.url, "a", Reach::Anywhere, 0).await.is_ok());
        let slot = gone.slot(&issuer.url, Reach::Anywhere);
        let moved = Arc::new(tokio::sync::Mutex::new(std::mem::take(
            &mut *slot.lock().await,
        )));
        gone.slots
            .lock()
            .unwrap()
            .insert((closed.clone(), Reach::Anywhere), moved);
        let ttl = FetchConfig::default().ttl_secs;
        assert!(
            gone.key(&closed, "a", Reach::Anywhere, ttl).await.is_ok(),
            "stale but usable"
        );
        let max = FetchConfig::default().max_stale_secs;
        assert!(matches!(
            gone.key(&closed, "a", Reach::Anywhere, max).await,
            Err(Refusal::IssuerUnavailable { .. })
        ));
    }

    /// A failing issuer is asked again only after a pause: until then the
    /// failure is the answer, at once, for every token naming it.
    #[tokio::test]
    async fn a_failed_fetch_is_the_answer_for_a_few_seconds() {
        let issuer = issuer().await;
        issuer.break_jwks();
        let cache = keys();
        let t = 1_000;
        for now in [t, t + 1, t + FAILURE_BACKOFF_SECS - 1] {
            assert!(matches!(
                cache.key(&issuer.url, "a", Reach::Anywhere, now).await,
                Err(Refusal::IssuerUnavailable { .. })
            ));
        }
        assert_eq!(issuer.fetches(), 1);
        issuer.publish(&[(&Signer::ed(), "a")]);
        let later = t + FAILURE_BACKOFF_SECS;
        assert!(
            cache
                .key(&issuer.url, "a", Reach::Anywhere, later)
                .await
                .is_ok()
        );
        assert_eq!(issuer.fetches(), 2);
    }

    #[tokio::test]
    async fn members_may_not_name_issuers_on_local_networks() {
        let production = "https://auth.example.com";
        for local in [
            "http://127.0.0.1:9000",
            "http://localhost:9000",
            "https://10.0.0.7",
            "https://192.168.1.1",
            "https://169.254.169.254",
            "https://[fd00::1]",
            "https://[::ffff:10.1.2.3]",
            "https://100.64.0.1",
            "https://198.18.0.1",
            "https://240.0.0.1",
            "https://192.0.0.8",
            "https://[64:ff9b::a00:1]",
            "https://[64:ff9b:1::1]",
            "https://[2002:c0a8:101::1]",
            "https://[::10.0.0.1]",
        ] {
            let refused = check_member_issuer(local, production).await;
            assert!(
                refused.is_err_and(|e| e.contains("admin trust add")),
                "{local}"
            );
        }
        for public in [
            "https://token.actions.githubusercontent.com",
            "https://8.8.8.8",
            "https://[64:ff9b::808:808]",
            "https://[2606:4700::1111]",
        ] {
            assert!(
                check_member_issuer(public, production).await.is_ok(),
                "{public}"
            );
        }
        // A development server trusts issuers on its own machine.
        let dev = "http://127.0.0.1:8080";
        assert!(
            check_member_issuer("http://127.0.0.1:9000", dev)
                .await
                .is_ok()
        );
        assert!(check_member_issuer("https://10.0.0.7", dev).await.is_err());
    }

    /// A member's rule fetches only from public addresses, checked when
    /// connecting: an issuer on loopback by address or by name, or a public
    /// issuer's `jwks_uri` pointing inwards, is never contacted.
    #[tokio::test]
    async fn a_members_rule_never_reaches_this_servers_networks() {
        let issuer = issuer().await;
        issuer.publish(&[(&Signer::ed(), "a")]);
        let by_name = issuer.url.replace("127.0.0.1", "localhost");
        for url in [&issuer.url, &by_name] {
            let err = keys().key(url, "a", Reach::Public, 0).await.unwrap_err();
            let Refusal::IssuerUnavailable { reason, detail, .. } = &err else {
                panic!("{err:?}")
            };
            assert_eq!(*reason, "cannot connect", "{detail}");
        }
        assert_eq!(issuer.fetches(), 0);
        // An administrator's rule reaches it.
        assert!(
            keys()
                .key(&issuer.url, "a", Reach::Anywhere, 0)
                .await
                .is_ok()
        );

        // A development server's members reach loopback, but not a private
        // address their issuer's discovery document names.
        let dev = IssuerKeys::new(FetchConfig {
            members_reach_loopback: true,
            ..FetchConfig::default()
        })
        .unwrap();
        assert!(dev.key(&issuer.url, "a", Reach::Public, 0).await.is_ok());
        let inward = tessera_testkit::HttpStub::builder()
            .route("GET", "/.well-known/openid-configuration", |_, issuer| {
                tessera_testkit::StubResponse::json(
                    200,
                    serde_json::json!({"issuer": issuer, "jwks_uri": "https://10.255.255.1/jwks"}),
                )
            })
            .start();
        let err = dev
            .key(&inward.url, "a", Reach::Public, 0)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Refusal::IssuerUnavailable { detail, .. } if detail.contains("own networks")),
            "{err:?}"
        );
    }

    /// What an issuer serves is its text, not the log's: a kid or a
    /// `jwks_uri` with a line break must not start a log line of its own
    /// (a forged entry, from anyone whose issuer a member's rule names).
    #[tokio::test]
    async fn an_issuers_text_cannot_forge_log_lines() {
        use serde_json::json;
        use tessera_testkit::{HttpStub, StubResponse};
        let (captured, _guard) = crate::testing::CapturedLog::start();
        let bad_uri = HttpStub::builder()
            .route("GET", "/.well-known/openid-configuration", |_, issuer| {
                let jwks_uri = format!("{issuer}/jwks\nFORGED by the jwks_uri");
                StubResponse::json(200, json!({"issuer": issuer, "jwks_uri": jwks_uri}))
            })
            .start();
        let bad_kid = HttpStub::builder()
            .route("GET", "/.well-known/openid-configuration", |_, issuer| {
                let jwks_uri = format!("{issuer}/jwks");
                StubResponse::json(200, json!({"issuer": issuer, "jwks_uri": jwks_uri}))
            })
            .route("GET", "/jwks", |_, _| {
                let key = json!({"kty": "OKP", "crv": "Ed25519", "kid": "k\nFORGED by the kid", "x": "AA"});
                StubResponse::json(200, json!({"keys": [key]}))
            })
            .start();
        for stub in [&bad_uri, &bad_kid] {
            let refused = keys().key(&stub.url, "a", Reach::Anywhere, 0).await;
            assert!(refused.is_err());
        }
        let log = captured.text();
        assert_eq!(log.matches("FORGED").count(), 2, "{log}");
        assert!(!log.lines().any(|l| l.starts_with("FORGED")), "{log}");
    }

    #[tokio::test]
    async fn a_silent_issuer_times_out() {
        // Accepts connections and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let cache = IssuerKeys::new(FetchConfig {
            request_timeout: Duration::from_millis(300),
            ..FetchConfig::default()
        })
        .unwrap();
        let err = cache.key(&url, "a", Reach::Anywhere, 0).await.unwrap_err();
        let Refusal::IssuerUnavailable { reason, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(*reason, "timed out");
    }

    /// The pause after a failed fetch runs from when the fetch gave up: an
    /// issuer that times out (longer than the pause) is not asked again by
    /// the next token, which would wait out the timeout too.
    #[tokio::test]
    async fn the_pause_after_a_timeout_counts_from_its_end() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                held.push(socket);
            }
        });
        let cache = IssuerKeys::new(FetchConfig {
            request_timeout: Duration::from_millis(1500),
            ..FetchConfig::default()
        })
        .unwrap();
        let t = 1_000;
        let unavailable = |r: Result<Vec<PublicKey>, Refusal>| matches!(r, Err(Refusal::IssuerUnavailable { reason, .. }) if reason == "timed out");
        assert!(unavailable(cache.key(&url, "a", Reach::Anywhere, t).await));
        // A request that started FAILURE_BACKOFF_SECS after the first one
        // began, when the timeout was known for less than that.
        let asked = std::time::Instant::now();
        let later = t + FAILURE_BACKOFF_SECS;
        assert!(unavailable(
            cache.key(&url, "a", Reach::Anywhere, later).await
        ));
        assert!(asked.elapsed() < Duration::from_secs(1), "answered at once");
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn discovery_must_name_the_same_issuer_and_safe_urls() {
        let issuer = issuer().await;
        // Asked for under another spelling of the same server.
        let other = issuer.url.replace("127.0.0.1", "localhost");
        let err = keys()
            .key(&other, "a", Reach::Anywhere, 0)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Refusal::IssuerUnavailable { detail, .. } if detail.contains("names another issuer")),
            "{err:?}"
        );
        // What the other document said is not repeated to whoever asked.
        assert!(!err.to_string().contains("127.0.0.1"), "{err}");
        assert!(check_url("http://ci.example.com").is_err());
        assert!(check_url("https://ci.example.com").is_ok());
        assert!(check_url("http://[::1]:9000").is_ok());
        let err = check_url("http://u:hunter2@ci.example.com").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        let err = check_url("https://u:hunter2@ci.example.com").unwrap_err();
        assert!(
            !err.contains("hunter2") && err.contains("no user or password"),
            "{err}"
        );
        let err = check_url("u:hunter2@ci.example.com").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        let err = check_url("https://u:hunter2@ci.example.com:99999").unwrap_err();
        assert!(
            !err.contains("hunter2") && err.contains("not a URL"),
            "{err}"
        );
        assert!(check_url("https://ci.example.com/?x=1").is_err());
        assert!(check_url("file:///etc/passwd").is_err());
    }
}
