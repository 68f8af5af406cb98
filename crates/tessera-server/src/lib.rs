//! `tesserad`: the Tessera authorization server and platform API.
//!
//! The crate is layered. A module may use modules of its own layer or of the
//! layers below it, never above; `layers.rs` (a test) reads every `crate::` path
//! and fails on one that points up, and the table below is what it checks.
//!
//! | layer | modules |
//! |---|---|
//! | 1. edge | `cli` (and `main.rs`) |
//! | 2. wiring | `server`, `connections` |
//! | 3. HTTP | `http` |
//! | 4. domain | `services`, `settings`, `forwarded`, `oauth`, `federation`, `principal`, `dpop`, `accounts`, `apps`, `api_keys`, `access_tokens`, `keys`, `otp`, `mail`, `password`, `audit`, `attempts`, `ratelimit`, `web_sessions` |
//! | 5. store | `store` |
//! | 6. core | `error`, `clock`, `digest`, `ids`, `label`, `master_key`, `metrics`, `secret`, `tls`, `urls`, `files` |
//!
//! - [`cli`] reads flags, `TESSERAD_*` and the TOML file into [`settings::Settings`]
//!   and runs `serve`, `admin …` and `migrate`.
//! - [`server`] builds the [`services::Services`] from the settings, serves the
//!   router, runs the background jobs and shuts down; [`connections`] is its
//!   serve loop (connection cap, header/idle deadlines, draining).
//! - [`http`] is the only module that knows axum: extractors, middleware, the
//!   endpoints, the web pages, and the one `Error` → response mapping.
//! - The domain takes plain inputs (including `now`, Unix seconds) and returns
//!   plain results or the one [`Error`].
//! - [`store`] holds every SQL statement, SQLite and PostgreSQL behind one `Store`.
//! - The core is plain data and small utilities.

// The docs are for the next engineer, internals included: links to private
// items resolve with `cargo doc --document-private-items`.
#![allow(rustdoc::private_intra_doc_links)]

pub mod access_tokens;
pub mod accounts;
pub mod api_keys;
pub mod apps;
pub mod attempts;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod connections;
pub mod digest;
pub mod dpop;
pub mod error;
pub mod federation;
pub mod files;
pub mod forwarded;
pub mod http;
pub mod ids;
pub mod keys;
pub mod label;
#[cfg(test)]
mod layers;
pub mod mail;
pub mod master_key;
pub mod metrics;
pub mod oauth;
pub mod otp;
pub mod password;
pub mod principal;
pub mod ratelimit;
pub mod secret;
pub mod server;
pub mod services;
pub mod settings;
pub mod store;
#[cfg(test)]
pub mod testing;
pub mod tls;
pub mod urls;
pub mod web_sessions;

pub use error::{Error, Result};
pub use services::{AppState, Services};
