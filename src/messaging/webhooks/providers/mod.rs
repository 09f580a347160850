//! Email provider webhooks, parsed and authenticated: what the server's
//! `POST /webhooks/email/{provider}` hands over (provider name, headers, raw
//! body) becomes a list of [`ProviderEvent`]s, or an error whose status code
//! is the answer to send back.
//!
//! Nothing here touches the database: matching events to stored messages,
//! de-duplicating by `event_id` and acknowledging belong to the caller.
//! Every provider refuses input it cannot authenticate, including when its
//! secret is not configured.

pub(crate) mod mail_headers;
mod sendgrid;
mod sendgrid_inbound;
mod ses;
mod sns;
#[cfg(test)]
mod sns_fixtures;
mod standard;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use http::{HeaderMap, StatusCode};

/// What happened to a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    Delivered,
    /// `permanent`: the address will not accept mail (a hard bounce).
    Bounced {
        permanent: bool,
    },
    /// The recipient reported the message as spam.
    Complained,
    /// The recipient answered; the event's message is the one answered.
    Replied,
    /// A machine answered for the recipient (an out-of-office): recorded,
    /// but not a reply (`crate::messaging::inbound_mail`).
    AutoReplied,
    Opened,
    Clicked {
        url: Option<String>,
    },
    Unsubscribed,
}

/// How an event names the message it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageRef {
    /// PromoHub's own RFC 5322 Message-ID, without angle brackets.
    MessageIdHeader(String),
    /// The provider's id for the message, when our Message-ID is not given.
    ProviderId(String),
}

/// One event reported by a provider.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderEvent {
    /// The provider name from the URL (`ses`, `sendgrid`, …).
    pub provider: &'static str,
    /// Unique per provider; a provider's retry of the same event carries the
    /// same id, so recording it once makes retries harmless.
    pub event_id: String,
    pub kind: EventKind,
    pub message: MessageRef,
    /// The address concerned, when the provider says.
    pub recipient: Option<String>,
    pub occurred_at: DateTime<Utc>,
    /// Provider details for display: reason, diagnostic code, bounce subtype…
    pub detail: serde_json::Value,
}

/// The outcome of one authenticated webhook request.
#[derive(Debug, Default, PartialEq)]
pub struct Parsed {
    pub events: Vec<ProviderEvent>,
    /// An SNS `SubscribeURL` to GET so the subscription starts; already
    /// checked against the allowed prefixes. See
    /// [`WebhookVerifier::confirm_subscription`].
    pub confirm_subscription: Option<String>,
}

/// Why a webhook request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("unknown webhook provider: use ses, sendgrid, sendgrid-inbound or standard")]
    UnknownProvider,
    /// Bad, missing or stale signature or credentials, or the provider is
    /// not configured.
    #[error("unauthorized webhook: {0}")]
    Unauthorized(String),
    /// Authenticated but not in the provider's documented format.
    #[error("malformed webhook: {0}")]
    BadRequest(String),
    /// A transient failure on our side (the SNS signing certificate could
    /// not be fetched): answered 503 because SNS retries 5xx but treats 4xx
    /// as final, which would lose the event.
    #[error("webhook verification unavailable: {0}")]
    Unavailable(String),
}

impl WebhookError {
    /// The HTTP status to answer the provider with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::UnknownProvider => StatusCode::NOT_FOUND,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable code of the error body (`http::refusal`), in the API's
    /// `SCREAMING_SNAKE` style.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownProvider => "NOT_FOUND",
            Self::Unauthorized(_) => "UNAUTHENTICATED",
            Self::BadRequest(_) => "BAD_REQUEST",
            Self::Unavailable(_) => "UNAVAILABLE",
        }
    }
}

pub(crate) fn unauthorized(why: impl Into<String>) -> WebhookError {
    WebhookError::Unauthorized(why.into())
}

pub(crate) fn bad_request(why: impl std::fmt::Display) -> WebhookError {
    WebhookError::BadRequest(why.to_string())
}

