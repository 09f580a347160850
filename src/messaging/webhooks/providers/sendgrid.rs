//! SendGrid Event Webhook with signature verification.
//!
//! Signing (<https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features>):
//! ECDSA P-256 with SHA-256 over the `X-Twilio-Email-Event-Webhook-Timestamp`
//! header's bytes followed by the raw body; the signature is base64 DER in
//! `X-Twilio-Email-Event-Webhook-Signature`.
//!
//! Body (<https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event>):
//! a JSON array of events, each with `event`, `email`, `timestamp`,
//! `sg_event_id`, `sg_message_id` and usually `smtp-id`.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, Utc};
use http::HeaderMap;
use p256::ecdsa::{DerSignature, VerifyingKey, signature::Verifier};
use p256::pkcs8::DecodePublicKey;
use serde::Deserialize;

use super::mail_headers::normalise_message_id;
use super::{
    EventKind, MessageRef, Parsed, ProviderEvent, WebhookError, bad_request, check_fresh, detail,
    header, unauthorized, unix_seconds,
};

pub(crate) const PROVIDER: &str = "sendgrid";
const SIGNATURE_HEADER: &str = "x-twilio-email-event-webhook-signature";
const TIMESTAMP_HEADER: &str = "x-twilio-email-event-webhook-timestamp";

/// SendGrid's verification key for the Event Webhook.
pub(crate) struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Reads the key as SendGrid's settings page shows it (base64 DER
    /// SubjectPublicKeyInfo, no PEM armour) or as PEM.
    pub(crate) fn parse(setting: &str) -> Result<Self, String> {
        let key = if setting.contains("-----BEGIN") {
            VerifyingKey::from_public_key_pem(setting.trim()).map_err(|e| e.to_string())?
        } else {
            let compact: String = setting.split_whitespace().collect();
            let der = BASE64.decode(compact).map_err(|e| e.to_string())?;
            VerifyingKey::from_public_key_der(&der).map_err(|e| e.to_string())?
        };
        Ok(Self(key))
    }
}

