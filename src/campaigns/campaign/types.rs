//! GraphQL shapes of campaigns, their steps and statistics.

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, MaybeUndefined, SimpleObject};
use chrono::{DateTime, Utc};

use entity::sea_orm_active_enums::{
    AbMetric as AbMetricModel, CampaignKind as CampaignKindModel,
    CampaignStatus as CampaignStatusModel, ScheduleKind as ScheduleKindModel,
};
use entity::{campaign_step_variants, campaign_steps, campaigns};

use crate::campaigns::enrollments::types::{Enrollment, EnrollmentStatus};
use crate::crm::leads::filter::LeadFilter;
use crate::domain::{CurrencyCode, Decimal, Money};
use crate::graphql::json::Json;
use crate::graphql::loaders::load_one;
use crate::graphql::mirror_enum;
use crate::graphql::numbers::Count;
use crate::graphql::pagination::{PageArgs, RelayConnection, cost};
use crate::graphql::to_id;
use crate::messaging::engagement::types::MessageStats;
use crate::messaging::templates::types::MessageChannel;

/// A broadcast sends one step to its audience; a sequence sends ordered
/// steps with delays, stopping early for a lead on its stop conditions.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CampaignKind {
    Broadcast,
    Sequence,
}
mirror_enum!(CampaignKind <=> CampaignKindModel { Broadcast, Sequence });

/// Where a campaign stands. DRAFT → (launch) SCHEDULED or ACTIVE;
/// SCHEDULED → ACTIVE at its start; ACTIVE ⇄ PAUSED; ACTIVE or PAUSED →
/// COMPLETED; any but ARCHIVED → ARCHIVED.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CampaignStatus {
    Draft,
    Scheduled,
    Active,
    Paused,
    Completed,
    Archived,
}
mirror_enum!(CampaignStatus <=> CampaignStatusModel {
    Draft, Scheduled, Active, Paused, Completed, Archived
});

/// When a campaign's leads start their first step.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleKind {
    /// As soon as the campaign is launched (inside the send window).
    Immediate,
    /// At `startsAt`.
    At,
    /// Every day of the window at `sendTime`, up to `leadsPerDay` leads.
    Daily,
    /// Once a week, on `weekday` at `sendTime`.
    Weekly,
}
mirror_enum!(ScheduleKind <=> ScheduleKindModel { Immediate, At, Daily, Weekly });

/// What an A/B test's winner is chosen by (over the messages sent).
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[expect(
    clippy::enum_variant_names,
    reason = "each is a rate; OPEN_RATE says so in the API"
)]
pub enum AbMetric {
    OpenRate,
    ClickRate,
    ReplyRate,
}
mirror_enum!(AbMetric <=> AbMetricModel { OpenRate, ClickRate, ReplyRate });

/// An ISO weekday.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    pub(crate) const ALL: [Self; 7] = [
        Self::Monday,
        Self::Tuesday,
        Self::Wednesday,
        Self::Thursday,
        Self::Friday,
        Self::Saturday,
        Self::Sunday,
    ];

    /// 1 for Monday … 7 for Sunday.
    pub(crate) fn number(self) -> u32 {
        Self::ALL.iter().position(|d| *d == self).unwrap_or(0) as u32 + 1
    }

    pub(crate) fn from_number(n: u32) -> Option<Self> {
        Self::ALL.get(n.checked_sub(1)? as usize).copied()
    }
}

/// What ends a lead's sequence before its last step.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StopCondition {
    /// The lead replied to a message of the campaign (automatic replies,
    /// such as out-of-office, do not count).
    Replied,
    /// The lead clicked a link in a message of the campaign.
    Clicked,
    /// The lead converted (its `convertedAt` was set).
    Converted,
    /// The lead unsubscribed or complained.
    Unsubscribed,
    /// A message of the campaign bounced.
    Bounced,
    /// The lead's stage became a won stage.
    Won,
    /// The lead's stage became a lost stage.
    Lost,
}

