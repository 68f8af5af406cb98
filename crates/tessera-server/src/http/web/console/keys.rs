//! Settings → Integrations → API: the account's API keys. A new key is shown
//! exactly once, on the page the form that created it redirects to (kept for
//! it by [`web_sessions::flash`]: a reload neither makes another key nor shows
//! this one again); afterwards only its id and a masked preview exist here.

use super::Notice;
use crate::api_keys::{self, NewApiKey};
use crate::audit::{self, Action};
use crate::error::Error;
use crate::http::error::PageResult;
use crate::http::extract::{FormFields, PagePath};
use crate::http::web::page::{Layout, day, ok, render, when};
use crate::http::web::session::{Creating, Member, Submitted};
use crate::services::AppState;
use crate::store::{ApiKeyRecord, Revoked};
use crate::web_sessions::{self, Flash};
use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use tessera_proto::{Scopes, THIRD_PARTY_OPERATION};

pub const PATH: &str = "/settings/api";
/// Keys expiring sooner than this get a warning.
const EXPIRY_WARNING_SECS: i64 = 14 * 86_400;
const MAX_NAME_CHARS: usize = 100;

/// Scopes a key made here may carry, with what they allow.
pub const KEY_SCOPES: &[(&str, &str)] = &[(
    THIRD_PARTY_OPERATION,
    "Call the platform API (/v1) as this account",
)];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(list).post(create))
        .route(
            "/settings/api/{id}/created",
            get(created).head(super::shown_once_head),
        )
        .route(
            "/settings/api/{id}/revoke",
            get(confirm_revoke).post(revoke),
        )
}

pub struct KeyView {
    pub id: String,
    pub name: String,
    pub preview: String,
    pub scope: String,
    pub created: String,
    pub last_used: String,
    pub expires: String,
    /// `active`, `expired` or `revoked`.
    pub status: &'static str,
    pub expiring_soon: bool,
}

impl KeyView {
    fn new(k: &ApiKeyRecord, now: i64) -> Self {
        let status = k.status(now);
        Self {
            id: k.id.clone(),
            name: k.name.clone().unwrap_or_default(),
            preview: k.preview.clone().unwrap_or_else(|| "****".into()),
            scope: k.scope.clone(),
            created: when(k.created_at),
            last_used: k.last_used_at.map(when).unwrap_or_else(|| "never".into()),
            expires: k.expires_at.map(when).unwrap_or_else(|| "never".into()),
            status,
            expiring_soon: status == "active"
                && k.expires_at.is_some_and(|e| e - now < EXPIRY_WARNING_SECS),
        }
    }

    pub fn active(&self) -> bool {
        self.status == "active"
    }
}

pub struct ScopeOption {
    pub name: &'static str,
    pub description: &'static str,
    pub checked: bool,
}

