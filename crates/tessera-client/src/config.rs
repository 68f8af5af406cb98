//! The two files of the store: `config.toml` (environments, profiles, current
//! selections; nothing secret) and `credentials.toml` (secrets per profile).
//!
//! Both keep keys they do not know (`other`), so that a file written by a newer
//! version (say, with an OAuth token cache) survives a write by an older one.

use crate::app::AppSpec;
use crate::env::EnvVars;
use crate::keychain::{KeychainProblem, KeychainRef};
use crate::session::OAuthSession;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tessera_proto::ApiKey;

/// The environment that exists without being configured.
pub const DEFAULT_ENVIRONMENT: &str = "default";

/// `config.toml`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_environment: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environments: BTreeMap<String, Environment>,
    /// Profile names are unique across environments, so `--profile NAME` alone
    /// says which credentials and which server are meant.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub profiles: BTreeMap<String, Profile>,
    /// New logins keep their secret in the OS keychain, as if
    /// `--secure-storage` were given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure_storage: Option<bool>,
    #[serde(flatten)]
    pub other: toml::Table,
}

/// A named server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_profile: Option<String>,
    /// The user's opt-in to plain `http://` for this environment's `url`
    /// when it is not on loopback (`auth env add NAME URL --insecure`). It
    /// covers that URL's origin only: not a URL from an environment
    /// variable, a flag or a profile, and not a later `url` written
    /// without it ([`Config::insecure_http_allowed`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    #[serde(flatten)]
    pub other: toml::Table,
}

/// A login: which environment it belongs to, plus non-secret settings an
/// application keeps per login (e.g. llamactl's project id or API URL).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub environment: String,
    /// A server URL for this profile alone, overriding its environment's
    /// (llamactl keeps the API URL in each profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, String>,
    #[serde(flatten)]
    pub other: toml::Table,
}

impl Config {
    pub fn current_environment(&self) -> &str {
        self.current_environment
            .as_deref()
            .unwrap_or(DEFAULT_ENVIRONMENT)
    }

    /// The environment's server URL. The default environment always exists: its
    /// URL is the application's URL variable when set, else the stored one, else
    /// the application's default.
    pub fn environment_url(&self, spec: &AppSpec, env: &dyn EnvVars, name: &str) -> Option<String> {
        let stored = self.environments.get(name).and_then(|e| e.url.clone());
        if name == DEFAULT_ENVIRONMENT {
            return Some(
                env.var(spec.url_env)
                    .or(stored)
                    .unwrap_or_else(|| spec.default_url.to_owned()),
            );
        }
        stored
    }

    /// The server a profile talks to: the application's URL variable when the
    /// profile is in the default environment and the variable is set (an explicit
    /// override), else the profile's own URL, else its environment's.
    pub fn server_url(
        &self,
        spec: &AppSpec,
        env: &dyn EnvVars,
        environment: &str,
        profile: Option<&str>,
    ) -> Option<String> {
        let overridden = environment == DEFAULT_ENVIRONMENT && env.var(spec.url_env).is_some();
        profile
            .and_then(|p| self.profiles.get(p))
            .and_then(|p| p.url.clone())
            .filter(|_| !overridden)
            .or_else(|| self.environment_url(spec, env, environment))
    }

    /// Whether plain http to `server` is allowed for `environment`: only when
    /// the user opted in for that environment and `server` has the origin of
    /// the URL stored with the opt-in. Loopback needs no opt-in (see
    /// the transport module).
    pub fn insecure_http_allowed(&self, environment: &str, server: &str) -> bool {
        let Some(env) = self.environments.get(environment).filter(|e| e.insecure) else {
            return false;
        };
        env.url
            .as_deref()
            .is_some_and(|stored| same_origin(stored, server))
    }

    /// Whether a new login keeps its secret in the OS keychain by default.
    pub fn secure_storage(&self) -> bool {
        self.secure_storage.unwrap_or(false)
    }

