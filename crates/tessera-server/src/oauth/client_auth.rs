//! Client authentication at the token, device, revocation and introspection
//! endpoints (RFC 6749 §2.3): `client_secret_basic` (HTTP Basic, id and secret
//! form-urlencoded first, §2.3.1), `client_secret_post` (both in the body), and
//! `none` for public clients (only `client_id` in the body; they prove possession
//! with PKCE or the device code instead).
//!
//! Client secrets are 256-bit random values, so the database keeps a fast hash
//! ([`crate::digest::secret_hash`]); the hashes are compared with
//! [`subtle::ConstantTimeEq`], and an unknown client id costs the same hash and
//! comparison, so timing says nothing about which ids exist or how much of a
//! secret matched.

use crate::digest;
use crate::error::{Error, Result};
use crate::store::{App, Store};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq as _;
use tessera_proto::{ClientSecret, OAuthErrorCode};

/// `token_endpoint_auth_methods_supported` in discovery.
pub const AUTH_METHODS: [&str; 3] = ["client_secret_basic", "client_secret_post", "none"];

/// Hash compared against when the client id is unknown, so that path costs the same.
const DUMMY_HASH: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// Whether `presented` is the secret whose hash is `stored_hash`, in constant time.
pub fn secret_matches(presented: &ClientSecret, stored_hash: &str) -> bool {
    let presented_hash = digest::secret_hash(presented.expose_secret());
    presented_hash
        .as_bytes()
        .ct_eq(stored_hash.as_bytes())
        .into()
}

fn invalid_client() -> Error {
    // One message for unknown id, wrong secret and missing secret.
    Error::oauth(
        OAuthErrorCode::InvalidClient,
        "client authentication failed",
    )
}

