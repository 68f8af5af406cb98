//! Browser sessions and CSRF protection.
//!
//! - `tessera_session`: a random secret (32 bytes) of a session of
//!   [`crate::web_sessions`], which keeps its hash. Created on sign-in (a new
//!   secret each time, so a planted cookie is useless), revoked on sign-out or
//!   from the sessions page.
//! - `tessera_browser`: a random value given to every browser, which binds the
//!   forms shown before sign-in.
//! - CSRF token: `digest("csrf:" + session secret)` when signed in, else
//!   `digest("csrf:" + browser value)`. Another site can neither read these cookies
//!   nor compute the token, and a token from one session is useless in another;
//!   under HTTPS the names carry `__Host-`, so a sibling subdomain cannot set
//!   them either ([`CookiePolicy::name`]).

use super::page::Layout;
use crate::attempts::{self, Limit};
use crate::audit::Actor;
use crate::digest;
use crate::error::{Error, Result};
use crate::http::error::PageError;
use crate::http::extract::{ClientIp, FormFields, PageForm, peer};
use crate::services::AppState;
use crate::web_sessions::{self, Browser};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};

/// Cookie values we mint are base64url of 32 bytes; anything else is ignored.
const COOKIE_VALUE_LEN: usize = 43;

/// The two cookies a browser gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cookie {
    /// `tessera_session`: a signed-in session's secret.
    Session,
    /// `tessera_browser`: binds forms shown before sign-in.
    Browser,
}

/// Cookie attributes for this deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookiePolicy {
    pub secure: bool,
}

impl CookiePolicy {
    /// `Secure` everywhere but a plain-HTTP issuer on a loopback host, where a
    /// browser would refuse to send a `Secure` cookie back.
    pub fn for_issuer(issuer: &str) -> Self {
        let loopback_http = url::Url::parse(issuer)
            .is_ok_and(|u| u.scheme() == "http" && crate::urls::is_loopback(&u));
        Self {
            secure: !loopback_http,
        }
    }

    /// Wherever the cookies are `Secure` their names carry the `__Host-`
    /// prefix: a browser then takes them only from this very host over
    /// HTTPS, so a sibling subdomain cannot plant a browser value whose CSRF
    /// token it knows (login CSRF) or a session of its own (RFC 6265bis
    /// §4.1.3.2). Plain HTTP on loopback cannot have the prefix.
    pub fn name(&self, cookie: Cookie) -> &'static str {
        match (cookie, self.secure) {
            (Cookie::Session, true) => "__Host-tessera_session",
            (Cookie::Session, false) => "tessera_session",
            (Cookie::Browser, true) => "__Host-tessera_browser",
            (Cookie::Browser, false) => "tessera_browser",
        }
    }

    /// A `Set-Cookie` value; `max_age` in seconds, `None` for a browser-session
    /// cookie.
    pub fn set_cookie(
        &self,
        cookie: Cookie,
        value: &str,
        max_age: Option<i64>,
    ) -> Result<HeaderValue> {
        let name = self.name(cookie);
        let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
        if let Some(age) = max_age {
            cookie.push_str(&format!("; Max-Age={age}"));
        }
        if self.secure {
            cookie.push_str("; Secure");
        }
        HeaderValue::from_str(&cookie).map_err(Error::internal)
    }

    pub fn clear_cookie(&self, cookie: Cookie) -> Result<HeaderValue> {
        self.set_cookie(cookie, "", Some(0))
    }

    /// The cookie's value, if it has the shape of one we minted.
    pub fn value<'a>(&self, headers: &'a HeaderMap, cookie: Cookie) -> Option<&'a str> {
        let name = self.name(cookie);
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
            .filter(|v| {
                v.len() == COOKIE_VALUE_LEN
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
    }
}

/// The browser binding value, set by the web layer for every page request.
#[derive(Clone, Debug)]
pub struct BrowserId(pub String);

pub fn new_browser_id() -> String {
    digest::random_token(32)
}

/// Forms that carry nothing but their CSRF token (sign out, revoke, delete).
#[derive(serde::Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

/// A form that carries a CSRF token.
pub trait WithCsrf {
    fn csrf(&self) -> &str;
}

/// [`WithCsrf`] for forms that keep the token in a `csrf` field.
macro_rules! csrf_field {
    ($($form:ty),+) => {$(
        impl $crate::http::web::session::WithCsrf for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        }
    )+};
}
pub(crate) use csrf_field;

csrf_field!(CsrfForm);

impl<T: WithCsrf> WithCsrf for PageForm<T> {
    fn csrf(&self) -> &str {
        self.0.csrf()
    }
}

impl WithCsrf for FormFields {
    fn csrf(&self) -> &str {
        self.get("csrf")
    }
}

/// Forms a browser session may submit per quarter hour. A person submits a
/// few a minute; a script in a signed-in browser (the `/v1` API's limits do
/// not apply to pages) would create keys, apps and sessions by the thousand
/// a second. (A script with the password can open more sessions: what they
/// make is bounded per account as well, [`CREATIONS_PER_ACCOUNT`].)
pub const FORMS_PER_SESSION: Limit = Limit::per_quarter_hour(300);

