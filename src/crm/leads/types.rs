//! GraphQL shapes of leads. Relations resolve through per-request
//! dataloaders, so a page of leads costs a fixed number of queries.

use std::sync::Arc;

use crate::graphql::json::Json;
use async_graphql::{
    ComplexObject, Context, Enum, ID, InputObject, MaybeUndefined, MergedObject, Object,
    SelectionField, SimpleObject,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use entity::sea_orm_active_enums::{
    BookingPotential as BookingPotentialModel, LeadStatus as LeadStatusModel,
    VerificationStatus as VerificationModel,
};
use entity::{companies, lead_sources, lead_stages, leads, projects, users};

use super::attributes::{CreateLeadAttributes, LeadAttributes, UpdateLeadAttributes};
use super::loader::TagsLoader;
use crate::crm::activities::Activity;
use crate::crm::companies::Company;
use crate::crm::pipeline::LeadStage;
use crate::crm::projects::Project;
use crate::crm::scoring::ScoreContribution;
use crate::crm::sources::LeadSource;
use crate::domain::{CurrencyCode, Decimal, Money};
use crate::graphql::joins::{
    CountBatch, GlobalRow, KeyedBatch, LatestBatch, NodeLoads, TenantRow, page_args,
};
use crate::graphql::loaders::{
    ChildCountLoader, LatestChildrenLoader, children_connection, load_by_id, loader_error,
};
use crate::graphql::numbers::Count;
use crate::graphql::pagination::{PageArgs, RelayConnection, cost, inline_limit};
use crate::graphql::{shared, to_id};
use crate::identity::auth::types::User;
use crate::identity::members::UserLoader;

/// Where a lead is in the outreach lifecycle.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeadStatus {
    New,
    Contacted,
    FollowUp1,
    FollowUp2,
    Responded,
    Interested,
    NotInterested,
    Invalid,
    Converted,
}

impl From<LeadStatus> for LeadStatusModel {
    fn from(status: LeadStatus) -> Self {
        match status {
            LeadStatus::New => Self::New,
            LeadStatus::Contacted => Self::Contacted,
            LeadStatus::FollowUp1 => Self::FollowUp1,
            LeadStatus::FollowUp2 => Self::FollowUp2,
            LeadStatus::Responded => Self::Responded,
            LeadStatus::Interested => Self::Interested,
            LeadStatus::NotInterested => Self::NotInterested,
            LeadStatus::Invalid => Self::Invalid,
            LeadStatus::Converted => Self::Converted,
        }
    }
}

impl From<LeadStatusModel> for LeadStatus {
    fn from(status: LeadStatusModel) -> Self {
        match status {
            LeadStatusModel::New => Self::New,
            LeadStatusModel::Contacted => Self::Contacted,
            LeadStatusModel::FollowUp1 => Self::FollowUp1,
            LeadStatusModel::FollowUp2 => Self::FollowUp2,
            LeadStatusModel::Responded => Self::Responded,
            LeadStatusModel::Interested => Self::Interested,
            LeadStatusModel::NotInterested => Self::NotInterested,
            LeadStatusModel::Invalid => Self::Invalid,
            LeadStatusModel::Converted => Self::Converted,
        }
    }
}

/// Result of verifying the lead's email address.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum VerificationStatus {
    #[default]
    Unverified,
    Valid,
    Invalid,
    Risky,
    Unknown,
}

impl From<VerificationStatus> for VerificationModel {
    fn from(status: VerificationStatus) -> Self {
        match status {
            VerificationStatus::Unverified => Self::Unverified,
            VerificationStatus::Valid => Self::Valid,
            VerificationStatus::Invalid => Self::Invalid,
            VerificationStatus::Risky => Self::Risky,
            VerificationStatus::Unknown => Self::Unknown,
        }
    }
}

impl From<VerificationModel> for VerificationStatus {
    fn from(status: VerificationModel) -> Self {
        match status {
            VerificationModel::Unverified => Self::Unverified,
            VerificationModel::Valid => Self::Valid,
            VerificationModel::Invalid => Self::Invalid,
            VerificationModel::Risky => Self::Risky,
            VerificationModel::Unknown => Self::Unknown,
        }
    }
}

