//! The credential a command sends, ready to use: an API key (refused when its
//! own `exp` has passed) or a profile's OAuth access token, renewed under the
//! store's lock when it has less than a minute left.
//!
//! Shared by `auth token`, `auth test`, `api` and the credential helpers, so
//! they agree on what "logged in" means.

use super::Target;
use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use tessera_client::token_cache::{self, MIN_VALIDITY_SECS, UreqRefresher};
use tessera_client::{
    ApiKey, Authorization, Credential, Error as ClientError, ProfileFrom, Resolution, TlsTrust,
    Transport,
};

/// What a request goes out with, and what callers report about it.
#[derive(Debug)]
pub struct Active {
    pub authorization: Authorization,
    /// Unix seconds, when known (an API key's `exp`, an access token's expiry).
    pub expires_at: Option<i64>,
    /// `flag`, `env`, `credentials_file`, `dotenv` or `oauth`.
    pub source: &'static str,
    pub source_detail: String,
    /// The profile whose OAuth login was used.
    pub profile: Option<String>,
}

/// Resolves and, for an OAuth login, makes sure the access token is valid for
/// at least a minute (no network when it is).
pub fn active(ctx: &Ctx, api_key_flag: Option<&ApiKey>, io: &mut Io) -> Result<Active, CliError> {
    let resolution = ctx.resolver(api_key_flag).first()?;
    super::print_warnings(io, &resolution.warnings)?;
    from_resolution(ctx, &resolution, io)
}

/// The credential of `profile`, when it has one (warnings are not printed).
pub fn for_profile(ctx: &Ctx, profile: &str, io: &mut Io) -> Result<Option<Active>, CliError> {
    let resolver = tessera_client::Resolver {
        profile_flag: Some(profile),
        ..ctx.resolver(None)
    };
    let resolution = resolver.first()?;
    if resolution.credential().is_none() {
        return Ok(None);
    }
    from_resolution(ctx, &resolution, io).map(Some)
}

/// A key found in the environment, a flag or `.env` was never checked as a
/// login checks one: a blank one, or one holding a line break, would be
/// printed by `auth token` or sent as if it were a key. A usage error (2).
pub fn check_found_key(found: &tessera_client::Found) -> Result<(), CliError> {
    let key = found.key.expose_secret();
    if key.trim().is_empty() {
        return Err(CliError::Usage(format!(
            "the {} holds no API key; set a key there, or unset it",
            found.source
        )));
    }
    // (What else a header cannot carry is refused where it is sent, in the
    // same words; a space is the server's to refuse.)
    if key.chars().any(char::is_control) {
        return Err(CliError::Usage(format!(
            "the API key from the {} holds a line break or another character an HTTP header \
             cannot carry; check the key (a pasted newline?)",
            found.source
        )));
    }
    Ok(())
}

/// Why nothing was found: a profile named by `--profile` or the environment
/// variable that does not exist (said, as kubectl does of a context), or no
/// credential at all. Only on this path is the configuration read again.
fn not_logged_in(ctx: &Ctx, resolution: &Resolution) -> CliError {
    let named = (resolution.selection.as_ref()).and_then(|s| match &s.profile {
        Some((name, ProfileFrom::Flag | ProfileFrom::EnvVar(_))) => Some(name.as_str()),
        _ => None,
    });
    let missing = named.or(ctx.profile_flag.as_deref()).filter(|name| {
        ctx.one_profile.is_none()
            && (ctx.store.read_config()).is_ok_and(|c| !c.profiles.contains_key(*name))
    });
    match missing {
        Some(name) => CliError::NotLoggedIn {
            message: format!("not logged in: there is no profile {name:?}"),
            hint: format!("`{} auth list` shows the profiles", ctx.spec.name),
        },
        None => CliError::NotLoggedIn {
            message: "not logged in: no credential found".into(),
            hint: ctx.login_hint(),
        },
    }
}

