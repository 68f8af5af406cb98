//! tessera-client's OAuth flows against a real third-party authorization
//! server: npm `oidc-provider` 9, configured by
//! `tests/interop/oidc-provider/provider.mjs` and started per test on a free
//! loopback port.
//!
//! Needs `TESSERA_TEST_OIDC_PROVIDER_DIR` (printed by
//! `tests/interop/oidc-provider/setup.sh`). Without it each test prints
//! "skipped" and passes, unless `CI` is set, where it fails.
//!
//! The provider and the browser are tessera-testkit's ([`OidcProvider`],
//! [`Browser::walk`]); the provider's test configuration signs in and
//! consents without pages (or denies, for `login_hint=deny`).

use std::cell::Cell;
use std::io::{BufRead, BufReader, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tessera_client::oauth::{
    self, BrowserOpener, Client, ClientCredentialsRequest, Clock, OAuthError, ServerMetadata,
    TokenResponse, TokenToRevoke, UreqClient, WebLogin, WebLoginEvent,
};
use tessera_client::token_cache::{HttpRefresher, Refresher as _};
use tessera_client::{DpopKey, LoginMethod, OAuthSession};
use tessera_proto::{ApiKey, ClientSecret, OAuthErrorCode};
use tessera_testkit::{Browser, CC_BASIC, Landing, OidcProvider};

const CC_POST: (&str, &str) = (
    "tessera-cc-post",
    "cc-post-secret-0123456789abcdef0123456789a",
);
const PUBLIC_CLIENT: &str = "tessera-cli";
/// The same public client, registered to require DPoP (RFC 9449).
const DPOP_CLIENT: &str = "tessera-cli-dpop";

/// The provider's RFC 8414 metadata, as the client discovers it.
fn metadata(provider: &OidcProvider) -> ServerMetadata {
    oauth::discover(&UreqClient::new(), &provider.url).unwrap()
}

fn test_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

fn confidential((id, secret): (&str, &str)) -> Client {
    Client::confidential(id, ClientSecret::new(secret))
}

/// A [`BrowserOpener`] that walks the authorization URL to the end, including
/// the redirect to the CLI's loopback listener, and keeps the last page.
struct WalkingBrowser<'a> {
    browser: Browser,
    landing: &'a Mutex<Option<(u16, String)>>,
}

impl BrowserOpener for WalkingBrowser<'_> {
    fn open(&self, url: &str) -> std::io::Result<()> {
        let last = match self.browser.walk(url) {
            Landing::Page(page) => (page.status.as_u16(), page.html),
            Landing::Away(listener) => {
                let mut response = test_agent().get(&listener).call().unwrap();
                let body = response.body_mut().read_to_string().unwrap();
                (response.status().as_u16(), body)
            }
        };
        *self.landing.lock().unwrap() = Some(last);
        Ok(())
    }
}

fn no_paste() -> Box<dyn BufRead + Send> {
    Box::new(std::io::empty())
}

fn web_login<'a>(meta: &'a ServerMetadata, client: &'a Client) -> WebLogin<'a> {
    let mut login = WebLogin::new(
        meta.authorization_endpoint.as_deref().unwrap(),
        &meta.token_endpoint,
        client,
    );
    login.scope = Some("api:read");
    login.issuer = Some(&meta.issuer);
    login.timeout = Duration::from_secs(60);
    login
}

// ---------------------------------------------------------------------------
// Virtual time for device polling, with the user acting during a wait.

struct ScriptedClock<F: Fn(usize)> {
    start: Instant,
    elapsed: Cell<Duration>,
    sleeps: Cell<usize>,
    on_sleep: F,
}

impl<F: Fn(usize)> ScriptedClock<F> {
    fn new(on_sleep: F) -> Self {
        Self {
            start: Instant::now(),
            elapsed: Cell::new(Duration::ZERO),
            sleeps: Cell::new(0),
            on_sleep,
        }
    }
}

impl<F: Fn(usize)> Clock for ScriptedClock<F> {
    fn now(&self) -> Instant {
        self.start + self.elapsed.get()
    }

    fn sleep(&self, duration: Duration) {
        self.elapsed.set(self.elapsed.get() + duration);
        let n = self.sleeps.get() + 1;
        self.sleeps.set(n);
        (self.on_sleep)(n);
    }
}

