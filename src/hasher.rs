//! Password hashing: argon2id with the crate's defaults (19 MiB, t=2, p=1), on a few
//! low-priority threads of its own and never more than a few at once, so a login storm cannot
//! starve the runtime (Health stays responsive) or the memory.

use std::sync::{
    Arc, OnceLock,
    atomic::{AtomicU64, AtomicUsize, Ordering},
};

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};
use tokio::sync::Semaphore;

use crate::error::{Error, Result};

/// Bounds concurrent hashes (each holds 19 MiB and a core for ~25 ms).
#[derive(Debug, Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    stats: Arc<Stats>,
}

/// Counters that let tests (and operators) see the hashing work being done.
#[derive(Debug, Default)]
pub struct Stats {
    /// Password verifications run, including the dummy ones for unknown emails.
    pub verifications: AtomicU64,
    running: AtomicUsize,
    /// Hashes waiting for a core now.
    waiting: AtomicUsize,
    /// Hashes refused because the queue was full.
    pub refused: AtomicU64,
    /// The most hashes that ever ran at once.
    pub max_running: AtomicUsize,
}

impl Default for Hasher {
    fn default() -> Self {
        Self {
            permits: Arc::new(Semaphore::new(Self::limit())),
            stats: Arc::default(),
        }
    }
}

impl Hasher {
    /// How many hashes may run at once: the number of cores (at least 2).
    pub fn limit() -> usize {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .max(2)
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// How many hashes may wait for a core before new ones are refused at once (429 with
    /// `Retry-After`) rather than making everyone wait longer.
    pub fn queue_limit() -> usize {
        Self::limit() * 16
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        if self.stats.waiting.fetch_add(1, Ordering::SeqCst) >= Self::queue_limit() {
            self.stats.waiting.fetch_sub(1, Ordering::SeqCst);
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Error::RateLimited {
                retry_after_secs: 1,
            });
        }
        let permit = self.permits.acquire().await;
        self.stats.waiting.fetch_sub(1, Ordering::SeqCst);
        let _permit = permit.map_err(Error::internal)?;
        let stats = self.stats.clone();
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let now = stats.running.fetch_add(1, Ordering::SeqCst) + 1;
            stats.max_running.fetch_max(now, Ordering::SeqCst);
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            stats.running.fetch_sub(1, Ordering::SeqCst);
            let _ = done.send(out);
        });
        hashing_threads()
            .send(job)
            .map_err(|_| Error::internal(anyhow::anyhow!("the hashing threads are gone")))?;
        match result.await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(_)) => Err(Error::internal(anyhow::anyhow!("a hash panicked"))),
            Err(e) => Err(Error::internal(e)),
        }
    }

    pub async fn hash(&self, password: &str) -> Result<String> {
        let password = password.to_string();
        self.blocking(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|e| Error::internal(anyhow::anyhow!("argon2: {e}")))
        })
        .await?
    }

    /// Checks `password` against `hash`; with no hash (unknown user) it checks against a fixed
    /// dummy hash, so an unknown email costs the same time as a wrong password.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool> {
        self.stats.verifications.fetch_add(1, Ordering::Relaxed);
        let known = hash.is_some();
        let hash = hash.map(str::to_string);
        let password = password.to_string();
        let matches = self
            .blocking(move || {
                // The dummy is made on first use, here on a hashing thread.
                let hash = match &hash {
                    Some(hash) => hash.as_str(),
                    None => dummy_hash(),
                };
                let parsed = PasswordHash::new(hash).ok()?;
                let matches = Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok();
                Some(matches)
            })
            .await?;
        Ok(known && matches.unwrap_or(false))
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// The threads hashes run on: [`Hasher::limit`] of them, started on first use, at a lower
/// scheduling priority (nice 10) so that while they run, the runtime's threads (Health, every
/// other request) get the cores first. (Tokio's blocking pool would run hashes at the same
/// priority as the runtime: during a login storm on two cores, request latency grew to ~10 ms.)
fn hashing_threads() -> &'static std::sync::mpsc::Sender<Job> {
    static JOBS: OnceLock<std::sync::mpsc::Sender<Job>> = OnceLock::new();
    JOBS.get_or_init(|| {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for n in 0..Hasher::limit() {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("clara-argon2-{n}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a hashing thread");
            }
        }
        jobs
    })
}

/// nice 10 for the calling thread (Linux scheduling priority is per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 10) {
        tracing::debug!(error = %e, "could not lower the hashing thread's priority");
    }
}

/// A valid argon2id hash of a random password, with the default parameters.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = crate::crypto::random_token("");
        Argon2::default()
            .hash_password(random.as_bytes())
            .map(|h| h.to_string())
            .expect("argon2 hashes with its defaults")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_never_match() {
        let hasher = Hasher::default();
        let hash = hasher.hash("correct horse").await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hasher.verify("correct horse", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("wrong horse", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("correct horse", None).await.unwrap());
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_at_once_instead_of_waiting() {
        let hasher = Hasher::default();
        let extra = 6;
        let total = Hasher::limit() + Hasher::queue_limit() + extra;
        let hashes = (0..total).map(|_| hasher.hash("queue me please"));
        let results = futures::future::join_all(hashes).await;
        let refused = results
            .iter()
            .filter(|r| {
                matches!(
                    r,
                    Err(Error::RateLimited {
                        retry_after_secs: 1
                    })
                )
            })
            .count();
        assert_eq!(refused, extra, "only what exceeds the cores and the queue");
        assert_eq!(hasher.stats().refused.load(Ordering::Relaxed), extra as u64);
    }
}