/// How likely a lead's business is to book online (seed 001).
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BookingPotential {
    Low,
    Medium,
    High,
}

impl From<BookingPotential> for BookingPotentialModel {
    fn from(potential: BookingPotential) -> Self {
        match potential {
            BookingPotential::Low => Self::Low,
            BookingPotential::Medium => Self::Medium,
            BookingPotential::High => Self::High,
        }
    }
}

impl From<BookingPotentialModel> for BookingPotential {
    fn from(potential: BookingPotentialModel) -> Self {
        match potential {
            BookingPotentialModel::Low => Self::Low,
            BookingPotentialModel::Medium => Self::Medium,
            BookingPotentialModel::High => Self::High,
        }
    }
}

/// A person the tenant markets to.
#[derive(MergedObject)]
pub(crate) struct Lead(LeadAttributes, LeadRecord);

impl From<leads::Model> for Lead {
    fn from(lead: leads::Model) -> Self {
        let model = Arc::new(lead);
        Self(LeadAttributes(model.clone()), LeadRecord { model })
    }
}

impl crate::graphql::node::NodeId for Lead {
    fn node_id(&self, _: &Context<'_>) -> std::future::Ready<async_graphql::Result<ID>> {
        std::future::ready(Ok(to_id(self.1.model.id)))
    }
}

/// A lead's fields besides its attributes (`leads::attributes`): its
/// identity, pipeline state, counters and relations.
pub(crate) struct LeadRecord {
    model: Arc<leads::Model>,
}

static COMPANY: TenantRow<leads::Entity, companies::Entity> =
    TenantRow::new("company", leads::Column::CompanyId);
static STAGE: TenantRow<leads::Entity, lead_stages::Entity> =
    TenantRow::new("stage", leads::Column::StageId);
static SOURCE: TenantRow<leads::Entity, lead_sources::Entity> =
    TenantRow::new("source", leads::Column::SourceId);
static PROJECT: TenantRow<leads::Entity, projects::Entity> =
    TenantRow::new("project", leads::Column::ProjectId);
static OWNER: GlobalRow<leads::Entity, users::Entity, UserLoader> =
    GlobalRow::new("owner", leads::Column::OwnerId, users::Column::Id);

static TAGS: KeyedBatch<leads::Model, TagsLoader> = KeyedBatch::new("tags", lead_id);
static SCORED_TAGS: KeyedBatch<leads::Model, TagsLoader> =
    KeyedBatch::new("scoreBreakdown", lead_id);
static ACTIVITIES: LatestBatch<
    leads::Model,
    LatestChildrenLoader<crate::crm::activities::ActivitiesOfLead>,
> = LatestBatch::new("activities", lead_id, inline_activities_limit);
static MESSAGES: LatestBatch<
    leads::Model,
    LatestChildrenLoader<crate::messaging::messages::loader::MessagesOfLead>,
> = LatestBatch::new("messages", lead_id, messages_limit);
static NOTES: LatestBatch<leads::Model, LatestChildrenLoader<crate::crm::notes::NotesOfLead>> =
    LatestBatch::new("notes", lead_id, notes_limit);
static ACTIVITY_COUNTS: CountBatch<
    leads::Model,
    ChildCountLoader<crate::crm::activities::ActivitiesOfLead>,
> = CountBatch::new("activities", lead_id);
static MESSAGE_COUNTS: CountBatch<
    leads::Model,
    ChildCountLoader<crate::messaging::messages::loader::MessagesOfLead>,
> = CountBatch::new("messages", lead_id);
static NOTE_COUNTS: CountBatch<leads::Model, ChildCountLoader<crate::crm::notes::NotesOfLead>> =
    CountBatch::new("notes", lead_id);

fn lead_id(lead: &leads::Model) -> Uuid {
    lead.id
}