/// A device login of `client` that the user approves in the browser during
/// the `approve_at`-th wait: the token, and how many waits there were.
fn device_login(
    provider: &OidcProvider,
    client: &Client,
    approve_at: usize,
) -> (TokenResponse, usize) {
    let meta = metadata(provider);
    let http = UreqClient::new();
    let device = oauth::request_device_authorization(
        &http,
        meta.device_authorization_endpoint.as_deref().unwrap(),
        client,
        Some("api:read"),
        &tessera_client::Transport::default(),
    )
    .unwrap();
    assert!(!device.user_code.is_empty());
    assert!(device.verification_uri.starts_with(&provider.url));
    let complete = device.verification_uri_complete.clone().unwrap();
    let browser = Browser::new(&provider.url);
    let clock = ScriptedClock::new(|n| {
        if n == approve_at {
            match browser.walk(&complete) {
                Landing::Page(page) if page.status == 200 => {
                    assert!(page.html.contains("device-success"), "{}", page.html)
                }
                Landing::Page(page) => panic!("{}: {}", page.status, page.html),
                Landing::Away(url) => panic!("{url}"),
            }
        }
    });
    let token =
        oauth::poll_device_token(&http, &meta.token_endpoint, client, &device, &clock).unwrap();
    (token, clock.sleeps.get())
}

// ---------------------------------------------------------------------------
// Tests.

#[test]
fn discovery_finds_every_endpoint_and_checks_the_issuer() {
    let Some(provider) = OidcProvider::provider() else {
        return;
    };
    let meta = metadata(&provider);
    assert_eq!(meta.issuer, provider.url);
    assert_eq!(meta.token_endpoint, format!("{}/token", provider.url));
    assert!(meta.authorization_endpoint.is_some());
    assert!(meta.device_authorization_endpoint.is_some());
    assert!(meta.revocation_endpoint.is_some());
    assert!(
        meta.code_challenge_methods_supported
            .contains(&"S256".to_owned())
    );
    // The same document under a trailing-slash spelling of the issuer.
    oauth::discover(&UreqClient::new(), &format!("{}/", provider.url)).unwrap();
    // A server reached under another name than its issuer is refused.
    let alias = provider.url.replace("127.0.0.1", "localhost");
    let err = oauth::discover(&UreqClient::new(), &alias).unwrap_err();
    assert!(matches!(err, OAuthError::IssuerMismatch { .. }), "{err:?}");
}

#[test]
fn client_credentials_with_basic_and_post_authentication() {
    let Some(provider) = OidcProvider::provider() else {
        return;
    };
    let meta = metadata(&provider);
    let http = UreqClient::new();
    let key = ApiKey::new("lk_eyJhbGciOiJFZERTQSJ9.test-customer-key");
    for client in [
        confidential(CC_BASIC),
        confidential(CC_POST).with_secret_post(),
    ] {
        let token = oauth::client_credentials(
            &http,
            &meta.token_endpoint,
            &client,
            ClientCredentialsRequest {
                scope: Some("api:read"),
                // A foreign server ignores the Lofty extension parameter.
                customer_key: Some(&key),
            },
        )
        .unwrap();
        assert!(token.token_type.eq_ignore_ascii_case("bearer"));
        assert_eq!(token.scope.as_deref(), Some("api:read"));
        assert!(token.expires_in.unwrap() > 0);
        let info = provider.introspect(token.access_token.expose_secret());
        assert_eq!(info["active"], true, "{info}");
        assert_eq!(info["client_id"], client.id());
    }
}

