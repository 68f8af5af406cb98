//! Sessions and authorizations: the browsers signed in to the account and the
//! apps it has authorized, each revocable.

use super::Notice;
use crate::apps;
use crate::audit::{self, Action};
use crate::http::error::PageResult;
use crate::http::extract::PagePath;
use crate::http::web::page::{Layout, ok, when};
use crate::http::web::session::{Creating, Member, Submitted};
use crate::oauth::session_token;
use crate::services::AppState;
use crate::web_sessions::{self, Flash};
use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};

pub const PATH: &str = "/settings/sessions";
const TOKEN_URL_PATH: &str = "/settings/sessions/token-url";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(list))
        .route(TOKEN_URL_PATH, post(token_url_session))
        .route(
            "/settings/sessions/token-url/{handle}",
            get(token_url_shown).head(super::shown_once_head),
        )
        .route("/settings/sessions/{id}/revoke", post(revoke_session))
        .route(
            "/settings/authorizations/{client_id}/revoke",
            post(revoke_authorization),
        )
}

pub struct SessionView {
    pub id: String,
    pub method: &'static str,
    pub ip: String,
    pub user_agent: String,
    pub created: String,
    pub last_seen: String,
    pub current: bool,
}

pub struct AuthorizationView {
    pub client_id: String,
    pub app_name: String,
    pub scope: String,
    pub created: String,
    pub updated: String,
}

#[derive(Template)]
#[template(path = "sessions.html")]
struct SessionsPage {
    layout: Layout,
    sessions: Vec<SessionView>,
    authorizations: Vec<AuthorizationView>,
    notice: Option<&'static str>,
}

/// A single-use token-URL session, shown once.
#[derive(Template)]
#[template(path = "token_url_session.html")]
struct TokenUrlPage {
    layout: Layout,
    session_id: String,
    token_url: String,
    minutes: i64,
}

async fn list(State(state): State<AppState>, member: Member, Notice(notice): Notice) -> PageResult {
    let now = state.now();
    let account = member.account_id();
    let sessions = state
        .store
        .live_web_sessions_of(account, now)
        .await?
        .into_iter()
        .map(|s| SessionView {
            current: s.id == member.account.session_id,
            method: if s.method == "password" {
                "Password"
            } else {
                "Email code"
            },
            ip: s.ip.unwrap_or_else(|| "unknown".into()),
            user_agent: s.user_agent.unwrap_or_else(|| "unknown browser".into()),
            created: when(s.created_at),
            last_seen: when(s.last_seen_at),
            id: s.id,
        })
        .collect();
    let authorizations = state
        .store
        .app_authorizations_of(account)
        .await?
        .into_iter()
        .map(|a| AuthorizationView {
            client_id: a.client_id,
            app_name: a.app_name,
            scope: a.scope,
            created: when(a.created_at),
            updated: when(a.updated_at),
        })
        .collect();
    Ok(ok(&SessionsPage {
        layout: member.visitor.layout("Sessions and apps", "sessions"),
        sessions,
        authorizations,
        notice,
    }))
}

async fn revoke_session(
    State(state): State<AppState>,
    PagePath(id): PagePath<String>,
    Submitted { member, .. }: Submitted,
) -> PageResult {
    let now = state.now();
    web_sessions::end(
        &state.store,
        member.actor(),
        &id,
        Action::SessionRevoked,
        now,
    )
    .await?;
    Ok(Redirect::to(&format!("{PATH}?done=session_revoked")).into_response())
}

async fn revoke_authorization(
    State(state): State<AppState>,
    PagePath(client_id): PagePath<String>,
    Submitted { member, .. }: Submitted,
) -> PageResult {
    apps::revoke_authorization(&state.store, member.actor(), &client_id, state.now()).await?;
    Ok(Redirect::to(&format!("{PATH}?done=authorization_revoked")).into_response())
}

/// Creates a session id for a CLI's token-URL login (`lofty-cli auth
/// login-session`): single use, short-lived, exchanged for a Level 0 token.
/// Answered with a redirect to the page that shows it once (Post/Redirect/Get:
/// a reload makes no other).
async fn token_url_session(
    State(state): State<AppState>,
    Creating(Submitted { member, .. }): Creating,
) -> PageResult {
    let now = state.now();
    let (session_id, _) = session_token::create(
        &state.store,
        member.account_id(),
        session_token::LEVEL_0,
        now,
    )
    .await?;
    let action = Action::TokenUrlSessionCreated;
    audit::record(&state.store, member.actor(), action, None, now).await?;
    let handle = crate::digest::random_token(16);
    let browser_session = &member.account.session_id;
    let flash = Flash::TokenUrlSession;
    web_sessions::flash(&state, browser_session, flash, &handle, &session_id, now).await?;
    Ok(Redirect::to(&format!("{TOKEN_URL_PATH}/{handle}")).into_response())
}

/// The session id [`token_url_session`] just made, shown this once.
async fn token_url_shown(
    State(state): State<AppState>,
    member: Member,
    PagePath(handle): PagePath<String>,
) -> PageResult {
    let (browser_session, now) = (&member.account.session_id, state.now());
    let flash = Flash::TokenUrlSession;
    let taken = web_sessions::take_flash(&state, browser_session, flash, &handle, now).await?;
    let Some(session_id) = taken else {
        return Ok(Redirect::to(&format!("{PATH}?done=session_shown")).into_response());
    };
    Ok(ok(&TokenUrlPage {
        layout: member.visitor.layout("CLI sign-in session", "sessions"),
        session_id,
        token_url: state.settings.url(crate::oauth::PATH_SESSION_TOKEN),
        minutes: session_token::SESSION_TTL_SECS / 60,
    }))
}
