//! Device authorization grant (RFC 8628): for machines with no usable browser.
//!
//! [`request_device_authorization`] returns what the user must see
//! (`verification_uri`, `user_code`, and `verification_uri_complete` when the
//! server offers it); [`poll_device_token`] then waits for their approval.

use super::clock::Clock;
use super::error::OAuthError;
use super::http::HttpClient;
use super::token::{Client, Sent, parse_success, post_form, token_request};
use crate::transport::Transport;
use std::time::Duration;
use tessera_proto::OAuthErrorCode;
use tessera_proto::text::acted_on;
use tessera_proto::token::{DeviceAuthorizationResponse, TokenResponse};

/// The `grant_type` of the device access token request (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// RFC 8628 §3.5: each `slow_down` adds 5 seconds to the polling interval.
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// RFC 8628 sets no bound on `expires_in` or `interval`; the server's values
/// are taken up to these, so that a hostile or broken answer cannot keep a
/// login waiting for hours (or overflow the deadline). tesserad's codes live
/// 10 minutes and start at a 5 s interval.
pub const MAX_DEVICE_CODE_LIFETIME: Duration = Duration::from_secs(60 * 60);
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(60);

/// Starts a device login (RFC 8628 §3.1).
///
/// The verification URIs are where the user is sent (and a browser may be
/// opened), so they are held to `rule`'s [`Transport::check_url`], as this
/// client's own requests are: `https`, or plain `http` only to loopback or
/// with the environment's opt-in. Anything else (`javascript:`, `http` to
/// another host) is a [`OAuthError::BadResponse`]. `expires_in` comes back
/// at most [`MAX_DEVICE_CODE_LIFETIME`], so what is said is what polling
/// does.
pub fn request_device_authorization(
    http: &dyn HttpClient,
    device_authorization_endpoint: &str,
    client: &Client,
    scope: Option<&str>,
    rule: &Transport,
) -> Result<DeviceAuthorizationResponse, OAuthError> {
    let params: Vec<(&str, &str)> = scope.map(|s| ("scope", s)).into_iter().collect();
    let response = post_form(
        http,
        device_authorization_endpoint,
        Some(client),
        &params,
        None,
    )?;
    let mut device: DeviceAuthorizationResponse = parse_success(
        device_authorization_endpoint,
        &response,
        &Sent::of(Some(client), &params),
    )?;
    let uris = [
        ("verification_uri", Some(&device.verification_uri)),
        (
            "verification_uri_complete",
            device.verification_uri_complete.as_ref(),
        ),
    ];
    for (field, uri) in uris {
        // The URL parser would quietly drop or percent-encode control
        // characters, so they are looked for in the text as received.
        let Some(uri) = uri else { continue };
        let why = if rule.check_url(uri).is_err() {
            "is not an https URL (plain http is only for this machine's own servers)"
        } else if uri.chars().any(acted_on) {
            "holds control or text-direction characters"
        } else {
            continue;
        };
        return Err(OAuthError::BadResponse {
            url: device_authorization_endpoint.to_owned(),
            status: response.status().as_u16(),
            detail: format!("the {field} {uri:?} {why}; refusing to send you there"),
        });
    }
    device.expires_in = device.expires_in.min(MAX_DEVICE_CODE_LIFETIME.as_secs());
    Ok(device)
}

