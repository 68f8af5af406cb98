//! Claims inside Tessera's signed tokens: API keys and access tokens.
//!
//! Both are compact JWS signed with EdDSA and carrying `kid` in the header. An API
//! key may sit behind a deployment prefix such as `lk_` (for secret scanners); the
//! JWS starts at the first `eyJ`, the base64url of `{"`.

use crate::scope::Scopes;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// What a signed token is for. A server never accepts one kind where the other is
/// expected by accident: the claim is checked alongside the signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenUse {
    ApiKey,
    Access,
}

/// The payload of an API key or access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// Account id.
    pub sub: String,
    /// API key id or access token id; the server's revocation check looks this up.
    pub jti: String,
    pub scope: Scopes,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    pub token_use: TokenUse,
    /// The OAuth client the access token was issued to (RFC 9068 §2.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Authentication assurance level; `"0"` for token-URL session logins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// The token family (one login: a redeemed code or an approved device) an
    /// access token was issued in; the server refuses it once the family is revoked.
    #[serde(rename = "fam", default, skip_serializing_if = "Option::is_none")]
    pub family_id: Option<String>,
    /// The API key (`customer_key`) a client-credentials token acts through; the
    /// server refuses the token once that key is revoked.
    #[serde(rename = "key_id", default, skip_serializing_if = "Option::is_none")]
    pub api_key_id: Option<String>,
    /// The resource the access token is meant for (RFC 8707 `resource`, RFC 9068
    /// §2.2): the issuer itself for its own API (absent in tokens issued
    /// before that default). A server refuses a token meant for another
    /// audience, which may accept it (workload identity federation between
    /// two servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// The key the access token is bound to (RFC 9449 §6.1): only a request
    /// with a DPoP proof signed by that key may use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// How an access token was granted, where that matters later (the name
    /// Auth0 uses): [`GTY_TOKEN_EXCHANGE`] for an exchanged token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gty: Option<String>,
}

/// `gty` of an access token from a token exchange (RFC 8693): the exchange
/// needs no client secret, so neither does revoking the token (RFC 7009).
pub const GTY_TOKEN_EXCHANGE: &str = "token-exchange";

impl Claims {
    /// The claims every signed token has; the optional ones are absent, and
    /// the issuer sets those it needs with struct update syntax.
    pub fn new(
        token_use: TokenUse,
        iss: impl Into<String>,
        sub: impl Into<String>,
        jti: impl Into<String>,
        scope: Scopes,
        iat: i64,
    ) -> Self {
        Self {
            iss: iss.into(),
            sub: sub.into(),
            jti: jti.into(),
            scope,
            iat,
            exp: None,
            token_use,
            client_id: None,
            acr: None,
            family_id: None,
            api_key_id: None,
            aud: None,
            cnf: None,
            gty: None,
        }
    }
}

/// A token's confirmation claim (RFC 7800 §3.1) as DPoP uses it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Confirmation {
    /// The JWK thumbprint of the key ([`crate::dpop::PublicJwk::thumbprint`]).
    pub jkt: String,
}

/// Claims read from a token without checking its signature.
///
/// Good for telling a user what their stored key says (id, scope, expiry) and
/// nothing else: the type has no way back to a [`Claims`], so it cannot be mistaken
/// for a verified principal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnverifiedClaims(Claims);

impl UnverifiedClaims {
    /// Decodes the payload of a compact JWS, skipping any prefix before it.
    pub fn decode(token: &str) -> Option<Self> {
        let start = token.find("eyJ")?;
        let mut parts = token[start..].split('.');
        let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
        serde_json::from_slice(&bytes).ok().map(Self)
    }

    pub fn claims(&self) -> &Claims {
        &self.0
    }

    /// Whether `exp` is at or before `now` (Unix seconds). No `exp`: never.
    pub fn is_expired_at(&self, now: i64) -> bool {
        self.0.exp.is_some_and(|exp| exp <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jws(claims: &Claims) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","kid":"k1"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
        format!("{header}.{payload}.c2ln")
    }

    fn sample() -> Claims {
        let scope = Scopes::parse("THIRD_PARTY_OPERATION");
        Claims {
            exp: Some(200),
            ..Claims::new(
                TokenUse::ApiKey,
                "http://127.0.0.1:8080",
                "acct_1",
                "key_1",
                scope,
                100,
            )
        }
    }

    #[test]
    fn decodes_with_and_without_prefix() {
        let token = jws(&sample());
        assert_eq!(
            UnverifiedClaims::decode(&token).unwrap().claims(),
            &sample()
        );
        let prefixed = format!("lk_{token}");
        assert_eq!(
            UnverifiedClaims::decode(&prefixed).unwrap().claims(),
            &sample()
        );
    }

    #[test]
    fn expiry() {
        let c = UnverifiedClaims::decode(&jws(&sample())).unwrap();
        assert!(!c.is_expired_at(199));
        assert!(c.is_expired_at(200));
    }

    #[test]
    fn rejects_garbage() {
        assert!(UnverifiedClaims::decode("not a token").is_none());
        assert!(UnverifiedClaims::decode("eyJ.a.b.c").is_none());
        assert!(UnverifiedClaims::decode("eyJhbGciOiJub25lIn0.!!!.x").is_none());
    }
}
