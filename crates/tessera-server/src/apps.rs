//! OAuth apps (clients): registering them and the grant types they may use.

use crate::digest;
use crate::error::{Error, Result};
use crate::store::{App, AppMode, Store};
use tessera_proto::ClientSecret;

/// The redirect URI public apps get by default: what `tessera auth login --web`
/// listens on, any port.
pub const LOOPBACK_REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// Grant types an app may use (the OAuth token endpoint's `grant_type`, with the
/// device grant's URN shortened).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Grant {
    #[value(name = "client_credentials")]
    ClientCredentials,
    #[value(name = "authorization_code")]
    AuthorizationCode,
    #[value(name = "refresh_token")]
    RefreshToken,
    #[value(
        name = "device_code",
        alias = "urn:ietf:params:oauth:grant-type:device_code"
    )]
    DeviceCode,
}

impl Grant {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::DeviceCode => "device_code",
        }
    }

    /// DESIGN.md: confidential apps get all four; public apps all but
    /// client_credentials (they cannot keep a secret).
    pub fn defaults(public: bool) -> Vec<Grant> {
        let mut grants = vec![
            Self::AuthorizationCode,
            Self::RefreshToken,
            Self::DeviceCode,
        ];
        if !public {
            grants.insert(0, Self::ClientCredentials);
        }
        grants
    }
}

/// What to register.
#[derive(Clone, Debug)]
pub struct NewApp {
    pub name: String,
    pub mode: AppMode,
    /// Exact redirect URIs; loopback ones match any port.
    pub redirect_uris: Vec<String>,
    /// A public client (a CLI or native app): no secret, PKCE required.
    pub public: bool,
    /// A fixed client id, e.g. the well-known id a CLI ships with.
    pub client_id: Option<String>,
    /// Empty: [`Grant::defaults`].
    pub grants: Vec<Grant>,
    /// Requests per minute, instead of the mode's default.
    pub rate_limit: Option<u32>,
}

impl NewApp {
    /// A confidential development-mode app with the default grants and no
    /// redirect URIs; change fields with struct update syntax.
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            mode: AppMode::Development,
            redirect_uris: Vec::new(),
            public: false,
            client_id: None,
            grants: Vec::new(),
            rate_limit: None,
        }
    }

    /// A public app (a CLI) with a well-known client id and the loopback
    /// redirect URI.
    pub fn public_client(name: &str, client_id: &str) -> Self {
        Self {
            public: true,
            client_id: Some(client_id.to_owned()),
            redirect_uris: vec![LOOPBACK_REDIRECT_URI.to_owned()],
            ..Self::named(name)
        }
    }
}

/// What `create` made: the app, and the secret when it is confidential.
pub struct CreatedApp {
    pub app: App,
    pub client_secret: Option<ClientSecret>,
}

fn valid_client_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// RFC 6749 §3.1.2: absolute, no fragment.
fn valid_redirect_uri(uri: &str) -> bool {
    url::Url::parse(uri).is_ok_and(|u| u.fragment().is_none() && !u.cannot_be_a_base())
}

/// Registers an app for `account_id`; a confidential app's secret is returned
/// here only (the store keeps its hash).
pub async fn create(store: &Store, account_id: &str, args: NewApp, now: i64) -> Result<CreatedApp> {
    let name = args.name.trim();
    if name.is_empty() {
        return Err(Error::BadRequest("an app needs a name".into()));
    }
    let client_id = match args.client_id {
        Some(id) if valid_client_id(&id) => id,
        Some(id) => {
            return Err(Error::BadRequest(format!(
                "client id {id:?}: use 1-128 letters, digits, `-`, `_`, `.` or `:`"
            )));
        }
        None => crate::ids::app(),
    };
    if let Some(bad) = args.redirect_uris.iter().find(|u| !valid_redirect_uri(u)) {
        return Err(Error::BadRequest(format!(
            "redirect URI {bad:?} must be an absolute URL without a fragment"
        )));
    }
    // A public app is a CLI or native app: without explicit redirect URIs it gets
    // the loopback one, which matches any port (RFC 8252 §7.3).
    let redirect_uris = if args.public && args.redirect_uris.is_empty() {
        vec![LOOPBACK_REDIRECT_URI.to_owned()]
    } else {
        args.redirect_uris
    };
    let mut grants = if args.grants.is_empty() {
        Grant::defaults(args.public)
    } else {
        args.grants
    };
    grants.dedup();
    if args.public && grants.contains(&Grant::ClientCredentials) {
        return Err(Error::BadRequest(
            "a public app cannot use client_credentials: it has no secret".into(),
        ));
    }
    let client_secret = (!args.public).then(|| ClientSecret::new(digest::random_token(32)));
    let app = App {
        client_id,
        account_id: account_id.to_owned(),
        name: name.to_owned(),
        mode: args.mode,
        public: args.public,
        client_secret_hash: client_secret
            .as_ref()
            .map(|s| digest::secret_hash(s.expose_secret())),
        redirect_uris,
        grant_types: grants.iter().map(|g| g.as_str().to_owned()).collect(),
        rate_limit_per_min: args.rate_limit.map(i64::from),
        created_at: now,
    };
    store.insert_app(&app).await?;
    Ok(CreatedApp { app, client_secret })
}
