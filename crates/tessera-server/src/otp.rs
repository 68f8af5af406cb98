//! Email one-time codes (the `lua auth configure --email … --otp …` flow and the
//! web sign-in): 6 digits, valid 10 minutes, single use, burnt after 5 wrong tries.
//!
//! - A code belongs to its [`Requester`] (a browser, or for the API a client
//!   address) and only they may try it: nobody else can void an address's code
//!   by asking for another, or burn it with wrong tries, to lock its owner out.
//! - [`request`] answers the same whether or not the address has an account (the
//!   look-up, the code and the mail happen in the background, so timing does not
//!   tell either), and is throttled in the database (every instance counts the
//!   same) per client IP and per address.
//! - [`verify`] checks a code and returns the account. The code is stored only as
//!   an HMAC under a key derived from the master key: a plain hash of 6 digits
//!   would fall to a million guesses from a database copy. Codes never appear in
//!   logs (only `serve --dev` prints outgoing mail).
//! - [`check`] is `verify` for the sign-in page, which says when a code is used
//!   up and offers a new one. An address without an account is given a code
//!   nobody can type, so a code is used up alike for both.

use crate::attempts::{self, Limit};
use crate::error::{Error, Result};
use crate::mail::Mail;
use crate::services::{AppState, Services};
use std::net::IpAddr;
use subtle::ConstantTimeEq as _;

/// An account id (`acct_…`).
pub type AccountId = String;

pub const CODE_TTL_SECS: i64 = 10 * 60;
pub const MAX_TRIES: i64 = 5;
/// Code requests for one address per window, from anywhere. Each code has
/// its tries, so this bounds the guesses at an address: 25 per window, as
/// when an address had one code (a higher limit would multiply them).
pub const PER_ADDRESS: Limit = Limit::per_quarter_hour(5);
/// Code requests per client IP per window.
pub const PER_IP: Limit = Limit::per_quarter_hour(20);
const THROTTLED: &str = "too many code requests; wait a few minutes and try again";

/// Who asked for a code, and so who alone may try it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requester(String);

impl Requester {
    /// The sign-in page's browser, by its `tessera_browser` value (stored
    /// hashed: the value binds the browser's forms).
    pub fn browser(browser_id: &str) -> Self {
        Self(format!(
            "browser:{}",
            crate::digest::secret_hash(browser_id)
        ))
    }

    /// An API client, by its address (an IPv6 /64, as limits count it): the
    /// CLI asks and verifies from the same machine.
    pub fn address(ip: IpAddr) -> Self {
        Self(format!("ip:{}", crate::forwarded::limit_key(ip)))
    }

    /// As the store keeps it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn code_hash(svc: &Services, email: &str, code: &str) -> String {
    svc.settings
        .master_key
        .keyed_hash("tessera otp v1", format!("{email}\n{code}").as_bytes())
}

