//! `POST /oauth/token` (RFC 6749 §3.2): a [`TokenRequest`] — who is asking,
//! which [`Grant`], and the DPoP proof if any — parsed once at the edge.
//! [`authenticate`] finds the client, checks that its registration allows the
//! grant and checks the proof (RFC 9449 §5); [`exchange`] hands the grant's own
//! parameters and the proof's key to the grant's module. (Between the two the
//! edge counts a confidential app's request against its rate limit.) A token
//! exchange (RFC 8693) is authenticated by its subject token, inside its grant.

use super::client_auth::{self, ClientCredentials};
use super::issue::Grantee;
use super::{authorization_code, client_credentials, device, refresh, token_exchange};
use crate::dpop;
use crate::error::{DpopError, Error, Result};
use crate::services::Services;
use crate::store::App;
use tessera_proto::OAuthErrorCode;
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

/// A token request whose client has been checked ([`authenticate`]); only
/// [`exchange`] takes it, so no grant runs for an unchecked client.
pub enum Authenticated {
    /// Authenticated, registered for the grant, with the key its proof proves.
    App {
        app: App,
        key: Option<dpop::Proven>,
        grant: Grant,
    },
    /// A token exchange: its subject token authenticates it, inside the grant
    /// ([`token_exchange`]), so nothing is checked before.
    SubjectToken {
        client: ClientCredentials,
        request: token_exchange::Request,
        /// The `DPoP` header, checked once the app is known.
        dpop: Option<String>,
    },
}

impl Authenticated {
    /// The authenticated app; `None` for a token exchange, whose app is only
    /// named until its subject token is accepted.
    pub fn app(&self) -> Option<&App> {
        match self {
            Self::App { app, .. } => Some(app),
            Self::SubjectToken { .. } => None,
        }
    }
}

/// The client of a token request, registered for its grant, and the key of its
/// DPoP proof. The proof is checked before the grant runs: the grant may consume
/// a code or a device approval, and a client told to come back with a nonce
/// must still find them.
pub async fn authenticate(
    svc: &Services,
    request: TokenRequest,
    now: i64,
) -> Result<Authenticated> {
    let TokenRequest {
        client,
        grant,
        dpop,
    } = request;
    if let Grant::TokenExchange(request) = grant {
        return Ok(Authenticated::SubjectToken {
            client,
            request,
            dpop,
        });
    }
    let app = client_auth::authenticate(&svc.store, &client).await?;
    client_auth::require_grant(&app, grant.registration_name())?;
    let key = proven_key(svc, &app, dpop.as_deref(), now).await?;
    Ok(Authenticated::App { app, key, grant })
}

/// The grant of an [`authenticate`]d request.
pub async fn exchange(svc: &Services, request: Authenticated, now: i64) -> Result<TokenResponse> {
    let (app, key, grant) = match request {
        Authenticated::App { app, key, grant } => (app, key, grant),
        Authenticated::SubjectToken {
            client,
            request,
            dpop,
        } => {
            return token_exchange::grant(svc, &client, request, dpop.as_deref(), now).await;
        }
    };
    let to = Grantee {
        app: &app,
        key: key.as_ref().map(|p| p.jkt.as_str()),
        now,
    };
    match grant {
        Grant::ClientCredentials(r) => client_credentials::grant(svc, to, r).await,
        Grant::AuthorizationCode(r) => authorization_code::grant(svc, to, r).await,
        Grant::RefreshToken(r) => refresh::grant(svc, to, r).await,
        Grant::DeviceCode(r) => device::grant(svc, to, r).await,
        Grant::TokenExchange(_) => unreachable!("authenticate keeps it apart"),
    }
}

/// Whether a failed token request is a guess that counts against the client's
/// address (RFC 6749 §10.10): a wrong client secret or an unknown client
/// (`invalid_client`), a code, refresh token, device code or customer key
/// that does not hold (`invalid_grant`), a subject token the exchange does not
/// accept (`invalid_request` by RFC 8693 §2.2.2). A well-formed request
/// turned down — `authorization_pending`, `slow_down`, a scope or grant the
/// client may not use, a DPoP proof to redo, a malformed form — guesses nothing
/// and does not count. A subject token whose issuer's keys could not be
/// fetched (`temporarily_unavailable`) counts too: anyone can send one, and
/// each made the server call out.
pub fn is_guess(error: &Error) -> bool {
    match error {
        Error::OAuth { error, .. } => {
            matches!(
                error,
                OAuthErrorCode::InvalidClient
                    | OAuthErrorCode::InvalidGrant
                    | OAuthErrorCode::TemporarilyUnavailable
            )
        }
        Error::Unauthenticated(_) | Error::UnacceptableSubjectToken(_) => true,
        _ => false,
    }
}

/// The key the request proves (its proof checked completely), `None` without
/// a proof; an app that requires DPoP gets no token without one.
pub(super) async fn proven_key(
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
    let url = svc.settings.url(super::PATH_TOKEN);
    let expected = dpop::Expected {
        method: "POST",
        url: &url,
        access_token: None,
        nonce_required: svc.settings.dpop_nonce.at_token_endpoint(),
    };
    dpop::verify(svc, proof, &expected, now).await.map(Some)
}
