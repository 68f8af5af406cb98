//! Email one-time codes (the `lua auth configure --email … --otp …` flow and the
//! web sign-in): 6 digits, valid 10 minutes, single use, burnt after 5 wrong tries.
//!
//! - [`request`] answers the same whether or not the address has an account (the
//!   look-up, the code and the mail happen in the background, so timing does not
//!   tell either), and is
//!   throttled per address and per client IP in the database (every instance
//!   counts the same).
//! - [`verify`] checks a code and returns the account. The code is stored only as
//!   an HMAC under a key derived from the master key: a plain hash of 6 digits
//!   would fall to a million guesses from a database copy. Codes never appear in
//!   logs (only `serve --dev` prints outgoing mail).

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
/// Code requests per address per window.
pub const PER_ADDRESS: Limit = Limit::per_quarter_hour(5);
/// Code requests per client IP per window.
pub const PER_IP: Limit = Limit::per_quarter_hour(20);
const THROTTLED: &str = "too many code requests; wait a few minutes and try again";

/// Lower-cased, trimmed; `BadRequest` unless it looks like an address.
fn normalize_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(Error::BadRequest("not a valid email address".into()))
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

/// Sends a code to `email` if it has an account. Same `Ok(())` either way;
/// `TooManyRequests` past the per-address or per-IP limit.
pub async fn request(state: &AppState, email: &str, client_ip: IpAddr, now: i64) -> Result<()> {
    let email = normalize_email(email)?;
    let store = &state.store;
    attempts::hit(
        store,
        &format!("otp-ip:{}", crate::forwarded::limit_key(client_ip)),
        PER_IP,
        THROTTLED,
        now,
    )
    .await?;
    attempts::hit(
        store,
        &format!("otp-email:{email}"),
        PER_ADDRESS,
        THROTTLED,
        now,
    )
    .await?;
    // Everything that differs between a known and an unknown address (the look-up,
    // storing the code, the mail) happens after the answer, so its timing says
    // nothing about which addresses have accounts.
    let state = state.clone();
    // In the request's span, so a failure is logged with its request id.
    let send = async move {
        if let Err(e) = send_code(&state, &email, now).await {
            tracing::error!(error = %e, "sending a one-time code failed");
        }
    };
    tokio::spawn(tracing::Instrument::in_current_span(send));
    Ok(())
}

/// Stores a new code for `email`'s account, if there is one, and mails it.
async fn send_code(svc: &Services, email: &str, now: i64) -> Result<()> {
    let Some(account) = svc.store.account_by_email(email).await? else {
        return Ok(());
    };
    let code = new_code();
    // One live code per address: a new request replaces (and so voids) the old one.
    svc.store
        .put_otp_code(
            &account.email,
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

/// Checks `code` for `email`: the account on success; `InvalidOtp` for a wrong,
/// expired, used or burnt code, or an unknown address.
pub async fn verify(svc: &Services, email: &str, code: &str, now: i64) -> Result<AccountId> {
    let email = normalize_email(email).map_err(|_| Error::InvalidOtp)?;
    let Some(stored) = svc.store.try_otp_code(&email, now, MAX_TRIES).await? else {
        return Err(Error::InvalidOtp);
    };
    let well_formed = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
    let presented = code_hash(svc, &email, code);
    if !well_formed || !bool::from(presented.as_bytes().ct_eq(stored.as_bytes())) {
        return Err(Error::InvalidOtp);
    }
    if !svc.store.consume_otp_code(&email, &stored, now).await? {
        return Err(Error::InvalidOtp);
    }
    let account = svc
        .store
        .account_by_email(&email)
        .await?
        .ok_or(Error::InvalidOtp)?;
    Ok(account.id)
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

    #[test]
    fn emails() {
        assert_eq!(normalize_email(" A@Example.com ").unwrap(), "a@example.com");
        assert!(normalize_email("nope").is_err());
        assert!(normalize_email("a@b").is_err());
        assert!(normalize_email("a b@example.com").is_err());
    }
}
