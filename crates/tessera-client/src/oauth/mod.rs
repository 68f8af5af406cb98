//! OAuth 2.0 client flows, blocking, against any standard authorization server.
//!
//! Every flow is a function taking an [`HttpClient`] and the endpoint it talks
//! to (found with [`discover`]), and returns the server's
//! [`TokenResponse`] or one [`OAuthError`]. Nothing here stores tokens or
//! prints: callers decide what to keep and what to show.
//!
//! | flow | function |
//! |---|---|
//! | discovery (RFC 8414) | [`discover`], [`require_endpoint`] |
//! | client credentials (+ `customer_key`) | [`client_credentials`] |
//! | authorization code + PKCE, loopback redirect | [`login_with_browser`] |
//! | device authorization (RFC 8628) | [`request_device_authorization`], [`poll_device_token`] |
//! | refresh (RFC 6749 §6) | [`refresh`] |
//! | revocation (RFC 7009) | [`revoke`] |
//! | token URL + session id (Level 0) | [`session_token`] |
//! | email one-time code | [`request_otp`], [`verify_otp`] |
//! | token exchange (RFC 8693), workload identity federation | [`SubjectTokenSource`], [`token_exchange`] |
//!
//! ```no_run
//! use std::time::SystemTime;
//! use tessera_client::oauth::{self, Client, OAuthError, UreqClient, WebLogin, WebLoginEvent};
//!
//! # fn main() -> Result<(), OAuthError> {
//! let http = UreqClient::new();
//! let meta = oauth::discover(&http, "https://auth.example.com")?;
//! let client = Client::public("lofty-cli");
//! let authorize = oauth::require_endpoint(&meta.authorization_endpoint, "authorization endpoint")?;
//! let mut login = WebLogin::new(authorize, &meta.token_endpoint, &client);
//! login.issuer = Some(&meta.issuer);
//! let browser = match oauth::browser_availability(false, &|k| std::env::var_os(k)) {
//!     oauth::BrowserAvailability::Usable => Some(&oauth::SystemBrowser as &dyn oauth::BrowserOpener),
//!     oauth::BrowserAvailability::Unavailable(_why) => None,
//! };
//! let paste = Box::new(std::io::BufReader::new(std::io::stdin()));
//! let token = oauth::login_with_browser(&http, &login, browser, paste, &mut |event| match event {
//!     WebLoginEvent::BrowserOpened { url } => eprintln!("Opened {url} in your browser."),
//!     WebLoginEvent::OpenManually { url, .. } => {
//!         eprintln!("Open this URL, then paste the address you land on:\n{url}")
//!     }
//! })?;
//! let expires_at = oauth::access_token_expiry(&token, SystemTime::now());
//! # let _ = expires_at;
//! # Ok(())
//! # }
//! ```

mod authorization_code;
mod client_credentials;
mod clock;
mod device;
mod discovery;
mod error;
mod federated;
mod http;
mod otp;
mod refresh;
mod revoke;
mod session;
pub(crate) mod token;

pub use authorization_code::{
    BrowserAvailability, BrowserOpener, PkceChallenge, PkceVerifier, SystemBrowser, WebLogin,
    WebLoginEvent, browser_availability, login_with_browser,
};
pub use client_credentials::{ClientCredentialsRequest, client_credentials};
pub use clock::{Clock, SystemClock};
pub use device::{
    DEVICE_CODE_GRANT, MAX_DEVICE_CODE_LIFETIME, MAX_POLL_INTERVAL, poll_device_token,
    request_device_authorization,
};
pub use discovery::{check_stored_endpoint, discover, require_endpoint, well_known_urls};
pub use error::OAuthError;
pub use federated::{GITHUB_REQUEST_TOKEN, GITHUB_REQUEST_URL, SubjectTokenSource, token_exchange};
pub use http::{HttpClient, HttpRequest, HttpResponse, TransportError, UreqClient};
pub use otp::{request_otp, verify_otp};
pub use refresh::refresh;
pub use revoke::{TokenToRevoke, revoke};
pub use session::{LEVEL_0_ACR, session_token};
pub use tessera_proto::token::{DeviceAuthorizationResponse, ServerMetadata, TokenResponse};
pub(crate) use token::LONGEST_EXPIRES_IN;
pub use token::{Client, ClientAuthMethod, access_token_expiry, granted_scopes};
