//! DPoP (RFC 9449): the names both sides use, a proof's JSON, and the JWK
//! thumbprint (RFC 7638) that binds a token to a key.
//!
//! A DPoP proof is a compact JWS the client signs for one request: its header
//! carries the public key ([`PublicJwk`]), its claims the request ([`ProofClaims`]).
//! A token bound to that key carries the key's thumbprint as `cnf.jkt` (the
//! claims' `Confirmation`); only a request with a proof signed by the key is
//! accepted with it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The request header that carries a proof (RFC 9449 §4.1).
pub const HEADER: &str = "DPoP";
/// The response header with a server-provided nonce (RFC 9449 §8).
pub const NONCE_HEADER: &str = "DPoP-Nonce";
/// `token_type` of a DPoP-bound access token, and its `Authorization` scheme
/// (RFC 9449 §5, §7.1).
pub const TOKEN_TYPE: &str = "DPoP";
/// JOSE `typ` of a proof (RFC 9449 §4.2).
pub const JWT_TYP: &str = "dpop+jwt";

/// ECDSA P-256 with SHA-256 (RFC 7518 §3.4).
pub const ALG_ES256: &str = "ES256";
/// Ed25519 under the polymorphic name of RFC 8037.
pub const ALG_EDDSA: &str = "EdDSA";
/// Ed25519 under its fully specified name (RFC 9864).
pub const ALG_ED25519: &str = "Ed25519";

/// A public key in a proof's `jwk` header: the two kinds this project signs
/// and verifies. Parsing ignores other members, so whoever accepts a key from
/// outside must refuse private members (`d`, …) before parsing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kty")]
pub enum PublicJwk {
    /// An elliptic-curve key (RFC 7518 §6.2): P-256 for ES256.
    #[serde(rename = "EC")]
    Ec { crv: String, x: String, y: String },
    /// An octet key pair (RFC 8037 §2): Ed25519 for EdDSA.
    #[serde(rename = "OKP")]
    Okp { crv: String, x: String },
}

impl PublicJwk {
    /// The RFC 7638 thumbprint: base64url(SHA-256) of the required members in
    /// lexicographic order, without whitespace. What `cnf.jkt` holds.
    pub fn thumbprint(&self) -> String {
        let quoted = |s: &str| serde_json::Value::from(s).to_string();
        let canonical = match self {
            Self::Ec { crv, x, y } => format!(
                r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
                quoted(crv),
                quoted(x),
                quoted(y)
            ),
            Self::Okp { crv, x } => {
                format!(r#"{{"crv":{},"kty":"OKP","x":{}}}"#, quoted(crv), quoted(x))
            }
        };
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }
}

/// A proof's protected header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofHeader {
    pub typ: String,
    pub alg: String,
    pub jwk: PublicJwk,
}

/// A proof's claims (RFC 9449 §4.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofClaims {
    /// Unique per proof: the server refuses one it has seen.
    pub jti: String,
    /// The request's method.
    pub htm: String,
    /// The request's URL without query and fragment ([`htu`]).
    pub htu: String,
    /// Unix seconds. A NumericDate may have a fraction (RFC 7519 §2), as
    /// clients that write `Date.now() / 1000` send it; whole seconds are kept.
    #[serde(deserialize_with = "whole_seconds")]
    pub iat: i64,
    /// With an access token: [`access_token_hash`] of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ath: Option<String>,
    /// The server's latest `DPoP-Nonce`, when it asked for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// A NumericDate as whole Unix seconds: an integer, or a finite number with
/// a fraction, floored (saturating at the ends of `i64`).
fn whole_seconds<'de, D: serde::Deserializer<'de>>(de: D) -> Result<i64, D::Error> {
    let number = serde_json::Number::deserialize(de)?;
    match (number.as_i64(), number.as_f64()) {
        (Some(whole), _) => Ok(whole),
        (None, Some(f)) if f.is_finite() => Ok(f.floor() as i64),
        _ => Err(serde::de::Error::custom("iat is not a NumericDate")),
    }
}

/// `ath`: base64url(SHA-256(access token)) (RFC 9449 §4.2).
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// A URL as `htu` names it: without query and fragment (RFC 9449 §4.2).
pub fn htu(url: &str) -> &str {
    url.find(['?', '#']).map_or(url, |end| &url[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proofs_iat_may_have_a_fraction() {
        let claims = |iat: &str| {
            serde_json::from_str::<ProofClaims>(&format!(
                r#"{{"jti":"j","htm":"GET","htu":"https://a/","iat":{iat}}}"#
            ))
        };
        assert_eq!(claims("1767225600").unwrap().iat, 1_767_225_600);
        assert_eq!(claims("1767225600.75").unwrap().iat, 1_767_225_600);
        assert_eq!(claims("-0.5").unwrap().iat, -1);
        assert!(claims("\"1767225600\"").is_err());
        assert!(claims("null").is_err());
    }

    #[test]
    fn rfc7638_example_thumbprint_shape_and_rfc9449_example() {
        // RFC 9449 §4.3 (figure 4): the proof key of the examples and its
        // thumbprint as §6.1 shows it.
        let jwk = PublicJwk::Ec {
            crv: "P-256".into(),
            x: "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs".into(),
            y: "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA".into(),
        };
        assert_eq!(
            jwk.thumbprint(),
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
        );
        let parsed: PublicJwk = serde_json::from_str(
            r#"{"kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","crv":"P-256"}"#,
        )
        .unwrap();
        assert_eq!(parsed, jwk);
    }

    #[test]
    fn rfc9449_ath_example() {
        // RFC 9449 §7.1, figures 12 and 13.
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[test]
    fn htu_drops_query_and_fragment() {
        assert_eq!(htu("https://a.test/v1/me?x=1#f"), "https://a.test/v1/me");
        assert_eq!(htu("https://a.test/v1/me#f"), "https://a.test/v1/me");
        assert_eq!(htu("https://a.test/v1/me"), "https://a.test/v1/me");
    }
}
