//! How times travel as text: RFC 3339 in UTC (`2026-01-01T00:00:00Z`), as the
//! API's `expires_at`, the admin's JSON and the CLIs' output write them.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Unix seconds as RFC 3339; the number itself when out of range.
pub fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_utc_and_falls_back_to_the_number() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(i64::MAX), i64::MAX.to_string());
    }
}
