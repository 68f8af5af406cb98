//! Refresh token grant (RFC 6749 §6).

use super::error::OAuthError;
use super::http::HttpClient;
use super::token::{Client, token_request};
use tessera_proto::RefreshToken;
use tessera_proto::token::TokenResponse;

/// Trades `refresh_token` for a new access token.
///
/// When the server rotates refresh tokens the response carries the new one
/// and the old one must be discarded; when it does not, the response carries
/// no refresh token and the old one stays valid (RFC 6749 §6), so it is put
/// into the returned response: callers always store `refresh_token` as is.
/// A revoked, expired or replayed refresh token gives
/// [`OAuthError::is_invalid_grant`].
pub fn refresh(
    http: &dyn HttpClient,
    token_endpoint: &str,
    client: &Client,
    refresh_token: &RefreshToken,
    scope: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let mut params = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose_secret()),
    ];
    if let Some(scope) = scope {
        params.push(("scope", scope));
    }
    let mut token = token_request(http, token_endpoint, Some(client), &params)?;
    if token.refresh_token.is_none() {
        token.refresh_token = Some(refresh_token.clone());
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::super::token::testing::{FakeHttp, TOKEN_JSON};
    use super::*;

    #[test]
    fn keeps_the_old_refresh_token_unless_rotated() {
        let http = FakeHttp::default().reply(200, TOKEN_JSON).reply(
            200,
            r#"{"access_token":"at-2","token_type":"Bearer","refresh_token":"rt-2"}"#,
        );
        let client = Client::public("cli");
        let old = RefreshToken::new("rt-1");
        let kept = refresh(&http, "http://as.test/token", &client, &old, None).unwrap();
        assert_eq!(kept.refresh_token, Some(old.clone()));
        assert_eq!(
            http.field(0, "grant_type").as_deref(),
            Some("refresh_token")
        );
        assert_eq!(http.field(0, "refresh_token").as_deref(), Some("rt-1"));
        assert_eq!(http.field(0, "client_id").as_deref(), Some("cli"));
        let rotated = refresh(&http, "http://as.test/token", &client, &old, Some("a")).unwrap();
        assert_eq!(rotated.refresh_token, Some(RefreshToken::new("rt-2")));
        assert_eq!(http.field(1, "scope").as_deref(), Some("a"));
    }

    #[test]
    fn revoked_grant_is_invalid_grant() {
        let http = FakeHttp::default().reply(400, r#"{"error":"invalid_grant"}"#);
        let err = refresh(
            &http,
            "http://as.test/token",
            &Client::public("cli"),
            &RefreshToken::new("rt"),
            None,
        )
        .unwrap_err();
        assert!(err.is_invalid_grant());
    }
}
