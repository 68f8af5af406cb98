//! Authorization server metadata (RFC 8414), also served at the OpenID-style path
//! that many client libraries try first. `issuer` equals the configured issuer
//! exactly, and every endpoint, grant and method this server supports is listed.

use super::*;
use serde::Serialize;

/// The metadata document. Fields in alphabetical order: the JSON keeps the order
/// it has always had.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Metadata {
    pub authorization_endpoint: String,
    pub authorization_response_iss_parameter_supported: bool,
    pub code_challenge_methods_supported: [&'static str; 1],
    pub device_authorization_endpoint: String,
    pub dpop_signing_alg_values_supported: [&'static str; 3],
    pub grant_types_supported: [&'static str; 5],
    pub introspection_endpoint: String,
    pub introspection_endpoint_auth_methods_supported: [&'static str; 2],
    pub issuer: String,
    pub jwks_uri: String,
    pub response_modes_supported: [&'static str; 1],
    pub response_types_supported: [&'static str; 1],
    pub revocation_endpoint: String,
    pub revocation_endpoint_auth_methods_supported: [&'static str; 3],
    pub scopes_supported: [&'static str; 2],
    pub session_token_endpoint: String,
    /// `public`: a token's `sub` is the account id, the same for every client.
    /// (OpenID Connect Discovery requires it of the document at its path.)
    pub subject_types_supported: [&'static str; 1],
    pub token_endpoint: String,
    pub token_endpoint_auth_methods_supported: [&'static str; 3],
}

/// The metadata document for `issuer`.
pub fn metadata(issuer: &str) -> Metadata {
    let url = |path: &str| crate::settings::join(issuer, path);
    Metadata {
        issuer: issuer.to_owned(),
        authorization_endpoint: url(PATH_AUTHORIZE),
        token_endpoint: url(PATH_TOKEN),
        device_authorization_endpoint: url(PATH_DEVICE_AUTHORIZATION),
        revocation_endpoint: url(PATH_REVOKE),
        introspection_endpoint: url(PATH_INTROSPECT),
        jwks_uri: url(PATH_JWKS),
        session_token_endpoint: url(PATH_SESSION_TOKEN),
        response_types_supported: ["code"],
        response_modes_supported: ["query"],
        grant_types_supported: [
            GRANT_AUTHORIZATION_CODE,
            GRANT_CLIENT_CREDENTIALS,
            GRANT_REFRESH_TOKEN,
            GRANT_DEVICE_CODE,
            GRANT_TOKEN_EXCHANGE,
        ],
        code_challenge_methods_supported: ["S256"],
        token_endpoint_auth_methods_supported: client_auth::AUTH_METHODS,
        revocation_endpoint_auth_methods_supported: client_auth::AUTH_METHODS,
        introspection_endpoint_auth_methods_supported: [
            "client_secret_basic",
            "client_secret_post",
        ],
        scopes_supported: SCOPES_SUPPORTED,
        subject_types_supported: ["public"],
        authorization_response_iss_parameter_supported: true,
        dpop_signing_alg_values_supported: crate::dpop::ALGS_SUPPORTED,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_keep_their_order() {
        let document = super::metadata("https://auth.example");
        let text = serde_json::to_string(&document).unwrap();
        // `Value` sorts its keys: equal text means the fields are in that order.
        let sorted = serde_json::to_value(&document).unwrap().to_string();
        assert_eq!(text, sorted);
    }

    /// The issuer is as configured, a trailing slash included (clients
    /// compare it exactly); the endpoints have one slash before their path.
    #[test]
    fn an_issuer_with_a_trailing_slash_stays_exact() {
        let document = super::metadata("https://auth.example/tenant/");
        assert_eq!(document.issuer, "https://auth.example/tenant/");
        assert_eq!(
            document.token_endpoint,
            "https://auth.example/tenant/oauth/token"
        );
        assert_eq!(
            document.jwks_uri,
            "https://auth.example/tenant/.well-known/jwks.json"
        );
    }
}
