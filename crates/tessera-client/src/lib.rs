//! Client library for Tessera CLIs: the credential store, profiles and
//! environments, credential resolution, and the platform API over blocking HTTP.
//!
//! OAuth: the flows are in [`oauth`]; a login's tokens are cached per profile
//! as an [`OAuthSession`] ([`session`]); [`token_cache::fresh_session`] hands
//! out a valid access token with no network on a cache hit and renews it
//! once across racing processes; [`ApiClient::send_with_retry`] waits out
//! rate limits per [`retry::RetryPolicy`].
//!
//! Safety rules every caller gets: a stored credential is only sent to its
//! server's origin, over https unless the server is on loopback or the user
//! opted in for its environment, trusting the OS's roots or `SSL_CERT_FILE`
//! ([`transport`]); a profile may keep its secret in the OS keychain, with a
//! deadline on every call and no fallback to the file ([`keychain`],
//! [`Store::load_secrets`]).
//!
//! Nothing here knows a path or an environment-variable name: those come from an
//! [`AppSpec`], so persona CLIs reuse every piece with their own names.

pub mod api;
pub mod app;
pub mod config;
pub mod dotenv;
pub mod dpop;
pub mod env;
pub mod error;
pub mod keychain;
pub mod oauth;
pub mod resolve;
pub mod response;
pub mod retry;
pub mod session;
pub mod store;
pub mod token_cache;
pub mod transport;

pub use api::{ApiClient, Authorization};
pub use app::{
    AppSpec, CredentialsFormat, DirDefault, OAuthSpec, ReloginCommands, TESSERA, TESSERA_OAUTH,
};
pub use config::{Config, Credentials, CredentialsFile, DEFAULT_ENVIRONMENT, Environment, Profile};
pub use dpop::DpopKey;
pub use env::{EnvVars, Overlay, ProcessEnv};
pub use error::Error;
pub use keychain::{Keychain, KeychainProblem, KeychainRef};
pub use resolve::{
    Credential, Found, FoundSession, ProfileFrom, Resolution, Resolver, Selection, Source,
};
pub use response::ApiResponse;
pub use session::{LoginMethod, OAuthSession};
pub use store::{
    CredentialsRead, PermissionWarning, ProfileLock, Store, StoreLock, shell_quote,
    taken_by_another_user,
};
pub use tessera_proto::ApiKey;
pub use transport::{TlsTrust, Transport};
