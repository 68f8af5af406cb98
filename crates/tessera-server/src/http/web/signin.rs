//! Sign-in and sign-out: email + one-time code, or a password where an admin set
//! one (`tesserad admin account set-password`).
//!
//! Both paths answer the same way whether or not the address has an account, so
//! the pages cannot be used to find out who has one.

use super::page::{Layout, local_path, ok, render};
use super::session::{self, CookiePolicy, CsrfForm, Visitor};
use crate::audit::{Action, Actor};
use crate::error::Error;
use crate::http::error::PageResult;
use crate::http::extract::{PageForm, PageQuery};
use crate::otp::Checked;
use crate::services::AppState;
use crate::web_sessions::{self, METHOD_EMAIL_CODE, PasswordSignIn};
use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

pub const PATH: &str = super::page::SIGNIN_PATH;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(signin_page))
        .route("/signin/code/request", post(request_code))
        .route("/signin/code", post(signin_code))
        .route("/signin/password", post(signin_password))
        .route("/signout", post(signout))
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage {
    layout: Layout,
    /// Why the user is signing in ("to continue to Lofty CLI"), when known.
    purpose: Option<String>,
    next: String,
    email: String,
    error: Option<String>,
    /// Show the password form open (after a password attempt).
    password_open: bool,
}

#[derive(Debug, Deserialize)]
pub struct SigninQuery {
    next: Option<String>,
}

/// What the page after sign-in is for, in words: the app asking for
/// authorization, or a device.
async fn purpose(state: &AppState, next: &str) -> Option<String> {
    let url = url::Url::parse(&format!("http://local{next}")).ok()?;
    match url.path() {
        super::authorize::PATH => {
            let client_id = url
                .query_pairs()
                .find(|(k, _)| k == "client_id")
                .map(|(_, v)| v.into_owned())?;
            let app = state.store.app_by_client_id(&client_id).await.ok()??;
            Some(format!("to continue to {}", app.name))
        }
        super::device::PATH => Some("to connect a device".to_owned()),
        _ => None,
    }
}

async fn signin_page(
    State(state): State<AppState>,
    visitor: Visitor,
    PageQuery(q): PageQuery<SigninQuery>,
) -> Response {
    let next = local_path(q.next.as_deref());
    if visitor.signed_in.is_some() {
        return Redirect::to(&next).into_response();
    }
    ok(&SigninPage {
        layout: visitor.bare_layout("Sign in"),
        purpose: purpose(&state, &next).await,
        next,
        email: String::new(),
        error: None,
        password_open: false,
    })
}

#[derive(Template)]
#[template(path = "signin_code.html")]
struct CodePage {
    layout: Layout,
    next: String,
    email: String,
    error: Option<String>,
    /// The code can no longer be used: offer a new one, not the code field.
    used_up: bool,
}

#[derive(Deserialize)]
pub struct CodeRequestForm {
    csrf: String,
    email: String,
    next: Option<String>,
}

