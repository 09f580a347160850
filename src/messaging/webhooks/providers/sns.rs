//! Amazon SNS HTTP(S) delivery: the JSON envelope around every message
//! (<https://docs.aws.amazon.com/sns/latest/dg/http-notification-json.html>,
//! <https://docs.aws.amazon.com/sns/latest/dg/http-subscription-confirmation-json.html>)
//! and its signature
//! (<https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html>):
//! RSA PKCS#1 v1.5 over SHA-1 (`SignatureVersion` 1) or SHA-256 (2) of
//! "Key\nValue\n" lines for a fixed list of fields, signed by the
//! certificate at `SigningCertURL`.
//!
//! The certificate is trusted because of where it comes from, as the AWS
//! SDK verifiers do: an allowed URL prefix, for Amazon's an `https` URL on an
//! `sns.*.amazonaws.com` host, fetched without following redirects.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, Utc};
use reqwest::Url;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use serde::Deserialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::der::{DecodePem, Encode};

use super::{
    DEFAULT_SNS_CERT_URL_PREFIX, WebhookError, WebhookSettings, bad_request, check_fresh,
    unauthorized,
};

/// Real signing certificates are about 2 KiB; anything far bigger is not one.
const MAX_CERT_BYTES: usize = 64 * 1024;

/// A verified SNS message.
#[derive(Debug, PartialEq)]
pub(crate) enum SnsMessage {
    Notification {
        message_id: String,
        message: String,
    },
    /// The `SubscribeURL`, already checked against the allowed prefixes.
    SubscriptionConfirmation {
        subscribe_url: String,
    },
    UnsubscribeConfirmation,
}

/// Checks SNS envelopes and keeps the signing keys it has downloaded.
pub(crate) struct SnsVerifier {
    url_prefixes: Vec<String>,
    topic_arns: Vec<String>,
    tolerance: Duration,
    client: reqwest::Client,
    /// Keyed by certificate URL: SNS signs with a handful of certificates,
    /// and only URLs under the allowed prefixes get here.
    keys: Mutex<HashMap<String, RsaPublicKey>>,
}

