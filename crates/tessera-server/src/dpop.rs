//! DPoP (RFC 9449): tokens bound to the key of the machine that obtained them.
//!
//! A client signs a proof (a compact JWS, `typ: dpop+jwt`, its public key in
//! the `jwk` header) for every request: the method (`htm`), the URL without
//! query (`htu`), the time (`iat`), a unique `jti`, and with an access token
//! its hash (`ath`). [`verify`] checks one completely:
//!
//! - the header: `typ`, an algorithm of [`ALGS_SUPPORTED`] (never `none` or
//!   HMAC), a public key of that algorithm's kind and no private member;
//! - the signature, with aws-lc-rs;
//! - the claims against the request: `htm`, `htu` (both URLs normalized, query
//!   and fragment dropped), `iat` within [`IAT_WINDOW_SECS`] of `now`, `ath`;
//! - the nonce when the `NoncePolicy` asks for one (§8): nonces are an HMAC
//!   of a time slot under a key derived from the master key, so every instance
//!   issues and accepts the same ones and none are stored;
//! - last, that the `jti` is new: a unique insert in the database (shared by
//!   every instance), kept until the proof could no longer pass the `iat`
//!   check ([`crate::store::dpop_proofs`]).
//!
//! Where a proof is required and what it binds is decided by the callers: the
//! token endpoint (`oauth::token`) and the platform check [`check_resource`],
//! a step of its own after the token has been verified.

use crate::error::{AuthError, DpopError, Error, Result};
use crate::master_key::MasterKey;
use crate::principal::Presented;
use crate::services::Services;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ED25519, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use subtle::ConstantTimeEq as _;
use tessera_proto::dpop::{
    ALG_ED25519, ALG_EDDSA, ALG_ES256, JWT_TYP, ProofClaims, PublicJwk, access_token_hash,
};

/// The proof algorithms accepted, as discovery lists them
/// (`dpop_signing_alg_values_supported`) and `WWW-Authenticate` names them.
pub const ALGS_SUPPORTED: [&str; 3] = [ALG_ES256, ALG_EDDSA, ALG_ED25519];
/// A proof's `iat` may be this far from the server's clock, either way (RFC
/// 9449 §11.1): clocks drift, and a request takes time to arrive.
pub const IAT_WINDOW_SECS: i64 = 60;
/// A nonce is valid in its slot and the next one: 5 to 10 minutes.
pub const NONCE_SLOT_SECS: i64 = 300;
/// Larger proofs are refused unread; a real one is well under 1 KiB.
const MAX_PROOF_BYTES: usize = 4096;
/// JWK members that only a private key has (RFC 7518 §6.2.2, §6.3.2, §6.4;
/// RFC 8037 §2). A proof carrying one leaked its key (RFC 9449 §4.3).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// What a proof must match.
#[derive(Clone, Copy, Debug)]
pub struct Expected<'a> {
    pub method: &'a str,
    /// The request's URL as the client addressed it (the issuer's origin and
    /// path prefix, then the route).
    pub url: &'a str,
    /// The access token sent with the proof (its `ath`), if any.
    pub access_token: Option<&'a str>,
    pub nonce_required: bool,
}

/// A proof that checked out: the thumbprint of its key (`cnf.jkt`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proven {
    pub jkt: String,
}

fn invalid(why: impl Into<String>) -> Error {
    Error::Dpop(DpopError::InvalidProof(why.into()))
}

/// Checks a proof completely, including that its `jti` was never seen.
pub async fn verify(
    svc: &Services,
    proof: &str,
    expected: &Expected<'_>,
    now: i64,
) -> Result<Proven> {
    let checked = check(&svc.settings.master_key, proof, expected, now)?;
    let replay_key = crate::digest::secret_hash(&format!("{}\n{}", checked.jkt, checked.jti));
    // Kept until no clock in the window could accept the proof again.
    let keep_until = checked.iat + IAT_WINDOW_SECS + 1;
    if !svc.store.record_dpop_proof(&replay_key, keep_until).await? {
        return Err(invalid(
            "this DPoP proof was already used: make a new one for every request",
        ));
    }
    Ok(Proven { jkt: checked.jkt })
}

/// A proof whose every stateless check passed.
struct Checked {
    jkt: String,
    jti: String,
    iat: i64,
}

