//! The pages through the router (no socket), with a cookie jar and a fixed clock.
//! The real browser runs them again in `tests/interop/browser`.

use crate::testing::{Fixture, body_json};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tessera_testkit::{CookieJar, Page};

/// A browser in miniature on the router: tessera-testkit's cookie jar and
/// pages, with requests sent in process.
pub struct Browser<'a> {
    fx: &'a Fixture,
    cookies: CookieJar,
    /// The client's address as the socket would report it; unspecified if `None`.
    pub peer: Option<std::net::SocketAddr>,
}

impl<'a> Browser<'a> {
    pub fn new(fx: &'a Fixture) -> Self {
        Self {
            fx,
            cookies: CookieJar::default(),
            peer: None,
        }
    }

    /// Sends `request` with the browser's cookies, from its `peer`.
    async fn send(&mut self, mut request: Request<Body>) -> Page {
        let cookies = header::HeaderValue::from_str(&self.cookies.header()).unwrap();
        request.headers_mut().insert(header::COOKIE, cookies);
        if let Some(peer) = self.peer {
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
        }
        let path = request.uri().to_string();
        let response = self.fx.send(request).await;
        self.cookies.store(response.headers());
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        let html = String::from_utf8(bytes.to_vec()).unwrap();
        Page::new(&path, parts.status, parts.headers, html)
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.send(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let request = Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    /// A browser signed in with a password as `a@example.com` (made here).
    pub async fn member(fx: &'a Fixture) -> Self {
        account_with_password(fx, "a@example.com").await;
        let mut browser = Self::new(fx);
        browser
            .sign_in_with_password("a@example.com", PASSWORD)
            .await;
        browser
    }

    /// GETs `page` for its form's CSRF token, then POSTs that and `fields` to
    /// `action`, as a person filling in the form would.
    pub async fn submit(&mut self, page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.get(page).await.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }

    /// Answers the consent page shown for the authorization request `path`:
    /// the form carries the request in hidden fields.
    pub async fn consent(&mut self, page: &Page, path: &str, decision: &str) -> Page {
        let url = url::Url::parse(&format!("http://x{path}")).unwrap();
        let request: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let csrf = page.csrf();
        let mut fields = vec![("csrf", csrf.as_str()), ("decision", decision)];
        fields.extend(request.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        self.post("/oauth/authorize", &fields).await
    }

    /// Follows the redirect `page` answered with, as a browser does (a GET).
    pub async fn follow(&mut self, page: &Page) -> Page {
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
        let location = page.location.as_deref().expect("a Location");
        self.get(location).await
    }

    pub fn has_cookie(&self, name: &str) -> bool {
        self.cookies.contains_key(name)
    }

    /// Who this browser is when it asks for one-time codes.
    pub fn requester(&self) -> String {
        let requester = crate::otp::Requester::browser(&self.cookies["tessera_browser"]);
        requester.as_str().to_owned()
    }

    /// Signs in with a password an admin set.
    pub async fn sign_in_with_password(&mut self, email: &str, password: &str) -> Page {
        let form = self.get("/signin?next=/settings/api").await;
        let csrf = form.csrf();
        self.post(
            "/signin/password",
            &[
                ("csrf", &csrf),
                ("email", email),
                ("password", password),
                ("next", "/settings/api"),
            ],
        )
        .await
    }
}

const PASSWORD: &str = "correct horse battery";

async fn account_with_password(fx: &Fixture, email: &str) -> String {
    let id = fx.account(email).await;
    let hash = crate::password::hash(PASSWORD).unwrap();
    fx.state
        .store
        .set_account_password(&id, Some(&hash), fx.clock_now())
        .await
        .unwrap();
    id
}

/// The text between `start` and the next `end`, after `after`.
fn between<'h>(html: &'h str, after: &str, start: &str, end: &str) -> &'h str {
    let from = html.find(after).expect(after);
    let rest = &html[from..];
    let s = rest.find(start).expect(start) + start.len();
    let e = s + rest[s..].find(end).expect(end);
    &rest[s..e]
}

#[tokio::test]
async fn console_pages_send_strangers_to_sign_in() {
    let fx = Fixture::new().await;
    let mut browser = Browser::new(&fx);
    for path in [
        "/settings/api",
        "/developer/apps",
        "/settings/sessions",
        "/settings/activity",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        let expected = format!(
            "/signin?next={}",
            url::form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>()
        );
        assert_eq!(page.location.as_deref(), Some(expected.as_str()));
    }
}

/// Path and query values that do not parse are error pages (or, for a mere
/// notice, ignored), never axum's plain-text rejections.
#[tokio::test]
async fn unparsable_paths_and_queries_are_error_pages() {
    let fx = Fixture::new().await;
    let mut stranger = Browser::new(&fx);
    for path in ["/signin?next=/a&next=/b", "/device?user_code=A&user_code=B"] {
        let page = stranger.get(path).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(page.html.contains("malformed"), "{path}: {}", page.html);
    }
    let mut browser = Browser::member(&fx).await;
    for path in ["/settings/api/%FF/revoke", "/developer/apps/%FF"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(page.html.contains("<html"), "{path}: {}", page.html);
    }
    let page = browser.get("/settings/api?done=%FF").await;
    assert_eq!(page.status, StatusCode::OK);
}

#[tokio::test]
async fn password_sign_in_starts_a_session_and_sign_out_ends_it() {
    let fx = Fixture::new().await;
    account_with_password(&fx, "a@example.com").await;
    let mut browser = Browser::new(&fx);
    let page = browser
        .sign_in_with_password("a@example.com", PASSWORD)
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location.as_deref(), Some("/settings/api"));
    assert!(browser.has_cookie("tessera_session"));

    let keys = browser.get("/settings/api").await;
    assert_eq!(keys.status, StatusCode::OK);
    assert!(keys.html.contains("a@example.com"));

    let csrf = keys.csrf();
    let out = browser.post("/signout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(!browser.has_cookie("tessera_session"));
    assert_eq!(
        browser.get("/settings/api").await.status,
        StatusCode::SEE_OTHER
    );
}

/// An address is one account however its accents were typed (composed or
/// not) and whatever its case.
#[tokio::test]
async fn an_address_signs_in_however_its_accents_were_typed() {
    let fx = Fixture::new().await;
    account_with_password(&fx, "jos\u{e9}@example.com").await;
    let mut browser = Browser::new(&fx);
    let page = browser
        .sign_in_with_password("Jose\u{301}@Example.com", PASSWORD)
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    assert!(browser.has_cookie("tessera_session"));
}

/// A form's fields sent as something else than a form (JSON, multipart, no
/// type at all) are refused, by the forms read as name/value pairs too.
#[tokio::test]
async fn a_body_not_sent_as_a_form_is_refused() {
    let fx = Fixture::new().await;
    let mut browser = Browser::member(&fx).await;
    let csrf = browser.get("/settings/api").await.csrf();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("csrf", csrf.as_str()), ("name", "sent otherwise")])
        .append_pair("scope", "THIRD_PARTY_OPERATION")
        .finish();
    for content_type in [None, Some("application/json"), Some("multipart/form-data")] {
        let mut request = Request::post("/settings/api");
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let page = browser
            .send(request.body(Body::from(body.clone())).unwrap())
            .await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{content_type:?}");
    }
    let keys = browser.get("/settings/api").await;
    assert!(!keys.html.contains("sent otherwise"), "no key was made");
}

