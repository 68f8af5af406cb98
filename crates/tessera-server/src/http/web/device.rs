//! `/device`: the RFC 8628 verification page. Sign in, enter the code the
//! terminal shows (prefilled from `verification_uri_complete`), check which app
//! is asking, approve or deny, then go back to the terminal.

use super::page::{Layout, ok, render, when};
use super::scopes::{self, ScopeLine};
use super::session::{Member, Submitted, Visitor, count_creation, csrf_field};
use crate::apps;
use crate::audit::Action;
use crate::error::Error;
use crate::http::error::PageResult;
use crate::http::extract::{PageForm, PageQuery};
use crate::oauth::device::{self, PendingDevice};
use crate::services::AppState;
use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

pub const PATH: &str = "/device";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(show).post(enter))
        .route("/device/decision", post(decide))
}

#[derive(Template)]
#[template(path = "device_entry.html")]
struct EntryPage {
    layout: Layout,
    user_code: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "device_confirm.html")]
struct ConfirmPage {
    layout: Layout,
    user_code: String,
    app_name: String,
    client_id: String,
    scopes: Vec<ScopeLine>,
    expires: String,
}

#[derive(Template)]
#[template(path = "device_done.html")]
struct DonePage {
    layout: Layout,
    approved: bool,
    heading: String,
    message: String,
}

#[derive(Deserialize)]
pub struct DeviceQuery {
    user_code: Option<String>,
}

fn entry(
    visitor: &Visitor,
    status: StatusCode,
    user_code: &str,
    error: Option<String>,
) -> Response {
    render(
        status,
        &EntryPage {
            layout: visitor.bare_layout("Connect a device"),
            user_code: user_code.to_owned(),
            error,
        },
    )
}

