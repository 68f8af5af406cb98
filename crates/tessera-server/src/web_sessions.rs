//! Browser sessions of the web pages: signing in (by email code or password),
//! the session behind a cookie, signing out and revoking. The cookie's secret is
//! returned once; the store keeps only its hash. Every change is audited.

use crate::attempts::{self, Limit};
use crate::audit::{self, Action, Actor};
use crate::error::{Error, Result};
use crate::store::web_sessions::{WebSessionAuth, WebSessionRow};
use crate::store::{Account, Store};
use crate::{digest, password};
use std::net::IpAddr;

/// A browser session lasts this long after sign-in.
pub const SESSION_TTL_SECS: i64 = 12 * 3600;
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
/// this, recording each would push the owner's other events off the activity
/// page (it shows the newest 200) and grow the table without bound. The owner
/// still sees that somebody kept trying.
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
    store.insert_web_session(&row).await?;
    let actor = Actor {
        account_id,
        ip: browser.ip,
    };
    audit::record(store, actor, Action::SignedIn, Some(method), now).await?;
    Ok(secret)
}

/// What a password sign-in came to.
pub enum PasswordSignIn {
    /// The cookie's secret of a new session.
    SignedIn(String),
    Mismatch,
    /// Too many failures for the account or from the client's address lately:
    /// password sign-in pauses (the password was not checked).
    Paused,
}

/// Signs in with a password an admin set. The same answer, and about the same
/// time, whether or not the account exists or has a password: the limits are
/// keyed by the typed address and the client's, never by whether an account
/// exists. Each attempt is counted before the password is checked (so
/// parallel guesses get exactly the limits) and given back when it succeeds.
pub async fn sign_in_with_password(
    store: &Store,
    email: &str,
    password: String,
    browser: Browser<'_>,
    now: i64,
) -> Result<PasswordSignIn> {
    let account = store.account_by_email(email).await?;
    let address_key = format!(
        "password-address:{}",
        crate::forwarded::limit_key(browser.client)
    );
    let account_key = format!("password-account:{email}");
    let Some(by_address) =
        attempts::admitted(store, &address_key, PASSWORD_FAILURES_PER_ADDRESS, now).await?
    else {
        return paused(store, account.as_ref(), browser, now).await;
    };
    let Some(by_account) =
        attempts::admitted(store, &account_key, PASSWORD_FAILURES_PER_ACCOUNT, now).await?
    else {
        // Not checked, so not a guess from this address.
        by_address.refund(store).await?;
        return paused(store, account.as_ref(), browser, now).await;
    };
    let stored = match &account {
        Some(a) => store.account_password_hash(&a.id).await?,
        None => None,
    };
    // argon2 takes tens of milliseconds of CPU: off the async workers.
    let matches =
        tokio::task::spawn_blocking(move || password::verify(&password, stored.as_deref()))
            .await
            .map_err(Error::internal)?;
    let Some(account) = account else {
        return Ok(PasswordSignIn::Mismatch);
    };
    if matches {
        by_address.refund(store).await?;
        by_account.refund(store).await?;
        let secret = sign_in(store, &account.id, METHOD_PASSWORD, browser, now).await?;
        return Ok(PasswordSignIn::SignedIn(secret));
    }
    failed(store, &account.id, METHOD_PASSWORD, browser, now).await?;
    Ok(PasswordSignIn::Mismatch)
}

/// A paused attempt is still one in the account's audit trail.
async fn paused(
    store: &Store,
    account: Option<&Account>,
    browser: Browser<'_>,
    now: i64,
) -> Result<PasswordSignIn> {
    if let Some(account) = account {
        failed(store, &account.id, METHOD_PASSWORD, browser, now).await?;
    }
    Ok(PasswordSignIn::Paused)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fixture;

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
        let recorded = store.audit_events_of(&account, 200).await.unwrap();
        let failed = recorded
            .iter()
            .filter(|e| e.action == Action::SignInFailed.as_str())
            .count();
        assert_eq!(failed as i64, RECORDED_FAILURES_PER_ACCOUNT.max);
    }
}