    /// Every environment by name, the default one included.
    pub fn environment_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.environments.keys().map(String::as_str).collect();
        if !self.environments.contains_key(DEFAULT_ENVIRONMENT) {
            names.insert(0, DEFAULT_ENVIRONMENT);
        }
        names.sort_unstable();
        names
    }

    pub fn has_environment(&self, name: &str) -> bool {
        name == DEFAULT_ENVIRONMENT || self.environments.contains_key(name)
    }

    pub fn current_profile(&self, environment: &str) -> Option<&str> {
        self.environments
            .get(environment)
            .and_then(|e| e.current_profile.as_deref())
    }

    /// Profiles of one environment, by name.
    pub fn profiles_in<'a>(
        &'a self,
        environment: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a Profile)> + 'a {
        self.profiles
            .iter()
            .filter(move |(_, p)| p.environment == environment)
            .map(|(n, p)| (n.as_str(), p))
    }

    /// Records a profile in `environment` and makes it that environment's current one.
    pub fn set_current_profile(&mut self, environment: &str, profile: &str) {
        self.profiles
            .entry(profile.to_owned())
            .or_insert_with(|| Profile {
                environment: environment.to_owned(),
                ..Profile::default()
            });
        self.environments
            .entry(environment.to_owned())
            .or_default()
            .current_profile = Some(profile.to_owned());
    }

    /// Forgets a profile; clears it as its environment's current one.
    pub fn remove_profile(&mut self, name: &str) -> Option<Profile> {
        let removed = self.profiles.remove(name)?;
        if let Some(env) = self.environments.get_mut(&removed.environment)
            && env.current_profile.as_deref() == Some(name)
        {
            env.current_profile = None;
        }
        Some(removed)
    }

    /// A name for a new profile in `environment`: the environment's own name if
    /// free (so the first login in `default` is profile `default`), else numbered.
    pub fn new_profile_name(&self, environment: &str) -> String {
        if !self.profiles.contains_key(environment) {
            return environment.to_owned();
        }
        (2..)
            .map(|n| format!("{environment}-{n}"))
            .find(|name| !self.profiles.contains_key(name))
            .expect("an unused name exists")
    }
}

/// Whether two URLs have one scheme, host and port (RFC 6454): the unit a
/// credential is trusted to.
pub fn same_origin(a: &str, b: &str) -> bool {
    let origin = |u: &str| url::Url::parse(u).ok().map(|u| u.origin());
    origin(a).is_some_and(|o| o.is_tuple() && Some(o) == origin(b))
}

/// Checks a server URL given by a user: absolute, http or https, with a host.
/// Returns it without a trailing slash, the form paths are appended to.
pub fn parse_server_url(input: &str) -> Result<String, crate::Error> {
    let url = http_url(input).ok_or_else(|| crate::Error::InvalidUrl(input.to_owned()))?;
    refuse_credentials_in_url(&url)?;
    refuse_unusable_server_url(input, &url)?;
    Ok(input.trim_end_matches('/').to_owned())
}

/// [`crate::Error::UnusableServerUrl`] unless `input` (parsed as `url`) is
/// a base that paths can be appended to as written.
pub fn refuse_unusable_server_url(input: &str, url: &url::Url) -> Result<(), crate::Error> {
    // A `\` is a `/` in http and https URLs (WHATWG URL), also before the
    // host, so `https://api.example\` is read with the path `\`, not `/`.
    let written_path = (input.split_once(':').map(|(_, rest)| rest))
        .map(|rest| rest.trim_start_matches(['/', '\\']))
        .and_then(|rest| rest.find(['/', '\\']).map(|at| &rest[at..]))
        .unwrap_or("/");
    let why = if url.query().is_some() || url.fragment().is_some() || input.contains(['?', '#']) {
        "it has a query or fragment (`?…`, `#…`); give the server's base URL alone".to_owned()
    } else if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "it has spaces or control characters (a copied value with a line break at its end?)"
            .to_owned()
    } else if written_path != url.path() {
        format!(
            "it is read as {}; write it that way",
            display_url(url.as_str())
        )
    } else {
        return Ok(());
    };
    Err(crate::Error::UnusableServerUrl {
        url: display_url(input),
        why,
    })
}

