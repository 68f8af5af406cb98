//! Environment variables, injected so that resolution is testable without
//! touching the process environment.

use std::collections::{BTreeMap, HashMap};

/// A source of environment variables. Empty values count as unset, as most
/// shells users write `FOO= cmd` to mean "without FOO".
pub trait EnvVars {
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessEnv;

impl EnvVars for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl<K: AsRef<str> + Ord, V: AsRef<str>> EnvVars for BTreeMap<K, V> {
    fn var(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| k.as_ref() == name)
            .map(|(_, v)| v.as_ref().to_owned())
            .filter(|v| !v.is_empty())
    }
}

impl EnvVars for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty()).cloned()
    }
}
