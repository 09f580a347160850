//! Standard Webhooks (<https://www.standardwebhooks.com>, spec:
//! <https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md>),
//! carrying PromoHub's generic email event payload:
//!
//! ```json
//! {"type": "email.bounced", "timestamp": "2026-01-05T10:00:00Z",
//!  "data": {"message_id": "<id@host>", "email": "a@b.c", "bounce_type": "hard",
//!           "url": null, "reason": "550 5.1.1 user unknown"}}
//! ```
//!
//! The signature is HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`,
//! keyed with the base64-decoded secret after `whsec_`; `webhook-signature`
//! lists space-separated `v1,<base64>` signatures, any of which may match
//! (senders list several while rotating secrets).

use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use serde::Deserialize;
use sha2::Sha256;

use super::mail_headers::normalise_message_id;
use super::{
    EventKind, MessageRef, Parsed, ProviderEvent, WebhookError, bad_request, check_fresh, detail,
    header, unauthorized, unix_seconds,
};

pub(crate) const PROVIDER: &str = "standard";

/// The decoded signing key.
pub(crate) struct Secret(Vec<u8>);

impl Secret {
    /// Reads `whsec_<base64>`. The prefix is optional, as in the reference
    /// libraries, so a bare base64 key from another tool works too.
    pub(crate) fn parse(setting: &str) -> Result<Self, String> {
        let encoded = setting.trim();
        let encoded = encoded.strip_prefix("whsec_").unwrap_or(encoded);
        match BASE64.decode(encoded) {
            Ok(key) if !key.is_empty() => Ok(Self(key)),
            _ => Err("expected whsec_ followed by base64".to_owned()),
        }
    }
}

pub(crate) fn parse(
    secret: &Secret,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<Parsed, WebhookError> {
    let required =
        |name| header(headers, name).ok_or_else(|| unauthorized(format!("missing {name}")));
    let id = required("webhook-id")?;
    let timestamp = required("webhook-timestamp")?;
    let signatures = required("webhook-signature")?;
    check_fresh(unix_seconds(timestamp)?, now, tolerance)?;
    verify(secret, id, timestamp, body, signatures)?;

    let payload: Payload = serde_json::from_slice(body).map_err(bad_request)?;
    let events = to_event(id, payload)?.into_iter().collect();
    Ok(Parsed {
        events,
        confirm_subscription: None,
    })
}

fn verify(
    secret: &Secret,
    id: &str,
    timestamp: &str,
    body: &[u8],
    signatures: &str,
) -> Result<(), WebhookError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret.0).expect("HMAC takes any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let matches = signatures
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|encoded| BASE64.decode(encoded).ok())
        // `verify_slice` compares in constant time.
        .any(|signature| mac.clone().verify_slice(&signature).is_ok());
    if matches {
        Ok(())
    } else {
        Err(unauthorized("no webhook-signature matches"))
    }
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    timestamp: DateTime<Utc>,
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    message_id: String,
    email: Option<String>,
    bounce_type: Option<String>,
    url: Option<String>,
    reason: Option<String>,
}

