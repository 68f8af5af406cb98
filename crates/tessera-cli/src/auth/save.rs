//! Where a login's credential is stored, the same for every login command of
//! every CLI.
//!
//! A CLI of many profiles (`tessera`) stores into the selected profile — a new
//! one named after the environment when none is selected — and makes it
//! current; the login replaces whatever credential the profile had. A CLI of
//! one account ([`crate::host::Persona::profile`]: lua, lofty-cli) writes only
//! its credentials file: a key replaces the key (and drops a client-credentials
//! login, which acts for the old key's account); a login replaces the login
//! and keeps the key. A CLI that creates a profile per login (llamactl) uses
//! [`save_new`].
//!
//! The secret goes to the OS keychain when the command asks for it
//! ([`Storage`]), when `config.toml` says `secure_storage = true`, or when
//! the profile's secret is already there; the credentials file then keeps
//! only a reference, and a keychain that cannot be used fails the login
//! with nothing written.

use super::Target;
use crate::context::{Ctx, Storage};
use crate::error::CliError;
use tessera_client::config::parse_server_url;
use tessera_client::{Config, Credentials, LoginMethod, OAuthSession, Selection, Store};
use tessera_proto::ApiKey;

/// A credential a login obtained.
#[derive(Debug)]
pub enum Saved {
    ApiKey(ApiKey),
    OAuth {
        session: Box<OAuthSession>,
        /// The key a client-credentials login sent as `customer_key`.
        customer_key: Option<ApiKey>,
    },
}

/// Where a login's credential went, and what it replaced there.
#[derive(Debug)]
pub struct Stored {
    pub profile: String,
    /// The profile's credentials before (a CLI of many profiles only; secrets
    /// kept in the keychain are not read for this).
    pub replaced: Credentials,
    /// The profile's renewal lock, held until [`replaced`] has revoked what
    /// the login replaced (a CLI of many profiles only).
    _renewal: Option<tessera_client::ProfileLock>,
}

/// Stores a login's credential; returns the profile it went into.
pub fn save(ctx: &Ctx, saved: Saved) -> Result<String, CliError> {
    Ok(save_replacing(ctx, saved)?.profile)
}

/// [`save`], and what the login replaced: a CLI of many profiles says when it
/// was another account's and revokes a replaced OAuth login ([`replaced`]).
pub fn save_replacing(ctx: &Ctx, saved: Saved) -> Result<Stored, CliError> {
    if let Some(profile) = ctx.one_profile {
        ctx.store.update(|config, creds| {
            let entry = creds.profiles.entry(profile.to_owned()).or_default();
            place(&ctx.store, ctx.storage, config, profile, entry);
            match saved {
                Saved::ApiKey(key) => {
                    if entry
                        .oauth
                        .as_ref()
                        .is_some_and(|s| s.method == LoginMethod::ClientCredentials)
                    {
                        entry.oauth = None;
                    }
                    entry.api_key = Some(key);
                }
                Saved::OAuth { session, .. } => entry.oauth = Some(*session),
            }
            Ok(())
        })?;
        return Ok(Stored {
            profile: profile.to_owned(),
            replaced: Credentials::default(),
            _renewal: None,
        });
    }
    let selection = ctx.resolver(None).select(&ctx.store.read_config()?);
    if let Some(name) = selection.profile_name() {
        super::check_name("profile", name)?;
    }
    let environment = selection.environment.clone();
    // A renewal of the login this replaces, under way in another process,
    // holds the profile's lock (not the store's): waited for, so that what
    // is read here and revoked by `replaced` is the login it renewed, not
    // the refresh token it spent while the one it got stays valid. The
    // profile is named before that lock and again under the store's: when
    // `auth switch` made another current meanwhile, that one's lock is taken
    // in turn and the login goes there.
    let mut renewing = login_profile(&ctx.store.read_config()?, &selection);
    let mut saved = Some(saved);
    loop {
        let renewal = ctx.store.lock_profile(&renewing)?;
        let stored = ctx.store.update(|config, creds| {
            let name = login_profile(config, &selection);
            if name != renewing {
                return Ok(Err(name));
            }
            config.set_current_profile(&environment, &name);
            let entry = creds.profiles.entry(name.clone()).or_default();
            let replaced = entry.clone();
            place(&ctx.store, ctx.storage, config, &name, entry);
            match saved.take().expect("a login is saved once") {
                // An OAuth login of the profile would otherwise keep winning
                // resolution over the new key.
                Saved::ApiKey(key) => {
                    entry.api_key = Some(key);
                    entry.oauth = None;
                }
                // An API key from an earlier login is dropped unless it is this
                // login's customer key.
                Saved::OAuth {
                    session,
                    customer_key,
                } => {
                    entry.oauth = Some(*session);
                    entry.api_key = customer_key;
                }
            }
            Ok(Ok(Stored {
                profile: name,
                replaced,
                _renewal: Some(renewal),
            }))
        })?;
        match stored {
            Ok(stored) => return Ok(stored),
            Err(now_current) => renewing = now_current,
        }
    }
}