impl StopCondition {
    /// As stored in `campaigns.stop_on` and in an enrollment's
    /// `stop_reason`.
    pub(crate) fn spelling(self) -> &'static str {
        match self {
            Self::Replied => "replied",
            Self::Clicked => "clicked",
            Self::Converted => "converted",
            Self::Unsubscribed => "unsubscribed",
            Self::Bounced => "bounced",
            Self::Won => "won",
            Self::Lost => "lost",
        }
    }

    pub(crate) fn parse(spelling: &str) -> Option<Self> {
        [
            Self::Replied,
            Self::Clicked,
            Self::Converted,
            Self::Unsubscribed,
            Self::Bounced,
            Self::Won,
            Self::Lost,
        ]
        .into_iter()
        .find(|c| c.spelling() == spelling)
    }
}

/// The unit of a step's delay.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DelayUnit {
    Minutes,
    Hours,
    Days,
    /// Monday to Friday in the campaign's (or the lead's) time zone.
    BusinessDays,
}

/// How long after the previous step (after enrollment, for the first) a
/// step is due; the send window may delay it further.
#[derive(SimpleObject, InputObject, Clone, Copy, Debug)]
#[graphql(input_name = "DelayInput")]
pub(crate) struct Delay {
    pub amount: i32,
    pub unit: DelayUnit,
}

/// Who a campaign is sent to: the leads in any of `segmentIds` (all live
/// leads when none), that `filter` matches, minus those in any of
/// `excludeSegmentIds`. Suppressed addresses, leads without an email and
/// leads whose double opt-in is pending are never sent to.
#[derive(InputObject, Default)]
pub(crate) struct CampaignAudienceInput {
    pub segment_ids: Option<Vec<ID>>,
    pub filter: Option<LeadFilter>,
    pub exclude_segment_ids: Option<Vec<ID>>,
}

/// A campaign's audience as saved.
#[derive(SimpleObject, Clone)]
pub(crate) struct CampaignAudience {
    pub segment_ids: Vec<ID>,
    /// As `leads(filter:)` takes it.
    pub filter: Option<Json<serde_json::Value>>,
    pub exclude_segment_ids: Vec<ID>,
}

/// Days and local hours a campaign may send in. `start` and `end` are
/// `HH:MM` (end `24:00` for midnight); a step due outside waits for the
/// window to open.
#[derive(InputObject)]
pub(crate) struct SendWindowInput {
    pub days: Vec<Weekday>,
    pub start: String,
    pub end: String,
}

#[derive(SimpleObject, Clone)]
pub(crate) struct SendWindow {
    pub days: Vec<Weekday>,
    pub start: String,
    pub end: String,
}

/// When a campaign sends (every field optional; the defaults: immediate,
/// any time, UTC).
#[derive(InputObject, Default)]
pub(crate) struct CampaignScheduleInput {
    pub kind: Option<ScheduleKind>,
    /// No step is sent before (and an AT campaign starts at) this instant.
    pub starts_at: Option<DateTime<Utc>>,
    /// No step is sent after it; the campaign then completes.
    pub ends_at: Option<DateTime<Utc>>,
    /// `HH:MM`: when DAILY and WEEKLY batches start.
    pub send_time: Option<String>,
    /// The day of WEEKLY batches.
    pub weekday: Option<Weekday>,
    /// An IANA time zone (`Europe/Berlin`) for the window and batch times.
    pub time_zone: Option<String>,
    /// Each lead's own time zone (`lead.timeZone`) instead, where it has one.
    pub use_lead_time_zone: Option<bool>,
    pub window: Option<SendWindowInput>,
}

#[derive(SimpleObject, Clone)]
pub(crate) struct CampaignSchedule {
    pub kind: ScheduleKind,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub send_time: Option<String>,
    pub weekday: Option<Weekday>,
    pub time_zone: String,
    pub use_lead_time_zone: bool,
    pub window: SendWindow,
}

