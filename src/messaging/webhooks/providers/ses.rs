//! Amazon SES notifications, delivered by SNS (see [`super::sns`] for the
//! envelope and its signature). The SNS `Message` is SES's JSON in one of:
//!
//! - notifications, `notificationType` Bounce/Complaint/Delivery
//!   (<https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html>);
//! - event publishing, `eventType` Bounce/Complaint/Delivery/Open/Click/
//!   Subscription/… (<https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html>);
//! - receipt rules' SNS action, `notificationType` Received
//!   (<https://docs.aws.amazon.com/ses/latest/dg/receiving-email-notifications-contents.html>),
//!   which is how replies to our mail arrive.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::mail_headers::{bare_address, first_message_id, reply_target};
use super::sns::{SnsMessage, SnsVerifier};
use super::{EventKind, MessageRef, Parsed, ProviderEvent, WebhookError, bad_request, detail};

pub(crate) const PROVIDER: &str = "ses";

pub(crate) async fn parse(
    sns: &SnsVerifier,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Parsed, WebhookError> {
    match sns.verify(body, now).await? {
        SnsMessage::SubscriptionConfirmation { subscribe_url } => Ok(Parsed {
            events: Vec::new(),
            confirm_subscription: Some(subscribe_url),
        }),
        SnsMessage::UnsubscribeConfirmation => Ok(Parsed::default()),
        SnsMessage::Notification {
            message_id,
            message,
        } => {
            let notification: Notification = serde_json::from_str(&message).map_err(bad_request)?;
            let events = notification.into_events()?;
            // One notification may report several recipients; SNS retries
            // keep its MessageId, so id + position is stable and unique.
            let several = events.len() > 1;
            let events = events
                .into_iter()
                .enumerate()
                .map(|(index, partial)| partial.into_event(&message_id, several.then_some(index)))
                .collect();
            Ok(Parsed {
                events,
                confirm_subscription: None,
            })
        }
    }
}

/// An event before it gets its id.
struct PartialEvent {
    kind: EventKind,
    message: MessageRef,
    recipient: Option<String>,
    occurred_at: DateTime<Utc>,
    detail: Value,
}

impl PartialEvent {
    fn into_event(self, sns_message_id: &str, index: Option<usize>) -> ProviderEvent {
        ProviderEvent {
            provider: PROVIDER,
            event_id: match index {
                Some(index) => format!("{sns_message_id}:{index}"),
                None => sns_message_id.to_owned(),
            },
            kind: self.kind,
            message: self.message,
            recipient: self.recipient,
            occurred_at: self.occurred_at,
            detail: self.detail,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    notification_type: Option<String>,
    event_type: Option<String>,
    /// Absent from SES's setup test message (`AmazonSnsSubscriptionSucceeded`).
    mail: Option<Mail>,
    bounce: Option<Bounce>,
    complaint: Option<Complaint>,
    delivery: Option<Delivery>,
    open: Option<Open>,
    click: Option<Click>,
    subscription: Option<Subscription>,
    receipt: Option<Receipt>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Mail {
    timestamp: DateTime<Utc>,
    /// SES's id, returned by its send API.
    message_id: String,
    #[serde(default)]
    destination: Vec<String>,
    source: Option<String>,
    /// The original headers as we sent them (or, for Received, as they
    /// arrived); SES rewrites some on the way out.
    #[serde(default)]
    headers: Vec<Header>,
    common_headers: Option<CommonHeaders>,
}

#[derive(Deserialize)]
struct Header {
    name: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommonHeaders {
    message_id: Option<String>,
    #[serde(default)]
    from: Vec<String>,
    subject: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: String,
    bounce_sub_type: Option<String>,
    bounced_recipients: Vec<BouncedRecipient>,
    timestamp: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BouncedRecipient {
    email_address: String,
    action: Option<String>,
    status: Option<String>,
    diagnostic_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    complained_recipients: Vec<Recipient>,
    timestamp: Option<DateTime<Utc>>,
    complaint_feedback_type: Option<String>,
    complaint_sub_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Delivery {
    recipients: Vec<String>,
    timestamp: Option<DateTime<Utc>>,
    smtp_response: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Open {
    timestamp: Option<DateTime<Utc>>,
    user_agent: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Click {
    timestamp: Option<DateTime<Utc>>,
    link: Option<String>,
    link_tags: Option<Value>,
    user_agent: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Subscription {
    timestamp: Option<DateTime<Utc>>,
    contact_list: Option<String>,
    new_topic_preferences: Option<TopicPreferences>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TopicPreferences {
    #[serde(default)]
    unsubscribe_all: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Receipt {
    timestamp: Option<DateTime<Utc>>,
    spam_verdict: Option<Verdict>,
    virus_verdict: Option<Verdict>,
}

#[derive(Deserialize)]
struct Verdict {
    status: String,
}

impl Notification {
    fn into_events(self) -> Result<Vec<PartialEvent>, WebhookError> {
        let kind = self
            .event_type
            .or(self.notification_type)
            .ok_or_else(|| bad_request("neither eventType nor notificationType"))?;
        // Send, Reject, Rendering Failure, DeliveryDelay and SES's setup test
        // message change nothing PromoHub records.
        const RECORDED: [&str; 7] = [
            "Bounce",
            "Complaint",
            "Delivery",
            "Open",
            "Click",
            "Subscription",
            "Received",
        ];
        if !RECORDED.contains(&kind.as_str()) {
            return Ok(Vec::new());
        }
        let mail = required(self.mail, &kind, "mail")?;
        Ok(match kind.as_str() {
            "Bounce" => bounces(&mail, required(self.bounce, &kind, "bounce")?),
            "Complaint" => complaints(&mail, required(self.complaint, &kind, "complaint")?),
            "Delivery" => deliveries(&mail, required(self.delivery, &kind, "delivery")?),
            "Open" => vec![opened(&mail, required(self.open, &kind, "open")?)],
            "Click" => vec![clicked(&mail, required(self.click, &kind, "click")?)],
            "Subscription" => {
                let subscription = required(self.subscription, &kind, "subscription")?;
                unsubscribed(&mail, subscription).into_iter().collect()
            }
            _ => replied(&mail, self.receipt.as_ref()).into_iter().collect(),
        })
    }
}

fn required<T>(object: Option<T>, kind: &str, name: &str) -> Result<T, WebhookError> {
    object.ok_or_else(|| bad_request(format!("{kind} without {name}")))
}

fn bounces(mail: &Mail, bounce: Bounce) -> Vec<PartialEvent> {
    let permanent = bounce.bounce_type == "Permanent";
    bounce
        .bounced_recipients
        .into_iter()
        .map(|recipient| PartialEvent {
            kind: EventKind::Bounced { permanent },
            message: sent_message(mail),
            recipient: Some(recipient.email_address),
            occurred_at: bounce.timestamp.unwrap_or(mail.timestamp),
            detail: detail([
                ("bounce_type", Some(bounce.bounce_type.clone().into())),
                (
                    "bounce_sub_type",
                    bounce.bounce_sub_type.clone().map(Into::into),
                ),
                ("action", recipient.action.map(Into::into)),
                ("status", recipient.status.map(Into::into)),
                ("diagnostic_code", recipient.diagnostic_code.map(Into::into)),
            ]),
        })
        .collect()
}

fn complaints(mail: &Mail, complaint: Complaint) -> Vec<PartialEvent> {
    complaint
        .complained_recipients
        .into_iter()
        .map(|recipient| PartialEvent {
            kind: EventKind::Complained,
            message: sent_message(mail),
            recipient: Some(recipient.email_address),
            occurred_at: complaint.timestamp.unwrap_or(mail.timestamp),
            detail: detail([
                (
                    "complaint_feedback_type",
                    complaint.complaint_feedback_type.clone().map(Into::into),
                ),
                (
                    "complaint_sub_type",
                    complaint.complaint_sub_type.clone().map(Into::into),
                ),
            ]),
        })
        .collect()
}

fn deliveries(mail: &Mail, delivery: Delivery) -> Vec<PartialEvent> {
    delivery
        .recipients
        .into_iter()
        .map(|recipient| PartialEvent {
            kind: EventKind::Delivered,
            message: sent_message(mail),
            recipient: Some(recipient),
            occurred_at: delivery.timestamp.unwrap_or(mail.timestamp),
            detail: detail([(
                "smtp_response",
                delivery.smtp_response.clone().map(Into::into),
            )]),
        })
        .collect()
}

fn opened(mail: &Mail, open: Open) -> PartialEvent {
    PartialEvent {
        kind: EventKind::Opened,
        message: sent_message(mail),
        recipient: sole_recipient(mail),
        occurred_at: open.timestamp.unwrap_or(mail.timestamp),
        detail: detail([("user_agent", open.user_agent.map(Into::into))]),
    }
}

fn clicked(mail: &Mail, click: Click) -> PartialEvent {
    PartialEvent {
        kind: EventKind::Clicked {
            url: click.link.clone(),
        },
        message: sent_message(mail),
        recipient: sole_recipient(mail),
        occurred_at: click.timestamp.unwrap_or(mail.timestamp),
        detail: detail([
            ("link_tags", click.link_tags),
            ("user_agent", click.user_agent.map(Into::into)),
        ]),
    }
}

/// Only "unsubscribe from everything" counts: per-topic preferences in an SES
/// contact list have no PromoHub counterpart.
fn unsubscribed(mail: &Mail, subscription: Subscription) -> Option<PartialEvent> {
    let from_all = subscription
        .new_topic_preferences
        .is_some_and(|preferences| preferences.unsubscribe_all);
    from_all.then(|| PartialEvent {
        kind: EventKind::Unsubscribed,
        message: sent_message(mail),
        recipient: sole_recipient(mail),
        occurred_at: subscription.timestamp.unwrap_or(mail.timestamp),
        detail: detail([("contact_list", subscription.contact_list.map(Into::into))]),
    })
}

/// An inbound mail is a reply when it names the message it answers; other
/// inbound mail is not PromoHub's business.
fn replied(mail: &Mail, receipt: Option<&Receipt>) -> Option<PartialEvent> {
    let answered = reply_target(
        original_header(mail, "In-Reply-To"),
        original_header(mail, "References"),
    )?;
    let common = mail.common_headers.as_ref();
    let from = common
        .and_then(|headers| headers.from.first().cloned())
        .or_else(|| original_header(mail, "From").map(str::to_owned));
    let verdict = |verdict: Option<&Verdict>| verdict.map(|v| Value::from(v.status.clone()));
    let subject = common.and_then(|headers| headers.subject.clone());
    // An out-of-office is not a reply, whichever way it arrives.
    let automatic = crate::messaging::inbound_mail::automatic_reply(
        |name| original_header(mail, name).map(str::to_owned),
        subject.as_deref(),
    );
    Some(PartialEvent {
        kind: if automatic.is_some() {
            EventKind::AutoReplied
        } else {
            EventKind::Replied
        },
        message: MessageRef::MessageIdHeader(answered),
        recipient: from
            .as_deref()
            .and_then(bare_address)
            .or_else(|| mail.source.clone()),
        occurred_at: receipt.and_then(|r| r.timestamp).unwrap_or(mail.timestamp),
        detail: detail([
            ("from", from.map(Into::into)),
            ("subject", subject.map(Into::into)),
            ("automatic", automatic.map(Into::into)),
            (
                "spam_verdict",
                verdict(receipt.and_then(|r| r.spam_verdict.as_ref())),
            ),
            (
                "virus_verdict",
                verdict(receipt.and_then(|r| r.virus_verdict.as_ref())),
            ),
        ]),
    })
}

/// Our Message-ID when the notification carries it, else SES's id. SES fills
/// `commonHeaders.messageId` with its own id when the mail had none, and its
/// outgoing Message-ID is `<ses-id@…amazonses.com>`: both mean "not ours".
fn sent_message(mail: &Mail) -> MessageRef {
    let common = mail
        .common_headers
        .as_ref()
        .and_then(|headers| headers.message_id.as_deref());
    [common, original_header(mail, "Message-ID")]
        .into_iter()
        .flatten()
        .filter_map(first_message_id)
        .find(|id| !is_ses_id(id, &mail.message_id))
        .map_or_else(
            || MessageRef::ProviderId(mail.message_id.clone()),
            MessageRef::MessageIdHeader,
        )
}

fn is_ses_id(header_id: &str, ses_id: &str) -> bool {
    header_id == ses_id
        || header_id
            .strip_prefix(ses_id)
            .is_some_and(|rest| rest.starts_with('@'))
}

/// Open, click and unsubscribe name no recipient; with a single destination
/// there is no doubt who it was.
fn sole_recipient(mail: &Mail) -> Option<String> {
    match mail.destination.as_slice() {
        [only] => bare_address(only),
        _ => None,
    }
}

fn original_header<'a>(mail: &'a Mail, name: &str) -> Option<&'a str> {
    mail.headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case(name))
        .map(|header| header.value.as_str())
        .filter(|value| !value.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::messaging::webhooks::providers::sns_fixtures::*;

    const COMPLAINT: &str =
        include_str!("../../../../tests/fixtures/webhooks/ses-complaint-event.json");
    const CLICK: &str = include_str!("../../../../tests/fixtures/webhooks/ses-click-event.json");
    const RECEIVED: &str =
        include_str!("../../../../tests/fixtures/webhooks/ses-received-notification.json");
    const OUR_ID: &str = "0196f0c2-7d1e-7c3a-9d6e-2f4b8a1c5e90@mail.promohub.test";

    #[tokio::test]
    async fn a_multi_recipient_bounce_gives_one_event_per_recipient() {
        let server = CertServer::start().await;
        let body = sign(notification(BOUNCE, &server.cert_url()));

        let parsed = parse_ses(&server.verifier(), &body).await.unwrap();

        assert_eq!(parsed.confirm_subscription, None);
        let summary: Vec<_> = parsed
            .events
            .iter()
            .map(|event| (event.event_id.as_str(), event.recipient.as_deref()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324:0",
                    Some("jane@example.com")
                ),
                (
                    "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324:1",
                    Some("richard@example.com")
                ),
            ]
        );
        let first = &parsed.events[0];
        assert_eq!(first.provider, "ses");
        assert_eq!(first.kind, EventKind::Bounced { permanent: true });
        assert_eq!(first.message, MessageRef::MessageIdHeader(OUR_ID.into()));
        assert_eq!(
            first.occurred_at,
            "2026-01-05T09:59:50.237Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            first.detail,
            json!({
                "bounce_type": "Permanent",
                "bounce_sub_type": "General",
                "action": "failed",
                "status": "5.1.1",
                "diagnostic_code": "smtp; 550 5.1.1 <jane@example.com>... User unknown",
            })
        );
    }

    #[tokio::test]
    async fn a_signed_message_that_is_not_ses_json_is_a_bad_request() {
        let server = CertServer::start().await;
        let body = sign(notification("{\"notificationType\": ", &server.cert_url()));

        let result = parse_ses(&server.verifier(), &body).await;

        assert!(
            matches!(result, Err(WebhookError::BadRequest(_))),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_published_complaint_names_the_ses_id_when_the_mail_had_no_message_id() {
        let server = CertServer::start().await;

        let parsed = parse_ses(
            &server.verifier(),
            &sign(notification(COMPLAINT, &server.cert_url())),
        )
        .await
        .unwrap();

        assert_eq!(
            parsed.events,
            vec![ProviderEvent {
                provider: "ses",
                event_id: "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324".into(),
                kind: EventKind::Complained,
                message: MessageRef::ProviderId(
                    "0100019b8d5b4c3f-2f3e1a7c-5d9b-4a0e-9c41-7b2e8f6d1a30-000000".into()
                ),
                recipient: Some("recipient@example.com".into()),
                occurred_at: "2026-01-05T09:58:30.000Z".parse().unwrap(),
                detail: json!({"complaint_feedback_type": "abuse"}),
            }]
        );
    }

    #[tokio::test]
    async fn a_published_click_carries_its_link() {
        let server = CertServer::start().await;

        let parsed = parse_ses(
            &server.verifier(),
            &sign(notification(CLICK, &server.cert_url())),
        )
        .await
        .unwrap();

        let click = &parsed.events[0];
        assert_eq!(
            click.kind,
            EventKind::Clicked {
                url: Some("https://promohub.test/offers/spring".into())
            }
        );
        assert_eq!(click.message, MessageRef::MessageIdHeader(OUR_ID.into()));
        assert_eq!(click.recipient.as_deref(), Some("recipient@example.com"));
    }

    #[tokio::test]
    async fn a_received_reply_answers_the_message_in_in_reply_to() {
        let server = CertServer::start().await;

        let parsed = parse_ses(
            &server.verifier(),
            &sign(notification(RECEIVED, &server.cert_url())),
        )
        .await
        .unwrap();

        assert_eq!(
            parsed.events,
            vec![ProviderEvent {
                provider: "ses",
                event_id: "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324".into(),
                kind: EventKind::Replied,
                message: MessageRef::MessageIdHeader(OUR_ID.into()),
                recipient: Some("jane@example.com".into()),
                occurred_at: "2026-01-05T09:59:52.103Z".parse().unwrap(),
                detail: json!({
                    "from": "Jane Doe <jane@example.com>",
                    "subject": "Re: Spring offers",
                    "spam_verdict": "PASS",
                    "virus_verdict": "PASS",
                }),
            }]
        );
    }

    #[tokio::test]
    async fn ses_setup_and_send_messages_give_no_events() {
        let server = CertServer::start().await;
        let send = BOUNCE.replace(
            "\"notificationType\": \"Bounce\"",
            "\"eventType\": \"Send\"",
        );

        for message in [
            r#"{"notificationType": "AmazonSnsSubscriptionSucceeded", "message": "ok"}"#,
            &send,
        ] {
            let parsed = parse_ses(
                &server.verifier(),
                &sign(notification(message, &server.cert_url())),
            )
            .await
            .unwrap();

            assert_eq!(parsed, Parsed::default(), "{message}");
        }
    }
}
