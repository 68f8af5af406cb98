//! `POST /oauth/token` (RFC 6749 §3.2): authenticate the client, check that its
//! registration allows the grant, hand over to the grant's module.

use super::{
    APP_GRANT_DEVICE_CODE, GRANT_AUTHORIZATION_CODE, GRANT_CLIENT_CREDENTIALS, GRANT_DEVICE_CODE,
    GRANT_REFRESH_TOKEN, client_auth,
};
use crate::error::{Error, Result};
use crate::http::extract::Form;
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use tessera_proto::OAuthErrorCode;
use tessera_proto::token::TokenResponse;

/// Every parameter any grant reads. No `Debug`: it holds secrets. A repeated
/// parameter fails to parse (RFC 6749 §3.2: parameters must not repeat).
#[derive(Default, Deserialize)]
pub struct TokenForm {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub scope: Option<String>,
    /// Lofty's extension to client_credentials: an API key to act for.
    pub customer_key: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub device_code: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Grant {
    ClientCredentials,
    AuthorizationCode,
    RefreshToken,
    DeviceCode,
}

impl Grant {
    fn parse(grant_type: &str) -> Result<Self> {
        match grant_type {
            GRANT_CLIENT_CREDENTIALS => Ok(Self::ClientCredentials),
            GRANT_AUTHORIZATION_CODE => Ok(Self::AuthorizationCode),
            GRANT_REFRESH_TOKEN => Ok(Self::RefreshToken),
            GRANT_DEVICE_CODE => Ok(Self::DeviceCode),
            other => Err(Error::oauth(
                OAuthErrorCode::UnsupportedGrantType,
                format!("unsupported grant_type {other:?}"),
            )),
        }
    }

    /// The name in an app's `grant_types`.
    fn registration_name(self) -> &'static str {
        match self {
            Self::ClientCredentials => GRANT_CLIENT_CREDENTIALS,
            Self::AuthorizationCode => GRANT_AUTHORIZATION_CODE,
            Self::RefreshToken => GRANT_REFRESH_TOKEN,
            Self::DeviceCode => APP_GRANT_DEVICE_CODE,
        }
    }
}

pub async fn endpoint(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, Error>,
) -> Response {
    super::reply(
        token(&state, &headers, form)
            .await
            .map(super::issue::response),
    )
}

async fn token(
    state: &AppState,
    headers: &HeaderMap,
    form: Result<Form<TokenForm>, Error>,
) -> Result<TokenResponse> {
    let Form(form) = form?;
    let grant = Grant::parse(super::required(&form.grant_type, "grant_type")?)?;
    let app = client_auth::authenticate(
        state,
        headers,
        form.client_id.as_deref(),
        form.client_secret.as_deref(),
    )
    .await?;
    client_auth::require_grant(&app, grant.registration_name())?;
    match grant {
        Grant::ClientCredentials => super::client_credentials::grant(state, &app, &form).await,
        Grant::AuthorizationCode => super::authorization_code::grant(state, &app, &form).await,
        Grant::RefreshToken => super::refresh::grant(state, &app, &form).await,
        Grant::DeviceCode => super::device::grant(state, &app, &form).await,
    }
}
