//! DPoP (RFC 9449) on the client: a key pair per login, kept with the login's
//! tokens, and a proof signed with it for every request that uses them.
//!
//! A token bound to the key is worthless without it: copied out of the
//! credentials file, a backup or a log, it is refused by the server. The key
//! lives where the token lives ([`crate::OAuthSession::dpop_key`]: the 0600
//! credentials file, or the OS keychain for a keychain profile), so it gets
//! the same protection and goes away with the login.
//!
//! Signing uses `ring`, the crypto library the TLS stack already links: no
//! second crypto stack. Keys are Ed25519 (preferred: small, fast,
//! deterministic signatures) or ECDSA P-256, whichever the server lists in
//! `dpop_signing_alg_values_supported` ([`DpopKey::for_server`]).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tessera_proto::dpop::{
    ALG_ED25519, ALG_EDDSA, ALG_ES256, JWT_TYP, ProofClaims, ProofHeader, PublicJwk,
    access_token_hash, htu,
};

/// A login's DPoP key pair. `Debug` shows the algorithm and thumbprint, never
/// the private key; the private key leaves the process only serialized, as a
/// private JWK into the credentials file or the keychain.
#[derive(Clone)]
pub struct DpopKey(Arc<Inner>);

struct Inner {
    pair: Pair,
    /// The `alg` the proofs name: `EdDSA` or `Ed25519` (the same key), `ES256`.
    alg: String,
    /// Ed25519 seed or P-256 scalar.
    private: [u8; 32],
    jwk: PublicJwk,
    jkt: String,
    /// The latest `DPoP-Nonce` per server origin (RFC 9449 §8); this process only.
    nonces: Mutex<HashMap<String, String>>,
}

enum Pair {
    Ed25519(Ed25519KeyPair),
    Es256(EcdsaKeyPair),
}

impl DpopKey {
    /// A new key for a server that accepts `supported` proof algorithms;
    /// `None` when it lists none this client signs (it does not do DPoP).
    pub fn for_server(supported: &[String]) -> Option<Self> {
        let listed = |alg: &str| supported.iter().any(|s| s == alg);
        [ALG_EDDSA, ALG_ED25519, ALG_ES256]
            .into_iter()
            .find(|alg| listed(alg))
            .map(Self::generate)
    }

    /// A new key for `alg` (`EdDSA`, `Ed25519` or `ES256`).
    ///
    /// # Panics
    /// On another `alg`, or when the OS has no random numbers.
    pub fn generate(alg: &str) -> Self {
        let rng = SystemRandom::new();
        let (private, public) = match alg {
            ALG_ES256 => {
                // ring derives no public point from a bare scalar: the pair comes
                // as PKCS#8, which holds both.
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .expect("the OS random number generator failed");
                let pair = EcdsaKeyPair::from_pkcs8(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    pkcs8.as_ref(),
                    &rng,
                )
                .expect("a P-256 key just generated");
                let point = pair.public_key().as_ref();
                let jwk = PublicJwk::Ec {
                    crv: "P-256".into(),
                    x: URL_SAFE_NO_PAD.encode(&point[1..33]),
                    y: URL_SAFE_NO_PAD.encode(&point[33..65]),
                };
                let scalar = p256_scalar(pkcs8.as_ref()).expect("ring's PKCS#8 layout for P-256");
                (scalar, Some(jwk))
            }
            ALG_EDDSA | ALG_ED25519 => {
                let mut seed = [0u8; 32];
                ring::rand::SecureRandom::fill(&rng, &mut seed)
                    .expect("the OS random number generator failed");
                (seed, None)
            }
            other => panic!("no DPoP key for the algorithm {other:?}"),
        };
        Self::from_private(alg, private, public.as_ref()).expect("a key just generated")
    }

    /// Rebuilds a key from its private half; `public`, when given, must be
    /// the key's own public half (P-256 needs it: ring derives no point).
    fn from_private(alg: &str, private: [u8; 32], public: Option<&PublicJwk>) -> Option<Self> {
        let (pair, jwk) = match alg {
            ALG_EDDSA | ALG_ED25519 => {
                let pair = Ed25519KeyPair::from_seed_unchecked(&private).ok()?;
                let jwk = PublicJwk::Okp {
                    crv: "Ed25519".into(),
                    x: URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
                };
                (Pair::Ed25519(pair), jwk)
            }
            ALG_ES256 => {
                let Some(PublicJwk::Ec { x, y, .. }) = public else {
                    return None;
                };
                let mut point = vec![0x04];
                point.extend(URL_SAFE_NO_PAD.decode(x).ok()?);
                point.extend(URL_SAFE_NO_PAD.decode(y).ok()?);
                let pair = EcdsaKeyPair::from_private_key_and_public_key(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    &private,
                    &point,
                    &SystemRandom::new(),
                )
                .ok()?;
                (Pair::Es256(pair), public?.clone())
            }
            _ => return None,
        };
        if public.is_some_and(|p| *p != jwk) {
            return None;
        }
        Some(Self(Arc::new(Inner {
            pair,
            alg: alg.to_owned(),
            private,
            jkt: jwk.thumbprint(),
            jwk,
            nonces: Mutex::default(),
        })))
    }

