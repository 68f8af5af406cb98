//! Developer portal → Apps: register OAuth apps, see their client id and rate
//! limit, rotate the client secret (after a confirmation), switch mode, delete.
//! A new client secret (registering, rotating) is shown once, on the page the
//! form redirects to (kept for it by [`web_sessions::flash`]): a reload neither
//! rotates again nor shows the secret again.
//!
//! Production mode may need an admin's approval
//! (`--production-requires-approval`): the switch then records a request that
//! `tesserad admin app approve` grants.

use super::Notice;
use crate::apps::{self, Grant, ModeChange, NewApp};
use crate::error::Error;
use crate::http::error::PageResult;
use crate::http::extract::{FormFields, PageForm, PagePath};
use crate::http::web::page::{Layout, ok, render, when};
use crate::http::web::session::{Creating, Member, Submitted, csrf_field};
use crate::services::AppState;
use crate::store::{App, AppMode, TrustRule};
use crate::web_sessions::{self, Flash};
use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use serde::Deserialize;

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
        .route(
            "/developer/apps/{client_id}/secret",
            get(confirm_rotate).post(rotate_secret),
        )
        .route(
            "/developer/apps/{client_id}/new-secret",
            get(new_secret).head(super::shown_once_head),
        )
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

/// A trust rule (workload identity federation, `console::trust`) as the
/// app page lists it.
pub struct TrustView {
    pub id: String,
    pub issuer: String,
    pub audience: String,
    /// `sub=…`, `name=…`: what the token's claims must match.
    pub conditions: Vec<String>,
    pub scope: String,
    pub created: String,
}

impl TrustView {
    pub fn new(rule: &TrustRule) -> Self {
        let mut conditions: Vec<String> =
            rule.subject.iter().map(|s| format!("sub = {s}")).collect();
        conditions.extend(rule.claims.iter().map(|(n, p)| format!("{n} = {p}")));
        Self {
            id: rule.id.clone(),
            issuer: rule.issuer.clone(),
            audience: rule.audience.clone(),
            conditions,
            scope: rule.scope.clone(),
            created: when(rule.created_at),
        }
    }
}

