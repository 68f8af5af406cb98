//! A scripted browser: a cookie jar, forms submitted with their hidden fields
//! (the CSRF token included), redirects followed within one origin. It signs
//! in on tesserad's pages (a code from the outbox, or a password), consents,
//! approves device logins, and walks npm oidc-provider's pages.
//!
//! [`CookieJar`] and [`Page`] do no IO, so in-process tests that send
//! requests through the router use them too.

use crate::Tesserad;
use std::collections::BTreeMap;
use std::sync::Mutex;
use ureq::http::{HeaderMap, StatusCode, header};

/// Cookies by name, as servers set them (`Set-Cookie`) and browsers send them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CookieJar(BTreeMap<String, String>);

impl CookieJar {
    /// Keeps what `Set-Cookie` values set; an empty value or `Max-Age=0`
    /// deletes the cookie.
    pub fn store(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(header::SET_COOKIE) {
            let text = value.to_str().unwrap_or_default();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            if value.is_empty() || attributes.to_ascii_lowercase().contains("max-age=0") {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    /// The `Cookie` request header.
    pub fn header(&self) -> String {
        self.0
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl std::ops::Deref for CookieJar {
    type Target = BTreeMap<String, String>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// Tests plant and steal cookies.
impl std::ops::DerefMut for CookieJar {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// One response, as the browser got it.
#[derive(Clone, Debug)]
pub struct Page {
    pub url: String,
    pub status: StatusCode,
    /// `Location`, as sent (often a path).
    pub location: Option<String>,
    pub headers: HeaderMap,
    pub html: String,
}

impl Page {
    pub fn new(url: &str, status: StatusCode, headers: HeaderMap, html: String) -> Self {
        let location = headers
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Self {
            url: url.to_owned(),
            status,
            location,
            headers,
            html,
        }
    }

    /// The CSRF token of the first form on the page.
    pub fn csrf(&self) -> String {
        let marker = r#"name="csrf" value=""#;
        let start = self.html.find(marker).expect("a form with a CSRF token") + marker.len();
        let end = start + self.html[start..].find('"').expect("closing quote");
        self.html[start..end].to_owned()
    }

    /// The named inputs of the form posting to `action` (an input without a
    /// value is there, empty, for the user to fill in).
    pub fn form(&self, action: &str) -> Option<Vec<(String, String)>> {
        let start = self.html.find(&format!("action=\"{action}\""))?;
        let form = form_at(&self.html, start);
        Some(
            inputs(form)
                .into_iter()
                .map(|(name, value)| (name, value.unwrap_or_default()))
                .collect(),
        )
    }

    /// The first form: its action and the inputs that have a value, which is
    /// what submitting it unchanged sends.
    pub fn first_form(&self) -> Option<(String, Vec<(String, String)>)> {
        let start = self.html.find("<form")?;
        let form = form_at(&self.html, start);
        let tag_end = form.find('>')?;
        let action = attribute(&form[..tag_end], "action").unwrap_or_default();
        let fields = inputs(&form[tag_end..])
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?)))
            .collect();
        Some((action, fields))
    }
}

/// Where following a link or a form ended.
#[derive(Debug)]
pub enum Landing {
    /// A page of the browser's origin.
    Page(Page),
    /// A redirect away from the origin (to a CLI's loopback listener), not
    /// followed: the URL a user would copy from the address bar.
    Away(String),
}

impl Landing {
    pub fn page(&self) -> &Page {
        match self {
            Landing::Page(page) => page,
            Landing::Away(url) => panic!("expected a page, was sent to {url}"),
        }
    }

    pub fn body(&self) -> &str {
        &self.page().html
    }
}

/// A browser on one origin (a tesserad or an oidc-provider). Cookies are kept
/// for that origin only. Every method takes `&self`: attacks send from one
/// browser on many threads at once (see [`crate::all_at_once`]).
pub struct Browser {
    agent: ureq::Agent,
    origin: String,
    jar: Mutex<CookieJar>,
    /// The address a trusted proxy says the browser is at (`X-Forwarded-For`).
    forwarded_for: Option<String>,
    /// Aborts instead of confirming on oidc-provider's device page.
    denying: bool,
}

impl Browser {
    pub fn new(origin: &str) -> Self {
        Self {
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .build()
                .into(),
            origin: origin.trim_end_matches('/').to_owned(),
            jar: Mutex::default(),
            forwarded_for: None,
            denying: false,
        }
    }

    /// At `address`, as the server's trusted proxy reports it.
    pub fn at(mut self, address: &str) -> Self {
        self.forwarded_for = Some(address.to_owned());
        self
    }

    /// A user who aborts on oidc-provider's device confirmation page.
    pub fn denying(mut self) -> Self {
        self.denying = true;
        self
    }

    pub fn cookies(&self) -> CookieJar {
        self.jar.lock().expect("cookie jar").clone()
    }

    pub fn set_cookies(&self, cookies: CookieJar) {
        *self.jar.lock().expect("cookie jar") = cookies;
    }

    /// One GET (`url` absolute, or a path on the origin), redirects not followed.
    pub fn get(&self, url: &str) -> Page {
        self.request(url, None, true)
    }

    /// One form POST, redirects not followed.
    pub fn post(&self, url: &str, fields: &[(&str, &str)]) -> Page {
        let fields: Vec<_> = fields
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        self.request(url, Some(fields), true)
    }

    /// [`Browser::post`] keeping none of the answer's cookies, so that
    /// requests sent at once do not race on the jar.
    pub fn post_shared(&self, url: &str, fields: &[(&str, &str)]) -> Page {
        let fields: Vec<_> = fields
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        self.request(url, Some(fields), false)
    }

    /// GET `url`, following redirects within the origin.
    pub fn go(&self, url: &str) -> Landing {
        self.follow(self.get(url))
    }

    /// Submits the page's form whose action is `action`, with `fill` set (a
    /// button's `name`/`value` included); follows redirects within the origin.
    pub fn submit(&self, page: &Page, action: &str, fill: &[(&str, &str)]) -> Landing {
        let mut fields = page.form(action).unwrap_or_else(|| {
            panic!(
                "no form posting to {action} on {}:\n{}",
                page.url, page.html
            )
        });
        for (name, value) in fill {
            fields.retain(|(n, _)| n != name);
            fields.push(((*name).to_owned(), (*value).to_owned()));
        }
        let target = self.absolute(&page.url, action);
        self.follow(self.request(&target, Some(fields), true))
    }

    /// Follows redirects and submits each page's first form unchanged from
    /// `url`, until a page that is neither, one that shows an error
    /// (`class="error"`), or a redirect away from the origin: how a user
    /// clicks through oidc-provider's test pages.
    pub fn walk(&self, url: &str) -> Landing {
        let mut landing = self.go(url);
        for _ in 0..30 {
            let Landing::Page(page) = &landing else {
                return landing;
            };
            let Some((action, mut fields)) = page.first_form() else {
                return landing;
            };
            if page.status != StatusCode::OK || page.html.contains("class=\"error\"") {
                return landing;
            }
            if self.denying && fields.iter().any(|(name, _)| name == "confirm") {
                fields.retain(|(name, _)| name != "confirm");
                fields.push(("abort".into(), "yes".into()));
            }
            let target = self.absolute(&page.url, &action);
            landing = self.follow(self.request(&target, Some(fields), true));
        }
        panic!("the browser walked 30 forms from {url} without landing");
    }

    /// Signs in on tesserad's page with a code mailed to `email` (read from
    /// `server`'s outbox), starting from `url` (`/signin`, or a page that
    /// sends strangers there); where signing in led.
    pub fn sign_in(&self, server: &Tesserad, email: &str, url: &str) -> Landing {
        let page = self.go(url);
        let mailed = server.otp_codes(email).len();
        let page = self.submit(page.page(), "/signin/code/request", &[("email", email)]);
        let code = server.otp_code_nth(email, mailed);
        self.submit(page.page(), "/signin/code", &[("code", &code)])
    }

    /// Signs in with a password an admin set, asking to go to `next`
    /// afterwards: the answer to the sign-in form, not followed.
    pub fn sign_in_with_password(&self, email: &str, password: &str, next: &str) -> Page {
        let csrf = self.get("/signin").csrf();
        let fields = [
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", password),
            ("next", next),
        ];
        self.post("/signin/password", &fields)
    }

    /// Answers tesserad's consent page (`decision`: `approve` or `deny`);
    /// where the answer redirects (the client's redirect URI: away).
    pub fn consent(&self, page: &Page, decision: &str) -> Landing {
        self.submit(page, "/oauth/authorize", &[("decision", decision)])
    }

    /// Signs in and approves the device login whose verification URL is `url`.
    pub fn approve_device(&self, server: &Tesserad, email: &str, url: &str) -> Landing {
        let landing = self.sign_in(server, email, url);
        let mut page = landing.page().clone();
        if page.form("/device/decision").is_none() {
            page = self.submit(&page, "/device", &[]).page().clone();
        }
        self.submit(&page, "/device/decision", &[("decision", "approve")])
    }

    fn absolute(&self, base: &str, reference: &str) -> String {
        url::Url::parse(base)
            .and_then(|base| base.join(reference))
            .unwrap_or_else(|e| panic!("{reference} from {base}: {e}"))
            .to_string()
    }

    /// Follows `page`'s redirects within the origin.
    fn follow(&self, mut page: Page) -> Landing {
        for _ in 0..20 {
            if !page.status.is_redirection() {
                return Landing::Page(page);
            }
            let location = page.location.as_deref().expect("a redirect's Location");
            let next = self.absolute(&page.url, location);
            if !next.starts_with(&self.origin) {
                return Landing::Away(next);
            }
            page = self.get(&next);
        }
        panic!("more than 20 redirects, the last to {}", page.url);
    }

    fn request(&self, url: &str, form: Option<Vec<(String, String)>>, keep: bool) -> Page {
        let url = if url.starts_with('/') {
            format!("{}{url}", self.origin)
        } else {
            url.to_owned()
        };
        let own = url.starts_with(&self.origin);
        let cookie = if own {
            self.jar.lock().expect("cookie jar").header()
        } else {
            String::new()
        };
        let result = match form {
            Some(fields) => {
                let mut post = self
                    .agent
                    .post(&url)
                    .header("cookie", &cookie)
                    .header("origin", &self.origin);
                if let Some(address) = &self.forwarded_for {
                    post = post.header("x-forwarded-for", address);
                }
                let body = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields)
                    .finish();
                post.content_type("application/x-www-form-urlencoded")
                    .send(body)
            }
            None => {
                let mut get = self.agent.get(&url).header("cookie", &cookie);
                if let Some(address) = &self.forwarded_for {
                    get = get.header("x-forwarded-for", address);
                }
                get.call()
            }
        };
        let mut response = result.unwrap_or_else(|e| panic!("{url}: {e}"));
        if own && keep {
            self.jar
                .lock()
                .expect("cookie jar")
                .store(response.headers());
        }
        let status = response.status();
        let headers = response.headers().clone();
        let html = response.body_mut().read_to_string().unwrap_or_default();
        Page::new(&url, status, headers, html)
    }
}

/// The form starting at byte `start` of `html`, up to its `</form>`.
fn form_at(html: &str, start: usize) -> &str {
    let end = html[start..]
        .find("</form>")
        .map_or(html.len(), |i| start + i);
    &html[start..end]
}

/// The inputs of a form with a name: `(name, value)`.
fn inputs(form: &str) -> Vec<(String, Option<String>)> {
    let mut found = Vec::new();
    let mut rest = form;
    while let Some(i) = rest.find("<input") {
        let tag = &rest[i..];
        let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
        if let Some(name) = attribute(tag, "name") {
            found.push((name, attribute(tag, "value")));
        }
        rest = &rest[i + tag.len()..];
    }
    found
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let len = tag[start..].find('"')?;
    Some(unescape_html(&tag[start..start + len]))
}

/// Undoes HTML escaping: the named entities templates emit and numeric ones.
fn unescape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|&end| end <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_entities_are_undone_once() {
        assert_eq!(
            unescape_html("/a?x=1&#38;y=2&amp;z=&lt;3&gt;&#x27;&q"),
            "/a?x=1&y=2&z=<3>'&q"
        );
        assert_eq!(unescape_html("&amp;#38;"), "&#38;");
    }

    fn page(html: &str) -> Page {
        Page::new(
            "http://127.0.0.1:1/x",
            StatusCode::OK,
            HeaderMap::new(),
            html.into(),
        )
    }

    #[test]
    fn forms_are_read_with_their_hidden_fields() {
        let page = page(concat!(
            r#"<form method="post" action="/one"><input type="hidden" name="csrf" value="t&amp;k">"#,
            r#"<input name="email"></form>"#,
            r#"<form action="/two"><input name="a" value="1"><input name="b"></form>"#,
        ));
        assert_eq!(
            page.csrf(),
            "t&amp;k",
            "the CSRF token is sent as the page has it"
        );
        assert_eq!(
            page.form("/one").unwrap(),
            [
                ("csrf".into(), "t&k".into()),
                ("email".into(), String::new())
            ]
        );
        assert_eq!(page.form("/two").unwrap().len(), 2);
        assert!(page.form("/three").is_none());
        let (action, fields) = page.first_form().unwrap();
        assert_eq!(action, "/one");
        assert_eq!(fields, [("csrf".to_owned(), "t&k".to_owned())]);
    }

    #[test]
    fn cookies_are_set_replaced_and_deleted() {
        let mut jar = CookieJar::default();
        let mut headers = HeaderMap::new();
        for value in ["a=1; Path=/", "b=2; HttpOnly", "c=3"] {
            headers.append(header::SET_COOKIE, value.parse().unwrap());
        }
        jar.store(&headers);
        assert_eq!(jar.header(), "a=1; b=2; c=3");
        let mut headers = HeaderMap::new();
        for value in ["a=; Path=/", "b=9; Max-Age=0", "c=4"] {
            headers.append(header::SET_COOKIE, value.parse().unwrap());
        }
        jar.store(&headers);
        assert_eq!(jar.header(), "c=4");
    }
}
