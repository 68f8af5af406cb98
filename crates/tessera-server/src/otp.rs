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
use crate::state::AppState;
use std::net::IpAddr;
use subtle::ConstantTimeEq as _;

/// An account id (`acct_…`).
pub type AccountId = String;

pub const CODE_TTL_SECS: i64 = 10 * 60;
pub const MAX_TRIES: i64 = 5;
/// Code requests per address per window.
pub const PER_ADDRESS: Limit = Limit {
    max: 5,
    window_secs: 15 * 60,
};
/// Code requests per client IP per window.
pub const PER_IP: Limit = Limit {
    max: 20,
    window_secs: 15 * 60,
};
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

fn code_hash(state: &AppState, email: &str, code: &str) -> String {
    state
        .settings
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
pub async fn request(state: &AppState, email: &str, client_ip: IpAddr) -> Result<()> {
    let email = normalize_email(email)?;
    attempts::hit(state, &format!("otp-ip:{client_ip}"), PER_IP, THROTTLED).await?;
    attempts::hit(state, &format!("otp-email:{email}"), PER_ADDRESS, THROTTLED).await?;
    // Everything that differs between a known and an unknown address (the look-up,
    // storing the code, the mail) happens after the answer, so its timing says
    // nothing about which addresses have accounts.
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = send_code(&state, &email).await {
            tracing::error!(error = %e, "sending a one-time code failed");
        }
    });
    Ok(())
}

/// Stores a new code for `email`'s account, if there is one, and mails it.
async fn send_code(state: &AppState, email: &str) -> Result<()> {
    let Some(account) = state.store.account_by_email(email).await? else {
        return Ok(());
    };
    let now = state.now();
    let code = new_code();
    // One live code per address: a new request replaces (and so voids) the old one.
    sqlx::query(
        "INSERT INTO otp_codes (email, code_hash, attempts, created_at, expires_at, consumed_at) \
         VALUES ($1, $2, 0, $3, $4, NULL) \
         ON CONFLICT (email) DO UPDATE SET code_hash = $2, attempts = 0, created_at = $3, \
         expires_at = $4, consumed_at = NULL",
    )
    .bind(&account.email)
    .bind(code_hash(state, &account.email, &code))
    .bind(now)
    .bind(now + CODE_TTL_SECS)
    .execute(state.store.pool())
    .await?;
    state
        .mailer
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
pub async fn verify(state: &AppState, email: &str, code: &str) -> Result<AccountId> {
    let email = normalize_email(email).map_err(|_| Error::InvalidOtp)?;
    let now = state.now();
    // Count the try before comparing, atomically: no more than MAX_TRIES ever compare.
    let row: Option<(String,)> = sqlx::query_as(
        "UPDATE otp_codes SET attempts = attempts + 1 \
         WHERE email = $1 AND consumed_at IS NULL AND expires_at > $2 AND attempts < $3 \
         RETURNING code_hash",
    )
    .bind(&email)
    .bind(now)
    .bind(MAX_TRIES)
    .fetch_optional(state.store.pool())
    .await?;
    let Some((stored,)) = row else {
        return Err(Error::InvalidOtp);
    };
    let well_formed = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
    let presented = code_hash(state, &email, code);
    if !well_formed || !bool::from(presented.as_bytes().ct_eq(stored.as_bytes())) {
        return Err(Error::InvalidOtp);
    }
    let consumed = sqlx::query(
        "UPDATE otp_codes SET consumed_at = $1 WHERE email = $2 AND code_hash = $3 AND consumed_at IS NULL",
    )
    .bind(now)
    .bind(&email)
    .bind(&stored)
    .execute(state.store.pool())
    .await?;
    if consumed.rows_affected() != 1 {
        return Err(Error::InvalidOtp);
    }
    let account = state
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
