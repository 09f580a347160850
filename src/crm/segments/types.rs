//! GraphQL shapes of segments.

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, MaybeUndefined, SimpleObject};
use chrono::{DateTime, Utc};

use entity::sea_orm_active_enums::SegmentKind as SegmentKindModel;
use entity::segments;

use crate::crm::leads::filter::LeadFilter;
use crate::crm::leads::types::LeadOrder;
use crate::crm::leads::{Lead, LeadQuery, leads_connection};
use crate::graphql::json::Json;
use crate::graphql::loaders::load_one;
use crate::graphql::numbers::Count;
use crate::graphql::pagination::{PageArgs, RelayConnection, cost};
use crate::graphql::to_id;

/// Whether a segment lists its leads or describes them.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentKind {
    /// The leads put in it (`addToSegment`), until they are taken out.
    Static,
    /// Every live lead its filter matches, whenever it is read.
    Dynamic,
}

impl From<SegmentKindModel> for SegmentKind {
    fn from(kind: SegmentKindModel) -> Self {
        match kind {
            SegmentKindModel::Static => Self::Static,
            SegmentKindModel::Dynamic => Self::Dynamic,
        }
    }
}

impl From<SegmentKind> for SegmentKindModel {
    fn from(kind: SegmentKind) -> Self {
        match kind {
            SegmentKind::Static => Self::Static,
            SegmentKind::Dynamic => Self::Dynamic,
        }
    }
}

/// A list of leads: static (explicit members) or dynamic (a saved filter).
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub(crate) struct Segment {
    pub id: ID,
    /// Unique among your live segments, ignoring case.
    pub name: String,
    pub description: Option<String>,
    pub kind: SegmentKind,
    /// A dynamic segment's filter, as `leads(filter:)` takes it; null for a
    /// static segment.
    pub filter: Option<Json<serde_json::Value>>,
    /// The version of the filter language the filter was saved in.
    pub filter_version: i32,
    pub project_id: Option<ID>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[graphql(skip)]
    pub model: std::sync::Arc<segments::Model>,
}

#[ComplexObject]
impl Segment {
    /// How many live leads are in the segment now (exact).
    async fn count(&self, ctx: &Context<'_>) -> async_graphql::Result<Count> {
        let count = load_one::<super::SegmentCountLoader, _>(ctx, self.model.id).await?;
        Ok(count.unwrap_or_default().into())
    }

    /// Why a lead is in this segment or not: whether it is now, which of a
    /// dynamic segment's clauses (the top-level fields of its filter) it
    /// meets now, and since when it has been in the segment, with why it
    /// entered and left before (newest first, at most 100 periods).
    async fn explain(
        &self,
        ctx: &Context<'_>,
        lead_id: ID,
    ) -> async_graphql::Result<SegmentExplanation> {
        let lead_id = crate::graphql::parse_id(&lead_id, "leadId")?;
        let explanation = super::service::explain(
            crate::graphql::shared(ctx),
            crate::graphql::caller(ctx)?,
            self.model.id,
            lead_id,
        )
        .await?;
        let periods: Vec<MembershipPeriod> =
            explanation.periods.into_iter().map(Into::into).collect();
        Ok(SegmentExplanation {
            member: explanation.member,
            // Upkeep opens the period shortly after the change that
            // made the lead a member (static: at once).
            since: periods
                .first()
                .filter(|p| explanation.member && p.left_at.is_none())
                .map(|p| p.entered_at),
            clauses: explanation
                .clauses
                .into_iter()
                .map(|c| SegmentClause {
                    field: c.field,
                    condition: Json(c.condition),
                    matched: c.matched,
                })
                .collect(),
            periods,
        })
    }

    /// The segment's live leads, with the filters, search and orders of
    /// `leads`.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    #[expect(
        clippy::too_many_arguments,
        reason = "the Relay arguments plus filter, order and search"
    )]
    async fn leads(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<LeadFilter>,
        order_by: Option<LeadOrder>,
        search: Option<String>,
    ) -> async_graphql::Result<RelayConnection<Lead>> {
        let page = PageArgs::new(first, after, last, before);
        let query = super::service::members_query(
            crate::graphql::shared(ctx),
            crate::graphql::caller(ctx)?,
            &self.model,
            page,
            filter,
            search,
        )
        .await?;
        let query = LeadQuery {
            order: order_by.unwrap_or_default(),
            ..query
        };
        Box::pin(leads_connection(ctx, query)).await
    }
}

