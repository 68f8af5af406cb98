//! `/v1/auth/*`: sign-in endpoints that need no credential (not behind
//! [`crate::auth::platform`]). `POST /v1/auth/otp` sends a one-time code;
//! `POST /v1/auth/otp/verify` trades it for a new API key of the account.

use super::extract::Json;
use crate::apikey::{self, NewApiKey};
use crate::error::Result;
use crate::otp;
use crate::state::AppState;
use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::post;
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tessera_proto::api::{CreatedApiKey, OtpRequest, OtpVerify};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/otp", post(request_code))
        .route("/v1/auth/otp/verify", post(verify_code))
}

/// The peer's IP address. Requests without a socket (in-process tests) count as
/// one unspecified address.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip()),
        ))
    }
}

async fn request_code(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<OtpRequest>,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
    otp::request(&state, &body.email, ip, state.now()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "status": "sent",
            "message": "If an account exists for that address, a 6-digit code is on its way; it expires in 10 minutes.",
        })),
    ))
}

async fn verify_code(
    State(state): State<AppState>,
    Json(body): Json<OtpVerify>,
) -> Result<(StatusCode, Json<CreatedApiKey>)> {
    let account_id = otp::verify(&state, &body.email, &body.code, state.now()).await?;
    let issued = apikey::issue(
        &state.store,
        &state.keyring,
        &state.settings.issuer,
        &state.settings.api_key_prefix,
        NewApiKey {
            account_id,
            name: Some("email one-time code".into()),
            scope: None,
            expires_at: None,
        },
        state.now(),
    )
    .await?;
    metrics::counter!(crate::metrics::API_KEYS_ISSUED).increment(1);
    Ok((StatusCode::CREATED, Json(issued.to_created())))
}
