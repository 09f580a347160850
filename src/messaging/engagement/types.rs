//! GraphQL shapes of engagement events and message statistics.

use async_graphql::{Enum, ID, InputObject, SimpleObject};
use chrono::{DateTime, Utc};

use entity::engagement_events;
use entity::sea_orm_active_enums::EngagementType as EngagementTypeModel;

use crate::graphql::numbers::Count;
use crate::graphql::to_id;

/// What happened to a message.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "EngagementTypeModel")]
pub enum EngagementType {
    Sent,
    Delivered,
    Opened,
    Clicked,
    Replied,
    Bounced,
    Complained,
    Unsubscribed,
    Failed,
    /// A worker stopped while handing the message to the SMTP server, so
    /// whether it arrived is unknown; the message is not retried on its
    /// own (see `MessageStatus.UNKNOWN`).
    OutcomeUnknown,
    /// An automatic answer to the message (RFC 3834 `Auto-Submitted`, an
    /// out-of-office, a vacation notice): stored and published, but not a
    /// reply: the message is not marked replied and nothing it would stop
    /// (a sequence) stops.
    AutoReplied,
}

/// One engagement event. `cursor` orders a tenant's events: pass the last
/// one you saw as `after` to resume without gaps or repeats.
#[derive(SimpleObject, Clone)]
#[graphql(name = "EngagementEvent")]
pub(crate) struct EngagementEventView {
    pub cursor: String,
    pub id: ID,
    #[graphql(name = "type")]
    pub event_type: EngagementType,
    pub message_id: ID,
    pub lead_id: ID,
    pub campaign_id: Option<ID>,
    pub template_id: Option<ID>,
    /// A scanner, prefetcher or too-fast click: kept out of human rates.
    pub machine: bool,
    /// The clicked URL (clicks only).
    pub url: Option<String>,
    pub user_agent: Option<String>,
    /// `tracker`, `smtp`, `api`, `imap` (the sender's mailbox) or the
    /// webhook provider.
    pub source: String,
    pub detail: crate::graphql::json::Json<serde_json::Value>,
    pub occurred_at: DateTime<Utc>,
}

impl From<&engagement_events::Model> for EngagementEventView {
    fn from(event: &engagement_events::Model) -> Self {
        Self {
            cursor: event.seq.to_string(),
            id: to_id(event.id),
            event_type: event.event_type.into(),
            message_id: to_id(event.message_id),
            lead_id: to_id(event.lead_id),
            campaign_id: event.campaign_id.map(to_id),
            template_id: event.template_id.map(to_id),
            machine: event.machine,
            url: event.url.clone(),
            user_agent: event.user_agent.clone(),
            source: event.source.clone(),
            detail: crate::graphql::json::Json(event.detail.clone()),
            occurred_at: event.occurred_at.to_utc(),
        }
    }
}

/// Which events a subscription or list wants; every field narrows.
#[derive(InputObject, Clone, Default)]
pub(crate) struct EngagementFilter {
    pub campaign_id: Option<ID>,
    pub lead_id: Option<ID>,
    pub message_id: Option<ID>,
    pub template_id: Option<ID>,
    pub types: Option<Vec<EngagementType>>,
    /// Include machine opens and clicks (default true).
    pub include_machine: Option<bool>,
}

/// Which messages statistics cover: a campaign, a template, or (neither)
/// the whole tenant.
#[derive(InputObject, Clone, Default)]
pub(crate) struct MessageStatsFilter {
    pub campaign_id: Option<ID>,
    pub template_id: Option<ID>,
}

/// Counts of messages by how far they got, and rates over those sent.
/// `opened`/`clicked` count messages a human opened or clicked; the `…Raw`
/// figures include scanners and prefetchers.
#[derive(SimpleObject, Clone, Debug, PartialEq, Default)]
pub(crate) struct MessageStats {
    pub queued: Count,
    pub sent: Count,
    pub delivered: Count,
    pub opened: Count,
    pub opened_raw: Count,
    pub clicked: Count,
    pub clicked_raw: Count,
    pub replied: Count,
    pub bounced: Count,
    pub complained: Count,
    pub unsubscribed: Count,
    pub failed: Count,
    /// Messages whose delivery outcome is unknown (status `UNKNOWN`): not
    /// counted as failed, since some did arrive.
    pub unknown: Count,
    pub delivery_rate: f64,
    pub open_rate: f64,
    pub open_rate_raw: f64,
    pub click_rate: f64,
    pub click_rate_raw: f64,
    pub reply_rate: f64,
    pub bounce_rate: f64,
    pub unsubscribe_rate: f64,
    pub at: DateTime<Utc>,
}

impl MessageStats {
    /// The rates from the counts (over the messages sent).
    pub(crate) fn fill_rates(&mut self) {
        let sent = self.sent.0;
        let rate = |n: Count| rate(n.0, sent);
        self.delivery_rate = rate(self.delivered);
        self.open_rate = rate(self.opened);
        self.open_rate_raw = rate(self.opened_raw);
        self.click_rate = rate(self.clicked);
        self.click_rate_raw = rate(self.clicked_raw);
        self.reply_rate = rate(self.replied);
        self.bounce_rate = rate(self.bounced);
        self.unsubscribe_rate = rate(self.unsubscribed);
    }
}

/// `n / of`, rounded to four decimals; 0 when nothing was sent. The one
/// definition of a rate for message statistics and template counters.
pub(crate) fn rate(n: i64, of: i64) -> f64 {
    if of == 0 {
        0.0
    } else {
        (n as f64 / of as f64 * 10_000.0).round() / 10_000.0
    }
}
