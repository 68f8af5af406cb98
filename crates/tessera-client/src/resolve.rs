//! Which API key a command uses, and where it came from.
//!
//! Priority: flag > environment variable > credentials file (the selected
//! profile) > `.env` in the working directory. Commands that only need the key
//! stop at the first source; `status` asks for every source so it can say when
//! one silently overrides another.
//!
//! A profile may hold an OAuth login besides (or instead of) an API key; it
//! beats the profile's key, which a client-credentials login keeps as its
//! `customer_key` ([`Resolution::credential`]).

use crate::app::AppSpec;
use crate::config::Config;
use crate::dotenv;
use crate::env::EnvVars;
use crate::error::Error;
use crate::keychain::{KeychainProblem, KeychainRef};
use crate::session::OAuthSession;
use crate::store::{PermissionWarning, Store};
use crate::transport::Transport;
use std::path::{Path, PathBuf};
use tessera_proto::ApiKey;

/// Where a credential came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Flag,
    EnvVar(&'static str),
    /// A profile of the credentials file; `keychain` is set when its secret
    /// is in the OS keychain and the file holds only the reference.
    Profile {
        name: String,
        path: PathBuf,
        keychain: Option<KeychainRef>,
    },
    DotEnv {
        path: PathBuf,
        key: &'static str,
    },
}

impl Source {
    /// Where the secret itself is kept, for `--json`: `keychain` for a
    /// profile whose secret is in the OS keychain, else `file` for a profile,
    /// `env`, `flag` or `dotenv`.
    pub fn storage(&self) -> &'static str {
        match self {
            Source::Profile {
                keychain: Some(_), ..
            } => "keychain",
            Source::Profile { .. } => "file",
            other => other.kind(),
        }
    }

    /// A stable machine-readable name, for `--json`.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Flag => "flag",
            Source::EnvVar(_) => "env",
            Source::Profile { .. } => "credentials_file",
            Source::DotEnv { .. } => "dotenv",
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag => f.write_str("--api-key flag"),
            Source::EnvVar(name) => write!(f, "{name} environment variable"),
            Source::Profile {
                name,
                path,
                keychain: None,
            } => write!(f, "profile {name:?} in {}", path.display()),
            Source::Profile {
                name,
                keychain: Some(_),
                ..
            } => write!(f, "profile {name:?} in the OS keychain"),
            Source::DotEnv { path, key } => write!(f, "{key} in {}", path.display()),
        }
    }
}

/// A key and its source.
#[derive(Clone, Debug)]
pub struct Found {
    pub key: ApiKey,
    pub source: Source,
}

/// A profile's OAuth login, as found in the credentials file.
#[derive(Clone, Debug)]
pub struct FoundSession {
    pub profile: String,
    pub path: PathBuf,
    /// Set when the login is kept in the OS keychain.
    pub keychain: Option<KeychainRef>,
    pub session: OAuthSession,
}

/// The credential a request goes out with.
#[derive(Clone, Copy, Debug)]
pub enum Credential<'a> {
    ApiKey(&'a Found),
    OAuth(&'a FoundSession),
}

/// How the profile was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileFrom {
    Flag,
    EnvVar(&'static str),
    /// The current profile of the environment.
    Current,
}

/// The environment, server and profile a command acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    pub environment: String,
    /// `None` when the environment is not configured.
    pub server: Option<String>,
    pub profile: Option<(String, ProfileFrom)>,
    /// The user opted in to plain http for this environment and `server` is
    /// the URL they opted in for ([`Config::insecure_http_allowed`]).
    pub insecure_http: bool,
}

impl Selection {
    pub fn profile_name(&self) -> Option<&str> {
        self.profile.as_ref().map(|(name, _)| name.as_str())
    }

    /// `base` with this selection's insecure-http opt-in: what an
    /// [`ApiClient`](crate::ApiClient) or OAuth client for `server` is built
    /// with.
    pub fn transport(&self, base: &Transport) -> Transport {
        match &self.server {
            Some(server) if self.insecure_http => base.clone().allowing_http_to(server),
            _ => Transport {
                insecure_http_origin: None,
                ..base.clone()
            },
        }
    }
}

