//! Rendering: the layout every page shares, HTML responses, and errors as pages.

use super::session::Visitor;
use crate::error::Error;
use askama::Template;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::de::DeserializeOwned;

/// What the shared layout (`base.html`) needs.
#[derive(Clone, Debug)]
pub struct Layout {
    pub title: String,
    /// The signed-in account, for the header and the sign-out form.
    pub email: Option<String>,
    pub csrf: String,
    /// Which navigation entry is current (`api`, `apps`, `sessions`, `activity`).
    pub section: &'static str,
}

impl Layout {
    pub fn new(visitor: &Visitor, title: impl Into<String>, section: &'static str) -> Self {
        Self {
            title: title.into(),
            email: visitor.email().map(str::to_owned),
            csrf: visitor.csrf_token().to_owned(),
            section,
        }
    }

    /// For pages shown outside the console (sign-in, consent): no navigation.
    pub fn bare(visitor: &Visitor, title: impl Into<String>) -> Self {
        Self::new(visitor, title, "")
    }

    pub fn current(&self, section: &str) -> bool {
        self.section == section
    }
}

/// Renders a template as an HTML response.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            PageError(Error::internal(format!("rendering a page failed: {e}"))).into_response()
        }
    }
}

pub fn ok(page: &impl Template) -> Response {
    render(StatusCode::OK, page)
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    heading: String,
    message: String,
}

/// An [`Error`] shown as a page: the status comes from [`Error::status`]; a 4xx
/// shows its message, a 5xx a generic one (details go to the log, never to the
/// browser).
#[derive(Debug)]
pub struct PageError(pub Error);

impl From<Error> for PageError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

pub type PageResult<T = Response> = std::result::Result<T, PageError>;

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let (heading, message) = if status.is_server_error() {
            tracing::error!(error = %self.0, "web page failed");
            (
                "Something went wrong".to_owned(),
                "The server could not complete this request. Please try again in a moment."
                    .to_owned(),
            )
        } else {
            let heading = match status {
                StatusCode::NOT_FOUND => "Not found",
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => "Not allowed",
                StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
                _ => "That did not work",
            };
            (heading.to_owned(), user_message(&self.0))
        };
        let page = ErrorPage {
            layout: Layout {
                title: heading.clone(),
                email: None,
                csrf: String::new(),
                section: "",
            },
            heading,
            message,
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            // The error page itself failed: plain text, still no details.
            Err(_) => (
                status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "Something went wrong.",
            )
                .into_response(),
        }
    }
}

/// A 4xx error's text for a person (an OAuth error shows its description).
fn user_message(e: &Error) -> String {
    match e {
        Error::OAuth {
            description: Some(d),
            ..
        } => d.clone(),
        other => other.to_string(),
    }
}

/// A form body whose rejection is an error page.
pub struct PageForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for PageForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> PageResult<Self> {
        let crate::http::extract::Form(value) =
            crate::http::extract::Form::from_request(req, state).await?;
        Ok(Self(value))
    }
}

/// Forms that carry nothing but their CSRF token (sign out, revoke, delete).
#[derive(serde::Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

/// A form body as name/value pairs, for forms with repeated names (checkboxes).
pub struct FormFields(pub Vec<(String, String)>);

impl FormFields {
    /// The first value of `name`, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
            .unwrap_or("")
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

impl<S: Send + Sync> FromRequest<S> for FormFields {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> PageResult<Self> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| Error::BadRequest(format!("cannot read the form: {}", r.body_text())))?;
        Ok(Self(
            url::form_urlencoded::parse(&bytes)
                .map(|(n, v)| (n.into_owned(), v.into_owned()))
                .collect(),
        ))
    }
}

/// `2026-11-25 04:10 UTC`.
pub fn when(unix: i64) -> String {
    const FORMAT: &[time::format_description::FormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// `2026-11-25`.
pub fn day(unix: i64) -> String {
    const FORMAT: &[time::format_description::FormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day]");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// A safe place to go after sign-in: a path on this site, never another origin.
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && !p.chars().any(|c| c.is_control()) =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path(Some("/settings/api")), "/settings/api");
        assert_eq!(
            local_path(Some("/oauth/authorize?client_id=x")),
            "/oauth/authorize?client_id=x"
        );
        assert_eq!(local_path(Some("//evil.example")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
        assert_eq!(local_path(Some("https://evil.example")), "/");
        assert_eq!(local_path(Some("/x\r\nSet-Cookie: a=b")), "/");
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn times_are_shown_in_utc() {
        assert_eq!(when(0), "1970-01-01 00:00 UTC");
        assert_eq!(day(86_400), "1970-01-02");
    }

    #[test]
    fn server_errors_say_nothing_internal() {
        let r = PageError(Error::internal("/var/lib/secret path")).into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
