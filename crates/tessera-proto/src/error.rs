//! Error bodies on the wire.

use serde::{Deserialize, Serialize};

/// The platform error code for "valid token, missing scope" (Lofty overview: 403
/// with code 200100).
pub const INSUFFICIENT_SCOPE_CODE: u32 = 200100;

/// Error body of the platform API (`/v1/…`) and the admin surfaces:
/// `{"error":"insufficient_scope","message":"…","code":200100}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiErrorBody {
    /// A stable machine-readable name, e.g. `invalid_token`, `rate_limited`.
    pub error: String,
    /// A sentence for humans: what was wrong and what to do.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u32>,
}

/// Error body of the OAuth endpoints (RFC 6749 §5.2, RFC 8628 §3.5, RFC 7009).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OAuthErrorBody {
    pub error: OAuthErrorCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// Every `error` value an OAuth endpoint may return, with the RFC that defines it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthErrorCode {
    /// RFC 6749 §5.2
    InvalidRequest,
    /// RFC 6749 §5.2
    InvalidClient,
    /// RFC 6749 §5.2
    InvalidGrant,
    /// RFC 6749 §5.2
    UnauthorizedClient,
    /// RFC 6749 §5.2
    UnsupportedGrantType,
    /// RFC 6749 §5.2
    InvalidScope,
    /// RFC 6749 §4.1.2.1
    AccessDenied,
    /// RFC 6749 §4.1.2.1
    UnsupportedResponseType,
    /// RFC 6749 §4.1.2.1
    ServerError,
    /// RFC 6749 §4.1.2.1
    TemporarilyUnavailable,
    /// RFC 8628 §3.5
    AuthorizationPending,
    /// RFC 8628 §3.5
    SlowDown,
    /// RFC 8628 §3.5
    ExpiredToken,
    /// RFC 7009 §2.2.1
    UnsupportedTokenType,
    /// RFC 9449 §5: the DPoP proof is missing, malformed or does not match.
    InvalidDpopProof,
    /// RFC 9449 §8: send a proof with the nonce in the `DPoP-Nonce` header.
    UseDpopNonce,
    /// RFC 8707 §2: the `resource` (or RFC 8693 `audience`) is not one the
    /// server issues tokens for.
    InvalidTarget,
    /// Anything else a foreign server sends; kept so the client can show it.
    #[serde(untagged)]
    Other(String),
}

impl OAuthErrorCode {
    /// Every code an RFC defines, i.e. every variant but [`OAuthErrorCode::Other`].
    pub const REGISTERED: [OAuthErrorCode; 17] = [
        Self::InvalidRequest,
        Self::InvalidClient,
        Self::InvalidGrant,
        Self::UnauthorizedClient,
        Self::UnsupportedGrantType,
        Self::InvalidScope,
        Self::AccessDenied,
        Self::UnsupportedResponseType,
        Self::ServerError,
        Self::TemporarilyUnavailable,
        Self::AuthorizationPending,
        Self::SlowDown,
        Self::ExpiredToken,
        Self::UnsupportedTokenType,
        Self::InvalidDpopProof,
        Self::UseDpopNonce,
        Self::InvalidTarget,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::InvalidTarget => "invalid_target",
            Self::Other(s) => s,
        }
    }
}

impl std::fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_codes_round_trip_and_keep_unknown_ones() {
        let body: OAuthErrorBody =
            serde_json::from_str(r#"{"error":"slow_down","error_description":"x"}"#).unwrap();
        assert_eq!(body.error, OAuthErrorCode::SlowDown);
        let other: OAuthErrorBody = serde_json::from_str(r#"{"error":"login_required"}"#).unwrap();
        assert_eq!(other.error.as_str(), "login_required");
        assert_eq!(
            serde_json::to_string(&OAuthErrorCode::InvalidGrant).unwrap(),
            "\"invalid_grant\""
        );
    }

    #[test]
    fn registered_codes_are_the_named_variants() {
        for code in OAuthErrorCode::REGISTERED {
            let parsed: OAuthErrorCode = serde_json::from_value(code.as_str().into()).unwrap();
            assert_eq!(parsed, code);
            assert!(!matches!(parsed, OAuthErrorCode::Other(_)), "{code}");
        }
    }
}