/// Every inputs resolution looks at, injected.
pub struct Resolver<'a> {
    pub spec: &'a AppSpec,
    pub env: &'a dyn EnvVars,
    pub store: &'a Store,
    pub cwd: &'a Path,
    pub api_key_flag: Option<&'a ApiKey>,
    pub profile_flag: Option<&'a str>,
}

/// The outcome: every source found, best first.
#[derive(Debug, Default)]
pub struct Resolution {
    pub found: Vec<Found>,
    /// The selected profile's OAuth login, when it has one.
    pub session: Option<FoundSession>,
    /// Computed when the credentials file was consulted.
    pub selection: Option<Selection>,
    pub warnings: Vec<PermissionWarning>,
    /// [`Resolver::all`] only: the selected profile's secret is in the
    /// keychain and could not be read. ([`Resolver::first`] fails instead.)
    pub keychain_problem: Option<KeychainProblem>,
}

impl Resolution {
    pub fn winner(&self) -> Option<&Found> {
        self.found.first()
    }

    /// Sources that hold a key but lose to the winner.
    pub fn overridden(&self) -> &[Found] {
        self.found.get(1..).unwrap_or_default()
    }

    /// What to authenticate with: a key from the flag or an environment
    /// variable, else the profile's OAuth login, else the best key found.
    pub fn credential(&self) -> Option<Credential<'_>> {
        match (self.found.first(), &self.session) {
            (Some(found), _) if matches!(found.source, Source::Flag | Source::EnvVar(_)) => {
                Some(Credential::ApiKey(found))
            }
            (_, Some(session)) => Some(Credential::OAuth(session)),
            (Some(found), None) => Some(Credential::ApiKey(found)),
            (None, None) => None,
        }
    }
}

impl Resolver<'_> {
    /// The profile from flag, environment variable or the current environment's
    /// current one; its environment (a named profile brings its own), and that
    /// environment's server.
    pub fn select(&self, config: &Config) -> Selection {
        let profile = self
            .profile_flag
            .map(|p| (p.to_owned(), ProfileFrom::Flag))
            .or_else(|| {
                self.env
                    .var(self.spec.profile_env)
                    .map(|p| (p, ProfileFrom::EnvVar(self.spec.profile_env)))
            })
            .or_else(|| {
                config
                    .current_profile(config.current_environment())
                    .map(|p| (p.to_owned(), ProfileFrom::Current))
            });
        let environment = profile
            .as_ref()
            .and_then(|(name, _)| config.profiles.get(name))
            .map_or(config.current_environment(), |p| p.environment.as_str())
            .to_owned();
        let server = config.server_url(
            self.spec,
            self.env,
            &environment,
            profile.as_ref().map(|(name, _)| name.as_str()),
        );
        Selection {
            insecure_http: server
                .as_deref()
                .is_some_and(|s| config.insecure_http_allowed(&environment, s)),
            server,
            environment,
            profile,
        }
    }

    /// The winning key only; later sources are not read.
    pub fn first(&self) -> Result<Resolution, Error> {
        self.resolve(true)
    }

    /// Every source, so that overrides can be reported.
    pub fn all(&self) -> Result<Resolution, Error> {
        self.resolve(false)
    }

    fn resolve(&self, stop_at_first: bool) -> Result<Resolution, Error> {
        let mut out = Resolution::default();
        let done =
            |out: &Resolution| stop_at_first && (!out.found.is_empty() || out.session.is_some());

        if let Some(key) = self.api_key_flag.filter(|k| !k.expose_secret().is_empty()) {
            out.found.push(Found {
                key: key.clone(),
                source: Source::Flag,
            });
        }
        if done(&out) {
            return Ok(out);
        }
        if let Some(key) = self.env.var(self.spec.api_key_env) {
            // A secret pasted into CI settings often ends with a newline.
            out.found.push(Found {
                key: ApiKey::new(key.trim()),
                source: Source::EnvVar(self.spec.api_key_env),
            });
        }
        if done(&out) {
            return Ok(out);
        }

        let config = self.store.read_config()?;
        let selection = self.select(&config);
        if let Some(name) = selection.profile_name() {
            let read = self.store.read_credentials()?;
            out.warnings = read.warnings;
            let mut file = read.file;
            let mut credentials = file.profiles.remove(name).unwrap_or_default();
            // No silent fall-through to `.env`: a profile whose keychain
            // cannot be read is an error for a command that needs the key.
            match self.store.load_secrets(name, &mut credentials) {
                Ok(()) => {}
                Err(Error::Keychain { problem, .. }) if !stop_at_first => {
                    out.keychain_problem = Some(problem);
                }
                Err(e) => return Err(e),
            }
            let keychain = credentials.keychain.clone();
            if let Some(session) = credentials.oauth {
                out.session = Some(FoundSession {
                    profile: name.to_owned(),
                    path: self.store.credentials_path(),
                    keychain: keychain.clone(),
                    session,
                });
            }
            if let Some(key) = credentials
                .api_key
                .filter(|k| !k.expose_secret().is_empty())
            {
                out.found.push(Found {
                    key,
                    source: Source::Profile {
                        name: name.to_owned(),
                        path: self.store.credentials_path(),
                        keychain,
                    },
                });
            }
        }
        tracing::debug!(
            environment = %selection.environment,
            profile = ?selection.profile_name(),
            "selected profile"
        );
        out.selection = Some(selection);
        if done(&out) {
            return Ok(out);
        }

        if let Some(dotenv_file) = self.spec.dotenv_file {
            out.found.extend(dotenv_key(
                &self.cwd.join(dotenv_file),
                self.spec.dotenv_key,
            ));
        }
        if let Some(winner) = out.winner() {
            tracing::debug!(source = winner.source.kind(), "credential resolved");
        }
        Ok(out)
    }
}

