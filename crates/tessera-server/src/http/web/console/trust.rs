//! Developer portal → Apps → an app → Workload identity federation: the
//! external issuers (CI platforms, clusters) whose signed tokens the app
//! exchanges for its own short-lived tokens (`crate::federation`).

use super::apps::{PATH, TrustDraft, app_page};
use crate::apps;
use crate::error::Error;
use crate::federation::{self, NewTrustRule};
use crate::http::error::PageResult;
use crate::http::extract::{FormFields, PagePath};
use crate::http::web::page::render;
use crate::http::web::session::{Creating, Submitted};
use crate::services::AppState;
use crate::store::Reach;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use std::collections::BTreeMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/developer/apps/{client_id}/trust", post(add))
        .route(
            "/developer/apps/{client_id}/trust/{id}/delete",
            post(remove),
        )
}

/// The form as a new rule: one `NAME=GLOB` claim rule per line.
fn new_rule(client_id: &str, draft: &TrustDraft) -> Result<NewTrustRule, Error> {
    let mut claims = BTreeMap::new();
    for line in draft
        .claims
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let (name, pattern) = line.split_once('=').ok_or_else(|| {
            Error::BadRequest(format!(
                "Write each claim rule as NAME=PATTERN on its own line (not {line:?})."
            ))
        })?;
        if claims
            .insert(name.trim().to_owned(), pattern.trim().to_owned())
            .is_some()
        {
            return Err(Error::BadRequest(format!(
                "The claim {} has two rules; keep one.",
                name.trim()
            )));
        }
    }
    Ok(NewTrustRule {
        client_id: client_id.to_owned(),
        issuer: draft.issuer.clone(),
        audience: draft.audience.clone(),
        subject: Some(draft.subject.clone()).filter(|s| !s.is_empty()),
        claims,
        scope: None,
        // A member's rule: also what it makes tesserad fetch later stays off
        // this server's networks (`check_member_issuer` checks it now).
        reach: Reach::Public,
    })
}

async fn add(
    State(state): State<AppState>,
    PagePath(client_id): PagePath<String>,
    Creating(Submitted { member, body: form }): Creating<FormFields>,
) -> PageResult {
    let app = apps::owned(&state.store, member.account_id(), &client_id).await?;
    let draft = TrustDraft {
        issuer: form.get("issuer").to_owned(),
        audience: form.get("audience").to_owned(),
        subject: form.get("subject").to_owned(),
        claims: form.get("claims").to_owned(),
    };
    let added = match new_rule(&client_id, &draft) {
        Ok(new) => {
            let issuer = new.issuer.trim();
            match federation::jwks::check_member_issuer(issuer, &state.settings.issuer).await {
                Ok(()) => {
                    federation::add(&state.store, Some(member.actor()), new, state.now()).await
                }
                Err(why) => Err(Error::BadRequest(why)),
            }
        }
        Err(e) => Err(e),
    };
    // A refusal is said beside the form, which keeps what was typed.
    let (status, message) = match added {
        Ok(_) => {
            let done = format!("{PATH}/{client_id}?done=trust_added");
            return Ok(Redirect::to(&done).into_response());
        }
        Err(Error::BadRequest(message)) => (StatusCode::BAD_REQUEST, message),
        Err(Error::Conflict(message)) => (StatusCode::CONFLICT, message),
        Err(e) => return Err(e.into()),
    };
    let mut page = app_page(&state, &member, app, None).await?;
    page.trust_form = draft;
    page.trust_error = Some(message);
    Ok(render(status, &page))
}

async fn remove(
    State(state): State<AppState>,
    PagePath((client_id, id)): PagePath<(String, String)>,
    Submitted { member, .. }: Submitted,
) -> PageResult<Response> {
    apps::owned(&state.store, member.account_id(), &client_id).await?;
    let actor = Some(member.actor());
    federation::remove(&state.store, actor, Some(&client_id), &id, state.now()).await?;
    Ok(Redirect::to(&format!("{PATH}/{client_id}?done=trust_removed")).into_response())
}
