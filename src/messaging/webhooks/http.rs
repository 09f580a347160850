//! `POST /webhooks/email/{provider}`: authenticate, parse, then record each
//! event once. The provider's event id is stored in the same transaction as
//! the event, so a replay (providers retry until they see a 2xx) is
//! acknowledged but changes nothing.
//!
//! A refusal is answered `{"error": {"code": .., "message": ..}}` in plain
//! English: the provider's delivery log shows it to whoever set the webhook
//! up.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use entity::sea_orm_active_enums::EngagementType;
use entity::{message_directory, webhook_receipts};

use super::providers::{EventKind, MessageRef, ProviderEvent, WebhookError, WebhookSettings};
use crate::config::Messaging;
use crate::error::AppResult;
use crate::messaging::engagement::recorder::{NewEvent, load_messages, record};
use crate::state::{AppState, Shared};
use crate::tenancy::scoped::{as_system, begin_for_write, begin_system_write};

/// The verifier's settings from the configuration.
pub(crate) fn settings(config: &Messaging) -> WebhookSettings {
    let defaults = WebhookSettings::default();
    WebhookSettings {
        standard_secret: config.webhook_secret.clone(),
        sendgrid_public_key: config.sendgrid_public_key.clone(),
        sendgrid_inbound_basic_auth: config.sendgrid_inbound_auth.as_deref().and_then(|v| {
            v.split_once(':')
                .map(|(user, password)| (user.to_owned(), password.to_owned()))
        }),
        sns_cert_url_prefixes: if config.sns_cert_prefixes.is_empty() {
            defaults.sns_cert_url_prefixes
        } else {
            config.sns_cert_prefixes.clone()
        },
        sns_topic_arns: config.sns_topic_arns.clone(),
        tolerance: defaults.tolerance,
    }
}

#[derive(serde::Serialize, Default)]
struct Summary {
    received: usize,
    processed: usize,
    duplicates: usize,
    /// Events about messages this server did not send.
    unmatched: usize,
}

pub(crate) async fn receive(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let shared = &state.shared;
    let parsed = match shared
        .webhooks
        .parse(&provider, &headers, &body, Utc::now())
        .await
    {
        Ok(parsed) => parsed,
        Err(error) => {
            tracing::info!(%provider, %error, "webhook refused");
            return refusal(&error);
        }
    };
    if let Some(url) = &parsed.confirm_subscription
        && let Err(error) = shared.webhooks.confirm_subscription(url).await
    {
        tracing::warn!(%provider, %error, "confirming an SNS subscription failed");
        return refusal(&error);
    }
    let mut summary = Summary {
        received: parsed.events.len(),
        ..Default::default()
    };
    for event in parsed.events {
        match process(shared, &event).await {
            Ok(Outcome::Processed) => summary.processed += 1,
            Ok(Outcome::Duplicate) => summary.duplicates += 1,
            Ok(Outcome::Unmatched) => summary.unmatched += 1,
            Err(error) => {
                // The provider retries on 5xx; receipts make the retry safe.
                tracing::error!(?error, %provider, "recording a webhook event failed");
                return error_body(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "UNAVAILABLE",
                    "the event could not be recorded; try again",
                );
            }
        }
    }
    (StatusCode::OK, Json(summary)).into_response()
}

/// A refused webhook: its status, and its reason as a sentence.
fn refusal(error: &WebhookError) -> Response {
    error_body(error.status(), error.code(), &error.to_string())
}

fn error_body(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    (status, Json(body)).into_response()
}

enum Outcome {
    Processed,
    Duplicate,
    Unmatched,
}

/// The tenant and message a provider event is about.
async fn find_message(shared: &Shared, reference: &MessageRef) -> AppResult<Option<(Uuid, Uuid)>> {
    let key = match reference {
        MessageRef::MessageIdHeader(id) | MessageRef::ProviderId(id) => id.clone(),
    };
    let txn = begin_system_write(&shared.db).await?;
    let row = message_directory::Entity::find()
        .filter(message_directory::Column::LookupKey.eq(key))
        .one(&txn)
        .await?;
    txn.commit().await?;
    Ok(row.map(|r| (r.tenant_id, r.message_id)))
}

fn new_event(event: &ProviderEvent, message_id: Uuid) -> NewEvent {
    let (kind, permanent, url) = match &event.kind {
        EventKind::Delivered => (EngagementType::Delivered, false, None),
        EventKind::Bounced { permanent } => (EngagementType::Bounced, *permanent, None),
        EventKind::Complained => (EngagementType::Complained, false, None),
        EventKind::Replied => (EngagementType::Replied, false, None),
        EventKind::AutoReplied => (EngagementType::AutoReplied, false, None),
        EventKind::Opened => (EngagementType::Opened, false, None),
        EventKind::Clicked { url } => (EngagementType::Clicked, false, url.clone()),
        EventKind::Unsubscribed => (EngagementType::Unsubscribed, false, None),
    };
    let mut detail = event.detail.clone();
    if let serde_json::Value::Object(map) = &mut detail {
        map.insert("providerEventId".into(), event.event_id.clone().into());
    }
    NewEvent {
        permanent,
        url,
        occurred_at: event.occurred_at,
        detail,
        error: (kind == EngagementType::Bounced).then(|| {
            event
                .detail
                .get("reason")
                .and_then(|r| r.as_str())
                .unwrap_or("bounced")
                .to_owned()
        }),
        ..NewEvent::new(kind, message_id, event.provider)
    }
}

async fn process(shared: &Shared, event: &ProviderEvent) -> AppResult<Outcome> {
    let Some((tenant_id, message_id)) = find_message(shared, &event.message).await? else {
        return Ok(Outcome::Unmatched);
    };
    let txn = begin_for_write(&shared.db, tenant_id, None).await?;
    // Receipts are shared by every tenant: only `promohub_system` writes them.
    let inserted = as_system(&txn, async {
        Ok(
            webhook_receipts::Entity::insert(webhook_receipts::ActiveModel {
                provider: Set(event.provider.to_owned()),
                event_id: Set(event.event_id.clone()),
                received_at: Set(Utc::now().fixed_offset()),
            })
            .on_conflict_do_nothing_on([
                webhook_receipts::Column::Provider,
                webhook_receipts::Column::EventId,
            ])
            .exec_without_returning(&txn)
            .await?,
        )
    })
    .await?;
    if !matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
        return Ok(Outcome::Duplicate);
    }
    let mut messages = load_messages(&txn, tenant_id, [message_id]).await?;
    let stored = record(
        &txn,
        tenant_id,
        &mut messages,
        vec![new_event(event, message_id)],
    )
    .await?;
    txn.commit().await?;
    shared
        .hub
        .published_after_commit(&shared.db, crate::events::Committed::Engagement(stored));
    Ok(Outcome::Processed)
}
