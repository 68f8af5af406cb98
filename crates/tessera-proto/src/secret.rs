//! Secrets as newtypes.
//!
//! A secret's `Debug` and `Display` print `[redacted]`; the value is reachable only
//! through [`expose_secret`](ApiKey::expose_secret), so that a stray `{:?}` in a log
//! line or an error message cannot leak it. Equality is constant-time.

use serde::{Deserialize, Serialize};

macro_rules! secret_type {
    ($(#[doc = $doc:literal])* $name:ident) => {
        $(#[doc = $doc])*
        #[derive(Clone, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret itself. Call this only where the value leaves the
            /// process on purpose: an HTTP header, a file with mode 0600, or
            /// stdout when the user asked for it.
            pub fn expose_secret(&self) -> &str {
                &self.0
            }

            /// First and last four characters, for showing which secret is meant.
            pub fn masked(&self) -> String {
                crate::secret::mask(&self.0)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("[redacted]")
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                crate::secret::constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
            }
        }

        impl Eq for $name {}

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::openapi::string(concat!($($doc),*).trim())
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    };
}

secret_type!(
    /// A platform API key: a compact JWS, optionally behind a deployment prefix.
    ApiKey
);
secret_type!(
    /// An OAuth access token (RFC 6749 §1.4).
    AccessToken
);
secret_type!(
    /// An OAuth refresh token (RFC 6749 §1.5). Opaque to the client.
    RefreshToken
);
secret_type!(
    /// An OAuth client secret (RFC 6749 §2.3.1).
    ClientSecret
);
secret_type!(
    /// A JWT a workload got from its platform (RFC 8693 `subject_token`), to
    /// exchange for an access token. Used once and never stored.
    SubjectToken
);

/// `abcd…wxyz` for secrets long enough that eight characters reveal little;
/// shorter ones are hidden entirely.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < 16 {
        return "****".to_string();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// Compares without an early exit, so that timing does not reveal how many
/// leading bytes matched. Lengths are not secret.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let key = ApiKey::new("lk_eyJhbGciOiJFZERTQSJ9.super-secret-value");
        assert_eq!(format!("{key:?}"), "ApiKey([redacted])");
        assert_eq!(format!("{key}"), "[redacted]");
        let wrapped = Some(AccessToken::new("at-secret-value-123456"));
        assert!(!format!("{wrapped:?}").contains("secret-value"));
    }

    #[test]
    fn serializes_transparently_for_the_wire() {
        let token = RefreshToken::new("rt");
        assert_eq!(serde_json::to_string(&token).unwrap(), "\"rt\"");
    }

    #[test]
    fn masks_long_values_and_hides_short_ones() {
        assert_eq!(mask("abcdefghijklmnopqrstuvwxyz"), "abcd…wxyz");
        assert_eq!(mask("short"), "****");
    }

    #[test]
    fn equality() {
        assert_eq!(ClientSecret::new("same"), ClientSecret::new("same"));
        assert_ne!(ClientSecret::new("same"), ClientSecret::new("sane"));
        assert_ne!(ClientSecret::new("same"), ClientSecret::new("same2"));
    }
}