fn inline_activities_limit(field: &SelectionField<'_>, page_size: u64) -> Option<u64> {
    inline_limit(&page_args(field), page_size, page_size)
}

fn messages_limit(field: &SelectionField<'_>, page_size: u64) -> Option<u64> {
    inline_limit(&page_args(field), page_size, DEFAULT_MESSAGES)
}

fn notes_limit(field: &SelectionField<'_>, page_size: u64) -> Option<u64> {
    inline_limit(&page_args(field), page_size, DEFAULT_NOTES)
}

/// Messages and notes a lead shows when `first` is not given.
const DEFAULT_MESSAGES: u64 = 20;
const DEFAULT_NOTES: u64 = 20;

impl Lead {
    /// What a page of leads reads for its nodes when its selection asks:
    /// the to-one relations joined to the page's statement, tags and the
    /// newest activities and messages in one batch each
    /// (`graphql::joins`). The fields below read them through the same
    /// loaders either way.
    pub(crate) const LOADS: NodeLoads<'static, leads::Entity> = NodeLoads {
        to_one: &[&COMPANY, &STAGE, &SOURCE, &PROJECT, &OWNER],
        batches: &[
            &TAGS,
            &SCORED_TAGS,
            &ACTIVITIES,
            &MESSAGES,
            &NOTES,
            &ACTIVITY_COUNTS,
            &MESSAGE_COUNTS,
            &NOTE_COUNTS,
        ],
    };
}

async fn tags_of(ctx: &Context<'_>, lead_id: Uuid) -> async_graphql::Result<Vec<String>> {
    let loader = ctx.data_unchecked::<crate::graphql::loaders::Cached<TagsLoader>>();
    Ok(loader
        .load_one(lead_id)
        .await
        .map_err(|e| loader_error(&e))?
        .unwrap_or_default())
}

#[Object]
impl LeadRecord {
    async fn id(&self) -> ID {
        to_id(self.model.id)
    }

    async fn status(&self) -> LeadStatus {
        self.model.status.into()
    }

    /// 0–100, recomputed from the scoring rules on every change.
    async fn score(&self) -> i32 {
        self.model.score
    }

    /// The currency of the lead's amounts.
    async fn currency(&self) -> async_graphql::Result<CurrencyCode> {
        Ok(CurrencyCode::stored(&self.model.currency)?)
    }

    /// BANT: the budget, if known.
    async fn budget(&self) -> async_graphql::Result<Option<Money>> {
        let currency = CurrencyCode::stored(&self.model.currency)?;
        Ok(self
            .model
            .budget_cents
            .map(|units| Money::from_minor(units, currency)))
    }

    /// What the lead has bought so far.
    async fn lifetime_value(&self) -> async_graphql::Result<Money> {
        let currency = CurrencyCode::stored(&self.model.currency)?;
        Ok(Money::from_minor(self.model.lifetime_value_cents, currency))
    }

    async fn emails_sent(&self) -> i32 {
        self.model.emails_sent
    }

    async fn emails_opened(&self) -> i32 {
        self.model.emails_opened
    }

    async fn emails_clicked(&self) -> i32 {
        self.model.emails_clicked
    }

    async fn last_contacted_at(&self) -> Option<DateTime<Utc>> {
        self.model.last_contacted_at.map(|at| at.to_utc())
    }

    async fn last_responded_at(&self) -> Option<DateTime<Utc>> {
        self.model.last_responded_at.map(|at| at.to_utc())
    }

    /// Values of the tenant's custom lead fields, by key.
    async fn custom_fields(&self) -> Json<serde_json::Value> {
        Json(self.model.custom_fields.clone())
    }

    async fn enrichment(&self) -> Json<serde_json::Value> {
        Json(self.model.enrichment.clone())
    }

    async fn converted_at(&self) -> Option<DateTime<Utc>> {
        self.model.converted_at.map(|at| at.to_utc())
    }

    /// Double opt-in: PENDING after a form that asks for it, until the
    /// emailed link is followed (no outreach is sent meanwhile).
    async fn opt_in_status(&self) -> crate::capture::forms::types::OptInStatus {
        self.model.opt_in_status.into()
    }