impl From<segments::Model> for Segment {
    fn from(model: segments::Model) -> Self {
        Self {
            id: to_id(model.id),
            name: model.name.clone(),
            description: model.description.clone(),
            kind: model.kind.into(),
            filter: model.filter.clone().map(Json),
            filter_version: model.filter_version,
            project_id: model.project_id.map(to_id),
            created_at: model.created_at.to_utc(),
            updated_at: model.updated_at.to_utc(),
            model: std::sync::Arc::new(model),
        }
    }
}

/// A new segment. A dynamic segment needs `filter`; a static one has none.
#[derive(InputObject)]
pub(crate) struct CreateSegmentInput {
    /// 1 to 200 characters.
    pub name: String,
    pub description: Option<String>,
    pub project_id: Option<ID>,
    pub kind: SegmentKind,
    pub filter: Option<LeadFilter>,
}

/// Changes to a segment; absent fields stay as they are. A segment keeps
/// its kind.
#[derive(InputObject)]
pub(crate) struct UpdateSegmentInput {
    pub name: Option<String>,
    pub description: MaybeUndefined<String>,
    pub project_id: MaybeUndefined<ID>,
    /// A dynamic segment's new filter.
    pub filter: Option<LeadFilter>,
}

/// What `addToSegment` or `removeFromSegment` did with one id.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MembershipOutcome {
    Added,
    AlreadyMember,
    Removed,
    NotMember,
    /// No live lead of yours has this id.
    NotFound,
}

#[derive(SimpleObject)]
pub(crate) struct MembershipResult {
    pub lead_id: ID,
    pub outcome: MembershipOutcome,
}

/// The outcome of adding leads to, or removing them from, a static segment.
#[derive(SimpleObject)]
pub(crate) struct MembershipChange {
    /// How many leads joined or left.
    pub changed: Count,
    /// One result per id given, in order (empty when a filter chose the
    /// leads).
    pub results: Vec<MembershipResult>,
    pub segment: Segment,
}

/// Why a lead is in a segment or not.
#[derive(SimpleObject)]
pub(crate) struct SegmentExplanation {
    /// Whether the lead is in the segment now.
    pub member: bool,
    /// When the lead's current period in the segment began.
    pub since: Option<DateTime<Utc>>,
    /// A dynamic segment's clauses, one per top-level field of its filter
    /// (all must hold), in field-name order, and whether the lead meets each
    /// now; empty for a static segment.
    pub clauses: Vec<SegmentClause>,
    /// The lead's periods in the segment, newest first.
    pub periods: Vec<MembershipPeriod>,
}

/// One clause of a dynamic segment's filter.
#[derive(SimpleObject)]
pub(crate) struct SegmentClause {
    /// The filter field, e.g. `stageId`, `and`, `engaged`.
    pub field: String,
    /// The clause as saved.
    pub condition: Json<serde_json::Value>,
    /// Whether the lead meets it now.
    pub matched: bool,
}

/// A time a lead spent in a segment.
#[derive(SimpleObject)]
pub(crate) struct MembershipPeriod {
    pub entered_at: DateTime<Utc>,
    /// `added` (by hand), `segment.filter` (the segment was created or its
    /// filter changed), `lead.created`, `lead.changed`, `lead.restored`,
    /// `lead.merged`, `engagement`, `time` (a relative date moved on),
    /// `segment.named` (a segment its filter names changed).
    pub entered_why: String,
    /// Null while the lead is in the segment.
    pub left_at: Option<DateTime<Utc>>,
    /// As `enteredWhy`, plus `removed` (by hand), `lead.deleted` and
    /// `segment.deleted`.
    pub left_why: Option<String>,
}

impl From<entity::segment_memberships::Model> for MembershipPeriod {
    fn from(row: entity::segment_memberships::Model) -> Self {
        Self {
            entered_at: row.entered_at.to_utc(),
            entered_why: row.entered_why,
            left_at: row.left_at.map(|at| at.to_utc()),
            left_why: row.left_why,
        }
    }
}
