//! Signing keys and the token format.
//!
//! Tokens are compact JWS (RFC 7515 §7.1) signed with EdDSA/Ed25519 (RFC 8037),
//! `kid` in the header. Verification accepts exactly one algorithm, `EdDSA`, and only
//! keys from the database: `none`, HMAC and RSA headers are rejected before any
//! key is touched, so algorithm confusion (RFC 8725 §2.1) has nothing to work with.
//!
//! Keys live in the `signing_keys` table. The private half is sealed with
//! AES-256-GCM under the [`MasterKey`] (the `kid` is the associated data). `keys
//! rotate` adds a key that signs from then on; older keys stay verifiable, and in the
//! JWKS, while tokens they signed can still be valid.

use crate::error::{AuthError, Error, Result};
use crate::master_key::MasterKey;
use crate::store::Store;
use crate::store::signing_keys::SigningKeyRow;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tessera_proto::{Claims, TokenUse};

const ALG: &str = "EdDSA";
/// An unknown `kid` makes the keyring re-read the database (another instance may
/// have rotated), at most this often, so random kids cannot hammer the database.
const UNKNOWN_KID_RELOAD_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
/// How often a running server re-reads the signing keys (see `server.rs`).
pub const RELOAD_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);
/// A rotated-out key stays verifiable this long beyond the access-token lifetime:
/// another instance keeps signing with it until its next reload, and the tokens it
/// signs then must stay valid for their whole life.
const RETIRE_GRACE_SECS: i64 = 6 * RELOAD_INTERVAL.as_secs() as i64;

/// A new Ed25519 key, sealed for the database.
fn generate_signing_key(master: &MasterKey, now: i64) -> Result<SigningKeyRow> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| Error::internal("Ed25519 key generation failed"))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| Error::internal("Ed25519 key rejected"))?;
    let kid = crate::ids::signing_key();
    Ok(SigningKeyRow {
        private_key_sealed: master.seal(&kid, pkcs8.as_ref())?,
        public_key: URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
        algorithm: ALG.to_owned(),
        kid,
        created_at: now,
        rotated_at: None,
    })
}

/// `keys rotate`: a new key signs from now on; the others stay verifiable.
pub async fn rotate(store: &Store, master: &MasterKey, now: i64) -> Result<String> {
    let row = generate_signing_key(master, now)?;
    store.insert_signing_key_rotating(&row, now).await?;
    Ok(row.kid)
}

/// At start-up (server or admin command): makes sure a current key exists,
/// generating the first one. The only write besides [`rotate`]: verification and
/// reloads only read. Two instances starting together may both generate; the
/// later one becomes current, and both keys stay valid.
pub async fn ensure_current_key(store: &Store, master: &MasterKey, now: i64) -> Result<()> {
    if !store
        .signing_keys()
        .await?
        .iter()
        .any(|r| r.rotated_at.is_none())
    {
        rotate(store, master, now).await?;
    }
    Ok(())
}

#[derive(Serialize, Deserialize)]
struct Header<'a> {
    alg: &'a str,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<&'a str>,
    kid: &'a str,
}

/// Header fields we read; anything unexpected (`crit`, `jku`, `x5u`…) is ignored
/// except `crit`, whose presence makes us refuse the token (RFC 7515 §4.1.11).
#[derive(Deserialize)]
struct ReceivedHeader {
    alg: String,
    kid: Option<String>,
    crit: Option<serde_json::Value>,
}

struct Signer {
    kid: String,
    pair: Ed25519KeyPair,
}

/// The public keys a verifier accepts, by kid, plus the key that signs.
struct Loaded {
    verifiers: HashMap<String, Arc<UnparsedPublicKey<Vec<u8>>>>,
    jwks: Jwks,
    signer: Arc<Signer>,
    /// Tokens whose signature one of `verifiers` has checked, with their claims.
    /// A hit needs the exact same bytes, so it proves what a signature check would;
    /// it lives and dies with this key set (a reload starts empty). Only the
    /// signature work is skipped: `token_use`, `exp` and the caller's revocation
    /// check still run on every request.
    verified: RwLock<HashMap<Box<str>, Arc<Verified>>>,
}

