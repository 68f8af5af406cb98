//! A valid access token from a profile's cached OAuth login, refreshed at
//! most once however many processes ask at the same moment.
//!
//! The cache hit reads the store without locking, builds no HTTP client and
//! starts no runtime. A token with less than [`MIN_VALIDITY_SECS`] left is
//! renewed under the profile's own lock ([`Store::lock_profile`]), after
//! reading the cache again: processes that find the lock taken wait for it to
//! be released (all together, on a shared lock), read the token the first one
//! wrote and use it (kubelogin's lock-file approach), so N racing processes
//! send one refresh request, not N. The store's lock is taken only to write
//! the result, reading the file again under it: another profile's renewal,
//! stuck on a server that does not answer, holds up neither this one nor any
//! write. A profile kept in the OS keychain is read from and written back to
//! it, under the same locks.

use crate::config::{Credentials, CredentialsFile};
use crate::env::EnvVars;
use crate::error::Error;
use crate::oauth::{self, Client, ClientCredentialsRequest, HttpClient, OAuthError, TokenResponse};
use crate::session::{LoginMethod, OAuthSession};
use crate::store::{LOCK_WAIT, Store};
use tessera_proto::ApiKey;

/// A cached token is handed out only while it stays valid this much longer,
/// so that the request it is used for does not arrive with an expired one.
pub const MIN_VALIDITY_SECS: i64 = 60;

/// How long a process whose token still works waits for another one holding
/// the lock (most likely renewing that token) before using the token as it
/// is. A renewal takes milliseconds; one stuck on a server that does not
/// answer takes 30 s, and every process waiting on it would then try again
/// in turn, 30 s each, all holding a token that works.
pub const RENEWAL_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Obtains a new token for a session. [`HttpRefresher`] does it over HTTP;
/// tests count calls.
pub trait Refresher {
    /// `customer_key`: the profile's API key, which a client-credentials login
    /// sends again.
    fn renew(
        &self,
        session: &OAuthSession,
        customer_key: Option<&ApiKey>,
    ) -> Result<TokenResponse, OAuthError>;
}

/// The session as it is after the call, and whether this call renewed it.
#[derive(Debug)]
pub struct Fresh {
    pub session: OAuthSession,
    pub renewed: bool,
    /// Why a token that was due for renewal was not renewed, when the server
    /// could not be reached or failed and the cached token has not expired
    /// yet: it is handed out all the same, and the caller says so.
    pub unrenewed: Option<String>,
    /// Why the renewed token could not be saved (checked before renewing, so
    /// rare: a disk that filled meanwhile). It serves this call; the caller
    /// says that the next may need a new login.
    pub unsaved: Option<String>,
}

/// A session whose access token is valid for at least
/// [`MIN_VALIDITY_SECS`] more seconds at `now` (Unix seconds).
///
/// `cached` is the session as read without the lock. When it is fresh enough
/// it is returned untouched. Otherwise this takes the profile's lock, reads
/// the profile again, and renews only if the re-read session is still stale,
/// writing the result (under the store's lock) before releasing it.
pub fn fresh_session(
    store: &Store,
    profile: &str,
    cached: OAuthSession,
    now: i64,
    refresher: &dyn Refresher,
) -> Result<Fresh, Error> {
    fresh_session_waiting(store, profile, cached, now, refresher, RENEWAL_WAIT)
}

/// [`fresh_session`], waiting at most `renewal_wait` for another process's
/// renewal of the profile while the cached token has not expired.
fn fresh_session_waiting(
    store: &Store,
    profile: &str,
    cached: OAuthSession,
    now: i64,
    refresher: &dyn Refresher,
    renewal_wait: std::time::Duration,
) -> Result<Fresh, Error> {
    if cached.valid_for(now, MIN_VALIDITY_SECS) {
        return Ok(Fresh::kept(cached));
    }
    // Nothing to renew it with: it serves until it expires, and needs no lock
    // (which a read-only configuration directory could not give).
    if !cached.renewable() && !cached.is_expired(now) {
        return Ok(Fresh::kept(cached));
    }
    // No lock (a read-only directory without its lock file): nothing renewed
    // could be saved either.
    let locked = match store.try_lock_profile(profile) {
        Ok(Some(lock)) => Ok(lock),
        Ok(None) => {
            // Most likely another process is renewing this very token. While
            // it still works, it is used rather than waited for long, or
            // renewed here in turn after each other waiter: against a server
            // that does not answer, each would wait out its own timeout.
            let works = !cached.is_expired(now);
            let busy = || Fresh {
                unrenewed: Some("another process is renewing it".into()),
                ..Fresh::kept(cached.clone())
            };
            let wait = if works { renewal_wait } else { LOCK_WAIT };
            match store.wait_for_profile_within(profile, wait) {
                Err(Error::LockHeld { .. }) if works => return Ok(busy()),
                waited => waited?,
            }
            let mut file = store.read_credentials()?.file;
            let (_, current) = stored(store, profile, &mut file)?;
            if renewed_meanwhile(&cached, &current, profile, now) {
                return Ok(Fresh::kept(current));
            }
            if works {
                // Renewed here only if no other waiter got there first.
                match store.try_lock_profile(profile) {
                    Ok(Some(lock)) => Ok(lock),
                    Ok(None) => return Ok(busy()),
                    Err(e) => Err(e),
                }
            } else {
                store.lock_profile(profile)
            }
        }
        Err(e) => Err(e),
    };
    let _renewing = match locked {
        Ok(lock) => Some(lock),
        // Asking again (client credentials, a federated exchange) spends
        // nothing: done without the renewal lock where it cannot be had (a
        // directory that takes no new file, though the store's lock file
        // from the login is there), and a failed save said.
        Err(_) if cached.refresh_token.is_none() => None,
        Err(e) => return unsavable(cached, now, e),
    };
    let mut file = store.read_credentials()?.file;
    let (credentials, current) = stored(store, profile, &mut file)?;
    if renewed_meanwhile(&cached, &current, profile, now) {
        return Ok(Fresh::kept(current));
    }
    if !current.renewable() {
        // Nothing to renew it with: it serves until it has really expired.
        if !current.is_expired(now) {
            return Ok(Fresh::kept(current));
        }
        return Err(Error::SessionExpired {
            profile: profile.to_owned(),
            method: current.method,
            reason: "the token expired and the login has no refresh token".into(),
        });
    }
    // A refresh token is replaced at each use: renewing with nowhere to keep
    // its successor would leave the spent one in the file, and the next call
    // would replay it, which ends the whole login on the server. (Asking
    // again with a client secret, or exchanging a subject token, spends
    // nothing: that is done, and a failed save said.)
    if current.refresh_token.is_some()
        && let Err(e) = store.lock().and_then(|lock| lock.check_writable())
    {
        return unsavable(current, now, e);
    }
    tracing::debug!(profile, method = current.method.as_str(), "renewing token");
    let renewal = refresher.renew(&current, credentials.api_key.as_ref());
    if let Err(e) = &renewal
        && (is_transient(e) || source_spent(&current, e))
        && !current.is_expired(now)
    {
        // As kubelogin and gcloud do: a token that still works beats an error,
        // and the next call tries again. A federated source with no fresh
        // subject token (a CI variable already exchanged, a file gone) ends
        // the login only when the token it has runs out: a refused exchange
        // revokes nothing.
        return Ok(Fresh {
            unrenewed: Some(e.to_string()),
            ..Fresh::kept(current)
        });
    }
    let token = renewal.map_err(|e| {
        // A refused grant, a federated source that has no token any more,
        // or a subject token the server refuses (RFC 8693 §2.2.2 makes
        // that `invalid_request`): only a new login helps.
        if e.is_invalid_grant() || source_spent(&current, &e) {
            Error::SessionExpired {
                profile: profile.to_owned(),
                method: current.method,
                reason: e.to_string(),
            }
        } else {
            Error::OAuth(e)
        }
    })?;
    let mut renewed = current.clone();
    renewed.apply(token, now);
    let unsaved = match save(store, profile, &current, &renewed) {
        Ok(None) => None,
        // Logged in again while this renewed the old login: the new one
        // stays, and serves while it works.
        Ok(Some(other)) if !other.is_expired(now) => return Ok(Fresh::kept(other)),
        Ok(Some(_)) => Some("the profile was logged in again meanwhile".into()),
        // Logged out meanwhile: not brought back.
        Err(e @ Error::LoggedOut(_)) => return Err(e),
        Err(e) => Some(e.to_string()),
    };
    Ok(Fresh {
        session: renewed,
        renewed: true,
        unrenewed: None,
        unsaved,
    })
}

