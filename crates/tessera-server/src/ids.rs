//! Public identifiers: a short type prefix (so a pasted id says what it is) and a
//! time-ordered UUIDv7, so listings sort by creation.

fn prefixed(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

pub fn account() -> String {
    prefixed("acct")
}

pub fn project() -> String {
    prefixed("proj")
}

pub fn api_key() -> String {
    prefixed("key")
}

pub fn app() -> String {
    prefixed("app")
}

/// Access token `jti`.
pub fn access_token() -> String {
    prefixed("at")
}

pub fn signing_key() -> String {
    prefixed("sk")
}

pub fn audit_event() -> String {
    prefixed("evt")
}

/// Public handle of a browser session (the cookie secret is separate).
pub fn web_session() -> String {
    prefixed("ws")
}

/// A trust rule of workload identity federation.
pub fn trust_rule() -> String {
    prefixed("trust")
}