/// `input` parsed, when it is an absolute `http://` or `https://` URL with a
/// host: what a server or token URL must be.
pub fn http_url(input: &str) -> Option<url::Url> {
    url::Url::parse(input)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

/// [`crate::Error::CredentialsInUrl`] for a URL with a user name or password.
pub fn refuse_credentials_in_url(url: &url::Url) -> Result<(), crate::Error> {
    if url.username().is_empty() && url.password().is_none() {
        return Ok(());
    }
    Err(crate::Error::CredentialsInUrl {
        url: display_url(url.as_str()),
    })
}

/// A server URL for messages and listings: a password in it is masked.
pub fn display_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("****"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// `credentials.toml`: secrets by profile name.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CredentialsFile {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub profiles: BTreeMap<String, Credentials>,
    #[serde(flatten)]
    pub other: toml::Table,
}

/// The secrets of one profile. New kinds of credential (an OAuth token cache)
/// are new optional fields; unknown ones are carried through untouched.
///
/// With `keychain` set, `api_key` and `oauth` live in the OS keychain and the
/// file holds only the reference; the store reads them in on demand
/// ([`Store::load_secrets`](crate::Store::load_secrets)) and writes them back
/// there, never to the file.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Credentials {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<ApiKey>,
    /// An OAuth login and its token cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthSession>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keychain: Option<KeychainRef>,
    /// What this process knows of the keychain's copy; never stored.
    #[serde(skip)]
    pub(crate) keychain_state: KeychainState,
    #[serde(flatten)]
    pub other: toml::Table,
}

/// Whether a keychain profile's secrets were read in.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) enum KeychainState {
    /// As parsed from the file: `api_key` and `oauth` are not the
    /// keychain's. Secrets set on such a profile replace the keychain's.
    #[default]
    NotRead,
    /// Read in; the keychain held this payload.
    Read(Box<KeychainPayload>),
    /// Reading failed: writing secrets for this profile is refused, since
    /// what they would replace is unknown.
    Failed(KeychainProblem),
}

/// What a keychain entry holds: the profile's secrets, as JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct KeychainPayload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<ApiKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthSession>,
}

impl Credentials {
    pub fn is_empty(&self) -> bool {
        self.api_key.is_none()
            && self.oauth.is_none()
            && self.keychain.is_none()
            && self.other.is_empty()
    }

    /// Whether the secrets of this profile are in the OS keychain.
    pub fn in_keychain(&self) -> bool {
        self.keychain.is_some()
    }

    pub(crate) fn payload(&self) -> KeychainPayload {
        KeychainPayload {
            api_key: self.api_key.clone(),
            oauth: self.oauth.clone(),
        }
    }
}

