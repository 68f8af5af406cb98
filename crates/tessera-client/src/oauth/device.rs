//! Device authorization grant (RFC 8628): for machines with no usable browser.
//!
//! [`request_device_authorization`] returns what the user must see
//! (`verification_uri`, `user_code`, and `verification_uri_complete` when the
//! server offers it); [`poll_device_token`] then waits for their approval.

use super::clock::Clock;
use super::error::OAuthError;
use super::http::HttpClient;
use super::token::{Client, parse_success, post_form, token_request};
use std::time::Duration;
use tessera_proto::OAuthErrorCode;
use tessera_proto::token::{DeviceAuthorizationResponse, TokenResponse};

/// The `grant_type` of the device access token request (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// RFC 8628 §3.5: each `slow_down` adds 5 seconds to the polling interval.
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// Starts a device login (RFC 8628 §3.1).
pub fn request_device_authorization(
    http: &dyn HttpClient,
    device_authorization_endpoint: &str,
    client: &Client,
    scope: Option<&str>,
) -> Result<DeviceAuthorizationResponse, OAuthError> {
    let params: Vec<(&str, &str)> = scope.map(|s| ("scope", s)).into_iter().collect();
    let response = post_form(
        http,
        device_authorization_endpoint,
        Some(client),
        &params,
        None,
    )?;
    parse_success(device_authorization_endpoint, &response)
}

/// Polls the token endpoint until the user approves, denies, or the code
/// expires (RFC 8628 §3.4, §3.5).
///
/// Waits `interval` before each request and 5 s more after every
/// `slow_down`. `access_denied` and `expired_token` come back as
/// [`OAuthError::Rejected`] with that code; a code that outlives its
/// `expires_in` without an answer is reported as `expired_token` too (with
/// `status: None`), so callers handle one case.
pub fn poll_device_token(
    http: &dyn HttpClient,
    token_endpoint: &str,
    client: &Client,
    device: &DeviceAuthorizationResponse,
    clock: &dyn Clock,
) -> Result<TokenResponse, OAuthError> {
    let deadline = clock.now() + Duration::from_secs(device.expires_in);
    // An interval of 0 would turn polling into a busy loop against the server.
    let mut interval = Duration::from_secs(device.interval.max(1));
    loop {
        clock.sleep(interval);
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
                Some(OAuthErrorCode::SlowDown) => interval += SLOW_DOWN_STEP,
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
        )
        .unwrap();
        assert_eq!(got.user_code, "WDJB-MJHT");
        assert_eq!(http.field(0, "scope").as_deref(), Some("api:read"));
        assert_eq!(http.field(0, "client_id").as_deref(), Some("cli"));
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
        assert_eq!(clock.sleep_secs(), vec![5, 5, 5]);
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
