//! Account passwords (set by an admin): argon2id in PHC form, the one slow hash in
//! the server. Every other secret is random and long, so it gets a fast hash
//! ([`crate::digest`]); a password is chosen by a person and must resist guessing.

use crate::error::{Error, Result};
use argon2::password_hash::PasswordHasher as _;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq as _;

/// Shortest password an admin may set.
pub const MIN_LENGTH: usize = 10;
/// Longest accepted, so that hashing cost stays bounded.
pub const MAX_LENGTH: usize = 256;

/// Hashes a password with argon2id defaults and a random salt. CPU-heavy: call it
/// from a blocking thread in a server.
pub fn hash(password: &str) -> Result<String> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(Error::BadRequest(format!(
            "the password must have at least {MIN_LENGTH} characters"
        )));
    }
    if length > MAX_LENGTH {
        return Err(Error::BadRequest(format!(
            "the password must have at most {MAX_LENGTH} characters"
        )));
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("hashing a password failed: {e}")))
}

/// Whether `password` matches `stored`. With no stored hash, a dummy hash is
/// checked anyway, so the answer takes as long for accounts without a password
/// (or without an account) as for a wrong password.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    verify_in(password, stored, &mut Vec::new())
}

/// [`verify`] with argon2's working memory in `memory`, kept by the caller
/// for the next check. argon2 0.6 allocates its 19 MiB afresh at every check
/// with a 64-byte alignment, and glibc then leaves the freed block unused:
/// each check grew the server by 19 MiB for good (measured: 100 sign-ins,
/// 2 GB). A buffer each checking thread keeps is allocated once.
fn verify_in(password: &str, stored: Option<&str>, memory: &mut Vec<Block>) -> bool {
    if password.len() > MAX_LENGTH * 4 {
        return false;
    }
    let (hash, real) = match stored {
        Some(h) => (h, true),
        None => (dummy_hash(), false),
    };
    match recompute(password, hash, memory) {
        Ok(matches) => matches && real,
        Err(why) => {
            tracing::error!("a stored password hash cannot be checked: {why}");
            false
        }
    }
}

/// Hashes `password` with `stored`'s algorithm, parameters and salt, and
/// compares (in constant time) with its output.
fn recompute(
    password: &str,
    stored: &str,
    memory: &mut Vec<Block>,
) -> std::result::Result<bool, String> {
    let parsed = PasswordHash::new(stored).map_err(|e| e.to_string())?;
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Err("no salt or no output".into());
    };
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).map_err(|e| e.to_string())?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(|e| e.to_string())?;
    let blocks = params.block_count();
    if blocks > MAX_MEMORY_BLOCKS {
        return Err(format!("it asks for {blocks} KiB of memory"));
    }
    if memory.len() < blocks {
        memory.resize(blocks, Block::new());
    }
    let mut output = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt.as_ref(),
            &mut output,
            &mut memory[..blocks],
        )
        .map_err(|e| e.to_string())?;
    Ok(bool::from(output.ct_eq(expected.as_ref())))
}

/// The most memory a stored hash may ask a check for, in 1 KiB blocks: this
/// server's own hashes ask for 19 MiB.
const MAX_MEMORY_BLOCKS: usize = 64 * 1024;

/// Checks passwords on threads of their own, one per core, whoever asks.
/// Each argon2 check takes 19 MiB and a core for tens of milliseconds; the
/// per-address limits bound how many an address gets, not how many run at
/// once. On tokio's blocking pool 100 sign-ins at one moment took 2 GB, and
/// bounding how many run at once was not enough: each of the pool's threads
/// kept its own 19 MiB in its allocator arena. A few threads of our own keep
/// a few. Checks beyond them wait their turn, [`QUEUED_PER_THREAD`] a
/// thread; beyond that a sign-in is told to come back (many addresses each
/// within their limits can still ask for more checks than the cores do: a
/// queue without end would only make every answer come after the request's
/// deadline). A check whose asker has gone (deadline, closed connection)
/// gives its place back at once and is skipped, not run.
pub struct Checker {
    jobs: std::sync::mpsc::Sender<Job>,
    /// Held by each asker while it waits: the queue's bound.
    places: tokio::sync::Semaphore,
}

/// About a second of checks per thread (a check takes ~40 ms on this
/// machine's cores): enough for a burst of real sign-ins.
const QUEUED_PER_THREAD: usize = 25;

