//! An OAuth login kept in a profile: the token cache, and everything refreshing
//! and revoking it needs without discovering the server again.
//!
//! Stored under `[profiles.NAME.oauth]` in the credentials file (mode 0600).

use crate::dpop::DpopKey;
use crate::oauth::{Client, SubjectTokenSource, TokenResponse};
use serde::{Deserialize, Serialize};
use tessera_proto::{AccessToken, ClientSecret, RefreshToken, dpop};

/// How a session was obtained; it decides how it is renewed and which login
/// command to run when it cannot be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginMethod {
    /// Client credentials (+ `customer_key`): renewed by asking again.
    ClientCredentials,
    /// Authorization code + PKCE in a browser.
    Web,
    /// Device authorization grant (RFC 8628).
    Device,
    /// Token URL + session id: Level 0, single use.
    Session,
    /// Workload identity federation (RFC 8693): a subject token from the
    /// session's source, exchanged again for each new access token.
    Federated,
}

impl LoginMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginMethod::ClientCredentials => "client_credentials",
            LoginMethod::Web => "web",
            LoginMethod::Device => "device",
            LoginMethod::Session => "session",
            LoginMethod::Federated => "federated",
        }
    }

    /// The `auth login` flag that starts this method again.
    pub fn login_flag(self) -> &'static str {
        match self {
            LoginMethod::ClientCredentials => "--client-credentials",
            LoginMethod::Web => "--web",
            LoginMethod::Device => "--device",
            LoginMethod::Session => "--session",
            LoginMethod::Federated => "--federated",
        }
    }
}

impl std::fmt::Display for LoginMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LoginMethod::ClientCredentials => "client credentials",
            LoginMethod::Web => "browser (PKCE)",
            LoginMethod::Device => "device code",
            LoginMethod::Session => "token URL session",
            LoginMethod::Federated => "workload identity federation",
        })
    }
}

/// A cached OAuth login. Secrets are newtypes: `Debug` never shows them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OAuthSession {
    pub method: LoginMethod,
    pub access_token: AccessToken,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// Unix seconds; `None` when the server did not say (treated as valid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Granted scopes, space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Assurance level (`acr`); `"0"` for token-URL sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Client credentials only: a new token is obtained by asking again, which
    /// needs the secret. Kept in the 0600 file like the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// Federated logins: where a fresh subject token comes from (never the
    /// token itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federated: Option<SubjectTokenSource>,
    /// When the current access token was obtained (Unix seconds).
    pub obtained_at: i64,
    /// The DPoP key the tokens are bound to (RFC 9449): every request with
    /// them carries a proof signed by it. Generated for this login, stored
    /// with the tokens (same file or keychain entry), gone with them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_key: Option<DpopKey>,
}

/// The level shown for token-URL sessions.
pub const LEVEL_0: &str = "0";

impl OAuthSession {
    /// A session from a fresh token response. Endpoints and client are filled
    /// in by the caller, who knows them.
    pub fn from_token(method: LoginMethod, token: TokenResponse, now: i64) -> Self {
        let mut session = OAuthSession {
            method,
            access_token: token.access_token.clone(),
            refresh_token: None,
            expires_at: None,
            scope: None,
            acr: None,
            client_id: None,
            client_secret: None,
            issuer: None,
            token_endpoint: None,
            revocation_endpoint: None,
            federated: None,
            obtained_at: now,
            dpop_key: None,
        };
        session.apply(token, now);
        session
    }

    /// A session from a login's token response: the client it logged in as,
    /// and the client's DPoP key when the server bound the tokens to it.
    pub fn from_login(
        method: LoginMethod,
        token: TokenResponse,
        client: &Client,
        now: i64,
    ) -> Self {
        let bound = token.token_type.eq_ignore_ascii_case(dpop::TOKEN_TYPE);
        let mut session = Self::from_token(method, token, now);
        session.client_id = Some(client.id().to_owned());
        session.dpop_key = client.dpop_key().filter(|_| bound).cloned();
        session
    }

    /// Whether the tokens are bound to this machine's key: a copy of the
    /// access token alone is refused by the server.
    pub fn is_dpop_bound(&self) -> bool {
        self.dpop_key.is_some()
    }

    /// Takes a renewed token: a new access token and expiry; a rotated
    /// refresh token replaces the old one; scope and level are kept when the
    /// response leaves them out. A token-URL session stays Level 0 whatever
    /// the server says: nothing about renewing it proves more.
    pub fn apply(&mut self, token: TokenResponse, now: i64) {
        // A server that stopped binding tokens answers `Bearer`; the key is of
        // no more use, and sending an unbound token as DPoP would be refused.
        if !token.token_type.eq_ignore_ascii_case(dpop::TOKEN_TYPE) {
            self.dpop_key = None;
        }
        self.access_token = token.access_token;
        // Capped as `access_token_expiry` caps it: a hostile `expires_in` of
        // 2^64 - 1 once became an expiry of i64::MAX, shown and handed to
        // kubectl as that number, not a date.
        self.expires_at = token.expires_in.map(|s| {
            let s = s.min(crate::oauth::LONGEST_EXPIRES_IN);
            now.saturating_add(i64::try_from(s).unwrap_or(i64::MAX))
        });
        if token.refresh_token.is_some() {
            self.refresh_token = token.refresh_token;
        }
        if token.scope.is_some() {
            self.scope = token.scope;
        }
        if token.acr.is_some() {
            self.acr = token.acr;
        }
        if self.method == LoginMethod::Session {
            self.acr = Some(LEVEL_0.to_owned());
        }
        self.obtained_at = now;
    }

