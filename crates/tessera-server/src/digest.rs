//! Hashes of high-entropy secrets (API keys, client secrets, session ids, refresh
//! tokens). These secrets are random and long, so a fast hash is right: nothing to
//! brute-force. Passwords need a slow hash (argon2) instead.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

/// base64url(SHA-256(secret)), the form stored in the database.
pub fn secret_hash(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

/// `len` random bytes from the OS, base64url: for secrets and unguessable ids.
pub fn random_token(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    aws_lc_rs::rand::fill(&mut bytes).expect("the OS random number generator failed");
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_distinct() {
        assert_eq!(secret_hash("s3cret"), secret_hash("s3cret"));
        assert_ne!(secret_hash("s3cret"), secret_hash("s3cre"));
        assert_eq!(secret_hash("s3cret").len(), 43);
    }

    #[test]
    fn random_tokens_differ() {
        assert_ne!(random_token(32), random_token(32));
        assert_eq!(random_token(32).len(), 43);
    }
}