    /// The `alg` of this key's proofs.
    pub fn algorithm(&self) -> &str {
        &self.0.alg
    }

    /// The RFC 7638 thumbprint of the public key: what a bound token's
    /// `cnf.jkt` says.
    pub fn thumbprint(&self) -> &str {
        &self.0.jkt
    }

    /// A proof for one request (RFC 9449 §4.2): `method` and `url` (query and
    /// fragment are dropped), the access token it goes with, if any (`ath`),
    /// and the server's latest nonce for that URL's origin, if it sent one.
    pub fn proof(&self, method: &str, url: &str, access_token: Option<&str>, now: i64) -> String {
        let mut jti = [0u8; 16];
        rand::fill(&mut jti);
        let header = ProofHeader {
            typ: JWT_TYP.to_owned(),
            alg: self.0.alg.clone(),
            jwk: self.0.jwk.clone(),
        };
        let claims = ProofClaims {
            jti: URL_SAFE_NO_PAD.encode(jti),
            htm: method.to_ascii_uppercase(),
            htu: htu(url).to_owned(),
            iat: now,
            ath: access_token.map(access_token_hash),
            nonce: self.nonce_for(url),
        };
        let input = format!("{}.{}", base64_json(&header), base64_json(&claims));
        let signature = match &self.0.pair {
            Pair::Ed25519(pair) => pair.sign(input.as_bytes()).as_ref().to_vec(),
            Pair::Es256(pair) => pair
                .sign(&SystemRandom::new(), input.as_bytes())
                .expect("ECDSA signing failed")
                .as_ref()
                .to_vec(),
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// Keeps a `DPoP-Nonce` the server at `url` sent, for the next proofs.
    pub fn remember_nonce(&self, url: &str, nonce: &str) {
        if let Some(origin) = origin(url) {
            self.nonces().insert(origin, nonce.to_owned());
        }
    }

    fn nonce_for(&self, url: &str) -> Option<String> {
        self.nonces().get(&origin(url)?).cloned()
    }

    fn nonces(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.0
            .nonces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Unix seconds for a proof's `iat`: the wall clock, which is what the
/// server compares it with.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn origin(url: &str) -> Option<String> {
    Some(url::Url::parse(url).ok()?.origin().ascii_serialization())
}

/// The private scalar of ring's P-256 PKCS#8 document: the 32-byte OCTET
/// STRING right after the ECPrivateKey version (`02 01 01 04 20`, RFC 5915).
fn p256_scalar(pkcs8: &[u8]) -> Option<[u8; 32]> {
    const MARKER: [u8; 5] = [0x02, 0x01, 0x01, 0x04, 0x20];
    let at = pkcs8.windows(MARKER.len()).position(|w| w == MARKER)? + MARKER.len();
    pkcs8.get(at..at + 32)?.try_into().ok()
}

fn base64_json(value: &impl Serialize) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("proof parts serialize"))
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey")
            .field("alg", &self.0.alg)
            .field("jkt", &self.0.jkt)
            .field("private", &"[redacted]")
            .finish()
    }
}

/// Compares the private halves in constant time.
impl PartialEq for DpopKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.alg == other.0.alg
            && tessera_proto::secret::constant_time_eq(&self.0.private, &other.0.private)
    }
}

/// The private JWK, as stored (RFC 7517 §4 with `alg`; RFC 7518 §6.2.2,
/// RFC 8037 §2).
#[derive(Serialize, Deserialize)]
struct PrivateJwk {
    #[serde(flatten)]
    public: PublicJwk,
    d: String,
    alg: String,
}