/// The SNS signing certificate prefix used unless configured otherwise. URLs
/// under it must also be `https` on an `sns.*.amazonaws.com` host.
pub(crate) const DEFAULT_SNS_CERT_URL_PREFIX: &str = "https://sns.";

/// Secrets and limits for the providers. A provider whose secret is `None`
/// refuses every request.
#[derive(Clone)]
pub struct WebhookSettings {
    /// Standard Webhooks signing secret, `whsec_<base64>`.
    pub standard_secret: Option<String>,
    /// SendGrid's Event Webhook verification key, as SendGrid shows it
    /// (base64 DER SubjectPublicKeyInfo) or as PEM.
    pub sendgrid_public_key: Option<String>,
    /// User and password that SendGrid Inbound Parse must send (HTTP Basic,
    /// configured in its destination URL: `https://user:pass@host/…`).
    pub sendgrid_inbound_basic_auth: Option<(String, String)>,
    /// Where SNS signing certificates and subscribe URLs may live.
    pub sns_cert_url_prefixes: Vec<String>,
    /// SNS topics accepted; empty accepts any topic.
    pub sns_topic_arns: Vec<String>,
    /// How far a signed timestamp may be from now, either way.
    pub tolerance: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            standard_secret: None,
            sendgrid_public_key: None,
            sendgrid_inbound_basic_auth: None,
            sns_cert_url_prefixes: vec![DEFAULT_SNS_CERT_URL_PREFIX.to_owned()],
            sns_topic_arns: Vec::new(),
            tolerance: Duration::from_secs(300),
        }
    }
}

/// Parses and authenticates provider webhooks. Build one at startup and
/// share it: it keeps the SNS signing certificates it has downloaded.
pub struct WebhookVerifier {
    settings: WebhookSettings,
    /// Decoded once so a bad setting shows at startup, not per request.
    standard_secret: Option<Result<standard::Secret, String>>,
    sendgrid_key: Option<Result<sendgrid::PublicKey, String>>,
    sns: sns::SnsVerifier,
}

impl WebhookVerifier {
    pub fn new(settings: WebhookSettings) -> Self {
        let standard_secret = decode(
            "standard_secret",
            settings.standard_secret.as_deref(),
            standard::Secret::parse,
        );
        let sendgrid_key = decode(
            "sendgrid_public_key",
            settings.sendgrid_public_key.as_deref(),
            sendgrid::PublicKey::parse,
        );
        let sns = sns::SnsVerifier::new(&settings);
        Self {
            settings,
            standard_secret,
            sendgrid_key,
            sns,
        }
    }

    /// Authenticates and parses one request for `provider` (the URL's
    /// `{provider}`: `ses`, `sendgrid`, `sendgrid-inbound` or `standard`).
    /// `now` decides whether signed timestamps are fresh.
    pub async fn parse(
        &self,
        provider: &str,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Parsed, WebhookError> {
        let tolerance = self.settings.tolerance;
        match provider {
            ses::PROVIDER => ses::parse(&self.sns, body, now).await,
            sendgrid::PROVIDER => {
                let key = configured(sendgrid::PROVIDER, &self.sendgrid_key)?;
                sendgrid::parse(key, headers, body, now, tolerance)
            }
            sendgrid_inbound::PROVIDER => {
                let credentials = self
                    .settings
                    .sendgrid_inbound_basic_auth
                    .as_ref()
                    .ok_or_else(|| not_configured(sendgrid_inbound::PROVIDER))?;
                sendgrid_inbound::parse(credentials, headers, body, now).await
            }
            standard::PROVIDER => {
                let secret = configured(standard::PROVIDER, &self.standard_secret)?;
                standard::parse(secret, headers, body, now, tolerance)
            }
            _ => Err(WebhookError::UnknownProvider),
        }
    }

    /// Confirms an SNS subscription by GETting its `SubscribeURL` (from
    /// [`Parsed::confirm_subscription`]), with the same checks and client as
    /// the certificate download.
    pub async fn confirm_subscription(&self, subscribe_url: &str) -> Result<(), WebhookError> {
        self.sns.confirm_subscription(subscribe_url).await
    }
}

/// Decodes a secret setting once. A bad one is logged here and its provider
/// refuses every request, rather than the server refusing to start.
fn decode<T>(
    setting: &str,
    value: Option<&str>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Option<Result<T, String>> {
    let decoded = parse(value?);
    if let Err(error) = &decoded {
        tracing::warn!(
            setting,
            error,
            "invalid webhook setting: its provider refuses every request"
        );
    }
    Some(decoded)
}

fn not_configured(provider: &str) -> WebhookError {
    unauthorized(format!("{provider} webhooks are not configured"))
}

fn configured<'a, T>(
    provider: &str,
    setting: &'a Option<Result<T, String>>,
) -> Result<&'a T, WebhookError> {
    match setting {
        None => Err(not_configured(provider)),
        Some(Err(_)) => Err(unauthorized(format!(
            "{provider} webhooks are misconfigured"
        ))),
        Some(Ok(value)) => Ok(value),
    }
}