/// Everything but the replay check: no I/O.
fn check(master: &MasterKey, proof: &str, expected: &Expected<'_>, now: i64) -> Result<Checked> {
    if proof.len() > MAX_PROOF_BYTES {
        return Err(invalid("the DPoP proof is too large"));
    }
    let mut parts = proof.split('.');
    let (Some(header_part), Some(payload_part), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("the DPoP proof is not a compact JWS"));
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).ok();
    let (Some(header_bytes), Some(payload_bytes), Some(signature)) =
        (decode(header_part), decode(payload_part), decode(signature))
    else {
        return Err(invalid("the DPoP proof is not base64url"));
    };
    let header: Value = serde_json::from_slice(&header_bytes)
        .map_err(|_| invalid("the DPoP proof's header is not JSON"))?;
    let (alg, jwk) = proof_key(&header)?;
    let signed = &proof.as_bytes()[..header_part.len() + 1 + payload_part.len()];
    let signed_ok = match (alg, &jwk) {
        (ALG_ES256, PublicJwk::Ec { x, y, .. }) => {
            let mut point = vec![0x04];
            point.extend(coordinate(x)?);
            point.extend(coordinate(y)?);
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .verify(signed, &signature)
                .is_ok()
        }
        (_, PublicJwk::Okp { x, .. }) => UnparsedPublicKey::new(&ED25519, coordinate(x)?)
            .verify(signed, &signature)
            .is_ok(),
        _ => false,
    };
    if !signed_ok {
        return Err(invalid(
            "the DPoP proof's signature does not verify with its jwk",
        ));
    }
    let claims: ProofClaims = serde_json::from_slice(&payload_bytes).map_err(|e| {
        invalid(format!(
            "the DPoP proof's claims are incomplete (jti, htm, htu and iat are required): {e}"
        ))
    })?;
    if claims.jti.is_empty() || claims.jti.len() > 256 {
        return Err(invalid("the DPoP proof's jti must be 1 to 256 characters"));
    }
    if claims.htm != expected.method {
        return Err(invalid(format!(
            "the DPoP proof is for {}, not for this {} request",
            claims.htm, expected.method
        )));
    }
    let htu = normalized(&claims.htu);
    if htu.is_none() || htu != normalized(expected.url) {
        return Err(invalid(format!(
            "the DPoP proof's htu is not this request's URL ({})",
            tessera_proto::dpop::htu(expected.url)
        )));
    }
    // `abs_diff`: an `iat` of -2^63 (which JSON -1e30 becomes) must not overflow.
    if claims.iat.abs_diff(now) > IAT_WINDOW_SECS.unsigned_abs() {
        return Err(invalid(format!(
            "the DPoP proof's iat is more than {IAT_WINDOW_SECS} s from the server's time: make a new proof, and check this machine's clock"
        )));
    }
    match (expected.access_token, claims.ath.as_deref()) {
        (Some(token), Some(ath))
            if bool::from(access_token_hash(token).as_bytes().ct_eq(ath.as_bytes())) => {}
        (Some(_), _) => {
            return Err(invalid(
                "the DPoP proof's ath is not the hash of this access token",
            ));
        }
        (None, _) => {}
    }
    if expected.nonce_required
        && !claims
            .nonce
            .as_deref()
            .is_some_and(|n| nonce_valid(master, n, now))
    {
        return Err(Error::Dpop(DpopError::UseNonce {
            nonce: nonce(master, now),
        }));
    }
    Ok(Checked {
        jkt: jwk.thumbprint(),
        jti: claims.jti,
        iat: claims.iat,
    })
}

