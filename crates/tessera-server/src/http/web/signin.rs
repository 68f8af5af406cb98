//! Sign-in and sign-out: email + one-time code, or a password where an admin set
//! one (`tesserad admin account set-password`).
//!
//! Both paths answer the same way whether or not the address has an account, so
//! the pages cannot be used to find out who has one.

use super::page::{Layout, local_path, ok, render};
use super::session::{self, CookiePolicy, Visitor};
use crate::audit::{self, Action};
use crate::error::Error;
use crate::http::error::PageResult;
use crate::http::extract::PageForm;
use crate::http::web::session::CsrfForm;
use crate::password;
use crate::services::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

pub const PATH: &str = super::page::SIGNIN_PATH;
/// Failed password sign-ins per account within [`PASSWORD_WINDOW_SECS`] before
/// password sign-in pauses for that account (the email code still works).
const PASSWORD_FAILURES_ALLOWED: i64 = 10;
const PASSWORD_WINDOW_SECS: i64 = 15 * 60;

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
    Query(q): Query<SigninQuery>,
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
    let email = form.email.trim().to_lowercase();
    match crate::otp::request(&state, &email, visitor.peer, state.now()).await {
        Ok(()) => Ok(ok(&CodePage {
            layout: visitor.bare_layout("Enter your code"),
            next,
            email,
            error: None,
        })),
        Err(e @ (Error::BadRequest(_) | Error::TooManyRequests { .. })) => Ok(render(
            match e {
                Error::BadRequest(_) => StatusCode::BAD_REQUEST,
                _ => StatusCode::TOO_MANY_REQUESTS,
            },
            &SigninPage {
                layout: visitor.bare_layout("Sign in"),
                purpose: None,
                next,
                email,
                error: Some(sentence(&e)),
                password_open: false,
            },
        )),
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
    let email = form.email.trim().to_lowercase();
    let code: String = form.code.chars().filter(|c| !c.is_whitespace()).collect();
    match crate::otp::verify(&state, &email, &code, state.now()).await {
        Ok(account_id) => complete(&state, &visitor, &account_id, "email_code", &next).await,
        Err(e @ (Error::InvalidOtp | Error::BadRequest(_) | Error::TooManyRequests { .. })) => {
            if let Some(account) = state.store.account_by_email(&email).await? {
                audit::record(
                    &state.store,
                    &account.id,
                    Action::SignInFailed,
                    Some("email_code"),
                    visitor.ip.as_deref(),
                    state.now(),
                )
                .await?;
            }
            let message = match e {
                Error::InvalidOtp => {
                    "That code is not valid. Check the latest email, or request a new code."
                        .to_owned()
                }
                other => sentence(&other),
            };
            Ok(render(
                StatusCode::UNAUTHORIZED,
                &CodePage {
                    layout: visitor.bare_layout("Enter your code"),
                    next,
                    email,
                    error: Some(message),
                },
            ))
        }
        Err(e) => Err(e.into()),
    }
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
    let email = form.email.trim().to_lowercase();
    let now = state.now();
    let account = state.store.account_by_email(&email).await?;
    let stored = match &account {
        Some(a) => state.store.account_password_hash(&a.id).await?,
        None => None,
    };
    let throttled = match &account {
        Some(a) => {
            state
                .store
                .count_audit_events_since(
                    &a.id,
                    Action::SignInFailed.as_str(),
                    now - PASSWORD_WINDOW_SECS,
                )
                .await?
                >= PASSWORD_FAILURES_ALLOWED
        }
        None => false,
    };
    let password = form.password;
    // argon2 takes tens of milliseconds of CPU: off the async workers.
    let matches =
        tokio::task::spawn_blocking(move || password::verify(&password, stored.as_deref()))
            .await
            .map_err(Error::internal)?;
    let failure = |message: &str| {
        render(
            StatusCode::UNAUTHORIZED,
            &SigninPage {
                layout: visitor.bare_layout("Sign in"),
                purpose: None,
                next: next.clone(),
                email: email.clone(),
                error: Some(message.to_owned()),
                password_open: true,
            },
        )
    };
    match account {
        Some(account) if matches && !throttled => {
            complete(&state, &visitor, &account.id, "password", &next).await
        }
        Some(account) => {
            audit::record(
                &state.store,
                &account.id,
                Action::SignInFailed,
                Some("password"),
                visitor.ip.as_deref(),
                now,
            )
            .await?;
            Ok(failure(if throttled {
                "Too many failed attempts. Wait 15 minutes, or sign in with an email code."
            } else {
                "That email and password do not match."
            }))
        }
        None => Ok(failure("That email and password do not match.")),
    }
}

/// Signs the browser in: a fresh session (never reusing a cookie from before
/// sign-in), an audit event, and back to `next`.
pub async fn complete(
    state: &AppState,
    visitor: &Visitor,
    account_id: &str,
    method: &str,
    next: &str,
) -> PageResult {
    let (secret, row) = session::start(
        state,
        account_id,
        method,
        visitor.ip.as_deref(),
        visitor.user_agent.as_deref(),
    )
    .await?;
    audit::record(
        &state.store,
        account_id,
        Action::SignedIn,
        Some(method),
        visitor.ip.as_deref(),
        row.created_at,
    )
    .await?;
    let policy = CookiePolicy::for_issuer(&state.settings.issuer);
    let cookie = policy.set_cookie(
        session::SESSION_COOKIE,
        &secret,
        Some(session::SESSION_TTL_SECS),
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
    visitor.check_csrf(&form.csrf)?;
    let now = state.now();
    if let Some(s) = &visitor.signed_in {
        state
            .store
            .revoke_web_session(&s.account_id, &s.session_id, now)
            .await?;
        audit::record(
            &state.store,
            &s.account_id,
            Action::SignedOut,
            None,
            visitor.ip.as_deref(),
            now,
        )
        .await?;
    }
    let policy = CookiePolicy::for_issuer(&state.settings.issuer);
    let mut response = Redirect::to(PATH).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        policy.clear_cookie(session::SESSION_COOKIE)?,
    );
    Ok(response)
}