impl SnsVerifier {
    pub(crate) fn new(settings: &WebhookSettings) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            // A redirect could leave the allowed hosts.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("the HTTP client's TLS backend initialises");
        Self {
            url_prefixes: settings.sns_cert_url_prefixes.clone(),
            topic_arns: settings.sns_topic_arns.clone(),
            tolerance: settings.tolerance,
            client,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// Authenticates an SNS POST body: topic, freshness, certificate origin
    /// and signature, cheapest checks first.
    pub(crate) async fn verify(
        &self,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<SnsMessage, WebhookError> {
        let envelope: Envelope = serde_json::from_slice(body).map_err(bad_request)?;
        let string_to_sign = envelope.string_to_sign()?;
        if !self.topic_arns.is_empty() && !self.topic_arns.contains(&envelope.topic_arn) {
            return Err(unauthorized("topic is not accepted"));
        }
        let signed_at = DateTime::parse_from_rfc3339(&envelope.timestamp)
            .map_err(|_| unauthorized("Timestamp is not RFC 3339"))?;
        check_fresh(signed_at.to_utc(), now, self.tolerance)?;
        let signature = BASE64
            .decode(&envelope.signature)
            .map_err(|_| unauthorized("Signature is not base64"))?;
        let (scheme, digest) = match envelope.signature_version.as_str() {
            "1" => (
                Pkcs1v15Sign::new::<Sha1>(),
                Sha1::digest(&string_to_sign).to_vec(),
            ),
            "2" => (
                Pkcs1v15Sign::new::<Sha256>(),
                Sha256::digest(&string_to_sign).to_vec(),
            ),
            _ => return Err(unauthorized("unsupported SignatureVersion")),
        };
        let cert_url = self
            .allowed_url(&envelope.signing_cert_url)
            .ok_or_else(|| unauthorized("SigningCertURL is not an allowed SNS URL"))?;
        let key = self.signing_key(cert_url).await?;
        key.verify(scheme, &digest, &signature)
            .map_err(|_| unauthorized("signature does not match"))?;

        match envelope.kind.as_str() {
            "Notification" => Ok(SnsMessage::Notification {
                message_id: envelope.message_id,
                message: envelope.message,
            }),
            "SubscriptionConfirmation" => {
                let url = envelope.subscribe_url.as_deref().unwrap_or_default();
                let url = self
                    .allowed_url(url)
                    .ok_or_else(|| unauthorized("SubscribeURL is not an allowed SNS URL"))?;
                Ok(SnsMessage::SubscriptionConfirmation {
                    subscribe_url: url.into(),
                })
            }
            _ => Ok(SnsMessage::UnsubscribeConfirmation),
        }
    }

    /// GETs a `SubscribeURL`, refusing any URL the prefixes do not allow.
    pub(crate) async fn confirm_subscription(
        &self,
        subscribe_url: &str,
    ) -> Result<(), WebhookError> {
        let url = self
            .allowed_url(subscribe_url)
            .ok_or_else(|| unauthorized("SubscribeURL is not an allowed SNS URL"))?;
        let response = self.client.get(url).send().await.map_err(unavailable)?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(WebhookError::Unavailable(format!(
                "subscription confirmation answered {}",
                response.status()
            )))
        }
    }

    /// The URL, normalised, when it lies under an allowed prefix.
    fn allowed_url(&self, raw: &str) -> Option<Url> {
        let url = Url::parse(raw).ok()?;
        // Credentials in a URL are never SNS's, and could dress another host
        // up as an allowed prefix ("https://sns.x@elsewhere/").
        if !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        // Matching the parsed form, not the raw text, means the host checked
        // is the host fetched, whatever escapes or backslashes the raw had.
        let allowed = self.url_prefixes.iter().any(|prefix| {
            url.as_str().starts_with(prefix.as_str())
                && (prefix != DEFAULT_SNS_CERT_URL_PREFIX || is_amazon_sns(&url))
        });
        allowed.then_some(url)
    }

    async fn signing_key(&self, url: Url) -> Result<RsaPublicKey, WebhookError> {
        if let Some(key) = self.cached_keys().get(url.as_str()) {
            return Ok(key.clone());
        }
        // Two first requests may both download; the second insert is harmless.
        let key = self.download_key(url.clone()).await?;
        self.cached_keys().insert(url.into(), key.clone());
        Ok(key)
    }

    fn cached_keys(&self) -> std::sync::MutexGuard<'_, HashMap<String, RsaPublicKey>> {
        // A panic elsewhere cannot leave the map half-written: use it anyway.
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn download_key(&self, url: Url) -> Result<RsaPublicKey, WebhookError> {
        let mut response = self.client.get(url).send().await.map_err(unavailable)?;
        let status = response.status();
        if status.is_server_error() {
            return Err(WebhookError::Unavailable(format!(
                "certificate download answered {status}"
            )));
        }
        if !status.is_success() {
            return Err(unauthorized(format!(
                "certificate download answered {status}"
            )));
        }
        let mut pem = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
            pem.extend_from_slice(&chunk);
            if pem.len() > MAX_CERT_BYTES {
                return Err(unauthorized("signing certificate is too large"));
            }
        }
        public_key(&pem)
            .ok_or_else(|| unauthorized("signing certificate is not a PEM RSA certificate"))
    }
}

/// Amazon's own SNS endpoints, e.g. `https://sns.us-east-1.amazonaws.com/`.
fn is_amazon_sns(url: &Url) -> bool {
    url.scheme() == "https"
        && url
            .host_str()
            .is_some_and(|host| host.starts_with("sns.") && host.ends_with(".amazonaws.com"))
}

fn public_key(pem: &[u8]) -> Option<RsaPublicKey> {
    let certificate = Certificate::from_pem(pem).ok()?;
    let spki = certificate
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .ok()?;
    RsaPublicKey::from_public_key_der(&spki).ok()
}

