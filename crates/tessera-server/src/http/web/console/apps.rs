//! Developer portal → Apps: register OAuth apps, see their client id and rate
//! limit, rotate the client secret (shown once), switch mode, delete.
//!
//! Production mode may need an admin's approval
//! (`--production-requires-approval`): the switch then records a request that
//! `tesserad admin app approve` grants.

use super::notice;
use crate::apps::{self, Grant, NewApp};
use crate::audit::{self, Action};
use crate::digest;
use crate::error::Error;
use crate::http::error::PageResult;
use crate::http::extract::{FormFields, PageForm};
use crate::http::web::page::{Layout, ok, render, when};
use crate::http::web::session::CsrfForm;
use crate::http::web::session::Member;
use crate::services::AppState;
use crate::store::{App, AppMode};
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use serde::Deserialize;
use tessera_proto::ClientSecret;

pub const PATH: &str = "/developer/apps";
const MAX_NAME_CHARS: usize = 100;
const MAX_REDIRECT_URIS: usize = 20;

/// Requests per minute of a mode, as this server is configured.
fn mode_limit(state: &AppState, mode: AppMode) -> u32 {
    state.settings.rate_limit_policy.app_limit(mode, None)
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(list).post(register))
        .route("/developer/apps/{client_id}", get(show))
        .route("/developer/apps/{client_id}/secret", post(rotate_secret))
        .route("/developer/apps/{client_id}/mode", post(switch_mode))
        .route(
            "/developer/apps/{client_id}/delete",
            get(confirm_delete).post(delete),
        )
}

const GRANTS: [(Grant, &str); 4] = [
    (
        Grant::AuthorizationCode,
        "Authorization code with PKCE (sign-in in a browser)",
    ),
    (Grant::RefreshToken, "Refresh tokens"),
    (Grant::DeviceCode, "Device code (sign-in on another device)"),
    (
        Grant::ClientCredentials,
        "Client credentials (server to server; confidential apps only)",
    ),
];

pub struct GrantOption {
    pub value: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

pub struct AppView {
    pub client_id: String,
    pub name: String,
    pub mode: &'static str,
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub grant_types: String,
    pub rate_limit: u32,
    pub created: String,
    /// When production mode was requested and awaits approval.
    pub production_requested: Option<String>,
}

impl AppView {
    fn new(state: &AppState, app: &App, production_requested: Option<i64>) -> Self {
        Self {
            client_id: app.client_id.clone(),
            name: app.name.clone(),
            mode: app.mode.as_str(),
            public: app.public,
            redirect_uris: app.redirect_uris.clone(),
            grant_types: app.grant_types.join(", "),
            rate_limit: state
                .settings
                .rate_limit_policy
                .app_limit(app.mode, app.rate_limit_per_min),
            created: when(app.created_at),
            production_requested: production_requested.map(when),
        }
    }

