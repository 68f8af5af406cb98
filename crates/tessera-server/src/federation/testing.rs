//! An issuer for tests: keys made here, tokens signed with them, and a
//! discovery document and JWKS served on a loopback port.

use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256,
    RsaKeyPair, RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use tessera_testkit::{HttpStub, StubResponse};

/// A private key and its JWK.
pub enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl Signer {
    pub fn rsa() -> Self {
        Self::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).unwrap())
    }

    pub fn ec() -> Self {
        Self::Ec(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
    }

    pub fn ed() -> Self {
        Self::Ed(Ed25519KeyPair::generate().unwrap())
    }

    pub fn alg(&self) -> &'static str {
        match self {
            Self::Rsa(_) => "RS256",
            Self::Ec(_) => "ES256",
            Self::Ed(_) => "EdDSA",
        }
    }

    pub fn jwk(&self, kid: &str) -> Value {
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        match self {
            Self::Rsa(pair) => {
                let c = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                serde_json::json!({"kty": "RSA", "kid": kid, "n": b64(&c.n), "e": b64(&c.e)})
            }
            Self::Ec(pair) => {
                let point = pair.public_key().as_ref();
                serde_json::json!({"kty": "EC", "crv": "P-256", "kid": kid,
                    "x": b64(&point[1..33]), "y": b64(&point[33..65])})
            }
            Self::Ed(pair) => serde_json::json!({"kty": "OKP", "crv": "Ed25519",
                "kid": kid, "x": b64(pair.public_key().as_ref())}),
        }
    }

    /// A compact JWS of `header` and `claims`, signed by this key.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = match self {
            Self::Rsa(pair) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                let rng = aws_lc_rs::rand::SystemRandom::new();
                pair.sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut sig)
                    .unwrap();
                sig
            }
            Self::Ec(pair) => {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                pair.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec()
            }
            Self::Ed(pair) => pair.sign(input.as_bytes()).as_ref().to_vec(),
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// A JWS with the usual header: this key's `alg`, `kid`.
    pub fn token(&self, kid: &str, claims: &Value) -> String {
        self.sign(&serde_json::json!({"alg": self.alg(), "kid": kid}), claims)
    }
}

/// An issuer on a loopback port (a tessera-testkit [`HttpStub`]): discovery
/// and a JWKS that the test can change, counting JWKS fetches.
pub struct Issuer {
    pub url: String,
    jwks: Arc<Mutex<Value>>,
    stub: HttpStub,
}

pub async fn issuer() -> Issuer {
    let jwks = Arc::new(Mutex::new(serde_json::json!({"keys": []})));
    let keys = jwks.clone();
    let stub = HttpStub::builder()
        .route("GET", "/.well-known/openid-configuration", |_, issuer| {
            StubResponse::json(
                200,
                serde_json::json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")}),
            )
        })
        .route("GET", "/jwks", move |_, _| {
            StubResponse::json(200, keys.lock().unwrap().clone())
        })
        .start();
    Issuer {
        url: stub.url.clone(),
        jwks,
        stub,
    }
}

impl Issuer {
    pub fn publish(&self, keys: &[(&Signer, &str)]) {
        let keys: Vec<Value> = keys.iter().map(|(s, kid)| s.jwk(kid)).collect();
        *self.jwks.lock().unwrap() = serde_json::json!({ "keys": keys });
    }

    /// Serves something that is no JWKS from now on.
    pub fn break_jwks(&self) {
        *self.jwks.lock().unwrap() = Value::String("not a key set".into());
    }

    pub fn fetches(&self) -> usize {
        self.stub.requests_to("/jwks").len()
    }
}
