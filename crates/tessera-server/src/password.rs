//! Account passwords (set by an admin): argon2id in PHC form, the one slow hash in
//! the server. Every other secret is random and long, so it gets a fast hash
//! ([`crate::digest`]); a password is chosen by a person and must resist guessing.

use crate::error::{Error, Result};
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

/// Shortest password an admin may set.
pub const MIN_LENGTH: usize = 10;
/// Longest accepted, so that hashing cost stays bounded.
pub const MAX_LENGTH: usize = 256;

/// Hashes a password with argon2id defaults and a random salt. CPU-heavy: call it
/// from a blocking thread in a server.
pub fn hash(password: &str) -> Result<String> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(Error::BadRequest(format!(
            "the password must have at least {MIN_LENGTH} characters"
        )));
    }
    if length > MAX_LENGTH {
        return Err(Error::BadRequest(format!(
            "the password must have at most {MAX_LENGTH} characters"
        )));
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("hashing a password failed: {e}")))
}

/// Whether `password` matches `stored`. With no stored hash, a dummy hash is
/// checked anyway, so the answer takes as long for accounts without a password
/// (or without an account) as for a wrong password.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    if password.len() > MAX_LENGTH * 4 {
        return false;
    }
    let (hash, real) = match stored {
        Some(h) => (h, true),
        None => (dummy_hash(), false),
    };
    let Ok(parsed) = PasswordHash::new(hash) else {
        tracing::error!("a stored password hash is not a valid PHC string");
        return false;
    };
    let matches = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    matches && real
}

fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        Argon2::default()
            .hash_password(b"no account has this password")
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let stored = hash("correct horse battery").unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify("correct horse battery", Some(&stored)));
        assert!(!verify("correct horse batter", Some(&stored)));
    }

    #[test]
    fn no_hash_never_matches() {
        assert!(!verify("no account has this password", None));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(matches!(hash("short"), Err(Error::BadRequest(_))));
    }
}