/// Writes `renewed` as `profile`'s login under the store's lock, reading the
/// file again under it: what other commands wrote during the renewal (which
/// held only the profile's lock) is kept, and a login replaced or logged out
/// meanwhile is not overwritten with the old one renewed: then nothing is
/// written, and the login the profile holds now is returned.
fn save(
    store: &Store,
    profile: &str,
    renewed_from: &OAuthSession,
    renewed: &OAuthSession,
) -> Result<Option<OAuthSession>, Error> {
    let lock = store.lock()?;
    let mut file = lock.read_credentials()?.file;
    let (credentials, now_stored) = stored(store, profile, &mut file)?;
    if now_stored != *renewed_from {
        return Ok(Some(now_stored));
    }
    credentials.oauth = Some(renewed.clone());
    lock.write_credentials(&file)?;
    Ok(None)
}

/// `session` when a renewal could not be saved (`why`): its token is used
/// while it works (the caller says why it was not renewed); once expired,
/// `why` is the answer.
fn unsavable(session: OAuthSession, now: i64, why: Error) -> Result<Fresh, Error> {
    if session.is_expired(now) {
        return Err(why);
    }
    Ok(Fresh {
        unrenewed: Some(format!("a renewed token could not be saved: {why}")),
        ..Fresh::kept(session)
    })
}

/// Whether a federated login's source gave no subject token, or one the
/// server refused (RFC 8693 §2.2.2 makes that `invalid_request`): only a new
/// login brings another.
fn source_spent(session: &OAuthSession, error: &OAuthError) -> bool {
    session.method == LoginMethod::Federated
        && (matches!(error, OAuthError::NoSubjectToken(_))
            || error.oauth_code() == Some(&tessera_proto::OAuthErrorCode::InvalidRequest))
}

/// A failure of the server or the way to it, not a refusal of the grant:
/// trying again later may work.
fn is_transient(error: &OAuthError) -> bool {
    match error {
        OAuthError::Unreachable { .. }
        | OAuthError::NoAnswer { .. }
        | OAuthError::BadResponse { .. }
        | OAuthError::NotHttp { .. } => true,
        OAuthError::Rejected { .. } => error.is_server_trouble(),
        _ => false,
    }
}

impl Fresh {
    /// The session as it was: valid long enough, nothing renewed.
    fn kept(session: OAuthSession) -> Self {
        Self {
            session,
            renewed: false,
            unrenewed: None,
            unsaved: None,
        }
    }
}

/// The profile's credentials in `file` (keychain secrets loaded) and their
/// session, as read again once the lock is free or held.
fn stored<'f>(
    store: &Store,
    profile: &str,
    file: &'f mut CredentialsFile,
) -> Result<(&'f mut Credentials, OAuthSession), Error> {
    let logged_out = || Error::LoggedOut(profile.to_owned());
    let credentials = file.profiles.get_mut(profile).ok_or_else(logged_out)?;
    store.load_secrets(profile, credentials)?;
    let session = credentials.oauth.clone().ok_or_else(logged_out)?;
    Ok((credentials, session))
}

/// Whether the session read again need not be renewed by this process: it is
/// valid long enough, or another process renewed it since `cached` was read
/// and it has not expired. (Tokens that live less than the margin are due
/// for renewal as soon as they are issued: without the second rule, each of
/// N processes racing for one would renew it again.)
fn renewed_meanwhile(
    cached: &OAuthSession,
    session: &OAuthSession,
    profile: &str,
    now: i64,
) -> bool {
    let renewed = session.access_token.expose_secret() != cached.access_token.expose_secret()
        && !session.is_expired(now);
    if renewed {
        tracing::debug!(profile, "another process renewed the token");
    }
    renewed || session.valid_for(now, MIN_VALIDITY_SECS)
}

/// The OAuth client a session authenticates as: confidential when it holds a
/// secret, else public; proving the login's DPoP key when it has one (a
/// public client's refresh token is bound to it).
pub fn session_client(session: &OAuthSession) -> Client {
    let id = session.client_id.clone().unwrap_or_default();
    let client = match &session.client_secret {
        Some(secret) => Client::confidential(id, secret.clone()),
        None => Client::public(id),
    };
    match &session.dpop_key {
        Some(key) => client.with_dpop(key.clone()),
        None => client,
    }
}

/// [`HttpRefresher`] over a [`UreqClient`](crate::oauth::UreqClient) built
/// only when a renewal is due, so the cache hit never builds an HTTP client.
/// `transport` is the profile's: its trust settings and insecure-http opt-in
/// ([`Selection::transport`](crate::Selection::transport)). `server` is the
/// profile's server: the stored token endpoint is used only when it is on
/// that server or in its metadata ([`oauth::check_stored_endpoint`]). `env`
/// is where a federated login's source looks (its variable, GitHub Actions').
///
/// A 429 from the token endpoint is waited out ([`REFRESH_RETRY`], per its
/// `Retry-After`, on `clock`) when the token has expired at `now` (Unix
/// seconds): without a renewal the command cannot run at all. A token that
/// still works is used instead of waiting, as for any failed renewal.
#[derive(Clone)]
pub struct UreqRefresher<'a> {
    pub transport: crate::Transport,
    pub server: String,
    pub env: &'a dyn EnvVars,
    pub clock: &'a dyn oauth::Clock,
    pub now: i64,
    /// Told of each wait before it starts, so that a command can say why it
    /// is quiet (a CLI: a line on stderr, as `api` says its waits).
    pub on_wait: &'a dyn Fn(&crate::retry::RateLimitWait),
}

/// Waits for a rate-limited renewal: few and short, as they are made holding
/// the profile's lock, which other commands of the same profile wait for.
pub const REFRESH_RETRY: crate::retry::RetryPolicy = crate::retry::RetryPolicy {
    max_attempts: 3,
    max_delay: std::time::Duration::from_secs(10),
    base_delay: std::time::Duration::from_secs(1),
};