/// The algorithm and public key of a proof's header, checked against each other.
fn proof_key(header: &Value) -> Result<(&'static str, PublicJwk)> {
    let typ = header.get("typ").and_then(Value::as_str).unwrap_or("");
    if !typ.eq_ignore_ascii_case(JWT_TYP) {
        return Err(invalid(format!("the DPoP proof's typ must be {JWT_TYP}")));
    }
    if header.get("crit").is_some() {
        return Err(invalid(
            "the DPoP proof has critical header parameters this server does not know",
        ));
    }
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let Some(alg) = ALGS_SUPPORTED.into_iter().find(|a| *a == alg) else {
        return Err(invalid(format!(
            "the DPoP proof's alg must be one of {}",
            ALGS_SUPPORTED.join(", ")
        )));
    };
    let Some(jwk) = header.get("jwk").and_then(Value::as_object) else {
        return Err(invalid(
            "the DPoP proof's header must carry its public key as jwk",
        ));
    };
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(invalid(
            "the DPoP proof's jwk contains a private key: send the public key only, and make a new key, since this one has been disclosed",
        ));
    }
    let parsed: PublicJwk = serde_json::from_value(Value::Object(jwk.clone()))
        .map_err(|_| invalid("the DPoP proof's jwk is not an EC or OKP public key"))?;
    let fits = match &parsed {
        PublicJwk::Ec { crv, .. } => alg == ALG_ES256 && crv == "P-256",
        PublicJwk::Okp { crv, .. } => alg != ALG_ES256 && crv == "Ed25519",
    };
    if !fits {
        return Err(invalid(format!(
            "the DPoP proof's jwk is not a key for {alg}"
        )));
    }
    Ok((alg, parsed))
}

/// A 32-byte key coordinate (P-256 `x`/`y`, Ed25519 `x`).
fn coordinate(encoded: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()
        .filter(|b| b.len() == 32)
        .ok_or_else(|| invalid("the DPoP proof's jwk has a malformed coordinate"))
}

/// A URL compared as `htu` (RFC 9449 §4.3): parsed (scheme and host lower
/// case, default port dropped, path normalized), without query and fragment.
fn normalized(url: &str) -> Option<String> {
    let mut url = url::Url::parse(url).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    url.set_query(None);
    url.set_fragment(None);
    Some(url.into())
}

/// The nonce of `now`'s time slot: `SLOT.MAC`.
pub fn nonce(master: &MasterKey, now: i64) -> String {
    let slot = now.div_euclid(NONCE_SLOT_SECS);
    format!("{slot}.{}", nonce_mac(master, slot))
}

fn nonce_mac(master: &MasterKey, slot: i64) -> String {
    let mut mac = master.keyed_hash("dpop-nonce", &slot.to_be_bytes());
    mac.truncate(22); // 128 bits
    mac
}

/// Whether `nonce` is this slot's or the previous one's.
fn nonce_valid(master: &MasterKey, nonce: &str, now: i64) -> bool {
    let Some((slot, mac)) = nonce.split_once('.') else {
        return false;
    };
    let Ok(slot) = slot.parse::<i64>() else {
        return false;
    };
    let current = now.div_euclid(NONCE_SLOT_SECS);
    (slot == current || slot == current - 1)
        && bool::from(nonce_mac(master, slot).as_bytes().ct_eq(mac.as_bytes()))
}

/// The proof step of a platform request, after its token was verified: a token
/// bound to a key (`cnf.jkt` = `bound_to`) comes with the `DPoP` scheme and a
/// proof by that key for this request; an unbound one is a Bearer token; API
/// keys are not bound. Returns a fresh nonce to send back when the server asks
/// for nonces here.
pub async fn check_resource(
    svc: &Services,
    bound_to: Option<&str>,
    presented: Presented<'_>,
    proof: Option<&str>,
    method: &str,
    url: impl FnOnce() -> String,
    now: i64,
) -> Result<Option<String>> {
    let token = match (presented, bound_to) {
        (Presented::ApiKey(_), _) | (Presented::Bearer(_), None) => return Ok(None),
        (Presented::Bearer(_), Some(_)) => return Err(AuthError::KeyBound.into()),
        (Presented::Dpop(_), None) => return Err(AuthError::NotKeyBound.into()),
        (Presented::Dpop(token), Some(_)) => token,
    };
    let Some(proof) = proof else {
        return Err(invalid(
            "a DPoP-bound token needs a DPoP proof header signed by its key",
        ));
    };
    let policy = svc.settings.dpop_nonce;
    // Made only here: a request without a bound token never needs it.
    let url = url();
    let expected = Expected {
        method,
        url: &url,
        access_token: Some(token),
        nonce_required: policy.at_resources(),
    };
    let proven = verify(svc, proof, &expected, now).await?;
    if Some(proven.jkt.as_str()) != bound_to {
        return Err(invalid(
            "the DPoP proof is signed by another key than the one the token is bound to",
        ));
    }
    Ok(policy
        .at_resources()
        .then(|| nonce(&svc.settings.master_key, now)))
}