#[test]
fn client_credentials_refusals_are_rfc6749_errors() {
    let Some(provider) = OidcProvider::provider() else {
        return;
    };
    let meta = metadata(&provider);
    let http = UreqClient::new();
    let wrong = Client::confidential(CC_BASIC.0, ClientSecret::new("not-the-secret"));
    let err = oauth::client_credentials(&http, &meta.token_endpoint, &wrong, Default::default())
        .unwrap_err();
    assert_eq!(
        err.oauth_code(),
        Some(&OAuthErrorCode::InvalidClient),
        "{err:?}"
    );
    // A public client may not use the client credentials grant.
    let err = oauth::client_credentials(
        &http,
        &meta.token_endpoint,
        &Client::public(PUBLIC_CLIENT),
        Default::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            OAuthError::Rejected {
                status: Some(400..=401),
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn unreachable_server_is_a_network_error() {
    let closed = tessera_testkit::closed_port_url();
    let err = oauth::discover(&UreqClient::new(), &closed).unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
}

#[test]
fn pkce_browser_login_refresh_and_revoke() {
    let Some(provider) = OidcProvider::provider() else {
        return;
    };
    let meta = metadata(&provider);
    let http = UreqClient::new();
    let client = Client::public(PUBLIC_CLIENT);
    let landing = Mutex::new(None);
    let browser = WalkingBrowser {
        browser: Browser::new(&provider.url),
        landing: &landing,
    };
    let mut events = Vec::new();
    let token = oauth::login_with_browser(
        &http,
        &web_login(&meta, &client),
        Some(&browser),
        no_paste(),
        &mut |e| events.push(format!("{e:?}")),
    )
    .unwrap();
    assert!(events[0].starts_with("BrowserOpened"), "{events:?}");
    let (status, page) = landing.lock().unwrap().take().unwrap();
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("return to the terminal"), "{page}");
    assert_eq!(token.scope.as_deref(), Some("api:read"));
    let info = provider.introspect(token.access_token.expose_secret());
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["sub"], "tessera-test-user");

    // Refresh: a public client's refresh token is rotated on use.
    let first_refresh = token.refresh_token.clone().expect("a refresh token");
    let refreshed =
        oauth::refresh(&http, &meta.token_endpoint, &client, &first_refresh, None).unwrap();
    let second_refresh = refreshed.refresh_token.clone().unwrap();
    assert_ne!(second_refresh, first_refresh);
    assert_ne!(refreshed.access_token, token.access_token);
    assert_eq!(
        provider.introspect(refreshed.access_token.expose_secret())["active"],
        true
    );

    // Revoking the access token ends it at once.
    let revocation = meta.revocation_endpoint.as_deref().unwrap();
    oauth::revoke(
        &http,
        revocation,
        &client,
        TokenToRevoke::Access(&refreshed.access_token),
    )
    .unwrap();
    assert_eq!(
        provider.introspect(refreshed.access_token.expose_secret())["active"],
        false
    );
    // Revoking the refresh token makes the next refresh invalid_grant: the
    // signal for "log in again".
    oauth::revoke(
        &http,
        revocation,
        &client,
        TokenToRevoke::Refresh(&second_refresh),
    )
    .unwrap();
    let err =
        oauth::refresh(&http, &meta.token_endpoint, &client, &second_refresh, None).unwrap_err();
    assert!(err.is_invalid_grant(), "{err:?}");
    // Revoking it again is not an error (RFC 7009 §2.2).
    oauth::revoke(
        &http,
        revocation,
        &client,
        TokenToRevoke::Refresh(&second_refresh),
    )
    .unwrap();
}

#[test]
fn pkce_denied_by_the_user_shows_the_error_page() {
    let Some(provider) = OidcProvider::provider() else {
        return;
    };
    let meta = metadata(&provider);
    let client = Client::public(PUBLIC_CLIENT);
    let landing = Mutex::new(None);
    let browser = WalkingBrowser {
        browser: Browser::new(&provider.url),
        landing: &landing,
    };
    let mut login = web_login(&meta, &client);
    login.extra_params = &[("login_hint", "deny")];
    let err = oauth::login_with_browser(
        &UreqClient::new(),
        &login,
        Some(&browser),
        no_paste(),
        &mut |_| {},
    )
    .unwrap_err();
    assert_eq!(
        err.oauth_code(),
        Some(&OAuthErrorCode::AccessDenied),
        "{err:?}"
    );
    let (status, page) = landing.lock().unwrap().take().unwrap();
    assert_eq!(status, 400);
    assert!(
        page.contains("access_denied") && page.contains("Return to the terminal"),
        "{page}"
    );
}

#[test]
fn pkce_without_browser_accepts_the_pasted_redirect_url() {
    let Some(provider) = OidcProvider::provider() else {
        return;
    };
    let meta = metadata(&provider);
    let client = Client::public(PUBLIC_CLIENT);
    let (reader, mut writer) = std::io::pipe().unwrap();
    // The user's browser is on another machine: it cannot reach the loopback
    // port, so the user copies the address it ended on.
    let browser = Browser::new(&provider.url);
    let mut printed = None;
    let token = oauth::login_with_browser(
        &UreqClient::new(),
        &web_login(&meta, &client),
        None,
        Box::new(BufReader::new(reader)),
        &mut |event| {
            let WebLoginEvent::OpenManually { url, open_error } = event else {
                panic!("{event:?}");
            };
            assert!(open_error.is_none());
            printed = Some(url.to_owned());
            match browser.walk(url) {
                Landing::Away(address) => writeln!(writer, "{address}").unwrap(),
                Landing::Page(page) => panic!("{}: {}", page.status, page.html),
            }
        },
    )
    .unwrap();
    assert!(
        printed
            .unwrap()
            .starts_with(meta.authorization_endpoint.as_deref().unwrap())
    );
    assert_eq!(
        provider.introspect(token.access_token.expose_secret())["active"],
        true
    );
}

#[test]
fn device_flow_approved_while_polling() {
    let Some(provider) = OidcProvider::provider() else {
        return;
    };
    let client = Client::public(PUBLIC_CLIENT);
    // First poll: still pending. During the second wait the user approves.
    let (token, waits) = device_login(&provider, &client, 2);
    assert_eq!(waits, 2);
    assert_eq!(token.scope.as_deref(), Some("api:read"));
    let info = provider.introspect(token.access_token.expose_secret());
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["sub"], "tessera-test-user");
    assert!(token.refresh_token.is_some());
}