/// `None` for event types this format may grow later: ignoring them lets a
/// newer sender talk to an older PromoHub.
fn to_event(id: &str, payload: Payload) -> Result<Option<ProviderEvent>, WebhookError> {
    let data = payload.data;
    let kind = match payload.kind.as_str() {
        "email.delivered" => EventKind::Delivered,
        "email.bounced" => EventKind::Bounced {
            // A sender that does not say is treated as a hard bounce, the
            // common meaning of a plain "bounce".
            permanent: match data.bounce_type.as_deref() {
                None | Some("hard") => true,
                Some("soft") => false,
                Some(other) => return Err(bad_request(format!("unknown bounce_type \"{other}\""))),
            },
        },
        "email.complained" => EventKind::Complained,
        "email.replied" => EventKind::Replied,
        "email.opened" => EventKind::Opened,
        "email.clicked" => EventKind::Clicked {
            url: data.url.clone(),
        },
        "email.unsubscribed" => EventKind::Unsubscribed,
        _ => return Ok(None),
    };
    let message_id = normalise_message_id(&data.message_id)
        .ok_or_else(|| bad_request("data.message_id is empty"))?;
    Ok(Some(ProviderEvent {
        provider: PROVIDER,
        event_id: id.to_owned(),
        kind,
        message: MessageRef::MessageIdHeader(message_id),
        recipient: data.email,
        occurred_at: payload.timestamp,
        detail: detail([
            ("type", Some(payload.kind.into())),
            ("reason", data.reason.map(Into::into)),
            ("bounce_type", data.bounce_type.map(Into::into)),
        ]),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messaging::webhooks::providers::{WebhookSettings, WebhookVerifier};
    use serde_json::json;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const BOUNCED: &str =
        include_str!("../../../../tests/fixtures/webhooks/standard-email-bounced.json");

    fn verifier() -> WebhookVerifier {
        WebhookVerifier::new(WebhookSettings {
            standard_secret: Some(SECRET.into()),
            ..WebhookSettings::default()
        })
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_607_200, 0).unwrap()
    }

    fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
        let key = BASE64.decode(secret.trim_start_matches("whsec_")).unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }

    fn signed_headers(id: &str, timestamp: i64, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("webhook-id", id.parse().unwrap());
        headers.insert("webhook-timestamp", timestamp.to_string().parse().unwrap());
        headers.insert("webhook-signature", signature.parse().unwrap());
        headers
    }

    fn signed(body: &[u8]) -> HeaderMap {
        let timestamp = now().timestamp();
        signed_headers(
            "msg_2b1x",
            timestamp,
            &sign(SECRET, "msg_2b1x", timestamp, body),
        )
    }

    async fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Parsed, WebhookError> {
        verifier().parse("standard", headers, body, now()).await
    }

    #[tokio::test]
    async fn a_signed_bounce_becomes_one_hard_bounce_event() {
        let headers = signed(BOUNCED.as_bytes());

        let parsed = parse(&headers, BOUNCED.as_bytes()).await.unwrap();

        assert_eq!(parsed.confirm_subscription, None);
        assert_eq!(
            parsed.events,
            vec![ProviderEvent {
                provider: "standard",
                event_id: "msg_2b1x".into(),
                kind: EventKind::Bounced { permanent: true },
                message: MessageRef::MessageIdHeader(
                    "0196f0c2-7d1e-7c3a-9d6e-2f4b8a1c5e90@mail.promohub.test".into()
                ),
                recipient: Some("jane.doe@example.com".into()),
                occurred_at: "2026-01-05T09:59:58Z".parse().unwrap(),
                detail: json!({
                    "reason": "550 5.1.1 The email account that you tried to reach does not exist",
                    "bounce_type": "hard",
                    "type": "email.bounced",
                }),
            }]
        );
    }

    #[tokio::test]
    async fn any_listed_signature_may_match() {
        let timestamp = now().timestamp();
        let old = sign(
            "whsec_b2xkIHNlY3JldCBiZWZvcmUgcm90YXRpb24=",
            "msg_2b1x",
            timestamp,
            BOUNCED.as_bytes(),
        );
        let current = sign(SECRET, "msg_2b1x", timestamp, BOUNCED.as_bytes());
        let headers = signed_headers("msg_2b1x", timestamp, &format!("v1a,xyz {old} {current}"));

        let parsed = parse(&headers, BOUNCED.as_bytes()).await.unwrap();

        assert_eq!(parsed.events.len(), 1);
    }

    #[tokio::test]
    async fn each_event_type_maps_to_its_kind() {
        for (kind, data, expected) in [
            ("email.delivered", json!({}), Some(EventKind::Delivered)),
            (
                "email.bounced",
                json!({"bounce_type": "soft"}),
                Some(EventKind::Bounced { permanent: false }),
            ),
            ("email.complained", json!({}), Some(EventKind::Complained)),
            ("email.replied", json!({}), Some(EventKind::Replied)),
            ("email.opened", json!({}), Some(EventKind::Opened)),
            (
                "email.clicked",
                json!({"url": "https://promohub.test/p"}),
                Some(EventKind::Clicked {
                    url: Some("https://promohub.test/p".into()),
                }),
            ),
            (
                "email.unsubscribed",
                json!({}),
                Some(EventKind::Unsubscribed),
            ),
            ("email.future_kind", json!({}), None),
        ] {
            let mut data = data;
            data["message_id"] = json!("<m@x>");
            let body = json!({"type": kind, "timestamp": "2026-01-05T10:00:00Z", "data": data})
                .to_string();

            let parsed = parse(&signed(body.as_bytes()), body.as_bytes())
                .await
                .unwrap();

            assert_eq!(
                parsed.events.first().map(|event| event.kind.clone()),
                expected,
                "{kind}"
            );
        }
    }

    #[tokio::test]
    async fn a_tampered_body_is_unauthorized() {
        let headers = signed(BOUNCED.as_bytes());
        let tampered = BOUNCED.replace("hard", "soft");

        let result = parse(&headers, tampered.as_bytes()).await;

        assert!(
            matches!(result, Err(WebhookError::Unauthorized(_))),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_signature_from_another_secret_is_unauthorized() {
        let timestamp = now().timestamp();
        let signature = sign(
            "whsec_c29tZW9uZSBlbHNlJ3Mgc2VjcmV0",
            "msg_2b1x",
            timestamp,
            BOUNCED.as_bytes(),
        );
        let headers = signed_headers("msg_2b1x", timestamp, &signature);

        let result = parse(&headers, BOUNCED.as_bytes()).await;

        assert!(
            matches!(result, Err(WebhookError::Unauthorized(_))),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_signature_over_another_id_is_unauthorized() {
        let timestamp = now().timestamp();
        let signature = sign(SECRET, "msg_other", timestamp, BOUNCED.as_bytes());
        let headers = signed_headers("msg_2b1x", timestamp, &signature);

        let result = parse(&headers, BOUNCED.as_bytes()).await;

        assert!(
            matches!(result, Err(WebhookError::Unauthorized(_))),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn each_missing_header_is_unauthorized() {
        for missing in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            let mut headers = signed(BOUNCED.as_bytes());
            headers.remove(missing);

            let result = parse(&headers, BOUNCED.as_bytes()).await;

            assert!(
                matches!(result, Err(WebhookError::Unauthorized(_))),
                "{missing}: {result:?}"
            );
        }
    }

    #[tokio::test]
    async fn stale_and_future_timestamps_are_unauthorized() {
        for skew in [-301, 301] {
            let timestamp = now().timestamp() + skew;
            let signature = sign(SECRET, "msg_2b1x", timestamp, BOUNCED.as_bytes());
            let headers = signed_headers("msg_2b1x", timestamp, &signature);

            let result = parse(&headers, BOUNCED.as_bytes()).await;

            assert!(
                matches!(result, Err(WebhookError::Unauthorized(_))),
                "{skew}: {result:?}"
            );
        }
    }

    #[tokio::test]
    async fn signed_malformed_json_is_a_bad_request() {
        let body = br#"{"type": "email.bounced", "data": "#;

        let result = parse(&signed(body), body).await;

        assert!(
            matches!(result, Err(WebhookError::BadRequest(_))),
            "{result:?}"
        );
    }
}