#[cfg(test)]
pub(crate) mod testing {
    //! A client's side of DPoP, for tests: keys and proofs made with aws-lc-rs.

    use super::*;
    use crate::federation::testing::Signer;
    use serde_json::json;

    /// A client's proof key: an ES256 or Ed25519 [`Signer`].
    pub struct Key(Signer);

    impl Key {
        pub fn es256() -> Self {
            Self(Signer::ec())
        }

        pub fn ed25519() -> Self {
            Self(Signer::ed())
        }

        pub fn alg(&self) -> &'static str {
            self.0.alg()
        }

        pub fn jwk(&self) -> PublicJwk {
            serde_json::from_value(self.0.jwk("")).unwrap()
        }

        pub fn jkt(&self) -> String {
            self.jwk().thumbprint()
        }

        /// A proof with this header and these claims, signed.
        pub fn sign(&self, header: &Value, claims: &Value) -> String {
            self.0.sign(header, claims)
        }

        pub fn header(&self) -> Value {
            json!({"typ": JWT_TYP, "alg": self.alg(), "jwk": self.jwk()})
        }

        /// A proof for `method url` at `iat`, with a fresh `jti`.
        pub fn proof(
            &self,
            method: &str,
            url: &str,
            token: Option<&str>,
            nonce: Option<&str>,
            iat: i64,
        ) -> String {
            let mut claims = json!({
                "jti": crate::digest::random_token(16),
                "htm": method,
                "htu": url,
                "iat": iat,
            });
            if let Some(token) = token {
                claims["ath"] = access_token_hash(token).into();
            }
            if let Some(nonce) = nonce {
                claims["nonce"] = nonce.into();
            }
            self.sign(&self.header(), &claims)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::Key;
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_767_225_600;
    const URL: &str = "https://auth.example/v1/me";

    fn master() -> MasterKey {
        MasterKey::generate()
    }

    fn expected(token: Option<&str>) -> Expected<'_> {
        Expected {
            method: "GET",
            url: URL,
            access_token: token,
            nonce_required: false,
        }
    }

    fn refused(master: &MasterKey, proof: &str, expected: &Expected<'_>) -> String {
        match check(master, proof, expected, NOW) {
            Err(Error::Dpop(DpopError::InvalidProof(why))) => why,
            other => panic!("expected an invalid proof, got {:?}", other.map(|c| c.jkt)),
        }
    }

    #[test]
    fn both_algorithms_verify_and_bind_their_thumbprint() {
        let m = master();
        for key in [Key::es256(), Key::ed25519()] {
            let proof = key.proof("GET", URL, Some("at"), None, NOW);
            let checked = check(&m, &proof, &expected(Some("at")), NOW).unwrap();
            assert_eq!(checked.jkt, key.jkt());
        }
    }

    #[test]
    fn the_request_must_match() {
        let m = master();
        let key = Key::ed25519();
        let e = expected(Some("at"));
        assert!(refused(&m, &key.proof("POST", URL, Some("at"), None, NOW), &e).contains("POST"));
        let other = key.proof(
            "GET",
            "https://auth.example/v1/projects",
            Some("at"),
            None,
            NOW,
        );
        assert!(refused(&m, &other, &e).contains("htu"));
        // Query and fragment are not part of htu; case and default ports are normalized.
        let same = key.proof(
            "GET",
            "HTTPS://Auth.Example:443/v1/me?x=1#y",
            Some("at"),
            None,
            NOW,
        );
        check(&m, &same, &e, NOW).unwrap();
        assert!(refused(&m, &key.proof("GET", URL, Some("other"), None, NOW), &e).contains("ath"));
        assert!(refused(&m, &key.proof("GET", URL, None, None, NOW), &e).contains("ath"));
        let late = key.proof("GET", URL, Some("at"), None, NOW - IAT_WINDOW_SECS - 1);
        assert!(refused(&m, &late, &e).contains("iat"));
        let early = key.proof("GET", URL, Some("at"), None, NOW + IAT_WINDOW_SECS + 1);
        assert!(refused(&m, &early, &e).contains("iat"));
        check(
            &m,
            &key.proof("GET", URL, Some("at"), None, NOW + IAT_WINDOW_SECS),
            &e,
            NOW,
        )
        .unwrap();
        // The far ends of an i64 are refused like any other time, not an overflow.
        for iat in [i64::MIN, i64::MAX] {
            let far = key.proof("GET", URL, Some("at"), None, iat);
            assert!(refused(&m, &far, &e).contains("iat"), "{iat}");
        }
    }