/// No wait for a rate-limited renewal starts this long after its first
/// request: with slow answers (30 s each) the waits and requests would
/// otherwise hold the profile's lock past [`LOCK_WAIT`], and a command of
/// the same profile waiting for it would give up while it still went on.
pub const REFRESH_RETRY_BUDGET: std::time::Duration = std::time::Duration::from_secs(40);

/// An [`HttpClient`] that keeps the headers of the last response, for the
/// `Retry-After` of a rate-limited token request.
struct KeepingHeaders<'a> {
    http: &'a dyn HttpClient,
    last: std::cell::RefCell<Vec<(String, String)>>,
}

impl HttpClient for KeepingHeaders<'_> {
    fn send(
        &self,
        request: oauth::HttpRequest,
    ) -> Result<oauth::HttpResponse, oauth::TransportError> {
        let response = self.http.send(request)?;
        *self.last.borrow_mut() = crate::response::header_pairs(response.headers());
        Ok(response)
    }
}

impl Refresher for UreqRefresher<'_> {
    fn renew(
        &self,
        session: &OAuthSession,
        customer_key: Option<&ApiKey>,
    ) -> Result<TokenResponse, OAuthError> {
        // From the first request on, the metadata look-up's included: it
        // holds the profile's lock as long as any other request.
        let start = self.clock.now();
        let http =
            oauth::UreqClient::with_transport(&self.transport, std::time::Duration::from_secs(30));
        let endpoint = oauth::require_endpoint(&session.token_endpoint, "token endpoint")?;
        oauth::check_stored_endpoint(&http, &self.server, endpoint, |meta| {
            Some(meta.token_endpoint.as_str())
        })?;
        check_customer_key_destination(session, endpoint, &self.server, customer_key)?;
        let http = KeepingHeaders {
            http: &http,
            last: Default::default(),
        };
        let refresher = HttpRefresher {
            http: &http,
            env: self.env,
        };
        let mut attempt = 1;
        loop {
            // Each attempt anew: a DPoP proof is good for one request only.
            let renewal = refresher.renew(session, customer_key);
            let limited = matches!(
                &renewal,
                Err(OAuthError::Rejected {
                    status: Some(429),
                    ..
                })
            );
            if !limited || attempt >= REFRESH_RETRY.max_attempts || !session.is_expired(self.now) {
                return renewal;
            }
            let elapsed = self.clock.now().saturating_duration_since(start).as_secs();
            let now = self
                .now
                .saturating_add(i64::try_from(elapsed).unwrap_or(i64::MAX));
            let answer = crate::response::ApiResponse {
                status: 429,
                headers: http.last.take(),
                body: Vec::new(),
            };
            let wait = REFRESH_RETRY.wait(&answer, now, attempt, rand::random::<f64>());
            if self.clock.now().saturating_duration_since(start) + wait.delay > REFRESH_RETRY_BUDGET
            {
                return renewal;
            }
            (self.on_wait)(&wait);
            self.clock.sleep(wait.delay);
            attempt += 1;
        }
    }
}

/// The profile's API key goes only to its own server, as at login: metadata
/// may name a token endpoint elsewhere, which is trusted with the client
/// secret but not with the key. A login stored before login checked this,
/// or an edited credentials file, must not send it there on renewal.
fn check_customer_key_destination(
    session: &OAuthSession,
    endpoint: &str,
    server: &str,
    customer_key: Option<&ApiKey>,
) -> Result<(), OAuthError> {
    let sends_key = customer_key.is_some()
        && session.refresh_token.is_none()
        && session.method == LoginMethod::ClientCredentials;
    if sends_key && !crate::config::same_origin(endpoint, server) {
        return Err(OAuthError::InvalidUrl {
            url: endpoint.to_owned(),
            reason: format!(
                "the token endpoint is not on {server}, so the API key is not sent there as customer_key; log in again"
            ),
        });
    }
    Ok(())
}

/// Renews over HTTP with the endpoints stored in the session: the refresh
/// token grant when there is a refresh token, else (client credentials) the
/// same grant again, else (federated) a fresh subject token exchanged.
pub struct HttpRefresher<'a> {
    pub http: &'a dyn HttpClient,
    pub env: &'a dyn EnvVars,
}

