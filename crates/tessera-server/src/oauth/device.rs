//! The device authorization grant (RFC 8628).
//!
//! - `POST /oauth/device_authorization` ([`authorize`]): a device code (256 random
//!   bits, stored hashed) and a user code of 8 letters from a 20-consonant alphabet
//!   (no vowels, so no words; no look-alikes), shown as `BCDF-GHJK`: 34.6 bits,
//!   RFC 8628 §6.1. The response always carries `interval`.
//! - Polling at the token endpoint ([`grant`]): `authorization_pending`,
//!   `slow_down` (+5 s per violation, RFC 8628 §3.5; the new interval is in the
//!   body), `expired_token`, `access_denied`, then tokens exactly once.
//! - The verification page (web module) uses [`lookup`], [`approve`], [`deny`].
//!   Failed look-ups are counted per client IP and capped ([`GUESS_LIMIT`]), so the
//!   user-code space cannot be searched (RFC 8628 §5.1).

use super::client_auth::{self, ClientCredentials};
use super::issue::Grantee;
use crate::attempts::{self, Limit};
use crate::digest;
use crate::error::{Error, Result};
use crate::services::Services;
use crate::store::device_codes::NewDeviceCode;
use std::net::IpAddr;
use tessera_proto::token::{DeviceAuthorizationResponse, TokenResponse};
use tessera_proto::{OAuthErrorCode, Scopes};

/// A device code lives this long (RFC 8628 §3.2 `expires_in`).
pub const DEVICE_CODE_TTL_SECS: i64 = 600;
/// The initial polling interval.
pub const INTERVAL_SECS: i64 = 5;
/// RFC 8628 §3.5: each `slow_down` adds this to the interval…
pub const SLOW_DOWN_STEP_SECS: i64 = 5;
/// …up to this. Past it a too-fast poll changes nothing, so it writes
/// nothing: a client polling as fast as it can costs reads, not commits.
pub const MAX_INTERVAL_SECS: i64 = 60;
/// Failed user-code look-ups allowed per client IP per window.
pub const GUESS_LIMIT: Limit = Limit::per_quarter_hour(10);
const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LEN: usize = 8;

/// `POST /oauth/device_authorization`'s parameters.
pub struct AuthorizationRequest {
    pub client: ClientCredentials,
    pub scope: Option<String>,
}

/// The device_code grant's parameters: one poll.
pub struct Poll {
    pub device_code: Option<String>,
}

/// A random user code, normalized (no separator).
fn new_user_code() -> String {
    let mut code = String::with_capacity(USER_CODE_LEN);
    let mut buf = [0u8; 32];
    while code.len() < USER_CODE_LEN {
        aws_lc_rs::rand::fill(&mut buf).expect("the OS random number generator failed");
        // Rejection sampling: 240 is the largest multiple of 20 below 256.
        for b in buf.iter().filter(|b| **b < 240) {
            if code.len() == USER_CODE_LEN {
                break;
            }
            code.push(char::from(ALPHABET[usize::from(*b % 20)]));
        }
    }
    code
}

/// `BCDFGHJK` -> `BCDF-GHJK`.
pub fn display_user_code(normalized: &str) -> String {
    let (a, b) = normalized.split_at(normalized.len() / 2);
    format!("{a}-{b}")
}

/// What a user typed -> the stored form: upper case, separators and spaces
/// dropped. `None` when it cannot be a user code.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// `POST /oauth/device_authorization`: a new device code and user code.
pub async fn authorize(
    svc: &Services,
    request: AuthorizationRequest,
    now: i64,
) -> Result<DeviceAuthorizationResponse> {
    let app = client_auth::authenticate(&svc.store, &request.client).await?;
    client_auth::require_grant(&app, super::APP_GRANT_DEVICE_CODE)?;
    let scope = super::requested_scope(&app, request.scope.as_deref())?.to_string();
    let device_code = digest::random_token(32);
    let device_code_hash = digest::secret_hash(&device_code);
    // A collision of user codes among live ones is possible but rare: retry.
    let mut attempts_left = 3;
    let user_code = loop {
        let user_code = new_user_code();
        let new = NewDeviceCode {
            device_code_hash: &device_code_hash,
            user_code: &user_code,
            client_id: &app.client_id,
            scope: &scope,
            interval_secs: INTERVAL_SECS,
            expires_at: now + DEVICE_CODE_TTL_SECS,
        };
        if svc.store.insert_device_code(&new, now).await? {
            break user_code;
        }
        if attempts_left == 0 {
            return Err(Error::internal("no free user code after retries"));
        }
        // An expired code may hold the user code: clear expired ones first.
        svc.store.delete_expired_device_codes(now).await?;
        attempts_left -= 1;
    };
    let display = display_user_code(&user_code);
    let verification_uri = svc.settings.url(super::PATH_DEVICE_VERIFICATION);
    Ok(DeviceAuthorizationResponse {
        device_code,
        verification_uri_complete: Some(format!("{verification_uri}?user_code={display}")),
        verification_uri,
        user_code: display,
        expires_in: DEVICE_CODE_TTL_SECS as u64,
        interval: INTERVAL_SECS as u64,
    })
}