#[test]
fn device_flow_denied_by_the_user() {
    let Some(provider) = OidcProvider::provider() else {
        return;
    };
    let meta = metadata(&provider);
    let http = UreqClient::new();
    let client = Client::public(PUBLIC_CLIENT);
    let device = oauth::request_device_authorization(
        &http,
        meta.device_authorization_endpoint.as_deref().unwrap(),
        &client,
        Some("api:read"),
        &tessera_client::Transport::default(),
    )
    .unwrap();
    let browser = Browser::new(&provider.url).denying();
    let complete = device.verification_uri_complete.clone().unwrap();
    let clock = ScriptedClock::new(|n| {
        if n == 1 {
            match browser.walk(&complete) {
                Landing::Page(page) => assert!(page.html.contains("AbortedError"), "{}", page.html),
                Landing::Away(url) => panic!("{url}"),
            }
        }
    });
    let err = oauth::poll_device_token(&http, &meta.token_endpoint, &client, &device, &clock)
        .unwrap_err();
    assert_eq!(
        err.oauth_code(),
        Some(&OAuthErrorCode::AccessDenied),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------
// DPoP (RFC 9449) against a foreign server: oidc-provider binds the tokens to
// this client's key, asks for its nonces, and refuses the refresh token with
// another key.

#[test]
fn dpop_device_login_binds_tokens_follows_nonces_and_refreshes_with_its_key() {
    let Some(provider) = OidcProvider::start("provider.mjs", &[("DPOP_NONCE", "1")]) else {
        return;
    };
    let meta = metadata(&provider);
    let key = DpopKey::for_server(&meta.dpop_signing_alg_values_supported)
        .expect("oidc-provider advertises DPoP algorithms we sign");
    let http = UreqClient::new();
    let client = Client::public(DPOP_CLIENT).with_dpop(key.clone());
    let (token, _) = device_login(&provider, &client, 1);
    assert_eq!(token.token_type, "DPoP");
    let info = provider.introspect(token.access_token.expose_secret());
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["cnf"]["jkt"], key.thumbprint(), "{info}");
    let mut session = OAuthSession::from_login(LoginMethod::Device, token, &client, 0);
    session.token_endpoint = Some(meta.token_endpoint.clone());
    assert_eq!(session.dpop_key.as_ref(), Some(&key));

    // The refresh token is bound to the key: another key is refused, and the
    // login's own key (through the session's client) renews it.
    let refresh_token = session.refresh_token.clone().unwrap();
    let thief = Client::public(DPOP_CLIENT).with_dpop(DpopKey::generate("ES256"));
    let err =
        oauth::refresh(&http, &meta.token_endpoint, &thief, &refresh_token, None).unwrap_err();
    assert!(err.is_invalid_grant(), "{err:?}");
    let no_env = std::collections::HashMap::<String, String>::new();
    let renewed = HttpRefresher {
        http: &http,
        env: &no_env,
    }
    .renew(&session, None)
    .unwrap();
    assert_eq!(renewed.token_type, "DPoP");
    let info = provider.introspect(renewed.access_token.expose_secret());
    assert_eq!(info["cnf"]["jkt"], key.thumbprint(), "{info}");
}

#[test]
fn dpop_is_required_where_registered_and_works_with_p256_in_the_browser_flow() {
    let Some(provider) = OidcProvider::provider() else {
        return;
    };
    let meta = metadata(&provider);
    let http = UreqClient::new();
    // Without a key, the client registered for DPoP gets no token.
    let plain = Client::public(DPOP_CLIENT);
    let landing = Mutex::new(None);
    let browser = WalkingBrowser {
        browser: Browser::new(&provider.url),
        landing: &landing,
    };
    let err = oauth::login_with_browser(
        &http,
        &web_login(&meta, &plain),
        Some(&browser),
        no_paste(),
        &mut |_| {},
    )
    .unwrap_err();
    // oidc-provider answers the code exchange without a proof with
    // `invalid_grant` ("grant request is invalid").
    assert!(err.is_invalid_grant(), "{err:?}");

    let key = DpopKey::generate("ES256");
    let client = Client::public(DPOP_CLIENT).with_dpop(key.clone());
    let landing = Mutex::new(None);
    let browser = WalkingBrowser {
        browser: Browser::new(&provider.url),
        landing: &landing,
    };
    let token = oauth::login_with_browser(
        &http,
        &web_login(&meta, &client),
        Some(&browser),
        no_paste(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(token.token_type, "DPoP");
    let info = provider.introspect(token.access_token.expose_secret());
    assert_eq!(info["cnf"]["jkt"], key.thumbprint(), "{info}");
}
