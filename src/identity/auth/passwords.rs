//! Password hashing with argon2id (the crate's default parameters, OWASP-grade).

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use tokio::sync::Semaphore;

use crate::domain::Password;
use crate::error::{AppError, AppResult};

pub fn hash(password: &Password) -> AppResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AppError::internal(anyhow::anyhow!("hashing a password: {e}")))
}

/// True when `candidate` matches `stored`. A malformed hash never matches.
pub fn verify(candidate: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| {
            Argon2::default()
                .verify_password(candidate.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Burns the same time as a real verification, so an unknown email cannot be
/// told from a wrong password by timing.
pub fn verify_against_dummy(candidate: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        hash(&Password::parse("dummy-password-for-timing", "password").expect("valid"))
            .expect("hashing works")
    });
    let _ = verify(candidate, dummy);
}

/// Runs argon2 off the async workers, at most a configured number at once
/// (`Limits::password_hash_concurrency`).
///
/// Every computation holds argon2's memory while it runs: unbounded, a
/// flood of logins held hundreds of them at once and grew the process by
/// memory the allocator never returned (issue 20). Callers beyond the bound wait in
/// arrival order (tokio's semaphore is fair); none is refused, so a burst
/// is slower, not failed.
pub(crate) struct PasswordHashing {
    permits: Arc<Semaphore>,
}

impl PasswordHashing {
    pub(crate) fn new(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    pub(crate) async fn hash(&self, password: Password) -> AppResult<String> {
        self.run(move || hash(&password)).await?
    }

    /// True when `candidate` matches `stored`; with no stored hash (an
    /// unknown email) it takes as long and is false.
    pub(crate) async fn verify(&self, candidate: String, stored: Option<String>) -> bool {
        self.run(move || match stored {
            Some(stored) => verify(&candidate, &stored),
            None => {
                verify_against_dummy(&candidate);
                false
            }
        })
        .await
        .unwrap_or(false)
    }

    /// Runs `work` on the blocking pool once a permit is free.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> AppResult<T> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(AppError::internal)?;
        // The permit moves into the task: a caller that gives up (its client
        // went away) does not end the computation, so it must not free the
        // permit either.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(AppError::internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_only_its_own_password() {
        let password = Password::parse("correct horse battery", "password").unwrap();
        let stored = hash(&password).unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &stored));
        assert!(!verify("wrong horse battery", &stored));
        assert!(!verify("correct horse battery", "not-a-hash"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_than_the_bound_run_at_once_and_the_rest_wait_their_turn() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let hashing = Arc::new(PasswordHashing::new(3));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));

        let calls: Vec<_> = (0..16)
            .map(|_| {
                let (hashing, running, most) = (hashing.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    hashing
                        .run(move || {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(20));
                            running.fetch_sub(1, Ordering::SeqCst);
                        })
                        .await
                })
            })
            .collect();
        for call in calls {
            call.await.unwrap().unwrap();
        }

        // Every call ran (none refused), never more than three at a time,
        // and the bound was reached: they did run side by side.
        assert_eq!(most.load(Ordering::SeqCst), 3);
        assert_eq!(running.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_bounded_verification_still_tells_right_from_wrong() {
        let hashing = PasswordHashing::new(1);
        let password = Password::parse("correct horse battery", "password").unwrap();
        let stored = hashing.hash(password).await.unwrap();
        assert!(
            hashing
                .verify("correct horse battery".into(), Some(stored.clone()))
                .await
        );
        assert!(
            !hashing
                .verify("wrong horse battery".into(), Some(stored))
                .await
        );
        assert!(!hashing.verify("correct horse battery".into(), None).await);
    }
}