/// A uniformly random 6-digit code.
fn new_code() -> String {
    loop {
        let mut b = [0u8; 4];
        aws_lc_rs::rand::fill(&mut b).expect("the OS random number generator failed");
        let n = u32::from_le_bytes(b);
        // Rejection sampling: the largest multiple of 10^6 below 2^32.
        if n < 4_294_000_000 {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

/// Sends `requester` a code for `email` if it has an account. Same `Ok(())`
/// either way; `TooManyRequests` past a limit.
pub async fn request(
    state: &AppState,
    email: &str,
    requester: Requester,
    client_ip: IpAddr,
    now: i64,
) -> Result<()> {
    let email = crate::accounts::normalize_email(email)?;
    let ip = crate::forwarded::limit_key(client_ip);
    for (key, limit) in [
        (format!("otp-ip:{ip}"), PER_IP),
        (format!("otp-email:{email}"), PER_ADDRESS),
    ] {
        attempts::hit(&state.store, &key, limit, THROTTLED, now).await?;
    }
    // Everything that differs between a known and an unknown address (the look-up,
    // storing the code, the mail) happens after the answer, so its timing says
    // nothing about which addresses have accounts.
    // A background job: at most `Background::JOBS` at once, and shutdown
    // waits for it (the client was told a code is on its way).
    let job_state = state.clone();
    let send = async move {
        if let Err(e) = send_code(&job_state, &email, &requester, now).await {
            tracing::error!(error = %e, "sending a one-time code failed");
        }
    };
    state.outgoing_mail.spawn("sending a one-time code", send);
    Ok(())
}

/// Stores a new code for `email`'s account, if there is one, and mails it.
async fn send_code(svc: &Services, email: &str, requester: &Requester, now: i64) -> Result<()> {
    let Some(account) = svc.store.account_by_email(email).await? else {
        // An address without an account gets a code too, one nobody can type
        // (a random value stands where a code's keyed hash would): it takes
        // tries, runs out of them and expires as a real one does, so what
        // [`check`] says of a code (wrong, or used up) is the same whether or
        // not the address has an account.
        let never = crate::digest::random_token(32);
        return (svc.store)
            .put_otp_code(email, requester.as_str(), &never, now, now + CODE_TTL_SECS)
            .await;
    };
    let code = new_code();
    // One live code per address and requester: a new request replaces (and so
    // voids) the one the same requester asked for before.
    svc.store
        .put_otp_code(
            &account.email,
            requester.as_str(),
            &code_hash(svc, &account.email, &code),
            now,
            now + CODE_TTL_SECS,
        )
        .await?;
    svc.mailer
        .send(Mail {
            to: account.email,
            subject: format!("Your Tessera code: {code}"),
            body: format!(
                "Your one-time code is {code}\n\nIt expires in {} minutes and works once. \
                 If you did not ask for it, ignore this message.\n",
                CODE_TTL_SECS / 60
            ),
        })
        .await
}

/// Checks `code` for `email`, as `requester`: the account on success;
/// `InvalidOtp` for a wrong, expired, used or burnt code, an unknown address,
/// or a code somebody else asked for.
pub async fn verify(
    svc: &Services,
    email: &str,
    requester: &Requester,
    code: &str,
    now: i64,
) -> Result<AccountId> {
    match check(svc, email, requester, code, now).await? {
        Checked::Valid(account_id) => Ok(account_id),
        Checked::Wrong | Checked::UsedUp => Err(Error::InvalidOtp),
    }
}

/// What a presented code came to. The sign-in page tells the two refusals
/// apart: a mistyped code may be typed again, a used-up one needs a new code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checked {
    Valid(AccountId),
    /// Not the code, or no code was asked for (or it was pruned since).
    Wrong,
    /// The address's code has expired or has had its tries (this was the
    /// last), or this code was used already; no code will do until a new one
    /// is sent.
    UsedUp,
}

/// Checks `code` for `email` ([`verify`] with the reason for a refusal).
/// Every address that asked for a code holds one, so `UsedUp` says nothing
/// about which addresses have accounts: tries and expiry are the asker's doing
/// and the clock's, and only the owner of a real code can use it.
pub async fn check(
    svc: &Services,
    email: &str,
    requester: &Requester,
    code: &str,
    now: i64,
) -> Result<Checked> {
    let requester = requester.as_str();
    let Ok(email) = crate::accounts::normalize_email(email) else {
        return Ok(Checked::Wrong);
    };
    // Pasted from a mail with its line end: the same code, not a wasted try.
    let code = code.trim();
    let well_formed = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
    let presented = code_hash(svc, &email, code);
    let is =
        |stored: &str| well_formed && bool::from(presented.as_bytes().ct_eq(stored.as_bytes()));
    let Some((stored, tries)) = svc
        .store
        .try_otp_code(&email, requester, now, MAX_TRIES)
        .await?
    else {
        return Ok(match svc.store.stored_otp_code(&email, requester).await? {
            // Expired or out of tries: the clock's doing and the asker's, the
            // same for every address that asked, with an account or not.
            Some((_, None)) => Checked::UsedUp,
            // Used: only an account's code ever is, so only whoever knows
            // the code may learn that; any other code is just wrong.
            Some((stored, Some(_))) if is(&stored) => Checked::UsedUp,
            _ => Checked::Wrong,
        });
    };
    if !is(&stored) {
        return Ok(match tries >= MAX_TRIES {
            true => Checked::UsedUp,
            false => Checked::Wrong,
        });
    }
    if !svc
        .store
        .consume_otp_code(&email, requester, &stored, now)
        .await?
    {
        // Another request used it first.
        return Ok(Checked::UsedUp);
    }
    Ok(match svc.store.account_by_email(&email).await? {
        Some(account) => Checked::Valid(account.id),
        None => Checked::Wrong,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..100 {
            let c = new_code();
            assert_eq!(c.len(), 6);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
        }
    }
}
