//! JWTs from other issuers (RFC 7519), as compact JWS (RFC 7515 §7.1), checked
//! strictly before anything in them is believed.
//!
//! - `alg` is RS256, ES256 or EdDSA (`Ed25519`, RFC 9864, is the same), never
//!   `none`, HMAC or anything else (RFC 8725 §3.1): an HMAC "signature" keyed
//!   with a public key is the classic confusion attack.
//! - The key comes from the trusted issuer's JWKS by `kid`, and only there:
//!   headers that name another key or where to fetch one (`jku`, `x5u`, `jwk`,
//!   `x5c`) are refused, as is `crit` (no extension is understood, RFC 7515
//!   §4.1.11).
//! - The key must be of the algorithm's type (an RSA key never checks an ES256
//!   signature) and, when the JWK names an `alg`, that one.

use super::refusal::Refusal;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents,
    UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};

/// Larger tokens are refused before decoding (CI tokens are ~1-2 KiB).
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The signature algorithms accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alg {
    Rs256,
    Es256,
    EdDsa,
}

impl Alg {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Self::Rs256),
            "ES256" => Some(Self::Es256),
            "EdDSA" | "Ed25519" => Some(Self::EdDsa),
            _ => None,
        }
    }
}

/// A verification key from an issuer's JWKS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    pub kid: String,
    material: Material,
    /// The JWK's `alg`, when it names one.
    alg: Option<Alg>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Material {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// Uncompressed point: 0x04 || x || y.
    P256(Vec<u8>),
    Ed25519(Vec<u8>),
}

fn b64_field(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    let text = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("no {name}"))?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| format!("{name} is not base64url"))
}

impl PublicKey {
    /// A signing key of a JWKS (RFC 7517 §4). `Ok(None)` for keys that are not
    /// for us: without `kid`, for encryption, or of a type or algorithm this
    /// server does not verify. `Err` for a key that claims to be usable but is
    /// broken.
    pub fn from_jwk(jwk: &Value) -> Result<Option<Self>, String> {
        let Some(jwk) = jwk.as_object() else {
            return Err("a key is not a JSON object".into());
        };
        let text = |name: &str| jwk.get(name).and_then(Value::as_str);
        let Some(kid) = text("kid") else {
            return Ok(None);
        };
        if text("use").is_some_and(|u| u != "sig") {
            return Ok(None);
        }
        let alg = match text("alg") {
            None => None,
            Some(name) => match Alg::parse(name) {
                Some(alg) => Some(alg),
                None => return Ok(None),
            },
        };
        let material = match (text("kty"), text("crv")) {
            (Some("RSA"), _) => Material::Rsa {
                n: b64_field(jwk, "n")?,
                e: b64_field(jwk, "e")?,
            },
            (Some("EC"), Some("P-256")) => {
                let (x, y) = (b64_field(jwk, "x")?, b64_field(jwk, "y")?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(format!("key {kid}: a P-256 coordinate is not 32 bytes"));
                }
                Material::P256([&[4u8][..], &x, &y].concat())
            }
            (Some("OKP"), Some("Ed25519")) => {
                let x = b64_field(jwk, "x")?;
                if x.len() != 32 {
                    return Err(format!("key {kid}: an Ed25519 key is not 32 bytes"));
                }
                Material::Ed25519(x)
            }
            _ => return Ok(None),
        };
        Ok(Some(Self {
            kid: kid.to_owned(),
            material,
            alg,
        }))
    }

    /// The one algorithm this key's type checks.
    pub fn kind(&self) -> Alg {
        match self.material {
            Material::Rsa { .. } => Alg::Rs256,
            Material::P256(_) => Alg::Es256,
            Material::Ed25519(_) => Alg::EdDsa,
        }
    }

    /// Whether this key may check a signature made with `alg`.
    fn fits(&self, alg: Alg) -> bool {
        self.kind() == alg && self.alg.is_none_or(|named| named == alg)
    }

    fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.material {
            // Moduli under 2048 bits are refused by the algorithm itself.
            Material::Rsa { n, e } => RsaPublicKeyComponents { n, e }
                .verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
                .is_ok(),
            Material::P256(point) => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .verify(message, signature)
                .is_ok(),
            Material::Ed25519(x) => UnparsedPublicKey::new(&ED25519, x)
                .verify(message, signature)
                .is_ok(),
        }
    }
}

/// The header fields read. Those that would bring a key from elsewhere are
/// parsed only to refuse them; a repeated field fails to parse.
#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    crit: Option<Value>,
    jku: Option<Value>,
    x5u: Option<Value>,
    jwk: Option<Value>,
    x5c: Option<Value>,
}

