//! `POST /oauth/token` (RFC 6749 §3.2): a [`TokenRequest`] — who is asking and
//! which [`Grant`] — parsed once at the edge. [`exchange`] authenticates the
//! client, checks that its registration allows the grant, and hands the grant's
//! own parameters to the grant's module.

use super::client_auth::{self, ClientCredentials};
use super::{authorization_code, client_credentials, device, refresh, token_exchange};
use crate::error::Result;
use crate::services::Services;
use tessera_proto::token::TokenResponse;

/// A token request: client credentials and one grant with its parameters.
pub struct TokenRequest {
    pub client: ClientCredentials,
    pub grant: Grant,
}

/// The grants of the token endpoint, each with exactly the parameters it reads.
pub enum Grant {
    ClientCredentials(client_credentials::Request),
    AuthorizationCode(authorization_code::Request),
    RefreshToken(refresh::Request),
    DeviceCode(device::Poll),
    /// RFC 8693: needs no registration; the app's trust rules decide.
    TokenExchange(token_exchange::Request),
}

impl Grant {
    /// The name in an app's `grant_types`.
    pub fn registration_name(&self) -> &'static str {
        match self {
            Self::ClientCredentials(_) => super::GRANT_CLIENT_CREDENTIALS,
            Self::AuthorizationCode(_) => super::GRANT_AUTHORIZATION_CODE,
            Self::RefreshToken(_) => super::GRANT_REFRESH_TOKEN,
            Self::DeviceCode(_) => super::APP_GRANT_DEVICE_CODE,
            Self::TokenExchange(_) => "token_exchange",
        }
    }
}

pub async fn exchange(svc: &Services, request: TokenRequest, now: i64) -> Result<TokenResponse> {
    if let Grant::TokenExchange(r) = request.grant {
        // The subject token authenticates; the client may not (see the module).
        return token_exchange::grant(svc, &request.client, r, now).await;
    }
    let app = client_auth::authenticate(&svc.store, &request.client).await?;
    client_auth::require_grant(&app, request.grant.registration_name())?;
    match request.grant {
        Grant::ClientCredentials(r) => client_credentials::grant(svc, &app, r, now).await,
        Grant::AuthorizationCode(r) => authorization_code::grant(svc, &app, r, now).await,
        Grant::RefreshToken(r) => refresh::grant(svc, &app, r, now).await,
        Grant::DeviceCode(r) => device::grant(svc, &app, r, now).await,
        Grant::TokenExchange(_) => unreachable!("handled above"),
    }
}