    /// Whether the access token stays valid for at least `margin` seconds.
    pub fn valid_for(&self, now: i64, margin: i64) -> bool {
        self.expires_at
            .is_none_or(|exp| exp.saturating_sub(now) >= margin)
    }

    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|exp| exp <= now)
    }

    /// Whether a new access token can be had without the user: with a refresh
    /// token, by asking again with the stored client secret, or by exchanging
    /// a fresh subject token from the federated source.
    pub fn renewable(&self) -> bool {
        self.refresh_token.is_some()
            || (self.method == LoginMethod::ClientCredentials && self.client_secret.is_some())
            || (self.method == LoginMethod::Federated && self.federated.is_some())
    }

    /// The method in words; a federated login names its source.
    pub fn method_description(&self) -> String {
        match (&self.method, &self.federated) {
            (LoginMethod::Federated, Some(source)) => format!("federated ({source})"),
            (method, _) => method.to_string(),
        }
    }

    pub fn is_level_0(&self) -> bool {
        self.acr.as_deref() == Some(LEVEL_0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(json: &str) -> TokenResponse {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn expiry_rotation_and_level_0() {
        let mut s = OAuthSession::from_token(
            LoginMethod::Session,
            token(
                r#"{"access_token":"at-1","token_type":"Bearer","expires_in":100,"refresh_token":"rt-1","scope":"a b","acr":"2"}"#,
            ),
            1_000,
        );
        assert_eq!(s.expires_at, Some(1_100));
        assert!(s.is_level_0(), "a token-URL session is Level 0");
        assert!(s.valid_for(1_040, 60));
        assert!(!s.valid_for(1_041, 60));
        assert!(s.is_expired(1_100));
        s.apply(
            token(r#"{"access_token":"at-2","token_type":"Bearer","expires_in":100}"#),
            2_000,
        );
        assert_eq!(s.access_token.expose_secret(), "at-2");
        assert_eq!(s.refresh_token.as_ref().unwrap().expose_secret(), "rt-1");
        assert_eq!(s.scope.as_deref(), Some("a b"));
        assert_eq!(s.expires_at, Some(2_100));
        assert_eq!(s.obtained_at, 2_000);
    }

    /// `expires_in: 2^64 - 1` from a hostile server once gave an expiry of
    /// i64::MAX: `auth status` showed it as a number and `auth
    /// exec-credential` wrote it as `expirationTimestamp`, which kubectl
    /// cannot parse. It is taken as a century, a date RFC 3339 can write.
    #[test]
    fn an_endless_expires_in_is_a_century() {
        let century = 100 * 365 * 24 * 3600;
        for endless in [u64::MAX, i64::MAX as u64, 1_000_000_000_000] {
            let s = OAuthSession::from_token(
                LoginMethod::Session,
                token(&format!(
                    r#"{{"access_token":"at","token_type":"Bearer","expires_in":{endless}}}"#
                )),
                1_800_000_000,
            );
            assert_eq!(s.expires_at, Some(1_800_000_000 + century), "{endless}");
            let shown = tessera_proto::timestamp::rfc3339(s.expires_at.unwrap());
            assert!(shown.ends_with('Z'), "{shown}");
        }
    }

    #[test]
    fn unknown_expiry_counts_as_valid_and_renewal_needs_a_way() {
        let mut s = OAuthSession::from_token(
            LoginMethod::ClientCredentials,
            token(r#"{"access_token":"at","token_type":"Bearer"}"#),
            0,
        );
        assert!(s.valid_for(i64::MAX, 60));
        assert!(!s.renewable());
        s.client_secret = Some(ClientSecret::new("s"));
        assert!(s.renewable());
    }

    #[test]
    fn round_trips_through_toml_and_debug_redacts() {
        let mut s = OAuthSession::from_token(
            LoginMethod::Web,
            token(
                r#"{"access_token":"at-secret","token_type":"Bearer","expires_in":60,"refresh_token":"rt-secret"}"#,
            ),
            5,
        );
        s.client_id = Some("tessera-cli".into());
        s.token_endpoint = Some("http://as.test/token".into());
        let text = toml::to_string(&s).unwrap();
        assert_eq!(toml::from_str::<OAuthSession>(&text).unwrap(), s);
        let debug = format!("{s:?}");
        assert!(!debug.contains("at-secret") && !debug.contains("rt-secret"));
    }

    #[test]
    fn a_dpop_login_keeps_its_key_while_the_server_binds_tokens() {
        let key = DpopKey::generate(dpop::ALG_ES256);
        let client = Client::public("cli").with_dpop(key.clone());
        let bound =
            r#"{"access_token":"at","token_type":"DPoP","expires_in":60,"refresh_token":"rt"}"#;
        let mut s = OAuthSession::from_login(LoginMethod::Device, token(bound), &client, 0);
        assert_eq!(s.dpop_key.as_ref(), Some(&key));
        assert_eq!(s.client_id.as_deref(), Some("cli"));
        let text = toml::to_string(&s).unwrap();
        let back: OAuthSession = toml::from_str(&text).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.dpop_key.unwrap().thumbprint(), key.thumbprint());
        s.apply(token(bound), 10);
        assert!(s.is_dpop_bound());
        s.apply(token(r#"{"access_token":"at","token_type":"Bearer"}"#), 20);
        assert!(!s.is_dpop_bound(), "an unbound token is not sent as DPoP");
        // A server that answers Bearer to a proof did not bind anything.
        let unbound = OAuthSession::from_login(
            LoginMethod::Web,
            token(r#"{"access_token":"at","token_type":"Bearer"}"#),
            &client,
            0,
        );
        assert!(!unbound.is_dpop_bound());
    }
}
