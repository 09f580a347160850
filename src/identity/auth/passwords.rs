//! Password hashing with argon2id (the crate's default parameters, OWASP-grade).

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::blocking::BoundedBlocking;
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
/// memory the allocator never returned (issue 20).
pub(crate) struct PasswordHashing {
    pool: BoundedBlocking,
}

impl PasswordHashing {
    pub(crate) fn new(concurrency: usize) -> Self {
        Self {
            pool: BoundedBlocking::new(concurrency),
        }
    }

    pub(crate) async fn hash(&self, password: Password) -> AppResult<String> {
        self.pool.run(move || hash(&password)).await?
    }

    /// True when `candidate` matches `stored`; with no stored hash (an
    /// unknown email) it takes as long and is false.
    pub(crate) async fn verify(&self, candidate: String, stored: Option<String>) -> bool {
        self.pool
            .run(move || match stored {
                Some(stored) => verify(&candidate, &stored),
                None => {
                    verify_against_dummy(&candidate);
                    false
                }
            })
            .await
            .unwrap_or(false)
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