    #[test]
    fn headers_that_are_not_a_public_dpop_key_are_refused() {
        let m = master();
        let key = Key::es256();
        let claims = json!({"jti": "j", "htm": "GET", "htu": URL, "iat": NOW});
        let e = expected(None);
        let with = |change: &dyn Fn(&mut Value)| {
            let mut header = key.header();
            change(&mut header);
            key.sign(&header, &claims)
        };
        assert!(refused(&m, &with(&|h| h["typ"] = "JWT".into()), &e).contains("typ"));
        assert!(refused(&m, &with(&|h| h["alg"] = "none".into()), &e).contains("alg"));
        assert!(refused(&m, &with(&|h| h["alg"] = "HS256".into()), &e).contains("alg"));
        assert!(refused(&m, &with(&|h| h["alg"] = "EdDSA".into()), &e).contains("jwk"));
        assert!(refused(&m, &with(&|h| h["jwk"]["d"] = "c2VjcmV0".into()), &e).contains("private"));
        assert!(refused(&m, &with(&|h| h["crit"] = json!(["x"])), &e).contains("critical"));
        let no_jwk = with(&|h| {
            h.as_object_mut().unwrap().remove("jwk");
        });
        assert!(refused(&m, &no_jwk, &e).contains("jwk"));
        // Another key's jwk in the header: the signature does not verify.
        let other = Key::es256();
        let swapped = with(&|h| h["jwk"] = serde_json::to_value(other.jwk()).unwrap());
        assert!(refused(&m, &swapped, &e).contains("signature"));
        for garbage in ["", "a.b", "a.b.c.d", "!!.!!.!!"] {
            refused(&m, garbage, &e);
        }
    }

    #[test]
    fn nonces_are_stateless_and_expire() {
        let m = master();
        let key = Key::ed25519();
        let e = Expected {
            nonce_required: true,
            ..expected(None)
        };
        let asked = match check(&m, &key.proof("GET", URL, None, None, NOW), &e, NOW) {
            Err(Error::Dpop(DpopError::UseNonce { nonce })) => nonce,
            other => panic!("{:?}", other.map(|c| c.jkt)),
        };
        let with_nonce =
            |n: &str, at: i64| check(&m, &key.proof("GET", URL, None, Some(n), at), &e, at);
        with_nonce(&asked, NOW).unwrap();
        // Valid through the next slot, then refused with a new nonce.
        with_nonce(&asked, NOW + NONCE_SLOT_SECS).unwrap();
        assert!(matches!(
            with_nonce(&asked, NOW + 2 * NONCE_SLOT_SECS),
            Err(Error::Dpop(DpopError::UseNonce { .. }))
        ));
        // Another master key (another deployment) does not accept it.
        assert!(
            check(
                &master(),
                &key.proof("GET", URL, None, Some(&asked), NOW),
                &e,
                NOW
            )
            .is_err()
        );
        assert!(with_nonce("123.forged", NOW).is_err());
    }
}

/// DPoP through the router: the token endpoint, the platform API,
/// introspection and discovery, with a fixed clock.
#[cfg(test)]
mod flow_tests {
    use super::testing::Key;
    use crate::apps::NewApp;
    use crate::testing::{Fixture, ISSUER, body_json};
    use axum::body::Body;
    use axum::http::{Request, Response, StatusCode};
    use serde_json::Value;

    const TOKEN_URL: &str = "http://127.0.0.1:8080/oauth/token";
    const ME_URL: &str = "http://127.0.0.1:8080/v1/me";

    /// A confidential app of a new account; its id and secret.
    async fn confidential(fx: &Fixture, dpop_required: bool) -> (String, String) {
        let account = fx.account("c@example.com").await;
        let created = fx
            .app(
                &account,
                NewApp {
                    dpop_required,
                    ..NewApp::named("Service")
                },
            )
            .await;
        let secret = created.client_secret.unwrap().expose_secret().to_owned();
        (created.app.client_id, secret)
    }