/// What the form held, shown again with its error.
#[derive(Default)]
pub struct TrustDraft {
    pub issuer: String,
    pub audience: String,
    pub subject: String,
    pub claims: String,
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
pub(super) struct AppPage {
    pub(super) layout: Layout,
    pub(super) app: AppView,
    /// A new client secret: rendered on this page once, never again.
    pub(super) secret: Option<String>,
    pub(super) notice: Option<&'static str>,
    pub(super) approval_required: bool,
    /// Workload identity federation: the issuers the app trusts.
    pub(super) trust: Vec<TrustView>,
    pub(super) trust_form: TrustDraft,
    pub(super) trust_error: Option<String>,
}

#[derive(Template)]
#[template(path = "app_delete.html")]
struct DeletePage {
    layout: Layout,
    app: AppView,
}

#[derive(Template)]
#[template(path = "app_secret.html")]
struct RotatePage {
    layout: Layout,
    app: AppView,
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

async fn list(State(state): State<AppState>, member: Member, Notice(notice): Notice) -> PageResult {
    let page = apps_page(&state, &member, notice, None, None).await?;
    Ok(ok(&page))
}

fn parse_grant(value: &str) -> Option<Grant> {
    GRANTS.iter().map(|(g, _)| *g).find(|g| g.as_str() == value)
}

/// What the registration form asks for, or why it cannot be registered.
fn new_app(input: &RegisterForm<'_>) -> Result<NewApp, Error> {
    let redirect_uris: Vec<String> = input
        .redirect_uris
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let grants: Option<Vec<Grant>> = input.grants.iter().map(|g| parse_grant(g)).collect();
    let problem = if input.name.is_empty() || input.name.chars().count() > MAX_NAME_CHARS {
        format!("Give the app a name of 1 to {MAX_NAME_CHARS} characters.")
    } else if redirect_uris.len() > MAX_REDIRECT_URIS {
        format!("An app may have at most {MAX_REDIRECT_URIS} redirect URIs.")
    } else if grants.as_ref().is_none_or(Vec::is_empty) {
        "Choose at least one grant type.".to_owned()
    } else if grants
        .as_ref()
        .is_some_and(|g| g.contains(&Grant::AuthorizationCode) && redirect_uris.is_empty())
    {
        "The authorization code grant needs at least one redirect URI.".to_owned()
    } else {
        return Ok(NewApp {
            mode: if input.production {
                AppMode::Production
            } else {
                AppMode::Development
            },
            redirect_uris,
            public: input.public,
            grants: grants.unwrap_or_default(),
            ..NewApp::named(input.name)
        });
    };
    Err(Error::BadRequest(problem))
}

async fn register(
    State(state): State<AppState>,
    Creating(Submitted { member, body: form }): Creating<FormFields>,
) -> PageResult {
    let input = RegisterForm {
        name: form.get("name"),
        redirect_uris: form.get("redirect_uris"),
        public: form.get("client_type") == "public",
        production: form.get("mode") == "production",
        grants: form.all("grant"),
    };
    let approval_required = state.settings.production_requires_approval;
    let registered = match new_app(&input) {
        Ok(new) => {
            let now = state.now();
            apps::register(&state.store, member.actor(), new, approval_required, now).await
        }
        Err(e) => Err(e),
    };
    // The page the answer redirects to reads the pending production request.
    let (created, _requested) = match registered {
        Ok(done) => done,
        Err(Error::BadRequest(message)) => {
            let page = apps_page(&state, &member, None, Some(message), Some(input)).await?;
            return Ok(render(StatusCode::BAD_REQUEST, &page));
        }
        Err(e) => return Err(e.into()),
    };
    // Shown by the page this redirects to: a reload of that page cannot
    // register the app again.
    let client_id = &created.app.client_id;
    let Some(secret) = created.client_secret else {
        return Ok(
            Redirect::to(&format!("{PATH}/{client_id}?done=app_registered")).into_response(),
        );
    };
    let (session, now) = (&member.account.session_id, state.now());
    let secret = secret.expose_secret();
    web_sessions::flash(&state, session, Flash::ClientSecret, client_id, secret, now).await?;
    let shown = format!("{PATH}/{client_id}/new-secret?done=app_registered");
    Ok(Redirect::to(&shown).into_response())
}

/// The app's page, with its trust rules; fields to set after: a secret shown
/// this once, a notice, the trust form's error.
pub(super) async fn app_page(
    state: &AppState,
    member: &Member,
    (app, requested): (App, Option<i64>),
    notice: Option<&'static str>,
) -> PageResult<AppPage> {
    let trust = state.store.trust_rules(Some(&app.client_id)).await?;
    Ok(AppPage {
        layout: member.visitor.layout(app.name.clone(), "apps"),
        app: AppView::new(state, &app, requested),
        secret: None,
        notice,
        approval_required: state.settings.production_requires_approval,
        trust: trust.iter().map(TrustView::new).collect(),
        trust_form: TrustDraft::default(),
        trust_error: None,
    })
}

async fn show(
    State(state): State<AppState>,
    member: Member,
    PagePath(client_id): PagePath<String>,
    Notice(notice): Notice,
) -> PageResult {
    let app = apps::owned(&state.store, member.account_id(), &client_id).await?;
    Ok(ok(&app_page(&state, &member, app, notice).await?))
}

/// The app's new client secret ([`register`], [`rotate_secret`]), shown this
/// once; a second look (a reload, the back button) finds it gone and goes to
/// the app's page, which says why.
async fn new_secret(
    State(state): State<AppState>,
    member: Member,
    PagePath(client_id): PagePath<String>,
    Notice(notice): Notice,
) -> PageResult {
    let app = apps::owned(&state.store, member.account_id(), &client_id).await?;
    let (session, now) = (&member.account.session_id, state.now());
    let kept = web_sessions::take_flash(&state, session, Flash::ClientSecret, &client_id, now);
    let Some(secret) = kept.await? else {
        return Ok(Redirect::to(&format!("{PATH}/{client_id}?done=secret_shown")).into_response());
    };
    let mut page = app_page(&state, &member, app, notice).await?;
    page.secret = Some(secret);
    Ok(ok(&page))
}

/// Asks before rotating: the current secret stops working at once.
async fn confirm_rotate(
    State(state): State<AppState>,
    member: Member,
    PagePath(client_id): PagePath<String>,
) -> PageResult {
    let (layout, app) = asking(&state, &member, &client_id, "Rotate the secret of").await?;
    if app.public {
        return Err(apps::no_secret().into());
    }
    Ok(ok(&RotatePage { layout, app }))
}

/// The member's app `client_id`, under a page titled "`action` (its name)".
async fn asking(
    state: &AppState,
    member: &Member,
    client_id: &str,
    action: &str,
) -> Result<(Layout, AppView), Error> {
    let (app, requested) = apps::owned(&state.store, member.account_id(), client_id).await?;
    let layout = (member.visitor).layout(format!("{action} {}", app.name), "apps");
    Ok((layout, AppView::new(state, &app, requested)))
}

async fn rotate_secret(
    State(state): State<AppState>,
    PagePath(client_id): PagePath<String>,
    Submitted { member, .. }: Submitted,
) -> PageResult {
    let now = state.now();
    let (app, _) = apps::owned(&state.store, member.account_id(), &client_id).await?;
    let secret = apps::rotate_secret(&state.store, member.actor(), &app, now).await?;
    let session = &member.account.session_id;
    let secret = secret.expose_secret();
    web_sessions::flash(
        &state,
        session,
        Flash::ClientSecret,
        &client_id,
        secret,
        now,
    )
    .await?;
    Ok(Redirect::to(&format!("{PATH}/{client_id}/new-secret")).into_response())
}

#[derive(Deserialize)]
pub struct ModeForm {
    csrf: String,
    mode: String,
}

csrf_field!(ModeForm);

async fn switch_mode(
    State(state): State<AppState>,
    PagePath(client_id): PagePath<String>,
    Submitted {
        member,
        body: PageForm(form),
    }: Submitted<PageForm<ModeForm>>,
) -> PageResult {
    apps::owned(&state.store, member.account_id(), &client_id).await?;
    let mode = match form.mode.as_str() {
        "development" => AppMode::Development,
        "production" => AppMode::Production,
        _ => return Err(Error::BadRequest("Choose development or production.".into()).into()),
    };
    let approval_required = state.settings.production_requires_approval;
    let actor = member.actor();
    let done = match apps::switch_mode(
        &state.store,
        actor,
        &client_id,
        mode,
        approval_required,
        state.now(),
    )
    .await?
    {
        ModeChange::Switched => "app_mode",
        ModeChange::Requested => "production_requested",
    };
    Ok(Redirect::to(&format!("{PATH}/{client_id}?done={done}")).into_response())
}

async fn confirm_delete(
    State(state): State<AppState>,
    member: Member,
    PagePath(client_id): PagePath<String>,
) -> PageResult {
    let (layout, app) = asking(&state, &member, &client_id, "Delete").await?;
    Ok(ok(&DeletePage { layout, app }))
}

async fn delete(
    State(state): State<AppState>,
    PagePath(client_id): PagePath<String>,
    Submitted { member, .. }: Submitted,
) -> PageResult {
    apps::delete(&state.store, member.actor(), &client_id, state.now()).await?;
    Ok(Redirect::to(&format!("{PATH}?done=app_deleted")).into_response())
}
