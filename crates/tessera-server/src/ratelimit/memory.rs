//! The in-process limiter: one [`Window`] per bucket key in a map. Right for a
//! single instance; several instances each keeping their own would together admit
//! the limit once per instance (use [`super::postgres`] for those).

use super::{Decision, PERIOD_SECS, Window};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryLimiter {
    windows: Mutex<Windows>,
}

#[derive(Default)]
struct Windows {
    by_key: HashMap<String, Window>,
    /// When idle windows were last dropped (Unix seconds).
    pruned_at: i64,
}

impl MemoryLimiter {
    pub fn take(&self, key: &str, limit: u32, now: i64) -> Decision {
        let mut windows = self.lock();
        // Keeps memory bounded by the keys active in the last period (e.g. the
        // client IPs of the last minute), without a background task.
        if now - windows.pruned_at >= PERIOD_SECS {
            windows.by_key.retain(|_, w| !w.is_idle(now));
            windows.pruned_at = now;
        }
        match windows.by_key.get_mut(key) {
            Some(window) => window.take(now, limit),
            None => {
                let mut window = Window::default();
                let decision = window.take(now, limit);
                windows.by_key.insert(key.to_owned(), window);
                decision
            }
        }
    }

    pub fn refund(&self, key: &str, taken_at: i64) {
        if let Some(window) = self.lock().by_key.get_mut(key) {
            window.refund(taken_at);
        }
    }

    pub fn prune(&self, now: i64) {
        let mut windows = self.lock();
        windows.by_key.retain(|_, w| !w.is_idle(now));
        windows.pruned_at = now;
    }

    /// Keys with a live window.
    pub fn len(&self) -> usize {
        self.lock().by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Windows> {
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_separate_and_idle_ones_are_dropped() {
        let limiter = MemoryLimiter::default();
        let t = 1_767_225_600;
        assert!(limiter.take("a", 1, t).allowed);
        assert!(!limiter.take("a", 1, t).allowed);
        assert!(limiter.take("b", 1, t).allowed);
        assert_eq!(limiter.len(), 2);
        limiter.take("c", 1, t + 60);
        assert_eq!(limiter.len(), 1, "a and b went idle a period ago");
        limiter.prune(t + 120);
        assert!(limiter.is_empty());
    }
}
