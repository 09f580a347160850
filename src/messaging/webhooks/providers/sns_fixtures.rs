//! Test support for SNS-delivered webhooks: the fixture signing key and
//! certificate, envelopes signed the documented way, and a local server that
//! hands out the certificate and counts downloads.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, TimeDelta, Utc};
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use serde_json::{Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::{Parsed, WebhookError, WebhookSettings, WebhookVerifier};

pub(crate) const KEY_PEM: &str =
    include_str!("../../../../tests/fixtures/webhooks/sns-signing-key.pem");
pub(crate) const CERT_PEM: &str =
    include_str!("../../../../tests/fixtures/webhooks/sns-signing-cert.pem");
/// A classic SES bounce notification for two recipients.
pub(crate) const BOUNCE: &str =
    include_str!("../../../../tests/fixtures/webhooks/ses-bounce-notification.json");
pub(crate) const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:promohub-ses";

/// Serves the fixture certificate on every path and counts requests, so
/// a test can tell whether anything was downloaded.
pub(crate) struct CertServer {
    pub(crate) prefix: String,
    downloads: Arc<AtomicUsize>,
}

impl CertServer {
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let downloads = Arc::new(AtomicUsize::new(0));
        let counter = downloads.clone();
        let app = axum::Router::new().fallback(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { CERT_PEM }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            prefix: format!("http://{address}/sns/"),
            downloads,
        }
    }

    pub(crate) fn cert_url(&self) -> String {
        format!("{}SimpleNotificationService-test.pem", self.prefix)
    }

    pub(crate) fn verifier(&self) -> WebhookVerifier {
        WebhookVerifier::new(WebhookSettings {
            sns_cert_url_prefixes: vec![self.prefix.clone()],
            sns_topic_arns: vec![TOPIC.into()],
            ..WebhookSettings::default()
        })
    }

    pub(crate) fn downloads(&self) -> usize {
        self.downloads.load(Ordering::SeqCst)
    }
}

pub(crate) fn now() -> DateTime<Utc> {
    "2026-01-05T10:00:00Z".parse().unwrap()
}

pub(crate) fn sns_timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// An SNS notification envelope, unsigned.
pub(crate) fn notification(message: &str, cert_url: &str) -> Value {
    json!({
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Subject": "Amazon SES Email Event Notification",
        "Message": message,
        "Timestamp": sns_timestamp(now() - TimeDelta::seconds(5)),
        "SignatureVersion": "2",
        "SigningCertURL": cert_url,
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x",
    })
}

pub(crate) fn subscription_confirmation(subscribe_url: &str, cert_url: &str) -> Value {
    json!({
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736",
        "TopicArn": TOPIC,
        "Message": format!("You have chosen to subscribe to the topic {TOPIC}.\nTo confirm the subscription, visit the SubscribeURL included in this message."),
        "SubscribeURL": subscribe_url,
        "Timestamp": sns_timestamp(now() - TimeDelta::seconds(5)),
        "SignatureVersion": "1",
        "SigningCertURL": cert_url,
    })
}

/// The test's own reading of the documented string to sign, independent
/// of the code under test.
pub(crate) fn string_to_sign(envelope: &Value) -> String {
    let names: &[&str] = if envelope["Type"] == "Notification" {
        &[
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ]
    } else {
        &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ]
    };
    names
        .iter()
        .filter_map(|name| Some(format!("{name}\n{}\n", envelope[*name].as_str()?)))
        .collect()
}

pub(crate) fn sign(mut envelope: Value) -> Vec<u8> {
    let key = RsaPrivateKey::from_pkcs8_pem(KEY_PEM).unwrap();
    let text = string_to_sign(&envelope);
    let signature = match envelope["SignatureVersion"].as_str().unwrap() {
        "1" => key.sign(Pkcs1v15Sign::new::<Sha1>(), &Sha1::digest(&text)),
        _ => key.sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(&text)),
    };
    envelope["Signature"] = BASE64.encode(signature.unwrap()).into();
    envelope.to_string().into_bytes()
}

pub(crate) async fn parse_ses(
    verifier: &WebhookVerifier,
    body: &[u8],
) -> Result<Parsed, WebhookError> {
    verifier
        .parse("ses", &http::HeaderMap::new(), body, now())
        .await
}

pub(crate) fn assert_unauthorized(result: Result<Parsed, WebhookError>) {
    assert!(
        matches!(result, Err(WebhookError::Unauthorized(_))),
        "{result:?}"
    );
}