/// The device_code grant: one poll.
pub async fn grant(svc: &Services, to: Grantee<'_>, poll: Poll) -> Result<TokenResponse> {
    let Grantee { app, key, now } = to;
    let device_code = super::required(&poll.device_code, "device_code")?;
    let hash = digest::secret_hash(device_code);
    let row = svc
        .store
        .device_code(&hash)
        .await?
        .ok_or_else(|| super::invalid_grant("the device code is invalid"))?;
    if row.client_id != app.client_id {
        return Err(super::invalid_grant(
            "the device code was issued to another client",
        ));
    }
    if row.expires_at <= now {
        return Err(Error::oauth(
            OAuthErrorCode::ExpiredToken,
            "the device code has expired; start again",
        ));
    }
    let too_fast = row
        .last_polled_at
        .is_some_and(|last| now - last < row.interval_secs);
    let interval = if too_fast {
        (row.interval_secs + SLOW_DOWN_STEP_SECS).min(MAX_INTERVAL_SECS)
    } else {
        row.interval_secs
    };
    if too_fast && interval == row.interval_secs {
        return Err(Error::SlowDown {
            interval_secs: u64::try_from(interval).unwrap_or(0),
        });
    }
    // Compare-and-set on the last poll: of two concurrent polls one is too fast.
    let polled = svc
        .store
        .record_device_poll(&hash, row.last_polled_at, interval, now)
        .await?;
    if too_fast || !polled {
        return Err(Error::SlowDown {
            interval_secs: u64::try_from(interval).unwrap_or(0),
        });
    }
    match row.status.as_str() {
        "pending" => Err(Error::oauth(
            OAuthErrorCode::AuthorizationPending,
            "the user has not approved the device yet",
        )),
        "denied" => Err(Error::oauth(
            OAuthErrorCode::AccessDenied,
            "the user denied the request",
        )),
        "approved" => {
            let family_id = super::issue::new_family_id();
            let account_id = svc
                .store
                .consume_device_code(&hash, &family_id, key.filter(|_| app.public), now)
                .await?
                .ok_or_else(|| super::invalid_grant("the device code was already used"))?;
            let scope = Scopes::parse(&row.scope);
            let family = super::issue::Family {
                id: &family_id,
                account_id: &account_id,
                created_at: now,
            };
            let body = super::issue::in_family(svc, to, family, &scope).await?;
            super::issue::count("device_code");
            Ok(body)
        }
        _ => Err(super::invalid_grant("the device code was already used")),
    }
}

/// A device waiting for the user's decision, for the verification page.
#[derive(Clone, Debug)]
pub struct PendingDevice {
    /// As shown to the user, `BCDF-GHJK`.
    pub user_code: String,
    pub client_id: String,
    pub client_name: String,
    pub scope: Scopes,
    /// Unix seconds.
    pub expires_at: i64,
}

const GUESS_MESSAGE: &str = "too many wrong codes from this address; wait and try again";

