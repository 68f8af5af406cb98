//! Bodies of the platform API (`/v1/…`) that the CLIs call.

use crate::scope::Scopes;
use crate::secret::ApiKey;
use serde::{Deserialize, Serialize};

/// `GET /v1/me`: who the presented credential acts for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub account_id: String,
    pub email: String,
    /// `api_key` or `access_token`.
    pub credential: String,
    /// API key id or access token id.
    pub credential_id: String,
    pub scope: Scopes,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
}

/// One project in `GET /v1/projects` (`{"projects": [...]}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Project {
    pub id: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProjectList {
    pub projects: Vec<Project>,
}

/// An API key as listed (`GET /v1/api-keys` -> `{"api_keys": [...]}`); never the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyInfo {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub scope: Scopes,
    /// Unix seconds.
    pub created_at: i64,
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub revoked_at: Option<i64>,
    #[serde(default)]
    pub last_used_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKeyInfo>,
}

/// `POST /v1/api-keys` body. `expires_in` is a duration such as `30d`, `12h`.
/// Unknown fields are refused: a misspelt or guessed field (`expires_at`)
/// silently ignored would make a key that never expires.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A lifetime above zero: digits and a unit (`s`, `m`, `h`, `d`, `w`; none
    /// means seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^0*[1-9][0-9]*[smhdw]?$", example = "30d")
    )]
    pub expires_in: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scopes>,
}

/// A newly created API key: the only time the key itself is returned.
/// Also the answer of `POST /v1/auth/otp/verify`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedApiKey {
    pub id: String,
    pub key: ApiKey,
    pub scope: Scopes,
    /// RFC 3339, or null when the key does not expire.
    pub expires_at: Option<String>,
}

/// `POST /v1/auth/otp`: ask for a one-time code by email.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OtpRequest {
    #[cfg_attr(feature = "openapi", schema(format = "email"))]
    pub email: String,
}

/// `POST /v1/auth/otp/verify`: trade the code for a new API key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OtpVerify {
    #[cfg_attr(feature = "openapi", schema(format = "email"))]
    pub email: String,
    /// The 6 digits from the mail.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[0-9]{6}$", example = "123456")
    )]
    pub code: String,
}
