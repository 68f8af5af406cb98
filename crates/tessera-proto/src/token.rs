//! OAuth token endpoint bodies.

use crate::secret::{AccessToken, RefreshToken};
use serde::{Deserialize, Serialize};

/// Successful token response (RFC 6749 §5.1).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    pub access_token: AccessToken,
    /// `Bearer`, or `DPoP` for a token bound to the request's DPoP key
    /// (RFC 9449 §5); compared case-insensitively by clients.
    pub token_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Assurance level of the login; `"0"` for token-URL sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// RFC 8693 §2.2.1: what a token exchange issued
    /// (`urn:ietf:params:oauth:token-type:access_token`); absent for other grants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<String>,
}

/// Device authorization response (RFC 8628 §3.2).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceAuthorizationResponse {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_uri_complete: Option<String>,
    pub expires_in: u64,
    /// Always present from tesserad; RFC 8628 defaults it to 5 when absent.
    #[serde(default = "default_interval")]
    pub interval: u64,
}

fn default_interval() -> u64 {
    5
}

/// Introspection response (RFC 7662 §2.2).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IntrospectionResponse {
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// The key a DPoP-bound token is bound to (RFC 9449 §6.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<crate::claims::Confirmation>,
}

/// Authorization server metadata (RFC 8414 §2), the fields Tessera uses.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerMetadata {
    pub issuer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_authorization_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grant_types_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub code_challenge_methods_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_types_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// RFC 9207 §3: the server puts `iss` in every authorization response, so
    /// a response without it (or with another issuer) is refused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub authorization_response_iss_parameter_supported: bool,
    /// RFC 9449 §5.1: the proof algorithms the server accepts; a server that
    /// lists none does not do DPoP.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dpop_signing_alg_values_supported: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_response_debug_redacts() {
        let body = r#"{"access_token":"at-123","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-456"}"#;
        let t: TokenResponse = serde_json::from_str(body).unwrap();
        let dbg = format!("{t:?}");
        assert!(!dbg.contains("at-123") && !dbg.contains("rt-456"));
        assert_eq!(t.access_token.expose_secret(), "at-123");
    }

    #[test]
    fn device_interval_defaults_to_five() {
        let body = r#"{"device_code":"d","user_code":"U","verification_uri":"v","expires_in":600}"#;
        let d: DeviceAuthorizationResponse = serde_json::from_str(body).unwrap();
        assert_eq!(d.interval, 5);
    }
}

/// Names of OAuth 2.0 Token Exchange (RFC 8693), as both sides write them.
pub mod exchange {
    /// `grant_type` (RFC 8693 §2.1).
    pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
    /// `subject_token_type` of an OpenID Connect ID token (RFC 8693 §3).
    pub const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
    /// `subject_token_type` of any JWT (RFC 8693 §3): what CI platforms hand out.
    pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
    /// `issued_token_type` / `requested_token_type` of an access token.
    pub const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
}