/// A form posted by a signed-in member, its CSRF token already checked and
/// counted against [`FORMS_PER_SESSION`]: a handler that takes one cannot
/// forget either. `B` is the body extractor.
pub struct Submitted<B = PageForm<CsrfForm>> {
    pub member: Member,
    pub body: B,
}

impl<B> FromRequest<AppState> for Submitted<B>
where
    B: WithCsrf + FromRequest<AppState, Rejection = PageError> + Send,
{
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = request.into_parts();
        let member = Member::from_request_parts(&mut parts, state).await?;
        let body = B::from_request(Request::from_parts(parts, body), state).await?;
        member.visitor.check_csrf(body.csrf())?;
        // Per session, not per account: a thief's session filling the window
        // must not keep the owner from revoking what was stolen.
        let key = format!("console-forms:{}", member.account.session_id);
        let message = "too many changes in a short time; wait a few minutes and try again";
        attempts::hit(&state.store, &key, FORMS_PER_SESSION, message, state.now()).await?;
        Ok(Self { member, body })
    }
}

/// Forms that make something (an app, a key, a token-URL session, a trust
/// rule, a grant) an account may submit per quarter hour, from all its
/// sessions together: a script with the password can open session after
/// session, each with its own [`FORMS_PER_SESSION`]. Revoking is not
/// counted here, so a thief's creations never keep the owner from it.
pub const CREATIONS_PER_ACCOUNT: Limit = Limit::per_quarter_hour(100);

/// A [`Submitted`] form that makes something, counted against
/// [`CREATIONS_PER_ACCOUNT`] as well. (A form that may make something or
/// not, a consent or device decision, calls [`count_creation`] when it does:
/// denying is never held up.)
pub struct Creating<B = PageForm<CsrfForm>>(pub Submitted<B>);

/// Counts one thing `member`'s account makes against [`CREATIONS_PER_ACCOUNT`].
pub async fn count_creation(state: &AppState, member: &Member) -> Result<(), PageError> {
    let key = format!("console-creations:{}", member.account_id());
    let message = "this account made too many things in a short time; wait a few minutes and \
                   try again";
    attempts::hit(
        &state.store,
        &key,
        CREATIONS_PER_ACCOUNT,
        message,
        state.now(),
    )
    .await?;
    Ok(())
}

impl<B> FromRequest<AppState> for Creating<B>
where
    B: WithCsrf + FromRequest<AppState, Rejection = PageError> + Send,
{
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, PageError> {
        let submitted = Submitted::<B>::from_request(request, state).await?;
        count_creation(state, &submitted.member).await?;
        Ok(Self(submitted))
    }
}

fn csrf_for(binding: &str) -> String {
    digest::secret_hash(&format!("csrf:{binding}"))
}

/// A signed-in account.
#[derive(Clone, Debug)]
pub struct SignedIn {
    /// The session's public handle (`ws_…`).
    pub session_id: String,
    pub account_id: String,
    pub email: String,
}

/// Who is at the browser: the session (if any), the CSRF binding, and where the
/// request came from. Every page handler takes one.
#[derive(Clone, Debug)]
pub struct Visitor {
    pub signed_in: Option<SignedIn>,
    csrf: String,
    /// The client's address for per-address limits ([`ClientIp`]; unspecified
    /// in tests without a socket).
    pub client: std::net::IpAddr,
    /// The same, as the audit trail and session list show it; `None` without
    /// a socket.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Who asks for one-time codes from this browser, and alone may try them.
    pub requester: crate::otp::Requester,
}

impl Visitor {
    /// The token every form on this page carries.
    pub fn csrf_token(&self) -> &str {
        &self.csrf
    }

    /// Checks a submitted form's token, in constant time.
    pub fn check_csrf(&self, presented: &str) -> Result<()> {
        if tessera_proto::secret::constant_time_eq(presented.as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(Error::BadRequest(
                "This form has expired or was not sent from this site. Go back, reload the page and try again."
                    .into(),
            ))
        }
    }

    pub fn email(&self) -> Option<&str> {
        self.signed_in.as_ref().map(|s| s.email.as_str())
    }

