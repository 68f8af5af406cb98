//! `/v1`: the platform API the CLIs call, and its sign-in endpoints.
//!
//! - [`platform_routes`] sit behind the platform middleware, so each has a
//!   [`Principal`] with `THIRD_PARTY_OPERATION`.
//! - [`public_routes`], `/v1/auth/*`, need no credential: `POST /v1/auth/otp`
//!   sends a one-time code; `POST /v1/auth/otp/verify` trades it for a new API key.

use super::extract::{ClientIp, Json, OptionalJson};
use crate::api_keys::{self, NewApiKey};
use crate::error::{Error, Result};
use crate::otp;
use crate::principal::Principal;
use crate::services::AppState;
use crate::store::{ApiKeyRecord, Revoked};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use serde_json::json;
use tessera_proto::Scopes;
use tessera_proto::api::{
    ApiKeyInfo, ApiKeyList, CreateApiKey, CreatedApiKey, Me, OtpRequest, OtpVerify, Project,
    ProjectList,
};

pub fn platform_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/me", get(me))
        .route("/v1/projects", get(projects))
        .route("/v1/api-keys", get(list_api_keys).post(create_api_key))
        .route("/v1/api-keys/{id}", delete(revoke_api_key))
}

pub fn public_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/otp", post(request_code))
        .route("/v1/auth/otp/verify", post(verify_code))
}

async fn me(principal: Principal) -> Json<Me> {
    Json(Me {
        account_id: principal.account_id,
        email: principal.email,
        credential: principal.kind.as_str().to_owned(),
        credential_id: principal.credential_id,
        scope: principal.scope,
        client_id: principal.client_id,
        expires_at: principal.expires_at,
        acr: principal.acr,
    })
}

/// A JSON answer, or the error in the platform's form.
type Answer<T> = Result<Json<T>>;

async fn projects(State(state): State<AppState>, principal: Principal) -> Answer<ProjectList> {
    let rows = state.store.projects_of(&principal.account_id).await?;
    let projects = rows.into_iter().map(|p| Project {
        id: p.id,
        name: p.name,
    });
    Ok(Json(ProjectList {
        projects: projects.collect(),
    }))
}

fn api_key_info(r: ApiKeyRecord) -> ApiKeyInfo {
    ApiKeyInfo {
        id: r.id,
        name: r.name,
        scope: Scopes::parse(&r.scope),
        created_at: r.created_at,
        expires_at: r.expires_at,
        revoked_at: r.revoked_at,
        last_used_at: r.last_used_at,
    }
}

async fn list_api_keys(State(state): State<AppState>, principal: Principal) -> Answer<ApiKeyList> {
    let rows = state.store.list_api_keys(Some(&principal.account_id));
    let api_keys = rows.await?.into_iter().map(api_key_info).collect();
    Ok(Json(ApiKeyList { api_keys }))
}

/// Creates a key for the caller's own account; the key is in this response only.
/// A key can carry at most the caller's own scopes; an access token needs
/// `api_keys:write` ([`Principal::require_key_creation`]).
async fn create_api_key(
    State(state): State<AppState>,
    principal: Principal,
    OptionalJson(body): OptionalJson<CreateApiKey>,
) -> Result<(StatusCode, Json<CreatedApiKey>)> {
    principal.require_key_creation()?;
    let now = state.now();
    let scope = match body.scope {
        Some(scope) if !scope.is_subset(&principal.scope) => {
            return Err(Error::BadRequest(format!(
                "a new key can only carry scopes the caller has ({})",
                principal.scope
            )));
        }
        other => other,
    };
    let expires_at = match body.expires_in.as_deref() {
        None => None,
        Some(text) => {
            let ttl = crate::clock::parse_duration(text).map_err(Error::BadRequest)?;
            if ttl.is_zero() {
                return Err(Error::BadRequest("expires_in must be positive".into()));
            }
            Some(now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2)))
        }
    };
    let new = NewApiKey {
        account_id: principal.account_id,
        name: body.name,
        scope,
        expires_at,
    };
    let issued = api_keys::issue_for_user(&state, new, now).await?;
    Ok((StatusCode::CREATED, Json(issued.to_created())))
}

async fn revoke_api_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    match api_keys::revoke(&state.store, &id, Some(&principal.account_id), state.now()).await? {
        Revoked::Now | Revoked::Already => Ok(StatusCode::NO_CONTENT),
        Revoked::NotFound => Err(Error::NotFound(format!("no API key {id} in this account"))),
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
    let now = state.now();
    let account_id = otp::verify(&state, &body.email, &body.code, now).await?;
    let new = NewApiKey {
        account_id,
        name: Some("email one-time code".into()),
        scope: None,
        expires_at: None,
    };
    let issued = api_keys::issue_for_user(&state, new, now).await?;
    Ok((StatusCode::CREATED, Json(issued.to_created())))
}
