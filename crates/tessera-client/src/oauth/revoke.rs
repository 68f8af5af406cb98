//! Token revocation (RFC 7009).

use super::error::OAuthError;
use super::http::HttpClient;
use super::token::{Client, Sent, error_from_response, post_form};
use tessera_proto::{AccessToken, RefreshToken};

/// The token to revoke; its kind is sent as `token_type_hint` (RFC 7009 §2.1).
#[derive(Clone, Copy, Debug)]
pub enum TokenToRevoke<'a> {
    Access(&'a AccessToken),
    Refresh(&'a RefreshToken),
}

/// Revokes one token. Revoking a refresh token also ends the access tokens of
/// the same grant on servers that support it (RFC 7009 §2.1), so revoke the
/// refresh token first. An already invalid token counts as revoked: the
/// server answers 200 (RFC 7009 §2.2).
pub fn revoke(
    http: &dyn HttpClient,
    revocation_endpoint: &str,
    client: &Client,
    token: TokenToRevoke<'_>,
) -> Result<(), OAuthError> {
    let (value, hint) = match token {
        TokenToRevoke::Access(t) => (t.expose_secret(), "access_token"),
        TokenToRevoke::Refresh(t) => (t.expose_secret(), "refresh_token"),
    };
    let params = [("token", value), ("token_type_hint", hint)];
    let response = post_form(http, revocation_endpoint, Some(client), &params, None)?;
    if response.status().is_success() {
        Ok(())
    } else {
        let sent = Sent::of(Some(client), &params);
        Err(error_from_response(revocation_endpoint, &response, &sent))
    }
}

#[cfg(test)]
mod tests {
    use super::super::token::testing::FakeHttp;
    use super::*;
    use tessera_proto::OAuthErrorCode;

    #[test]
    fn sends_token_and_hint() {
        let http = FakeHttp::default().reply(200, "");
        let rt = RefreshToken::new("rt-1");
        revoke(
            &http,
            "http://as.test/revoke",
            &Client::public("cli"),
            TokenToRevoke::Refresh(&rt),
        )
        .unwrap();
        assert_eq!(http.field(0, "token").as_deref(), Some("rt-1"));
        assert_eq!(
            http.field(0, "token_type_hint").as_deref(),
            Some("refresh_token")
        );
        assert_eq!(http.field(0, "client_id").as_deref(), Some("cli"));
    }

    #[test]
    fn refusal_is_reported() {
        let http = FakeHttp::default().reply(400, r#"{"error":"unsupported_token_type"}"#);
        let at = AccessToken::new("at");
        let err = revoke(
            &http,
            "http://as.test/revoke",
            &Client::public("cli"),
            TokenToRevoke::Access(&at),
        )
        .unwrap_err();
        assert_eq!(
            err.oauth_code(),
            Some(&OAuthErrorCode::UnsupportedTokenType)
        );
        assert_eq!(
            http.field(0, "token_type_hint").as_deref(),
            Some("access_token")
        );
    }
}
