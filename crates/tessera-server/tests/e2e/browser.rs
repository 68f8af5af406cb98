//! A browser in miniature over a real socket: a cookie jar, CSRF tokens read off
//! pages, and password sign-in after `tesserad admin account set-password`.

use crate::support::Server;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, HeaderMap, LOCATION, SET_COOKIE};
use std::collections::BTreeMap;

pub const PASSWORD: &str = "correct horse battery staple";

/// An account that can sign in with [`PASSWORD`].
pub fn account_with_password(server: &Server, email: &str) {
    server.admin(&["account", "create", "--email", email]);
    let out = server.set_password(email, PASSWORD);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub headers: HeaderMap,
    pub html: String,
}

impl Page {
    /// The CSRF token of the first form on the page.
    pub fn csrf(&self) -> String {
        let marker = r#"name="csrf" value=""#;
        let start = self.html.find(marker).expect("a form with a CSRF token") + marker.len();
        let end = start + self.html[start..].find('"').expect("closing quote");
        self.html[start..end].to_owned()
    }
}

pub struct Browser<'s> {
    server: &'s Server,
    /// Name -> value, as the server set them.
    pub cookies: BTreeMap<String, String>,
    /// The address a trusted proxy says the browser is at (`X-Forwarded-For`).
    from: Option<String>,
}

impl<'s> Browser<'s> {
    pub fn new(server: &'s Server) -> Self {
        Self {
            server,
            cookies: BTreeMap::new(),
            from: None,
        }
    }

    /// A browser at `address`, as the test's trusted proxy reports it (for a
    /// server started with `attacks_limits::behind_proxy`).
    pub fn at(server: &'s Server, address: &str) -> Self {
        Self {
            from: Some(address.to_owned()),
            ..Self::new(server)
        }
    }

    /// The browser's cookies and address on a request.
    fn sent(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let request = request.header(COOKIE, pairs.join("; "));
        match &self.from {
            Some(address) => request.header("x-forwarded-for", address),
            None => request,
        }
    }

    async fn keep(&mut self, response: reqwest::Response) -> Page {
        for value in response.headers().get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (pair, attrs) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        page(response).await
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.server.http().get(self.server.endpoint(path));
        let response = self.sent(request).send().await.expect("request");
        self.keep(response).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let response = self.post_shared_request(path, fields).await;
        self.keep(response).await
    }

    /// [`Browser::post`] without keeping the answer's cookies, so that one
    /// browser can send many at once (`join_all`).
    pub async fn post_shared(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        page(self.post_shared_request(path, fields).await).await
    }

    async fn post_shared_request(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let request = self.server.http().post(self.server.endpoint(path));
        self.sent(request)
            .form(fields)
            .send()
            .await
            .expect("request")
    }

    /// Signs in with a password an admin set, asking to go to `next` afterwards.
    pub async fn sign_in(&mut self, email: &str, password: &str, next: &str) -> Page {
        let csrf = self.get("/signin").await.csrf();
        let fields = [
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", password),
            ("next", next),
        ];
        self.post("/signin/password", &fields).await
    }

    /// Signs in with an emailed code (the `skip`-th mail to `email`).
    pub async fn sign_in_with_code(&mut self, email: &str, skip: usize) {
        let csrf = self.get("/signin").await.csrf();
        let requested = self
            .post("/signin/code/request", &[("csrf", &csrf), ("email", email)])
            .await;
        assert_eq!(requested.status, StatusCode::OK);
        let code = self.server.otp_code_nth(email, skip);
        let fields = [("csrf", csrf.as_str()), ("email", email), ("code", &code)];
        let signed_in = self.post("/signin/code", &fields).await;
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    }
}

async fn page(response: reqwest::Response) -> Page {
    let status = response.status();
    let headers = response.headers().clone();
    let location = headers
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_owned());
    Page {
        status,
        location,
        headers,
        html: response.text().await.unwrap(),
    }
}