/// A parsed JWT whose signature is not checked yet.
#[derive(Debug)]
pub struct Jwt<'a> {
    pub alg: Alg,
    pub kid: String,
    /// The claims, untrusted until [`Jwt::verify`] succeeds.
    pub claims: Map<String, Value>,
    signing_input: &'a str,
    signature: Vec<u8>,
}

/// A JSON object whose top-level members are unique: parsers disagree on
/// which of two `alg`s or `sub`s wins, so RFC 7515 §4 says reject.
struct UniqueObject(Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = UniqueObject;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> Result<UniqueObject, A::Error> {
                let mut map = Map::new();
                while let Some((name, value)) = access.next_entry::<String, Value>()? {
                    if map.contains_key(&name) {
                        return Err(serde::de::Error::custom("a repeated member"));
                    }
                    map.insert(name, value);
                }
                Ok(UniqueObject(map))
            }
        }
        d.deserialize_map(Members)
    }
}

fn decode_json(part: &str, what: &'static str) -> Result<Map<String, Value>, Refusal> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Refusal::Malformed(what))?;
    match serde_json::from_slice(&bytes) {
        Ok(UniqueObject(map)) => Ok(map),
        Err(_) => Err(Refusal::Malformed(what)),
    }
}

/// Parses a compact JWS and checks its header (not yet the signature).
pub fn parse(token: &str) -> Result<Jwt<'_>, Refusal> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Refusal::Malformed("it is longer than 16 KiB"));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return Err(Refusal::Malformed(
            "it is not a compact JWS (three base64url parts separated by dots)",
        ));
    };
    let header = decode_json(header, "its header is not a base64url JSON object")?;
    let header: Header = serde_json::from_value(Value::Object(header))
        .map_err(|_| Refusal::Malformed("its header has no alg, or a mistyped member"))?;
    let alg = Alg::parse(&header.alg).ok_or(Refusal::AlgorithmNotAllowed(header.alg))?;
    for (name, present) in [
        ("crit", header.crit.is_some()),
        ("jku", header.jku.is_some()),
        ("x5u", header.x5u.is_some()),
        ("jwk", header.jwk.is_some()),
        ("x5c", header.x5c.is_some()),
    ] {
        if present {
            return Err(Refusal::HeaderNotAllowed(name));
        }
    }
    let kid = header
        .kid
        .filter(|k| !k.is_empty())
        .ok_or(Refusal::Malformed("its header has no kid"))?;
    let claims = decode_json(payload, "its payload is not a base64url JSON object")?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| Refusal::Malformed("its signature is not base64url"))?;
    let signing_input = &token[..header_len(token)];
    Ok(Jwt {
        alg,
        kid,
        claims,
        signing_input,
        signature,
    })
}

/// Length of `header.payload`, the bytes the signature covers.
fn header_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(token.len())
}

