//! SendGrid Inbound Parse: replies to our mail, posted as multipart/form-data
//! (<https://www.twilio.com/docs/sendgrid/for-developers/parsing-email/setting-up-the-inbound-parse-webhook>).
//!
//! The default payload has the raw header block in the `headers` field; with
//! "POST the raw, full MIME message" it sends the whole message in `email`
//! instead, whose header block serves just as well.
//!
//! These posts are unsigned unless a security policy is attached to the
//! Parse setting (<https://www.twilio.com/docs/sendgrid/for-developers/parsing-email/securing-your-parse-webhooks>,
//! not supported here yet), so the destination URL carries HTTP Basic
//! credentials (`https://user:pass@host/webhooks/email/sendgrid-inbound`) and
//! anything without them is refused.

use std::collections::HashMap;

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::mail_headers::{bare_address, find_header, normalise_message_id, reply_target};
use super::{
    EventKind, MessageRef, Parsed, ProviderEvent, WebhookError, bad_request, detail, header,
    unauthorized,
};
use crate::messaging::inbound_mail::automatic_reply;

pub(crate) const PROVIDER: &str = "sendgrid-inbound";

/// The form fields read; attachments and bodies are skipped unread.
const FIELDS: [&str; 4] = ["headers", "email", "from", "subject"];

