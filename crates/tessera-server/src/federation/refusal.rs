//! Why a subject token is not exchanged: plain data, said in the token
//! endpoint's `error_description`.

use crate::error::Error;
use tessera_proto::OAuthErrorCode;

/// Why a subject token is not exchanged. Each says what is wrong in the
/// `error_description` of the token endpoint's answer (never the token).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the subject token is malformed: {0}")]
    Malformed(&'static str),
    #[error("the subject token's algorithm {0:?} is not accepted: RS256, ES256 and EdDSA are")]
    AlgorithmNotAllowed(String),
    #[error(
        "the subject token's header has {0}, which is not accepted: keys come only from the issuer's JWKS"
    )]
    HeaderNotAllowed(&'static str),
    #[error("the subject token has no iss")]
    NoIssuer,
    #[error("this client trusts no issuer {0:?}: add a trust rule for it")]
    UntrustedIssuer(String),
    #[error(
        "the subject token was signed by a key (kid {0:?}) that is not in its issuer's JWKS, also after fetching it again"
    )]
    UnknownKey(String),
    #[error("the subject token's signature is invalid")]
    BadSignature,
    /// `reason` is coarse on purpose: anyone may make the server fetch a
    /// trusted issuer, so the answer must not describe what it reached (a
    /// status, a body). `detail` says all, in the log.
    #[error("the keys of issuer {issuer} cannot be fetched: {reason}")]
    IssuerUnavailable {
        issuer: String,
        reason: &'static str,
        detail: String,
    },
    #[error("the subject token has no exp: only expiring tokens are exchanged")]
    NoExpiry,
    #[error("the subject token expired at {0}")]
    Expired(String),
    #[error("the subject token is not valid before {0}")]
    NotYetValid(String),
    #[error("the subject token was issued in the future ({0}); check the clocks")]
    IssuedInTheFuture(String),
    #[error("the subject token is valid for more than 24 hours; use a short-lived token")]
    TooLongLived,
    #[error("the subject token's audience is not the one this client's trust rules for {0} expect")]
    WrongAudience(String),
    #[error("the subject token's {claim} ({value:?}) does not match this client's trust rule")]
    ClaimMismatch { claim: String, value: String },
    #[error("the subject token has already been exchanged; get a fresh one from its issuer")]
    Replayed,
    #[error(
        "the subject token is bound to a key (cnf.jkt): exchange it with a DPoP proof signed by that key"
    )]
    KeyNotProven,
    #[error(
        "the subject token is bound to a key in a way this server cannot check (cnf without jkt)"
    )]
    UncheckableBinding,
}

impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            // The server's own trouble reaching the issuer: worth retrying.
            Refusal::IssuerUnavailable { .. } => {
                Error::oauth(OAuthErrorCode::TemporarilyUnavailable, refusal.to_string())
            }
            _ => Error::UnacceptableSubjectToken(refusal.to_string()),
        }
    }
}
