//! `/v1`: the platform API the CLIs call, and its sign-in endpoints.
//!
//! - [`platform_routes`] sit behind the platform middleware, so each has a
//!   [`Principal`] with `THIRD_PARTY_OPERATION`.
//! - [`public_routes`], `/v1/auth/*`, need no credential: `POST /v1/auth/otp`
//!   sends a one-time code; `POST /v1/auth/otp/verify` trades it for a new API key.

use super::error::documented::{BadRequest, Conflict, NotFound, TooManyRequests, Unavailable};
use super::extract::{ClientIp, Json, OptionalJson, Path};
use crate::api_keys::{self, NewApiKey};
use crate::error::{Error, Result};
use crate::otp;
use crate::principal::{CredentialKind, Principal};
use crate::services::AppState;
use crate::store::{ApiKeyRecord, Revoked};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, StatusCode, header};
use axum::routing::{delete, get, post};
use tessera_proto::api::{
    ApiKeyInfo, ApiKeyList, CreateApiKey, CreatedApiKey, Me, OtpRequest, OtpVerify, Project,
    ProjectList,
};
use tessera_proto::{ApiErrorBody, Scopes};

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

/// [`platform_routes`]: the answers every one of them may give (authentication,
/// scope, rate limit) are added by `http::openapi`, which knows the layers.
#[derive(utoipa::OpenApi)]
#[openapi(paths(me, projects, list_api_keys, create_api_key, revoke_api_key))]
pub struct PlatformDoc;

/// [`public_routes`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(request_code, verify_code))]
pub struct PublicDoc;

/// `POST /v1/auth/otp`'s answer, whether or not the address has an account.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CodeSent {
    /// Always `sent`.
    #[schema(example = "sent")]
    status: &'static str,
    message: &'static str,
}

/// Who the credential acts for: account, credential, scope, expiry.
#[utoipa::path(get, path = "/v1/me", tag = "platform",
    responses((status = 200, description = "The caller.", body = Me)))]
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

/// A 201 whose body is a secret shown this once: no cache on the way may keep
/// it (`no-store`, and `Pragma: no-cache` as token responses, RFC 6749 §5.1).
type NewSecret<T> = (StatusCode, [(HeaderName, &'static str); 2], Json<T>);

fn new_secret<T>(body: T) -> NewSecret<T> {
    let headers = [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ];
    (StatusCode::CREATED, headers, Json(body))
}

/// The projects of the caller's account.
#[utoipa::path(get, path = "/v1/projects", tag = "platform",
    responses((status = 200, description = "`{\"projects\": [...]}`", body = ProjectList)))]
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

/// The account's API keys (ids and metadata, never the keys).
#[utoipa::path(get, path = "/v1/api-keys", tag = "platform",
    responses((status = 200, description = "`{\"api_keys\": [...]}`", body = ApiKeyList)))]
async fn list_api_keys(State(state): State<AppState>, principal: Principal) -> Answer<ApiKeyList> {
    let rows = state.store.list_api_keys(Some(&principal.account_id));
    let api_keys = rows.await?.into_iter().map(api_key_info).collect();
    Ok(Json(ApiKeyList { api_keys }))
}

/// Creates a key for the caller's own account; the key is in this response only.
/// A key can carry at most the caller's own scopes, and a key made with an
/// expiring key expires no later than it; an access token needs
/// `api_keys:write` ([`Principal::require_key_creation`]).
#[utoipa::path(post, path = "/v1/api-keys", tag = "platform",
    request_body(content = Option<CreateApiKey>, description = "Optional; an empty body makes a key with the defaults."),
    responses(
        (status = 201, description = "The new key: shown this once.", body = CreatedApiKey,
            headers(("Cache-Control" = String, description = "`no-store`"), ("Pragma" = String, description = "`no-cache`"))),
        (status = 400, response = BadRequest),
        (status = 409, response = Conflict),
    ))]