pub(crate) async fn parse(
    credentials: &(String, String),
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Parsed, WebhookError> {
    check_basic_auth(headers, credentials)?;
    let fields = read_form(headers, body).await?;
    let header_block = fields
        .get("headers")
        .or_else(|| fields.get("email"))
        .ok_or_else(|| bad_request("neither headers nor email field"))?;

    // Mail that answers nothing of ours is not an event; acknowledging it
    // keeps SendGrid from retrying it.
    let Some(answered) = reply_target(
        find_header(header_block, "In-Reply-To").as_deref(),
        find_header(header_block, "References").as_deref(),
    ) else {
        return Ok(Parsed::default());
    };

    let from = fields
        .get("from")
        .cloned()
        .or_else(|| find_header(header_block, "From"));
    let subject = fields
        .get("subject")
        .cloned()
        .or_else(|| find_header(header_block, "Subject"));
    // An out-of-office is recorded as such, not as a reply (the same rule
    // as the sender's mailbox).
    let automatic = automatic_reply(|name| find_header(header_block, name), subject.as_deref());
    let event = ProviderEvent {
        provider: PROVIDER,
        event_id: event_id(header_block),
        kind: if automatic.is_some() {
            EventKind::AutoReplied
        } else {
            EventKind::Replied
        },
        message: MessageRef::MessageIdHeader(answered),
        recipient: from.as_deref().and_then(bare_address),
        // The post follows the reply's arrival within seconds; the Date header
        // is the sender's clock and may be anything.
        occurred_at: now,
        detail: detail([
            ("from", from.map(Value::from)),
            ("subject", subject.map(Value::from)),
            ("automatic", automatic.map(Value::from)),
        ]),
    };
    Ok(Parsed {
        events: vec![event],
        confirm_subscription: None,
    })
}

/// The reply's own Message-ID, so a retried post is recognised. The rare mail
/// without one gets a hash of its headers, which a retry repeats too.
fn event_id(header_block: &str) -> String {
    find_header(header_block, "Message-ID")
        .as_deref()
        .and_then(normalise_message_id)
        .unwrap_or_else(|| format!("sha256:{}", hex::encode(Sha256::digest(header_block))))
}

fn check_basic_auth(
    headers: &HeaderMap,
    (user, password): &(String, String),
) -> Result<(), WebhookError> {
    let given = header(headers, "authorization")
        .and_then(|value| {
            let (scheme, encoded) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then_some(encoded)
        })
        .and_then(|encoded| BASE64.decode(encoded.trim()).ok())
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .ok_or_else(|| unauthorized("missing basic auth"))?;
    let (given_user, given_password) = given
        .split_once(':')
        .ok_or_else(|| unauthorized("malformed basic auth"))?;
    // Both parts are compared, in constant time, whatever the first gives.
    if bool::from(same(given_user, user) & same(given_password, password)) {
        Ok(())
    } else {
        Err(unauthorized("wrong basic auth credentials"))
    }
}

/// Compares digests so neither the content nor the length of the secret
/// leaks through timing.
fn same(given: &str, expected: &str) -> subtle::Choice {
    Sha256::digest(given).ct_eq(&Sha256::digest(expected))
}

async fn read_form(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<HashMap<&'static str, String>, WebhookError> {
    let content_type =
        header(headers, "content-type").ok_or_else(|| bad_request("missing content-type"))?;
    let boundary = multer::parse_boundary(content_type).map_err(bad_request)?;
    let chunk = Ok::<_, std::convert::Infallible>(body.to_vec());
    let mut form = multer::Multipart::new(futures::stream::iter([chunk]), boundary);
    let mut fields = HashMap::new();
    while let Some(field) = form.next_field().await.map_err(bad_request)? {
        let Some(name) = field
            .name()
            .and_then(|name| FIELDS.into_iter().find(|wanted| *wanted == name))
        else {
            continue;
        };
        let text = field.text().await.map_err(bad_request)?;
        fields.insert(name, text);
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messaging::webhooks::providers::{WebhookSettings, WebhookVerifier};
    use serde_json::json;

    const REPLY_HEADERS: &str =
        include_str!("../../../../tests/fixtures/webhooks/sendgrid-inbound-headers.txt");
    const BOUNDARY: &str = "xYzZY";

    fn verifier() -> WebhookVerifier {
        WebhookVerifier::new(WebhookSettings {
            sendgrid_inbound_basic_auth: Some(("sendgrid".into(), "s3cret-parse-pass".into())),
            ..WebhookSettings::default()
        })
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_607_200, 0).unwrap()
    }

    /// A body as Inbound Parse posts it: CRLF-separated form-data parts.
    fn form(fields: &[(&str, &str)]) -> Vec<u8> {
        let mut body = String::new();
        for (name, value) in fields {
            body.push_str(&format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        body.push_str(&format!("--{BOUNDARY}--\r\n"));
        body.into_bytes()
    }

    fn reply_form(header_block: &str) -> Vec<u8> {
        form(&[
            ("headers", header_block),
            ("dkim", "{@example.com : pass}"),
            ("to", "news@promohub.test"),
            ("from", "Jane Doe <jane.doe@example.com>"),
            (
                "text",
                "Yes please, send me the catalogue.\r\n\r\n> Spring offers inside",
            ),
            ("subject", "Re: Spring offers"),
            ("sender_ip", "209.85.220.41"),
            (
                "envelope",
                r#"{"to":["news@promohub.test"],"from":"jane.doe@example.com"}"#,
            ),
            (
                "charsets",
                r#"{"to":"UTF-8","subject":"UTF-8","from":"UTF-8","text":"UTF-8"}"#,
            ),
            ("SPF", "pass"),
        ])
    }

    fn headers_with(authorization: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}")
                .parse()
                .unwrap(),
        );
        if let Some(authorization) = authorization {
            headers.insert("authorization", authorization.parse().unwrap());
        }
        headers
    }

    fn basic(user: &str, password: &str) -> String {
        format!("Basic {}", BASE64.encode(format!("{user}:{password}")))
    }

    fn authorized() -> HeaderMap {
        headers_with(Some(&basic("sendgrid", "s3cret-parse-pass")))
    }

    #[tokio::test]
    async fn a_reply_becomes_a_replied_event_for_the_message_answered() {
        let parsed = verifier()
            .parse(
                "sendgrid-inbound",
                &authorized(),
                &reply_form(REPLY_HEADERS),
                now(),
            )
            .await
            .unwrap();

        assert_eq!(
            parsed.events,
            vec![ProviderEvent {
                provider: "sendgrid-inbound",
                event_id: "CAFx3Kp9vQ2w@mail.example.com".into(),
                kind: EventKind::Replied,
                message: MessageRef::MessageIdHeader(
                    "0196f0c2-7d1e-7c3a-9d6e-2f4b8a1c5e90@mail.promohub.test".into()
                ),
                recipient: Some("jane.doe@example.com".into()),
                occurred_at: now(),
                detail: json!({"from": "Jane Doe <jane.doe@example.com>", "subject": "Re: Spring offers"}),
            }]
        );
    }

    #[tokio::test]
    async fn the_raw_mime_payload_works_too() {
        let email = format!("{REPLY_HEADERS}\r\nYes please.\r\n");
        let body = form(&[("email", &email), ("from", "jane.doe@example.com")]);

        let parsed = verifier()
            .parse("sendgrid-inbound", &authorized(), &body, now())
            .await
            .unwrap();

        assert_eq!(parsed.events.len(), 1);
        assert_eq!(parsed.events[0].event_id, "CAFx3Kp9vQ2w@mail.example.com");
    }

    #[tokio::test]
    async fn an_out_of_office_is_an_automatic_reply_not_a_reply() {
        let away = format!("Auto-Submitted: auto-replied\r\n{REPLY_HEADERS}");

        let parsed = verifier()
            .parse("sendgrid-inbound", &authorized(), &reply_form(&away), now())
            .await
            .unwrap();

        assert_eq!(parsed.events.len(), 1);
        assert_eq!(parsed.events[0].kind, EventKind::AutoReplied);
        assert_eq!(
            parsed.events[0].detail["automatic"],
            json!("Auto-Submitted: auto-replied")
        );
    }

    #[tokio::test]
    async fn mail_that_answers_nothing_gives_no_event() {
        let fresh =
            "From: someone@example.com\r\nSubject: Hello\r\nMessage-ID: <new@example.com>\r\n";

        let parsed = verifier()
            .parse("sendgrid-inbound", &authorized(), &reply_form(fresh), now())
            .await
            .unwrap();

        assert_eq!(parsed, Parsed::default());
    }

    #[tokio::test]
    async fn missing_or_wrong_credentials_are_unauthorized() {
        for authorization in [
            None,
            Some(basic("sendgrid", "guess")),
            Some(basic("someone", "s3cret-parse-pass")),
            Some(basic("sendgrid", "s3cret-parse-pass").replace("Basic", "Bearer")),
            Some("Basic !!!".to_owned()),
        ] {
            let headers = headers_with(authorization.as_deref());

            let result = verifier()
                .parse(
                    "sendgrid-inbound",
                    &headers,
                    &reply_form(REPLY_HEADERS),
                    now(),
                )
                .await;

            assert!(
                matches!(result, Err(WebhookError::Unauthorized(_))),
                "{authorization:?}: {result:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_body_that_is_not_multipart_is_a_bad_request() {
        let mut headers = authorized();
        headers.insert("content-type", "application/json".parse().unwrap());

        let result = verifier()
            .parse("sendgrid-inbound", &headers, b"{}", now())
            .await;

        assert!(
            matches!(result, Err(WebhookError::BadRequest(_))),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_truncated_form_is_a_bad_request() {
        let body = b"--xYzZY\r\nContent-Disposition: form-data; name=\"headers\"\r\n\r\nFrom: a";

        let result = verifier()
            .parse("sendgrid-inbound", &authorized(), body, now())
            .await;

        assert!(
            matches!(result, Err(WebhookError::BadRequest(_))),
            "{result:?}"
        );
    }
}