/// How a step's A/B variants are decided.
#[derive(InputObject, Default)]
pub(crate) struct AbTestInput {
    pub metric: Option<AbMetric>,
    /// Sends every variant needs before a winner can be declared.
    pub min_sends_per_variant: Option<i32>,
    /// Or decide this many hours after the step's first send, whatever the
    /// sends (still only on a significant difference).
    pub decide_after_hours: MaybeUndefined<i32>,
    /// 50–99: how sure the test must be that the winner is better.
    pub confidence_pct: Option<i32>,
}

#[derive(SimpleObject, Clone)]
pub(crate) struct AbTest {
    pub metric: AbMetric,
    pub min_sends_per_variant: i32,
    pub decide_after_hours: Option<i32>,
    pub confidence_pct: i32,
}

/// One version of a step's message: a template, or inline content.
#[derive(InputObject)]
pub(crate) struct StepVariantInput {
    /// `A`, `B`… by default.
    pub label: Option<String>,
    /// Share of the split (default 1).
    pub weight: Option<i32>,
    pub template_id: Option<ID>,
    pub subject: Option<String>,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
}

/// A step of a campaign: at least one variant (two or more are an A/B test).
#[derive(InputObject)]
pub(crate) struct CampaignStepInput {
    /// After the previous step (after enrollment, for the first); none by
    /// default.
    pub delay: Option<Delay>,
    /// EMAIL (the default).
    pub channel: Option<MessageChannel>,
    pub variants: Vec<StepVariantInput>,
}

#[derive(InputObject)]
pub(crate) struct CreateCampaignInput {
    /// Unique among your live campaigns, ignoring case.
    pub name: String,
    pub description: Option<String>,
    /// BROADCAST (one step, the default) or SEQUENCE.
    pub kind: Option<CampaignKind>,
    pub project_id: Option<ID>,
    pub audience: Option<CampaignAudienceInput>,
    /// Sender accounts the campaign spreads its sends over, each within its
    /// own limits (all active accounts when none are named).
    pub sender_ids: Option<Vec<ID>>,
    pub schedule: Option<CampaignScheduleInput>,
    /// Leads started (sent their first step) per day of the campaign's
    /// time zone; seed 001's `leadsPerDay`.
    pub leads_per_day: Option<i32>,
    /// Leads started per hour.
    pub leads_per_hour: Option<i32>,
    pub budget: Option<Decimal>,
    /// The currency of `budget` and `spent` (USD by default).
    pub currency: Option<CurrencyCode>,
    /// Default: REPLIED, UNSUBSCRIBED, BOUNCED, CONVERTED.
    pub stop_on: Option<Vec<StopCondition>>,
    pub ab_test: Option<AbTestInput>,
    /// Enrol leads that enter the audience after launch (checked every
    /// minute while the campaign is active).
    pub enroll_new_leads: Option<bool>,
    /// Stop the enrollments of leads that leave the audience.
    pub remove_leavers: Option<bool>,
    pub steps: Option<Vec<CampaignStepInput>>,
}

/// Changes to a campaign; absent fields stay. Steps, audience and kind
/// change only while the campaign is not active (pause it first).
#[derive(InputObject, Default)]
pub(crate) struct UpdateCampaignInput {
    pub name: Option<String>,
    pub description: MaybeUndefined<String>,
    pub project_id: MaybeUndefined<ID>,
    pub kind: Option<CampaignKind>,
    pub audience: Option<CampaignAudienceInput>,
    pub sender_ids: Option<Vec<ID>>,
    pub schedule: Option<CampaignScheduleInput>,
    pub leads_per_day: MaybeUndefined<i32>,
    pub leads_per_hour: MaybeUndefined<i32>,
    pub budget: MaybeUndefined<Decimal>,
    /// What the campaign has cost so far (ad spend, fees), in `currency`.
    pub spent: Option<Decimal>,
    pub currency: Option<CurrencyCode>,
    pub stop_on: Option<Vec<StopCondition>>,
    pub ab_test: Option<AbTestInput>,
    pub enroll_new_leads: Option<bool>,
    pub remove_leavers: Option<bool>,
    /// Replaces every step.
    pub steps: Option<Vec<CampaignStepInput>>,
}

