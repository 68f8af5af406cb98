//! Scopes: a space-separated set on the wire (RFC 6749 §3.3).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeSet;

/// The scope every `/v1` platform endpoint but `/v1/auth/*` requires, and that API
/// keys carry by default (Lofty API keys document).
pub const THIRD_PARTY_OPERATION: &str = "THIRD_PARTY_OPERATION";

/// The scope an OAuth access token needs to manage API keys (`/v1/api-keys`).
/// A key outlives the app that made it, so a server grants this scope only to apps
/// registered for it, and names it on the consent page.
pub const API_KEYS_WRITE: &str = "api_keys:write";

/// An ordered set of scope tokens. Serializes as one space-separated string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<String>);

impl Scopes {
    pub fn parse(s: &str) -> Self {
        Self(s.split_ascii_whitespace().map(str::to_owned).collect())
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn is_subset(&self, other: &Scopes) -> bool {
        self.0.is_subset(&other.0)
    }
}

impl<S: Into<String>> FromIterator<S> for Scopes {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        Self(iter.into_iter().map(Into::into).collect())
    }
}

impl std::fmt::Display for Scopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let joined: Vec<&str> = self.iter().collect();
        f.write_str(&joined.join(" "))
    }
}

impl Serialize for Scopes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(Scopes::parse(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_space_separated() {
        let scopes = Scopes::parse("b  a THIRD_PARTY_OPERATION");
        assert!(scopes.contains(THIRD_PARTY_OPERATION));
        assert_eq!(scopes.to_string(), "THIRD_PARTY_OPERATION a b");
        let json = serde_json::to_string(&scopes).unwrap();
        assert_eq!(serde_json::from_str::<Scopes>(&json).unwrap(), scopes);
    }
}
