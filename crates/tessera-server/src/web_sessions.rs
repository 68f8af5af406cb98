//! Browser sessions of the web pages: signing in (by email code or password),
//! the session behind a cookie, signing out and revoking. The cookie's secret is
//! returned once; the store keeps only its hash. Every change is audited.

use crate::attempts::{self, Limit};
use crate::audit::{self, Action, Actor};
use crate::digest;
use crate::error::{Error, Result};
use crate::services::{Background, Services};
use crate::store::web_sessions::{WebSessionAuth, WebSessionRow};
use crate::store::{Account, Store};
use std::net::IpAddr;

/// A browser session lasts this long after sign-in.
pub const SESSION_TTL_SECS: i64 = 12 * 3600;
/// The most live browser sessions an account keeps: signing in ends the
/// oldest beyond these. Each sign-in needs the password or an emailed code,
/// yet nothing else bounded them: a script with the password made a session
/// per request (hundreds a minute, each kept 12 hours), and the sessions page
/// listed every one.
pub const LIVE_SESSIONS_KEPT: i64 = 100;
/// `last_seen_at` is written at most this often per session.
const LAST_SEEN_GRANULARITY_SECS: i64 = 60;
/// Failed password sign-ins per account before password sign-in pauses
/// for it (the email code still works): guessing one account's password.
pub const PASSWORD_FAILURES_PER_ACCOUNT: Limit = Limit::per_quarter_hour(10);
/// Failed password sign-ins per client address, across accounts, before
/// password sign-in pauses for that address: spraying a common password over
/// many accounts, which the per-account limit never sees.
pub const PASSWORD_FAILURES_PER_ADDRESS: Limit = Limit::per_quarter_hour(20);

/// Failed sign-ins recorded in an account's audit trail per window. Anyone who
/// knows the address can fail as often as the other limits let them; past
/// this, recording each would grow the table fast. The activity page shows
/// only the newest few besides the owner's own events, so that failures kept
/// up for hours cannot push those off it. The owner still sees that somebody
/// kept trying.
pub const RECORDED_FAILURES_PER_ACCOUNT: Limit = Limit::per_quarter_hour(10);

/// How a sign-in method is named in the session list and the audit trail.
pub const METHOD_EMAIL_CODE: &str = "email_code";
pub const METHOD_PASSWORD: &str = "password";

/// Where a sign-in comes from.
#[derive(Clone, Copy, Debug)]
pub struct Browser<'a> {
    /// The client's address, for per-address limits.
    pub client: IpAddr,
    /// The same as the audit trail shows it; `None` when unknown.
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// Starts a session for `account_id` (a new secret every time, so a cookie
/// planted before sign-in is useless) and returns the cookie's secret.
pub async fn sign_in(
    store: &Store,
    account_id: &str,
    method: &str,
    browser: Browser<'_>,
    now: i64,
) -> Result<String> {
    let (secret, row) = new_session(account_id, method, browser, now);
    store.insert_web_session(&row).await?;
    signed_in(store, &row, browser, now).await?;
    Ok(secret)
}

/// A new session's cookie secret and row (not stored yet).
fn new_session(
    account_id: &str,
    method: &str,
    browser: Browser<'_>,
    now: i64,
) -> (String, WebSessionRow) {
    let secret = digest::random_token(32);
    let row = WebSessionRow {
        id_hash: digest::secret_hash(&secret),
        id: crate::ids::web_session(),
        account_id: account_id.to_owned(),
        method: method.to_owned(),
        ip: browser.ip.map(str::to_owned),
        user_agent: browser.user_agent.map(str::to_owned),
        created_at: now,
        last_seen_at: now,
        expires_at: now + SESSION_TTL_SECS,
        revoked_at: None,
    };
    (secret, row)
}

/// A stored session, in its account's audit trail.
async fn signed_in(
    store: &Store,
    row: &WebSessionRow,
    browser: Browser<'_>,
    now: i64,
) -> Result<()> {
    store
        .end_web_sessions_but_newest(&row.account_id, LIVE_SESSIONS_KEPT, now)
        .await?;
    let actor = Actor {
        account_id: &row.account_id,
        ip: browser.ip,
    };
    audit::record(store, actor, Action::SignedIn, Some(&row.method), now).await
}

