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
/// Failed sign-ins shown besides them: anyone who knows the address causes
/// them, and as many as they like over the hours, so among the newest 200
/// they could hide every event of the owner's own.
const FAILED_SIGN_INS_SHOWN: i64 = 20;

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
        .audit_events_of(member.account_id(), SHOWN, FAILED_SIGN_INS_SHOWN)
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

#[cfg(test)]
mod tests {
    use super::{FAILED_SIGN_INS_SHOWN, SHOWN};
    use crate::audit::{self, Action, Actor};
    use crate::testing::Fixture;

    /// Failed sign-ins anyone can cause, kept up for hours (10 recorded per
    /// quarter hour), do not push the owner's own events off the page.
    #[tokio::test]
    async fn failures_kept_up_for_hours_leave_the_owners_events_on_the_page() {
        let fx = Fixture::new().await;
        let account = fx.account("owner@example.com").await;
        let store = &fx.state.store;
        let actor = Actor {
            account_id: &account,
            ip: Some("198.51.100.7"),
        };
        let now = fx.clock_now();
        audit::record(store, actor, Action::ApiKeyCreated, Some("key_1"), now)
            .await
            .unwrap();
        let stranger = Actor {
            account_id: &account,
            ip: Some("203.0.113.9"),
        };
        for i in 1..=SHOWN {
            audit::record(store, stranger, Action::SignInFailed, None, now + i)
                .await
                .unwrap();
        }
        let failed = Action::SignInFailed.as_str();
        let shown = store
            .audit_events_of(&account, SHOWN, FAILED_SIGN_INS_SHOWN)
            .await
            .unwrap();
        let failures = shown.iter().filter(|e| e.action == failed).count();
        assert_eq!(failures as i64, FAILED_SIGN_INS_SHOWN);
        assert_eq!(shown.last().unwrap().subject.as_deref(), Some("key_1"));
        // Newest first: the newest failure heads the page.
        assert_eq!(shown[0].created_at, now + SHOWN);
    }
}
