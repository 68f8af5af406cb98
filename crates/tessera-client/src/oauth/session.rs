//! Token URL login (Lofty `login-session`): a session id created elsewhere (an
//! admin command, a signed-in web session) is exchanged once for a token.

use super::error::OAuthError;
use super::http::HttpClient;
use super::token::token_request;
use tessera_proto::token::TokenResponse;

/// The `acr` of a token-URL login: Level 0, the lowest assurance.
pub const LEVEL_0_ACR: &str = "0";

/// POSTs `session_id` to `token_url` and returns the token, marked Level 0.
///
/// The mark is set by the client whatever the server says: a session id is a
/// bearer secret handed over out of band, so nothing about this login proves
/// more, and `status` must never show a higher level for it.
pub fn session_token(
    http: &dyn HttpClient,
    token_url: &str,
    session_id: &str,
) -> Result<TokenResponse, OAuthError> {
    let mut token = token_request(http, token_url, None, &[("session_id", session_id)])?;
    token.acr = Some(LEVEL_0_ACR.to_owned());
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::super::token::testing::{FakeHttp, TOKEN_JSON};
    use super::*;

    #[test]
    fn posts_session_id_and_marks_level_0() {
        let http = FakeHttp::default().reply(200, TOKEN_JSON);
        let token = session_token(&http, "http://as.test/oauth/session-token", "sess-1").unwrap();
        assert_eq!(token.acr.as_deref(), Some("0"));
        assert_eq!(
            http.form(0),
            vec![("session_id".to_owned(), "sess-1".to_owned())]
        );
    }

    #[test]
    fn used_session_is_rejected() {
        let http = FakeHttp::default().reply(400, r#"{"error":"invalid_grant"}"#);
        let err = session_token(&http, "http://as.test/s", "used").unwrap_err();
        assert!(err.is_invalid_grant());
    }
}