    async fn token_request(
        fx: &Fixture,
        fields: &[(&str, &str)],
        proof: Option<&str>,
    ) -> Response<Body> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut request = Request::post("/oauth/token")
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        fx.send(request.body(Body::from(body)).unwrap()).await
    }

    /// A client-credentials token bound to `key`, after the nonce round trip.
    async fn bound_token(fx: &Fixture, key: &Key, client: &(String, String)) -> String {
        let fields = [
            ("grant_type", "client_credentials"),
            ("client_id", client.0.as_str()),
            ("client_secret", client.1.as_str()),
        ];
        let now = fx.clock_now();
        let first = token_request(
            fx,
            &fields,
            Some(&key.proof("POST", TOKEN_URL, None, None, now)),
        )
        .await;
        assert_eq!(first.status(), StatusCode::BAD_REQUEST);
        let nonce = first.headers()["dpop-nonce"].to_str().unwrap().to_owned();
        assert_eq!(body_json(first).await["error"], "use_dpop_nonce");
        let proof = key.proof("POST", TOKEN_URL, None, Some(&nonce), now);
        let response = token_request(fx, &fields, Some(&proof)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers().contains_key("dpop-nonce"),
            "the next nonce comes along"
        );
        let body = body_json(response).await;
        assert_eq!(body["token_type"], "DPoP");
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn get_me(fx: &Fixture, authorization: &str, proof: Option<&str>) -> Response<Body> {
        let mut request = Request::get("/v1/me").header("authorization", authorization);
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        fx.send(request.body(Body::empty()).unwrap()).await
    }

    fn challenges(response: &Response<Body>) -> Vec<String> {
        (response.headers().get_all("www-authenticate").iter())
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// 401 with a DPoP challenge naming `error`; the body's message.
    async fn refused(response: Response<Body>, error: &str) -> String {
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let found = challenges(&response);
        assert!(
            found
                .iter()
                .any(|c| c.starts_with("DPoP ") && c.contains(&format!(r#"error="{error}""#))),
            "{found:?}"
        );
        body_json(response).await["message"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[tokio::test]
    async fn a_bound_token_works_only_with_fresh_proofs_of_its_key() {
        let fx = Fixture::new().await;
        let client = confidential(&fx, false).await;
        for key in [Key::es256(), Key::ed25519()] {
            let token = bound_token(&fx, &key, &client).await;
            let auth = format!("DPoP {token}");
            let now = fx.clock_now();
            let proof = key.proof("GET", ME_URL, Some(&token), None, now);
            let ok = get_me(&fx, &auth, Some(&proof)).await;
            assert_eq!(ok.status(), StatusCode::OK);

            // The same proof again: a replay.
            assert!(
                refused(get_me(&fx, &auth, Some(&proof)).await, "invalid_dpop_proof")
                    .await
                    .contains("already used")
            );
            // Stolen token, no key: as Bearer, as DPoP without a proof, with a proof of another key.
            refused(
                get_me(&fx, &format!("Bearer {token}"), None).await,
                "invalid_token",
            )
            .await;
            refused(get_me(&fx, &auth, None).await, "invalid_dpop_proof").await;
            let thief = Key::es256().proof("GET", ME_URL, Some(&token), None, now);
            assert!(
                refused(get_me(&fx, &auth, Some(&thief)).await, "invalid_dpop_proof")
                    .await
                    .contains("another key")
            );
            // A proof for another URL or method.
            let other_url = key.proof(
                "GET",
                "http://127.0.0.1:8080/v1/projects",
                Some(&token),
                None,
                now,
            );
            assert!(
                refused(
                    get_me(&fx, &auth, Some(&other_url)).await,
                    "invalid_dpop_proof"
                )
                .await
                .contains("htu")
            );
            let other_method = key.proof("DELETE", ME_URL, Some(&token), None, now);
            refused(
                get_me(&fx, &auth, Some(&other_method)).await,
                "invalid_dpop_proof",
            )
            .await;
            // A proof made too long ago.
            fx.clock.advance(super::IAT_WINDOW_SECS + 1);
            let stale = key.proof("GET", ME_URL, Some(&token), None, now);
            assert!(
                refused(get_me(&fx, &auth, Some(&stale)).await, "invalid_dpop_proof")
                    .await
                    .contains("iat")
            );
        }
    }

    #[tokio::test]
    async fn unbound_tokens_stay_bearer_and_api_keys_are_untouched() {
        let fx = Fixture::new().await;
        let client = confidential(&fx, false).await;
        let fields = [
            ("grant_type", "client_credentials"),
            ("client_id", client.0.as_str()),
            ("client_secret", client.1.as_str()),
        ];
        let body = body_json(token_request(&fx, &fields, None).await).await;
        assert_eq!(body["token_type"], "Bearer");
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(
            get_me(&fx, &format!("Bearer {token}"), None).await.status(),
            StatusCode::OK
        );
        let response = get_me(&fx, &format!("DPoP {token}"), None).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(challenges(&response)[0].starts_with("Bearer "));

        let account = fx.account("k@example.com").await;
        let key = fx.api_key(&account, None).await;
        let proof = Key::ed25519().proof("GET", "http://elsewhere/x", None, None, 0);
        let auth = format!("token {}", key.key.expose_secret());
        assert_eq!(
            get_me(&fx, &auth, Some(&proof)).await.status(),
            StatusCode::OK
        );

        // Without credentials, both schemes are offered.
        let missing = fx
            .send(Request::get("/v1/me").body(Body::empty()).unwrap())
            .await;
        let offered = challenges(&missing);
        assert!(
            offered.iter().any(|c| c.starts_with("Bearer ")),
            "{offered:?}"
        );
        assert!(
            offered
                .iter()
                .any(|c| c.starts_with("DPoP ") && c.contains("ES256")),
            "{offered:?}"
        );
    }

    #[tokio::test]
    async fn an_app_may_require_proofs() {
        let fx = Fixture::new().await;
        let client = confidential(&fx, true).await;
        let fields = [
            ("grant_type", "client_credentials"),
            ("client_id", client.0.as_str()),
            ("client_secret", client.1.as_str()),
        ];
        let response = token_request(&fx, &fields, None).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = body_json(response).await;
        assert_eq!(body["error"], "invalid_dpop_proof");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("requires DPoP")
        );
        bound_token(&fx, &Key::ed25519(), &client).await;
    }

    /// The proof is checked before a confidential app's grant is counted: the
    /// nonce round trip costs the app nothing from its token window, only the
    /// grants do.
    #[tokio::test]
    async fn a_nonce_round_trip_costs_the_app_no_grant() {
        let fx = Fixture::new().await;
        let account = fx.account("n@example.com").await;
        let created = fx
            .app(
                &account,
                NewApp {
                    rate_limit: Some(2),
                    ..NewApp::named("Service")
                },
            )
            .await;
        let secret = created.client_secret.unwrap().expose_secret().to_owned();
        let fields = [
            ("grant_type", "client_credentials"),
            ("client_id", created.app.client_id.as_str()),
            ("client_secret", secret.as_str()),
        ];
        let key = Key::es256();
        let now = fx.clock_now();
        let mut nonce = String::new();
        for _ in 0..3 {
            let proof = key.proof("POST", TOKEN_URL, None, None, now);
            let asked = token_request(&fx, &fields, Some(&proof)).await;
            assert_eq!(asked.status(), StatusCode::BAD_REQUEST);
            assert!(!asked.headers().contains_key("x-ratelimit-limit"));
            nonce = asked.headers()["dpop-nonce"].to_str().unwrap().to_owned();
        }
        for remaining in ["1", "0"] {
            let proof = key.proof("POST", TOKEN_URL, None, Some(&nonce), now);
            let granted = token_request(&fx, &fields, Some(&proof)).await;
            assert_eq!(granted.status(), StatusCode::OK);
            assert_eq!(granted.headers()["x-ratelimit-limit"], "2");
            assert_eq!(granted.headers()["x-ratelimit-remaining"], remaining);
        }
        let proof = key.proof("POST", TOKEN_URL, None, Some(&nonce), now);
        let over = token_request(&fx, &fields, Some(&proof)).await;
        assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    #[tokio::test]
    async fn a_public_clients_refresh_token_needs_the_key_of_its_login() {
        let fx = Fixture::with_settings(|s| s.dpop_nonce = crate::settings::NoncePolicy::Off).await;
        let account = fx.account("p@example.com").await;
        let app = NewApp {
            dpop_required: true,
            ..NewApp::public_client("CLI", "cli")
        };
        fx.app(&account, app).await;
        let started = body_json(
            fx.post_form("/oauth/device_authorization", &[("client_id", "cli")])
                .await,
        )
        .await;
        let device_code = started["device_code"].as_str().unwrap().to_owned();
        crate::oauth::device::approve(
            &fx.state,
            started["user_code"].as_str().unwrap(),
            &account,
            fx.clock_now(),
        )
        .await
        .unwrap();
        fx.clock.advance(5);
        let poll = [
            ("grant_type", crate::oauth::GRANT_DEVICE_CODE),
            ("client_id", "cli"),
            ("device_code", device_code.as_str()),
        ];
        // The app requires DPoP.
        let without = body_json(token_request(&fx, &poll, None).await).await;
        assert_eq!(without["error"], "invalid_dpop_proof");
        let key = Key::es256();
        let now = fx.clock_now();
        let tokens = body_json(
            token_request(
                &fx,
                &poll,
                Some(&key.proof("POST", TOKEN_URL, None, None, now)),
            )
            .await,
        )
        .await;
        assert_eq!(tokens["token_type"], "DPoP", "{tokens}");
        let refresh_token = tokens["refresh_token"].as_str().unwrap();
        let refresh = [
            ("grant_type", "refresh_token"),
            ("client_id", "cli"),
            ("refresh_token", refresh_token),
        ];
        let thief = Key::es256().proof("POST", TOKEN_URL, None, None, now);
        let wrong = token_request(&fx, &refresh, Some(&thief)).await;
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
        let wrong = body_json(wrong).await;
        assert_eq!(wrong["error"], "invalid_grant");
        assert!(
            wrong["error_description"]
                .as_str()
                .unwrap()
                .contains("bound")
        );
        // The refresh token was not burnt by the attempt: its owner refreshes.
        let renewed = token_request(
            &fx,
            &refresh,
            Some(&key.proof("POST", TOKEN_URL, None, None, now)),
        )
        .await;
        assert_eq!(renewed.status(), StatusCode::OK);
        let renewed = body_json(renewed).await;
        assert_eq!(renewed["token_type"], "DPoP");

        // Introspection (a confidential client asks) shows the binding.
        let (id, secret) = confidential(&fx, false).await;
        let introspected = async |token: &Value| {
            let fields = [
                ("token", token.as_str().unwrap()),
                ("client_id", id.as_str()),
                ("client_secret", secret.as_str()),
            ];
            body_json(fx.post_form("/oauth/introspect", &fields).await).await
        };
        let access = introspected(&renewed["access_token"]).await;
        assert_eq!(access["active"], true);
        assert_eq!(access["token_type"], "DPoP");
        assert_eq!(access["cnf"]["jkt"], Value::from(key.jkt()));
        // The refresh token is the CLI's alone (RFC 6749 §10.4): nothing of it.
        let refresh = introspected(&renewed["refresh_token"]).await;
        assert_eq!(refresh, serde_json::json!({"active": false}));
    }

    #[tokio::test]
    async fn resources_may_ask_for_nonces_too() {
        let fx = Fixture::with_settings(|s| s.dpop_nonce = crate::settings::NoncePolicy::All).await;
        let client = confidential(&fx, false).await;
        let key = Key::ed25519();
        let token = bound_token(&fx, &key, &client).await;
        let auth = format!("DPoP {token}");
        let now = fx.clock_now();
        let first = get_me(
            &fx,
            &auth,
            Some(&key.proof("GET", ME_URL, Some(&token), None, now)),
        )
        .await;
        let nonce = first.headers()["dpop-nonce"].to_str().unwrap().to_owned();
        refused(first, "use_dpop_nonce").await;
        let ok = get_me(
            &fx,
            &auth,
            Some(&key.proof("GET", ME_URL, Some(&token), Some(&nonce), now)),
        )
        .await;
        assert_eq!(ok.status(), StatusCode::OK);
        assert!(ok.headers().contains_key("dpop-nonce"));
    }

    #[tokio::test]
    async fn discovery_lists_the_proof_algorithms() {
        let fx = Fixture::new().await;
        let response = fx
            .send(
                Request::get(crate::oauth::PATH_METADATA)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        let meta = body_json(response).await;
        assert_eq!(meta["issuer"], ISSUER);
        assert_eq!(
            meta["dpop_signing_alg_values_supported"],
            serde_json::json!(["ES256", "EdDSA", "Ed25519"])
        );
    }
}
