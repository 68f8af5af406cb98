//! The authorization_code grant at the token endpoint (RFC 6749 §4.1.3) with PKCE
//! (RFC 7636 §4.6, S256 only).
//!
//! The code is consumed first, atomically, so every later check failing (another
//! client, another redirect URI, a wrong or missing verifier) still burns it. A
//! code presented again fails and revokes every token issued from it (RFC 6749
//! §4.1.2: an attacker may hold them), even when it races the first redemption:
//! consuming the code opens its family in the same transaction, and the tokens
//! name the family, so they die whenever the replay lands.

use super::issue::Grantee;
use crate::digest;
use crate::error::Result;
use crate::services::Services;
use crate::store::authorization_codes::Consumed;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use tessera_proto::Scopes;
use tessera_proto::token::TokenResponse;

/// The grant's parameters.
pub struct Request {
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
}

/// RFC 7636 §4.1: 43-128 characters of `[A-Za-z0-9-._~]`.
fn valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 7636 §4.6: base64url(SHA-256(verifier)) equals the challenge.
pub fn s256_matches(verifier: &str, challenge: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

pub async fn grant(svc: &Services, to: Grantee<'_>, request: Request) -> Result<TokenResponse> {
    let Grantee { app, key, now } = to;
    let code = super::required(&request.code, "code")?;
    let row = match svc
        .store
        .consume_authorization_code(&digest::secret_hash(code), key.filter(|_| app.public), now)
        .await?
    {
        Consumed::Fresh(row) => row,
        Consumed::Replayed { family_id } => {
            tracing::warn!(
                client_id = %app.client_id,
                "authorization code presented twice; revoking the tokens issued from it"
            );
            super::issue::revoke_family(&svc.store, &family_id, now).await?;
            return Err(super::invalid_grant(
                "the authorization code has already been used",
            ));
        }
        Consumed::Unknown => return Err(super::invalid_grant("the authorization code is invalid")),
    };
    if row.client_id != app.client_id {
        return Err(super::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if row.expires_at <= now {
        return Err(super::invalid_grant("the authorization code has expired"));
    }
    if request.redirect_uri.as_deref() != Some(row.redirect_uri.as_str()) {
        return Err(super::invalid_grant(
            "redirect_uri differs from the one in the authorization request",
        ));
    }
    match (
        row.code_challenge.as_str(),
        request.code_verifier.as_deref(),
    ) {
        ("", Some(_)) => {
            return Err(super::invalid_grant(
                "code_verifier was sent, but the authorization request had no code_challenge",
            ));
        }
        // A confidential client without PKCE: its secret authenticated it. (A
        // public client never gets a code without a challenge.)
        ("", None) if !app.public => {}
        (challenge, verifier) => {
            let verifier = verifier.unwrap_or("");
            if !valid_verifier(verifier) || !s256_matches(verifier, challenge) {
                return Err(super::invalid_grant(
                    "code_verifier does not match the code_challenge (PKCE S256)",
                ));
            }
        }
    }
    let family = super::issue::Family {
        id: &row.family_id,
        account_id: &row.account_id,
        created_at: now,
    };
    let scope = Scopes::parse(&row.scope);
    let body = super::issue::in_family(svc, to, family, &scope).await?;
    super::issue::count("authorization_code");
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(valid_verifier(verifier));
        assert!(s256_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!s256_matches(verifier, verifier));
        assert!(!valid_verifier("short"));
    }
}