async fn create_api_key(
    State(state): State<AppState>,
    principal: Principal,
    OptionalJson(body): OptionalJson<CreateApiKey>,
) -> Result<NewSecret<CreatedApiKey>> {
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
    let expires_at = cap_expiry(&principal, expires_at, now)?;
    let new = NewApiKey {
        account_id: principal.account_id,
        name: body.name,
        scope,
        expires_at,
    };
    let issued = api_keys::issue_for_user(&state, new, now).await?;
    Ok(new_secret(issued.to_created()))
}

/// The expiry of a key made by `principal`. An expiring API key cannot make
/// one that outlives it (else an expiry means nothing to whoever holds the
/// key): without `expires_in` the new key inherits the caller's expiry, and a
/// later one is refused. An access token is not capped: `api_keys:write` is
/// the user's consent to an app that makes keys for them.
fn cap_expiry(principal: &Principal, asked: Option<i64>, now: i64) -> Result<Option<i64>> {
    let (CredentialKind::ApiKey, Some(limit)) = (principal.kind, principal.expires_at) else {
        return Ok(asked);
    };
    match asked {
        None => Ok(Some(limit)),
        Some(at) if at <= limit => Ok(Some(at)),
        Some(_) => Err(Error::BadRequest(format!(
            "a key made with an expiring key cannot outlive it: this key expires in \
             {}s; ask for expires_in of at most that, or leave it out to inherit it",
            (limit - now).max(0)
        ))),
    }
}

/// Revokes one of the account's keys; effective on the next request, everywhere.
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "platform",
    params(("id" = String, Path, description = "The key's id (`GET /v1/api-keys`).")),
    responses(
        (status = 204, description = "Revoked (or already revoked)."),
        (status = 404, response = NotFound),
    ))]
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

/// Mails a 6-digit one-time code to the address, if it has an account. The answer
/// is the same either way.
#[utoipa::path(post, path = "/v1/auth/otp", tag = "sign-in", request_body = OtpRequest,
    responses(
        (status = 202, description = "Accepted; a code is on its way if the account exists.", body = CodeSent),
        (status = 400, response = BadRequest),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ))]
async fn request_code(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<OtpRequest>,
) -> Result<(StatusCode, Json<CodeSent>)> {
    let requester = otp::Requester::address(ip);
    otp::request(&state, &body.email, requester, ip, state.now()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(CodeSent {
            status: "sent",
            message: "If an account exists for that address, a 6-digit code is on its way; it expires in 10 minutes.",
        }),
    ))
}

/// Trades a valid one-time code for a new API key (at most 5 tries per code).
#[utoipa::path(post, path = "/v1/auth/otp/verify", tag = "sign-in", request_body = OtpVerify,
    responses(
        (status = 201, description = "A new API key: shown this once.", body = CreatedApiKey,
            headers(("Cache-Control" = String, description = "`no-store`"), ("Pragma" = String, description = "`no-cache`"))),
        (status = 400, response = BadRequest),
        (status = 401, description = "Wrong, expired, used or burnt code, or one asked for from another client address (`invalid_otp`).", body = ApiErrorBody),
        (status = 409, response = Conflict),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    ))]
async fn verify_code(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<OtpVerify>,
) -> Result<NewSecret<CreatedApiKey>> {
    let now = state.now();
    let requester = otp::Requester::address(ip);
    let account_id = otp::verify(&state, &body.email, &requester, &body.code, now).await?;
    let new = NewApiKey {
        account_id,
        name: Some("email one-time code".into()),
        scope: None,
        expires_at: None,
    };
    let issued = api_keys::issue_for_code_sign_in(&state, new, now).await?;
    Ok(new_secret(issued.to_created()))
}

#[cfg(test)]
mod tests {
    use crate::testing::{Fixture, body_json};
    use axum::http::{Method, StatusCode, header};

