//! The slow-hash pool: argon2id and PBKDF2 cost ~50 ms of CPU and ~19 MiB each, so a
//! flood of password attempts must queue instead of growing towards tokio's 512
//! blocking threads.
//!
//! The permit that bounds concurrency is moved *into* the blocking task and released
//! when the hash finishes, not when the request's future is dropped: a client that
//! disconnects mid-request leaves its hash running (a blocking task cannot be
//! stopped), and that hash still counts against the bound. Waiting for a permit is
//! bounded too: past `queue_timeout` the request is refused with
//! [`Error::Overloaded`] (503 with `Retry-After`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::error::Error;

/// Bounded concurrency for slow hashes.
#[derive(Debug)]
pub struct HashPool {
    permits: Arc<Semaphore>,
    limit: usize,
    queue_timeout: Duration,
    running: Arc<AtomicUsize>,
    waiting: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    runs: Arc<AtomicUsize>,
}

/// Counts a running hash (or a waiting request) for as long as it lives: decrements
/// even if the work panics or the request's future is dropped.
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl HashPool {
    /// At most `limit` hashes at once (at least one); a request waits at most
    /// `queue_timeout` for its turn.
    pub fn new(limit: usize, queue_timeout: Duration) -> Self {
        let limit = limit.max(1);
        Self {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
            queue_timeout,
            running: Arc::new(AtomicUsize::new(0)),
            waiting: Arc::new(AtomicUsize::new(0)),
            peak: Arc::new(AtomicUsize::new(0)),
            runs: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The configured bound.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Hashes running right now.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// Requests waiting for a slot right now (a request that hangs up stops waiting).
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// The most hashes that ever ran at once (what a test checks against the bound).
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// Hashes started since the pool was made (a test checks a refusal computed none).
    pub fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }

    /// Runs `work` on a blocking thread once a permit is free. The permit travels with
    /// the work, so dropping this future (a client that hung up) neither stops the
    /// hash nor frees its place early.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let waiting = Running(Arc::clone(&self.waiting));
        let acquired = tokio::time::timeout(
            self.queue_timeout,
            Arc::clone(&self.permits).acquire_owned(),
        )
        .await;
        drop(waiting);
        let permit = match acquired {
            Ok(Ok(permit)) => permit,
            Ok(Err(error)) => return Err(Error::Hashing(format!("hash queue: {error}"))),
            Err(_) => {
                return Err(Error::Overloaded {
                    retry_after_secs: self.queue_timeout.as_secs().max(1),
                });
            }
        };
        let running = Arc::clone(&self.running);
        let peak = Arc::clone(&self.peak);
        let runs = Arc::clone(&self.runs);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            runs.fetch_add(1, Ordering::SeqCst);
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            let _running = Running(running);
            work()
        })
        .await
        .map_err(|error| Error::Hashing(format!("hash task: {error}")))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Requests cancelled a few milliseconds after they started never let more than
    /// the bound run at once: each hash keeps its permit until it finishes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelled_requests_keep_the_bound() {
        let pool = Arc::new(HashPool::new(2, Duration::from_secs(30)));
        let mut cancelled = Vec::new();
        for _ in 0..20 {
            let pool = Arc::clone(&pool);
            let request = tokio::spawn(async move {
                pool.run(|| std::thread::sleep(Duration::from_millis(40)))
                    .await
                    .unwrap()
            });
            cancelled.push(request);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        for request in &cancelled {
            request.abort();
        }
        // Fresh requests arrive while the cancelled hashes still run.
        let mut later = Vec::new();
        for _ in 0..6 {
            let pool = Arc::clone(&pool);
            later.push(tokio::spawn(async move {
                pool.run(|| std::thread::sleep(Duration::from_millis(10)))
                    .await
            }));
        }
        for request in later {
            request.await.unwrap().unwrap();
        }
        while pool.running() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(pool.peak() >= 1);
        assert!(pool.peak() <= 2, "peak {} above the bound", pool.peak());
    }

    #[tokio::test]
    async fn a_full_queue_refuses_after_the_timeout() {
        let pool = Arc::new(HashPool::new(1, Duration::from_millis(20)));
        let busy = Arc::clone(&pool);
        let first = tokio::spawn(async move {
            busy.run(|| std::thread::sleep(Duration::from_millis(200)))
                .await
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let refused = pool.run(|| ()).await.unwrap_err();
        assert!(
            matches!(
                refused,
                Error::Overloaded {
                    retry_after_secs: 1
                }
            ),
            "{refused:?}"
        );
        first.await.unwrap().unwrap();
    }
}