/// What a password sign-in came to.
pub enum PasswordSignIn {
    /// The cookie's secret of a new session.
    SignedIn(String),
    Mismatch,
    /// Too many failures for the account or from the client's address lately:
    /// password sign-in pauses (the password was not checked).
    Paused,
    /// The server is checking as many passwords as it queues: not checked,
    /// not counted; try again in a moment.
    Busy,
}

/// Signs in with a password an admin set. The same answer, and about the same
/// time, whether or not the account exists or has a password: the limits are
/// keyed by the typed address and the client's, never by whether an account
/// exists. Each attempt is counted before the password is checked (so
/// parallel guesses get exactly the limits) and given back when it succeeds.
pub async fn sign_in_with_password(
    svc: &Services,
    email: &str,
    password: String,
    browser: Browser<'_>,
    now: i64,
) -> Result<PasswordSignIn> {
    let store = &svc.store;
    let (account, stored) = match store.account_with_password_hash(email).await? {
        Some((account, hash)) => (Some(account), hash),
        None => (None, None),
    };
    let address_key = format!(
        "password-address:{}",
        crate::forwarded::limit_key(browser.client)
    );
    let account_key = format!("password-account:{email}");
    let Some(by_address) =
        attempts::admitted(store, &address_key, PASSWORD_FAILURES_PER_ADDRESS, now).await?
    else {
        return Ok(paused(svc, account.as_ref(), browser, now));
    };
    let Some(by_account) =
        attempts::admitted(store, &account_key, PASSWORD_FAILURES_PER_ACCOUNT, now).await?
    else {
        // Not checked, so not a guess from this address.
        by_address.refund(store).await?;
        return Ok(paused(svc, account.as_ref(), browser, now));
    };
    let matches = match svc.passwords.verify(password, stored.clone()).await {
        Err(Error::TooManyRequests { .. }) => {
            // Not checked, so no guess.
            by_address.refund(store).await?;
            by_account.refund(store).await?;
            return Ok(PasswordSignIn::Busy);
        }
        checked => checked?,
    };
    let Some(account) = account else {
        return Ok(PasswordSignIn::Mismatch);
    };
    if let Some(checked) = stored.as_deref().filter(|_| matches) {
        // Only while the password is still the one checked: a change during
        // the check signed the account's browsers out, this one included.
        let (secret, row) = new_session(&account.id, METHOD_PASSWORD, browser, now);
        if store.insert_password_web_session(&row, checked).await? {
            by_address.refund(store).await?;
            by_account.refund(store).await?;
            signed_in(store, &row, browser, now).await?;
            return Ok(PasswordSignIn::SignedIn(secret));
        }
    }
    let (background, email) = (&svc.background, &account.email);
    record_failure_later(background, store, email, METHOD_PASSWORD, browser, now);
    Ok(PasswordSignIn::Mismatch)
}

/// A paused attempt is still one in the account's audit trail.
fn paused(
    svc: &Services,
    account: Option<&Account>,
    browser: Browser<'_>,
    now: i64,
) -> PasswordSignIn {
    if let Some(account) = account {
        let (background, store, email) = (&svc.background, &svc.store, &account.email);
        record_failure_later(background, store, email, METHOD_PASSWORD, browser, now);
    }
    PasswordSignIn::Paused
}

/// [`sign_in_failed`] after the answer (in `background`), so that its work,
/// done only for an address with an account, does not tell by its time
/// which addresses have accounts.
pub fn record_failure_later(
    background: &Background,
    store: &Store,
    email: &str,
    method: &'static str,
    browser: Browser<'_>,
    now: i64,
) {
    let (store, email) = (store.clone(), email.to_owned());
    let (client, ip) = (browser.client, browser.ip.map(str::to_owned));
    let user_agent = browser.user_agent.map(str::to_owned);
    background.spawn("recording a failed sign-in", async move {
        let browser = Browser {
            client,
            ip: ip.as_deref(),
            user_agent: user_agent.as_deref(),
        };
        if let Err(e) = sign_in_failed(&store, &email, method, browser, now).await {
            tracing::error!(error = %e, "recording a failed sign-in failed");
        }
    });
}

