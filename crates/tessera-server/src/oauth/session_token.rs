//! `POST /oauth/session-token`: the token URL (Lofty `login-session`). A session
//! id made by `tesserad admin session create` (or a signed-in web session) is
//! exchanged exactly once for an access token marked Level 0 (`acr: "0"`, the
//! lowest assurance), living at most [`MAX_TTL_SECS`]. No client authentication:
//! the session id is the credential.

use crate::access_token::NewAccessToken;
use crate::digest;
use crate::error::{Error, Result};
use crate::http::extract::Form;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use std::time::Duration;
use tessera_proto::token::TokenResponse;

/// Level 0 tokens are short-lived whatever `--access-token-ttl` says.
pub const MAX_TTL_SECS: u64 = 15 * 60;

#[derive(Deserialize)]
pub struct SessionForm {
    pub session_id: Option<String>,
}

pub async fn endpoint(
    State(state): State<AppState>,
    form: Result<Form<SessionForm>, Error>,
) -> Response {
    super::reply(exchange(&state, form).await.map(super::issue::response))
}

async fn exchange(
    state: &AppState,
    form: Result<Form<SessionForm>, Error>,
) -> Result<TokenResponse> {
    let Form(form) = form?;
    let session_id = super::required(&form.session_id, "session_id")?;
    let session = state
        .store
        .take_session(&digest::secret_hash(session_id), state.now())
        .await?
        .ok_or_else(|| super::invalid_grant("the session is unknown, expired or already used"))?;
    let ttl = state
        .settings
        .access_token_ttl
        .min(Duration::from_secs(MAX_TTL_SECS));
    let body = super::issue::access_only(
        state,
        NewAccessToken {
            account_id: session.account_id,
            client_id: None,
            scope: crate::apikey::default_scope(),
            acr: Some(session.acr),
        },
        ttl,
    )?;
    super::issue::count("session");
    Ok(body)
}