/// Polls the token endpoint until the user approves, denies, or the code
/// expires (RFC 8628 §3.4, §3.5).
///
/// Waits `interval` before each request and 5 s more after every
/// `slow_down`, never more than [`MAX_POLL_INTERVAL`] and never past the
/// code's expiry (`expires_in`, at most [`MAX_DEVICE_CODE_LIFETIME`]).
/// `access_denied` and `expired_token` come back as [`OAuthError::Rejected`]
/// with that code; a code that outlives its `expires_in` without an answer is
/// reported as `expired_token` too (with `status: None`), so callers handle
/// one case.
pub fn poll_device_token(
    http: &dyn HttpClient,
    token_endpoint: &str,
    client: &Client,
    device: &DeviceAuthorizationResponse,
    clock: &dyn Clock,
) -> Result<TokenResponse, OAuthError> {
    let lifetime = Duration::from_secs(device.expires_in).min(MAX_DEVICE_CODE_LIFETIME);
    let deadline = clock.now() + lifetime;
    // An interval of 0 would turn polling into a busy loop against the server.
    let mut interval = Duration::from_secs(device.interval.max(1)).min(MAX_POLL_INTERVAL);
    loop {
        // Sleeping past the expiry would only delay saying that it expired.
        clock.sleep(interval.min(deadline.saturating_duration_since(clock.now())));
        if clock.now() >= deadline {
            return Err(OAuthError::rejected(
                OAuthErrorCode::ExpiredToken,
                "the device code expired before the login was approved",
            ));
        }
        let params = [
            ("grant_type", DEVICE_CODE_GRANT),
            ("device_code", device.device_code.as_str()),
        ];
        match token_request(http, token_endpoint, Some(client), &params) {
            Ok(token) => return Ok(token),
            Err(err) => match err.oauth_code() {
                Some(OAuthErrorCode::AuthorizationPending) => {}
                Some(OAuthErrorCode::SlowDown) => {
                    interval = (interval + SLOW_DOWN_STEP).min(MAX_POLL_INTERVAL);
                }
                _ => return Err(err),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::clock::testing::FakeClock;
    use super::super::token::testing::{FakeHttp, TOKEN_JSON};
    use super::*;

    const PENDING: &str = r#"{"error":"authorization_pending"}"#;
    const SLOW: &str = r#"{"error":"slow_down"}"#;

    /// Polls for device code `dc-1`, issued with `interval` and `expires_in`.
    fn poll(
        http: &FakeHttp,
        interval: u64,
        expires_in: u64,
        clock: &FakeClock,
    ) -> Result<TokenResponse, OAuthError> {
        let device = DeviceAuthorizationResponse {
            device_code: "dc-1".into(),
            user_code: "ABCD-EFGH".into(),
            verification_uri: "http://as.test/device".into(),
            verification_uri_complete: None,
            expires_in,
            interval,
        };
        let client = Client::public("cli");
        poll_device_token(http, "http://as.test/token", &client, &device, clock)
    }

    #[test]
    fn requests_authorization_with_scope() {
        let http = FakeHttp::default().reply(
            200,
            r#"{"device_code":"dc","user_code":"WDJB-MJHT","verification_uri":"http://as.test/device","verification_uri_complete":"http://as.test/device?user_code=WDJB-MJHT","expires_in":600,"interval":5}"#,
        );
        let got = request_device_authorization(
            &http,
            "http://as.test/device/auth",
            &Client::public("cli"),
            Some("api:read"),
            &Transport::default().allowing_http_to("http://as.test"),
        )
        .unwrap();
        assert_eq!(got.user_code, "WDJB-MJHT");
        assert_eq!(http.field(0, "scope").as_deref(), Some("api:read"));
        assert_eq!(http.field(0, "client_id").as_deref(), Some("cli"));
    }

    /// The rule of an environment opted in to plain http (`10.1.2.3`).
    fn insecure_opt_in() -> Transport {
        Transport::default().allowing_http_to("http://10.1.2.3")
    }

    fn device_json(uri: &str, complete: &str, expires_in: u64) -> String {
        serde_json::json!({
            "device_code": "dc", "user_code": "WDJB-MJHT", "verification_uri": uri,
            "verification_uri_complete": complete, "expires_in": expires_in, "interval": 5,
        })
        .to_string()
    }

    /// Where the user is sent is held to the rule of the client's own
    /// requests: https, or plain http to loopback (or with the opt-in).
    #[test]
    fn verification_uris_must_be_https_or_loopback_http() {
        let ask = |uri: &str, complete: &str, rule: &Transport| {
            let http = FakeHttp::default().reply(200, &device_json(uri, complete, 600));
            let endpoint = "https://as.test/device/auth";
            request_device_authorization(&http, endpoint, &Client::public("cli"), None, rule)
        };
        let strict = Transport::default();
        let good = [
            ("https://as.test/device", "https://as.test/device?c=1"),
            (
                "http://127.0.0.1:8080/device",
                "http://localhost/device?c=1",
            ),
            ("http://[::1]/device", "https://as.test/d"),
        ];
        for (uri, complete) in good {
            ask(uri, complete, &strict).unwrap();
        }
        let bad = [
            ("http://10.1.2.3/device", "https://as.test/d"),
            ("https://as.test/d", "http://10.1.2.3/device?user_code=WXYZ"),
            ("https://as.test/d", "javascript:alert(1)\u{1b}[31m"),
            ("file:///etc/passwd", "https://as.test/d"),
            ("https://as.test/d\u{1b}[2J", "https://as.test/d"),
            ("https://as.test/d", "https://as.test/d\u{202e}"),
            (
                "\u{1b}]8;;https://evil.example\u{7}https://as.test/d",
                "https://as.test/d",
            ),
        ];
        for (uri, complete) in bad {
            let err = ask(uri, complete, &strict).unwrap_err();
            assert!(
                matches!(err, OAuthError::BadResponse { .. }),
                "{uri} {complete}: {err:?}"
            );
            // The reason is the right one.
            let https = [uri, complete]
                .iter()
                .all(|u| u.starts_with("https://as.test/d"));
            let said = err.to_string();
            assert_eq!(said.contains("control or text-direction"), https, "{said}");
        }
        // An environment opted in to plain http may be sent to its own host,
        // and only there.
        ask(
            "http://10.1.2.3/device",
            "http://10.1.2.3/d",
            &insecure_opt_in(),
        )
        .unwrap();
        let elsewhere = ask(
            "http://10.1.2.4/device",
            "http://10.1.2.3/d",
            &insecure_opt_in(),
        );
        assert!(matches!(elsewhere, Err(OAuthError::BadResponse { .. })));
        let err = ask(
            "javascript:alert(1)",
            "https://as.test/d",
            &insecure_opt_in(),
        )
        .unwrap_err();
        assert!(matches!(err, OAuthError::BadResponse { .. }), "{err:?}");
    }

    /// `expires_in: 2^64-1` once overflowed the deadline; it is capped, and
    /// so is what the CLI says of it.
    #[test]
    fn the_largest_lifetime_and_interval_are_capped() {
        let json = device_json("https://as.test/d", "https://as.test/d?c", u64::MAX);
        let http = FakeHttp::default().reply(200, &json);
        let device = request_device_authorization(
            &http,
            "https://as.test/da",
            &Client::public("cli"),
            None,
            &Transport::default(),
        )
        .unwrap();
        assert_eq!(device.expires_in, MAX_DEVICE_CODE_LIFETIME.as_secs());

        // Called with the server's values as they came: bounded all the same.
        let http = FakeHttp::default()
            .reply(400, PENDING)
            .reply(400, SLOW)
            .reply(200, TOKEN_JSON);
        let clock = FakeClock::new();
        poll(&http, u64::MAX, u64::MAX, &clock).unwrap();
        assert_eq!(clock.sleep_secs(), vec![60, 60, 60]);
    }

    /// An interval longer than the code's life (`expires_in: 5`,
    /// `interval: 3600`) once slept an hour past the expiry: the wait ends
    /// at the expiry, and that is said without another request.
    #[test]
    fn polling_never_sleeps_past_the_expiry() {
        let http = FakeHttp::default();
        let clock = FakeClock::new();
        let err = poll(&http, 3600, 5, &clock).unwrap_err();
        assert_eq!(err.oauth_code(), Some(&OAuthErrorCode::ExpiredToken));
        assert_eq!(clock.sleep_secs(), vec![5]);
        assert_eq!(http.count(), 0);

        let http = FakeHttp::default().reply(400, PENDING).reply(400, SLOW);
        let clock = FakeClock::new();
        let err = poll(&http, 10, 22, &clock).unwrap_err();
        assert_eq!(err.oauth_code(), Some(&OAuthErrorCode::ExpiredToken));
        assert_eq!(clock.sleep_secs(), vec![10, 10, 2]);
    }

    #[test]
    fn pending_then_slow_down_then_success() {
        let http = FakeHttp::default()
            .reply(400, PENDING)
            .reply(400, SLOW)
            .reply(400, PENDING)
            .reply(200, TOKEN_JSON);
        let clock = FakeClock::new();
        let token = poll(&http, 5, 600, &clock).unwrap();
        assert_eq!(token.access_token.expose_secret(), "at-1");
        assert_eq!(clock.sleep_secs(), vec![5, 5, 10, 10]);
        assert_eq!(
            http.field(0, "grant_type").as_deref(),
            Some(DEVICE_CODE_GRANT)
        );
        assert_eq!(http.field(0, "device_code").as_deref(), Some("dc-1"));
    }

    #[test]
    fn denial_and_server_expiry_stop_polling() {
        for code in ["access_denied", "expired_token"] {
            let http = FakeHttp::default()
                .reply(400, PENDING)
                .reply(400, &format!(r#"{{"error":"{code}"}}"#));
            let err = poll(&http, 5, 600, &FakeClock::new()).unwrap_err();
            assert_eq!(err.oauth_code().unwrap().as_str(), code);
            assert_eq!(http.count(), 2);
        }
    }

    #[test]
    fn local_expiry_reports_expired_token_without_another_request() {
        let http = FakeHttp::default().reply(400, PENDING).reply(400, PENDING);
        let clock = FakeClock::new();
        let err = poll(&http, 5, 12, &clock).unwrap_err();
        assert_eq!(err.oauth_code(), Some(&OAuthErrorCode::ExpiredToken));
        assert_eq!(http.count(), 2);
        // The last wait ends at the expiry (12 s), not an interval later.
        assert_eq!(clock.sleep_secs(), vec![5, 5, 2]);
    }

    #[test]
    fn zero_interval_still_waits() {
        let http = FakeHttp::default().reply(200, TOKEN_JSON);
        let clock = FakeClock::new();
        poll(&http, 0, 600, &clock).unwrap();
        assert_eq!(clock.sleep_secs(), vec![1]);
    }

    #[test]
    fn network_failure_ends_polling() {
        let http = FakeHttp::default().reply(400, PENDING).fail("refused");
        let err = poll(&http, 5, 600, &FakeClock::new()).unwrap_err();
        assert!(err.is_unreachable());
    }
}