/// A token whose signature checked out: its claims, and its
/// [`crate::digest::secret_hash`] (what the API-key table stores), computed once.
#[derive(Debug)]
pub struct Verified {
    pub claims: Claims,
    pub digest: String,
}

/// Bound on [`Loaded::verified`]; when full it is emptied (cheap, and a refill
/// costs one signature check per token).
const VERIFIED_CACHE_ENTRIES: usize = 16 * 1024;

impl Loaded {
    fn cached(&self, token: &str) -> Option<Arc<Verified>> {
        self.verified
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(token)
            .cloned()
    }

    fn remember(&self, token: &str, claims: Claims) -> Arc<Verified> {
        let verified = Arc::new(Verified {
            claims,
            digest: crate::digest::secret_hash(token),
        });
        let mut cache = self
            .verified
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= VERIFIED_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(token.into(), verified.clone());
        verified
    }
}

/// The checks that hold for a token whose signature is good.
fn check_claims(verified: Arc<Verified>, expected: TokenUse, now: i64) -> Result<Arc<Verified>> {
    if verified.claims.token_use != expected {
        return Err(AuthError::WrongTokenUse.into());
    }
    if verified.claims.exp.is_some_and(|exp| exp <= now) {
        return Err(AuthError::Expired.into());
    }
    Ok(verified)
}

/// The JWKS document (RFC 7517 §5).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// An OKP public key (RFC 8037 §2).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
}

/// The signing keys in memory: signs new tokens, verifies presented ones.
///
/// Shared by every request; reloads from the database on an unknown `kid`
/// (throttled) and when [`Keyring::reload`] is called (the server does so
/// periodically), so a rotation on one instance reaches the others.
pub struct Keyring {
    master: MasterKey,
    /// How long an access token lives: a rotated-out key is kept this long.
    access_token_ttl_secs: i64,
    loaded: RwLock<Arc<Loaded>>,
    /// When an unknown kid last caused a reload (a throttle, so monotonic
    /// time). Requests with an unknown kid take turns here: those that
    /// arrive while one reloads wait for it and then find the new key,
    /// rather than being refused while it is being read (right after another
    /// instance rotated, every request of the new key has an unknown kid).
    last_unknown_kid_reload: tokio::sync::Mutex<Option<std::time::Instant>>,
}

impl Keyring {
    /// Loads the keys (read only: see [`ensure_current_key`] for the first one).
    pub async fn load(
        store: &Store,
        master: MasterKey,
        access_token_ttl_secs: i64,
        now: i64,
    ) -> Result<Self> {
        let loaded = Self::read(store, &master, access_token_ttl_secs, now).await?;
        Ok(Self {
            master,
            access_token_ttl_secs,
            loaded: RwLock::new(Arc::new(loaded)),
            last_unknown_kid_reload: tokio::sync::Mutex::new(None),
        })
    }

