//! Client credentials grant (RFC 6749 §4.4), with Lofty's server-to-server
//! extension: an API key sent as `customer_key`, so the token acts for that
//! key's account.

use super::error::OAuthError;
use super::http::HttpClient;
use super::token::{Client, token_request};
use tessera_proto::ApiKey;
use tessera_proto::token::TokenResponse;

/// What to ask for besides the client's own identity.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientCredentialsRequest<'a> {
    /// Space-separated scopes; the server's default when `None`.
    pub scope: Option<&'a str>,
    /// The account's API key (Lofty: `LOFTY_CUSTOMER_KEY`).
    pub customer_key: Option<&'a ApiKey>,
}

pub fn client_credentials(
    http: &dyn HttpClient,
    token_endpoint: &str,
    client: &Client,
    request: ClientCredentialsRequest<'_>,
) -> Result<TokenResponse, OAuthError> {
    let mut params = vec![("grant_type", "client_credentials")];
    if let Some(scope) = request.scope {
        params.push(("scope", scope));
    }
    if let Some(key) = request.customer_key {
        params.push(("customer_key", key.expose_secret()));
    }
    token_request(http, token_endpoint, Some(client), &params)
}

#[cfg(test)]
mod tests {
    use super::super::token::testing::{FakeHttp, TOKEN_JSON};
    use super::*;
    use tessera_proto::ClientSecret;

    #[test]
    fn sends_grant_scope_and_customer_key() {
        let http = FakeHttp::default().reply(200, TOKEN_JSON);
        let client = Client::confidential("app", ClientSecret::new("secret"));
        let key = ApiKey::new("lk_eyJ.key");
        let token = client_credentials(
            &http,
            "http://as.test/token",
            &client,
            ClientCredentialsRequest {
                scope: Some("api:read"),
                customer_key: Some(&key),
            },
        )
        .unwrap();
        assert_eq!(token.access_token.expose_secret(), "at-1");
        assert_eq!(
            http.form(0),
            vec![
                ("grant_type".to_owned(), "client_credentials".to_owned()),
                ("scope".to_owned(), "api:read".to_owned()),
                ("customer_key".to_owned(), "lk_eyJ.key".to_owned()),
            ]
        );
    }

    #[test]
    fn optional_fields_are_left_out() {
        let http = FakeHttp::default().reply(200, TOKEN_JSON);
        let client = Client::confidential("app", ClientSecret::new("secret"));
        client_credentials(&http, "http://as.test/token", &client, Default::default()).unwrap();
        assert_eq!(http.field(0, "scope"), None);
        assert_eq!(http.field(0, "customer_key"), None);
    }
}