/// Looks the code up and shows the confirmation, or the entry form with why not.
async fn confirm(state: &AppState, member: &Member, user_code: &str) -> PageResult {
    match device::lookup(state, user_code, member.visitor.client, state.now()).await {
        Ok(pending) => Ok(confirmation(member, pending)),
        Err(Error::NotFound(_)) => Ok(entry(
            &member.visitor,
            StatusCode::NOT_FOUND,
            user_code,
            Some(
                "That code is not valid or has expired. Check the code in your terminal and try again."
                    .into(),
            ),
        )),
        Err(Error::TooManyRequests {
            retry_after_secs, ..
        }) => {
            let page = entry(
                &member.visitor,
                StatusCode::TOO_MANY_REQUESTS,
                user_code,
                Some("Too many wrong codes. Wait 15 minutes, then try again.".into()),
            );
            // As every 429: when to come back. The per-address layer reads
            // it too, so its headers say nothing is left until then.
            Ok(([(header::RETRY_AFTER, retry_after_secs)], page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

fn confirmation(member: &Member, pending: PendingDevice) -> Response {
    ok(&ConfirmPage {
        layout: member
            .visitor
            .bare_layout(format!("Connect {}", pending.client_name)),
        user_code: pending.user_code,
        app_name: pending.client_name,
        client_id: pending.client_id,
        scopes: scopes::lines(&pending.scope),
        expires: when(pending.expires_at),
    })
}

async fn show(
    State(state): State<AppState>,
    visitor: Visitor,
    PageQuery(q): PageQuery<DeviceQuery>,
) -> PageResult {
    let user_code = q.user_code.unwrap_or_default();
    let Some(account) = visitor.signed_in.clone() else {
        let back = if user_code.is_empty() {
            PATH.to_owned()
        } else {
            let mut s = url::form_urlencoded::Serializer::new(String::new());
            s.append_pair("user_code", &user_code);
            format!("{PATH}?{}", s.finish())
        };
        return Ok(Redirect::to(&super::page::signin_url(&back)).into_response());
    };
    let member = Member { visitor, account };
    if user_code.trim().is_empty() {
        return Ok(entry(&member.visitor, StatusCode::OK, "", None));
    }
    confirm(&state, &member, &user_code).await
}

#[derive(Deserialize)]
pub struct EntryForm {
    csrf: String,
    user_code: String,
}

async fn enter(
    State(state): State<AppState>,
    Submitted {
        member,
        body: PageForm(form),
    }: Submitted<PageForm<EntryForm>>,
) -> PageResult {
    if form.user_code.trim().is_empty() {
        return Ok(entry(
            &member.visitor,
            StatusCode::BAD_REQUEST,
            "",
            Some("Enter the code shown in your terminal.".into()),
        ));
    }
    confirm(&state, &member, &form.user_code).await
}

#[derive(Deserialize)]
pub struct DecisionForm {
    csrf: String,
    user_code: String,
    decision: String,
}

csrf_field!(EntryForm, DecisionForm);

async fn decide(
    State(state): State<AppState>,
    Submitted {
        member,
        body: PageForm(form),
    }: Submitted<PageForm<DecisionForm>>,
) -> PageResult {
    let now = state.now();
    let approve = match form.decision.as_str() {
        "approve" => true,
        "deny" => false,
        _ => return Err(Error::BadRequest("Choose Allow or Deny.".into()).into()),
    };
    // The app and scope, for the authorization record; also re-checks the code.
    let pending = match device::lookup(&state, &form.user_code, member.visitor.client, now).await {
        Ok(p) => p,
        Err(Error::NotFound(_)) => return Ok(expired(&member)),
        Err(e) => return Err(e.into()),
    };
    if approve {
        count_creation(&state, &member).await?;
    }
    let decided = if approve {
        device::approve(&state, &form.user_code, member.account_id(), now).await
    } else {
        device::deny(&state, &form.user_code, now).await
    };
    match decided {
        Ok(()) => {}
        Err(Error::NotFound(_)) => return Ok(expired(&member)),
        Err(e) => return Err(e.into()),
    }
    if approve {
        let (client_id, actor) = (&pending.client_id, member.actor());
        let action = Action::DeviceApproved;
        apps::authorize(&state.store, actor, client_id, &pending.scope, action, now).await?;
    }
    Ok(ok(&DonePage {
        layout: member.visitor.bare_layout(if approve {
            "Device connected"
        } else {
            "Request denied"
        }),
        approved: approve,
        heading: if approve {
            format!("{} is connected", pending.client_name)
        } else {
            "Request denied".to_owned()
        },
        message: if approve {
            "You can close this window and return to your terminal.".to_owned()
        } else {
            format!(
                "{} did not get access. You can close this window and return to your terminal.",
                pending.client_name
            )
        },
    }))
}

fn expired(member: &Member) -> Response {
    render(
        StatusCode::NOT_FOUND,
        &DonePage {
            layout: member.visitor.bare_layout("Code expired"),
            approved: false,
            heading: "This code has expired".to_owned(),
            message: "It may have been used already. Return to your terminal and start the sign-in again."
                .to_owned(),
        },
    )
}

/// Whatever is typed as a user code on the verification page gets a page: the
/// confirmation for the real code however it is typed, else the entry form again
/// with why (404, or 429 past the guessing cap), never a 5xx, never the input
/// unescaped.
#[cfg(test)]
mod proptests {
    use super::super::tests::Browser;
    use crate::testing::{Fixture, body_json};
    use axum::http::StatusCode;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    #[derive(Clone, Debug)]
    enum Typed {
        /// The pending code with its letters' case flipped where `true`, and a
        /// separator after each letter.
        Real(Vec<bool>, Vec<&'static str>),
        Other(String),
    }

    fn typed() -> impl Strategy<Value = Typed> {
        let separators = proptest::sample::select(vec!["", "", "-", " "]);
        prop_oneof![
            (
                proptest::collection::vec(any::<bool>(), 8),
                proptest::collection::vec(separators, 8),
            )
                .prop_map(|(flip, gaps)| Typed::Real(flip, gaps)),
            ".{0,20}".prop_map(Typed::Other),
            "[B-Zb-z -]{6,12}".prop_map(Typed::Other),
            Just(Typed::Other("<script>alert(1)</script>".into())),
        ]
    }

    #[test]
    fn any_typed_user_code_gets_a_page() {
        let (rt, fx) = Fixture::blocking();
        // The runner takes an `Fn`; the browser keeps cookies between cases.
        let browser = std::cell::RefCell::new(rt.block_on(Browser::member(&fx)));
        let real = rt.block_on(async {
            let account = fx.account("device@example.com").await;
            let app = crate::apps::NewApp::public_client("CLI", "cli");
            fx.app(&account, app).await;
            let response = fx
                .post_form("/oauth/device_authorization", &[("client_id", "cli")])
                .await;
            body_json(response).await["user_code"]
                .as_str()
                .unwrap()
                .replace('-', "")
        });
        let config = Config {
            cases: 300,
            failure_persistence: None,
            ..Config::default()
        };
        let cases = (typed(), any::<[u8; 4]>());
        let result = TestRunner::new(config).run(&cases, |(typed, ip)| {
            let input = match &typed {
                Typed::Real(flip, gaps) => real
                    .chars()
                    .zip(flip)
                    .zip(gaps)
                    .map(|((c, flip), gap)| {
                        let c = if *flip { c.to_ascii_lowercase() } else { c };
                        format!("{c}{gap}")
                    })
                    .collect(),
                Typed::Other(text) => text.clone(),
            };
            let is_real = super::device::normalize_user_code(&input).as_deref() == Some(&real);
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query.append_pair("user_code", &input);
            let mut browser = browser.borrow_mut();
            browser.peer = Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), 1));
            let page = rt.block_on(browser.get(&format!("/device?{}", query.finish())));
            let fine = match page.status {
                StatusCode::OK => is_real || input.trim().is_empty(),
                StatusCode::NOT_FOUND | StatusCode::TOO_MANY_REQUESTS => !is_real,
                _ => false,
            };
            let shown = page.html.contains("<html") && !page.html.contains("<script>alert");
            if fine && shown {
                Ok(())
            } else {
                Err(TestCaseError::fail(format!("{input:?}: {}", page.status)))
            }
        });
        result.unwrap();
    }
}