fn scope_options(selected: &[&str]) -> Vec<ScopeOption> {
    KEY_SCOPES
        .iter()
        .map(|(name, description)| ScopeOption {
            name,
            description,
            checked: selected.is_empty() || selected.contains(name),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "api_keys.html")]
struct KeysPage {
    layout: Layout,
    keys: Vec<KeyView>,
    notice: Option<&'static str>,
    error: Option<String>,
    scopes: Vec<ScopeOption>,
    name: String,
    expires: String,
    /// The earliest expiry date the form accepts (tomorrow).
    min_date: String,
}

#[derive(Template)]
#[template(path = "api_key_created.html")]
struct CreatedPage {
    layout: Layout,
    key: KeyView,
    /// The key itself: rendered on this page once, never again.
    secret: String,
    /// `/v1/me` on this server, for the example.
    me_url: String,
}

#[derive(Template)]
#[template(path = "api_key_revoke.html")]
struct RevokePage {
    layout: Layout,
    key: KeyView,
}

async fn keys_page(
    state: &AppState,
    member: &Member,
    notice: Option<&'static str>,
    error: Option<String>,
    form: Option<(&str, &str, Vec<&str>)>,
) -> PageResult<KeysPage> {
    let now = state.now();
    let keys = state
        .store
        .list_api_keys(Some(member.account_id()))
        .await?
        .iter()
        .rev()
        .map(|k| KeyView::new(k, now))
        .collect();
    let (name, expires, selected) = form.unwrap_or(("", "", Vec::new()));
    Ok(KeysPage {
        layout: member.visitor.layout("API keys", "api"),
        keys,
        notice,
        error,
        scopes: scope_options(&selected),
        name: name.to_owned(),
        expires: expires.to_owned(),
        min_date: day(now + 86_400),
    })
}

async fn list(State(state): State<AppState>, member: Member, Notice(notice): Notice) -> PageResult {
    let page = keys_page(&state, &member, notice, None, None).await?;
    Ok(ok(&page))
}

/// `YYYY-MM-DD` (an `<input type=date>`) -> the end of that day, UTC.
fn end_of_day(date: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let day = time::Date::parse(date, format).ok()?;
    Some(day.with_hms(23, 59, 59).ok()?.assume_utc().unix_timestamp())
}

async fn create(
    State(state): State<AppState>,
    Creating(Submitted { member, body: form }): Creating<FormFields>,
) -> PageResult {
    let now = state.now();
    let name = form.get("name");
    let expires = form.get("expires");
    let selected = form.all("scope");
    let invalid = |message: String| async {
        let page = keys_page(
            &state,
            &member,
            None,
            Some(message),
            Some((name, expires, selected.clone())),
        )
        .await?;
        Ok::<_, crate::http::error::PageError>(render(StatusCode::BAD_REQUEST, &page))
    };
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return invalid(format!(
            "Give the key a name of 1 to {MAX_NAME_CHARS} characters."
        ))
        .await;
    }
    let expires_at = if expires.is_empty() {
        None
    } else {
        match end_of_day(expires) {
            Some(at) if at > now => Some(at),
            Some(_) => return invalid("The expiry date must be in the future.".into()).await,
            None => return invalid("Enter the expiry date as YYYY-MM-DD.".into()).await,
        }
    };
    if selected.is_empty() {
        return invalid("Choose at least one scope.".into()).await;
    }
    if let Some(bad) = selected
        .iter()
        .find(|s| !KEY_SCOPES.iter().any(|(k, _)| k == *s))
    {
        return invalid(format!("The scope {bad} cannot be granted here.")).await;
    }
    let new = NewApiKey {
        account_id: member.account_id().to_owned(),
        name: Some(name.to_owned()),
        scope: Some(Scopes::from_iter(selected.iter().copied())),
        expires_at,
    };
    let issued = api_keys::issue_for_user(&state, new, now).await?;
    let id = issued.record.id.as_str();
    audit::record(
        &state.store,
        member.actor(),
        Action::ApiKeyCreated,
        Some(id),
        now,
    )
    .await?;
    let (session, key) = (&member.account.session_id, issued.key.expose_secret());
    web_sessions::flash(&state, session, Flash::ApiKey, id, key, now).await?;
    Ok(Redirect::to(&format!("{PATH}/{id}/created")).into_response())
}

/// The key [`create`] just made, shown this once; a second look (a reload,
/// the back button) finds it gone and goes to the list, which says why.
async fn created(
    State(state): State<AppState>,
    member: Member,
    PagePath(id): PagePath<String>,
) -> PageResult {
    let now = state.now();
    let session = &member.account.session_id;
    let Some(secret) = web_sessions::take_flash(&state, session, Flash::ApiKey, &id, now).await?
    else {
        return Ok(Redirect::to(&format!("{PATH}?done=key_shown")).into_response());
    };
    let key = match state.store.api_key(&id).await? {
        Some(k) if k.account_id == member.account_id() => k,
        _ => return Err(no_such_key().into()),
    };
    Ok(ok(&CreatedPage {
        layout: member.visitor.layout("API key created", "api"),
        key: KeyView::new(&key, now),
        secret,
        me_url: state.settings.url("/v1/me"),
    }))
}

fn no_such_key() -> Error {
    Error::NotFound("There is no such API key in your account.".into())
}

async fn confirm_revoke(
    State(state): State<AppState>,
    member: Member,
    PagePath(id): PagePath<String>,
) -> PageResult {
    let key = match state.store.api_key(&id).await? {
        Some(k) if k.account_id == member.account_id() => k,
        _ => return Err(no_such_key().into()),
    };
    Ok(ok(&RevokePage {
        layout: member.visitor.layout("Revoke API key", "api"),
        key: KeyView::new(&key, state.now()),
    }))
}

async fn revoke(
    State(state): State<AppState>,
    PagePath(id): PagePath<String>,
    Submitted { member, .. }: Submitted,
) -> PageResult {
    let now = state.now();
    match api_keys::revoke(&state.store, &id, Some(member.account_id()), now).await? {
        Revoked::Now => {
            let actor = member.actor();
            audit::record(&state.store, actor, Action::ApiKeyRevoked, Some(&id), now).await?;
        }
        Revoked::Already => {}
        Revoked::NotFound => return Err(no_such_key().into()),
    }
    Ok(Redirect::to(&format!("{PATH}?done=key_revoked")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_dates_end_at_midnight_utc() {
        assert_eq!(end_of_day("1970-01-01"), Some(86_399));
        assert_eq!(end_of_day("1970-13-01"), None);
        assert_eq!(end_of_day("tomorrow"), None);
    }
}