    /// Where a sign-in comes from.
    pub fn browser(&self) -> Browser<'_> {
        Browser {
            client: self.client,
            ip: self.ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
        }
    }

    /// The shared layout of a console page in navigation `section`.
    pub fn layout(&self, title: impl Into<String>, section: &'static str) -> Layout {
        Layout {
            title: title.into(),
            email: self.email().map(str::to_owned),
            csrf: self.csrf.clone(),
            section,
        }
    }

    /// For pages shown outside the console (sign-in, consent): no navigation.
    pub fn bare_layout(&self, title: impl Into<String>) -> Layout {
        self.layout(title, "")
    }
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let now = state.now();
        let mut signed_in = None;
        let browser = parts
            .extensions
            .get::<BrowserId>()
            .map(|b| b.0.clone())
            .ok_or_else(|| Error::internal("web page outside the browser layer"))?;
        let requester = crate::otp::Requester::browser(&browser);
        let mut binding = browser;
        let policy = CookiePolicy::for_issuer(&state.settings.issuer);
        if let Some(secret) = policy.value(&parts.headers, Cookie::Session)
            && let Some(session) = web_sessions::current(&state.store, secret, now).await?
        {
            binding = secret.to_owned();
            signed_in = Some(SignedIn {
                session_id: session.id,
                account_id: session.account_id,
                email: session.email,
            });
        }
        let ClientIp(client) = ClientIp::of(&parts.headers, &parts.extensions, state);
        let ip = peer(&parts.extensions).map(|_| client.to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(200).collect());
        Ok(Self {
            signed_in,
            csrf: csrf_for(&binding),
            client,
            ip,
            user_agent,
            requester,
        })
    }
}

/// A visitor who must be signed in: otherwise the browser goes to the sign-in
/// page and comes back here afterwards.
#[derive(Clone, Debug)]
pub struct Member {
    pub visitor: Visitor,
    pub account: SignedIn,
}

impl Member {
    pub fn account_id(&self) -> &str {
        &self.account.account_id
    }

    pub fn ip(&self) -> Option<&str> {
        self.visitor.ip.as_deref()
    }

    /// The signed-in account acting from this browser, for the audit trail.
    pub fn actor(&self) -> Actor<'_> {
        Actor {
            account_id: &self.account.account_id,
            ip: self.ip(),
        }
    }
}

impl FromRequestParts<AppState> for Member {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let visitor = Visitor::from_request_parts(parts, state).await?;
        match visitor.signed_in.clone() {
            Some(account) => Ok(Self { visitor, account }),
            None => {
                // After sign-in, come back to the page (a GET; a form post is lost).
                let back = if parts.method == axum::http::Method::GET {
                    parts
                        .uri
                        .path_and_query()
                        .map(|p| p.as_str().to_owned())
                        .unwrap_or_else(|| "/".into())
                } else {
                    parts.uri.path().to_owned()
                };
                Err(Error::SignInRequired { return_to: back }.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_except_on_loopback_http() {
        assert!(!CookiePolicy::for_issuer("http://127.0.0.1:8080").secure);
        assert!(!CookiePolicy::for_issuer("http://localhost:8080").secure);
        assert!(!CookiePolicy::for_issuer("http://[::1]:8080").secure);
        assert!(CookiePolicy::for_issuer("https://127.0.0.1").secure);
        assert!(CookiePolicy::for_issuer("https://auth.example.com").secure);
        assert!(CookiePolicy::for_issuer("http://auth.example.com").secure);
    }

    #[test]
    fn cookie_attributes() {
        let policy = CookiePolicy { secure: true };
        let v = policy.set_cookie(Cookie::Session, "abc", Some(60)).unwrap();
        assert_eq!(
            v.to_str().unwrap(),
            "__Host-tessera_session=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        let policy = CookiePolicy { secure: false };
        let v = policy.set_cookie(Cookie::Browser, "abc", None).unwrap();
        assert_eq!(
            v.to_str().unwrap(),
            "tessera_browser=abc; Path=/; HttpOnly; SameSite=Lax"
        );
    }

    /// Under HTTPS, a cookie without the prefix (set by a sibling subdomain
    /// for the parent domain) is not ours.
    #[test]
    fn a_secure_deployment_reads_only_host_prefixed_cookies() {
        let value = digest::random_token(32);
        let mut h = HeaderMap::new();
        let planted = format!("tessera_browser={value}; tessera_session={value}");
        h.insert(header::COOKIE, HeaderValue::from_str(&planted).unwrap());
        let secure = CookiePolicy { secure: true };
        assert_eq!(secure.value(&h, Cookie::Browser), None);
        assert_eq!(secure.value(&h, Cookie::Session), None);
        let ours = format!("__Host-tessera_session={value}");
        h.insert(header::COOKIE, HeaderValue::from_str(&ours).unwrap());
        assert_eq!(secure.value(&h, Cookie::Session), Some(value.as_str()));
    }

    #[test]
    fn only_minted_cookie_values_are_read() {
        let good = digest::random_token(32);
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("x=1; tessera_session={good}")).unwrap(),
        );
        let policy = CookiePolicy { secure: false };
        assert_eq!(policy.value(&h, Cookie::Session), Some(good.as_str()));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("tessera_session=short"),
        );
        assert_eq!(policy.value(&h, Cookie::Session), None);
    }

    #[test]
    fn csrf_tokens_differ_by_binding_and_are_not_the_stored_hash() {
        let secret = digest::random_token(32);
        assert_ne!(csrf_for(&secret), digest::secret_hash(&secret));
        assert_ne!(csrf_for(&secret), csrf_for(&digest::random_token(32)));
    }
}
