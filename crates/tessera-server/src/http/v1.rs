//! The platform API the CLIs call. Every route here sits behind
//! [`crate::auth::platform`], so it has a [`Principal`] with `THIRD_PARTY_OPERATION`.

use super::extract::{Json, OptionalJson};
use crate::apikey::{self, NewApiKey};
use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::{ApiKeyRecord, Revoked};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use tessera_proto::Scopes;
use tessera_proto::api::{
    ApiKeyInfo, ApiKeyList, CreateApiKey, CreatedApiKey, Me, Project, ProjectList,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/me", get(me))
        .route("/v1/projects", get(projects))
        .route("/v1/api-keys", get(list_api_keys).post(create_api_key))
        .route("/v1/api-keys/{id}", delete(revoke_api_key))
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

async fn projects(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<ProjectList>> {
    let projects = state.store.projects_of(&principal.account_id).await?;
    Ok(Json(ProjectList {
        projects: projects
            .into_iter()
            .map(|p| Project {
                id: p.id,
                name: p.name,
            })
            .collect(),
    }))
}

pub fn api_key_info(r: ApiKeyRecord) -> ApiKeyInfo {
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

async fn list_api_keys(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<ApiKeyList>> {
    let keys = state
        .store
        .list_api_keys(Some(&principal.account_id))
        .await?;
    Ok(Json(ApiKeyList {
        api_keys: keys.into_iter().map(api_key_info).collect(),
    }))
}

/// Creates a key for the caller's own account; the key is in this response only.
/// A key can carry at most the caller's own scopes.
async fn create_api_key(
    State(state): State<AppState>,
    principal: Principal,
    OptionalJson(body): OptionalJson<CreateApiKey>,
) -> Result<(StatusCode, Json<CreatedApiKey>)> {
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
            let ttl = crate::config::parse_duration(text).map_err(Error::BadRequest)?;
            if ttl.is_zero() {
                return Err(Error::BadRequest("expires_in must be positive".into()));
            }
            Some(now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2)))
        }
    };
    let issued = apikey::issue(
        &state.store,
        &state.keyring,
        &state.settings.issuer,
        &state.settings.api_key_prefix,
        NewApiKey {
            account_id: principal.account_id,
            name: body.name,
            scope,
            expires_at,
        },
        now,
    )
    .await?;
    metrics::counter!(crate::metrics::API_KEYS_ISSUED).increment(1);
    Ok((StatusCode::CREATED, Json(issued.to_created())))
}

async fn revoke_api_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    match state
        .store
        .revoke_api_key(&id, Some(&principal.account_id), state.now())
        .await?
    {
        Revoked::Now => {
            metrics::counter!(crate::metrics::API_KEYS_REVOKED).increment(1);
            Ok(StatusCode::NO_CONTENT)
        }
        Revoked::Already => Ok(StatusCode::NO_CONTENT),
        Revoked::NotFound => Err(Error::NotFound(format!("no API key {id} in this account"))),
    }
}
