//! Email one-time code login (the `lua auth configure --email … --otp …`
//! flow): two independent, non-interactive requests to the platform API.

use super::error::OAuthError;
use super::http::{HttpClient, HttpResponse};
use super::token::{Sent, body_excerpt, send};
use serde::Serialize;
use tessera_proto::ApiErrorBody;
use tessera_proto::api::{CreatedApiKey, OtpRequest, OtpVerify};
use ureq::http::{Request, header};

/// Step 1: ask the server to email a code to `email`. The server answers the
/// same whether or not the address has an account.
pub fn request_otp(http: &dyn HttpClient, api_base: &str, email: &str) -> Result<(), OAuthError> {
    let url = endpoint(api_base, "/v1/auth/otp");
    let response = post_json(
        http,
        &url,
        &OtpRequest {
            email: email.to_owned(),
        },
    )?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(api_error(&url, &response, &Sent::default()))
    }
}

/// Step 2: trade the emailed code for a new API key of the account.
pub fn verify_otp(
    http: &dyn HttpClient,
    api_base: &str,
    email: &str,
    code: &str,
) -> Result<CreatedApiKey, OAuthError> {
    let url = endpoint(api_base, "/v1/auth/otp/verify");
    let response = post_json(
        http,
        &url,
        &OtpVerify {
            email: email.to_owned(),
            code: code.to_owned(),
        },
    )?;
    if !response.status().is_success() {
        return Err(api_error(&url, &response, &Sent::values([code])));
    }
    serde_json::from_slice(response.body()).map_err(|e| OAuthError::BadResponse {
        url,
        status: response.status().as_u16(),
        detail: format!("not a created API key: {e}"),
    })
}

fn endpoint(api_base: &str, path: &str) -> String {
    format!("{}{path}", api_base.trim_end_matches('/'))
}

fn post_json(
    http: &dyn HttpClient,
    url: &str,
    body: &impl Serialize,
) -> Result<HttpResponse, OAuthError> {
    let body = serde_json::to_vec(body).expect("OTP bodies serialize");
    let request = Request::post(url)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json");
    send(http, url, request, body)
}

/// The API's error, or an excerpt of what came instead, never showing what
/// the request sent in `sent` (an echo of the one-time code).
fn api_error(url: &str, response: &HttpResponse, sent: &Sent) -> OAuthError {
    let status = response.status().as_u16();
    let body = sent.hide(&String::from_utf8_lossy(response.body()));
    match serde_json::from_str::<ApiErrorBody>(&body) {
        Ok(body) => OAuthError::ApiRejected {
            status,
            body,
            retry_after: response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok()),
        },
        Err(_) => OAuthError::BadResponse {
            url: url.to_owned(),
            status,
            detail: body_excerpt(body.as_bytes()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::token::testing::FakeHttp;
    use super::*;
    use ureq::http::Response;

    fn json_body(http: &FakeHttp, n: usize) -> serde_json::Value {
        serde_json::from_slice(http.requests.borrow()[n].body()).unwrap()
    }

    #[test]
    fn request_posts_email() {
        let http = FakeHttp::default().reply(202, r#"{"status":"sent"}"#);
        request_otp(&http, "http://api.test/", "a@example.com").unwrap();
        assert_eq!(http.url(0), "http://api.test/v1/auth/otp");
        assert_eq!(
            json_body(&http, 0),
            serde_json::json!({"email": "a@example.com"})
        );
        assert_eq!(http.header(0, "content-type").unwrap(), "application/json");
    }

    #[test]
    fn verify_returns_the_new_key() {
        let http = FakeHttp::default().reply(
            200,
            r#"{"id":"key_1","key":"lk_eyJ.secret","scope":"THIRD_PARTY_OPERATION","expires_at":null}"#,
        );
        let created = verify_otp(&http, "http://api.test", "a@example.com", "123456").unwrap();
        assert_eq!(created.key.expose_secret(), "lk_eyJ.secret");
        assert_eq!(http.url(0), "http://api.test/v1/auth/otp/verify");
        assert_eq!(
            json_body(&http, 0),
            serde_json::json!({"email": "a@example.com", "code": "123456"})
        );
    }

    /// A gateway page or an API message echoing the request does not put the
    /// one-time code (still good for its other tries) in the error.
    #[test]
    fn an_answer_echoing_the_code_does_not_show_it() {
        let http = FakeHttp::default()
            .reply(
                502,
                r#"Bad gateway: {"email":"a@example.com","code":"472913"}"#,
            )
            .reply(
                400,
                r#"{"error":"invalid_otp","message":"code 472913 is wrong"}"#,
            );
        for _ in 0..2 {
            let err = verify_otp(&http, "http://api.test", "a@example.com", "472913").unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("472913"), "{shown}");
        }
    }

    #[test]
    fn wrong_code_and_throttling_are_api_rejections() {
        let throttled = Response::builder()
            .status(429)
            .header("retry-after", "30")
            .body(br#"{"error":"rate_limited","message":"slow down"}"#.to_vec())
            .unwrap();
        let http = FakeHttp::default()
            .reply(
                400,
                r#"{"error":"invalid_otp","message":"Invalid OTP code"}"#,
            )
            .reply_with(throttled);
        match verify_otp(&http, "http://api.test", "a@example.com", "000000").unwrap_err() {
            OAuthError::ApiRejected { status, body, .. } => {
                assert_eq!(status, 400);
                assert_eq!(body.error, "invalid_otp");
            }
            other => panic!("{other:?}"),
        }
        match request_otp(&http, "http://api.test", "a@example.com").unwrap_err() {
            OAuthError::ApiRejected {
                status: 429,
                retry_after: Some(30),
                ..
            } => {}
            other => panic!("{other:?}"),
        }
    }
}
