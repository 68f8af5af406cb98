//! Environment variables, injected so that resolution is testable without
//! touching the process environment.

use std::collections::{BTreeMap, HashMap};

/// A source of environment variables. Empty values count as unset, as most
/// shells users write `FOO= cmd` to mean "without FOO".
pub trait EnvVars {
    fn var(&self, name: &str) -> Option<String>;

    /// Whether `name` is set to something that is not UTF-8, which
    /// [`EnvVars::var`] reads as unset.
    fn not_unicode(&self, _name: &str) -> bool {
        false
    }
}

/// The real process environment.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessEnv;

impl EnvVars for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }

    fn not_unicode(&self, name: &str) -> bool {
        matches!(std::env::var(name), Err(std::env::VarError::NotUnicode(_)))
    }
}

/// Values given on the command line (`--api-url`) layered over another source,
/// so that a flag reaches every place that reads the variable it stands for.
pub struct Overlay<'a> {
    base: &'a dyn EnvVars,
    set: BTreeMap<&'static str, String>,
}

impl<'a> Overlay<'a> {
    pub fn new(base: &'a dyn EnvVars) -> Self {
        Self {
            base,
            set: BTreeMap::new(),
        }
    }

    /// Makes `name` read as `value`; `None` leaves the base's value.
    pub fn with(mut self, name: &'static str, value: Option<String>) -> Self {
        if let Some(value) = value {
            self.set.insert(name, value);
        }
        self
    }
}

impl EnvVars for Overlay<'_> {
    fn var(&self, name: &str) -> Option<String> {
        match self.set.get(name) {
            Some(value) => Some(value.clone()).filter(|v| !v.is_empty()),
            None => self.base.var(name),
        }
    }

    fn not_unicode(&self, name: &str) -> bool {
        !self.set.contains_key(name) && self.base.not_unicode(name)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_beats_the_base_and_leaves_other_names() {
        let base = BTreeMap::from([("A", "base"), ("B", "base")]);
        let env = Overlay::new(&base)
            .with("A", Some("flag".into()))
            .with("B", None);
        assert_eq!(env.var("A").as_deref(), Some("flag"));
        assert_eq!(env.var("B").as_deref(), Some("base"));
        assert_eq!(env.var("C"), None);
    }
}