/// What a client presents: the `Authorization` header (for `client_secret_basic`)
/// and the body's `client_id` / `client_secret`. No `Debug`: it holds secrets.
#[derive(Default)]
pub struct ClientCredentials {
    /// The header's value; empty when it was not printable ASCII.
    pub authorization: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// Id and secret from an `Authorization: Basic` header, if there is one.
fn basic_credentials(authorization: Option<&str>) -> Result<Option<(String, ClientSecret)>> {
    let Some(value) = authorization else {
        return Ok(None);
    };
    let (scheme, encoded) = value.trim().split_once(' ').ok_or_else(invalid_client)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(invalid_client());
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(invalid_client)?;
    let (id, secret) = decoded.split_once(':').ok_or_else(invalid_client)?;
    Ok(Some((
        form_decode(id),
        ClientSecret::new(form_decode(secret)),
    )))
}

/// RFC 6749 §2.3.1: Basic credentials are `application/x-www-form-urlencoded` first:
/// `+` is a space, `%XX` a byte. The component is one value, so a `&` in it is
/// part of it, not the start of another pair that is dropped: `secret&junk` is
/// not `secret`.
fn form_decode(component: &str) -> String {
    let pair = format!("v={}", component.replace('&', "%26"));
    url::form_urlencoded::parse(pair.as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Authenticates the client of an OAuth request from the `Authorization` header or
/// the body's `client_id` / `client_secret`. Returns the registered app.
///
/// Exactly one method may be used (RFC 6749 §2.3); a confidential client must
/// present its secret, a public one must not present any.
pub async fn authenticate(store: &Store, credentials: &ClientCredentials) -> Result<App> {
    let body_client_id = credentials.client_id.as_deref();
    // RFC 6749 §3.1: a parameter sent without a value is as if omitted; and a
    // public client that sends Basic `client_id:` (some libraries do) is
    // using `none`.
    let body_client_secret = (credentials.client_secret.as_deref()).filter(|s| !s.is_empty());
    let (client_id, secret) = match basic_credentials(credentials.authorization.as_deref())? {
        Some((id, secret)) => {
            if body_client_secret.is_some() {
                return Err(super::invalid_request(
                    "use one client authentication method, not Basic and client_secret together",
                ));
            }
            if body_client_id.is_some_and(|body_id| body_id != id) {
                return Err(super::invalid_request(
                    "client_id in the body differs from the Basic credentials",
                ));
            }
            let secret = Some(secret).filter(|s| !s.expose_secret().is_empty());
            (id, secret)
        }
        None => {
            let id = body_client_id
                .filter(|id| !id.is_empty())
                .ok_or_else(invalid_client)?
                .to_owned();
            (id, body_client_secret.map(ClientSecret::new))
        }
    };
    let app = store.app_by_client_id(&client_id).await?;
    match (app, secret) {
        (Some(app), Some(secret)) => {
            let stored = app.client_secret_hash.as_deref().unwrap_or(DUMMY_HASH);
            // A public app has no secret: presenting one fails (after the same work).
            if secret_matches(&secret, stored) && !app.public {
                Ok(app)
            } else {
                Err(invalid_client())
            }
        }
        (Some(app), None) if app.public => Ok(app),
        (Some(_), None) => Err(invalid_client()),
        (None, secret) => {
            if let Some(secret) = secret {
                let _ = secret_matches(&secret, DUMMY_HASH);
            }
            Err(invalid_client())
        }
    }
}

/// The app's registration allows `grant` (an app `grant_types` name: see
/// [`super::APP_GRANT_DEVICE_CODE`]); else `unauthorized_client` (RFC 6749 §5.2).
pub fn require_grant(app: &App, grant: &str) -> Result<()> {
    if app.grant_types.iter().any(|g| g == grant) {
        Ok(())
    } else {
        Err(Error::oauth(
            OAuthErrorCode::UnauthorizedClient,
            format!("this client is not registered for the {grant} grant"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_secret_comparison() {
        let secret = ClientSecret::new("correct-horse-battery-staple-0123456789");
        let stored = digest::secret_hash(secret.expose_secret());
        assert!(secret_matches(&secret, &stored));
        // Differs in the first and in the last byte of the secret; a prefix.
        assert!(!secret_matches(
            &ClientSecret::new("Xorrect-horse-battery-staple-0123456789"),
            &stored
        ));
        assert!(!secret_matches(
            &ClientSecret::new("correct-horse-battery-staple-012345678X"),
            &stored
        ));
        assert!(!secret_matches(&ClientSecret::new("correct"), &stored));
        assert!(!secret_matches(&secret, DUMMY_HASH));
        // The comparison itself is subtle's constant-time one, not `==` on the
        // hashes (which returns at the first differing byte).
        let source = include_str!("client_auth.rs");
        let body = source
            .split("pub fn secret_matches")
            .nth(1)
            .and_then(|rest| rest.split("\n}\n").next())
            .expect("secret_matches body");
        assert!(body.contains(".ct_eq("), "{body}");
        assert!(!body.contains("=="), "{body}");
    }

    /// An empty secret is no secret (RFC 6749 §3.1): a public client may send
    /// Basic `client_id:` or `client_secret=`; a confidential one still fails.
    #[tokio::test]
    async fn an_empty_secret_is_none() {
        use crate::apps::NewApp;
        let fx = crate::testing::Fixture::new().await;
        let account = fx.account("dev@example.com").await;
        let public = NewApp {
            public: true,
            ..NewApp::named("CLI")
        };
        let cli = fx.app(&account, public).await.app.client_id;
        let backend = fx
            .app(&account, NewApp::named("Backend"))
            .await
            .app
            .client_id;
        let basic = |id: &str| Some(format!("Basic {}", STANDARD.encode(format!("{id}:"))));
        let empty_post = |id: &str| ClientCredentials {
            client_id: Some(id.to_owned()),
            client_secret: Some(String::new()),
            ..ClientCredentials::default()
        };
        let store = &fx.state.store;
        for credentials in [
            ClientCredentials {
                authorization: basic(&cli),
                ..ClientCredentials::default()
            },
            ClientCredentials {
                authorization: basic(&cli),
                client_secret: Some(String::new()),
                ..ClientCredentials::default()
            },
            empty_post(&cli),
        ] {
            assert_eq!(
                authenticate(store, &credentials).await.unwrap().client_id,
                cli
            );
        }
        for credentials in [
            ClientCredentials {
                authorization: basic(&backend),
                ..ClientCredentials::default()
            },
            empty_post(&backend),
        ] {
            let refused = authenticate(store, &credentials).await.unwrap_err();
            assert_eq!(refused.to_string(), invalid_client().to_string());
        }
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let encoded = STANDARD.encode("my%3Aclient:s%2Bcret%20x");
        let header = format!("Basic {encoded}");
        let (id, secret) = basic_credentials(Some(&header)).unwrap().unwrap();
        assert_eq!(id, "my:client");
        assert_eq!(secret.expose_secret(), "s+cret x");
    }

    #[test]
    fn an_ampersand_in_basic_credentials_is_part_of_them() {
        let header = format!("Basic {}", STANDARD.encode("app&x=1:s3cret&junk"));
        let (id, secret) = basic_credentials(Some(&header)).unwrap().unwrap();
        assert_eq!(id, "app&x=1");
        assert_eq!(secret.expose_secret(), "s3cret&junk");
    }
}