/// Sends a one-time code (if the address has an account; the page is the same
/// either way) and asks for it.
async fn request_code(
    State(state): State<AppState>,
    visitor: Visitor,
    PageForm(form): PageForm<CodeRequestForm>,
) -> PageResult {
    visitor.check_csrf(&form.csrf)?;
    let next = local_path(form.next.as_deref());
    let email = crate::accounts::canonical_email(&form.email);
    match crate::otp::request(
        &state,
        &email,
        visitor.requester.clone(),
        visitor.client,
        state.now(),
    )
    .await
    {
        Ok(()) => Ok(ok(&CodePage {
            layout: visitor.bare_layout("Enter your code"),
            next,
            email,
            error: None,
            used_up: false,
        })),
        Err(e @ (Error::BadRequest(_) | Error::TooManyRequests { .. })) => {
            // Said on the sign-in form, which keeps the address; a throttle
            // says when to come back, as every other 429 does.
            let (status, retry_after) = match e {
                Error::TooManyRequests {
                    retry_after_secs, ..
                } => (StatusCode::TOO_MANY_REQUESTS, Some(retry_after_secs)),
                _ => (StatusCode::BAD_REQUEST, None),
            };
            let page = SigninPage {
                layout: visitor.bare_layout("Sign in"),
                purpose: None,
                next,
                email,
                error: Some(sentence(&e)),
                password_open: false,
            };
            let retry_after = retry_after.map(|secs| [(header::RETRY_AFTER, secs)]);
            Ok((retry_after, render(status, &page)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// An error's text as a sentence for the page.
fn sentence(e: &Error) -> String {
    let text = match e {
        Error::TooManyRequests { .. } => {
            "Too many codes were requested. Wait a few minutes and try again.".to_owned()
        }
        other => other.to_string(),
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    csrf: String,
    email: String,
    code: String,
    next: Option<String>,
}

async fn signin_code(
    State(state): State<AppState>,
    visitor: Visitor,
    PageForm(form): PageForm<CodeForm>,
) -> PageResult {
    visitor.check_csrf(&form.csrf)?;
    let next = local_path(form.next.as_deref());
    let email = crate::accounts::canonical_email(&form.email);
    let code: String = form.code.chars().filter(|c| !c.is_whitespace()).collect();
    let now = state.now();
    let used_up = match crate::otp::check(&state, &email, &visitor.requester, &code, now).await? {
        Checked::Valid(account_id) => {
            let secret = web_sessions::sign_in(
                &state.store,
                &account_id,
                METHOD_EMAIL_CODE,
                visitor.browser(),
                now,
            )
            .await?;
            return signed_in(&state, &secret, &next);
        }
        Checked::Wrong => false,
        Checked::UsedUp => true,
    };
    let (store, browser) = (&state.store, visitor.browser());
    let background = &state.background;
    web_sessions::record_failure_later(background, store, &email, METHOD_EMAIL_CODE, browser, now);
    // A used-up code cannot be typed again: the page offers a new one instead
    // of the code field.
    let message = match used_up {
        true => {
            "This code can no longer be used: it was used already, it expired, or it was \
             entered wrong too many times. Send yourself a new code to sign in."
        }
        false => "That code is not valid. Check the latest email, or request a new code.",
    };
    Ok(render(
        StatusCode::UNAUTHORIZED,
        &CodePage {
            layout: visitor.bare_layout(if used_up {
                "Get a new code"
            } else {
                "Enter your code"
            }),
            next,
            email,
            error: Some(message.to_owned()),
            used_up,
        },
    ))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: String,
    email: String,
    password: String,
    next: Option<String>,
}

async fn signin_password(
    State(state): State<AppState>,
    visitor: Visitor,
    PageForm(form): PageForm<PasswordForm>,
) -> PageResult {
    visitor.check_csrf(&form.csrf)?;
    let next = local_path(form.next.as_deref());
    // Nothing that cannot be an address is looked up, counted or shown again.
    let (status, email, message) = match crate::accounts::normalize_email(&form.email) {
        Err(e) => (StatusCode::UNAUTHORIZED, String::new(), sentence(&e)),
        Ok(email) => {
            let outcome = web_sessions::sign_in_with_password(
                &state,
                &email,
                form.password,
                visitor.browser(),
                state.now(),
            )
            .await?;
            let (status, message) = match outcome {
                PasswordSignIn::SignedIn(secret) => return signed_in(&state, &secret, &next),
                PasswordSignIn::Paused => (
                    StatusCode::UNAUTHORIZED,
                    "Too many failed attempts. Wait 15 minutes, or sign in with an email code.",
                ),
                PasswordSignIn::Mismatch => (
                    StatusCode::UNAUTHORIZED,
                    "That email and password do not match.",
                ),
                PasswordSignIn::Busy => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The server is busy checking other sign-ins. Try again in a few seconds.",
                ),
            };
            (status, email, message.to_owned())
        }
    };
    Ok(render(
        status,
        &SigninPage {
            layout: visitor.bare_layout("Sign in"),
            purpose: None,
            next,
            email,
            error: Some(message),
            password_open: true,
        },
    ))
}

/// The browser is signed in: the session cookie, and back to `next`.
fn signed_in(state: &AppState, secret: &str, next: &str) -> PageResult {
    let policy = CookiePolicy::for_issuer(&state.settings.issuer);
    let cookie = policy.set_cookie(
        session::Cookie::Session,
        secret,
        Some(web_sessions::SESSION_TTL_SECS),
    )?;
    let mut response = Redirect::to(next).into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

async fn signout(
    State(state): State<AppState>,
    visitor: Visitor,
    PageForm(form): PageForm<CsrfForm>,
) -> PageResult {
    // Without a live session (it expired, or was signed out in another tab or
    // from the sessions page) there is nothing to end, and the form's token,
    // made from that session, can no longer match: the browser is signed out
    // already, so it lands where signing out leads, not on an error. A forged
    // form can do nothing here that the session's absence has not done.
    if let Some(s) = &visitor.signed_in {
        visitor.check_csrf(&form.csrf)?;
        let actor = Actor {
            account_id: &s.account_id,
            ip: visitor.ip.as_deref(),
        };
        web_sessions::end(
            &state.store,
            actor,
            &s.session_id,
            Action::SignedOut,
            state.now(),
        )
        .await?;
    }
    let policy = CookiePolicy::for_issuer(&state.settings.issuer);
    let mut response = Redirect::to(PATH).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        policy.clear_cookie(session::Cookie::Session)?,
    );
    Ok(response)
}
