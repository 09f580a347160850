//! The server's final 250 reply, and the provider's id for the message in it.
//!
//! Providers name the queued message in free text; the id is kept because
//! their bounce and complaint reports quote it, not our Message-ID.

use std::sync::LazyLock;

use lettre::transport::smtp::response::Response;
use regex::Regex;

/// The server took responsibility for the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The whole final reply, e.g. `250 2.0.0 Ok: queued as 4F1A2B`.
    pub response: String,
    /// The provider's id for the message, when the reply names one.
    pub provider_message_id: Option<String>,
}

impl Accepted {
    pub(super) fn from_reply(reply: &Response) -> Self {
        let code: u16 = reply.code().into();
        let text = reply.message().collect::<Vec<_>>().join(" ");
        let response = format!("{code} {text}").trim_end().to_owned();
        Self {
            provider_message_id: provider_message_id(&response),
            response,
        }
    }
}

/// Postfix and SendGrid say `queued as <id>`, Exim `id=<id>`, Amazon SES
/// and others put the id in angle brackets.
static PROVIDER_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)queued as\s+([^\s<>]+)|\bid=([^\s<>;,]+)|<([^\s<>]+)>").unwrap()
});

fn provider_message_id(reply: &str) -> Option<String> {
    let captures = PROVIDER_ID.captures(reply)?;
    let id = captures.iter().skip(1).flatten().next()?;
    Some(id.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_provider_id_is_read_from_the_usual_reply_shapes() {
        let cases = [
            ("250 2.0.0 Ok: queued as 4F1A2B", Some("4F1A2B")),
            (
                "250 Ok <0100018c1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d-000000>",
                Some("0100018c1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d-000000"),
            ),
            ("250 OK id=1rXyZ-000123-AB", Some("1rXyZ-000123-AB")),
            ("250 2.0.0 Ok: Queued as hhQvR2wZR", Some("hhQvR2wZR")),
        ];
        for (reply, expected) in cases {
            assert_eq!(provider_message_id(reply).as_deref(), expected, "{reply}");
        }
    }

    #[test]
    fn a_reply_without_an_id_yields_none() {
        for reply in [
            "250 OK",
            "250 2.0.0 Ok",
            "250 Message accepted for delivery",
        ] {
            assert_eq!(provider_message_id(reply), None, "{reply}");
        }
    }
}
