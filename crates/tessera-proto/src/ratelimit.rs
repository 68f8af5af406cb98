//! Rate-limit response headers (Lofty overview: every response carries them).

/// Maximum requests allowed in the current window.
pub const LIMIT: &str = "x-ratelimit-limit";
/// Requests remaining in the current window.
pub const REMAINING: &str = "x-ratelimit-remaining";
/// UTC epoch second at which a request will succeed again.
pub const RESET: &str = "x-ratelimit-reset";
