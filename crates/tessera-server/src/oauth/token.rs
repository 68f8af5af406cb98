//! `POST /oauth/token` (RFC 6749 §3.2): a [`TokenRequest`] — who is asking and
//! which [`Grant`] — parsed once at the edge. [`authenticate`] finds the client
//! and checks that its registration allows the grant; [`exchange`] hands the
//! grant's own parameters to the grant's module. (Between the two the edge
//! counts a confidential app's request against its rate limit.)

use super::client_auth::{self, ClientCredentials};
use super::{authorization_code, client_credentials, device, refresh};
use crate::error::{Error, Result};
use crate::services::Services;
use crate::store::App;
use tessera_proto::OAuthErrorCode;
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
}

impl Grant {
    /// The name in an app's `grant_types`.
    pub fn registration_name(&self) -> &'static str {
        match self {
            Self::ClientCredentials(_) => super::GRANT_CLIENT_CREDENTIALS,
            Self::AuthorizationCode(_) => super::GRANT_AUTHORIZATION_CODE,
            Self::RefreshToken(_) => super::GRANT_REFRESH_TOKEN,
            Self::DeviceCode(_) => super::APP_GRANT_DEVICE_CODE,
        }
    }
}

/// The client of a token request, registered for its grant.
pub async fn authenticate(svc: &Services, request: &TokenRequest) -> Result<App> {
    let app = client_auth::authenticate(&svc.store, &request.client).await?;
    client_auth::require_grant(&app, request.grant.registration_name())?;
    Ok(app)
}

/// The grant of an [`authenticate`]d client.
pub async fn exchange(svc: &Services, app: &App, grant: Grant, now: i64) -> Result<TokenResponse> {
    match grant {
        Grant::ClientCredentials(r) => client_credentials::grant(svc, app, r, now).await,
        Grant::AuthorizationCode(r) => authorization_code::grant(svc, app, r, now).await,
        Grant::RefreshToken(r) => refresh::grant(svc, app, r, now).await,
        Grant::DeviceCode(r) => device::grant(svc, app, r, now).await,
    }
}

/// Whether a failed token request is a guess that counts against the client's
/// address (RFC 6749 §10.10): a wrong client secret or an unknown client
/// (`invalid_client`), a code, refresh token, device code or customer key that
/// does not hold (`invalid_grant`). A well-formed request turned down —
/// `authorization_pending`, `slow_down`, a scope or grant the client may not
/// use, a malformed form — guesses nothing and does not count.
pub fn is_guess(error: &Error) -> bool {
    match error {
        Error::OAuth { error, .. } => {
            matches!(
                error,
                OAuthErrorCode::InvalidClient | OAuthErrorCode::InvalidGrant
            )
        }
        Error::Unauthenticated(_) => true,
        _ => false,
    }
}