fn unavailable(error: reqwest::Error) -> WebhookError {
    WebhookError::Unavailable(format!("SNS request failed: {error}"))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope {
    #[serde(rename = "Type")]
    kind: String,
    message_id: String,
    topic_arn: String,
    subject: Option<String>,
    message: String,
    /// Kept as sent: the signature covers this exact text.
    timestamp: String,
    signature_version: String,
    signature: String,
    #[serde(rename = "SigningCertURL")]
    signing_cert_url: String,
    #[serde(rename = "SubscribeURL")]
    subscribe_url: Option<String>,
    token: Option<String>,
}

impl Envelope {
    /// The documented fields in byte order of their names, each as
    /// "Name\nvalue\n". Notifications sign `Subject` when present;
    /// confirmations sign `SubscribeURL` and `Token` instead.
    fn string_to_sign(&self) -> Result<String, WebhookError> {
        let required = |name: &str, value: &Option<String>| {
            value
                .clone()
                .ok_or_else(|| bad_request(format!("{} lacks {name}", self.kind)))
        };
        let mut fields = vec![
            ("Message", self.message.clone()),
            ("MessageId", self.message_id.clone()),
        ];
        match self.kind.as_str() {
            "Notification" => {
                fields.extend(self.subject.clone().map(|subject| ("Subject", subject)))
            }
            "SubscriptionConfirmation" | "UnsubscribeConfirmation" => {
                fields.push((
                    "SubscribeURL",
                    required("SubscribeURL", &self.subscribe_url)?,
                ));
            }
            other => return Err(bad_request(format!("unknown SNS message type \"{other}\""))),
        }
        fields.push(("Timestamp", self.timestamp.clone()));
        if self.kind != "Notification" {
            fields.push(("Token", required("Token", &self.token)?));
        }
        fields.push(("TopicArn", self.topic_arn.clone()));
        fields.push(("Type", self.kind.clone()));
        Ok(fields
            .into_iter()
            .map(|(name, value)| format!("{name}\n{value}\n"))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
    use chrono::TimeDelta;
    use rsa::RsaPrivateKey;
    use serde_json::Value;

    use super::*;
    use crate::messaging::webhooks::providers::sns_fixtures::*;
    use crate::messaging::webhooks::providers::{Parsed, WebhookError, WebhookVerifier};

    fn verifier(prefixes: &[&str]) -> SnsVerifier {
        SnsVerifier::new(&WebhookSettings {
            sns_cert_url_prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
            ..WebhookSettings::default()
        })
    }

    #[test]
    fn amazon_certificate_urls_are_allowed_by_default() {
        let sns = verifier(&[DEFAULT_SNS_CERT_URL_PREFIX]);

        for url in [
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
            "https://sns.eu-west-3.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:eu-west-3:123456789012:ses&Token=abc",
        ] {
            assert!(sns.allowed_url(url).is_some(), "{url}");
        }
    }

    #[test]
    fn look_alike_certificate_urls_are_refused() {
        let sns = verifier(&[DEFAULT_SNS_CERT_URL_PREFIX]);

        for url in [
            "http://sns.us-east-1.amazonaws.com/cert.pem",
            "https://sns.us-east-1.amazonaws.com.attacker.example/cert.pem",
            "https://sns.attacker.example/cert.pem",
            "https://sns.x@attacker.example/cert.pem",
            "https://sns.us-east-1.amazonaws.com@attacker.example/cert.pem",
            "https://attacker.example/https://sns.us-east-1.amazonaws.com/cert.pem",
            "https://s3.amazonaws.com/cert.pem",
            "not a url",
        ] {
            assert!(sns.allowed_url(url).is_none(), "{url}");
        }
    }

    #[test]
    fn a_configured_prefix_allows_only_what_it_starts() {
        let sns = verifier(&["http://127.0.0.1:8025/certs/"]);

        assert!(
            sns.allowed_url("http://127.0.0.1:8025/certs/sns.pem")
                .is_some()
        );
        assert!(
            sns.allowed_url("http://127.0.0.1:8025/other/sns.pem")
                .is_none()
        );
        assert!(
            sns.allowed_url("http://127.0.0.1:8025/certs/../other/sns.pem")
                .is_none()
        );
        assert!(
            sns.allowed_url("https://sns.us-east-1.amazonaws.com/cert.pem")
                .is_none(),
            "Amazon is not allowed unless listed"
        );
    }

    #[tokio::test]
    async fn signature_version_1_verifies_too() {
        let server = CertServer::start().await;
        let mut envelope = notification(BOUNCE, &server.cert_url());
        envelope["SignatureVersion"] = "1".into();

        let parsed = parse_ses(&server.verifier(), &sign(envelope))
            .await
            .unwrap();

        assert_eq!(parsed.events.len(), 2);
    }

    #[tokio::test]
    async fn the_certificate_is_downloaded_once() {
        let server = CertServer::start().await;
        let verifier = server.verifier();

        for _ in 0..3 {
            parse_ses(&verifier, &sign(notification(BOUNCE, &server.cert_url())))
                .await
                .unwrap();
        }

        assert_eq!(server.downloads(), 1);
    }

    #[tokio::test]
    async fn a_certificate_outside_the_allowed_prefixes_is_never_downloaded() {
        let server = CertServer::start().await;
        let elsewhere = server.cert_url().replace("/sns/", "/elsewhere/");
        let body = sign(notification(BOUNCE, &elsewhere));

        let result = parse_ses(&server.verifier(), &body).await;

        assert_unauthorized(result);
        assert_eq!(server.downloads(), 0);
    }

    #[tokio::test]
    async fn a_subscription_confirmation_returns_the_url_to_visit() {
        let server = CertServer::start().await;
        let subscribe_url = format!(
            "{}?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f",
            server.prefix
        );
        let body = sign(subscription_confirmation(
            &subscribe_url,
            &server.cert_url(),
        ));

        let parsed = parse_ses(&server.verifier(), &body).await.unwrap();

        assert_eq!(
            parsed,
            Parsed {
                events: Vec::new(),
                confirm_subscription: Some(subscribe_url),
            }
        );
    }

    #[tokio::test]
    async fn confirming_a_subscription_visits_the_url() {
        let server = CertServer::start().await;
        let subscribe_url = format!(
            "{}?Action=ConfirmSubscription&Token=2336412f",
            server.prefix
        );

        server
            .verifier()
            .confirm_subscription(&subscribe_url)
            .await
            .unwrap();

        assert_eq!(server.downloads(), 1);
    }

    #[tokio::test]
    async fn an_unreachable_certificate_host_is_a_retryable_failure() {
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let prefix = format!("http://{}/sns/", closed.local_addr().unwrap());
        drop(closed);
        let verifier = WebhookVerifier::new(WebhookSettings {
            sns_cert_url_prefixes: vec![prefix.clone()],
            ..WebhookSettings::default()
        });
        let body = sign(notification(BOUNCE, &format!("{prefix}cert.pem")));

        let result = parse_ses(&verifier, &body).await;

        assert!(
            matches!(result, Err(WebhookError::Unavailable(_))),
            "{result:?}"
        );
        assert_eq!(
            result.unwrap_err().status(),
            http::StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[tokio::test]
    async fn a_subscribe_url_outside_the_allowed_prefixes_is_refused() {
        let server = CertServer::start().await;
        let body = sign(subscription_confirmation(
            "https://attacker.example/confirm",
            &server.cert_url(),
        ));

        assert_unauthorized(parse_ses(&server.verifier(), &body).await);
    }

    #[tokio::test]
    async fn a_tampered_message_is_unauthorized() {
        let server = CertServer::start().await;
        let body = sign(notification(BOUNCE, &server.cert_url()));
        let tampered = String::from_utf8(body)
            .unwrap()
            .replace("richard@example.com", "rick@example.com");

        assert_unauthorized(parse_ses(&server.verifier(), tampered.as_bytes()).await);
    }

    #[tokio::test]
    async fn a_signature_by_another_key_is_unauthorized() {
        let server = CertServer::start().await;
        let mut envelope: Value =
            serde_json::from_slice(&sign(notification(BOUNCE, &server.cert_url()))).unwrap();
        let other_key = RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
        let forged = other_key.sign(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(string_to_sign(&envelope)),
        );
        envelope["Signature"] = BASE64.encode(forged.unwrap()).into();

        assert_unauthorized(parse_ses(&server.verifier(), envelope.to_string().as_bytes()).await);
    }

    #[tokio::test]
    async fn a_missing_signature_is_unauthorized_and_an_unknown_version_too() {
        let server = CertServer::start().await;
        let signed: Value =
            serde_json::from_slice(&sign(notification(BOUNCE, &server.cert_url()))).unwrap();
        let mut unsigned = signed.clone();
        unsigned["Signature"] = "".into();
        let mut version_3 = signed;
        version_3["SignatureVersion"] = "3".into();

        for envelope in [unsigned, version_3] {
            assert_unauthorized(
                parse_ses(&server.verifier(), envelope.to_string().as_bytes()).await,
            );
        }
    }

    #[tokio::test]
    async fn a_replay_outside_the_tolerance_is_unauthorized() {
        let server = CertServer::start().await;
        let mut envelope = notification(BOUNCE, &server.cert_url());
        envelope["Timestamp"] = sns_timestamp(now() - TimeDelta::seconds(301)).into();

        assert_unauthorized(parse_ses(&server.verifier(), &sign(envelope)).await);
    }

    #[tokio::test]
    async fn another_topic_is_unauthorized() {
        let server = CertServer::start().await;
        let mut envelope = notification(BOUNCE, &server.cert_url());
        envelope["TopicArn"] = "arn:aws:sns:us-east-1:999999999999:someone-else".into();

        assert_unauthorized(parse_ses(&server.verifier(), &sign(envelope)).await);
    }

    #[tokio::test]
    async fn an_envelope_that_is_not_json_is_a_bad_request() {
        let server = CertServer::start().await;

        let result = parse_ses(&server.verifier(), b"Type=Notification").await;

        assert!(
            matches!(result, Err(WebhookError::BadRequest(_))),
            "{result:?}"
        );
    }
}