type Job = (String, Option<String>, tokio::sync::oneshot::Sender<bool>);

impl Checker {
    /// Starts the threads; they end when the checker is dropped.
    pub fn start() -> Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::with_threads(cores)
    }

    fn with_threads(threads: usize) -> Result<Self> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        for _ in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name("password-check".into())
                .spawn(move || {
                    let mut memory = Vec::new();
                    loop {
                        let job = queue
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        let Ok((password, stored, reply)) = job else {
                            return;
                        };
                        if reply.is_closed() {
                            continue;
                        }
                        let _ = reply.send(verify_in(&password, stored.as_deref(), &mut memory));
                    }
                })
                .map_err(|e| Error::internal(format!("starting a password thread: {e}")))?;
        }
        let places = tokio::sync::Semaphore::new(threads * (1 + QUEUED_PER_THREAD));
        Ok(Self { jobs, places })
    }

    /// Whether a check has been asked for and not yet answered: a test
    /// stops a sign-in there, between reading the hash and using the answer.
    #[cfg(test)]
    pub fn checking(&self) -> bool {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        self.places.available_permits() < threads * (1 + QUEUED_PER_THREAD)
    }

    /// [`verify`], on the checker's threads; [`Error::TooManyRequests`] when
    /// their queue is full.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool> {
        // Too long to be any password: refused before it takes a place.
        if password.len() > MAX_LENGTH * 4 {
            return Ok(false);
        }
        let Ok(_place) = self.places.try_acquire() else {
            return Err(Error::TooManyRequests {
                message: "the server is checking too many sign-ins right now; try again in a few \
                          seconds"
                    .into(),
                retry_after_secs: 2,
            });
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.jobs
            .send((password, stored, reply))
            .map_err(|_| Error::internal("the password threads are gone"))?;
        answer
            .await
            .map_err(|_| Error::internal("a password thread ended"))
    }
}

fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        Argon2::default()
            .hash_password(b"no account has this password")
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// However many ask at once, every check is answered, by the few threads.
    #[tokio::test]
    async fn checks_queue_for_the_checkers_threads() {
        let checker = Checker::with_threads(1).unwrap();
        let stored = hash("correct horse battery").unwrap();
        let checks = (0..3).map(|i| {
            let password = if i == 1 {
                "wrong"
            } else {
                "correct horse battery"
            };
            checker.verify(password.into(), Some(stored.clone()))
        });
        let answers: Vec<bool> = futures_util::future::try_join_all(checks).await.unwrap();
        assert_eq!(answers, [true, false, true]);
    }

    /// A full queue is a "come back" at once, not a wait past the deadline;
    /// a check nobody waits for any more is not run.
    #[tokio::test]
    async fn a_full_queue_turns_checks_away_and_abandoned_ones_give_way() {
        let checker = Checker::with_threads(1).unwrap();
        let stored = hash("correct horse battery").unwrap();
        // Futures polled once (queued), dropped later (abandoned).
        let mut abandoned = Vec::new();
        let turned_away = loop {
            let mut check = Box::pin(checker.verify("wrong".into(), Some(stored.clone())));
            match futures_util::poll!(check.as_mut()) {
                std::task::Poll::Pending => abandoned.push(check),
                std::task::Poll::Ready(answer) => break answer,
            }
            assert!(
                abandoned.len() <= QUEUED_PER_THREAD + 1,
                "never turned away"
            );
        };
        assert_eq!(abandoned.len(), QUEUED_PER_THREAD + 1);
        assert!(
            matches!(turned_away, Err(Error::TooManyRequests { .. })),
            "{turned_away:?}"
        );
        drop(abandoned);
        // Their places are free again at once (skipping them is not observed
        // here: only how long this answer takes would tell).
        let answer = checker
            .verify("correct horse battery".into(), Some(stored))
            .await;
        assert!(answer.unwrap());
    }

    #[test]
    fn round_trip() {
        let stored = hash("correct horse battery").unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify("correct horse battery", Some(&stored)));
        assert!(!verify("correct horse batter", Some(&stored)));
    }

    #[test]
    fn no_hash_never_matches() {
        assert!(!verify("no account has this password", None));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(matches!(hash("short"), Err(Error::BadRequest(_))));
    }
}
