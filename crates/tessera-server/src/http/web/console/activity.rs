//! `/settings/activity`: the account's audit trail, newest first.

use crate::audit::Action;
use crate::http::error::PageResult;
use crate::http::web::page::{Layout, ok, when};
use crate::http::web::session::Member;
use crate::services::AppState;
use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::routing::get;

pub const PATH: &str = "/settings/activity";
/// Events shown on the page.
const SHOWN: i64 = 200;

pub fn routes() -> Router<AppState> {
    Router::new().route(PATH, get(list))
}

pub struct EventView {
    pub what: &'static str,
    pub subject: String,
    pub ip: String,
    pub at: String,
}

#[derive(Template)]
#[template(path = "activity.html")]
struct ActivityPage {
    layout: Layout,
    events: Vec<EventView>,
}

async fn list(State(state): State<AppState>, member: Member) -> PageResult {
    let events = state
        .store
        .audit_events_of(member.account_id(), SHOWN)
        .await?
        .into_iter()
        .map(|e| EventView {
            what: Action::describe(&e.action),
            subject: e.subject.unwrap_or_default(),
            ip: e.ip.unwrap_or_default(),
            at: when(e.created_at),
        })
        .collect();
    Ok(ok(&ActivityPage {
        layout: member.visitor.layout("Activity", "activity"),
        events,
    }))
}
