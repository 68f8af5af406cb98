//! In-process test fixtures for unit tests beside the code: an [`AppState`] on a
//! temporary SQLite database with a [`FixedClock`], and requests through the router
//! without a socket. End-to-end tests with the real binary live in `tests/e2e`.

use crate::cli::settings::{ServeOverrides, SettingsArgs, resolve};
use crate::clock::FixedClock;
use crate::master_key::MasterKey;
use crate::secret::{Secret, SecretUrl};
use crate::services::AppState;
use crate::settings::Settings;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, header};
use std::sync::Arc;
use tower::ServiceExt as _;

pub const ISSUER: &str = "http://127.0.0.1:8080";
/// 2026-01-01T00:00:00Z.
pub const T0: i64 = 1_767_225_600;

pub struct Fixture {
    pub state: AppState,
    pub clock: Arc<FixedClock>,
    _dir: tempfile::TempDir,
    /// PostgreSQL ([`Fixture::on`]): dropped after the state's pool.
    _database: Option<Arc<tessera_testkit::Database>>,
}

impl Fixture {
    pub async fn new() -> Self {
        Self::with_settings(|_| {}).await
    }

    /// A fixture on `backend`: PostgreSQL is a database of its own on
    /// `TESSERA_TEST_POSTGRES_URL`'s server; `None` when that is not set
    /// (a skip, or a failure under `CI`).
    pub async fn on(backend: tessera_testkit::Backend) -> Option<Self> {
        if backend == tessera_testkit::Backend::Sqlite {
            return Some(Self::new().await);
        }
        if !tessera_testkit::postgres_available() {
            return None;
        }
        let database = tessera_testkit::Database::create(backend);
        let url = SecretUrl::new(&database.url);
        let mut fx =
            Self::with_settings(|s| s.database = crate::store::DatabaseLocation::Postgres(url))
                .await;
        fx._database = Some(database);
        Some(fx)
    }

    /// A fixture whose settings `adjust` changes first (limits, TTLs…).
    pub async fn with_settings(adjust: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let args = SettingsArgs {
            database: Some(SecretUrl::new(
                dir.path().join("t.db").display().to_string(),
            )),
            issuer: Some(ISSUER.into()),
            ..Default::default()
        };
        let settings = resolve(
            &args,
            ServeOverrides::default(),
            Some(Secret::new(MasterKey::generate().encode())),
        )
        .expect("settings");
        let mut settings = settings;
        adjust(&mut settings);
        let clock = Arc::new(FixedClock::new(T0));
        let state = crate::server::build_state(settings, clock.clone(), None)
            .await
            .expect("state");
        Self {
            state,
            clock,
            _dir: dir,
            _database: None,
        }
    }