/// After a login replaced `stored.replaced` in its profile: a warning when the
/// replaced credential acted for another account than `now_for` (the account
/// id of the new one), and the replaced OAuth login revoked at the server, as
/// `logout` would (quietly: the login itself succeeded; a revocation that fails
/// leaves the old tokens to expire, and says so only in the log).
pub fn replaced(
    ctx: &Ctx,
    io: &mut crate::io::Io,
    stored: &Stored,
    now_for: Option<&str>,
) -> Result<(), CliError> {
    let old = &stored.replaced;
    let old_for = (old.api_key.as_ref().map(ApiKey::expose_secret))
        .or_else(|| old.oauth.as_ref().map(|s| s.access_token.expose_secret()))
        .and_then(tessera_proto::UnverifiedClaims::decode)
        .map(|c| c.claims().sub.clone());
    if let (Some(old_for), Some(now_for)) = (old_for, now_for)
        && old_for != now_for
    {
        io.warn(format!(
            "profile {:?} held the login of another account, which this one replaces; \
             log in with --profile NAME to keep several accounts",
            stored.profile
        ))?;
    }
    if let Some(session) = &old.oauth
        && let Err(e) = super::logout::revoke(ctx, io, &stored.profile, session)
    {
        tracing::info!(error = %e, "the replaced login's tokens were not revoked");
    }
    Ok(())
}

/// The inverse of saving a key in a one-account CLI: forgets the key and the
/// client-credentials login made with it (other logins stay). Returns whether
/// there was anything to forget.
pub fn forget_key(ctx: &Ctx, profile: &str) -> Result<bool, CliError> {
    Ok(ctx.store.update(|_, creds| {
        let Some(entry) = creds.profiles.get_mut(profile) else {
            return Ok(false);
        };
        let mut removed = entry.api_key.take().is_some();
        if entry
            .oauth
            .as_ref()
            .is_some_and(|s| s.method == LoginMethod::ClientCredentials)
        {
            entry.oauth = None;
            removed = true;
        }
        if entry.is_empty() {
            creds.profiles.remove(profile);
        }
        Ok(removed)
    })?)
}

/// Stores a login's credential in a new, automatically named profile of
/// `target`'s environment with `target`'s server URL and `settings`, and
/// makes it current ([`new_profile_target`]).
pub fn save_new(
    ctx: &Ctx,
    target: &Target,
    settings: Vec<(String, String)>,
    saved: Saved,
) -> Result<String, CliError> {
    let environment = &target.selection.environment;
    Ok(ctx.store.update(|config, creds| {
        let name = config.new_profile_name(environment);
        config.set_current_profile(environment, &name);
        let profile = config.profiles.get_mut(&name).expect("just created");
        profile.url = Some(target.server.clone());
        profile.settings.extend(settings);
        let entry = creds.profiles.entry(name.clone()).or_default();
        place(&ctx.store, ctx.storage, config, &name, entry);
        match saved {
            Saved::ApiKey(key) => entry.api_key = Some(key),
            Saved::OAuth { session, .. } => entry.oauth = Some(*session),
        }
        Ok(name)
    })?)
}

/// The current environment and the server a new profile of it gets: `url`
/// when given, else the environment's. Plain http to it is allowed only
/// where the environment opted in for that very URL.
pub fn new_profile_target(ctx: &Ctx, url: Option<&str>) -> Result<Target, CliError> {
    let config = ctx.store.read_config()?;
    let environment = config.current_environment().to_owned();
    let server = match url {
        Some(url) => Some(parse_server_url(url)?),
        None => config.environment_url(ctx.spec, ctx.env, &environment),
    };
    Target::of(Selection {
        insecure_http: server
            .as_deref()
            .is_some_and(|s| config.insecure_http_allowed(&environment, s)),
        server,
        environment,
        profile: None,
    })
}

/// Puts the reference of `profile`'s keychain entry in `entry`, or takes it
/// out, as `storage` says. An existing reference is only ever removed on
/// request: a login must not move a secret to the file behind the user's
/// back.
fn place(store: &Store, storage: Storage, config: &Config, profile: &str, entry: &mut Credentials) {
    match storage {
        Storage::Keychain => entry.keychain = Some(store.keychain_ref(profile)),
        Storage::File => entry.keychain = None,
        Storage::AsBefore if entry.keychain.is_none() && config.secure_storage() => {
            entry.keychain = Some(store.keychain_ref(profile));
        }
        Storage::AsBefore => {}
    }
}

