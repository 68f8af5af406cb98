//! The per-application description: every path and environment-variable name the
//! store and resolution use comes from here, so a persona CLI (`lua`, `llamactl`,
//! `lofty-cli`) reuses the same code with its own names.

use crate::env::EnvVars;
use crate::error::Error;
use std::path::PathBuf;

/// Where an application's configuration directory is when its environment
/// variable does not name one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirDefault {
    /// `<name>` inside the platform configuration directory
    /// (`$XDG_CONFIG_HOME` or `~/.config` on Linux).
    PlatformConfig(&'static str),
    /// `<name>` inside the home directory, for tools that keep a dot directory
    /// there (`~/.lua-cli`).
    Home(&'static str),
}

/// Names that make one application's store and resolution its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppSpec {
    /// The command name, used in messages (`tessera auth login`).
    pub name: &'static str,
    /// Overrides the configuration directory when set.
    pub config_dir_env: &'static str,
    pub config_dir_default: DirDefault,
    /// Non-secret settings: environments, profiles, current selections.
    pub config_file: &'static str,
    /// Secrets, mode 0600.
    pub credentials_file: &'static str,
    /// Environment variable that carries an API key and beats the stored one.
    pub api_key_env: &'static str,
    /// Environment variable that selects a profile.
    pub profile_env: &'static str,
    /// Environment variable that sets the server URL of the default environment.
    pub url_env: &'static str,
    /// Server URL of the default environment when nothing else names one.
    pub default_url: &'static str,
    /// File in the working directory consulted last, and the key read from it.
    /// `None`: no `.env` is read (a CLI whose users do not expect one: a
    /// `.env` in a repository someone else wrote would choose their account).
    pub dotenv_file: Option<&'static str>,
    pub dotenv_key: &'static str,
    /// Environment variable holding a log filter (`RUST_LOG` syntax).
    pub log_env: &'static str,
    /// The command that stores a new API key, as hints name it
    /// (`tessera auth login --api-key KEY`, `lofty-cli auth set <customer-key>`).
    pub key_login: &'static str,
    /// How the credentials file is written.
    pub credentials_format: CredentialsFormat,
}

/// The credentials file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialsFormat {
    /// TOML, every profile and login (`[profiles.NAME]`).
    Toml,
    /// The API key of `profile` alone, as plain text (the `lua` CLI's
    /// `~/.lua-cli/credentials`, which other tools read). Such a CLI stores
    /// nothing else; a file in the TOML form is still read.
    BareKey { profile: &'static str },
}

/// The generic `tessera` CLI.
pub const TESSERA: AppSpec = AppSpec {
    name: "tessera",
    config_dir_env: "TESSERA_CONFIG_DIR",
    config_dir_default: DirDefault::PlatformConfig("tessera"),
    config_file: "config.toml",
    credentials_file: "credentials.toml",
    api_key_env: "TESSERA_API_KEY",
    profile_env: "TESSERA_PROFILE",
    url_env: "TESSERA_URL",
    default_url: "http://127.0.0.1:8080",
    dotenv_file: Some(".env"),
    dotenv_key: "TESSERA_API_KEY",
    log_env: "TESSERA_LOG",
    key_login: "tessera auth login --api-key KEY",
    credentials_format: CredentialsFormat::Toml,
};

/// The names an application's OAuth logins use: kept apart from [`AppSpec`]
/// so that applications without OAuth logins need not fill them in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthSpec {
    /// The public client id of web and device logins when none is given: the
    /// server registers the CLI under this fixed id.
    pub default_client_id: &'static str,
    pub client_id_env: &'static str,
    pub client_secret_env: &'static str,
    /// Token URL and session id of the token-URL (Level 0) login.
    pub token_url_env: &'static str,
    pub session_id_env: &'static str,
    /// A subject token for a federated login (a CI job's OIDC token).
    pub id_token_env: &'static str,
    /// The commands that log in again, named in hints when a cached login
    /// can no longer be renewed.
    pub relogin: ReloginCommands,
}

/// The command that starts each login method again, in the application's own
/// words (`lofty-cli auth login-session`, `tessera auth login --web …`).
/// `{profile}` is replaced by the profile's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReloginCommands {
    pub client_credentials: &'static str,
    pub web: &'static str,
    pub device: &'static str,
    pub session: &'static str,
    pub federated: &'static str,
}

/// The [`ReloginCommands`] of a CLI named `$cli` whose `auth login` has
/// Tessera's own flags: `relogin_commands!("acme")` names
/// `acme auth login --web --profile {profile}` and so on.
#[macro_export]
macro_rules! relogin_commands {
    ($cli:literal) => {
        $crate::ReloginCommands {
            client_credentials: concat!(
                $cli,
                " auth login --client-credentials --profile {profile}"
            ),
            web: concat!($cli, " auth login --web --profile {profile}"),
            device: concat!($cli, " auth login --device --profile {profile}"),
            session: concat!($cli, " auth login --session --profile {profile}"),
            federated: concat!($cli, " auth login --federated --profile {profile}"),
        }
    };
}

impl ReloginCommands {
    pub fn command(&self, method: crate::session::LoginMethod, profile: &str) -> String {
        use crate::session::LoginMethod;
        let template = match method {
            LoginMethod::ClientCredentials => self.client_credentials,
            LoginMethod::Web => self.web,
            LoginMethod::Device => self.device,
            LoginMethod::Session => self.session,
            LoginMethod::Federated => self.federated,
        };
        template.replace("{profile}", profile)
    }
}