    pub fn production(&self) -> bool {
        self.mode == "production"
    }
}

#[derive(Template)]
#[template(path = "apps.html")]
struct AppsPage {
    layout: Layout,
    apps: Vec<AppView>,
    notice: Option<&'static str>,
    error: Option<String>,
    grants: Vec<GrantOption>,
    name: String,
    redirect_uris: String,
    public: bool,
    production: bool,
    approval_required: bool,
    development_limit: u32,
    production_limit: u32,
}

#[derive(Template)]
#[template(path = "app.html")]
struct AppPage {
    layout: Layout,
    app: AppView,
    /// A new client secret: rendered in this response only.
    secret: Option<String>,
    just_created: bool,
    notice: Option<&'static str>,
    approval_required: bool,
}

#[derive(Template)]
#[template(path = "app_delete.html")]
struct DeletePage {
    layout: Layout,
    app: AppView,
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

struct RegisterForm<'a> {
    name: &'a str,
    redirect_uris: &'a str,
    public: bool,
    production: bool,
    grants: Vec<&'a str>,
}

async fn apps_page(
    state: &AppState,
    member: &Member,
    notice: Option<&'static str>,
    error: Option<String>,
    form: Option<RegisterForm<'_>>,
) -> PageResult<AppsPage> {
    let account = member.account_id();
    let requests = state.store.production_requests_of(account).await?;
    let apps = state
        .store
        .apps_of(account)
        .await?
        .iter()
        .rev()
        .map(|a| {
            let requested = requests
                .iter()
                .find(|(id, _)| *id == a.client_id)
                .map(|(_, at)| *at);
            AppView::new(state, a, requested)
        })
        .collect();
    let grants = GRANTS
        .iter()
        .map(|(g, label)| GrantOption {
            value: g.as_str(),
            label,
            checked: match &form {
                Some(f) => f.grants.contains(&g.as_str()),
                None => *g != Grant::ClientCredentials,
            },
        })
        .collect();
    Ok(AppsPage {
        layout: member.visitor.layout("Apps", "apps"),
        apps,
        notice,
        error,
        grants,
        name: form.as_ref().map(|f| f.name.to_owned()).unwrap_or_default(),
        redirect_uris: form
            .as_ref()
            .map(|f| f.redirect_uris.to_owned())
            .unwrap_or_default(),
        public: form.as_ref().is_some_and(|f| f.public),
        production: form.as_ref().is_some_and(|f| f.production),
        approval_required: state.settings.production_requires_approval,
        development_limit: mode_limit(state, AppMode::Development),
        production_limit: mode_limit(state, AppMode::Production),
    })
}

async fn list(
    State(state): State<AppState>,
    member: Member,
    Query(q): Query<DoneQuery>,
) -> PageResult {
    Ok(ok(&apps_page(
        &state,
        &member,
        notice(q.done.as_deref()),
        None,
        None,
    )
    .await?))
}

fn parse_grant(value: &str) -> Option<Grant> {
    GRANTS.iter().map(|(g, _)| *g).find(|g| g.as_str() == value)
}

async fn register(State(state): State<AppState>, member: Member, form: FormFields) -> PageResult {
    member.visitor.check_csrf(form.get("csrf"))?;
    let now = state.now();
    let input = RegisterForm {
        name: form.get("name"),
        redirect_uris: form.get("redirect_uris"),
        public: form.get("client_type") == "public",
        production: form.get("mode") == "production",
        grants: form.all("grant"),
    };
    let redirect_uris: Vec<String> = input
        .redirect_uris
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let grants: Option<Vec<Grant>> = input.grants.iter().map(|g| parse_grant(g)).collect();
    let problem = if input.name.is_empty() || input.name.chars().count() > MAX_NAME_CHARS {
        Some(format!(
            "Give the app a name of 1 to {MAX_NAME_CHARS} characters."
        ))
    } else if redirect_uris.len() > MAX_REDIRECT_URIS {
        Some(format!(
            "An app may have at most {MAX_REDIRECT_URIS} redirect URIs."
        ))
    } else if grants.as_ref().is_none_or(Vec::is_empty) {
        Some("Choose at least one grant type.".to_owned())
    } else if grants
        .as_ref()
        .is_some_and(|g| g.contains(&Grant::AuthorizationCode) && redirect_uris.is_empty())
    {
        Some("The authorization code grant needs at least one redirect URI.".to_owned())
    } else {
        None
    };
    // Production straight away only where no review is required.
    let direct_production = input.production && !state.settings.production_requires_approval;
    let created = match problem {
        Some(p) => Err(Error::BadRequest(p)),
        None => {
            apps::create(
                &state.store,
                member.account_id(),
                NewApp {
                    name: input.name.to_owned(),
                    mode: if direct_production {
                        AppMode::Production
                    } else {
                        AppMode::Development
                    },
                    redirect_uris,
                    public: input.public,
                    client_id: None,
                    grants: grants.unwrap_or_default(),
                    rate_limit: None,
                },
                now,
            )
            .await
        }
    };
    let created = match created {
        Ok(c) => c,
        Err(Error::BadRequest(message)) => {
            let page = apps_page(&state, &member, None, Some(message), Some(input)).await?;
            return Ok(render(StatusCode::BAD_REQUEST, &page));
        }
        Err(e) => return Err(e.into()),
    };
    let client_id = created.app.client_id.clone();
    audit::record(
        &state.store,
        member.account_id(),
        Action::AppRegistered,
        Some(&client_id),
        member.ip(),
        now,
    )
    .await?;
    let mut requested = None;
    if input.production && !direct_production {
        state
            .store
            .set_app_production_request(member.account_id(), &client_id, Some(now))
            .await?;
        audit::record(
            &state.store,
            member.account_id(),
            Action::AppProductionRequested,
            Some(&client_id),
            member.ip(),
            now,
        )
        .await?;
        requested = Some(now);
    }
    Ok(render(
        StatusCode::CREATED,
        &AppPage {
            layout: member.visitor.layout(created.app.name.clone(), "apps"),
            app: AppView::new(&state, &created.app, requested),
            secret: created.client_secret.map(|s| s.expose_secret().to_owned()),
            just_created: true,
            notice: None,
            approval_required: state.settings.production_requires_approval,
        },
    ))
}

async fn own_app(state: &AppState, member: &Member, client_id: &str) -> PageResult<AppView> {
    let app = match state.store.app_by_client_id(client_id).await? {
        Some(a) if a.account_id == member.account_id() => a,
        _ => return Err(Error::NotFound("There is no such app in your account.".into()).into()),
    };
    let requested = state
        .store
        .production_requests_of(member.account_id())
        .await?
        .into_iter()
        .find(|(id, _)| *id == app.client_id)
        .map(|(_, at)| at);
    Ok(AppView::new(state, &app, requested))
}

async fn show(
    State(state): State<AppState>,
    member: Member,
    Path(client_id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> PageResult {
    let app = own_app(&state, &member, &client_id).await?;
    Ok(ok(&AppPage {
        layout: member.visitor.layout(app.name.clone(), "apps"),
        app,
        secret: None,
        just_created: false,
        notice: notice(q.done.as_deref()),
        approval_required: state.settings.production_requires_approval,
    }))
}

async fn rotate_secret(
    State(state): State<AppState>,
    member: Member,
    Path(client_id): Path<String>,
    PageForm(form): PageForm<CsrfForm>,
) -> PageResult {
    member.visitor.check_csrf(&form.csrf)?;
    let app = own_app(&state, &member, &client_id).await?;
    if app.public {
        return Err(Error::BadRequest("A public app has no client secret.".into()).into());
    }
    let secret = ClientSecret::new(digest::random_token(32));
    let now = state.now();
    if !state
        .store
        .set_app_secret_hash(
            member.account_id(),
            &client_id,
            &digest::secret_hash(secret.expose_secret()),
        )
        .await?
    {
        return Err(Error::NotFound("There is no such app in your account.".into()).into());
    }
    audit::record(
        &state.store,
        member.account_id(),
        Action::AppSecretRotated,
        Some(&client_id),
        member.ip(),
        now,
    )
    .await?;
    Ok(ok(&AppPage {
        layout: member.visitor.layout(app.name.clone(), "apps"),
        app,
        secret: Some(secret.expose_secret().to_owned()),
        just_created: false,
        notice: None,
        approval_required: state.settings.production_requires_approval,
    }))
}

#[derive(Deserialize)]
pub struct ModeForm {
    csrf: String,
    mode: String,
}

async fn switch_mode(
    State(state): State<AppState>,
    member: Member,
    Path(client_id): Path<String>,
    PageForm(form): PageForm<ModeForm>,
) -> PageResult {
    member.visitor.check_csrf(&form.csrf)?;
    own_app(&state, &member, &client_id).await?;
    let now = state.now();
    let account = member.account_id();
    let done = match form.mode.as_str() {
        "development" => {
            state
                .store
                .set_app_mode(account, &client_id, AppMode::Development)
                .await?;
            audit::record(
                &state.store,
                account,
                Action::AppModeChanged,
                Some(&client_id),
                member.ip(),
                now,
            )
            .await?;
            "app_mode"
        }
        "production" if state.settings.production_requires_approval => {
            state
                .store
                .set_app_production_request(account, &client_id, Some(now))
                .await?;
            audit::record(
                &state.store,
                account,
                Action::AppProductionRequested,
                Some(&client_id),
                member.ip(),
                now,
            )
            .await?;
            "production_requested"
        }
        "production" => {
            state
                .store
                .set_app_mode(account, &client_id, AppMode::Production)
                .await?;
            audit::record(
                &state.store,
                account,
                Action::AppModeChanged,
                Some(&client_id),
                member.ip(),
                now,
            )
            .await?;
            "app_mode"
        }
        _ => return Err(Error::BadRequest("Choose development or production.".into()).into()),
    };
    Ok(Redirect::to(&format!("{PATH}/{client_id}?done={done}")).into_response())
}

async fn confirm_delete(
    State(state): State<AppState>,
    member: Member,
    Path(client_id): Path<String>,
) -> PageResult {
    let app = own_app(&state, &member, &client_id).await?;
    Ok(ok(&DeletePage {
        layout: member
            .visitor
            .layout(format!("Delete {}", app.name), "apps"),
        app,
    }))
}

async fn delete(
    State(state): State<AppState>,
    member: Member,
    Path(client_id): Path<String>,
    PageForm(form): PageForm<CsrfForm>,
) -> PageResult {
    member.visitor.check_csrf(&form.csrf)?;
    own_app(&state, &member, &client_id).await?;
    // Its users' grants end now: the access tokens in them go on the revocation
    // list before the rows that name them are deleted with the app.
    for family in state.store.live_token_families(&client_id, None).await? {
        crate::oauth::issue::revoke_family(&state.store, &family, state.now()).await?;
    }
    if !state
        .store
        .delete_app(member.account_id(), &client_id)
        .await?
    {
        return Err(Error::NotFound("There is no such app in your account.".into()).into());
    }
    audit::record(
        &state.store,
        member.account_id(),
        Action::AppDeleted,
        Some(&client_id),
        member.ip(),
        state.now(),
    )
    .await?;
    Ok(Redirect::to(&format!("{PATH}?done=app_deleted")).into_response())
}