    async fn read(store: &Store, master: &MasterKey, ttl: i64, now: i64) -> Result<Loaded> {
        let rows = store.signing_keys().await?;
        let in_use = store.signing_kids_with_live_api_keys(now).await?;
        let current = rows
            .iter()
            .filter(|r| r.rotated_at.is_none())
            .max_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)))
            .ok_or_else(|| Error::internal("no current signing key"))?;
        let pkcs8 = master.open(&current.kid, &current.private_key_sealed)?;
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8)
            .map_err(|_| Error::internal(format!("signing key {} is corrupt", current.kid)))?;
        let signer = Arc::new(Signer {
            kid: current.kid.clone(),
            pair,
        });
        let mut verifiers = HashMap::new();
        let mut jwks = Vec::new();
        for row in &rows {
            let live = match row.rotated_at {
                None => true,
                Some(rotated) => {
                    rotated + ttl + RETIRE_GRACE_SECS > now || in_use.contains(&row.kid)
                }
            };
            if !live || row.algorithm != ALG {
                continue;
            }
            let public = URL_SAFE_NO_PAD
                .decode(&row.public_key)
                .map_err(|_| Error::internal(format!("public key {} is corrupt", row.kid)))?;
            verifiers.insert(
                row.kid.clone(),
                Arc::new(UnparsedPublicKey::new(&ED25519, public)),
            );
            jwks.push(Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x: row.public_key.clone(),
                kid: row.kid.clone(),
                alg: ALG.into(),
                use_: "sig".into(),
            });
        }
        Ok(Loaded {
            verifiers,
            jwks: Jwks { keys: jwks },
            signer,
            verified: RwLock::new(HashMap::new()),
        })
    }

    fn snapshot(&self) -> Arc<Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reloads for a `kid` this instance does not know, unless another
    /// request's reload brought it meanwhile or one ran within
    /// [`UNKNOWN_KID_RELOAD_INTERVAL`] (made-up kids cannot hammer the
    /// database).
    async fn reload_for_unknown_kid(&self, store: &Store, kid: &str, now: i64) -> Result<()> {
        let mut last = self.last_unknown_kid_reload.lock().await;
        if self.snapshot().verifiers.contains_key(kid) {
            return Ok(());
        }
        if last.is_some_and(|t| t.elapsed() < UNKNOWN_KID_RELOAD_INTERVAL) {
            return Ok(());
        }
        *last = Some(std::time::Instant::now());
        self.reload(store, now).await
    }

    /// Re-reads the keys from the database.
    pub async fn reload(&self, store: &Store, now: i64) -> Result<()> {
        let fresh = Self::read(store, &self.master, self.access_token_ttl_secs, now).await?;
        *self
            .loaded
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(fresh);
        Ok(())
    }

    /// The public keys, for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> Jwks {
        self.snapshot().jwks.clone()
    }

    /// Signs `claims` as a compact JWS with the current key. `typ` is the JOSE
    /// header type, e.g. `at+jwt` for access tokens (RFC 9068 §2.1).
    pub fn sign(&self, claims: &Claims, typ: Option<&str>) -> Result<String> {
        Ok(self.sign_with_kid(claims, typ)?.0)
    }

    /// [`Keyring::sign`], also returning the `kid` that signed.
    pub fn sign_with_kid(&self, claims: &Claims, typ: Option<&str>) -> Result<(String, String)> {
        let signer = self.snapshot().signer.clone();
        let header = serde_json::to_vec(&Header {
            alg: ALG,
            typ,
            kid: &signer.kid,
        })
        .map_err(Error::internal)?;
        let payload = serde_json::to_vec(claims).map_err(Error::internal)?;
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        let signature = signer.pair.sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut token);
        Ok((token, signer.kid.clone()))
    }

    /// Checks a compact JWS: structure, `alg` = EdDSA, known `kid`, signature,
    /// `token_use`, and `exp` against `now`. Revocation is the caller's next step
    /// (it needs the database).
    pub async fn verify(
        &self,
        store: &Store,
        token: &str,
        expected: TokenUse,
        now: i64,
    ) -> Result<Claims> {
        Ok(self
            .verify_with_digest(store, token, expected, now)
            .await?
            .claims
            .clone())
    }

    /// [`Keyring::verify`], also giving the token's digest.
    pub async fn verify_with_digest(
        &self,
        store: &Store,
        token: &str,
        expected: TokenUse,
        now: i64,
    ) -> Result<Arc<Verified>> {
        if let Some(verified) = self.snapshot().cached(token) {
            return check_claims(verified, expected, now);
        }
        let mut parts = token.splitn(3, '.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed.into());
        };
        if signature_b64.contains('.') {
            return Err(AuthError::Malformed.into());
        }
        let header_bytes = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| AuthError::Malformed)?;
        let header: ReceivedHeader =
            serde_json::from_slice(&header_bytes).map_err(|_| AuthError::Malformed)?;
        if header.alg != ALG {
            return Err(AuthError::BadAlgorithm.into());
        }
        if header.crit.is_some() {
            return Err(AuthError::Malformed.into());
        }
        let kid = header.kid.ok_or(AuthError::UnknownKey)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| AuthError::Malformed)?;

        let mut loaded = self.snapshot();
        if !loaded.verifiers.contains_key(&kid) {
            self.reload_for_unknown_kid(store, &kid, now).await?;
            loaded = self.snapshot();
        }
        let verifier = loaded.verifiers.get(&kid).ok_or(AuthError::UnknownKey)?;
        let signed_len = header_b64.len() + 1 + payload_b64.len();
        verifier
            .verify(&token.as_bytes()[..signed_len], &signature)
            .map_err(|_| AuthError::BadSignature)?;

        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| AuthError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| AuthError::Malformed)?;
        check_claims(loaded.remember(token, claims), expected, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fixture;
    use tessera_proto::Scopes;

    fn claims(now: i64, exp: Option<i64>) -> Claims {
        let scope = Scopes::parse("THIRD_PARTY_OPERATION");
        Claims {
            exp,
            ..Claims::new(
                TokenUse::Access,
                crate::testing::ISSUER,
                "acct_1",
                "at_1",
                scope,
                now,
            )
        }
    }

    /// Right after another instance rotated, every request signed with the
    /// new key names a kid this one lacks: those arriving together wait for
    /// one reload and are all accepted, none refused while it runs.
    #[tokio::test]
    async fn concurrent_tokens_of_a_new_key_wait_for_one_reload() {
        let fx = Fixture::new().await;
        let store = &fx.state.store;
        let now = fx.clock_now();
        let ttl = i64::try_from(fx.state.settings.access_token_ttl.as_secs()).unwrap();
        let other = Keyring::load(store, fx.state.settings.master_key.clone(), ttl, now)
            .await
            .unwrap();
        rotate(store, &fx.state.settings.master_key, now)
            .await
            .unwrap();
        other.reload(store, now).await.unwrap();
        let tokens: Vec<String> = (0..16)
            .map(|i| other.sign(&claims(now + i, Some(now + ttl)), None).unwrap())
            .collect();
        let keyring = &fx.state.keyring;
        let checks = tokens
            .iter()
            .map(|token| keyring.verify(store, token, TokenUse::Access, now));
        for checked in futures_util::future::join_all(checks).await {
            assert!(checked.is_ok(), "{checked:?}");
        }
    }

    #[tokio::test]
    async fn rotation_reaches_other_instances_and_old_keys_retire_after_the_ttl() {
        let fx = Fixture::new().await;
        let store = &fx.state.store;
        let now = fx.clock_now();
        let ttl = i64::try_from(fx.state.settings.access_token_ttl.as_secs()).unwrap();
        let old_token = fx
            .state
            .keyring
            .sign(&claims(now, Some(now + ttl)), None)
            .unwrap();

        // "Another instance" rotates and signs with the new key.
        let other = Keyring::load(store, fx.state.settings.master_key.clone(), ttl, now)
            .await
            .unwrap();
        let new_kid = rotate(store, &fx.state.settings.master_key, now)
            .await
            .unwrap();
        other.reload(store, now).await.unwrap();
        let (new_token, kid) = other
            .sign_with_kid(&claims(now, Some(now + ttl)), None)
            .unwrap();
        assert_eq!(kid, new_kid);

        // This instance has never seen the new kid: it reloads once and accepts.
        let keyring = &fx.state.keyring;
        assert!(
            keyring
                .verify(store, &new_token, TokenUse::Access, now)
                .await
                .is_ok()
        );
        assert!(
            keyring
                .verify(store, &old_token, TokenUse::Access, now)
                .await
                .is_ok()
        );
        assert_eq!(keyring.jwks().keys.len(), 2);

        // Once every access token the old key could have signed has expired (and
        // no API key uses it), the old key leaves the JWKS.
        // (Plus the grace for instances that signed with it before they reloaded.)
        keyring.reload(store, now + ttl + 1).await.unwrap();
        assert_eq!(keyring.jwks().keys.len(), 2);
        let later = now + ttl + RETIRE_GRACE_SECS + 1;
        keyring.reload(store, later).await.unwrap();
        let kids: Vec<String> = keyring.jwks().keys.into_iter().map(|k| k.kid).collect();
        assert_eq!(kids, [new_kid]);
    }

    #[tokio::test]
    async fn loading_and_verifying_never_write() {
        let dir = tempfile::tempdir().unwrap();
        let location = crate::store::DatabaseLocation::Sqlite(dir.path().join("k.db"));
        let store = Store::open(&location).await.unwrap();
        let master = MasterKey::generate();
        let now = crate::testing::T0;
        assert!(
            Keyring::load(&store, master.clone(), 3600, now)
                .await
                .is_err()
        );
        assert!(
            store.signing_keys().await.unwrap().is_empty(),
            "loading never generates a key"
        );
        ensure_current_key(&store, &master, now).await.unwrap();
        ensure_current_key(&store, &master, now).await.unwrap();
        let keyring = Keyring::load(&store, master, 3600, now).await.unwrap();
        let keys = store.signing_keys().await.unwrap();
        assert_eq!(keys.len(), 1, "one current key, made once");
        // An unknown kid makes the keyring reload: a read, never a new key.
        let forged = format!(
            "{}.{}.AA",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","kid":"sk_unknown"}"#),
            URL_SAFE_NO_PAD.encode(b"{}")
        );
        assert!(
            keyring
                .verify(&store, &forged, TokenUse::Access, now)
                .await
                .is_err()
        );
        assert_eq!(store.signing_keys().await.unwrap(), keys);
    }

    #[tokio::test]
    async fn verification_rejects_what_it_must() {
        let fx = Fixture::new().await;
        let (store, keyring, now) = (&fx.state.store, &fx.state.keyring, fx.clock_now());
        let token = keyring.sign(&claims(now, Some(now + 10)), None).unwrap();
        let reject = |r: Result<Claims>| match r {
            Err(Error::Unauthenticated(e)) => e,
            other => panic!("expected a rejection, got {other:?}"),
        };
        assert_eq!(
            reject(keyring.verify(store, &token, TokenUse::ApiKey, now).await),
            AuthError::WrongTokenUse
        );
        assert_eq!(
            reject(
                keyring
                    .verify(store, &token, TokenUse::Access, now + 10)
                    .await
            ),
            AuthError::Expired
        );
        let (h, p, _) = {
            let mut it = token.split('.');
            (it.next().unwrap(), it.next().unwrap(), it.next().unwrap())
        };
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"x"}"#);
        assert_eq!(
            reject(
                keyring
                    .verify(store, &format!("{none}.{p}."), TokenUse::Access, now)
                    .await
            ),
            AuthError::BadAlgorithm
        );
        let crit = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","kid":"x","crit":["exp"]}"#);
        assert_eq!(
            reject(
                keyring
                    .verify(store, &format!("{crit}.{p}.AA"), TokenUse::Access, now)
                    .await
            ),
            AuthError::Malformed
        );
        assert_eq!(
            reject(
                keyring
                    .verify(store, &format!("{h}.{p}.AAAA"), TokenUse::Access, now)
                    .await
            ),
            AuthError::BadSignature
        );
    }

    /// How an attacker might reshape a real token: a character replaced, cut,
    /// inserted or dropped; segments swapped or added; a prefix; forgeries with
    /// another header (`alg` none/HS256/RS256/…, another `kid`) over edited claims
    /// and the original, an empty or a random signature; garbage.
    fn reshaped(token: &str) -> proptest::strategy::BoxedStrategy<String> {
        use proptest::prelude::*;
        let token = token.to_owned();
        let len = token.len();
        // A deployment prefix (`lk_`) stays in front of shuffled and forged tokens.
        let (prefix, jws) = token.split_at(token.find("eyJ").unwrap());
        let prefix = prefix.to_owned();
        let parts: Vec<String> = jws.split('.').map(str::to_owned).collect();
        let char_ = prop_oneof![
            proptest::sample::select(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ".to_vec()
            )
            .prop_map(char::from),
            any::<char>(),
        ];
        let edit = {
            let t = token.clone();
            (0..len, 0..4u8, char_).prop_map(move |(i, how, c)| {
                let mut s = t.clone();
                match how {
                    0 => s.replace_range(i..=i, &c.to_string()),
                    1 => s.truncate(i),
                    2 => s.insert(i, c),
                    _ => drop(s.remove(i)),
                }
                s
            })
        };
        let shuffled = {
            let (p, prefix) = (parts.clone(), prefix.clone());
            (0..6u8, "[A-Za-z0-9_-]{0,12}").prop_map(move |(how, extra)| {
                let jws = match how {
                    0 => format!("{}.{}.{}", p[1], p[0], p[2]),
                    1 => format!("{}.{}.{}", p[0], p[2], p[1]),
                    2 => format!("{}.{}.{}.{extra}", p[0], p[1], p[2]),
                    3 => format!("{}.{}", p[0], p[1]),
                    4 => format!("{}..{}", p[0], p[2]),
                    _ => format!("{}.{}.", p[0], p[1]),
                };
                format!("{prefix}{jws}")
            })
        };
        let forged = {
            let p = parts.clone();
            let prefix = prefix.clone();
            let claims: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&p[1]).unwrap()).unwrap();
            let kid = serde_json::from_slice::<serde_json::Value>(
                &URL_SAFE_NO_PAD.decode(&p[0]).unwrap(),
            )
            .unwrap()["kid"]
                .clone();
            let algs = ["none", "HS256", "RS256", "ES256", "EdDSA", "eddsa", ""];
            let edits = ["sub", "scope", "exp", "token_use", "jti", "nothing"];
            (
                proptest::sample::select(algs.to_vec()),
                proptest::option::of("[a-z_0-9]{0,10}"),
                proptest::sample::select(edits.to_vec()),
                0..3u8,
                proptest::collection::vec(any::<u8>(), 0..70),
            )
                .prop_map(move |(alg, other_kid, edit, sig, random_sig)| {
                    let kid = other_kid.map_or(kid.clone(), serde_json::Value::from);
                    let header = serde_json::json!({"alg": alg, "kid": kid});
                    let mut body = claims.clone();
                    match edit {
                        "sub" => body["sub"] = "acct_someone_else".into(),
                        "scope" => body["scope"] = "THIRD_PARTY_OPERATION admin".into(),
                        "exp" => body["exp"] = serde_json::Value::from(i64::MAX / 4),
                        "token_use" => body["token_use"] = "access".into(),
                        "jti" => body["jti"] = "key_guessed".into(),
                        _ => {}
                    }
                    let signature = match sig {
                        0 => p[2].clone(),
                        1 => String::new(),
                        _ => URL_SAFE_NO_PAD.encode(random_sig),
                    };
                    format!(
                        "{prefix}{}.{}.{signature}",
                        URL_SAFE_NO_PAD.encode(header.to_string()),
                        URL_SAFE_NO_PAD.encode(body.to_string()),
                    )
                })
        };
        let prefixed = {
            let t = token.clone();
            "[ -~]{0,6}".prop_map(move |prefix| format!("{prefix}{t}"))
        };
        prop_oneof![
            edit,
            shuffled,
            forged,
            prefixed,
            "[ -~]{0,200}",
            Just(token),
        ]
        .boxed()
    }

    /// Runs `check` on `cases` reshaped versions of `token`, on `rt`.
    fn for_reshaped(token: &str, check: impl Fn(String) -> Result<(), String>) {
        let config = proptest::test_runner::Config {
            cases: 300,
            failure_persistence: None,
            ..Default::default()
        };
        let mut runner = proptest::test_runner::TestRunner::new(config);
        runner
            .run(&reshaped(token), |candidate| {
                check(candidate).map_err(proptest::test_runner::TestCaseError::fail)
            })
            .unwrap();
    }

    /// The platform API's answer to `scheme candidate`: 400 for a value that is
    /// not printable ASCII; else 200 only when the credential the header carries
    /// (trimmed, without inner spaces) is `genuine`, and 401 otherwise.
    fn api_answer(
        rt: &tokio::runtime::Runtime,
        fx: &Fixture,
        scheme: &str,
        candidate: &str,
        genuine: impl Fn(&str) -> bool,
    ) -> Result<(), String> {
        let authorization = format!("{scheme} {candidate}");
        if axum::http::HeaderValue::from_str(&authorization).is_err() {
            return Ok(());
        }
        let carried = candidate.trim();
        let genuine = !carried.contains(' ') && genuine(carried);
        let status = rt.block_on(fx.get("/v1/me", &authorization)).status();
        let printable = (authorization.bytes()).all(|b| b == b'\t' || (0x20..0x7f).contains(&b));
        let fine = match status.as_u16() {
            400 => !printable,
            200 => printable && genuine,
            401 => printable && !genuine,
            _ => false,
        };
        fine.then_some(())
            .ok_or_else(|| format!("{authorization:?}: {status}"))
    }

    #[test]
    fn reshaped_api_keys_are_refused_as_unauthenticated() {
        let (rt, fx) = Fixture::blocking();
        let account = rt.block_on(fx.account("p@example.com"));
        let key = rt.block_on(fx.api_key(&account, None));
        let key = format!("lk_{}", key.key.expose_secret());
        let jws = &key[3..];
        // Whatever precedes the JWS is skipped: keys under an earlier prefix work.
        let genuine = |c: &str| c.find("eyJ").map(|i| &c[i..]) == Some(jws);
        for_reshaped(&key, |candidate| {
            let store = &fx.state.store;
            let now = fx.clock_now();
            let result = rt.block_on(crate::api_keys::verify(
                store,
                &fx.state.keyring,
                &candidate,
                now,
            ));
            match (&result, genuine(&candidate)) {
                (Ok(_), true) | (Err(Error::Unauthenticated(_)), false) => {}
                _ => return Err(format!("{candidate:?}: {result:?}")),
            }
            api_answer(&rt, &fx, "token", &candidate, genuine)?;
            api_answer(&rt, &fx, "Bearer", &candidate, |_| false)
        });
    }

    #[test]
    fn reshaped_access_tokens_are_refused_as_unauthenticated() {
        let (rt, fx) = Fixture::blocking();
        let account = rt.block_on(fx.account("p@example.com"));
        let issued = crate::access_tokens::issue(
            &fx.state.keyring,
            crate::testing::ISSUER,
            std::time::Duration::from_secs(600),
            crate::access_tokens::NewAccessToken::new(
                account,
                None,
                Scopes::parse("THIRD_PARTY_OPERATION"),
            ),
            fx.clock_now(),
        )
        .unwrap();
        let token = issued.token.expose_secret().to_owned();
        let genuine = |c: &str| c == token;
        for_reshaped(&token, |candidate| {
            let (store, keyring, now) = (&fx.state.store, &fx.state.keyring, fx.clock_now());
            let verify = crate::access_tokens::verify(
                store,
                keyring,
                crate::testing::ISSUER,
                &candidate,
                now,
            );
            let result = rt.block_on(verify);
            match (&result, genuine(&candidate)) {
                (Ok(_), true) | (Err(Error::Unauthenticated(_)), false) => {}
                _ => return Err(format!("{candidate:?}: {result:?}")),
            }
            api_answer(&rt, &fx, "Bearer", &candidate, genuine)?;
            api_answer(&rt, &fx, "token", &candidate, |_| false)
        });
    }
}