/// The generic `tessera` CLI's OAuth names.
pub const TESSERA_OAUTH: OAuthSpec = OAuthSpec {
    default_client_id: "tessera-cli",
    client_id_env: "TESSERA_CLIENT_ID",
    client_secret_env: "TESSERA_CLIENT_SECRET",
    token_url_env: "TESSERA_TOKEN_URL",
    session_id_env: "TESSERA_SESSION_ID",
    id_token_env: "TESSERA_ID_TOKEN",
    relogin: crate::relogin_commands!("tessera"),
};

impl AppSpec {
    /// The configuration directory: the application's environment variable when
    /// set, else its platform default.
    pub fn config_dir(&self, env: &dyn EnvVars) -> Result<PathBuf, Error> {
        if let Some(dir) = env.var(self.config_dir_env) {
            return Ok(PathBuf::from(dir));
        }
        // Read as unset, it would send every write to the default directory,
        // replacing the profiles there.
        if env.not_unicode(self.config_dir_env) {
            return Err(Error::NotUnicodeVar(self.config_dir_env));
        }
        match self.config_dir_default {
            DirDefault::PlatformConfig(name) => Ok(platform_config_dir(env)?.join(name)),
            DirDefault::Home(name) => Ok(home_dir(env)?.join(name)),
        }
    }
}

/// `HOME` from the variables given (etcetera would read the process's, and
/// an embedder that injects its own would find the real home's profiles),
/// else the account's home directory (a `HOME` that is not UTF-8 included;
/// on Windows always: the profile directory).
fn home_dir(env: &dyn EnvVars) -> Result<PathBuf, Error> {
    match env.var("HOME") {
        Some(home) if cfg!(not(windows)) => Ok(PathBuf::from(home)),
        _ => etcetera::home_dir().map_err(|_| Error::NoHomeDir),
    }
}

/// `$XDG_CONFIG_HOME` when absolute (the XDG spec ignores a relative one),
/// else `~/.config`, from the variables given: what etcetera's XDG strategy
/// computes from the process's.
#[cfg(not(windows))]
fn platform_config_dir(env: &dyn EnvVars) -> Result<PathBuf, Error> {
    // Read as unset, it would send every write to another directory.
    if env.not_unicode("XDG_CONFIG_HOME") {
        return Err(Error::NotUnicodeVar("XDG_CONFIG_HOME"));
    }
    match env.var("XDG_CONFIG_HOME").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => Ok(dir),
        _ => Ok(home_dir(env)?.join(".config")),
    }
}

#[cfg(windows)]
fn platform_config_dir(_: &dyn EnvVars) -> Result<PathBuf, Error> {
    use etcetera::BaseStrategy as _;
    let base = etcetera::choose_base_strategy().map_err(|_| Error::NoHomeDir)?;
    Ok(base.config_dir())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A configuration directory named in bytes that are not UTF-8 is
    /// refused, not replaced by the default one (whose profiles the command
    /// would overwrite).
    #[test]
    fn a_dir_variable_that_is_not_utf8_is_refused() {
        struct Bytes;
        impl EnvVars for Bytes {
            fn var(&self, _: &str) -> Option<String> {
                None
            }
            fn not_unicode(&self, name: &str) -> bool {
                name == "TESSERA_CONFIG_DIR"
            }
        }
        let err = TESSERA.config_dir(&Bytes).unwrap_err();
        assert!(
            matches!(err, Error::NotUnicodeVar("TESSERA_CONFIG_DIR")),
            "{err:?}"
        );
        assert!(err.to_string().contains("TESSERA_CONFIG_DIR"), "{err}");
    }

    #[test]
    fn env_var_overrides_the_default_dir() {
        let env = BTreeMap::from([("TESSERA_CONFIG_DIR", "/tmp/x")]);
        assert_eq!(TESSERA.config_dir(&env).unwrap(), PathBuf::from("/tmp/x"));
    }

    #[test]
    fn relogin_commands_name_the_profile() {
        use crate::session::LoginMethod;
        assert_eq!(
            TESSERA_OAUTH.relogin.command(LoginMethod::Web, "work"),
            "tessera auth login --web --profile work"
        );
    }

    /// The default directory follows the `HOME` and `XDG_CONFIG_HOME` of the
    /// variables given, not the process's: an embedder (or its test) that
    /// injects them must not read or overwrite the profiles of the real home.
    /// A relative `XDG_CONFIG_HOME` is ignored, as the XDG spec says.
    #[cfg(not(windows))]
    #[test]
    fn the_default_dir_follows_the_injected_home_and_xdg_variables() {
        let xdg = BTreeMap::from([
            ("XDG_CONFIG_HOME", "/injected/xdg"),
            ("HOME", "/injected/home"),
        ]);
        assert_eq!(
            TESSERA.config_dir(&xdg).unwrap(),
            PathBuf::from("/injected/xdg/tessera")
        );
        let relative = BTreeMap::from([("XDG_CONFIG_HOME", "rel"), ("HOME", "/injected/home")]);
        assert_eq!(
            TESSERA.config_dir(&relative).unwrap(),
            PathBuf::from("/injected/home/.config/tessera")
        );
        let spec = AppSpec {
            config_dir_default: DirDefault::Home(".lua-cli"),
            ..TESSERA
        };
        let home = BTreeMap::from([("HOME", "/injected/home")]);
        assert_eq!(
            spec.config_dir(&home).unwrap(),
            PathBuf::from("/injected/home/.lua-cli")
        );
    }

    #[test]
    fn home_default_for_dot_directories() {
        let spec = AppSpec {
            config_dir_default: DirDefault::Home(".lua-cli"),
            ..TESSERA
        };
        let dir = spec.config_dir(&BTreeMap::<&str, &str>::new()).unwrap();
        assert!(dir.ends_with(".lua-cli"));
    }
}
