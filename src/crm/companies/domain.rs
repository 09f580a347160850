//! A company's domain, derived from its website so that
//! `https://www.Acme.com/about` and `acme.com` are recognised as the same
//! company.

/// The host of `website`: lowercase, without scheme, credentials, port,
/// path, query or a leading `www.`. `None` when there is no plausible host
/// (a bare word, an email address, another scheme than http/https).
pub(crate) fn normalize_domain(website: &str) -> Option<String> {
    let website = website.trim();
    let rest = match website.split_once("://") {
        Some((scheme, rest)) => {
            let scheme = scheme.to_ascii_lowercase();
            if scheme != "http" && scheme != "https" {
                return None;
            }
            rest
        }
        None => website.strip_prefix("//").unwrap_or(website),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        // `user:pass@host` in a company website is a phishing pattern, not a site.
        return None;
    }
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        Some(_) => return None,
        None => authority,
    };
    let host = host.trim_end_matches('.').to_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    let labels: Vec<&str> = host.split('.').collect();
    let valid = labels.len() >= 2
        && host.len() <= 253
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()));
    valid.then(|| host.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_scheme_www_port_path_and_case() {
        for (website, domain) in [
            ("https://www.Acme.com/about?x=1#top", "acme.com"),
            ("http://acme.com:8080", "acme.com"),
            ("acme.com", "acme.com"),
            ("  WWW.ACME.CO.UK/ ", "acme.co.uk"),
            ("//shop.acme.io/path", "shop.acme.io"),
            ("HTTPS://Sub.Acme.com.", "sub.acme.com"),
            ("https://www2.acme.com", "www2.acme.com"),
            ("https://bücher.de", "bücher.de"),
            ("https://acme.com?ref=ads", "acme.com"),
        ] {
            assert_eq!(
                normalize_domain(website).as_deref(),
                Some(domain),
                "{website}"
            );
        }
    }

    #[test]
    fn refuses_what_is_not_a_website() {
        for website in [
            "",
            "acme",
            "https://",
            "www.",
            "ftp://acme.com",
            "mailto:sales@acme.com",
            "sales@acme.com",
            "https://user:pw@acme.com",
            "acme..com",
            "-acme.com",
            "acme .com",
            "http://acme.com:port",
            "127.0.0.1",
        ] {
            assert_eq!(normalize_domain(website), None, "accepted {website:?}");
        }
    }
}
