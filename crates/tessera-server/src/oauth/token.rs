//! `POST /oauth/token` (RFC 6749 §3.2): a [`TokenRequest`] — who is asking,
//! which [`Grant`], and the DPoP proof if any — parsed once at the edge.
//! [`exchange`] authenticates the client, checks that its registration allows
//! the grant, checks the proof (RFC 9449 §5), and hands the grant's own
//! parameters and the proof's key to the grant's module.

use super::client_auth::{self, ClientCredentials};
use super::{authorization_code, client_credentials, device, refresh, token_exchange};
use crate::dpop;
use crate::error::{DpopError, Error, Result};
use crate::services::Services;
use crate::store::App;
use tessera_proto::token::TokenResponse;

/// A token request: client credentials and one grant with its parameters.
pub struct TokenRequest {
    pub client: ClientCredentials,
    pub grant: Grant,
    /// The `DPoP` header: a proof of the key the tokens are to be bound to.
    pub dpop: Option<String>,
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
    // Before the grant runs: it may consume a code or a device approval, and a
    // client told to come back with a nonce must still find them.
    let key = proven_key(svc, &app, request.dpop.as_deref(), now).await?;
    let key = key.as_ref().map(|p| p.jkt.as_str());
    match request.grant {
        Grant::ClientCredentials(r) => client_credentials::grant(svc, &app, r, key, now).await,
        Grant::AuthorizationCode(r) => authorization_code::grant(svc, &app, r, key, now).await,
        Grant::RefreshToken(r) => refresh::grant(svc, &app, r, key, now).await,
        Grant::DeviceCode(r) => device::grant(svc, &app, r, key, now).await,
        Grant::TokenExchange(_) => unreachable!("handled above"),
    }
}

/// The key the request proves (its proof checked completely), `None` without
/// a proof; an app that requires DPoP gets no token without one.
async fn proven_key(
    svc: &Services,
    app: &App,
    proof: Option<&str>,
    now: i64,
) -> Result<Option<dpop::Proven>> {
    let Some(proof) = proof else {
        if app.dpop_required {
            return Err(Error::Dpop(DpopError::InvalidProof(format!(
                "the app {} requires DPoP: send a DPoP proof with every token request",
                app.client_id
            ))));
        }
        return Ok(None);
    };
    let url = format!("{}{}", svc.settings.issuer, super::PATH_TOKEN);
    let expected = dpop::Expected {
        method: "POST",
        url: &url,
        access_token: None,
        nonce_required: svc.settings.dpop_nonce.at_token_endpoint(),
    };
    dpop::verify(svc, proof, &expected, now).await.map(Some)
}
