//! Coalesces concurrent per-request look-ups into one query (PostgreSQL).
//!
//! Every authenticated request must read the database (revocation is checked on
//! each request, on every instance). On PostgreSQL each read is a network round
//! trip, so under concurrency the round trips, not the SQL, are the cost. A
//! [`Batcher`] takes the keys of whatever requests are waiting and answers them all
//! with one `WHERE id IN (…)` query. Each answer still comes from a query that began
//! after its request asked, so nothing is served stale. When a batch fails, every
//! waiter is told to run its own query, which reports the error as usual.

use crate::error::Result;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

type Fetch<K, V> =
    dyn Fn(Vec<K>) -> Pin<Box<dyn Future<Output = Result<HashMap<K, V>>> + Send>> + Send + Sync;

struct Job<K, V> {
    key: K,
    /// `None`: the batch failed; query alone.
    reply: oneshot::Sender<Option<Option<V>>>,
}

pub struct Batcher<K, V> {
    jobs: mpsc::Sender<Job<K, V>>,
}

impl<K, V> std::fmt::Debug for Batcher<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Batcher")
    }
}

impl<K, V> Batcher<K, V>
where
    K: Clone + Eq + Hash + Send + 'static,
    V: Clone + Send + 'static,
{
    /// Starts `workers` tasks (queries in flight at once), each answering up to
    /// `max_batch` waiting keys per query. Needs a Tokio runtime.
    pub fn spawn<F, Fut>(workers: usize, max_batch: usize, fetch: F) -> Self
    where
        F: Fn(Vec<K>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<HashMap<K, V>>> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<Job<K, V>>(max_batch * workers * 4);
        let rx = Arc::new(Mutex::new(rx));
        let fetch: Arc<Fetch<K, V>> = Arc::new(move |keys| Box::pin(fetch(keys)));
        for _ in 0..workers {
            let (rx, fetch) = (rx.clone(), fetch.clone());
            tokio::spawn(async move {
                while let Some(jobs) = next_batch(&rx, max_batch).await {
                    let mut keys: Vec<K> = jobs.iter().map(|j| j.key.clone()).collect();
                    let mut seen = std::collections::HashSet::with_capacity(keys.len());
                    keys.retain(|k| seen.insert(k.clone()));
                    match fetch(keys).await {
                        Ok(found) => {
                            for job in jobs {
                                let _ = job.reply.send(Some(found.get(&job.key).cloned()));
                            }
                        }
                        Err(_) => {
                            for job in jobs {
                                let _ = job.reply.send(None);
                            }
                        }
                    }
                }
            });
        }
        Self { jobs: tx }
    }

    /// The value for `key` (`Some(None)`: no such row), or `None` when the caller
    /// should query by itself (batch failed, or the batcher is gone).
    pub async fn get(&self, key: K) -> Option<Option<V>> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job { key, reply }).await.ok()?;
        answer.await.ok().flatten()
    }
}

/// What waits in `jobs` when a worker gets to it: the next job (waiting for one
/// if none is there), with up to `max - 1` more that are already queued. `None`
/// when every sender is gone. Workers sharing `jobs` take turns.
pub async fn next_batch<T>(jobs: &Mutex<mpsc::Receiver<T>>, max: usize) -> Option<Vec<T>> {
    let mut jobs = jobs.lock().await;
    let mut batch = Vec::with_capacity(max);
    batch.push(jobs.recv().await?);
    while batch.len() < max {
        match jobs.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// `$1, $2, …, $n`.
pub fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_gets_share_queries_and_failures_fall_back() {
        let queries = Arc::new(AtomicUsize::new(0));
        let counter = queries.clone();
        let batcher = Arc::new(Batcher::spawn(1, 64, move |keys: Vec<u32>| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if keys.contains(&13) {
                    return Err(crate::error::Error::internal("unlucky"));
                }
                Ok(keys
                    .into_iter()
                    .filter(|k| k % 2 == 0)
                    .map(|k| (k, k * 10))
                    .collect())
            }
        }));
        let mut handles = Vec::new();
        for k in (0..40u32).filter(|k| *k != 13) {
            let b = batcher.clone();
            handles.push(tokio::spawn(async move { (k, b.get(k).await) }));
        }
        for h in handles {
            let (k, got) = h.await.unwrap();
            assert_eq!(got, Some((k % 2 == 0).then_some(k * 10)));
        }
        assert!(queries.load(Ordering::SeqCst) <= 40);
        assert_eq!(
            batcher.get(13).await,
            None,
            "a failed batch sends callers to query alone"
        );
        assert_eq!(placeholders(3), "$1, $2, $3");
    }
}