    #[tokio::test]
    async fn a_path_that_does_not_decode_is_a_400_in_our_format() {
        let fx = Fixture::new().await;
        let account = fx.account("a@example.com").await;
        let key = fx.api_key(&account, None).await;
        let token = format!("token {}", key.key.expose_secret());
        let response = fx.call(Method::DELETE, "/v1/api-keys/%FF", &token).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert!(response.headers().contains_key("x-request-id"));
        let body = body_json(response).await;
        assert_eq!(body["error"], "invalid_request");
        assert!(
            body["message"].as_str().unwrap().contains("UTF-8"),
            "{body}"
        );
    }

    /// A body is a JSON object, as documented: an array (which serde would
    /// read field by field, `["ci","1h"]` as a name and an expiry) or `null`
    /// is a 400 in our format, and makes nothing.
    #[tokio::test]
    async fn a_body_that_is_not_an_object_is_refused() {
        let fx = Fixture::new().await;
        let account = fx.account("a@example.com").await;
        let key = fx.api_key(&account, None).await;
        let token = format!("token {}", key.key.expose_secret());
        let post = |path: &'static str, body: &'static str, auth: Option<String>| {
            let mut request =
                axum::http::Request::post(path).header("content-type", "application/json");
            if let Some(auth) = auth {
                request = request.header("authorization", auth);
            }
            fx.send(request.body(axum::body::Body::from(body)).unwrap())
        };
        for body in [r#"["ci","1h"]"#, "[]", "null", "1"] {
            let response = post("/v1/api-keys", body, Some(token.clone())).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
            let said = body_json(response).await;
            assert_eq!(said["error"], "invalid_request", "{body}: {said}");
            assert!(
                said["message"].as_str().unwrap().contains("JSON object"),
                "{said}"
            );
        }
        for (path, body) in [
            ("/v1/auth/otp", r#"["a@example.com"]"#),
            ("/v1/auth/otp/verify", r#"["a@example.com","123456"]"#),
        ] {
            let response = post(path, body, None).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
            assert_eq!(body_json(response).await["error"], "invalid_request");
        }
        let keys = fx.state.store.list_api_keys(Some(&account)).await.unwrap();
        assert_eq!(keys.len(), 1, "only the fixture's key");
        // Objects still work, an empty body too.
        let response = post(
            "/v1/api-keys",
            r#"{"name":"ci","expires_in":"1h"}"#,
            Some(token.clone()),
        )
        .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let response = post("/v1/api-keys", "", Some(token)).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }

    /// A new API key is a secret shown once: the answer that carries it is
    /// `no-store` (and `Pragma: no-cache`, as token responses), so no cache on
    /// the way keeps it; so is every other answer about an account.
    #[tokio::test]
    async fn a_new_key_is_never_cached() {
        let fx = Fixture::new().await;
        let account = fx.account("a@example.com").await;
        let key = fx.api_key(&account, None).await;
        let token = format!("token {}", key.key.expose_secret());
        let listed = fx.call(Method::GET, "/v1/api-keys", &token).await;
        assert_eq!(listed.headers()[header::CACHE_CONTROL], "no-store");
        let me = fx.call(Method::GET, "/v1/me", &token).await;
        assert_eq!(me.headers()[header::CACHE_CONTROL], "no-store");
        let response = fx.call(Method::POST, "/v1/api-keys", &token).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(response.headers()[header::PRAGMA], "no-cache");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert!(body_json(response).await["key"].is_string());

        // The document says so.
        let document =
            serde_json::to_value(crate::http::openapi::document(crate::testing::ISSUER)).unwrap();
        for (path, method) in [("/v1/api-keys", "post"), ("/v1/auth/otp/verify", "post")] {
            let headers = &document["paths"][path][method]["responses"]["201"]["headers"];
            for name in ["Cache-Control", "Pragma"] {
                assert!(headers[name].is_object(), "{path}: {name} in {headers}");
            }
        }
    }
}