/// A failed sign-in of `email`'s account (if there is one), for its audit trail.
pub async fn sign_in_failed(
    store: &Store,
    email: &str,
    method: &str,
    browser: Browser<'_>,
    now: i64,
) -> Result<()> {
    match store.account_by_email(email).await? {
        Some(account) => failed(store, &account.id, method, browser, now).await,
        None => Ok(()),
    }
}

async fn failed(
    store: &Store,
    account_id: &str,
    method: &str,
    browser: Browser<'_>,
    now: i64,
) -> Result<()> {
    let key = format!("audited-failures:{account_id}");
    if attempts::admitted(store, &key, RECORDED_FAILURES_PER_ACCOUNT, now)
        .await?
        .is_none()
    {
        return Ok(());
    }
    let actor = Actor {
        account_id,
        ip: browser.ip,
    };
    audit::record(store, actor, Action::SignInFailed, Some(method), now).await
}

/// The live session behind a cookie's secret, if any.
pub async fn current(store: &Store, secret: &str, now: i64) -> Result<Option<WebSessionAuth>> {
    let Some(session) = store
        .live_web_session(&digest::secret_hash(secret), now)
        .await?
    else {
        return Ok(None);
    };
    if session.last_seen_at + LAST_SEEN_GRANULARITY_SECS <= now {
        store.touch_web_session(&session.id, now).await?;
    }
    Ok(Some(session))
}

/// Ends one of the account's sessions: its own (`SignedOut`) or another one
/// from the sessions page (`SessionRevoked`, `NotFound` when there is no such
/// live session).
pub async fn end(
    store: &Store,
    actor: Actor<'_>,
    session_id: &str,
    action: Action,
    now: i64,
) -> Result<()> {
    let revoked = store
        .revoke_web_session(actor.account_id, session_id, now)
        .await?;
    match action {
        Action::SignedOut => audit::record(store, actor, action, None, now).await,
        _ if !revoked => Err(Error::NotFound("There is no such session.".into())),
        _ => audit::record(store, actor, action, Some(session_id), now).await,
    }
}

/// How long a secret waits for the page that shows it ([`flash`]): the
/// browser asks for that page as soon as it follows the form's redirect.
pub const FLASH_TTL_SECS: i64 = 5 * 60;

/// What a secret kept by [`flash`] is, and so what its subject names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flash {
    /// A new API key; the subject is its id.
    ApiKey,
    /// An app's new client secret; the subject is the app's client id.
    ClientSecret,
    /// A token-URL login's session id; the subject is a random handle.
    TokenUrlSession,
}

impl Flash {
    fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::ClientSecret => "client_secret",
            Self::TokenUrlSession => "token_url_session",
        }
    }

    /// What the sealed secret is bound to: taken out of its row, or put in
    /// another session's, it does not open.
    fn binding(self, session_id: &str, subject: &str) -> String {
        format!("web flash {session_id} {} {subject}", self.as_str())
    }
}

/// Keeps a new `secret` for session `session_id` until the page that shows it
/// takes it ([`take_flash`]). The form that made the secret answers with a
/// redirect to that page (Post/Redirect/Get), so that reloading the page
/// neither makes another secret nor shows this one again, and the secret is
/// never in a URL. Sealed with the master key for the few minutes it waits.
pub async fn flash(
    svc: &Services,
    session_id: &str,
    kind: Flash,
    subject: &str,
    secret: &str,
    now: i64,
) -> Result<()> {
    let master = &svc.settings.master_key;
    let sealed = (master.seal(&kind.binding(session_id, subject), secret.as_bytes()))
        .map_err(|_| Error::internal("sealing a secret to show once failed"))?;
    let expires_at = now + FLASH_TTL_SECS;
    (svc.store)
        .put_web_flash(session_id, kind.as_str(), subject, &sealed, expires_at)
        .await
}