/// An operator sets or removes a password because it leaked: whoever signed
/// in with it is signed out.
#[tokio::test]
async fn a_changed_password_signs_the_account_out_everywhere() {
    let fx = Fixture::new().await;
    let mut browser = Browser::member(&fx).await;
    assert_eq!(browser.get("/settings/api").await.status, StatusCode::OK);
    let store = &fx.state.store;
    let account = store.account_by_email("a@example.com").await.unwrap();
    let id = account.unwrap().id;
    let ended = store.set_account_password(&id, None, fx.clock_now());
    assert_eq!(ended.await.unwrap(), 1);
    let page = browser.get("/settings/api").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_stolen_session_cookie_stops_working_after_sign_out() {
    let fx = Fixture::new().await;
    let mut browser = Browser::member(&fx).await;
    let copy = browser.cookies.clone();
    let csrf = browser.get("/settings/api").await.csrf();
    browser.post("/signout", &[("csrf", &csrf)]).await;
    let mut thief = Browser::new(&fx);
    thief.cookies = copy;
    assert_eq!(
        thief.get("/settings/api").await.status,
        StatusCode::SEE_OTHER
    );
}

/// Signing out of a session that has already ended (it expired, or was
/// signed out in another tab) lands on the sign-in page like any sign-out, not
/// on an error about the form: the form's token was made from that session.
#[tokio::test]
async fn signing_out_after_the_session_ended_lands_signed_out() {
    let fx = Fixture::new().await;
    let mut browser = Browser::member(&fx).await;
    let csrf = browser.get("/settings/api").await.csrf();
    let mut other_tab = Browser::new(&fx);
    other_tab.cookies = browser.cookies.clone();
    let first = other_tab.post("/signout", &[("csrf", &csrf)]).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    let again = browser.post("/signout", &[("csrf", &csrf)]).await;
    let mut stranger = Browser::new(&fx);
    let never = stranger.post("/signout", &[("csrf", "stale")]).await;
    let mut later = Browser::new(&fx);
    later.sign_in_with_password("a@example.com", PASSWORD).await;
    let csrf = later.get("/settings/api").await.csrf();
    fx.clock.advance(crate::web_sessions::SESSION_TTL_SECS);
    let expired = later.post("/signout", &[("csrf", &csrf)]).await;
    for page in [again, expired, never] {
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
        assert_eq!(page.location.as_deref(), Some("/signin"));
        let cleared = page.headers[header::SET_COOKIE].to_str().unwrap();
        assert!(cleared.starts_with("tessera_session=;"), "{cleared}");
    }
    assert!(!browser.has_cookie("tessera_session"));
}

#[tokio::test]
async fn wrong_password_and_unknown_account_look_the_same() {
    let fx = Fixture::new().await;
    account_with_password(&fx, "a@example.com").await;
    let mut browser = Browser::new(&fx);
    let wrong = browser
        .sign_in_with_password("a@example.com", "not the password")
        .await;
    let nobody = browser
        .sign_in_with_password("b@example.com", PASSWORD)
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(nobody.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.html.contains("do not match"));
    assert!(nobody.html.contains("do not match"));
    assert!(!browser.has_cookie("tessera_session"));
}

#[tokio::test]
async fn password_guessing_pauses_after_ten_failures() {
    let fx = Fixture::new().await;
    account_with_password(&fx, "a@example.com").await;
    let mut browser = Browser::new(&fx);
    for _ in 0..10 {
        browser
            .sign_in_with_password("a@example.com", "guess guess guess")
            .await;
    }
    let page = browser
        .sign_in_with_password("a@example.com", PASSWORD)
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.html.contains("Too many failed attempts"));
    fx.clock.advance(15 * 60 + 1);
    let page = browser
        .sign_in_with_password("a@example.com", PASSWORD)
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn forms_without_the_right_csrf_token_are_refused() {
    let fx = Fixture::new().await;
    account_with_password(&fx, "a@example.com").await;
    let mut browser = Browser::new(&fx);
    browser.get("/signin").await;
    let page = browser
        .post(
            "/signin/password",
            &[
                ("csrf", "forged"),
                ("email", "a@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.html.contains("This form has expired"));
    assert!(!browser.has_cookie("tessera_session"));

    // Signed in, a token from before sign-in no longer counts.
    let old = browser.get("/signin").await.csrf();
    browser
        .sign_in_with_password("a@example.com", PASSWORD)
        .await;
    let page = browser
        .post(
            "/settings/api",
            &[
                ("csrf", &old),
                ("name", "x"),
                ("scope", "THIRD_PARTY_OPERATION"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_key_is_shown_once_works_and_stops_working_when_revoked() {
    let fx = Fixture::new().await;
    let mut browser = Browser::member(&fx).await;
    let created = browser
        .submit(
            "/settings/api",
            "/settings/api",
            &[
                ("name", "laptop"),
                ("expires", "2026-01-10"),
                ("scope", "THIRD_PARTY_OPERATION"),
            ],
        )
        .await;
    // Post/Redirect/Get: the key is on the page the form redirects to.
    assert_eq!(created.status, StatusCode::SEE_OTHER);
    let shown_at = created.location.clone().unwrap();
    assert!(shown_at.ends_with("/created"), "{shown_at}");
    let created = browser.follow(&created).await;
    assert_eq!(created.status, StatusCode::OK);
    let key = between(&created.html, r#"id="secret""#, r#"value=""#, "\"").to_owned();
    assert!(key.starts_with("eyJ"), "{key}");
    assert!(!shown_at.contains(&key), "never in a URL");
    assert!(
        created
            .html
            .contains(&format!("Authorization: token {key}"))
    );

    let list = browser.get("/settings/api").await;
    assert!(!list.html.contains(&key), "the key is shown only once");
    assert!(list.html.contains("laptop"));
    assert!(
        list.html.contains("Expires within 14 days"),
        "expiry warning"
    );

    let me = fx.get("/v1/me", &format!("token {key}")).await;
    assert_eq!(me.status(), StatusCode::OK);
    let key_id = body_json(me).await["credential_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let confirm = browser.get(&format!("/settings/api/{key_id}/revoke")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    let revoked = browser
        .post(
            &format!("/settings/api/{key_id}/revoke"),
            &[("csrf", &confirm.csrf())],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(
        fx.get("/v1/me", &format!("token {key}")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let activity = browser.get("/settings/activity").await;
    assert!(activity.html.contains("API key created"));
    assert!(activity.html.contains("API key revoked"));
    assert!(activity.html.contains(&key_id));
}

/// The console's forms have a limit of their own, per session: a script in
/// a signed-in browser cannot mint keys by the thousand (the `/v1` limits are
/// not on pages).
#[tokio::test]
async fn a_session_submits_a_bounded_number_of_forms() {
    let fx = Fixture::new().await;
    let mut browser = Browser::member(&fx).await;
    let csrf = browser.get("/settings/sessions").await.csrf();
    let form = [("csrf", csrf.as_str())];
    let revoke = "/settings/sessions/ws_unknown/revoke";
    let max = super::session::FORMS_PER_SESSION.max;
    for _ in 0..max {
        let answered = browser.post(revoke, &form).await;
        assert_eq!(answered.status, StatusCode::NOT_FOUND);
    }
    let refused = browser.post(revoke, &form).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    // As every 429 (RFC 6585 §4): when the form will be taken again.
    let window = super::session::FORMS_PER_SESSION.window_secs;
    assert_eq!(
        refused.headers[header::RETRY_AFTER],
        window.to_string().as_str()
    );
    assert!(
        refused.html.contains("wait a few minutes"),
        "{}",
        refused.html
    );
    // The account's other sessions (its owner's) are not held up.
    let mut owner = Browser::new(&fx);
    owner.sign_in_with_code("a@example.com", "/").await;
    let csrf = owner.get("/settings/sessions").await.csrf();
    let answered = owner.post(revoke, &[("csrf", csrf.as_str())]).await;
    assert_eq!(answered.status, StatusCode::NOT_FOUND);
}

/// What an account makes through the pages is bounded across its sessions
/// (a script with the password opens session after session); revoking is
/// not, so the owner can always undo a thief's work.
#[tokio::test]
async fn an_account_makes_a_bounded_number_of_things_across_sessions() {
    let fx = Fixture::new().await;
    let max = super::session::CREATIONS_PER_ACCOUNT.max;
    let mut first = Browser::member(&fx).await;
    let mut second = Browser::new(&fx);
    second.sign_in_with_code("a@example.com", "/").await;
    let mut made = 0;
    for browser in [&mut first, &mut second] {
        let csrf = browser.get("/settings/sessions").await.csrf();
        for _ in 0..max / 2 {
            let created = browser
                .post("/settings/sessions/token-url", &[("csrf", &csrf)])
                .await;
            assert_eq!(created.status, StatusCode::SEE_OTHER);
            made += 1;
        }
    }
    assert_eq!(made, max);
    let csrf = second.get("/settings/sessions").await.csrf();
    let refused = second
        .post("/settings/sessions/token-url", &[("csrf", &csrf)])
        .await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.html.contains("too many things"), "{}", refused.html);
    let revoked = second
        .post("/settings/sessions/ws_unknown/revoke", &[("csrf", &csrf)])
        .await;
    assert_eq!(revoked.status, StatusCode::NOT_FOUND, "not refused");
    // A device asking in the account's name is denied, not approved.
    let account = fx.state.store.account_by_email("a@example.com").await;
    let client = public_app(&fx, &account.unwrap().unwrap().id).await;
    let (user_code, _, _) = device_code(&fx, &client).await;
    let approve = [("user_code", user_code.as_str()), ("decision", "approve")];
    let refused = second.submit("/device", "/device/decision", &approve).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let deny = [("user_code", user_code.as_str()), ("decision", "deny")];
    let denied = second.submit("/device", "/device/decision", &deny).await;
    assert_eq!(denied.status, StatusCode::OK);
    assert!(denied.html.contains("Request denied"));
}

#[tokio::test]
async fn keys_of_other_accounts_cannot_be_revoked() {
    let fx = Fixture::new().await;
    account_with_password(&fx, "a@example.com").await;
    let other = fx.account("b@example.com").await;
    let issued = fx.api_key(&other, None).await;
    let mut browser = Browser::new(&fx);
    browser
        .sign_in_with_password("a@example.com", PASSWORD)
        .await;
    let csrf = browser.get("/settings/api").await.csrf();
    let page = browser
        .post(
            &format!("/settings/api/{}/revoke", issued.record.id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let record = fx
        .state
        .store
        .api_key(&issued.record.id)
        .await
        .unwrap()
        .unwrap();
    assert!(record.revoked_at.is_none());
}

/// A form's fields, as name/value pairs.
type Fields<'a> = &'a [(&'a str, &'a str)];

#[tokio::test]
async fn bad_console_forms_are_explained_on_the_page() {
    let fx = Fixture::new().await;
    let mut browser = Browser::member(&fx).await;
    let scope = ("scope", "THIRD_PARTY_OPERATION");
    let (keys, apps) = ("/settings/api", "/developer/apps");
    let cases: [(&str, Fields, &str); 9] = [
        (
            keys,
            &[("name", "old"), ("expires", "2020-01-01"), scope],
            "must be in the future",
        ),
        (
            keys,
            &[("name", "x"), ("scope", "admin")],
            "cannot be granted here",
        ),
        (keys, &[("name", ""), scope], "Give the key a name"),
        (
            keys,
            &[("name", "x"), ("expires", "soon"), scope],
            "Enter the expiry date as YYYY-MM-DD",
        ),
        (keys, &[("name", "x")], "Choose at least one scope"),
        (
            apps,
            &[
                ("name", "CLI"),
                ("client_type", "public"),
                ("grant", "client_credentials"),
            ],
            "cannot use client_credentials",
        ),
        (apps, &[("name", "CLI")], "Choose at least one grant type"),
        (
            apps,
            &[("name", "Web"), ("grant", "authorization_code")],
            "needs at least one redirect URI",
        ),
        (
            apps,
            &[("name", "Tessera-CLI"), ("grant", "device_code")],
            "Choose a name of your own",
        ),
    ];
    for (page, fields, explained) in cases {
        let answer = browser.submit(page, page, fields).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{explained}");
        assert!(answer.html.contains(explained), "{explained}");
    }
}

#[tokio::test]
async fn apps_register_rotate_switch_and_delete() {
    let fx = Fixture::new().await;
    let mut browser = Browser::member(&fx).await;
    let created = browser
        .submit(
            "/developer/apps",
            "/developer/apps",
            &[
                ("name", "Reporting <script>"),
                ("client_type", "confidential"),
                ("mode", "development"),
                (
                    "redirect_uris",
                    "https://app.example.com/cb\nhttp://127.0.0.1/callback",
                ),
                ("grant", "authorization_code"),
                ("grant", "client_credentials"),
            ],
        )
        .await;
    let created = browser.follow(&created).await;
    assert_eq!(created.status, StatusCode::OK);
    assert!(created.html.contains("The app is registered."));
    assert!(
        created.html.contains("Reporting &#60;script&#62;")
            || created.html.contains("Reporting &lt;script&gt;")
    );
    let client_id = between(&created.html, r#"id="client-id""#, ">", "<").to_owned();
    let secret = between(&created.html, r#"id="secret""#, r#"value=""#, "\"").to_owned();
    let app = fx.stored_app(&client_id).await.unwrap();
    assert_eq!(
        app.client_secret_hash.as_deref(),
        Some(crate::digest::secret_hash(&secret).as_str())
    );
    assert!(created.html.contains("100 requests/min"));

    let app_page = format!("/developer/apps/{client_id}");
    let confirm = browser.get(&format!("{app_page}/secret")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.html.contains("Rotate the client secret of"));
    let rotated = browser
        .post(&format!("{app_page}/secret"), &[("csrf", &confirm.csrf())])
        .await;
    let rotated = browser.follow(&rotated).await;
    assert_eq!(rotated.status, StatusCode::OK);
    let new_secret = between(&rotated.html, r#"id="secret""#, r#"value=""#, "\"").to_owned();
    let app = fx.stored_app(&client_id).await.unwrap();
    let stored = app.client_secret_hash.unwrap();
    assert_eq!(stored, crate::digest::secret_hash(&new_secret));
    assert_ne!(stored, crate::digest::secret_hash(&secret));
    let shown = browser.get(&format!("/developer/apps/{client_id}")).await;
    assert!(!shown.html.contains(&new_secret), "a secret is shown once");

    let switched = browser
        .submit(
            &app_page,
            &format!("{app_page}/mode"),
            &[("mode", "production")],
        )
        .await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER);
    let shown = browser.get(switched.location.as_deref().unwrap()).await;
    assert!(shown.html.contains("500 requests/min"));

    let deleted = browser
        .submit(&app_page, &format!("{app_page}/delete"), &[])
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert!(fx.stored_app(&client_id).await.is_none());
    let activity = browser.get("/settings/activity").await;
    for what in [
        "App registered",
        "App secret rotated",
        "App mode changed",
        "App deleted",
    ] {
        assert!(activity.html.contains(what), "{what}");
    }
}

/// Creating a key answers with a redirect to the page that shows it: only
/// the session that made it sees it, once; a reload of that page (or the back
/// button) makes no other key and goes to the list, which says why.
#[tokio::test]
async fn a_new_keys_page_shows_it_once_and_a_reload_makes_no_other() {
    let fx = Fixture::new().await;
    let mut browser = Browser::member(&fx).await;
    let mut other_session = Browser::new(&fx);
    other_session
        .sign_in_with_password("a@example.com", PASSWORD)
        .await;
    let fields = [("name", "ci"), ("scope", "THIRD_PARTY_OPERATION")];
    let created = browser
        .submit("/settings/api", "/settings/api", &fields)
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER);
    let elsewhere = other_session.follow(&created).await;
    assert_eq!(
        elsewhere.status,
        StatusCode::SEE_OTHER,
        "not this session's"
    );
    // A HEAD (a link checker, a prefetch) leaves the key for the page.
    let path = created.location.clone().unwrap();
    let head = browser
        .send(Request::head(&path).body(Body::empty()).unwrap())
        .await;
    assert_eq!(head.status, StatusCode::OK);
    let shown = browser.follow(&created).await;
    assert_eq!(shown.status, StatusCode::OK);
    let key = between(&shown.html, r#"id="secret""#, r#"value=""#, "\"").to_owned();
    assert!(key.starts_with("eyJ"), "{key}");

    let reloaded = browser.follow(&created).await;
    assert_eq!(reloaded.status, StatusCode::SEE_OTHER);
    assert_eq!(
        reloaded.location.as_deref(),
        Some("/settings/api?done=key_shown")
    );
    let list = browser.follow(&reloaded).await;
    assert!(list.html.contains("A new key is shown only once"));
    for page in [&elsewhere, &reloaded, &list] {
        assert!(!page.html.contains(&key), "shown once");
    }
    let account = fx.state.store.account_by_email("a@example.com").await;
    let account = account.unwrap().unwrap().id;
    let keys = fx.state.store.list_api_keys(Some(&account)).await.unwrap();
    assert_eq!(keys.len(), 1, "a reload makes no other key");
}

/// Rotating a secret asks first, like deleting: the app's page links to a
/// confirmation whose form rotates, and whose answer redirects to the page
/// that shows the new secret once. Neither looking at the confirmation nor
/// reloading the secret's page rotates it again; registering an app shows its
/// first secret the same way.
#[tokio::test]
async fn rotating_a_secret_asks_first_and_a_reload_rotates_nothing() {
    let fx = Fixture::new().await;
    let mut browser = Browser::member(&fx).await;
    let fields = [
        ("name", "Billing"),
        ("client_type", "confidential"),
        ("grant", "client_credentials"),
    ];
    let registered = browser
        .submit("/developer/apps", "/developer/apps", &fields)
        .await;
    let first = browser.follow(&registered).await;
    assert_eq!(first.status, StatusCode::OK);
    let client_id = between(&first.html, r#"id="client-id""#, ">", "<").to_owned();
    let secret = between(&first.html, r#"id="secret""#, r#"value=""#, "\"").to_owned();
    let again = browser.follow(&registered).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    let again = browser.follow(&again).await;
    assert!(
        again
            .html
            .contains("A new client secret is shown only once")
    );
    assert!(!again.html.contains(&secret));
    let account = fx.state.store.account_by_email("a@example.com").await;
    let account = account.unwrap().unwrap().id;
    assert_eq!(fx.state.store.apps_of(&account).await.unwrap().len(), 1);

    let hash = || async { fx.stored_app(&client_id).await.unwrap().client_secret_hash };
    let app_page = format!("/developer/apps/{client_id}");
    let shown = browser.get(&app_page).await;
    let confirm_link = format!(r#"href="{app_page}/secret""#);
    assert!(shown.html.contains(&confirm_link), "a link, not a form");
    let confirm = browser.get(&format!("{app_page}/secret")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.html.contains("stops working at once"));
    let stored = hash().await;
    assert_eq!(
        stored,
        Some(crate::digest::secret_hash(&secret)),
        "asked only"
    );

    let rotated = browser
        .post(&format!("{app_page}/secret"), &[("csrf", &confirm.csrf())])
        .await;
    assert_eq!(rotated.status, StatusCode::SEE_OTHER);
    let new_secret_page = rotated.location.clone().unwrap();
    assert_eq!(new_secret_page, format!("{app_page}/new-secret"));
    let head = Request::head(&new_secret_page).body(Body::empty());
    assert_eq!(browser.send(head.unwrap()).await.status, StatusCode::OK);
    let new = browser.follow(&rotated).await;
    let new_secret = between(&new.html, r#"id="secret""#, r#"value=""#, "\"").to_owned();
    assert_ne!(new_secret, secret);
    let rotated_hash = Some(crate::digest::secret_hash(&new_secret));
    assert_eq!(hash().await, rotated_hash);

    let reloaded = browser.get(&new_secret_page).await;
    assert_eq!(reloaded.status, StatusCode::SEE_OTHER);
    let reloaded = browser.follow(&reloaded).await;
    assert!(
        reloaded
            .html
            .contains("A new client secret is shown only once")
    );
    assert!(!reloaded.html.contains(&new_secret));
    assert_eq!(hash().await, rotated_hash, "a reload rotates nothing");

    let public = public_app(&fx, &account).await;
    let refused = browser
        .get(&format!("/developer/apps/{public}/secret"))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.html.contains("A public app has no client secret."));
}

#[tokio::test]
async fn an_app_trusts_an_issuer_from_its_page() {
    let fx = Fixture::new().await;
    let mut browser = Browser::member(&fx).await;
    let account = fx
        .state
        .store
        .account_by_email("a@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    let client_id = fx
        .app(&account, crate::apps::NewApp::named("ci"))
        .await
        .app
        .client_id;
    let app_page = format!("/developer/apps/{client_id}");
    let action = format!("{app_page}/trust");
    let shown = browser.get(&app_page).await;
    assert!(shown.html.contains("This app trusts no external issuer."));

    // Issuer and audience alone: explained on the page, the form kept.
    let bare = [
        ("issuer", "https://token.actions.githubusercontent.com"),
        ("audience", "https://tessera.example"),
        ("subject", ""),
        ("claims", ""),
    ];
    let refused = browser.submit(&app_page, &action, &bare).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.html.contains("would trust every workload"));
    assert!(refused.html.contains(r#"value="https://tessera.example""#));
    let mut fields = bare;
    fields[2] = ("subject", "repo:acme/widgets:*");
    fields[3] = ("claims", "repository=acme/widgets\nref=refs/heads/main");
    let added = browser.submit(&app_page, &action, &fields).await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    let shown = browser.get(added.location.as_deref().unwrap()).await;
    assert!(shown.html.contains("The app now trusts the issuer"));
    // The same rule again: said beside the form, which keeps what was typed.
    let again = browser.submit(&app_page, &action, &fields).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.html.contains(r#"value="https://tessera.example""#));
    assert!(
        shown
            .html
            .contains("<code>repository = acme/widgets</code>")
    );
    assert!(
        shown
            .html
            .contains("<code>sub = repo:acme/widgets:*</code>")
    );
    let rules = fx.state.store.trust_rules(Some(&client_id)).await.unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].claims["ref"], "refs/heads/main");

    // Another account cannot remove it; its owner can.
    let remove = format!("{app_page}/trust/{}/delete", rules[0].id);
    account_with_password(&fx, "b@example.com").await;
    let mut stranger = Browser::new(&fx);
    stranger
        .sign_in_with_password("b@example.com", PASSWORD)
        .await;
    let refused = stranger.submit("/developer/apps", &remove, &[]).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    let removed = browser.submit(&app_page, &remove, &[]).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert!(fx.state.store.trust_rules(None).await.unwrap().is_empty());
    let activity = browser.get("/settings/activity").await;
    assert!(activity.html.contains("App trusts an external issuer"));
    assert!(activity.html.contains("removed"));
}

#[tokio::test]
async fn other_sessions_can_be_signed_out() {
    let fx = Fixture::new().await;
    account_with_password(&fx, "a@example.com").await;
    let mut laptop = Browser::new(&fx);
    laptop
        .sign_in_with_password("a@example.com", PASSWORD)
        .await;
    let mut phone = Browser::new(&fx);
    phone.sign_in_with_password("a@example.com", PASSWORD).await;
    let page = laptop.get("/settings/sessions").await;
    assert!(page.html.contains("this browser"));
    let sessions = fx
        .state
        .store
        .live_web_sessions_of(
            &fx.state
                .store
                .account_by_email("a@example.com")
                .await
                .unwrap()
                .unwrap()
                .id,
            fx.clock_now(),
        )
        .await
        .unwrap();
    assert_eq!(sessions.len(), 2);
    // The laptop's page offers to sign out exactly the other session: the phone.
    let revocable: Vec<_> = sessions
        .iter()
        .filter(|s| {
            page.html
                .contains(&format!("/settings/sessions/{}/revoke", s.id))
        })
        .collect();
    assert_eq!(revocable.len(), 1);
    let phone_session = revocable[0];
    let done = laptop
        .post(
            &format!("/settings/sessions/{}/revoke", phone_session.id),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(
        phone.get("/settings/api").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(laptop.get("/settings/api").await.status, StatusCode::OK);
}

#[tokio::test]
async fn sessions_expire() {
    let fx = Fixture::new().await;
    let mut browser = Browser::member(&fx).await;
    fx.clock.advance(crate::web_sessions::SESSION_TTL_SECS);
    assert_eq!(
        browser.get("/settings/api").await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn pages_cannot_be_framed_or_cached() {
    let fx = Fixture::new().await;
    let response = fx
        .send(Request::get("/signin").body(Body::empty()).unwrap())
        .await;
    let h = response.headers();
    assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(h[header::CACHE_CONTROL], "no-store");
    assert!(
        h[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let cookie = h[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    // The fixture's issuer is loopback HTTP: no `Secure`, or the browser drops it.
    assert!(!cookie.contains("Secure"), "{cookie}");
    for path in [super::STYLESHEET_PATH, super::SCRIPT_PATH] {
        let response = fx
            .send(Request::get(path).body(Body::empty()).unwrap())
            .await;
        assert_eq!(
            response.headers()[header::X_CONTENT_TYPE_OPTIONS],
            "nosniff"
        );
    }
}

#[tokio::test]
async fn unknown_pages_and_errors_are_pages_without_internals() {
    let fx = Fixture::new().await;
    let mut browser = Browser::member(&fx).await;
    let page = browser.get("/settings/api/key_nope/revoke").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.html.contains("<html"));
    assert!(page.html.contains("no such API key"));
}

/// Every address in the pages' sections is a page: an unknown one is the 404
/// page, with the headers of every page, for any method and whether or not
/// the visitor is signed in. Elsewhere an unknown address is still the API's.
#[tokio::test]
async fn unknown_addresses_among_the_pages_are_the_404_page() {
    let fx = Fixture::new().await;
    let mut member = Browser::member(&fx).await;
    let mut stranger = Browser::new(&fx);
    let paths = [
        "/settings",
        "/settings/",
        "/developer/",
        "/signin/",
        "/settings/api-keys/xyz",
        "/settings/api/key_x",
        "/settings/sessions/ws_x",
        "/developer",
        "/developer/nope",
        "/developer/apps/nope/settings",
        "/signin/nope",
        "/device/nope",
    ];
    for path in paths {
        for page in [
            member.get(path).await,
            stranger.get(path).await,
            member.post(path, &[]).await,
        ] {
            assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(
                page.headers[header::CONTENT_TYPE],
                "text/html; charset=utf-8",
                "{path}"
            );
            assert!(
                page.html.contains("<h1 id=\"heading\">Not found</h1>"),
                "{path}"
            );
            assert_eq!(page.headers[header::X_FRAME_OPTIONS], "DENY", "{path}");
        }
    }
    // An app's page for an app that is not there: the member's own 404 page.
    let page = member.get("/developer/apps/nope").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.html.contains("There is no such app in your account."));
    let api = fx
        .send(Request::get("/v1/nope").body(Body::empty()).unwrap())
        .await;
    assert_eq!(api.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_json(api).await["error"], "not_found");
}

/// The one-time code mailed to `email` (the file outbox). The mail is sent by a
/// spawned task: yield to it until the file is there (no sleeping).
async fn code_from_outbox(fx: &Fixture, email: &str) -> String {
    let dir = &fx.state.settings.mail_outbox;
    for _ in 0..100_000 {
        let mail = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .find(|text| text.contains(email) && text.contains("code is "));
        if let Some(text) = mail {
            let start = text.find("code is ").unwrap() + "code is ".len();
            // Consume it, so that a later sign-in reads its own code.
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                std::fs::remove_file(entry.path()).unwrap();
            }
            return text[start..start + 6].to_owned();
        }
        tokio::task::yield_now().await;
    }
    panic!("no mail for {email} in {}", dir.display());
}

impl Browser<'_> {
    /// Signs in with an emailed code; returns the final response.
    pub async fn sign_in_with_code(&mut self, email: &str, next: &str) -> Page {
        let form = self.get(&super::page::signin_url(next)).await;
        let csrf = form.csrf();
        let asked = self
            .post(
                "/signin/code/request",
                &[("csrf", &csrf), ("email", email), ("next", next)],
            )
            .await;
        assert_eq!(asked.status, StatusCode::OK, "{}", asked.html);
        assert!(asked.html.contains("Check your email"));
        let code = code_from_outbox(self.fx, email).await;
        self.post(
            "/signin/code",
            &[
                ("csrf", &asked.csrf()),
                ("email", email),
                ("code", &code),
                ("next", next),
            ],
        )
        .await
    }
}

#[tokio::test]
async fn email_code_sign_in() {
    let fx = Fixture::new().await;
    fx.account("a@example.com").await;
    let mut browser = Browser::new(&fx);
    let done = browser
        .sign_in_with_code("a@example.com", "/settings/activity")
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    assert_eq!(done.location.as_deref(), Some("/settings/activity"));
    let activity = browser.get("/settings/activity").await;
    assert!(activity.html.contains("Signed in"));
}

#[tokio::test]
async fn a_wrong_email_code_is_explained_and_unknown_addresses_look_the_same() {
    let fx = Fixture::new().await;
    fx.account("a@example.com").await;
    let mut browser = Browser::new(&fx);
    let csrf = browser.get("/signin").await.csrf();
    let known = browser
        .post(
            "/signin/code/request",
            &[("csrf", &csrf), ("email", "a@example.com")],
        )
        .await;
    let unknown = browser
        .post(
            "/signin/code/request",
            &[("csrf", &csrf), ("email", "nobody@example.com")],
        )
        .await;
    assert_eq!(known.status, unknown.status);
    assert_eq!(
        known.html.replace("a@example.com", "X"),
        unknown.html.replace("nobody@example.com", "X")
    );
    // The code is stored (and mailed) by a task of its own: once it is there,
    // a wrong one is wrong, not "used up".
    let code = code_from_outbox(&fx, "a@example.com").await;
    let other = if code == "000000" { "111111" } else { "000000" };
    let wrong = browser
        .post(
            "/signin/code",
            &[("csrf", &csrf), ("email", "a@example.com"), ("code", other)],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.html.contains("That code is not valid"));
    assert!(!browser.has_cookie("tessera_session"));
}

/// Past the codes an address may be sent, the sign-in form says so, keeps
/// the address, and says when to come back (RFC 6585 §4), as every 429 does.
#[tokio::test]
async fn too_many_code_requests_say_when_to_retry() {
    let fx = Fixture::new().await;
    let mut browser = Browser::new(&fx);
    let csrf = browser.get("/signin").await.csrf();
    let ask = [("csrf", csrf.as_str()), ("email", "a@example.com")];
    for _ in 0..crate::otp::PER_ADDRESS.max {
        let sent = browser.post("/signin/code/request", &ask).await;
        assert_eq!(sent.status, StatusCode::OK);
    }
    let refused = browser.post("/signin/code/request", &ask).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let wait: i64 = refused.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=crate::otp::PER_ADDRESS.window_secs).contains(&wait),
        "{wait}"
    );
    assert!(refused.html.contains("Too many codes"), "{}", refused.html);
    assert!(refused.html.contains(r#"value="a@example.com""#));
}

/// The page's answer to `code` for `email`, typed into the code form.
async fn enter_code(browser: &mut Browser<'_>, csrf: &str, email: &str, code: &str) -> Page {
    let fields = [
        ("csrf", csrf),
        ("email", email),
        ("code", code),
        ("next", "/"),
    ];
    browser.post("/signin/code", &fields).await
}

/// The page's answer to asking for a code for `email`.
async fn ask_for_code(browser: &mut Browser<'_>, csrf: &str, email: &str) -> Page {
    let fields = [("csrf", csrf), ("email", email), ("next", "/")];
    browser.post("/signin/code/request", &fields).await
}

/// A code that is not `code`.
fn other_than(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
}

const USED_UP: &str = "This code can no longer be used";

/// A code used up by five wrong tries is refused as used up, even when right,
/// and the page offers to send a new one to the same address instead of the
/// code field; the new code signs in.
#[tokio::test]
async fn a_used_up_code_is_explained_with_a_way_to_a_new_one() {
    let fx = Fixture::new().await;
    fx.account("a@example.com").await;
    let mut browser = Browser::new(&fx);
    let csrf = browser.get("/signin").await.csrf();
    ask_for_code(&mut browser, &csrf, "a@example.com").await;
    let code = code_from_outbox(&fx, "a@example.com").await;
    for _ in 0..4 {
        let page = enter_code(&mut browser, &csrf, "a@example.com", &other_than(&code)).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
        assert!(page.html.contains("That code is not valid"));
        assert!(
            page.html.contains(r#"name="code""#),
            "the code may be typed again"
        );
    }
    for typed in [other_than(&code), code] {
        let page = enter_code(&mut browser, &csrf, "a@example.com", &typed).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
        assert!(page.html.contains(USED_UP), "{}", page.html);
        assert!(!page.html.contains(r#"name="code""#), "no code will do");
        let resend = between(
            &page.html,
            "/signin/code/request",
            r#"name="email" value=""#,
            "\"",
        );
        assert_eq!(resend, "a@example.com");
        assert!(page.html.contains("Send a new code"));
    }
    assert!(!browser.has_cookie("tessera_session"));

    let again = ask_for_code(&mut browser, &csrf, "a@example.com").await;
    assert_eq!(again.status, StatusCode::OK);
    let code = code_from_outbox(&fx, "a@example.com").await;
    let done = enter_code(&mut browser, &csrf, "a@example.com", &code).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    assert!(browser.has_cookie("tessera_session"));
}

/// A code that was used already, or has expired, is used up too; in
/// another browser it is no code at all (only whoever asked may try one).
#[tokio::test]
async fn a_used_or_expired_code_is_used_up() {
    let fx = Fixture::new().await;
    fx.account("a@example.com").await;
    let mut first = Browser::new(&fx);
    let csrf = first.get("/signin").await.csrf();
    ask_for_code(&mut first, &csrf, "a@example.com").await;
    let code = code_from_outbox(&fx, "a@example.com").await;
    let signed_in = enter_code(&mut first, &csrf, "a@example.com", &code).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    let first_csrf = first.get("/settings/api").await.csrf();
    let reused = enter_code(&mut first, &first_csrf, "a@example.com", &code).await;
    assert!(reused.html.contains(USED_UP), "{}", reused.html);
    let mut second = Browser::new(&fx);
    let csrf = second.get("/signin").await.csrf();
    let elsewhere = enter_code(&mut second, &csrf, "a@example.com", &code).await;
    assert!(
        elsewhere.html.contains("That code is not valid"),
        "{}",
        elsewhere.html
    );

    ask_for_code(&mut second, &csrf, "a@example.com").await;
    let code = code_from_outbox(&fx, "a@example.com").await;
    fx.clock.advance(crate::otp::CODE_TTL_SECS);
    let late = enter_code(&mut second, &csrf, "a@example.com", &code).await;
    assert!(late.html.contains(USED_UP), "{}", late.html);
    assert!(!second.has_cookie("tessera_session"));
}

/// Somebody who knows an address cannot keep its owner from signing in
/// with a code: asking for codes of their own voids not the owner's, their
/// wrong tries do not burn it.
#[tokio::test]
async fn a_stranger_cannot_void_or_burn_the_owners_code() {
    let fx = Fixture::new().await;
    fx.account("a@example.com").await;
    let mut owner = Browser::new(&fx);
    let owner_csrf = owner.get("/signin").await.csrf();
    ask_for_code(&mut owner, &owner_csrf, "a@example.com").await;
    let code = code_from_outbox(&fx, "a@example.com").await;

    let mut stranger = Browser::new(&fx);
    stranger.peer = Some("192.0.2.7:4000".parse().unwrap());
    let csrf = stranger.get("/signin").await.csrf();
    // All the address's window that the owner left.
    for _ in 1..crate::otp::PER_ADDRESS.max {
        let page = ask_for_code(&mut stranger, &csrf, "a@example.com").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        code_from_outbox(&fx, "a@example.com").await;
    }
    for _ in 0..crate::otp::MAX_TRIES {
        enter_code(&mut stranger, &csrf, "a@example.com", &other_than(&code)).await;
        enter_code(&mut stranger, &csrf, "a@example.com", &code).await;
    }
    assert!(!stranger.has_cookie("tessera_session"), "not theirs to use");

    let done = enter_code(&mut owner, &owner_csrf, "a@example.com", &code).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    assert!(owner.has_cookie("tessera_session"));
}

/// Asks for a code for each of `emails` and waits until each has one stored
/// (by the task that also mails a known address's code).
async fn ask_for_codes(fx: &Fixture, browser: &mut Browser<'_>, csrf: &str, emails: &[&str]) {
    for email in emails {
        ask_for_code(browser, csrf, email).await;
    }
    let requester = browser.requester();
    for email in emails {
        let mut yields = 0;
        while fx
            .state
            .store
            .stored_otp_code(email, &requester)
            .await
            .unwrap()
            .is_none()
        {
            yields += 1;
            assert!(yields < 100_000, "no code stored for {email}");
            tokio::task::yield_now().await;
        }
    }
}

/// Whether a code is used up says nothing about whether the address has an
/// account: an unknown address that asked for a code gets the same pages, try
/// by try and after expiry; one that asked for none is never used up.
#[tokio::test]
async fn used_up_codes_look_the_same_for_unknown_addresses() {
    let fx = Fixture::new().await;
    fx.account("a@example.com").await;
    fx.account("b@example.com").await;
    let mut browser = Browser::new(&fx);
    let csrf = browser.get("/signin").await.csrf();
    let same = |known: &Page, unknown: &Page, known_email: &str, unknown_email: &str| {
        assert_eq!(known.status, unknown.status);
        assert_eq!(
            known.html.replace(known_email, "X"),
            unknown.html.replace(unknown_email, "X")
        );
    };
    let (known, unknown) = ("a@example.com", "nobody@example.com");
    ask_for_codes(&fx, &mut browser, &csrf, &[known, unknown]).await;
    for try_ in 0..6 {
        let k = enter_code(&mut browser, &csrf, known, "000000").await;
        let u = enter_code(&mut browser, &csrf, unknown, "000000").await;
        same(&k, &u, known, unknown);
        assert_eq!(k.html.contains(USED_UP), try_ >= 4, "try {try_}");
    }
    let never_asked = enter_code(&mut browser, &csrf, "other@example.com", "000000").await;
    assert!(never_asked.html.contains("That code is not valid"));

    let (known, unknown) = ("b@example.com", "nobody-else@example.com");
    ask_for_codes(&fx, &mut browser, &csrf, &[known, unknown]).await;
    fx.clock.advance(crate::otp::CODE_TTL_SECS);
    let k = enter_code(&mut browser, &csrf, known, "000000").await;
    let u = enter_code(&mut browser, &csrf, unknown, "000000").await;
    same(&k, &u, known, unknown);
    assert!(k.html.contains(USED_UP));

    // A code that was used reads as any wrong code: only an account's code is
    // ever used, so anyone could otherwise learn who signed in lately.
    fx.account("c@example.com").await;
    let mut owner = Browser::new(&fx);
    owner.sign_in_with_code("c@example.com", "/").await;
    let (known, unknown) = ("c@example.com", "never-asked@example.com");
    let k = enter_code(&mut browser, &csrf, known, "000000").await;
    let u = enter_code(&mut browser, &csrf, unknown, "000000").await;
    same(&k, &u, known, unknown);
    assert!(k.html.contains("That code is not valid"));
}

fn pkce() -> (String, String) {
    use base64::Engine as _;
    use sha2::Digest as _;
    let verifier = crate::digest::random_token(32);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// A public app whose token requests need no DPoP proof: these tests are
/// about the pages (DPoP's are in `crate::dpop`).
async fn public_app(fx: &Fixture, account_id: &str) -> String {
    fx.app(
        account_id,
        crate::apps::NewApp::public_client("Lofty CLI", "lofty-cli"),
    )
    .await;
    "lofty-cli".into()
}

fn authorize_path(client_id: &str, redirect_uri: &str, challenge: Option<&str>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", "st<>ate");
    if let Some(c) = challenge {
        q.append_pair("code_challenge", c)
            .append_pair("code_challenge_method", "S256");
    }
    format!("/oauth/authorize?{}", q.finish())
}

#[tokio::test]
async fn invalid_authorization_requests_never_reach_sign_in() {
    let fx = Fixture::new().await;
    let account = fx.account("a@example.com").await;
    let client = public_app(&fx, &account).await;
    let (_, challenge) = pkce();
    let mut browser = Browser::new(&fx);

    let unknown = browser
        .get(&authorize_path(
            "nope",
            "http://127.0.0.1:5000/callback",
            Some(&challenge),
        ))
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.location.is_none());
    assert!(unknown.html.contains("not valid"));

    let open_redirect = browser
        .get(&authorize_path(
            &client,
            "https://evil.example/cb",
            Some(&challenge),
        ))
        .await;
    assert_eq!(open_redirect.status, StatusCode::BAD_REQUEST);
    assert!(open_redirect.location.is_none());

    let no_pkce = browser
        .get(&authorize_path(
            &client,
            "http://127.0.0.1:5000/callback",
            None,
        ))
        .await;
    let location = no_pkce.location.expect("a redirect back to the client");
    assert!(
        location.starts_with("http://127.0.0.1:5000/callback?"),
        "{location}"
    );
    assert!(location.contains("error=invalid_request"), "{location}");
}

/// An unknown scope goes back to the client (RFC 6749 §4.1.2.1) with an
/// `error_description` in the characters the RFC allows: the scope the
/// request named is quoted with `'`.
/// Anyone may register an app in the portal, with any https redirect URI:
/// an invalid request of such an app does not send the browser there
/// unasked (a redirector on this server's name, RFC 9700 §4.11.2). The
/// page names the host and links to it; loopback URIs and operators' apps
/// are redirected to as before.
#[tokio::test]
async fn a_portal_apps_errors_name_the_host_before_the_browser_goes_there() {
    let fx = Fixture::new().await;
    let account = fx.account("a@example.com").await;
    let actor = crate::audit::Actor {
        account_id: &account,
        ip: None,
    };
    let new = crate::apps::NewApp {
        redirect_uris: vec![
            "https://evil.example/phish".into(),
            "http://127.0.0.1/cb".into(),
        ],
        public: true,
        ..crate::apps::NewApp::named("Mine")
    };
    let (created, _) = crate::apps::register(&fx.state.store, actor, new, false, 0)
        .await
        .unwrap();
    let client = created.app.client_id;
    let mut browser = Browser::new(&fx);

    let page = browser
        .get(&authorize_path(&client, "https://evil.example/phish", None))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.location.is_none(), "not sent there unasked");
    assert!(
        page.html.contains("Continue to evil.example"),
        "{}",
        page.html
    );
    assert!(
        page.html
            .contains("https://evil.example/phish?error=invalid_request"),
        "{}",
        page.html
    );

    let loopback = browser
        .get(&authorize_path(&client, "http://127.0.0.1:5000/cb", None))
        .await;
    let location = loopback.location.expect("the user's own machine");
    assert!(location.starts_with("http://127.0.0.1:5000/cb?error=invalid_request"));

    let operators = crate::apps::NewApp {
        redirect_uris: vec!["https://app.example/cb".into()],
        public: true,
        ..crate::apps::NewApp::named("Operator's")
    };
    let operators = fx.app(&account, operators).await.app.client_id;
    let page = browser
        .get(&authorize_path(&operators, "https://app.example/cb", None))
        .await;
    let location = page.location.expect("an operator's redirect URI");
    assert!(location.starts_with("https://app.example/cb?error=invalid_request"));
}

#[tokio::test]
async fn an_error_redirect_quotes_in_the_allowed_characters() {
    let fx = Fixture::new().await;
    let account = fx.account("a@example.com").await;
    let client = public_app(&fx, &account).await;
    let (_, challenge) = pkce();
    let path = authorize_path(&client, "http://127.0.0.1:5000/callback", Some(&challenge));
    let refused = Browser::new(&fx).get(&format!("{path}&scope=admin")).await;
    let location = refused.location.expect("a redirect back to the client");
    let back = url::Url::parse(&location).unwrap();
    let param = |name: &str| {
        back.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("error").as_deref(), Some("invalid_scope"));
    assert_eq!(
        param("error_description").as_deref(),
        Some("unknown scope 'admin'")
    );
}

#[tokio::test]
async fn sign_in_then_consent_then_code() {
    let fx = Fixture::new().await;
    let account = fx.account("a@example.com").await;
    let client = public_app(&fx, &account).await;
    let (verifier, challenge) = pkce();
    let redirect = "http://127.0.0.1:5000/callback";
    let path = authorize_path(&client, redirect, Some(&challenge));
    let mut browser = Browser::new(&fx);

    let first = browser.get(&path).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    let signin = first.location.unwrap();
    assert!(signin.starts_with("/signin?next="), "{signin}");
    let page = browser.get(&signin).await;
    assert!(page.html.contains("to continue to Lofty CLI"));
    let signed_in = browser.sign_in_with_code("a@example.com", &path).await;
    assert_eq!(signed_in.location.as_deref(), Some(path.as_str()));

    let consent = browser.get(&path).await;
    assert_eq!(consent.status, StatusCode::OK);
    assert!(consent.html.contains("Lofty CLI"));
    assert!(consent.html.contains("THIRD_PARTY_OPERATION"));
    assert!(consent.html.contains("st&#60;&#62;ate") || consent.html.contains("st&lt;&gt;ate"));

    let approved = browser.consent(&consent, &path, "approve").await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER);
    let back = url::Url::parse(approved.location.as_deref().unwrap()).unwrap();
    assert!(back.as_str().starts_with(redirect));
    let param = |name: &str| {
        back.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("state").as_deref(), Some("st<>ate"));
    let code = param("code").expect("a code");

    let token = fx
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect),
                ("client_id", &client),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(token.status(), StatusCode::OK);
    let tokens = body_json(token).await;
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();

    // The app shows under Sessions; revoking it kills its refresh token.
    let sessions = browser.get("/settings/sessions").await;
    assert!(sessions.html.contains("Lofty CLI"));
    withdraw(&mut browser, &client).await;
    let refreshed = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("client_id", client.as_str()),
    ];
    assert_eq!(token_error(&fx, &refreshed).await, "invalid_grant");
}

/// "Revoke access" for `client` on the sessions page.
async fn withdraw(browser: &mut Browser<'_>, client: &str) {
    let sessions = browser.get("/settings/sessions").await;
    let revoked = browser
        .post(
            &format!("/settings/authorizations/{client}/revoke"),
            &[("csrf", &sessions.csrf())],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
}

/// The `error` of a token request that must be refused with 400.
async fn token_error(fx: &Fixture, form: &[(&str, &str)]) -> serde_json::Value {
    let answer = fx.post_form("/oauth/token", form).await;
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    body_json(answer).await["error"].clone()
}

#[tokio::test]
async fn denying_consent_sends_access_denied() {
    let fx = Fixture::new().await;
    let account = fx.account("a@example.com").await;
    let client = public_app(&fx, &account).await;
    let (_, challenge) = pkce();
    let path = authorize_path(&client, "http://127.0.0.1:5000/callback", Some(&challenge));
    let mut browser = Browser::new(&fx);
    browser.sign_in_with_code("a@example.com", &path).await;
    let consent = browser.get(&path).await;
    let denied = browser.consent(&consent, &path, "deny").await;
    let location = denied.location.unwrap();
    assert!(location.contains("error=access_denied"), "{location}");
    assert!(location.contains("state=st%3C%3Eate"), "{location}");
}

/// A new device authorization of `client`: its user code, its
/// `verification_uri_complete` and its device code.
async fn device_code(fx: &Fixture, client: &str) -> (String, String, String) {
    let response = fx
        .post_form("/oauth/device_authorization", &[("client_id", client)])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = body_json(response).await;
    let field = |name: &str| body[name].as_str().unwrap().to_owned();
    (
        field("user_code"),
        field("verification_uri_complete"),
        field("device_code"),
    )
}

#[tokio::test]
async fn device_approval_denial_and_bad_codes() {
    let fx = Fixture::new().await;
    let account = fx.account("a@example.com").await;
    let client = public_app(&fx, &account).await;
    let (user_code, complete, _) = device_code(&fx, &client).await;
    let path = complete
        .strip_prefix(crate::testing::ISSUER)
        .unwrap()
        .to_owned();
    let mut browser = Browser::new(&fx);

    let first = browser.get(&path).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    browser.sign_in_with_code("a@example.com", &path).await;
    let confirm = browser.get(&path).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.html.contains("Lofty CLI"));
    assert!(confirm.html.contains(&user_code));
    // Approved once; then the code is gone.
    let approve = [("user_code", user_code.as_str()), ("decision", "approve")];
    for (status, says) in [
        (StatusCode::OK, "return to your terminal"),
        (StatusCode::NOT_FOUND, "start the sign-in again"),
    ] {
        let page = browser
            .submit("/device", "/device/decision", &approve)
            .await;
        assert_eq!(page.status, status, "{says}");
        assert!(page.html.contains(says), "{says}");
    }

    let bad = browser
        .submit("/device", "/device", &[("user_code", "BCDF-GHJK")])
        .await;
    assert_eq!(bad.status, StatusCode::NOT_FOUND);
    assert!(bad.html.contains("That code is not valid"));

    let (second, _, _) = device_code(&fx, &client).await;
    let entered = browser
        .submit(
            "/device",
            "/device",
            &[("user_code", &second.to_lowercase())],
        )
        .await;
    assert_eq!(entered.status, StatusCode::OK);
    let denied = browser
        .submit(
            "/device",
            "/device/decision",
            &[("user_code", &second), ("decision", "deny")],
        )
        .await;
    assert_eq!(denied.status, StatusCode::OK);
    assert!(denied.html.contains("Request denied"));
}

/// Withdrawing an app ends what was granted and not yet collected: a code
/// the app holds, a device approved but not yet polled.
#[tokio::test]
async fn withdrawing_an_app_ends_its_codes_and_approved_devices() {
    let fx = Fixture::new().await;
    let account = fx.account("a@example.com").await;
    let client = public_app(&fx, &account).await;
    let mut browser = Browser::new(&fx);
    browser.sign_in_with_code("a@example.com", "/").await;
    let consented = consented_code(&mut browser, &client).await;
    let (user_code, _, device) = device_code(&fx, &client).await;
    let decision = [("user_code", user_code.as_str()), ("decision", "approve")];
    let page = browser
        .submit("/device", "/device/decision", &decision)
        .await;
    assert_eq!(page.status, StatusCode::OK);

    withdraw(&mut browser, &client).await;
    let redeemed = redeem(&fx, &client, &consented).await;
    assert_eq!(redeemed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(redeemed).await["error"], "invalid_grant");
    let polled = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", device.as_str()),
        ("client_id", client.as_str()),
    ];
    assert_eq!(token_error(&fx, &polled).await, "access_denied");
    let sessions = browser.get("/settings/sessions").await;
    assert!(!sessions.html.contains("Lofty CLI"), "nothing left to list");
}

/// A second click on Allow (or a second tab) finds the code decided: that is
/// not a guess at codes, and many of them do not lock the address out.
#[tokio::test]
async fn deciding_a_decided_code_is_no_guess() {
    let fx = Fixture::new().await;
    let account = fx.account("a@example.com").await;
    let client = public_app(&fx, &account).await;
    let mut browser = Browser::new(&fx);
    browser.sign_in_with_code("a@example.com", "/").await;
    let (user_code, _, _) = device_code(&fx, &client).await;
    let decision = [("user_code", user_code.as_str()), ("decision", "approve")];
    for _ in 0..=crate::oauth::device::GUESS_LIMIT.max {
        browser
            .submit("/device", "/device/decision", &decision)
            .await;
    }
    let (fresh, _, _) = device_code(&fx, &client).await;
    let entered = browser
        .submit("/device", "/device", &[("user_code", &fresh)])
        .await;
    assert_eq!(entered.status, StatusCode::OK);
}

#[tokio::test]
async fn a_token_url_session_from_the_console_is_exchanged_once() {
    let fx = Fixture::new().await;
    let mut browser = Browser::member(&fx).await;
    let csrf = browser.get("/settings/sessions").await.csrf();
    let created = browser
        .post("/settings/sessions/token-url", &[("csrf", &csrf)])
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "Post/Redirect/Get");
    let page = browser.follow(&created).await;
    assert_eq!(page.status, StatusCode::OK);
    let session_id = between(&page.html, r#"id="secret""#, r#"value=""#, "\"").to_owned();
    let reloaded = browser.follow(&created).await;
    assert_eq!(
        reloaded.location.as_deref(),
        Some("/settings/sessions?done=session_shown"),
        "shown once"
    );
    let form = [("session_id", session_id.as_str())];
    let exchange = || fx.post_form("/oauth/session-token", &form);
    let first = exchange().await;
    assert_eq!(first.status(), StatusCode::OK);
    let token = body_json(first).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = body_json(fx.get("/v1/me", &format!("Bearer {token}")).await).await;
    assert_eq!(me["email"], "a@example.com");
    assert_eq!(me["acr"], "0");
    assert_ne!(exchange().await.status(), StatusCode::OK);
}

#[tokio::test]
async fn production_mode_waits_for_an_admin_when_configured() {
    let fx = Fixture::with_settings(|s| s.production_requires_approval = true).await;
    let mut browser = Browser::member(&fx).await;
    let created = browser
        .submit(
            "/developer/apps",
            "/developer/apps",
            &[
                ("name", "Prod app"),
                ("client_type", "confidential"),
                ("mode", "production"),
                ("grant", "client_credentials"),
            ],
        )
        .await;
    let created = browser.follow(&created).await;
    assert!(created.html.contains("production requested"));
    let client_id = between(&created.html, r#"id="client-id""#, ">", "<").to_owned();
    let app = fx.stored_app(&client_id).await.unwrap();
    assert_eq!(app.mode, crate::store::AppMode::Development);

    assert!(fx.state.store.approve_production(&client_id).await.unwrap());
    let app = fx.stored_app(&client_id).await.unwrap();
    assert_eq!(app.mode, crate::store::AppMode::Production);
    assert!(!fx.state.store.approve_production(&client_id).await.unwrap());
}

/// Consent approved in the browser and the code exchanged: the token response.
/// A code the signed-in `browser` consented to for `client`, and its PKCE verifier.
async fn consented_code(browser: &mut Browser<'_>, client: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let path = authorize_path(client, CALLBACK, Some(&challenge));
    let consent = browser.get(&path).await;
    assert_eq!(consent.status, StatusCode::OK);
    let approved = browser.consent(&consent, &path, "approve").await;
    let back = url::Url::parse(approved.location.as_deref().unwrap()).unwrap();
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    (code, verifier)
}

const CALLBACK: &str = "http://127.0.0.1:5000/callback";

/// The token endpoint's answer to redeeming [`consented_code`]'s code.
async fn redeem(
    fx: &Fixture,
    client: &str,
    (code, verifier): &(String, String),
) -> axum::response::Response {
    fx.post_form(
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("client_id", client),
            ("code_verifier", verifier),
        ],
    )
    .await
}

async fn code_flow(fx: &Fixture, browser: &mut Browser<'_>, client: &str) -> serde_json::Value {
    let consented = consented_code(browser, client).await;
    let token = redeem(fx, client, &consented).await;
    assert_eq!(token.status(), StatusCode::OK);
    body_json(token).await
}

#[tokio::test]
async fn deleting_an_app_ends_its_users_tokens() {
    let fx = Fixture::new().await;
    let owner = account_with_password(&fx, "owner@example.com").await;
    fx.account("user@example.com").await;
    let client = public_app(&fx, &owner).await;
    let mut user = Browser::new(&fx);
    user.sign_in_with_code("user@example.com", "/").await;
    let tokens = code_flow(&fx, &mut user, &client).await;
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    assert_eq!(fx.get("/v1/me", &bearer).await.status(), StatusCode::OK);

    let mut developer = Browser::new(&fx);
    developer
        .sign_in_with_password("owner@example.com", PASSWORD)
        .await;
    let confirm = developer
        .get(&format!("/developer/apps/{client}/delete"))
        .await;
    assert_eq!(confirm.status, StatusCode::OK);
    let deleted = developer
        .post(
            &format!("/developer/apps/{client}/delete"),
            &[("csrf", &confirm.csrf())],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(
        fx.get("/v1/me", &bearer).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn deleting_an_app_ends_its_client_credentials_tokens() {
    let fx = Fixture::new().await;
    let owner = fx.account("owner@example.com").await;
    let created = fx.app(&owner, crate::apps::NewApp::named("Server")).await;
    let client_id = created.app.client_id.clone();
    let secret = created.client_secret.unwrap();
    let token = fx
        .send(
            Request::post("/oauth/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(
                    url::form_urlencoded::Serializer::new(String::new())
                        .append_pair("grant_type", "client_credentials")
                        .append_pair("client_id", &client_id)
                        .append_pair("client_secret", secret.expose_secret())
                        .finish(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(token.status(), StatusCode::OK);
    let token = body_json(token).await;
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    assert_eq!(fx.get("/v1/me", &bearer).await.status(), StatusCode::OK);

    // Client-credentials tokens belong to no refresh-token family, so deleting the
    // app has nothing to revoke: the per-request check must notice the app is gone.
    assert!(fx.state.store.delete_app(&owner, &client_id).await.unwrap());
    assert_eq!(
        fx.get("/v1/me", &bearer).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn every_form_endpoint_checks_the_csrf_token() {
    let fx = Fixture::new().await;
    let account = account_with_password(&fx, "a@example.com").await;
    let client = public_app(&fx, &account).await;
    let mut browser = Browser::new(&fx);
    browser
        .sign_in_with_password("a@example.com", PASSWORD)
        .await;
    let posts = [
        "/signout".to_owned(),
        "/signin/password".to_owned(),
        "/signin/code/request".to_owned(),
        "/signin/code".to_owned(),
        "/oauth/authorize".to_owned(),
        "/device".to_owned(),
        "/device/decision".to_owned(),
        "/settings/api".to_owned(),
        "/settings/api/key_x/revoke".to_owned(),
        "/developer/apps".to_owned(),
        format!("/developer/apps/{client}/secret"),
        format!("/developer/apps/{client}/mode"),
        format!("/developer/apps/{client}/delete"),
        format!("/developer/apps/{client}/trust"),
        format!("/developer/apps/{client}/trust/trust_x/delete"),
        "/settings/sessions/ws_x/revoke".to_owned(),
        format!("/settings/authorizations/{client}/revoke"),
        "/settings/sessions/token-url".to_owned(),
    ];
    for path in &posts {
        let page = browser
            .post(
                path,
                &[
                    ("csrf", "forged"),
                    ("email", "a@example.com"),
                    ("password", PASSWORD),
                    ("code", "123456"),
                    ("user_code", "BCDF-GHJK"),
                    ("decision", "approve"),
                    ("mode", "production"),
                    ("name", "x"),
                    ("scope", "THIRD_PARTY_OPERATION"),
                    ("grant", "client_credentials"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(page.html.contains("This form has expired"), "{path}");
    }
    // Nothing happened: still signed in, the app unchanged.
    assert_eq!(browser.get("/settings/api").await.status, StatusCode::OK);
    let app = fx.stored_app(&client).await.unwrap();
    assert_eq!(app.mode, crate::store::AppMode::Development);
}

/// A body over the limit is refused before any handler reads it
/// (`middleware::Bounded`), and the page that says so carries the protective
/// headers of every other page: it is a page of this origin like the rest.
#[tokio::test]
async fn an_oversized_form_is_refused_with_the_pages_headers() {
    let fx = Fixture::new().await;
    let signin = fx
        .send(Request::get("/signin").body(Body::empty()).unwrap())
        .await;
    assert_eq!(signin.status(), StatusCode::OK);
    let body = format!("code={}", "1".repeat(70_000));
    let request = Request::post("/signin/code")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .unwrap();
    let refused = fx.send(request).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(refused.headers()[header::CONNECTION], "close");
    for name in [
        header::CACHE_CONTROL,
        header::X_FRAME_OPTIONS,
        header::CONTENT_SECURITY_POLICY,
        header::REFERRER_POLICY,
        header::X_CONTENT_TYPE_OPTIONS,
    ] {
        assert!(signin.headers().contains_key(&name), "{name}");
        assert_eq!(
            refused.headers().get(&name),
            signin.headers().get(&name),
            "{name}"
        );
    }
}

/// Past the cap on wrong user codes, `/device` answers 429 like every other
/// throttle: `Retry-After` says when a code will be looked up again, and the
/// `X-RateLimit-*` headers the page carries do not say requests are left.
#[tokio::test]
async fn too_many_wrong_user_codes_say_when_to_retry() {
    let fx = Fixture::new().await;
    let mut browser = Browser::member(&fx).await;
    let guess = [("user_code", "BCDF-GHJK")];
    for _ in 0..crate::oauth::device::GUESS_LIMIT.max {
        let missed = browser.submit("/device", "/device", &guess).await;
        assert_eq!(missed.status, StatusCode::NOT_FOUND);
    }
    fx.clock.advance(60);
    let refused = browser.submit("/device", "/device", &guess).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let number = |name: &str| -> i64 {
        let value = refused
            .headers
            .get(name)
            .unwrap_or_else(|| panic!("{name}"));
        value.to_str().unwrap().parse().unwrap()
    };
    let window = crate::oauth::device::GUESS_LIMIT.window_secs;
    assert_eq!(number("retry-after"), window - 60);
    assert_eq!(number("x-ratelimit-remaining"), 0);
    assert_eq!(number("x-ratelimit-reset"), crate::testing::T0 + window);
}