/// The profile a login stores into: the selected one, else the environment's
/// current one, else a new one named after the environment. Called under the
/// store's lock, so that concurrent logins do not pick the same new name.
fn login_profile(config: &Config, selection: &Selection) -> String {
    match selection.profile_name() {
        Some(name) => name.to_owned(),
        None => config.current_profile(&selection.environment).map_or_else(
            || config.new_profile_name(&selection.environment),
            str::to_owned,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::testing::ctx;
    use tessera_client::oauth::TokenResponse;

    fn session(method: LoginMethod) -> OAuthSession {
        let token: TokenResponse =
            serde_json::from_str(r#"{"access_token":"at","token_type":"Bearer"}"#).unwrap();
        OAuthSession::from_token(method, token, 0)
    }

    #[test]
    fn one_account_clis_keep_the_key_beside_a_login_but_not_a_client_credentials_one() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Ctx {
            one_profile: Some("default"),
            ..ctx(&dir)
        };
        let saved = |s| save(&ctx, s).unwrap();
        saved(Saved::ApiKey(ApiKey::new("k1")));
        saved(Saved::OAuth {
            session: Box::new(session(LoginMethod::Session)),
            customer_key: None,
        });
        let creds = ctx.store.read_credentials().unwrap().file;
        let entry = &creds.profiles["default"];
        assert!(entry.api_key.is_some() && entry.oauth.is_some());
        saved(Saved::OAuth {
            session: Box::new(session(LoginMethod::ClientCredentials)),
            customer_key: None,
        });
        saved(Saved::ApiKey(ApiKey::new("k2")));
        let creds = ctx.store.read_credentials().unwrap().file;
        assert!(creds.profiles["default"].oauth.is_none());
        assert!(
            !ctx.store.config_path().exists(),
            "only the credentials file is written"
        );
    }

    /// `auth switch` between the login's choice of profile and its save: the
    /// login went into the new current profile holding another's renewal
    /// lock, so a renewal of the login it replaced could be under way, and
    /// the refresh token that renewal got would stay valid.
    #[test]
    fn a_switch_while_the_login_waits_moves_it_to_the_new_profiles_lock() {
        use std::sync::{Arc, Mutex};
        let dir = tempfile::tempdir().unwrap();
        let plain = ctx(&dir).store;
        // Profile b exists but none is current: the login picks a new
        // profile, named after the environment, and waits for its lock.
        plain
            .update(|config, _| {
                config.set_current_profile("default", "b");
                config
                    .environments
                    .get_mut("default")
                    .unwrap()
                    .current_profile = None;
                Ok(())
            })
            .unwrap();
        let held = Arc::new(Mutex::new(vec![plain.lock_profile("default").unwrap()]));
        let waited_for = Arc::new(Mutex::new(Vec::new()));
        let store = {
            let (held, waited_for, plain) = (held.clone(), waited_for.clone(), plain.clone());
            plain
                .clone()
                .with_wait_notice(std::time::Duration::ZERO, move |lock| {
                    waited_for.lock().unwrap().push(lock.to_owned());
                    let mut held = held.lock().unwrap();
                    if waited_for.lock().unwrap().len() == 1 {
                        // Waiting for "default": switch to b, whose renewal is
                        // under way.
                        plain
                            .update(|config, _| {
                                config.set_current_profile("default", "b");
                                Ok(())
                            })
                            .unwrap();
                        held.push(plain.lock_profile("b").unwrap());
                        held.remove(0);
                    } else {
                        held.clear();
                    }
                })
        };
        let ctx = Ctx { store, ..ctx(&dir) };
        let name = save(&ctx, Saved::ApiKey(ApiKey::new("k1"))).unwrap();
        assert_eq!(name, "b");
        let waited_for = waited_for.lock().unwrap();
        assert_eq!(waited_for.len(), 2, "{waited_for:?}");
        assert_ne!(waited_for[0], waited_for[1]);
    }

    #[test]
    fn a_login_replaces_the_profiles_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ctx(&dir);
        save(&ctx, Saved::ApiKey(ApiKey::new("k1"))).unwrap();
        let name = save(
            &ctx,
            Saved::OAuth {
                session: Box::new(session(LoginMethod::Web)),
                customer_key: None,
            },
        )
        .unwrap();
        assert_eq!(name, "default");
        let creds = ctx.store.read_credentials().unwrap().file;
        assert!(creds.profiles["default"].api_key.is_none());
    }
}