impl Refresher for HttpRefresher<'_> {
    fn renew(
        &self,
        session: &OAuthSession,
        customer_key: Option<&ApiKey>,
    ) -> Result<TokenResponse, OAuthError> {
        let token_endpoint = oauth::require_endpoint(&session.token_endpoint, "token endpoint")?;
        let client = session_client(session);
        match (&session.refresh_token, session.method) {
            (Some(refresh_token), _) => {
                oauth::refresh(self.http, token_endpoint, &client, refresh_token, None)
            }
            (None, LoginMethod::ClientCredentials) => oauth::client_credentials(
                self.http,
                token_endpoint,
                &client,
                ClientCredentialsRequest {
                    scope: session.scope.as_deref(),
                    customer_key,
                },
            ),
            (None, LoginMethod::Federated) => {
                let source = session.federated.as_ref().ok_or_else(|| {
                    OAuthError::NoSubjectToken("a login that names no source".into())
                })?;
                let subject = source.fetch(self.env, self.http)?;
                let scope = session.scope.as_deref();
                oauth::token_exchange(self.http, token_endpoint, &client, &subject, scope)
            }
            (None, _) => Err(OAuthError::InvalidInput(
                "the login has no refresh token; log in again".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::TESSERA;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tessera_proto::{OAuthErrorBody, OAuthErrorCode};

    struct Counting {
        calls: AtomicUsize,
        fail: Option<OAuthErrorCode>,
        /// Of the tokens it issues.
        expires_in: u64,
    }

    impl Counting {
        fn ok() -> Self {
            Counting {
                calls: AtomicUsize::new(0),
                fail: None,
                expires_in: 3600,
            }
        }
    }

    impl Refresher for Counting {
        fn renew(
            &self,
            session: &OAuthSession,
            _: Option<&ApiKey>,
        ) -> Result<TokenResponse, OAuthError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            assert!(session.refresh_token.is_some());
            if let Some(code) = &self.fail {
                return Err(OAuthError::Rejected {
                    status: Some(400),
                    body: OAuthErrorBody {
                        error: code.clone(),
                        error_description: None,
                    },
                });
            }
            Ok(serde_json::from_value(serde_json::json!({
                "access_token": format!("at-{n}"), "token_type": "Bearer",
                "expires_in": self.expires_in, "refresh_token": format!("rt-{n}"),
            }))
            .unwrap())
        }
    }

    /// An hour's token with 30 s left at `now`: due for renewal.
    fn expired_session(now: i64) -> OAuthSession {
        let mut session = OAuthSession::from_token(
            LoginMethod::Web,
            serde_json::from_str(
                r#"{"access_token":"at-0","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-0"}"#,
            )
            .unwrap(),
            now - 3570,
        );
        session.client_id = Some("tessera-cli".into());
        session
    }

    fn store_with(session: OAuthSession) -> (tempfile::TempDir, Store) {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::in_dir(tmp.path().join("cfg"), &TESSERA);
        store
            .update(|config, creds| {
                config.set_current_profile("default", "p");
                creds.profiles.entry("p".into()).or_default().oauth = Some(session);
                Ok(())
            })
            .unwrap();
        (tmp, store)
    }

    fn stored(store: &Store) -> OAuthSession {
        store.read_credentials().unwrap().file.profiles["p"]
            .oauth
            .clone()
            .unwrap()
    }

    #[test]
    fn the_customer_key_is_renewed_only_with_its_own_server() {
        let mut session = expired_session(1_000);
        session.method = LoginMethod::ClientCredentials;
        session.refresh_token = None;
        let key = ApiKey::new("lk_eyJ.key");
        let check = |session: &OAuthSession, endpoint, key| {
            check_customer_key_destination(session, endpoint, "https://api.test", key)
        };
        check(&session, "https://api.test/oauth/token", Some(&key)).unwrap();
        check(&session, "https://as.test/token", None).unwrap();
        let err = check(&session, "https://as.test/token", Some(&key)).unwrap_err();
        assert!(
            err.to_string().contains("not sent there as customer_key"),
            "{err}"
        );
        // A refresh token is sent instead of the key: nothing to withhold.
        session.refresh_token = Some(tessera_proto::RefreshToken::new("rt"));
        check(&session, "https://as.test/token", Some(&key)).unwrap();
    }

    #[test]
    fn a_fresh_token_is_returned_without_renewing() {
        let now = 1_000;
        let mut session = expired_session(now);
        session.expires_at = Some(now + MIN_VALIDITY_SECS);
        let (_tmp, store) = store_with(session.clone());
        std::fs::remove_file(store.lock_path()).unwrap();
        let counting = Counting::ok();
        let fresh = fresh_session(&store, "p", session, now, &counting).unwrap();
        assert!(!fresh.renewed);
        assert_eq!(counting.calls.load(Ordering::SeqCst), 0);
        assert!(!store.lock_path().exists(), "no lock taken on a cache hit");
    }

    #[test]
    fn a_stale_token_is_renewed_and_written() {
        let now = 1_000;
        let session = expired_session(now);
        let (_tmp, store) = store_with(session.clone());
        let counting = Counting::ok();
        let fresh = fresh_session(&store, "p", session, now, &counting).unwrap();
        assert!(fresh.renewed);
        assert_eq!(fresh.session.access_token.expose_secret(), "at-1");
        let on_disk = stored(&store);
        assert_eq!(on_disk, fresh.session);
        assert_eq!(on_disk.refresh_token.unwrap().expose_secret(), "rt-1");
        assert_eq!(on_disk.expires_at, Some(now + 3600));
    }

    /// A login that cannot be renewed (a token-URL session) serves until
    /// its token has really expired, not until it is due for renewal.
    #[test]
    fn a_token_without_a_way_to_renew_serves_until_it_expires() {
        let now = 1_000;
        let mut session = expired_session(now);
        session.refresh_token = None;
        let (_tmp, store) = store_with(session.clone());
        let counting = Counting::ok();
        let fresh = fresh_session(&store, "p", session.clone(), now, &counting).unwrap();
        assert!(!fresh.renewed);
        assert_eq!(fresh.session.access_token.expose_secret(), "at-0");
        let err = fresh_session(&store, "p", session, now + 30, &counting).unwrap_err();
        assert!(matches!(err, Error::SessionExpired { .. }), "{err:?}");
        assert_eq!(counting.calls.load(Ordering::SeqCst), 0);
    }

    /// Renewing spends the refresh token: where its successor cannot be
    /// saved, the token is not renewed (it still works: it is used, with why),
    /// and once it has expired the error says what is wrong.
    #[cfg(unix)]
    #[test]
    fn nothing_is_renewed_that_cannot_be_saved() {
        use std::os::unix::fs::PermissionsExt as _;
        if is_root() {
            return;
        }
        let now = 1_000;
        let due = expired_session(now);
        let (tmp, store) = store_with(due.clone());
        let dir = tmp.path().join("cfg");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500)).unwrap();
        let counting = Counting::ok();
        let fresh = fresh_session(&store, "p", due.clone(), now, &counting);
        let expired = fresh_session(&store, "p", due, now + 30, &counting);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let fresh = fresh.unwrap();
        assert!(!fresh.renewed);
        assert!(fresh.unrenewed.unwrap().contains("could not be saved"));
        assert!(matches!(expired.unwrap_err(), Error::Io { .. }));
        assert_eq!(
            counting.calls.load(Ordering::SeqCst),
            0,
            "the refresh token is unspent"
        );
        assert_eq!(
            stored(&store).refresh_token.unwrap().expose_secret(),
            "rt-0"
        );

        // Without its lock file (a read-only copy of the directory), the same.
        std::fs::remove_file(store.lock_path()).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500)).unwrap();
        let due = stored(&store);
        let fresh = fresh_session(&store, "p", due, now, &counting);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(fresh.unwrap().unrenewed.is_some());
        assert_eq!(counting.calls.load(Ordering::SeqCst), 0);
    }

    /// A login renewed by asking again spends nothing: where the profile's
    /// renewal lock cannot be had (a directory that takes no new file, with
    /// the store's lock file from the login), it is renewed anyway and the
    /// failed save said, as before each profile had a lock of its own; a
    /// rotating refresh token is still not spent. (As root, who writes in
    /// any directory, a directory in the lock file's place stands in.)
    #[cfg(unix)]
    #[test]
    fn a_login_that_spends_nothing_is_renewed_without_its_renewal_lock() {
        use std::os::unix::fs::PermissionsExt as _;
        struct Again;
        impl Refresher for Again {
            fn renew(
                &self,
                session: &OAuthSession,
                _: Option<&ApiKey>,
            ) -> Result<TokenResponse, OAuthError> {
                assert!(session.refresh_token.is_none());
                Ok(serde_json::from_value(serde_json::json!({
                    "access_token": "at-again", "token_type": "Bearer", "expires_in": 3600,
                }))
                .unwrap())
            }
        }
        let now = 1_000;
        let mut due = expired_session(now);
        due.method = LoginMethod::ClientCredentials;
        due.refresh_token = None;
        due.client_secret = Some(tessera_proto::ClientSecret::new("s"));
        let unwritable = |store: &Store| {
            let dir = store.dir().to_owned();
            if is_root() {
                std::fs::create_dir(store.profile_lock_path("p")).unwrap();
            } else {
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500)).unwrap();
            }
            move || std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        };
        let (_tmp, store) = store_with(due.clone());
        let writable = unwritable(&store);
        let fresh = fresh_session(&store, "p", due, now + 30, &Again);
        writable().unwrap();
        let fresh = fresh.unwrap();
        assert!(fresh.renewed, "{fresh:?}");
        assert_eq!(fresh.session.access_token.expose_secret(), "at-again");

        let due = expired_session(now);
        let (_tmp, store) = store_with(due.clone());
        let writable = unwritable(&store);
        let counting = Counting::ok();
        let expired = fresh_session(&store, "p", due, now + 30, &counting);
        writable().unwrap();
        assert!(expired.is_err());
        assert_eq!(counting.calls.load(Ordering::SeqCst), 0, "rt-0 is unspent");
    }

    /// A full disk still takes an empty file, so a writability probe that
    /// writes nothing passes, the refresh token is spent, and its successor
    /// is lost: the next call replays the spent one, which ends the login.
    /// Needs a small tmpfs, hence root; skipped without (CI runs as root).
    #[cfg(target_os = "linux")]
    #[test]
    fn nothing_is_renewed_on_a_full_disk() {
        use std::io::Write as _;
        use std::process::Command;
        struct Mount(std::path::PathBuf);
        impl Drop for Mount {
            fn drop(&mut self) {
                let _ = Command::new("umount").arg(&self.0).status();
            }
        }
        let now = 1_000;
        let due = expired_session(now);
        let tmp = tempfile::tempdir().unwrap();
        let mounted = is_root()
            && Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
                .arg(tmp.path())
                .status()
                .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("skipped: mounting a tmpfs needs root");
            return;
        }
        let _mount = Mount(tmp.path().to_owned());
        let store = Store::in_dir(tmp.path().join("cfg"), &TESSERA);
        store
            .update(|config, creds| {
                config.set_current_profile("default", "p");
                creds.profiles.entry("p".into()).or_default().oauth = Some(due.clone());
                Ok(())
            })
            .unwrap();
        let mut fill = std::fs::File::create(tmp.path().join("fill")).unwrap();
        while fill.write_all(&[0; 4096]).is_ok() {}
        let before = std::fs::read(store.credentials_path()).unwrap();

        let counting = Counting::ok();
        let fresh = fresh_session(&store, "p", due.clone(), now, &counting).unwrap();
        assert!(!fresh.renewed);
        assert!(fresh.unrenewed.unwrap().contains("could not be saved"));
        assert_eq!(counting.calls.load(Ordering::SeqCst), 0, "rt-0 is unspent");
        assert_eq!(std::fs::read(store.credentials_path()).unwrap(), before);
        let expired = fresh_session(&store, "p", due, now + 30, &counting).unwrap_err();
        assert!(
            matches!(&expired, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull),
            "{expired:?}"
        );
        // Said once, of the file that could not be written.
        let said = expired.to_string();
        let path = store.credentials_path().display().to_string();
        assert!(said.starts_with(&format!("{path}: ")), "{said}");
        assert_eq!(
            said.matches(store.dir().to_str().unwrap()).count(),
            1,
            "{said}"
        );
        assert_eq!(counting.calls.load(Ordering::SeqCst), 0);
    }

    /// An immutable credentials file (`chattr +i`) cannot be replaced, so
    /// nothing is renewed that could not be saved. Needs root and a file
    /// system with the flag; skipped without.
    #[cfg(target_os = "linux")]
    #[test]
    fn nothing_is_renewed_into_an_immutable_file() {
        use std::process::Command;
        let now = 1_000;
        let due = expired_session(now);
        let (_tmp, store) = store_with(due.clone());
        let path = store.credentials_path();
        let chattr = |flag: &str| {
            Command::new("chattr")
                .arg(flag)
                .arg(&path)
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if !is_root() || !chattr("+i") {
            eprintln!("skipped: chattr +i needs root and a file system that has it");
            return;
        }
        let counting = Counting::ok();
        let fresh = fresh_session(&store, "p", due, now, &counting);
        assert!(chattr("-i"));
        let fresh = fresh.unwrap();
        assert!(!fresh.renewed);
        assert!(fresh.unrenewed.unwrap().contains("could not be saved"));
        assert_eq!(counting.calls.load(Ordering::SeqCst), 0, "rt-0 is unspent");
    }

    /// Root writes where the mode says not to: the test means nothing then
    /// (CI runs as root; a developer's machine runs it).
    #[cfg(unix)]
    fn is_root() -> bool {
        rustix::process::geteuid().is_root()
    }

    #[test]
    fn a_stale_copy_uses_what_another_process_wrote() {
        let now = 1_000;
        let stale = expired_session(now);
        let (_tmp, store) = store_with(stale.clone());
        // Another process renewed after this one read the cache.
        fresh_session(&store, "p", stale.clone(), now, &Counting::ok()).unwrap();
        let counting = Counting::ok();
        let fresh = fresh_session(&store, "p", stale, now, &counting).unwrap();
        assert!(!fresh.renewed);
        assert_eq!(counting.calls.load(Ordering::SeqCst), 0);
        assert_eq!(fresh.session.access_token.expose_secret(), "at-1");
    }

    #[test]
    fn threads_racing_renew_once() {
        threads_racing_renew_once_with(Counting::ok());
    }

    /// A server's tokens that live less than the margin are due for renewal
    /// as soon as they are issued; the threads waiting for the lock still use
    /// the one renewed while they waited.
    #[test]
    fn threads_racing_for_short_lived_tokens_renew_once() {
        threads_racing_renew_once_with(Counting {
            expires_in: 30,
            ..Counting::ok()
        });
    }

    fn threads_racing_renew_once_with(counting: Counting) {
        let now = 1_000;
        let stale = expired_session(now);
        let (_tmp, store) = store_with(stale.clone());
        let tokens: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|_| {
                    let (store, stale, counting) = (&store, stale.clone(), &counting);
                    s.spawn(move || {
                        fresh_session(store, "p", stale, now, counting)
                            .unwrap()
                            .session
                            .access_token
                            .expose_secret()
                            .to_owned()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(counting.calls.load(Ordering::SeqCst), 1);
        assert!(tokens.iter().all(|t| t == "at-1"), "{tokens:?}");
    }

    /// A renewal of profile `p` stuck on a server that does not answer
    /// (here: held until released) holds up no other profile: `q`'s expired
    /// token is renewed meanwhile, and a valid one of `q` is handed out, and
    /// when `p`'s renewal ends both renewals are in the file. (Both once
    /// waited on one lock: `q` behind `p`'s renewal, up to 2 minutes.)
    #[test]
    fn one_profiles_stuck_renewal_holds_up_no_other_profile() {
        use std::sync::{Mutex, mpsc};
        struct Held {
            started: mpsc::SyncSender<()>,
            release: Mutex<mpsc::Receiver<()>>,
        }
        impl Refresher for Held {
            fn renew(
                &self,
                _: &OAuthSession,
                _: Option<&ApiKey>,
            ) -> Result<TokenResponse, OAuthError> {
                self.started.send(()).unwrap();
                let _ = self.release.lock().unwrap().recv();
                Ok(serde_json::from_value(serde_json::json!({
                    "access_token": "at-p", "token_type": "Bearer",
                    "expires_in": 3600, "refresh_token": "rt-p",
                }))
                .unwrap())
            }
        }
        let now = 1_000;
        let stale = expired_session(now);
        let expired = now + 30;
        assert!(stale.is_expired(expired));
        let (_tmp, store) = store_with(stale.clone());
        store
            .update(|_, creds| {
                creds.profiles.entry("q".into()).or_default().oauth = Some(stale.clone());
                Ok(())
            })
            .unwrap();
        let (started, renewing) = mpsc::sync_channel(1);
        let (release, released) = mpsc::channel();
        let held = Held {
            started,
            release: Mutex::new(released),
        };
        let counting = Counting::ok();
        std::thread::scope(|s| {
            let p = s.spawn(|| fresh_session(&store, "p", stale.clone(), expired, &held));
            renewing.recv().unwrap();
            let (done, q_done) = mpsc::channel();
            let (in_store, by, stale_q) = (&store, &counting, stale.clone());
            s.spawn(move || {
                let _ = done.send(fresh_session(in_store, "q", stale_q, expired, by));
            });
            // Not a sleep: a bound, so that a renewal waiting on `p`'s fails
            // here rather than after the 2 minutes of the lock's wait.
            let q = q_done.recv_timeout(std::time::Duration::from_secs(20));
            let valid = q.as_ref().ok().and_then(|q| q.as_ref().ok()).map(|q| {
                fresh_session(&store, "q", q.session.clone(), expired, &counting).unwrap()
            });
            release.send(()).unwrap();
            let q = q.expect("q's renewal waited for p's").unwrap();
            assert!(q.renewed && q.unsaved.is_none(), "{q:?}");
            assert_eq!(q.session.access_token.expose_secret(), "at-1");
            let valid = valid.unwrap();
            assert!(!valid.renewed);
            assert_eq!(valid.session.access_token.expose_secret(), "at-1");
            let p = p.join().unwrap().unwrap();
            assert!(p.renewed && p.unsaved.is_none(), "{p:?}");
        });
        assert_eq!(counting.calls.load(Ordering::SeqCst), 1);
        let file = store.read_credentials().unwrap().file;
        let token = |name: &str| {
            let session = file.profiles[name].oauth.as_ref().unwrap();
            session.access_token.expose_secret().to_owned()
        };
        assert_eq!(token("p"), "at-p");
        assert_eq!(token("q"), "at-1", "q's renewal is kept by p's write");
    }

    /// While a renewal waits on the server it holds only the profile's lock:
    /// another command may log that profile in again or remove it. Neither
    /// is undone by the renewal's write.
    #[test]
    fn a_login_replaced_or_removed_during_its_renewal_is_not_brought_back() {
        struct Meanwhile<F: Fn(&Store)>(F, Store);
        impl<F: Fn(&Store)> Refresher for Meanwhile<F> {
            fn renew(
                &self,
                _: &OAuthSession,
                _: Option<&ApiKey>,
            ) -> Result<TokenResponse, OAuthError> {
                (self.0)(&self.1);
                Counting::ok().renew(&expired_session(0), None)
            }
        }
        let now = 1_000;
        let stale = expired_session(now);
        let mut new_login = expired_session(now + 3000);
        new_login.access_token = tessera_proto::AccessToken::new("at-new-login");

        let (_tmp, store) = store_with(stale.clone());
        let relogin = Meanwhile(
            |store: &Store| {
                store
                    .update(|_, creds| {
                        creds.profiles.get_mut("p").unwrap().oauth = Some(new_login.clone());
                        Ok(())
                    })
                    .unwrap();
            },
            store.clone(),
        );
        let fresh = fresh_session(&store, "p", stale.clone(), now, &relogin).unwrap();
        assert_eq!(fresh.session, new_login);
        assert_eq!(stored(&store), new_login, "the new login stays");

        let (_tmp, store) = store_with(stale.clone());
        let logout = Meanwhile(
            |store: &Store| {
                store
                    .update(|_, creds| {
                        creds.profiles.remove("p");
                        Ok(())
                    })
                    .unwrap();
            },
            store.clone(),
        );
        let err = fresh_session(&store, "p", stale, now, &logout).unwrap_err();
        assert!(matches!(err, Error::LoggedOut(_)), "{err:?}");
        let file = store.read_credentials().unwrap().file;
        assert!(!file.profiles.contains_key("p"), "the profile came back");
    }

    #[test]
    fn a_refused_refresh_means_log_in_again() {
        let now = 1_000;
        let stale = expired_session(now);
        let (_tmp, store) = store_with(stale.clone());
        let counting = Counting {
            fail: Some(OAuthErrorCode::InvalidGrant),
            ..Counting::ok()
        };
        let err = fresh_session(&store, "p", stale.clone(), now, &counting).unwrap_err();
        assert!(
            matches!(
                err,
                Error::SessionExpired {
                    method: LoginMethod::Web,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(stored(&store), stale, "nothing written on failure");
    }

    #[test]
    fn a_server_that_fails_leaves_a_token_that_still_works_in_use() {
        let now = 1_000;
        // Due for renewal (30 s left) but not expired.
        let due = expired_session(now);
        let (_tmp, store) = store_with(due.clone());
        let counting = Counting {
            fail: Some(OAuthErrorCode::TemporarilyUnavailable),
            ..Counting::ok()
        };
        let fresh = fresh_session(&store, "p", due.clone(), now, &counting).unwrap();
        assert!(!fresh.renewed);
        assert_eq!(fresh.session, due);
        assert!(
            fresh
                .unrenewed
                .is_some_and(|why| why.contains("temporarily_unavailable"))
        );
        assert_eq!(stored(&store), due, "nothing written");

        // Once it has expired, the failure is the answer.
        let err = fresh_session(&store, "p", due, now + 30, &counting).unwrap_err();
        assert!(matches!(err, Error::OAuth(_)), "{err:?}");
    }

    /// A rate limit at the token endpoint (tesserad: 429, `rate_limited`,
    /// `Retry-After`) or a 5xx is the server's trouble, not a refused grant:
    /// a token that still works is used, and the next call tries again.
    #[test]
    fn a_rate_limited_renewal_leaves_a_token_that_still_works_in_use() {
        struct Limited(u16);
        impl Refresher for Limited {
            fn renew(
                &self,
                _: &OAuthSession,
                _: Option<&ApiKey>,
            ) -> Result<TokenResponse, OAuthError> {
                Err(OAuthError::Rejected {
                    status: Some(self.0),
                    body: OAuthErrorBody {
                        error: OAuthErrorCode::Other("rate_limited".into()),
                        error_description: None,
                    },
                })
            }
        }
        let now = 1_000;
        let due = expired_session(now);
        let (_tmp, store) = store_with(due.clone());
        for status in [429, 503] {
            let fresh = fresh_session(&store, "p", due.clone(), now, &Limited(status)).unwrap();
            assert!(!fresh.renewed);
            assert_eq!(fresh.session, due);
            assert!(
                fresh
                    .unrenewed
                    .is_some_and(|why| why.contains("rate_limited"))
            );
        }
        let err = fresh_session(&store, "p", due.clone(), now + 30, &Limited(429)).unwrap_err();
        assert!(matches!(err, Error::OAuth(_)), "{err:?}");
        assert_eq!(stored(&store), due, "nothing written");
    }

    /// Another process holds the lock, renewing against a server that does
    /// not answer (30 s): a token that still works is used after a short
    /// wait, instead of each waiter waiting for the lock and then trying the
    /// same server in turn, 30 s each.
    #[test]
    fn a_token_that_works_is_not_held_up_by_a_stuck_renewal() {
        let now = 1_000;
        let due = expired_session(now);
        let (_tmp, store) = store_with(due.clone());
        let held = store.lock_profile("p").unwrap();
        let counting = Counting::ok();
        let wait = std::time::Duration::ZERO;
        let fresh = fresh_session_waiting(&store, "p", due.clone(), now, &counting, wait).unwrap();
        assert!(!fresh.renewed);
        assert_eq!(fresh.session, due);
        assert!(
            fresh
                .unrenewed
                .is_some_and(|why| why.contains("another process"))
        );
        assert_eq!(counting.calls.load(Ordering::SeqCst), 0);

        // Released with the token unchanged (the holder failed) while another
        // waiter renews again: the same.
        drop(held);
        let other = store.lock_profile("p").unwrap();
        let fresh = fresh_session_waiting(&store, "p", due.clone(), now, &counting, wait).unwrap();
        assert!(fresh.unrenewed.is_some());
        drop(other);

        // No one holds it: renewed here.
        let fresh = fresh_session_waiting(&store, "p", due, now, &counting, wait).unwrap();
        assert!(fresh.renewed);
        assert_eq!(counting.calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_keychain_login_is_renewed_in_the_keychain() {
        use crate::keychain::Keychain;
        use crate::keychain::testing::Memory;
        let now = 1_000;
        let stale = expired_session(now);
        let tmp = tempfile::tempdir().unwrap();
        let memory = std::sync::Arc::new(Memory::default());
        let store = Store::in_dir(tmp.path().join("cfg"), &TESSERA).with_keychain(Keychain::new(
            memory.clone(),
            std::time::Duration::from_secs(3),
        ));
        let reference = store.keychain_ref("p");
        store
            .update(|_, creds| {
                let entry = creds.profiles.entry("p".into()).or_default();
                entry.oauth = Some(stale.clone());
                entry.keychain = Some(reference);
                Ok(())
            })
            .unwrap();
        let fresh = fresh_session(&store, "p", stale, now, &Counting::ok()).unwrap();
        assert!(fresh.renewed);
        let text = std::fs::read_to_string(store.credentials_path()).unwrap();
        assert!(!text.contains("at-1") && !text.contains("rt-1"), "{text}");
        let mut creds = store
            .read_credentials()
            .unwrap()
            .file
            .profiles
            .remove("p")
            .unwrap();
        store.load_secrets("p", &mut creds).unwrap();
        assert_eq!(creds.oauth.unwrap().access_token.expose_secret(), "at-1");
        assert_eq!(memory.sets(), 2);
    }

    /// A federated login (subject tokens from `$X_ID_TOKEN`) due for renewal.
    fn federated_session(now: i64) -> OAuthSession {
        let mut session = expired_session(now);
        session.method = LoginMethod::Federated;
        session.refresh_token = None;
        session.client_id = Some("ci-app".into());
        session.token_endpoint = Some("http://as.test/token".into());
        session.federated = Some(crate::oauth::SubjectTokenSource::Env {
            variable: "X_ID_TOKEN".into(),
        });
        session
    }

    #[test]
    fn a_federated_login_exchanges_a_fresh_subject_token_or_asks_for_a_login() {
        use crate::oauth::token::testing::{FakeHttp, TOKEN_JSON};
        use std::collections::BTreeMap;
        let now = 1_000;
        let stale = federated_session(now);
        assert!(stale.renewable());
        let (_tmp, store) = store_with(stale.clone());
        let http = FakeHttp::default().reply(200, TOKEN_JSON);
        let env = BTreeMap::from([("X_ID_TOKEN", "eyJ.fresh")]);
        let refresher = HttpRefresher {
            http: &http,
            env: &env,
        };
        let fresh = fresh_session(&store, "p", stale.clone(), now, &refresher).unwrap();
        assert!(fresh.renewed);
        assert_eq!(fresh.session.access_token.expose_secret(), "at-1");
        assert_eq!(http.field(0, "subject_token").as_deref(), Some("eyJ.fresh"));
        let text = std::fs::read_to_string(store.credentials_path()).unwrap();
        assert!(
            !text.contains("eyJ.fresh"),
            "the subject token is not stored"
        );
        assert!(text.contains("X_ID_TOKEN"), "its source is");

        // The variable is gone (another job) and the token has run out: log
        // in again, nothing sent.
        let (_tmp, store) = store_with(stale.clone());
        let http = FakeHttp::default();
        let empty = BTreeMap::<&str, &str>::new();
        let refresher = HttpRefresher {
            http: &http,
            env: &empty,
        };
        let expired = now + 30;
        let err = fresh_session(&store, "p", stale, expired, &refresher).unwrap_err();
        assert!(
            matches!(
                err,
                Error::SessionExpired {
                    method: LoginMethod::Federated,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(http.requests.borrow().is_empty());
    }

    /// A CI variable holds one subject token for the whole job: once it is
    /// exchanged, the renewal in the token's last minute is refused as a
    /// replay (or the variable is gone). The token in hand still works until
    /// its `exp`, and is used, with the reason; only then a new login.
    #[test]
    fn a_spent_federated_source_leaves_the_token_that_still_works_in_use() {
        use crate::oauth::token::testing::FakeHttp;
        use std::collections::BTreeMap;
        let now = 1_000;
        let due = federated_session(now);
        assert!(!due.is_expired(now) && !due.valid_for(now, MIN_VALIDITY_SECS));
        let replayed = r#"{"error":"invalid_request","error_description":"the subject token has already been exchanged"}"#;
        let spent = BTreeMap::from([("X_ID_TOKEN", "eyJ.spent")]);
        let gone = BTreeMap::<&str, &str>::new();
        for env in [&spent, &gone] {
            let (_tmp, store) = store_with(due.clone());
            let http = FakeHttp::default()
                .reply(400, replayed)
                .reply(400, replayed);
            let refresher = HttpRefresher { http: &http, env };
            let fresh = fresh_session(&store, "p", due.clone(), now, &refresher).unwrap();
            assert!(!fresh.renewed);
            assert_eq!(fresh.session, due);
            assert!(fresh.unrenewed.is_some(), "the reason is said");
            assert_eq!(stored(&store), due, "nothing written");
            let err = fresh_session(&store, "p", due.clone(), now + 30, &refresher).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::SessionExpired {
                        method: LoginMethod::Federated,
                        ..
                    }
                ),
                "{err:?}"
            );
        }
    }

    #[test]
    fn logged_out_meanwhile() {
        let now = 1_000;
        let stale = expired_session(now);
        let (_tmp, store) = store_with(stale.clone());
        store
            .update(|_, creds| {
                creds.profiles.clear();
                Ok(())
            })
            .unwrap();
        let err = fresh_session(&store, "p", stale, now, &Counting::ok()).unwrap_err();
        assert!(matches!(err, Error::LoggedOut(_)), "{err:?}");
    }

    /// Virtual time: sleeping advances it and is recorded.
    #[derive(Default)]
    struct Sleeps(std::cell::RefCell<Vec<std::time::Duration>>);

    impl oauth::Clock for Sleeps {
        fn now(&self) -> std::time::Instant {
            static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
            *START.get_or_init(std::time::Instant::now)
                + self.0.borrow().iter().sum::<std::time::Duration>()
        }
        fn sleep(&self, duration: std::time::Duration) {
            self.0.borrow_mut().push(duration);
        }
    }

    /// Renews, through a [`UreqRefresher`] on `server` and `clock`, a login
    /// that expired (or expires) at `expires_at`, its token endpoint at
    /// `token_endpoint`; `on_wait` hears of each rate-limit wait.
    fn renew_at(
        server: &str,
        token_endpoint: String,
        expires_at: i64,
        clock: &dyn oauth::Clock,
        on_wait: &dyn Fn(&crate::retry::RateLimitWait),
    ) -> Result<TokenResponse, OAuthError> {
        let now = 1_800_000_000;
        let mut session = expired_session(now);
        session.token_endpoint = Some(token_endpoint);
        session.expires_at = Some(expires_at);
        let env = std::collections::BTreeMap::<String, String>::new();
        let refresher = UreqRefresher {
            transport: crate::Transport::default(),
            server: server.to_owned(),
            env: &env,
            clock,
            now,
            on_wait,
        };
        refresher.renew(&session, None)
    }

    /// A 429 from the token endpoint ended a command whose token had
    /// expired at once (exit 6): the renewal now waits out the server's
    /// `Retry-After` (capped, at most `REFRESH_RETRY.max_attempts` requests),
    /// and only when there is no working token to use meanwhile.
    #[test]
    fn a_rate_limited_renewal_of_an_expired_token_is_tried_again_after_retry_after() {
        use tessera_testkit::{HttpStub, StubResponse};
        let token = r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-1"}"#;
        let limited = || {
            StubResponse::text(429, r#"{"error":"rate_limited"}"#)
                .header("Content-Type", "application/json")
                .header("Retry-After", "4")
        };
        let run = |answers: Vec<StubResponse>, expires_at: i64| {
            let answers = std::sync::Mutex::new(answers);
            let server = HttpStub::builder()
                .fallback(move |_, _| answers.lock().unwrap().remove(0))
                .start();
            let clock = Sleeps::default();
            let told = std::cell::RefCell::new(Vec::new());
            let endpoint = format!("{}/token", server.url);
            let renewal = renew_at(&server.url, endpoint, expires_at, &clock, &|wait| {
                told.borrow_mut().push(wait.delay)
            });
            let requests = server.requests_to("/token").len();
            let slept = clock.0.take();
            // Each wait is told before it starts, as it is slept.
            assert_eq!(told.take(), slept);
            (renewal, requests, slept)
        };
        let ok = || StubResponse::text(200, token).header("Content-Type", "application/json");
        let now = 1_800_000_000;

        let (renewal, requests, slept) = run(vec![limited(), ok()], now - 1);
        assert_eq!(renewal.unwrap().access_token.expose_secret(), "at-1");
        assert_eq!(requests, 2);
        assert_eq!(slept.len(), 1);
        assert!(
            slept[0] >= std::time::Duration::from_secs(4)
                && slept[0] <= std::time::Duration::from_millis(5_250),
            "{slept:?}"
        );

        // Bounded: the last 429 is the answer.
        let (renewal, requests, slept) = run(vec![limited(), limited(), limited()], now - 1);
        assert!(renewal.unwrap_err().is_server_trouble());
        assert_eq!((requests, slept.len()), (3, 2));

        // A token that still works is used rather than waited for.
        let (renewal, requests, slept) = run(vec![limited()], now + 30);
        assert!(renewal.is_err());
        assert_eq!((requests, slept.len()), (1, 0));
    }

    /// Slow answers (30 s each) plus the waits held the profile's lock past
    /// the 120 s that a command of the same profile waits for it: no wait
    /// starts once the renewal has run `REFRESH_RETRY_BUDGET`.
    #[test]
    fn a_slowly_rate_limited_renewal_stops_waiting_within_its_budget() {
        use tessera_testkit::{HttpStub, StubResponse};
        /// Each look at the clock finds the renewal 25 s further on, as if
        /// every answer had taken that long.
        #[derive(Default)]
        struct SlowAnswers(
            std::cell::Cell<u32>,
            std::cell::RefCell<Vec<std::time::Duration>>,
        );
        impl oauth::Clock for SlowAnswers {
            fn now(&self) -> std::time::Instant {
                static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
                self.0.set(self.0.get() + 1);
                *START.get_or_init(std::time::Instant::now)
                    + std::time::Duration::from_secs(25) * self.0.get()
            }
            fn sleep(&self, duration: std::time::Duration) {
                self.1.borrow_mut().push(duration);
            }
        }
        let server = HttpStub::builder()
            .fallback(|_, _| {
                StubResponse::text(429, r#"{"error":"rate_limited"}"#)
                    .header("Content-Type", "application/json")
                    .header("Retry-After", "4")
            })
            .start();
        let clock = SlowAnswers::default();
        let endpoint = format!("{}/token", server.url);
        let renewal = renew_at(&server.url, endpoint, 1_800_000_000 - 1, &clock, &|_| {});
        assert!(renewal.unwrap_err().is_server_trouble());
        assert_eq!(server.requests_to("/token").len(), 1);
        assert!(clock.1.borrow().is_empty());
    }

    /// A token endpoint on another origin is first looked up in the
    /// server's metadata, a request of the renewal's like the others (30 s
    /// at worst). The budget began after it: with each answer taking 25 s,
    /// a wait still started 50 s into the renewal, and a second request
    /// after it (over 127.0.0.1: 85 s in all, not the 50 s of one try).
    #[test]
    fn the_renewal_budget_counts_the_metadata_look_up() {
        use std::cell::RefCell;
        use std::sync::{Arc, Mutex};
        use std::time::{Duration, Instant};
        use tessera_testkit::{HttpStub, StubResponse};
        /// Virtual time that the stubs move on as they answer.
        struct Shared(Instant, Arc<Mutex<Duration>>, RefCell<Vec<Duration>>);
        impl oauth::Clock for Shared {
            fn now(&self) -> Instant {
                self.0 + *self.1.lock().unwrap()
            }
            fn sleep(&self, duration: Duration) {
                *self.1.lock().unwrap() += duration;
                self.2.borrow_mut().push(duration);
            }
        }
        let elapsed = Arc::new(Mutex::new(Duration::ZERO));
        let slowly = |elapsed: &Arc<Mutex<Duration>>| {
            let elapsed = elapsed.clone();
            move || *elapsed.lock().unwrap() += Duration::from_secs(25)
        };
        let answered = slowly(&elapsed);
        let elsewhere = HttpStub::builder()
            .fallback(move |_, _| {
                answered();
                StubResponse::text(429, r#"{"error":"rate_limited"}"#)
                    .header("Content-Type", "application/json")
                    .header("Retry-After", "4")
            })
            .start();
        let token_endpoint = format!("{}/token", elsewhere.url);
        let listed = token_endpoint.clone();
        let answered = slowly(&elapsed);
        let server = HttpStub::builder()
            .route(
                "GET",
                "/.well-known/oauth-authorization-server",
                move |_, url| {
                    answered();
                    StubResponse::json(
                        200,
                        serde_json::json!({"issuer": url, "token_endpoint": listed}),
                    )
                },
            )
            .start();
        let clock = Shared(Instant::now(), elapsed, RefCell::default());
        let renewal = renew_at(
            &server.url,
            token_endpoint,
            1_800_000_000 - 1,
            &clock,
            &|_| {},
        );
        assert!(renewal.unwrap_err().is_server_trouble());
        assert_eq!(server.requests().len(), 1, "the metadata was looked up");
        assert_eq!(elsewhere.requests_to("/token").len(), 1);
        assert!(clock.2.borrow().is_empty(), "{:?}", clock.2.borrow());
    }
}
