//! Time as the polling loops see it, injected so their tests never sleep.

use std::time::{Duration, Instant};

pub trait Clock {
    fn now(&self) -> Instant;
    fn sleep(&self, duration: Duration);
}

/// The monotonic clock and a real sleep.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use super::Clock;
    use std::cell::{Cell, RefCell};
    use std::time::{Duration, Instant};

    /// Virtual time: `sleep` advances `now` and records the duration.
    pub struct FakeClock {
        start: Instant,
        elapsed: Cell<Duration>,
        pub sleeps: RefCell<Vec<Duration>>,
    }

    impl FakeClock {
        pub fn new() -> Self {
            Self {
                start: Instant::now(),
                elapsed: Cell::new(Duration::ZERO),
                sleeps: RefCell::new(Vec::new()),
            }
        }

        pub fn sleep_secs(&self) -> Vec<u64> {
            self.sleeps.borrow().iter().map(Duration::as_secs).collect()
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> Instant {
            self.start + self.elapsed.get()
        }

        fn sleep(&self, duration: Duration) {
            self.elapsed.set(self.elapsed.get() + duration);
            self.sleeps.borrow_mut().push(duration);
        }
    }
}
