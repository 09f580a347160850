//! An email address, trimmed and lowercased: emails are unique ignoring case.

use crate::error::{AppError, AppResult};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EmailAddress(String);

impl EmailAddress {
    /// Parses `raw`; `field` names the input in the error.
    pub(crate) fn parse(raw: &str, field: &str) -> AppResult<Self> {
        let email = Self::normalize(raw);
        let invalid = || AppError::invalid(field, "is not a valid email address");
        if email.len() > 254 {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local
                .chars()
                .any(|c| c.is_whitespace() || c == '@' || c.is_control());
        if domain_ok && local_ok {
            Ok(Self(email))
        } else {
            Err(invalid())
        }
    }

    /// `raw` as addresses are stored and compared (what `parse` keeps, for
    /// a lookup that must not wait for the address to be validated).
    pub(crate) fn normalize(raw: &str) -> String {
        raw.trim().to_lowercase()
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases_and_trims() {
        let email = EmailAddress::parse("  Ada.Lovelace@Example.COM ", "email").unwrap();
        assert_eq!(email.as_str(), "ada.lovelace@example.com");
    }

    #[test]
    fn rejects_malformed_addresses_naming_the_field() {
        for bad in [
            "",
            "plain",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "@c.com",
            "a@.com",
            "a@c..com",
        ] {
            match EmailAddress::parse(bad, "input.email") {
                Err(AppError::BadUserInput { field, .. }) => assert_eq!(field, "input.email"),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }
}
