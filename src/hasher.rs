//! Password hashing: argon2id with the crate's defaults (19 MiB, t=2, p=1), always on the
//! blocking pool and never more than a few at once, so a login storm cannot starve the runtime
//! (Health stays responsive) or the memory.

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
        tokio::task::spawn_blocking(move || {
            let now = stats.running.fetch_add(1, Ordering::SeqCst) + 1;
            stats.max_running.fetch_max(now, Ordering::SeqCst);
            let out = work();
            stats.running.fetch_sub(1, Ordering::SeqCst);
            out
        })
        .await
        .map_err(Error::internal)
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
        let hash = hash
            .map(str::to_string)
            .unwrap_or_else(|| dummy_hash().to_string());
        let password = password.to_string();
        let matches = self
            .blocking(move || {
                let parsed = PasswordHash::new(&hash).ok()?;
                Some(
                    Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok(),
                )
            })
            .await?;
        Ok(known && matches.unwrap_or(false))
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