    /// A fixture with rate limits off, on a runtime of its own: for property
    /// tests, whose runner calls a plain closure (`rt.block_on` inside it).
    pub fn blocking() -> (tokio::runtime::Runtime, Self) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let fx = rt.block_on(Self::with_settings(|s| s.rate_limit_enabled = false));
        (rt, fx)
    }

    /// Sends a request through the full router, with a `Host` as every
    /// HTTP/1.1 client sends one, unless the request has its own.
    pub async fn send(&self, mut request: Request<Body>) -> Response<Body> {
        let headers = request.headers_mut();
        if !headers.contains_key(header::HOST) {
            headers.insert(header::HOST, HeaderValue::from_static("tessera.test"));
        }
        crate::http::router(self.state.clone())
            .oneshot(request)
            .await
            .expect("infallible")
    }

    /// `GET path` with an `Authorization` value.
    pub async fn get(&self, path: &str, authorization: &str) -> Response<Body> {
        self.call(axum::http::Method::GET, path, authorization)
            .await
    }

    /// `method path` with an `Authorization` value and no body.
    pub async fn call(
        &self,
        method: axum::http::Method,
        path: &str,
        authorization: &str,
    ) -> Response<Body> {
        let request = Request::builder().method(method).uri(path);
        let request = request.header("authorization", authorization);
        self.send(request.body(Body::empty()).unwrap()).await
    }

    /// `POST path` with `fields` as a form body.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Response<Body> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.send(
            Request::post(path)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    /// The app with this client id, as stored now.
    pub async fn stored_app(&self, client_id: &str) -> Option<crate::store::App> {
        self.state
            .store
            .app_by_client_id(client_id)
            .await
            .expect("app look-up")
    }

    /// A new account; returns its id.
    pub async fn account(&self, email: &str) -> String {
        crate::accounts::create(&self.state.store, email, self.clock_now())
            .await
            .expect("account")
            .id
    }

    /// Registers an app for `account_id`.
    pub async fn app(&self, account_id: &str, app: crate::apps::NewApp) -> crate::apps::CreatedApp {
        crate::apps::create(&self.state.store, account_id, app, self.clock_now())
            .await
            .expect("app")
    }

    /// `(client_id, client_secret)` of a new confidential app of `account_id`.
    pub async fn confidential_app(&self, account_id: &str, name: &str) -> (String, String) {
        let created = self.app(account_id, crate::apps::NewApp::named(name)).await;
        let secret = created.client_secret.expect("a confidential app's secret");
        (created.app.client_id, secret.expose_secret().to_owned())
    }

    /// The token answer of a device flow that `client` ran and `account_id`
    /// approved.
    pub async fn device_login(
        &self,
        account_id: &str,
        (id, secret): &(String, String),
    ) -> serde_json::Value {
        let client = [
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
        ];
        let started = body_json(self.post_form("/oauth/device_authorization", &client).await).await;
        let user_code = started["user_code"].as_str().expect("user_code");
        crate::oauth::device::approve(&self.state, user_code, account_id, self.clock_now())
            .await
            .expect("approved");
        self.clock.advance(5);
        let mut poll = client.to_vec();
        poll.push(("grant_type", crate::oauth::GRANT_DEVICE_CODE));
        poll.push((
            "device_code",
            started["device_code"].as_str().expect("device_code"),
        ));
        body_json(self.post_form("/oauth/token", &poll).await).await
    }

    /// A new API key of `account_id` (no prefix, no name, no expiry).
    pub async fn api_key(
        &self,
        account_id: &str,
        scope: Option<tessera_proto::Scopes>,
    ) -> crate::api_keys::IssuedApiKey {
        crate::api_keys::issue(
            &self.state.store,
            &self.state.keyring,
            ISSUER,
            "",
            crate::api_keys::NewApiKey {
                account_id: account_id.to_owned(),
                name: None,
                scope,
                expires_at: None,
            },
            self.clock_now(),
        )
        .await
        .expect("API key")
    }

    pub fn clock_now(&self) -> i64 {
        use crate::clock::Clock as _;
        self.clock.now()
    }
}

/// The JSON body of a response.
pub async fn body_json(response: Response<Body>) -> serde_json::Value {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    serde_json::from_slice(&bytes).expect("JSON body")
}

/// This thread's log output, kept for a test to read: for tests that a secret
/// or a hostile string never reaches the log.
#[derive(Clone, Default)]
pub struct CapturedLog(Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLog {
    /// Captures everything logged on this thread until the guard is dropped.
    pub fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        let log = Self::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (log, tracing::subscriber::set_default(subscriber))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

impl std::io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How many of requests made at the same moment against a cap succeeded,
/// asserting that every other one was refused as over the cap
/// (`Error::Conflict`): an error of the database (SQLite's "database is
/// locked", a write that lost its snapshot) is no refusal, and counted as
/// one it would hide a transaction that does not take turns.
pub fn one_made_the_rest_refused(
    answers: Vec<Result<crate::error::Result<()>, tokio::task::JoinError>>,
) -> usize {
    let mut made = 0;
    for answer in answers {
        match answer.expect("the request's task") {
            Ok(()) => made += 1,
            Err(crate::error::Error::Conflict(_)) => {}
            Err(other) => panic!("refused other than by the cap: {other:?}"),
        }
    }
    made
}
