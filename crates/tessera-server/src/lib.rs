//! `tesserad`: the Tessera authorization server and platform API.
//!
//! Layout (domain first, HTTP at the edge):
//! - [`store`]: the database (SQLite or PostgreSQL, one SQL text, migrations per backend).
//! - [`keys`]: Ed25519 signing keys, sealed at rest, the JWS format and the JWKS.
//! - [`apikey`], [`access_token`]: issuing and verifying the two kinds of signed token.
//! - [`auth`]: the one place where a request's [`auth::Principal`] is decided.
//! - [`http`]: the axum router, handlers and request extractors.
//! - [`ratelimit`]: per-app and per-IP limits, in process or shared through PostgreSQL.
//! - [`web`]: server-rendered pages (sign-in, consent, device, the console).
//! - [`admin`], [`dev`], [`cli`]: the `tesserad` command line.
//!
//! The domain modules ([`store`], [`keys`], [`apikey`], [`access_token`]) do not use
//! axum, and take the current time as an argument (see [`clock`]).

pub mod access_tokens;
pub mod accounts;

pub mod api_keys;
pub mod apps;
pub mod attempts;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod settings;

pub mod digest;
pub mod error;
pub mod http;
pub mod ids;
pub mod keys;
pub mod mail;
pub mod master_key;
pub mod metrics;
pub mod oauth;
pub mod otp;
pub mod password;
pub mod principal;
pub mod ratelimit;
pub mod server;
pub mod services;
pub mod store;
#[cfg(test)]
pub mod testing;

pub use error::{Error, Result};
pub use services::{AppState, Services};