/// A request header as text; `None` when absent or not visible ASCII.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok()
}

/// Refuses a signed timestamp too far from `now`, in either direction: an
/// old one is a replay, a future one a forged or badly skewed clock.
pub(crate) fn check_fresh(
    signed_at: DateTime<Utc>,
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), WebhookError> {
    let tolerance = TimeDelta::from_std(tolerance).unwrap_or(TimeDelta::MAX);
    if (now - signed_at).abs() > tolerance {
        return Err(unauthorized("timestamp is outside the tolerance window"));
    }
    Ok(())
}

/// A header carrying unix seconds, as SendGrid and Standard Webhooks sign.
pub(crate) fn unix_seconds(value: &str) -> Result<DateTime<Utc>, WebhookError> {
    value
        .trim()
        .parse::<i64>()
        .ok()
        .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
        .ok_or_else(|| unauthorized("timestamp is not unix seconds"))
}

/// A `detail` object from the fields that are present.
pub(crate) fn detail<const N: usize>(
    fields: [(&str, Option<serde_json::Value>); N],
) -> serde_json::Value {
    fields
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_owned(), value?)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unknown_provider_is_not_found() {
        let verifier = WebhookVerifier::new(WebhookSettings::default());

        let result = verifier
            .parse("mailgun", &HeaderMap::new(), b"{}", Utc::now())
            .await;

        assert_eq!(result, Err(WebhookError::UnknownProvider));
        assert_eq!(
            WebhookError::UnknownProvider.status(),
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn unconfigured_providers_refuse_everything() {
        let verifier = WebhookVerifier::new(WebhookSettings::default());

        for provider in ["sendgrid", "sendgrid-inbound", "standard"] {
            let result = verifier
                .parse(provider, &HeaderMap::new(), b"[]", Utc::now())
                .await;

            assert!(
                matches!(&result, Err(WebhookError::Unauthorized(why)) if why.contains("not configured")),
                "{provider}: {result:?}"
            );
        }
    }

    #[tokio::test]
    async fn an_invalid_secret_refuses_instead_of_failing_open() {
        let verifier = WebhookVerifier::new(WebhookSettings {
            standard_secret: Some("whsec_???".into()),
            sendgrid_public_key: Some("not a key".into()),
            ..WebhookSettings::default()
        });

        for provider in ["sendgrid", "standard"] {
            let result = verifier
                .parse(provider, &HeaderMap::new(), b"[]", Utc::now())
                .await;

            assert!(
                matches!(&result, Err(WebhookError::Unauthorized(why)) if why.contains("misconfigured")),
                "{provider}: {result:?}"
            );
        }
    }

    #[test]
    fn freshness_allows_the_tolerance_both_ways_and_no_more() {
        let now = Utc::now();
        let five_minutes = Duration::from_secs(300);

        assert!(check_fresh(now - TimeDelta::seconds(300), now, five_minutes).is_ok());
        assert!(check_fresh(now + TimeDelta::seconds(300), now, five_minutes).is_ok());
        assert!(check_fresh(now - TimeDelta::seconds(301), now, five_minutes).is_err());
        assert!(check_fresh(now + TimeDelta::seconds(301), now, five_minutes).is_err());
    }
}