/// The key `key` of the `.env` file at `path`, when it holds a non-empty one.
fn dotenv_key(path: &Path, key: &'static str) -> Option<Found> {
    match crate::store::read_foreign_text(path) {
        Ok(Some(text)) => {
            let value = dotenv::lookup(&text, key).filter(|k| !k.is_empty())?;
            Some(Found {
                key: ApiKey::new(value),
                source: Source::DotEnv {
                    path: path.to_owned(),
                    key,
                },
            })
        }
        Ok(None) => None,
        // A .env we cannot read (a directory, a FIFO, no permission, too
        // large) is not ours to fail on.
        Err(e) => {
            tracing::debug!(path = %path.display(), error = %e, "skipping unreadable .env");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::TESSERA;
    use crate::config::{Credentials, Environment};
    use std::collections::BTreeMap;

    struct Fixture {
        _tmp: tempfile::TempDir,
        store: Store,
        cwd: PathBuf,
    }

    fn fixture() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::in_dir(tmp.path().join("cfg"), &TESSERA);
        let cwd = tmp.path().join("work");
        std::fs::create_dir_all(&cwd).unwrap();
        store
            .update(|config, creds| {
                config.set_current_profile("default", "main");
                config.environments.insert(
                    "staging".into(),
                    Environment {
                        url: Some("https://staging.test".into()),
                        ..Default::default()
                    },
                );
                config.set_current_profile("staging", "stage");
                config.current_environment = Some("default".into());
                for (name, key) in [("main", "file-main"), ("stage", "file-stage")] {
                    creds.profiles.insert(
                        name.into(),
                        Credentials {
                            api_key: Some(ApiKey::new(key)),
                            ..Default::default()
                        },
                    );
                }
                Ok(())
            })
            .unwrap();
        Fixture {
            _tmp: tmp,
            store,
            cwd,
        }
    }

    fn resolve(
        f: &Fixture,
        flag: Option<&str>,
        profile: Option<&str>,
        env: &[(&str, &str)],
        all: bool,
    ) -> Resolution {
        let env: BTreeMap<&str, &str> = env.iter().copied().collect();
        let flag = flag.map(ApiKey::new);
        let resolver = Resolver {
            spec: &TESSERA,
            env: &env,
            store: &f.store,
            cwd: &f.cwd,
            api_key_flag: flag.as_ref(),
            profile_flag: profile,
        };
        if all {
            resolver.all()
        } else {
            resolver.first()
        }
        .unwrap()
    }

    fn winner(r: &Resolution) -> (&str, &'static str) {
        let w = r.winner().unwrap();
        (w.key.expose_secret(), w.source.kind())
    }

    #[test]
    fn priority_order() {
        let f = fixture();
        std::fs::write(f.cwd.join(".env"), "TESSERA_API_KEY=dotenv\n").unwrap();
        let env = [("TESSERA_API_KEY", "from-env")];
        assert_eq!(
            winner(&resolve(&f, Some("flag"), None, &env, false)),
            ("flag", "flag")
        );
        assert_eq!(
            winner(&resolve(&f, None, None, &env, false)),
            ("from-env", "env")
        );
        assert_eq!(
            winner(&resolve(&f, None, None, &[], false)),
            ("file-main", "credentials_file")
        );
        std::fs::remove_file(f.store.credentials_path()).unwrap();
        assert_eq!(
            winner(&resolve(&f, None, None, &[], false)),
            ("dotenv", "dotenv")
        );
        std::fs::remove_file(f.cwd.join(".env")).unwrap();
        assert!(resolve(&f, None, None, &[], false).winner().is_none());
    }

    #[test]
    fn first_stops_early_and_all_reports_overrides() {
        let f = fixture();
        std::fs::write(f.cwd.join(".env"), "export TESSERA_API_KEY='dotenv'\r\n").unwrap();
        let env = [("TESSERA_API_KEY", "from-env")];
        let first = resolve(&f, None, None, &env, false);
        assert_eq!(first.found.len(), 1);
        assert!(first.selection.is_none(), "files were not read");
        let all = resolve(&f, None, None, &env, true);
        let kinds: Vec<_> = all.found.iter().map(|f| f.source.kind()).collect();
        assert_eq!(kinds, ["env", "credentials_file", "dotenv"]);
        assert_eq!(all.overridden().len(), 2);
    }

    #[test]
    fn profile_selection_brings_its_environment() {
        let f = fixture();
        let r = resolve(&f, None, Some("stage"), &[], false);
        assert_eq!(winner(&r), ("file-stage", "credentials_file"));
        let sel = r.selection.unwrap();
        assert_eq!(sel.environment, "staging");
        assert_eq!(sel.server.as_deref(), Some("https://staging.test"));
        assert_eq!(sel.profile, Some(("stage".into(), ProfileFrom::Flag)));

        let r = resolve(&f, None, None, &[("TESSERA_PROFILE", "stage")], false);
        assert_eq!(
            r.selection.unwrap().profile,
            Some(("stage".into(), ProfileFrom::EnvVar("TESSERA_PROFILE")))
        );
        // The flag beats the environment variable.
        let r = resolve(
            &f,
            None,
            Some("main"),
            &[("TESSERA_PROFILE", "stage")],
            false,
        );
        assert_eq!(winner(&r).0, "file-main");
    }

    #[test]
    fn unknown_profile_has_no_key() {
        let f = fixture();
        let r = resolve(&f, None, Some("nope"), &[], false);
        assert!(r.winner().is_none());
        let sel = r.selection.unwrap();
        assert_eq!(sel.environment, "default");
        assert_eq!(sel.server.as_deref(), Some("http://127.0.0.1:8080"));
    }

    #[test]
    fn a_profile_oauth_login_beats_its_key_and_dotenv_but_not_env() {
        use crate::session::{LoginMethod, OAuthSession};
        let f = fixture();
        std::fs::write(f.cwd.join(".env"), "TESSERA_API_KEY=dotenv\n").unwrap();
        let session = OAuthSession::from_token(
            LoginMethod::ClientCredentials,
            serde_json::from_str(r#"{"access_token":"at","token_type":"Bearer"}"#).unwrap(),
            0,
        );
        f.store
            .update(|_, creds| {
                creds.profiles.get_mut("main").unwrap().oauth = Some(session);
                Ok(())
            })
            .unwrap();
        let r = resolve(&f, None, None, &[], false);
        let Some(Credential::OAuth(found)) = r.credential() else {
            panic!("{r:?}")
        };
        assert_eq!(found.profile, "main");
        assert!(
            r.found.len() == 1,
            "stops at the profile: its key is kept, .env not read"
        );
        let r = resolve(&f, None, None, &[("TESSERA_API_KEY", "from-env")], false);
        assert!(
            matches!(r.credential(), Some(Credential::ApiKey(k)) if k.key.expose_secret() == "from-env")
        );
        // A profile with only an OAuth login still stops resolution.
        f.store
            .update(|_, creds| {
                creds.profiles.get_mut("main").unwrap().api_key = None;
                Ok(())
            })
            .unwrap();
        let r = resolve(&f, None, None, &[], false);
        assert!(r.found.is_empty() && matches!(r.credential(), Some(Credential::OAuth(_))));
    }

    #[test]
    fn a_keychain_profile_resolves_through_the_keychain_or_fails_without_fallback() {
        use crate::keychain::testing::Memory;
        use crate::keychain::{Keychain, KeychainProblem};
        let f = fixture();
        let memory = std::sync::Arc::new(Memory::default());
        let store = f.store.clone().with_keychain(Keychain::new(
            memory.clone(),
            std::time::Duration::from_secs(3),
        ));
        store.keep_in_keychain("main");
        std::fs::write(f.cwd.join(".env"), "TESSERA_API_KEY=dotenv\n").unwrap();
        let env = BTreeMap::<&str, &str>::new();
        let resolver = Resolver {
            spec: &TESSERA,
            env: &env,
            store: &store,
            cwd: &f.cwd,
            api_key_flag: None,
            profile_flag: None,
        };
        let r = resolver.first().unwrap();
        let found = r.winner().unwrap();
        assert_eq!(found.key.expose_secret(), "file-main");
        assert_eq!(found.source.storage(), "keychain");
        assert_eq!(found.source.kind(), "credentials_file");
        assert_eq!(
            found.source.to_string(),
            "profile \"main\" in the OS keychain"
        );

        *memory.down.lock().unwrap() = Some(KeychainProblem::NoSessionBus);
        let err = resolver.first().unwrap_err();
        assert!(
            matches!(
                err,
                Error::Keychain {
                    problem: KeychainProblem::NoSessionBus,
                    ..
                }
            ),
            "not the .env key: {err:?}"
        );
        // `status` still gets everything else, and the problem.
        let all = resolver.all().unwrap();
        assert_eq!(all.keychain_problem, Some(KeychainProblem::NoSessionBus));
        assert_eq!(all.winner().unwrap().source.kind(), "dotenv");
    }

    #[test]
    fn the_insecure_opt_in_covers_its_own_url_only() {
        let f = fixture();
        f.store
            .update(|config, _| {
                let lab = config.environments.entry("lab".into()).or_default();
                lab.url = Some("http://10.0.0.5:8080".into());
                lab.insecure = true;
                config.set_current_profile("lab", "labber");
                config.set_current_profile("default", "main");
                Ok(())
            })
            .unwrap();
        let r = resolve(&f, None, Some("labber"), &[], true);
        assert!(r.selection.as_ref().unwrap().insecure_http);
        let transport = r.selection.unwrap().transport(&crate::Transport::default());
        transport.check_url("http://10.0.0.5:8080/v1/me").unwrap();
        // The default environment did not opt in, whatever its URL says.
        let r = resolve(
            &f,
            None,
            None,
            &[("TESSERA_URL", "http://10.0.0.5:8080")],
            true,
        );
        assert!(!r.selection.unwrap().insecure_http);
        // A profile pointing elsewhere is not covered by its environment's opt-in.
        f.store
            .update(|config, _| {
                config.profiles.get_mut("labber").unwrap().url = Some("http://10.0.0.6".into());
                Ok(())
            })
            .unwrap();
        let r = resolve(&f, None, Some("labber"), &[], true);
        assert!(!r.selection.unwrap().insecure_http);
    }

    #[test]
    fn empty_values_count_as_unset() {
        let f = fixture();
        std::fs::write(f.cwd.join(".env"), "TESSERA_API_KEY=\n").unwrap();
        let r = resolve(&f, Some(""), None, &[("TESSERA_API_KEY", "")], true);
        let kinds: Vec<_> = r.found.iter().map(|f| f.source.kind()).collect();
        assert_eq!(kinds, ["credentials_file"]);
    }
}