impl Serialize for DpopKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        PrivateJwk {
            public: self.0.jwk.clone(),
            d: URL_SAFE_NO_PAD.encode(self.0.private),
            alg: self.0.alg.clone(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for DpopKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let jwk = PrivateJwk::deserialize(deserializer)?;
        let private: [u8; 32] = URL_SAFE_NO_PAD
            .decode(&jwk.d)
            .ok()
            .and_then(|d| d.try_into().ok())
            .ok_or_else(|| {
                serde::de::Error::custom("a DPoP key's d is not 32 bytes of base64url")
            })?;
        Self::from_private(&jwk.alg, private, Some(&jwk.public)).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "not a usable {} DPoP key (the private and public halves must match)",
                jwk.alg
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{ECDSA_P256_SHA256_FIXED, ED25519, UnparsedPublicKey};

    /// Checks a proof as a server would (signature with the header's key) and
    /// returns its header and claims.
    fn open(proof: &str) -> (ProofHeader, ProofClaims) {
        let parts: Vec<&str> = proof.split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |p: &str| URL_SAFE_NO_PAD.decode(p).unwrap();
        let header: ProofHeader = serde_json::from_slice(&decode(parts[0])).unwrap();
        let claims: ProofClaims = serde_json::from_slice(&decode(parts[1])).unwrap();
        let signed = format!("{}.{}", parts[0], parts[1]);
        let signature = decode(parts[2]);
        match &header.jwk {
            PublicJwk::Ec { x, y, .. } => {
                let point = [vec![4], decode(x), decode(y)].concat();
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                    .verify(signed.as_bytes(), &signature)
                    .unwrap();
            }
            PublicJwk::Okp { x, .. } => UnparsedPublicKey::new(&ED25519, decode(x))
                .verify(signed.as_bytes(), &signature)
                .unwrap(),
        }
        (header, claims)
    }

    #[test]
    fn proofs_verify_and_say_what_the_request_is() {
        for alg in [ALG_ES256, ALG_EDDSA, ALG_ED25519] {
            let key = DpopKey::generate(alg);
            let proof = key.proof("get", "https://api.test/v1/me?page=2#x", Some("at"), 1_000);
            let (header, claims) = open(&proof);
            assert_eq!(header.typ, "dpop+jwt");
            assert_eq!(header.alg, alg);
            assert_eq!(header.jwk.thumbprint(), key.thumbprint());
            assert_eq!(claims.htm, "GET");
            assert_eq!(claims.htu, "https://api.test/v1/me");
            assert_eq!(claims.iat, 1_000);
            assert_eq!(
                claims.ath.as_deref(),
                Some(access_token_hash("at").as_str())
            );
            assert_eq!(claims.nonce, None);
            let again = open(&key.proof("GET", "https://api.test/v1/me", None, 1_000)).1;
            assert_ne!(again.jti, claims.jti, "a new jti every time");
            assert_eq!(again.ath, None);
        }
    }

    #[test]
    fn the_servers_nonce_goes_into_its_own_proofs_only() {
        let key = DpopKey::generate(ALG_EDDSA);
        key.remember_nonce("https://api.test/oauth/token", "n-1");
        let here = open(&key.proof("POST", "https://api.test/v1/me", None, 0)).1;
        assert_eq!(here.nonce.as_deref(), Some("n-1"));
        let elsewhere = open(&key.proof("POST", "https://other.test/v1/me", None, 0)).1;
        assert_eq!(elsewhere.nonce, None);
        // Clones are the same login: they share what the server said.
        key.clone().remember_nonce("https://api.test/", "n-2");
        assert_eq!(
            open(&key.proof("GET", "https://api.test/", None, 0))
                .1
                .nonce
                .as_deref(),
            Some("n-2")
        );
    }

    #[test]
    fn keys_round_trip_as_private_jwks_and_debug_redacts() {
        for alg in [ALG_ES256, ALG_EDDSA] {
            let key = DpopKey::generate(alg);
            let json = serde_json::to_value(&key).unwrap();
            assert_eq!(json["alg"], alg);
            assert!(json["d"].is_string());
            let back: DpopKey = serde_json::from_value(json.clone()).unwrap();
            assert_eq!(back, key);
            assert_eq!(back.thumbprint(), key.thumbprint());
            open(&back.proof("GET", "https://api.test/", None, 0));
            let debug = format!("{key:?}");
            assert!(!debug.contains(json["d"].as_str().unwrap()), "{debug}");
            assert!(debug.contains(key.thumbprint()));
            // A JWK whose halves do not match is refused.
            let mut mixed = json.clone();
            mixed["x"] = serde_json::to_value(DpopKey::generate(alg)).unwrap()["x"].clone();
            assert!(serde_json::from_value::<DpopKey>(mixed).is_err());
        }
        let toml = toml::to_string(&std::collections::BTreeMap::from([(
            "k",
            DpopKey::generate(ALG_ES256),
        )]))
        .unwrap();
        assert!(toml.contains("kty = \"EC\""), "{toml}");
    }

    #[test]
    fn the_algorithm_follows_the_server() {
        let list = |algs: &[&str]| algs.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let alg =
            |algs: &[&str]| DpopKey::for_server(&list(algs)).map(|k| k.algorithm().to_owned());
        assert_eq!(alg(&["ES256", "EdDSA"]).as_deref(), Some("EdDSA"));
        assert_eq!(alg(&["Ed25519", "RS256"]).as_deref(), Some("Ed25519"));
        assert_eq!(alg(&["PS256", "ES256"]).as_deref(), Some("ES256"));
        assert_eq!(alg(&["RS256"]), None);
        assert_eq!(alg(&[]), None);
    }
}
