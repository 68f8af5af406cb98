//! End-to-end tests of `tesserad`: each starts the real binary on a free loopback
//! port with its own database, on SQLite and (with `TESSERA_TEST_POSTGRES_URL`)
//! PostgreSQL. Add a module per area; use `support` for servers and admin calls.

#[macro_use]
extern crate tessera_testkit;

mod support;

mod admin;
mod api_keys;
mod attacks;
mod attacks_limits;
mod browser;
mod cli;
mod connections;
mod dpop;
mod faults;
mod federation;
mod forgery;
mod mail_tls;
mod malformed;
mod multi_instance;
mod oauth_flows;
mod oauth_security;
mod oauth_support;
mod otp;
mod per_address;
mod postgres_tls;
mod ratelimit;
mod redis_limits;
mod redis_tls;
mod secrets;
mod server;
mod web;