/// The secret [`flash`] kept for this session, kind and subject, once: `None`
/// when it was taken already (a reload, the back button), has expired, or was
/// never kept for this session.
pub async fn take_flash(
    svc: &Services,
    session_id: &str,
    kind: Flash,
    subject: &str,
    now: i64,
) -> Result<Option<String>> {
    let taken = (svc.store)
        .take_web_flash(session_id, kind.as_str(), subject, now)
        .await?;
    let Some(sealed) = taken else {
        return Ok(None);
    };
    let master = &svc.settings.master_key;
    let opened = master
        .open(&kind.binding(session_id, subject), &sealed)
        .map_err(|_| {
            Error::internal(
                "a secret to show once does not open: was it sealed with another master key?",
            )
        })?;
    String::from_utf8(opened)
        .map(Some)
        .map_err(|_| Error::internal("a secret to show once is not text"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fixture;

    tessera_testkit::backend_tests!(signing_in_ends_the_oldest_sessions_beyond_the_kept);

    /// Each sign-in started a session and none ended one: whoever had the
    /// password made as many as requests. The oldest beyond
    /// [`LIVE_SESSIONS_KEPT`] now end; the newest stay.
    async fn signing_in_ends_the_oldest_sessions_beyond_the_kept(
        backend: tessera_testkit::Backend,
    ) {
        let Some(fx) = Fixture::on(backend).await else {
            return;
        };
        let account = fx.account("many@example.com").await;
        let other = fx.account("other@example.com").await;
        let store = &fx.state.store;
        let browser = Browser {
            client: "203.0.113.9".parse().unwrap(),
            ip: None,
            user_agent: None,
        };
        let theirs = sign_in(store, &other, METHOD_PASSWORD, browser, fx.clock_now());
        theirs.await.unwrap();
        let mut secrets = Vec::new();
        for _ in 0..LIVE_SESSIONS_KEPT + 3 {
            fx.clock.advance(1);
            let secret = sign_in(store, &account, METHOD_PASSWORD, browser, fx.clock_now());
            secrets.push(secret.await.unwrap());
        }
        let now = fx.clock_now();
        let live = store.live_web_sessions_of(&account, now).await.unwrap();
        assert_eq!(live.len() as i64, LIVE_SESSIONS_KEPT);
        for (i, secret) in secrets.iter().enumerate() {
            let session = current(store, secret, now).await.unwrap();
            assert_eq!(session.is_some(), i >= 3, "session {i}");
        }
        assert_eq!(
            store.live_web_sessions_of(&other, now).await.unwrap().len(),
            1
        );
    }

    /// A password change while a sign-in with the old password is being
    /// checked: the change signs out every browser, and the sign-in, which
    /// checked the old password, must not start a session after it (a leaked
    /// password kept working for whoever kept signing in with it).
    #[tokio::test]
    async fn a_sign_in_checked_against_a_changed_password_starts_no_session() {
        let fx = Fixture::new().await;
        let (svc, store) = (&fx.state, &fx.state.store);
        let account = fx.account("owner@example.com").await;
        let now = fx.clock_now();
        let old = crate::password::hash("the leaked password").unwrap();
        let new = crate::password::hash("the new password").unwrap();
        store
            .set_account_password(&account, Some(&old), now)
            .await
            .unwrap();
        let browser = Browser {
            client: "203.0.113.9".parse().unwrap(),
            ip: None,
            user_agent: None,
        };
        let password = "the leaked password".to_owned();
        let sign_in = sign_in_with_password(svc, "owner@example.com", password, browser, now);
        let mut sign_in = std::pin::pin!(sign_in);
        // Run the sign-in until its password is being checked, then leave it
        // there (not polled) while the password changes.
        while !svc.passwords.checking() {
            tokio::select! {
                biased;
                _ = &mut sign_in => panic!("the sign-in ended before its check"),
                () = tokio::task::yield_now() => {}
            }
        }
        store
            .set_account_password(&account, Some(&new), now)
            .await
            .unwrap();
        let answer = sign_in.await.unwrap();
        assert!(matches!(answer, PasswordSignIn::Mismatch));
        let live = store.live_web_sessions_of(&account, now).await.unwrap();
        assert!(live.is_empty(), "a session outlived the change: {live:?}");
    }

    /// A kept secret is taken once, by its own session, kind and subject, and
    /// not after it expired; the database holds it only sealed.
    #[tokio::test]
    async fn a_flashed_secret_is_taken_once_by_its_session() {
        let fx = Fixture::new().await;
        let account = fx.account("owner@example.com").await;
        let browser = Browser {
            client: "203.0.113.9".parse().unwrap(),
            ip: None,
            user_agent: None,
        };
        let now = fx.clock_now();
        let store = &fx.state.store;
        let mut sessions = Vec::new();
        for _ in 0..2 {
            sign_in(store, &account, METHOD_PASSWORD, browser, now)
                .await
                .unwrap();
        }
        for row in store.live_web_sessions_of(&account, now).await.unwrap() {
            sessions.push(row.id);
        }
        let (mine, other) = (sessions[0].as_str(), sessions[1].as_str());
        let svc = &fx.state;
        flash(svc, mine, Flash::ApiKey, "key_1", "s3cret", now)
            .await
            .unwrap();
        let sealed = store
            .take_web_flash(mine, "api_key", "key_1", now)
            .await
            .unwrap()
            .unwrap();
        assert!(!sealed.contains("s3cret"));
        flash(svc, mine, Flash::ApiKey, "key_1", "s3cret", now)
            .await
            .unwrap();
        for (session, kind, subject) in [
            (other, Flash::ApiKey, "key_1"),
            (mine, Flash::ClientSecret, "key_1"),
            (mine, Flash::ApiKey, "key_2"),
        ] {
            let taken = take_flash(svc, session, kind, subject, now).await.unwrap();
            assert_eq!(taken, None, "{session} {kind:?} {subject}");
        }
        let taken = take_flash(svc, mine, Flash::ApiKey, "key_1", now).await;
        assert_eq!(taken.unwrap().as_deref(), Some("s3cret"));
        let again = take_flash(svc, mine, Flash::ApiKey, "key_1", now).await;
        assert_eq!(again.unwrap(), None, "shown once");

        flash(svc, mine, Flash::ClientSecret, "app_1", "later", now)
            .await
            .unwrap();
        let late = now + FLASH_TTL_SECS;
        let taken = take_flash(svc, mine, Flash::ClientSecret, "app_1", late).await;
        assert_eq!(taken.unwrap(), None, "expired");
    }

    #[tokio::test]
    async fn failed_sign_ins_are_recorded_up_to_the_limit() {
        let fx = Fixture::new().await;
        let account = fx.account("owner@example.com").await;
        let store = &fx.state.store;
        let browser = Browser {
            client: "203.0.113.9".parse().unwrap(),
            ip: Some("203.0.113.9"),
            user_agent: None,
        };
        let now = fx.clock_now();
        for _ in 0..25 {
            sign_in_failed(store, "owner@example.com", METHOD_EMAIL_CODE, browser, now)
                .await
                .unwrap();
        }
        let recorded = store.audit_events_of(&account, 0, 200).await.unwrap();
        let failed = recorded
            .iter()
            .filter(|e| e.action == Action::SignInFailed.as_str())
            .count();
        assert_eq!(failed as i64, RECORDED_FAILURES_PER_ACCOUNT.max);
    }

    /// A relay that hangs fills the queue of one-time codes on their way,
    /// each held up to the send deadline; the failed sign-ins of that time
    /// are still recorded (they used to share one pool of jobs).
    #[tokio::test]
    async fn a_mail_queue_held_by_a_hanging_relay_leaves_sign_in_records_their_room() {
        let fx = Fixture::new().await;
        let account = fx.account("owner@example.com").await;
        for _ in 0..Background::JOBS {
            fx.state
                .outgoing_mail
                .spawn("a code to a relay that hangs", std::future::pending());
        }
        let browser = Browser {
            client: "203.0.113.9".parse().unwrap(),
            ip: Some("203.0.113.9"),
            user_agent: None,
        };
        let (background, store) = (&fx.state.background, &fx.state.store);
        let (email, now) = ("owner@example.com", fx.clock_now());
        record_failure_later(background, store, email, METHOD_PASSWORD, browser, now);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        background.finish(deadline).await;
        let recorded = store.audit_events_of(&account, 0, 10).await.unwrap();
        assert!(
            recorded
                .iter()
                .any(|e| e.action == Action::SignInFailed.as_str()),
            "{recorded:?}"
        );
    }
}
