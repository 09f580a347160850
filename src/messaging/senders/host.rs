//! An SMTP server's host name: checked when the account is saved, so a typo
//! such as `smtp://mail.example.com` or `mail example.com` is refused then
//! rather than failing every delivery later.

use std::net::IpAddr;

use crate::error::{AppError, AppResult};

const MAX_HOST_CHARS: usize = 253;

/// A host name (`smtp.example.com`, `localhost`) or an IP address (IPv6
/// with or without brackets), trimmed and lowercased.
pub(super) fn smtp_host(raw: &str, field: &str) -> AppResult<String> {
    let host = raw.trim().to_ascii_lowercase();
    let invalid = || AppError::invalid(field, "is not a host name or IP address");
    if host.is_empty() || host.len() > MAX_HOST_CHARS {
        return Err(invalid());
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(&host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ip.to_string());
    }
    let name = host.strip_suffix('.').unwrap_or(&host);
    let labels_ok = name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    });
    // An all-digit last label is a mistyped IPv4 address, not a name.
    let tld_ok = name
        .rsplit('.')
        .next()
        .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()));
    if labels_ok && tld_ok {
        Ok(name.to_owned())
    } else {
        Err(invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_and_addresses() {
        for (raw, host) in [
            (" SMTP.Example.com ", "smtp.example.com"),
            ("localhost", "localhost"),
            ("mail-1.eu.example.co.uk.", "mail-1.eu.example.co.uk"),
            ("127.0.0.1", "127.0.0.1"),
            ("[::1]", "::1"),
            ("2001:db8::25", "2001:db8::25"),
        ] {
            assert_eq!(smtp_host(raw, "input.host").unwrap(), host, "{raw}");
        }
    }

    #[test]
    fn refuses_urls_spaces_and_broken_names_naming_the_field() {
        for bad in [
            "",
            "  ",
            "smtp://mail.example.com",
            "mail example.com",
            "mail.example.com:587",
            "-mail.example.com",
            "mail..example.com",
            "999.1.1.1",
            "user@mail.example.com",
            &"a".repeat(254),
        ] {
            match smtp_host(bad, "input.host") {
                Err(AppError::BadUserInput { field, .. }) => assert_eq!(field, "input.host"),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }
}
