//! Rendering: the layout every page shares, HTML responses, the error page, and
//! the small helpers pages share (times, the sign-in URL, safe local paths).

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use time::format_description::FormatItem;
use time::macros::format_description;

pub const SIGNIN_PATH: &str = "/signin";

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
    pub fn current(&self, section: &str) -> bool {
        self.section == section
    }
}

/// Renders a template as an HTML response.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(
                error = %format!("internal error: rendering a page failed: {e}"),
                "web page failed"
            );
            server_error_page(StatusCode::INTERNAL_SERVER_ERROR)
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
    onward: Option<Onward>,
}

/// A link from an error page to where the request came from, for the user
/// to follow or not.
pub struct Onward {
    pub href: String,
    pub label: String,
}

/// An error as a page (see `http::error`, which decides what it says).
pub fn error_page(
    status: StatusCode,
    heading: &str,
    message: String,
    onward: Option<Onward>,
) -> Response {
    let page = ErrorPage {
        layout: Layout {
            title: heading.to_owned(),
            email: None,
            csrf: String::new(),
            section: "",
        },
        heading: heading.to_owned(),
        message,
        onward,
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

/// The page for a failure of the server: nothing about what failed.
pub fn server_error_page(status: StatusCode) -> Response {
    error_page(
        status,
        "Something went wrong",
        "The server could not complete this request. Please try again in a moment.".to_owned(),
        None,
    )
}

/// The sign-in page, returning to `next` afterwards.
pub fn signin_url(next: &str) -> String {
    let mut url = url::form_urlencoded::Serializer::new(String::new());
    url.append_pair("next", next);
    format!("{SIGNIN_PATH}?{}", url.finish())
}

/// `2026-11-25 04:10 UTC`.
pub fn when(unix: i64) -> String {
    shown(
        unix,
        format_description!("[year]-[month]-[day] [hour]:[minute] UTC"),
    )
}

/// `2026-11-25`.
pub fn day(unix: i64) -> String {
    shown(unix, format_description!("[year]-[month]-[day]"))
}

/// `unix` in `format`; the number itself when out of range.
fn shown(unix: i64, format: &[FormatItem<'_>]) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(format).ok())
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
}