impl Jwt<'_> {
    /// `header.payload`: what the signature covers. The same signed content
    /// may come with other signatures (an ECDSA signature `(r, s)` is as
    /// valid as `(r, n - s)`), so this, not the whole token, names a token.
    pub fn signed_part(&self) -> &str {
        self.signing_input
    }

    /// Checks the signature with `key` (found by this token's `kid`).
    pub fn verify(&self, key: &PublicKey) -> Result<(), Refusal> {
        if !key.fits(self.alg) {
            return Err(Refusal::BadSignature);
        }
        if key.verifies(self.signing_input.as_bytes(), &self.signature) {
            Ok(())
        } else {
            Err(Refusal::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::Signer;
    use super::*;
    use serde_json::json;

    fn key(signer: &Signer, kid: &str) -> PublicKey {
        PublicKey::from_jwk(&signer.jwk(kid)).unwrap().unwrap()
    }

    #[test]
    fn each_algorithm_verifies_its_own_signatures_only() {
        let claims = json!({"iss": "https://ci.example", "sub": "repo:a/b"});
        for signer in [Signer::rsa(), Signer::ec(), Signer::ed()] {
            let token = signer.token("k1", &claims);
            let jwt = parse(&token).unwrap();
            assert_eq!(jwt.kid, "k1");
            assert_eq!(jwt.claims["sub"], "repo:a/b");
            assert_eq!(jwt.verify(&key(&signer, "k1")), Ok(()), "{}", signer.alg());
            // Another key of the same kind: a bad signature.
            let other = match signer {
                Signer::Rsa(_) => Signer::rsa(),
                Signer::Ec(_) => Signer::ec(),
                Signer::Ed(_) => Signer::ed(),
            };
            assert_eq!(jwt.verify(&key(&other, "k1")), Err(Refusal::BadSignature));
            // A changed payload: a bad signature.
            let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
            parts[1] = URL_SAFE_NO_PAD.encode(json!({"sub": "repo:evil/x"}).to_string());
            let forged = parts.join(".");
            assert_eq!(
                parse(&forged).unwrap().verify(&key(&signer, "k1")),
                Err(Refusal::BadSignature)
            );
        }
    }

    #[test]
    fn a_key_checks_only_its_own_algorithm() {
        let rsa = Signer::rsa();
        let ec = Signer::ec();
        // An ES256 header over a token, checked with an RSA key of that kid.
        let token = ec.token("k1", &json!({}));
        assert_eq!(
            parse(&token).unwrap().verify(&key(&rsa, "k1")),
            Err(Refusal::BadSignature)
        );
        // A JWK that names another algorithm than the token's.
        let mut jwk = ec.jwk("k1");
        jwk["alg"] = json!("ES256");
        assert!(PublicKey::from_jwk(&jwk).unwrap().unwrap().fits(Alg::Es256));
        jwk["alg"] = json!("ES384");
        assert_eq!(PublicKey::from_jwk(&jwk).unwrap(), None, "not for us");
        let mut enc = rsa.jwk("k2");
        enc["use"] = json!("enc");
        assert_eq!(PublicKey::from_jwk(&enc).unwrap(), None);
        let no_kid = json!({"kty": "OKP", "crv": "Ed25519", "x": "AA"});
        assert_eq!(PublicKey::from_jwk(&no_kid).unwrap(), None);
        let short = json!({"kty": "OKP", "crv": "Ed25519", "kid": "k", "x": "AAAA"});
        assert!(PublicKey::from_jwk(&short).is_err());
    }

    #[test]
    fn refused_algorithms_and_headers() {
        let signer = Signer::ed();
        let claims = json!({"sub": "x"});
        for alg in ["none", "HS256", "HS512", "RS384", "PS256", "ES512", ""] {
            let token = signer.sign(&json!({"alg": alg, "kid": "k1"}), &claims);
            assert_eq!(
                parse(&token).unwrap_err(),
                Refusal::AlgorithmNotAllowed(alg.into()),
                "{alg}"
            );
        }
        // `alg: none` with an empty signature, the textbook form.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"sub":"x"}"#)
        );
        assert!(matches!(parse(&none), Err(Refusal::AlgorithmNotAllowed(_))));
        for (name, value) in [
            ("crit", json!(["exp"])),
            ("jku", json!("https://evil.example/jwks")),
            ("x5u", json!("https://evil.example/cert")),
            ("jwk", signer.jwk("k1")),
            ("x5c", json!(["MIIB"])),
        ] {
            let mut header = json!({"alg": "EdDSA", "kid": "k1"});
            header[name] = value;
            assert_eq!(
                parse(&signer.sign(&header, &claims)).unwrap_err(),
                Refusal::HeaderNotAllowed(name),
                "{name}"
            );
        }
        let no_kid = signer.sign(&json!({"alg": "EdDSA"}), &claims);
        assert!(matches!(parse(&no_kid), Err(Refusal::Malformed(_))));
        // RFC 9864's name for the same algorithm.
        let ed25519 = signer.sign(&json!({"alg": "Ed25519", "kid": "k1"}), &claims);
        assert_eq!(parse(&ed25519).unwrap().verify(&key(&signer, "k1")), Ok(()));
    }

    #[test]
    fn malformed_tokens() {
        let repeated = format!(
            "{}.{}.AA",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","kid":"a","kid":"b"}"#),
            URL_SAFE_NO_PAD.encode("{}")
        );
        let padded = format!(
            "{}=.{}.AA",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","kid":"a"}"#),
            URL_SAFE_NO_PAD.encode("{}")
        );
        let array_payload = format!(
            "{}.{}.AA",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","kid":"a"}"#),
            URL_SAFE_NO_PAD.encode("[1]")
        );
        let long = "a".repeat(MAX_TOKEN_BYTES + 1);
        for token in [
            "",
            "a.b",
            "a.b.c.d",
            "%%%.e30.AA",
            &repeated,
            &padded,
            &array_payload,
            &long,
        ] {
            assert!(
                matches!(parse(token), Err(Refusal::Malformed(_))),
                "{token:.40}"
            );
        }
    }
}