// Hand-written Debug: `other` may hold secrets this version has no type for, so
// only key names are shown.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("api_key", &self.api_key)
            .field("oauth", &self.oauth)
            .field("keychain", &self.keychain)
            .field("other", &self.other.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl std::fmt::Debug for CredentialsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsFile")
            .field("profiles", &self.profiles)
            .field("other", &self.other.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::TESSERA;

    #[test]
    fn unknown_keys_survive_a_round_trip() {
        let text = r#"
future = 1
[profiles.work]
api_key = "k"
[profiles.work.keyring]
secret = "at-secret"
expires_at = 5
"#;
        let file: CredentialsFile = toml::from_str(text).unwrap();
        assert_eq!(
            file.profiles["work"]
                .api_key
                .as_ref()
                .unwrap()
                .expose_secret(),
            "k"
        );
        let again: CredentialsFile = toml::from_str(&toml::to_string(&file).unwrap()).unwrap();
        assert_eq!(again, file);
        assert!(!format!("{file:?}").contains("at-secret"));
    }

    #[test]
    fn config_round_trip() {
        let mut config = Config::default();
        config.set_current_profile("default", "default");
        config
            .profiles
            .get_mut("default")
            .unwrap()
            .settings
            .insert("project_id".into(), "p1".into());
        config.environments.insert(
            "staging".into(),
            Environment {
                url: Some("https://staging.example".into()),
                ..Default::default()
            },
        );
        let text = toml::to_string(&config).unwrap();
        assert_eq!(toml::from_str::<Config>(&text).unwrap(), config);
    }

    #[test]
    fn default_environment_url() {
        let config = Config::default();
        let none = std::collections::BTreeMap::<&str, &str>::new();
        assert_eq!(
            config.environment_url(&TESSERA, &none, "default").unwrap(),
            "http://127.0.0.1:8080"
        );
        let env = std::collections::BTreeMap::from([("TESSERA_URL", "http://127.0.0.1:9")]);
        assert_eq!(
            config.environment_url(&TESSERA, &env, "default").unwrap(),
            "http://127.0.0.1:9"
        );
        assert_eq!(config.environment_url(&TESSERA, &env, "other"), None);
    }

    #[test]
    fn a_backslash_after_the_host_is_refused() {
        // Accepted, it became `https://api.example\/v1/me`: `//v1/me`, a 404.
        for input in [
            "https://api.example\\",
            "http://127.0.0.1:8080\\",
            "https:ex\\",
        ] {
            let err = parse_server_url(input).unwrap_err();
            assert!(
                matches!(err, crate::Error::UnusableServerUrl { .. }),
                "{input}: {err:?}"
            );
        }
    }

    #[test]
    fn server_urls() {
        assert_eq!(
            parse_server_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            parse_server_url("https://api.example/v").unwrap(),
            "https://api.example/v"
        );
        assert!(parse_server_url("ftp://x").is_err());
        assert!(parse_server_url("127.0.0.1:8080").is_err());
        assert!(parse_server_url("not a url").is_err());
        for unusable in [
            "http://127.0.0.1:8080/?x=1",
            "http://127.0.0.1:8080/#frag",
            "http://127.0.0.1:8080/a b",
            "http://127.0.0.1:8080/a\tb",
            "http://127.0.0.1:8080/prefix/../../v1",
            "http://127.0.0.1:8080/./v1",
        ] {
            let err = parse_server_url(unusable).unwrap_err();
            assert!(
                matches!(err, crate::Error::UnusableServerUrl { .. }),
                "{unusable}: {err:?}"
            );
        }
    }

    #[test]
    fn a_profile_url_beats_its_environment_but_not_the_url_variable() {
        let mut config = Config::default();
        config.set_current_profile("default", "p");
        config.profiles.get_mut("p").unwrap().url = Some("http://profile.test".into());
        let none = std::collections::BTreeMap::<&str, &str>::new();
        let env = std::collections::BTreeMap::from([("TESSERA_URL", "http://env.test")]);
        let server = |env: &dyn EnvVars, p| config.server_url(&TESSERA, env, "default", p);
        assert_eq!(server(&none, Some("p")).unwrap(), "http://profile.test");
        assert_eq!(server(&none, None).unwrap(), "http://127.0.0.1:8080");
        assert_eq!(server(&env, Some("p")).unwrap(), "http://env.test");
    }

    #[test]
    fn removing_the_current_profile_clears_it() {
        let mut config = Config::default();
        config.set_current_profile("default", "a");
        config.set_current_profile("default", "b");
        assert_eq!(config.current_profile("default"), Some("b"));
        config.remove_profile("b");
        assert_eq!(config.current_profile("default"), None);
        assert_eq!(config.new_profile_name("default"), "default");
        config.set_current_profile("default", "default");
        assert_eq!(config.new_profile_name("default"), "default-2");
    }
}
