//! A tenant slug: its white-label subdomain, so it follows DNS label rules.

use crate::error::{AppError, AppResult};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Slug(String);

/// Subdomains the platform keeps for itself.
const RESERVED: &[&str] = &[
    "www", "api", "app", "admin", "mail", "static", "assets", "status",
];

impl Slug {
    pub(crate) fn parse(raw: &str, field: &str) -> AppResult<Self> {
        let slug = raw.trim().to_lowercase();
        let well_formed = (3..=63).contains(&slug.len())
            && slug
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !slug.starts_with('-')
            && !slug.ends_with('-');
        if !well_formed {
            return Err(AppError::invalid(
                field,
                "must be 3-63 characters of a-z, 0-9 and '-', not starting or ending with '-'",
            ));
        }
        if RESERVED.contains(&slug.as_str()) {
            return Err(AppError::invalid(field, "is reserved"));
        }
        Ok(Self(slug))
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
    fn accepts_dns_labels_and_lowercases() {
        assert_eq!(
            Slug::parse("Acme-Corp", "slug").unwrap().as_str(),
            "acme-corp"
        );
    }

    #[test]
    fn rejects_bad_and_reserved_slugs() {
        for bad in [
            "ab",
            "-acme",
            "acme-",
            "acme corp",
            "acmé",
            "www",
            &"a".repeat(64),
        ] {
            assert!(Slug::parse(bad, "slug").is_err(), "{bad} accepted");
        }
    }
}