pub fn from_resolution(
    ctx: &Ctx,
    resolution: &Resolution,
    io: &mut Io,
) -> Result<Active, CliError> {
    match resolution.credential() {
        None => Err(not_logged_in(ctx, resolution)),
        Some(Credential::ApiKey(found)) => {
            check_found_key(found)?;
            let expires_at = super::ensure_not_expired(&found.key, &found.source, ctx)?;
            Ok(Active {
                authorization: Authorization::ApiKey(found.key.clone()),
                expires_at,
                source: found.source.kind(),
                source_detail: found.source.to_string(),
                profile: None,
            })
        }
        Some(Credential::OAuth(found)) => {
            let target = Target::of(
                resolution
                    .selection
                    .clone()
                    .expect("a profile's login comes with its selection"),
            )?;
            // The trust (SSL_CERT_FILE, SSL_CERT_DIR: hundreds of files) is
            // read by the renewal's request, not for a token still valid,
            // nor by the processes that find it renewed by another.
            let transport = if found.session.valid_for(ctx.now, MIN_VALIDITY_SECS) {
                Transport::default()
            } else {
                target.transport_without_trust(ctx, io)?
            };
            let stderr = std::cell::RefCell::new(&mut *io.stderr);
            let refresher = UreqRefresher {
                transport,
                server: target.server,
                env: ctx.env,
                clock: ctx.clock,
                now: ctx.now,
                // Up to half a minute without a word otherwise.
                on_wait: &|wait| {
                    let _ = writeln!(
                        stderr.borrow_mut(),
                        "renewing the token: rate limited (HTTP 429); retrying in {:.1}s (attempt {} of {})",
                        wait.delay.as_secs_f64(),
                        wait.attempt + 1,
                        wait.max_attempts
                    );
                },
            };
            let refresher = TrustOnRenewal {
                refresher,
                failed: Default::default(),
            };
            let fresh = token_cache::fresh_session(
                &ctx.store,
                &found.profile,
                found.session.clone(),
                ctx.now,
                &refresher,
            );
            if let Some(e) = refresher.failed.take() {
                return Err(e.into());
            }
            let fresh = fresh.map_err(|e| relogin_hint(ctx, e))?;
            if let Some(why) = &fresh.unrenewed {
                let until = fresh.session.expires_at.map(crate::texts::format_time);
                io.warn(format!(
                    "could not renew the token ({}); using the cached one, valid until {}",
                    crate::texts::printable(why),
                    until.as_deref().unwrap_or("it expires")
                ))?;
            }
            if let Some(why) = &fresh.unsaved {
                io.warn(format!(
                    "the renewed token could not be saved ({}); it serves this command, \
                     but the next may need a new login: make the configuration directory writable",
                    crate::texts::printable(why)
                ))?;
            }
            Ok(Active {
                authorization: Authorization::from(&fresh.session),
                expires_at: fresh.session.expires_at,
                source: "oauth",
                source_detail: format!(
                    "{} login of profile {:?} in {}",
                    fresh.session.method_description(),
                    found.profile,
                    found.path.display()
                ),
                profile: Some(found.profile.clone()),
            })
        }
    }
}

/// A [`UreqRefresher`] that reads the process's TLS trust
/// ([`TlsTrust::from_env`]) when it is asked to renew over https: of the processes that
/// find a token expired at once, only the one that renews it reads
/// `SSL_CERT_FILE` and `SSL_CERT_DIR`, and the others, waiting for its lock,
/// take the token it wrote. A trust that cannot be read is kept in `failed`
/// (the renewal then fails as a request that was never sent), for the caller
/// to report as [`super::Target::transport`] would have.
struct TrustOnRenewal<'a> {
    refresher: UreqRefresher<'a>,
    failed: std::cell::RefCell<Option<ClientError>>,
}

impl token_cache::Refresher for TrustOnRenewal<'_> {
    fn renew(
        &self,
        session: &tessera_client::OAuthSession,
        customer_key: Option<&ApiKey>,
    ) -> Result<tessera_client::oauth::TokenResponse, tessera_client::oauth::OAuthError> {
        let r = &self.refresher;
        // A renewal that makes no TLS connection (a server on this machine,
        // or one opted in with --insecure) reads no trust, as curl and Go
        // read none for plain http: a broken SSL_CERT_DIR does not stop it,
        // and the process that renews, on whom every other waits, is
        // not slowed by a few hundred files. A federated renewal may fetch
        // its subject token from GitHub, over https.
        let plain_http = |url: Option<&str>| {
            url.and_then(|u| url::Url::parse(u).ok())
                .is_some_and(|u| u.scheme() == "http")
        };
        let needs_tls = session.method == tessera_client::LoginMethod::Federated
            || !plain_http(Some(&r.server))
            || !plain_http(session.token_endpoint.as_deref());
        let mut refresher = r.clone();
        if needs_tls {
            refresher.transport.trust = match TlsTrust::from_env(r.env) {
                Ok(trust) => trust,
                Err(e) => {
                    let url = session.token_endpoint.clone().unwrap_or_default();
                    let reason = e.to_string();
                    *self.failed.borrow_mut() = Some(e);
                    return Err(tessera_client::oauth::OAuthError::InvalidUrl { url, reason });
                }
            };
        }
        refresher.renew(session, customer_key)
    }
}

/// For the commands that hand the credential to another program as a plain
/// string (`auth token`, `auth env`, the git and kubectl helpers): a warning on
/// stderr when it is a DPoP-bound token, which the server refuses on its own.
/// `what` names what the user gets ("the printed token").
pub fn warn_if_bound(ctx: &Ctx, io: &mut Io, active: &Active, what: &str) -> Result<(), CliError> {
    if active.authorization.is_dpop_bound() {
        io.warn(format!(
            "this login's token is bound to this machine (DPoP): the server refuses {what} without a proof signed by this machine's key; `{name} api PATH` adds one, or log in with `{name} auth login --api-key` for tools that need a plain credential",
            name = ctx.spec.name
        ))?;
    }
    Ok(())
}

/// Names the login command to run when a cached login cannot be renewed.
pub fn relogin_hint(ctx: &Ctx, error: ClientError) -> CliError {
    let hint = match &error {
        ClientError::SessionExpired {
            profile, method, ..
        } => Some(format!(
            "log in again: `{}`",
            ctx.oauth.relogin.command(*method, profile)
        )),
        ClientError::LoggedOut(_) => Some(ctx.login_hint()),

        ClientError::OAuth(e) if e.is_unreachable() => {
            Some("the cached token expired and the server could not be reached to renew it".into())
        }
        _ => None,
    };
    CliError::from(error).maybe_hint(hint)
}