/// Which campaigns to list.
#[derive(InputObject, Default)]
pub(crate) struct CampaignFilter {
    pub status: Option<Vec<CampaignStatus>>,
    pub kind: Option<CampaignKind>,
    pub project_id: Option<ID>,
}

/// A marketing campaign: who, what, when.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub(crate) struct Campaign {
    pub id: ID,
    pub name: String,
    pub description: Option<String>,
    pub kind: CampaignKind,
    pub status: CampaignStatus,
    pub project_id: Option<ID>,
    pub audience: CampaignAudience,
    pub schedule: CampaignSchedule,
    pub leads_per_day: Option<i32>,
    pub leads_per_hour: Option<i32>,
    pub budget: Option<Money>,
    pub spent: Money,
    pub stop_on: Vec<StopCondition>,
    pub ab_test: AbTest,
    pub enroll_new_leads: bool,
    pub remove_leavers: bool,
    pub launched_at: Option<DateTime<Utc>>,
    pub paused_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[graphql(skip)]
    pub model: Arc<campaigns::Model>,
}

#[ComplexObject]
impl Campaign {
    /// The steps in order, with their variants and A/B decisions.
    async fn steps(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CampaignStep>> {
        let steps = load_one::<super::loader::StepsOfCampaignLoader, _>(ctx, self.model.id).await?;
        Ok(steps.unwrap_or_default())
    }

    /// The sender accounts the campaign spreads its sends over, in order
    /// (empty: all active accounts).
    async fn sender_ids(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ID>> {
        let ids = load_one::<super::loader::SendersOfCampaignLoader, _>(ctx, self.model.id).await?;
        Ok(ids.unwrap_or_default().into_iter().map(to_id).collect())
    }

    /// Enrollments and message counts and rates (one grouped query for a
    /// page of campaigns).
    async fn stats(&self, ctx: &Context<'_>) -> async_graphql::Result<CampaignStats> {
        let stats = load_one::<super::loader::CampaignStatsLoader, _>(ctx, self.model.id).await?;
        Ok(stats.unwrap_or_else(CampaignStats::empty))
    }

    /// The campaign's enrollments, newest first (of one status when given).
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn enrollments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        status: Option<EnrollmentStatus>,
    ) -> async_graphql::Result<RelayConnection<Enrollment>> {
        let args = PageArgs::new(first, after, last, before);
        crate::campaigns::enrollments::resolver::of_campaign(ctx, self.model.id, &args, status)
            .await
    }
}

/// A variant of a step.
#[derive(SimpleObject, Clone)]
pub(crate) struct StepVariant {
    pub id: ID,
    pub label: String,
    pub weight: i32,
    pub template_id: Option<ID>,
    pub subject: Option<String>,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    /// Whether the A/B test chose it: only it is sent from then on.
    pub is_winner: bool,
}

/// One variant's numbers in an A/B decision.
#[derive(SimpleObject, Clone)]
pub(crate) struct AbArm {
    pub variant_id: ID,
    pub sent: Count,
    pub successes: Count,
    pub rate: f64,
}

/// The last look at a step's A/B test.
#[derive(SimpleObject, Clone)]
pub(crate) struct AbDecision {
    pub arms: Vec<AbArm>,
    /// One-sided p-value of the leader against its closest challenger.
    pub p_value: Option<f64>,
    pub confidence_pct: i32,
    pub winner_variant_id: Option<ID>,
    pub decided_at: Option<DateTime<Utc>>,
    pub reason: String,
}

/// A step of a campaign.
#[derive(SimpleObject, Clone)]
pub(crate) struct CampaignStep {
    pub id: ID,
    /// 0 for the first step.
    pub position: i32,
    pub delay: Delay,
    pub channel: MessageChannel,
    pub variants: Vec<StepVariant>,
    /// Null until the test was looked at (steps with one variant have none).
    pub ab_decision: Option<AbDecision>,
}

impl CampaignStep {
    pub(crate) fn of(
        step: &campaign_steps::Model,
        variants: Vec<campaign_step_variants::Model>,
    ) -> Self {
        let decision = step
            .ab_decision
            .clone()
            .and_then(|json| serde_json::from_value::<crate::campaigns::ab::Decision>(json).ok());
        Self {
            id: to_id(step.id),
            position: step.position,
            delay: super::settings::delay_of(step.delay_minutes, step.business_days),
            channel: step.channel.into(),
            variants: variants
                .into_iter()
                .map(|v| StepVariant {
                    is_winner: step.winner_variant_id == Some(v.id),
                    id: to_id(v.id),
                    label: v.label,
                    weight: v.weight,
                    template_id: v.template_id.map(to_id),
                    subject: v.subject,
                    text_body: v.text_body,
                    html_body: v.html_body,
                })
                .collect(),
            ab_decision: decision.map(|d| AbDecision {
                arms: d
                    .arms
                    .iter()
                    .map(|arm| AbArm {
                        variant_id: to_id(arm.variant_id),
                        sent: Count(arm.sent),
                        successes: Count(arm.successes),
                        rate: crate::messaging::engagement::types::rate(arm.successes, arm.sent),
                    })
                    .collect(),
                p_value: d.p_value,
                confidence_pct: d.confidence_pct,
                winner_variant_id: d.winner.map(to_id),
                decided_at: step.winner_decided_at.map(|at| at.to_utc()),
                reason: d.reason,
            }),
        }
    }
}

/// A campaign's figures: its enrollments by status and its messages.
#[derive(SimpleObject, Clone, Debug, PartialEq)]
pub(crate) struct CampaignStats {
    pub enrolled: Count,
    pub active: Count,
    pub completed: Count,
    pub stopped: Count,
    pub failed: Count,
    /// Enrolled leads that converted after they were enrolled.
    pub converted: Count,
    /// `converted / enrolled`.
    pub conversion_rate: f64,
    /// Sent, delivered, opened (human and raw), clicked, replied, bounced,
    /// unsubscribed, with rates, as `messageStats` counts them.
    pub messages: MessageStats,
}

impl CampaignStats {
    pub(crate) fn empty() -> Self {
        Self {
            enrolled: Count(0),
            active: Count(0),
            completed: Count(0),
            stopped: Count(0),
            failed: Count(0),
            converted: Count(0),
            conversion_rate: 0.0,
            messages: MessageStats {
                at: Utc::now(),
                ..Default::default()
            },
        }
    }
}

/// Something `launchCampaign` found that stops the launch.
#[derive(SimpleObject, Clone, Debug)]
pub(crate) struct LaunchProblem {
    /// The input path or part of the campaign, e.g. `steps.1.variants.0`.
    pub field: String,
    /// `NO_STEPS`, `RENDER_FAILED`, `TEMPLATE_INACTIVE`, `NO_SENDER`,
    /// `EMPTY_AUDIENCE`, `SCHEDULE`, `CHANNEL_UNAVAILABLE`, `BUDGET`…
    pub code: String,
    pub message: String,
}

/// What `launchCampaign` did.
#[derive(SimpleObject)]
pub(crate) struct LaunchResult {
    /// False when any problem was found (nothing changed then).
    pub launched: bool,
    pub campaign: Campaign,
    /// Every problem at once.
    pub problems: Vec<LaunchProblem>,
    /// Leads the audience holds now.
    pub audience_size: Count,
    /// Of those, the leads that can be sent to (an address, not
    /// suppressed, not pending double opt-in).
    pub sendable: Count,
    /// Messages the whole campaign would send to `sendable` leads (every
    /// step).
    pub estimated_messages: Count,
}
