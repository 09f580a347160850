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
