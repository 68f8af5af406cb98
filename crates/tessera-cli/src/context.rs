//! What every command is given: the application's names, environment
//! variables, working directory, clock and store. Nothing is read from globals.

use std::path::PathBuf;
use tessera_client::oauth::{BrowserOpener, Clock};
use tessera_client::{ApiKey, AppSpec, EnvVars, OAuthSpec, Resolver, Store};

pub struct Ctx<'a> {
    pub spec: &'a AppSpec,
    /// Names of the OAuth logins' variables and the default client id.
    pub oauth: &'a OAuthSpec,
    /// The single profile of a one-account CLI (lua, lofty-cli): logins
    /// write only its credentials.
    pub one_profile: Option<&'a str>,
    pub env: &'a dyn EnvVars,
    pub cwd: PathBuf,
    /// Unix seconds.
    pub now: i64,
    /// Waits: device-flow polling, rate-limit retries.
    pub clock: &'a dyn Clock,
    /// Opens the browser of a web login.
    pub browser: &'a dyn BrowserOpener,
    pub store: Store,
    /// `--profile`, when given.
    pub profile_flag: Option<String>,
    /// Where a login made by this command keeps its secret.
    pub storage: Storage,
}

/// Where a login keeps its secret.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Storage {
    /// The OS keychain for a profile whose secret is already there, or when
    /// `config.toml` says `secure_storage = true`; else the credentials file.
    #[default]
    AsBefore,
    /// `--secure-storage`: the OS keychain, or the login fails (never the
    /// file instead).
    Keychain,
    /// `--insecure-storage`: the credentials file, also for a profile whose
    /// secret was in the keychain (its entry is deleted).
    File,
}

impl Ctx<'_> {
    pub fn resolver<'b>(&'b self, api_key_flag: Option<&'b ApiKey>) -> Resolver<'b> {
        Resolver {
            spec: self.spec,
            env: self.env,
            store: &self.store,
            cwd: &self.cwd,
            api_key_flag,
            profile_flag: self.profile_flag.as_deref(),
        }
    }

    /// The ways to log in, for "not logged in" messages. When the current
    /// environment has profiles but none is current (its current one was
    /// logged out, or the environment was switched to), choosing one is the
    /// way, not a new login.
    pub fn login_hint(&self) -> String {
        let login = format!(
            "run `{}`, or set {}",
            self.spec.key_login, self.spec.api_key_env
        );
        if self.one_profile.is_some() || self.profile_flag.is_some() {
            return login;
        }
        let Ok(config) = self.store.read_config() else {
            return login;
        };
        let environment = config.current_environment();
        if config.current_profile(environment).is_some() {
            return login;
        }
        let app = self.spec.name;
        let names: Vec<&str> = config.profiles_in(environment).map(|(n, _)| n).collect();
        match names.as_slice() {
            [] => login,
            [one] => format!("profile {one:?} is not current: `{app} auth switch {one}`"),
            _ => format!(
                "no profile of environment {environment:?} is current: `{app} auth switch NAME` (`{app} auth list` shows them)"
            ),
        }
    }
}

/// A context over a temporary store, for tests of commands.
#[cfg(test)]
pub(crate) mod testing {
    use super::Ctx;
    use std::collections::BTreeMap;
    use tessera_client::{Store, TESSERA};

    pub(crate) static NO_ENV: BTreeMap<&str, &str> = BTreeMap::new();

    /// A browser that must not be opened.
    pub(crate) struct NoBrowser;

    impl tessera_client::oauth::BrowserOpener for NoBrowser {
        fn open(&self, url: &str) -> std::io::Result<()> {
            panic!("a test tried to open {url}")
        }
    }

    /// A clock whose sleeps fail the test: commands under unit test never wait.
    pub(crate) struct NoSleep;

    impl tessera_client::oauth::Clock for NoSleep {
        fn now(&self) -> std::time::Instant {
            std::time::Instant::now()
        }

        fn sleep(&self, duration: std::time::Duration) {
            panic!("a test slept {duration:?}")
        }
    }

    pub(crate) fn ctx(dir: &tempfile::TempDir) -> Ctx<'static> {
        Ctx {
            spec: &TESSERA,
            oauth: &tessera_client::TESSERA_OAUTH,
            one_profile: None,
            env: &NO_ENV,
            cwd: dir.path().to_owned(),
            now: 1_800_000_000,
            clock: &NoSleep,
            browser: &NoBrowser,
            store: Store::in_dir(dir.path().join("cfg"), &TESSERA),
            profile_flag: None,
            storage: super::Storage::AsBefore,
        }
    }
}
