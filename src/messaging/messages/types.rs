//! GraphQL shapes of messages.

use crate::graphql::json::Json;
use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, SimpleObject};
use chrono::{DateTime, Utc};

use entity::messages;
use entity::sea_orm_active_enums as db;

use crate::graphql::loaders::children_connection;
use crate::graphql::pagination::{DEFAULT_PAGE_SIZE, PageArgs, RelayConnection, cost};
use crate::graphql::to_id;
use crate::messaging::engagement::types::EngagementEventView;
use crate::messaging::templates::types::MessageChannel;

/// Where a message is. `FAILED` means it was not delivered; `UNKNOWN`
/// means nobody can tell: a worker stopped while handing it to the SMTP
/// server. Neither is retried on its own; an admin may `resendMessage`.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "db::MessageStatus")]
pub enum MessageStatus {
    Queued,
    Sent,
    Delivered,
    Opened,
    Clicked,
    Replied,
    Bounced,
    Complained,
    Failed,
    /// Delivery outcome unknown: it may or may not have arrived. A later
    /// delivery report, open or click moves it on.
    Unknown,
    /// Never sent: the lead's campaign enrollment stopped (a reply, an
    /// unsubscribe…) before it went out.
    Canceled,
}

/// One message to one lead, with a timestamp per step it reached.
#[derive(SimpleObject)]
#[graphql(complex)]
pub(crate) struct Message {
    pub id: ID,
    pub channel: MessageChannel,
    pub lead_id: ID,
    pub campaign_id: Option<ID>,
    pub template_id: Option<ID>,
    pub sender_id: Option<ID>,
    pub recipient: String,
    pub from_email: Option<String>,
    pub from_name: Option<String>,
    pub subject: Option<String>,
    pub text_body: Option<String>,
    /// As sent: links rewritten and the open pixel added when tracking is on.
    pub html_body: Option<String>,
    pub status: MessageStatus,
    /// The RFC 5322 Message-ID (also the idempotency key of the delivery).
    pub message_id_header: String,
    pub provider_message_id: Option<String>,
    pub tracking: bool,
    /// While `QUEUED`: why the latest attempt failed (`null` before the
    /// first failure). Once settled: why it failed, bounced or is unknown.
    pub error: Option<String>,
    /// Delivery attempts so far, including those that failed before the
    /// message was handed over.
    pub attempts: i32,
    /// While `QUEUED` after a failed attempt: when the next attempt runs.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub queued_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub opened_at: Option<DateTime<Utc>>,
    pub clicked_at: Option<DateTime<Utc>>,
    pub replied_at: Option<DateTime<Utc>>,
    pub bounced_at: Option<DateTime<Utc>>,
    pub complained_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub unsubscribed_at: Option<DateTime<Utc>>,
    /// Human opens and clicks (machine ones are only events).
    pub open_count: i32,
    pub click_count: i32,
    #[graphql(skip)]
    pub model_id: uuid::Uuid,
}

fn utc(t: Option<sea_orm::prelude::DateTimeWithTimeZone>) -> Option<DateTime<Utc>> {
    t.map(|t| t.to_utc())
}

impl From<messages::Model> for Message {
    fn from(m: messages::Model) -> Self {
        Self {
            id: to_id(m.id),
            model_id: m.id,
            channel: m.channel.into(),
            lead_id: to_id(m.lead_id),
            campaign_id: m.campaign_id.map(to_id),
            template_id: m.template_id.map(to_id),
            sender_id: m.sender_id.map(to_id),
            recipient: m.recipient,
            from_email: m.from_email,
            from_name: m.from_name,
            subject: m.subject,
            text_body: m.text_body,
            html_body: m.html_body,
            status: m.status.into(),
            message_id_header: m.message_id_header,
            provider_message_id: m.provider_message_id,
            tracking: m.tracking,
            error: m.error,
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at.map(|at| at.to_utc()),
            queued_at: m.queued_at.to_utc(),
            sent_at: utc(m.sent_at),
            delivered_at: utc(m.delivered_at),
            opened_at: utc(m.opened_at),
            clicked_at: utc(m.clicked_at),
            replied_at: utc(m.replied_at),
            bounced_at: utc(m.bounced_at),
            complained_at: utc(m.complained_at),
            failed_at: utc(m.failed_at),
            unsubscribed_at: utc(m.unsubscribed_at),
            open_count: m.open_count,
            click_count: m.click_count,
        }
    }
}

#[ComplexObject]
impl Message {
    /// What happened to the message, latest recorded first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<RelayConnection<EngagementEventView>> {
        let args = PageArgs::new(first, after, last, before);
        Box::pin(children_connection::<super::loader::EventsOfMessage, _>(
            ctx,
            self.model_id,
            &args,
            DEFAULT_PAGE_SIZE,
            |event| EngagementEventView::from(&event),
        ))
        .await
    }

    async fn lead(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<crate::crm::leads::Lead>> {
        let id = crate::graphql::parse_id(&self.lead_id, "leadId")?;
        Ok(
            crate::graphql::loaders::load_by_id::<entity::leads::Entity>(ctx, id)
                .await?
                .map(crate::crm::leads::Lead::from),
        )
    }
}

/// Which messages to list; every field narrows.
#[derive(InputObject, Default)]
pub(crate) struct MessageFilter {
    pub status: Option<Vec<MessageStatus>>,
    pub lead_id: Option<ID>,
    pub template_id: Option<ID>,
    pub campaign_id: Option<ID>,
    pub sender_id: Option<ID>,
}

/// Content for `sendMessage`: a template, or inline subject and bodies
/// (checked like a template).
#[derive(InputObject)]
pub(crate) struct SendMessageInput {
    pub lead_id: ID,
    pub template_id: Option<ID>,
    pub subject: Option<String>,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    /// Send through this account first (failover still applies).
    pub sender_id: Option<ID>,
    /// Values for the template's declared variables.
    pub variables: Option<Json<serde_json::Value>>,
    /// Open pixel and click redirects (default true).
    pub tracking: Option<bool>,
    pub campaign_id: Option<ID>,
}

/// `sendBulkMessages`: one template to many leads.
#[derive(InputObject)]
pub(crate) struct SendBulkMessagesInput {
    pub template_id: ID,
    /// The leads, at most 10,000 per call.
    pub lead_ids: Vec<ID>,
    pub sender_id: Option<ID>,
    pub variables: Option<Json<serde_json::Value>>,
    pub tracking: Option<bool>,
    pub campaign_id: Option<ID>,
}

/// A lead `sendBulkMessages` did not queue, and why.
#[derive(SimpleObject, Clone)]
pub(crate) struct SkippedLead {
    pub lead_id: ID,
    pub code: String,
    pub message: String,
}

#[derive(SimpleObject)]
pub(crate) struct BulkSendResult {
    pub queued: i32,
    pub skipped: Vec<SkippedLead>,
}
