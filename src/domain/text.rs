//! Free-text inputs: trimmed, bounded, and blank meaning "none" where a value
//! is optional.

use crate::error::{AppError, AppResult};

/// A required text: trimmed, not blank, at most `max` characters.
pub(crate) fn required_text(value: &str, field: &str, max: usize) -> AppResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(AppError::invalid(field, "must not be blank"));
    }
    if value.chars().count() > max {
        return Err(AppError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// An optional text: trimmed; blank becomes `None`; at most `max` characters.
pub(crate) fn optional_text(
    value: Option<String>,
    field: &str,
    max: usize,
) -> AppResult<Option<String>> {
    match value.map(|v| v.trim().to_owned()) {
        Some(v) if v.is_empty() => Ok(None),
        Some(v) if v.chars().count() > max => Err(AppError::invalid(
            field,
            format!("must be at most {max} characters"),
        )),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_text_trims_and_bounds() {
        assert_eq!(required_text("  Acme ", "name", 10).unwrap(), "Acme");
        assert!(required_text("   ", "name", 10).is_err());
        assert!(required_text("abcdefghijk", "name", 10).is_err());
    }

    #[test]
    fn optional_text_turns_blank_into_none() {
        assert_eq!(optional_text(Some("  ".into()), "f", 5).unwrap(), None);
        assert_eq!(optional_text(None, "f", 5).unwrap(), None);
        assert_eq!(
            optional_text(Some(" ab ".into()), "f", 5).unwrap(),
            Some("ab".into())
        );
        assert!(optional_text(Some("abcdef".into()), "f", 5).is_err());
    }
}
