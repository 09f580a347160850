//! A new password that meets the policy. Only ever hashed, never stored.

use crate::error::{AppError, AppResult};

pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str, field: &str) -> AppResult<Self> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(AppError::invalid(
                field,
                format!("must be at least {} characters", Self::MIN_CHARS),
            ));
        }
        // Bounded so hashing cost stays bounded.
        if chars > Self::MAX_CHARS {
            return Err(AppError::invalid(
                field,
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enforces_length_bounds() {
        assert!(Password::parse("short", "password").is_err());
        assert!(Password::parse(&"x".repeat(129), "password").is_err());
        assert!(Password::parse("long-enough-password", "password").is_ok());
    }

    #[test]
    fn never_prints_the_secret() {
        let password = Password::parse("correct horse battery", "password").unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }
}