    async fn opt_in_confirmed_at(&self) -> Option<DateTime<Utc>> {
        self.model.opt_in_confirmed_at.map(|at| at.to_utc())
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at.to_utc()
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at.to_utc()
    }

    /// Set while the lead is in the trash (`restoreLead` brings it back).
    async fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.model.deleted_at.map(|at| at.to_utc())
    }

    /// "First Last", or the email or phone when there is no name.
    async fn full_name(&self) -> String {
        super::service::display_name(&self.model)
    }

    async fn tags(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<String>> {
        tags_of(ctx, self.model.id).await
    }

    async fn company(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Company>> {
        let Some(id) = self.model.company_id else {
            return Ok(None);
        };
        Ok(load_by_id::<companies::Entity>(ctx, id)
            .await?
            .map(Company::from))
    }

    async fn stage(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<LeadStage>> {
        let Some(id) = self.model.stage_id else {
            return Ok(None);
        };
        Ok(load_by_id::<lead_stages::Entity>(ctx, id)
            .await?
            .map(LeadStage::from))
    }

    async fn source(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<LeadSource>> {
        let Some(id) = self.model.source_id else {
            return Ok(None);
        };
        Ok(load_by_id::<lead_sources::Entity>(ctx, id)
            .await?
            .map(LeadSource::from))
    }

    async fn project(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Project>> {
        let Some(id) = self.model.project_id else {
            return Ok(None);
        };
        Ok(load_by_id::<projects::Entity>(ctx, id)
            .await?
            .map(Project::from))
    }

    /// The member the lead is assigned to.
    async fn owner(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(id) = self.model.owner_id else {
            return Ok(None);
        };
        Ok(crate::graphql::loaders::load_user(ctx, id)
            .await?
            .map(User::from))
    }

    /// The timeline, newest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn activities(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<RelayConnection<Activity>> {
        let args = PageArgs::new(first, after, last, before);
        let page_size = shared(ctx).config.limits.page_size;
        // Boxed, as are the other resolvers that run queries: async-graphql
        // moves every field's future, whose size is that of the largest field
        // of the type, so one inline query made each `id` or `email` of a
        // page copy kilobytes.
        Box::pin(children_connection::<
            crate::crm::activities::ActivitiesOfLead,
            _,
        >(
            ctx, self.model.id, &args, page_size, Activity::from
        ))
        .await
    }

    /// Notes on the lead, newest first (the first page of a page of leads
    /// in one batched query).
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn notes(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<RelayConnection<crate::crm::notes::Note>> {
        let args = PageArgs::new(first, after, last, before);
        Box::pin(crate::crm::notes::notes_connection(
            ctx,
            crate::crm::notes::service::Subject::Lead(self.model.id),
            &args,
            DEFAULT_NOTES,
        ))
        .await
    }

    /// Messages sent to the lead, newest first (the first page of a page of
    /// leads in one batched query).
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<RelayConnection<crate::messaging::messages::types::Message>> {
        let args = PageArgs::new(first, after, last, before);
        Box::pin(children_connection::<
            crate::messaging::messages::loader::MessagesOfLead,
            _,
        >(
            ctx,
            self.model.id,
            &args,
            DEFAULT_MESSAGES,
            crate::messaging::messages::types::Message::from,
        ))
        .await
    }

    /// The campaigns the lead is enrolled in, newest enrollment first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn enrollments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<RelayConnection<crate::campaigns::enrollments::types::Enrollment>>
    {
        let args = PageArgs::new(first, after, last, before);
        crate::campaigns::enrollments::resolver::of_lead(ctx, self.model.id, &args).await
    }

    /// The lead's page views on your tracked sites, newest first (from
    /// when its visitor id became known, and the views before).
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn page_views(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<RelayConnection<crate::capture::page_views::PageViewType>> {
        let args = PageArgs::new(first, after, last, before);
        Box::pin(children_connection::<
            crate::capture::page_views::PageViewsOfLead,
            _,
        >(
            ctx,
            self.model.id,
            &args,
            DEFAULT_MESSAGES,
            crate::capture::page_views::PageViewType::from,
        ))
        .await
    }

    /// The segments the lead is in: static ones it was added to, dynamic
    /// ones whose filter it matches now; newest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn segments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<RelayConnection<crate::crm::segments::Segment>> {
        use crate::crm::segments::{Segment, SegmentsOfLeadLoader};
        let args = PageArgs::new(first, after, last, before);
        let all = crate::graphql::loaders::load_one::<SegmentsOfLeadLoader, _>(ctx, self.model.id)
            .await?
            .unwrap_or_default();
        let total = all.len() as u64;
        let page = crate::graphql::pagination::page_of_loaded(
            all,
            |segment| segment.id,
            &args,
            shared(ctx).config.limits.page_size,
        )?;
        Ok(crate::graphql::pagination::connection(
            page,
            crate::graphql::pagination::Totals::exactly(total),
            |segment| segment.id,
            Segment::from,
        ))
    }

    /// Which scoring rules make up the score, and how many points each gives.
    async fn score_breakdown(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<ScoreContribution>> {
        let rules = Box::pin(crate::crm::scoring::active_rules_for_request(ctx)).await?;
        let tags = tags_of(ctx, self.model.id).await?;
        let website = match self.model.company_id {
            Some(id) if crate::crm::scoring::reads_website(&rules) => {
                Box::pin(crate::capture::website_analysis::of_company_in_request(
                    ctx, id,
                ))
                .await?
            }
            _ => None,
        };
        let facts = crate::crm::scoring::LeadFacts::new(&tags, website.as_ref());
        let outcome = crate::crm::scoring::evaluate(&rules, &self.model, facts);
        Ok(outcome
            .contributions
            .iter()
            .map(ScoreContribution::from)
            .collect())
    }
}

/// A new lead. It needs at least a name, an email or a phone.
#[derive(InputObject, Clone, Default)]
pub(crate) struct CreateLeadInput {
    #[graphql(flatten)]
    pub attributes: CreateLeadAttributes,
    pub project_id: Option<ID>,
    pub company_id: Option<ID>,
    /// Defaults to the pipeline's default stage.
    pub stage_id: Option<ID>,
    pub source_id: Option<ID>,
    /// A member of the tenant (user id).
    pub owner_id: Option<ID>,
    pub status: Option<LeadStatus>,
    /// The currency of `budget` and `lifetimeValue`; `EUR` by default.
    pub currency: Option<CurrencyCode>,
    /// BANT: the budget, in `currency` (`"25000.00"`); not negative.
    pub budget: Option<Decimal>,
    /// What the lead has bought so far, in `currency`; not negative.
    pub lifetime_value: Option<Decimal>,
    pub tags: Option<Vec<String>>,
    pub custom_fields: Option<Json<serde_json::Value>>,
    pub enrichment: Option<Json<serde_json::Value>>,
}

/// Changes to a lead: absent fields stay, `null` clears a field.
#[derive(InputObject, Default)]
pub(crate) struct UpdateLeadInput {
    #[graphql(flatten)]
    pub attributes: UpdateLeadAttributes,
    pub project_id: MaybeUndefined<ID>,
    pub company_id: MaybeUndefined<ID>,
    pub stage_id: Option<ID>,
    pub source_id: MaybeUndefined<ID>,
    pub owner_id: MaybeUndefined<ID>,
    pub status: Option<LeadStatus>,
    /// A new currency re-expresses the stored amounts in it (refused when
    /// one does not fit its decimals); amounts given with it are in it.
    pub currency: Option<CurrencyCode>,
    /// `null` clears it.
    pub budget: MaybeUndefined<Decimal>,
    pub lifetime_value: Option<Decimal>,
    /// Merged into the current values; a key set to null is removed.
    pub custom_fields: Option<Json<serde_json::Value>>,
    pub enrichment: Option<Json<serde_json::Value>>,
}

/// How to order leads.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LeadOrderField {
    #[default]
    CreatedAt,
    UpdatedAt,
    Score,
    Name,
    LastContactedAt,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SortDirection {
    Asc,
    #[default]
    Desc,
}

#[derive(InputObject, Clone, Copy, Default)]
pub(crate) struct LeadOrder {
    pub field: LeadOrderField,
    #[graphql(default_with = "SortDirection::Desc")]
    pub direction: SortDirection,
}

/// One item of `upsertLeads`.
#[derive(SimpleObject)]
pub(crate) struct UpsertLeadResult {
    /// Position in the input list.
    pub index: i32,
    /// True when a new lead was created, false when an existing one was updated.
    pub created: bool,
    pub lead: Option<Lead>,
    /// Why the item was rejected (the other items are kept).
    pub errors: Vec<FieldError>,
}

#[derive(SimpleObject, Clone)]
pub(crate) struct FieldError {
    /// The input path, e.g. `inputs.3.email`.
    pub field: String,
    pub message: String,
    pub code: String,
}

/// What `bulkUpdateLeads` changes on every matching lead.
#[derive(InputObject, Default)]
pub(crate) struct LeadPatch {
    pub stage_id: Option<ID>,
    pub status: Option<LeadStatus>,
    /// `null` unassigns.
    pub owner_id: MaybeUndefined<ID>,
    /// `null` clears.
    pub project_id: MaybeUndefined<ID>,
    /// Added to each lead's tags.
    pub add_tags: Option<Vec<String>>,
}

/// A count per group in `leadAnalytics`.
#[derive(SimpleObject)]
pub(crate) struct StatusCount {
    pub status: LeadStatus,
    pub count: Count,
}

/// Leads in one stage (`stage` is null for leads without one).
#[derive(SimpleObject)]
#[graphql(complex)]
pub(crate) struct StageCount {
    pub count: Count,
    #[graphql(skip)]
    pub stage_id: Option<Uuid>,
}

#[ComplexObject]
impl StageCount {
    async fn stage(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<LeadStage>> {
        let Some(id) = self.stage_id else {
            return Ok(None);
        };
        Ok(load_by_id::<lead_stages::Entity>(ctx, id)
            .await?
            .map(LeadStage::from))
    }
}

/// Leads from one source.
#[derive(SimpleObject)]
#[graphql(complex)]
pub(crate) struct SourceCount {
    pub count: Count,
    #[graphql(skip)]
    pub source_id: Option<Uuid>,
}

#[ComplexObject]
impl SourceCount {
    async fn source(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<LeadSource>> {
        let Some(id) = self.source_id else {
            return Ok(None);
        };
        Ok(load_by_id::<lead_sources::Entity>(ctx, id)
            .await?
            .map(LeadSource::from))
    }
}

/// Leads assigned to one member (`owner` is null for unassigned leads).
#[derive(SimpleObject)]
#[graphql(complex)]
pub(crate) struct OwnerCount {
    pub count: Count,
    #[graphql(skip)]
    pub owner_id: Option<Uuid>,
}

#[ComplexObject]
impl OwnerCount {
    async fn owner(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(id) = self.owner_id else {
            return Ok(None);
        };
        Ok(crate::graphql::loaders::load_user(ctx, id)
            .await?
            .map(User::from))
    }
}

/// `getLeadAnalytics` (seed 003): the shape of the tenant's pipeline.
#[derive(SimpleObject)]
pub(crate) struct LeadAnalytics {
    /// Live leads.
    pub total: Count,
    pub by_status: Vec<StatusCount>,
    pub by_stage: Vec<StageCount>,
    pub by_source: Vec<SourceCount>,
    pub by_owner: Vec<OwnerCount>,
    pub average_score: f64,
    /// Leads created in the period.
    pub created_in_period: Count,
    /// Leads converted in the period.
    pub conversions: Count,
    /// conversions / created in the period (0 when nothing was created).
    pub conversion_rate: f64,
}