pub(crate) fn parse(
    key: &PublicKey,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<Parsed, WebhookError> {
    let signature = header(headers, SIGNATURE_HEADER)
        .ok_or_else(|| unauthorized("missing signature header"))?;
    let timestamp = header(headers, TIMESTAMP_HEADER)
        .ok_or_else(|| unauthorized("missing timestamp header"))?;
    check_fresh(unix_seconds(timestamp)?, now, tolerance)?;
    verify(key, timestamp, body, signature)?;

    let events: Vec<Event> = serde_json::from_slice(body).map_err(bad_request)?;
    let events = events
        .into_iter()
        .filter_map(|event| event.into_provider_event().transpose())
        .collect::<Result<_, _>>()?;
    Ok(Parsed {
        events,
        confirm_subscription: None,
    })
}

fn verify(
    key: &PublicKey,
    timestamp: &str,
    body: &[u8],
    signature: &str,
) -> Result<(), WebhookError> {
    let signature = BASE64
        .decode(signature.trim())
        .ok()
        .and_then(|der| DerSignature::from_bytes(&der).ok())
        .ok_or_else(|| unauthorized("signature is not base64 DER"))?;
    // The timestamp is signed exactly as sent, so it is not re-formatted.
    let signed = [timestamp.as_bytes(), body].concat();
    key.0
        .verify(&signed, &signature)
        .map_err(|_| unauthorized("signature does not match"))
}

#[derive(Deserialize)]
struct Event {
    event: String,
    email: Option<String>,
    timestamp: i64,
    #[serde(rename = "smtp-id")]
    smtp_id: Option<String>,
    sg_event_id: String,
    sg_message_id: Option<String>,
    /// On `bounce`: `bounce` (permanent) or `blocked` (temporary).
    #[serde(rename = "type")]
    bounce_type: Option<String>,
    reason: Option<String>,
    status: Option<String>,
    response: Option<String>,
    bounce_classification: Option<String>,
    url: Option<String>,
    asm_group_id: Option<i64>,
    useragent: Option<String>,
}

impl Event {
    /// `None` for events that change nothing PromoHub records: `processed`,
    /// `deferred` (SendGrid keeps retrying), `group_resubscribe` and any new
    /// type.
    fn into_provider_event(self) -> Result<Option<ProviderEvent>, WebhookError> {
        let kind = match self.event.as_str() {
            "delivered" => EventKind::Delivered,
            "bounce" => EventKind::Bounced {
                permanent: self.bounce_type.as_deref() != Some("blocked"),
            },
            // SendGrid drops mail to addresses on its suppression lists or that
            // are invalid: it will never be delivered there, like a hard bounce.
            "dropped" => EventKind::Bounced { permanent: true },
            "spamreport" => EventKind::Complained,
            "open" => EventKind::Opened,
            "click" => EventKind::Clicked {
                url: self.url.clone(),
            },
            "unsubscribe" | "group_unsubscribe" => EventKind::Unsubscribed,
            _ => return Ok(None),
        };
        let message = self
            .message_ref()
            .ok_or_else(|| bad_request(format!("event {} names no message", self.sg_event_id)))?;
        let occurred_at = DateTime::from_timestamp(self.timestamp, 0)
            .ok_or_else(|| bad_request("timestamp out of range"))?;
        Ok(Some(ProviderEvent {
            provider: PROVIDER,
            detail: detail([
                ("event", Some(self.event.into())),
                ("type", self.bounce_type.map(Into::into)),
                ("reason", self.reason.map(Into::into)),
                ("status", self.status.map(Into::into)),
                ("response", self.response.map(Into::into)),
                (
                    "bounce_classification",
                    self.bounce_classification.map(Into::into),
                ),
                ("asm_group_id", self.asm_group_id.map(Into::into)),
                ("useragent", self.useragent.map(Into::into)),
            ]),
            event_id: self.sg_event_id,
            kind,
            message,
            recipient: self.email,
            occurred_at,
        }))
    }

    /// `smtp-id` is the Message-ID header of the mail we handed over; without
    /// it, `sg_message_id` up to its first '.' is SendGrid's `X-Message-Id`.
    fn message_ref(&self) -> Option<MessageRef> {
        if let Some(id) = self.smtp_id.as_deref().and_then(normalise_message_id) {
            return Some(MessageRef::MessageIdHeader(id));
        }
        let provider_id = self.sg_message_id.as_deref()?.split('.').next()?.trim();
        (!provider_id.is_empty()).then(|| MessageRef::ProviderId(provider_id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messaging::webhooks::providers::{WebhookSettings, WebhookVerifier};
    use p256::ecdsa::{SigningKey, signature::Signer};
    use p256::pkcs8::{EncodePublicKey, LineEnding};
    use serde_json::json;

    const EVENTS: &str = include_str!("../../../../tests/fixtures/webhooks/sendgrid-events.json");

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_607_200, 0).unwrap()
    }

    fn new_key() -> SigningKey {
        SigningKey::random(&mut rand::rngs::OsRng)
    }

    /// The key as SendGrid's settings page shows it: base64 DER, one line.
    fn shown_by_sendgrid(key: &SigningKey) -> String {
        BASE64.encode(key.verifying_key().to_public_key_der().unwrap().as_bytes())
    }

    fn verifier(key: &SigningKey) -> WebhookVerifier {
        WebhookVerifier::new(WebhookSettings {
            sendgrid_public_key: Some(shown_by_sendgrid(key)),
            ..WebhookSettings::default()
        })
    }

    fn signed_headers(key: &SigningKey, timestamp: &str, body: &[u8]) -> HeaderMap {
        let signature: DerSignature = key.sign(&[timestamp.as_bytes(), body].concat());
        let mut headers = HeaderMap::new();
        headers.insert(
            SIGNATURE_HEADER,
            BASE64.encode(signature.as_bytes()).parse().unwrap(),
        );
        headers.insert(TIMESTAMP_HEADER, timestamp.parse().unwrap());
        headers
    }

    fn signed_now(key: &SigningKey, body: &[u8]) -> HeaderMap {
        signed_headers(key, &now().timestamp().to_string(), body)
    }

    #[tokio::test]
    async fn a_signed_batch_becomes_the_events_promohub_records() {
        let key = new_key();
        let headers = signed_now(&key, EVENTS.as_bytes());

        let parsed = verifier(&key)
            .parse("sendgrid", &headers, EVENTS.as_bytes(), now())
            .await
            .unwrap();

        let ours = MessageRef::MessageIdHeader(
            "0196f0c2-7d1e-7c3a-9d6e-2f4b8a1c5e90@mail.promohub.test".into(),
        );
        let summary: Vec<_> = parsed
            .events
            .iter()
            .map(|event| {
                (
                    event.event_id.as_str(),
                    event.kind.clone(),
                    event.message.clone(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("ZGVsaXZlcmVkLTE=", EventKind::Delivered, ours.clone()),
                ("b3Blbi0x", EventKind::Opened, ours.clone()),
                (
                    "Y2xpY2stMQ==",
                    EventKind::Clicked {
                        url: Some("https://promohub.test/offers/spring?utm_source=email".into())
                    },
                    ours.clone()
                ),
                (
                    "Ym91bmNlLTE=",
                    EventKind::Bounced { permanent: true },
                    MessageRef::ProviderId("VgB5b6hXQIe6fZ1_WXcFDg".into())
                ),
                (
                    "YmxvY2tlZC0x",
                    EventKind::Bounced { permanent: false },
                    ours.clone()
                ),
                (
                    "ZHJvcHBlZC0x",
                    EventKind::Bounced { permanent: true },
                    ours.clone()
                ),
                ("c3BhbS0x", EventKind::Complained, ours.clone()),
                ("dW5zdWItMQ==", EventKind::Unsubscribed, ours.clone()),
                ("Z3JvdXAtdW5zdWItMQ==", EventKind::Unsubscribed, ours),
            ]
        );
        let bounce = &parsed.events[3];
        assert_eq!(bounce.recipient.as_deref(), Some("ghost@example.com"));
        assert_eq!(
            bounce.occurred_at,
            DateTime::from_timestamp(1_767_607_150, 0).unwrap()
        );
        assert_eq!(
            bounce.detail,
            json!({
                "event": "bounce",
                "type": "bounce",
                "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
                "status": "5.1.1",
                "bounce_classification": "Invalid Address",
            })
        );
    }

    #[test]
    fn the_key_as_sendgrid_shows_it_parses() {
        // The sample key from SendGrid's "Securing your Inbound Parse webhooks".
        let shown = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEmgmjvPAR/Lmwn2teL2WJUDIx35PqsnLKjPhPbrKkfMg6vK4NZQB1VeFSKbV7whQbEJRFHjF8+1zJxsXRP1GbWw==";

        assert!(PublicKey::parse(shown).is_ok());
        assert!(PublicKey::parse(&shown[..40]).is_err());
    }

    #[tokio::test]
    async fn a_pem_key_works_too() {
        let key = new_key();
        let pem = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let verifier = WebhookVerifier::new(WebhookSettings {
            sendgrid_public_key: Some(pem),
            ..WebhookSettings::default()
        });
        let headers = signed_now(&key, EVENTS.as_bytes());

        let parsed = verifier
            .parse("sendgrid", &headers, EVENTS.as_bytes(), now())
            .await;

        assert_eq!(parsed.map(|parsed| parsed.events.len()), Ok(9));
    }

    #[tokio::test]
    async fn a_tampered_body_is_unauthorized() {
        let key = new_key();
        let headers = signed_now(&key, EVENTS.as_bytes());
        let tampered = EVENTS.replace("ghost@example.com", "someone@example.com");

        let result = verifier(&key)
            .parse("sendgrid", &headers, tampered.as_bytes(), now())
            .await;

        assert!(
            matches!(result, Err(WebhookError::Unauthorized(_))),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_signature_by_another_key_is_unauthorized() {
        let configured = new_key();
        let headers = signed_now(&new_key(), EVENTS.as_bytes());

        let result = verifier(&configured)
            .parse("sendgrid", &headers, EVENTS.as_bytes(), now())
            .await;

        assert!(
            matches!(result, Err(WebhookError::Unauthorized(_))),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_timestamp_other_than_the_signed_one_is_unauthorized() {
        let key = new_key();
        let mut headers = signed_now(&key, EVENTS.as_bytes());
        headers.insert(
            TIMESTAMP_HEADER,
            (now().timestamp() - 1).to_string().parse().unwrap(),
        );

        let result = verifier(&key)
            .parse("sendgrid", &headers, EVENTS.as_bytes(), now())
            .await;

        assert!(
            matches!(result, Err(WebhookError::Unauthorized(_))),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn each_missing_header_is_unauthorized() {
        let key = new_key();
        for missing in [SIGNATURE_HEADER, TIMESTAMP_HEADER] {
            let mut headers = signed_now(&key, EVENTS.as_bytes());
            headers.remove(missing);

            let result = verifier(&key)
                .parse("sendgrid", &headers, EVENTS.as_bytes(), now())
                .await;

            assert!(
                matches!(result, Err(WebhookError::Unauthorized(_))),
                "{missing}: {result:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_stale_timestamp_is_unauthorized() {
        let key = new_key();
        let stale = (now().timestamp() - 301).to_string();
        let headers = signed_headers(&key, &stale, EVENTS.as_bytes());

        let result = verifier(&key)
            .parse("sendgrid", &headers, EVENTS.as_bytes(), now())
            .await;

        assert!(
            matches!(result, Err(WebhookError::Unauthorized(_))),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn signed_malformed_json_is_a_bad_request() {
        let key = new_key();
        let body = br#"[{"event": "delivered", "#;
        let headers = signed_now(&key, body);

        let result = verifier(&key)
            .parse("sendgrid", &headers, body, now())
            .await;

        assert!(
            matches!(result, Err(WebhookError::BadRequest(_))),
            "{result:?}"
        );
    }
}
