//! Wire types shared by the Tessera client and server.
//!
//! This crate does no I/O. It defines what travels between `tessera-client` and
//! `tesserad`: secrets that refuse to be printed, token and error bodies, the
//! claims inside API keys and access tokens, scopes, the rate-limit headers,
//! DPoP proofs, and how times are written (RFC 3339).

pub mod api;
pub mod claims;
pub mod dpop;
pub mod error;
#[cfg(feature = "openapi")]
mod openapi;
pub mod ratelimit;
pub mod scope;
pub mod secret;
pub mod text;
pub mod timestamp;
pub mod token;

pub use claims::{Claims, Confirmation, TokenUse, UnverifiedClaims};
pub use error::{ApiErrorBody, INSUFFICIENT_SCOPE_CODE, OAuthErrorBody, OAuthErrorCode};
pub use scope::{API_KEYS_WRITE, Scopes, THIRD_PARTY_OPERATION};
pub use secret::{AccessToken, ApiKey, ClientSecret, RefreshToken, SubjectToken};
