//! What scopes mean, in words for the consent and device pages.

use tessera_proto::{API_KEYS_WRITE, Scopes, THIRD_PARTY_OPERATION};

pub struct ScopeLine {
    pub name: String,
    pub description: &'static str,
}

fn describe(scope: &str) -> &'static str {
    match scope {
        THIRD_PARTY_OPERATION => {
            "Use the platform API as you: see your projects, list and revoke your API keys"
        }
        API_KEYS_WRITE => {
            "Create API keys for your account. A key it creates keeps working after you \
             revoke this app, until you revoke the key under API keys"
        }
        "openid" => "Know which account you are",
        "profile" | "email" => "See your email address",
        "offline_access" => "Stay signed in until you revoke it",
        _ => "Access granted by this scope",
    }
}

pub fn lines(scopes: &Scopes) -> Vec<ScopeLine> {
    scopes
        .iter()
        .map(|s| ScopeLine {
            name: s.to_owned(),
            description: describe(s),
        })
        .collect()
}