/// Finds the pending, unexpired device for a typed user code. A miss (a code
/// never issued) counts against the client's address; past [`GUESS_LIMIT`]
/// misses every look-up from there is refused with `TooManyRequests` until
/// the window ends.
pub async fn lookup(
    svc: &Services,
    user_code: &str,
    client_ip: IpAddr,
    now: i64,
) -> Result<PendingDevice> {
    let key = format!("device-guess:{}", crate::forwarded::limit_key(client_ip));
    // Counted before the look-up, so parallel guesses get exactly the limit.
    let attempt = attempts::hit(&svc.store, &key, GUESS_LIMIT, GUESS_MESSAGE, now).await?;
    let found = match normalize_user_code(user_code) {
        Some(code) => svc.store.pending_device(&code, now).await?,
        None => None,
    };
    let Some(row) = found else {
        // A code that was issued is no guess: a double click, or a second
        // tab, finds it decided by the first, and must not lock the address.
        let code = normalize_user_code(user_code);
        if let Some(code) = code
            && svc.store.device_user_code_issued(&code).await?
        {
            attempt.refund(&svc.store).await?;
            return Err(Error::NotFound(
                "that code was used already or has expired; start again on your device".into(),
            ));
        }
        return Err(Error::NotFound(
            "no device is waiting for that code; check it and try again".into(),
        ));
    };
    attempt.refund(&svc.store).await?;
    Ok(PendingDevice {
        user_code: display_user_code(&row.user_code),
        client_id: row.client_id,
        client_name: row.name,
        scope: Scopes::parse(&row.scope),
        expires_at: row.expires_at,
    })
}

async fn decide(
    svc: &Services,
    user_code: &str,
    status: &str,
    account_id: Option<&str>,
    now: i64,
) -> Result<()> {
    let code = normalize_user_code(user_code)
        .ok_or_else(|| Error::NotFound("no device is waiting for that code".into()))?;
    if svc
        .store
        .decide_device(&code, status, account_id, now)
        .await?
    {
        Ok(())
    } else {
        Err(Error::NotFound(
            "no device is waiting for that code (it may have expired or been decided)".into(),
        ))
    }
}

/// The signed-in user `account_id` approves the device: its next poll gets tokens.
pub async fn approve(svc: &Services, user_code: &str, account_id: &str, now: i64) -> Result<()> {
    decide(svc, user_code, "approved", Some(account_id), now).await
}

/// The user denies the device: its next poll gets `access_denied`.
pub async fn deny(svc: &Services, user_code: &str, now: i64) -> Result<()> {
    decide(svc, user_code, "denied", None, now).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy as _;

    #[test]
    fn user_codes() {
        let code = new_user_code();
        assert_eq!(code.len(), 8);
        assert_eq!(normalize_user_code(&code), Some(code.clone()));
        let shown = display_user_code(&code);
        assert_eq!(normalize_user_code(&shown.to_lowercase()), Some(code));
        assert_eq!(normalize_user_code("BCDF-GHJA"), None); // vowel
        assert_eq!(normalize_user_code("BCDF"), None);
    }

    /// A user code as a person might type it: any case, any `-`, spaces or tabs.
    fn typed(code: String) -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let n = code.len();
        (
            proptest::collection::vec(any::<bool>(), n),
            proptest::collection::vec(
                proptest::sample::select(vec!["", "", "-", " ", "\t"]),
                n + 1,
            ),
        )
            .prop_map(move |(lower, gaps)| {
                let mut out = gaps[0].to_owned();
                for ((c, lower), gap) in code.chars().zip(lower).zip(&gaps[1..]) {
                    out.push(if lower { c.to_ascii_lowercase() } else { c });
                    out.push_str(gap);
                }
                out
            })
    }

    fn codes() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(ALPHABET.to_vec()), USER_CODE_LEN)
            .prop_map(|b| String::from_utf8(b).unwrap())
    }

    proptest::proptest! {
        /// Anything typed: no panic, and a code exactly when it is 8 letters of
        /// the alphabet once case, `-`, spaces and tabs are set aside.
        #[test]
        fn anything_typed_normalizes_to_a_code_or_nothing(
            typed in proptest::prop_oneof![".{0,24}", "[BCDFGHJKLMNPQRSTVWXZbcdfghjkaeiou \t-]{6,12}"]
        ) {
            let bare: String = typed.chars().filter(|c| !matches!(c, '-' | ' ' | '\t')).collect();
            let bare = bare.to_ascii_uppercase();
            let expected = (bare.len() == USER_CODE_LEN && bare.bytes().all(|b| ALPHABET.contains(&b)))
                .then_some(bare);
            proptest::prop_assert_eq!(normalize_user_code(&typed), expected);
        }

        /// A real code, shown or typed any way a person might, finds itself.
        #[test]
        fn a_code_typed_any_way_is_that_code(
            (code, typed) in codes().prop_flat_map(|c| (proptest::strategy::Just(c.clone()), typed(c)))
        ) {
            proptest::prop_assert_eq!(normalize_user_code(&display_user_code(&code)), Some(code.clone()));
            proptest::prop_assert_eq!(normalize_user_code(&typed), Some(code));
        }
    }
}
