//! GraphQL shapes of companies.

use crate::graphql::json::Json;
use async_graphql::{
    ComplexObject, Enum, ID, InputObject, MaybeUndefined, MergedObject, SelectionField,
    SimpleObject,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use entity::companies;
use entity::sea_orm_active_enums::CompanySize as CompanySizeModel;

use super::attributes::{
    CompanyAttributeFilter, CompanyAttributes, CreateCompanyAttributes, UpdateCompanyAttributes,
};
use crate::capture::website_analysis::{CompanyWebsite, WebsiteAnalysisFilter};
use crate::graphql::joins::{CountBatch, LatestBatch, PageBatch, page_args};
use crate::graphql::loaders::{ChildCountLoader, LatestChildrenLoader};
use crate::graphql::pagination::inline_limit;
use crate::graphql::to_id;

/// Head-count band: SOLO (1), MICRO (2-10), SMALL (11-50), MEDIUM (51-200),
/// LARGE (201-1000), ENTERPRISE (1001+).
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompanySize {
    Solo,
    Micro,
    Small,
    Medium,
    Large,
    Enterprise,
}

impl From<CompanySizeModel> for CompanySize {
    fn from(size: CompanySizeModel) -> Self {
        match size {
            CompanySizeModel::Solo => Self::Solo,
            CompanySizeModel::Micro => Self::Micro,
            CompanySizeModel::Small => Self::Small,
            CompanySizeModel::Medium => Self::Medium,
            CompanySizeModel::Large => Self::Large,
            CompanySizeModel::Enterprise => Self::Enterprise,
        }
    }
}

impl From<CompanySize> for CompanySizeModel {
    fn from(size: CompanySize) -> Self {
        match size {
            CompanySize::Solo => Self::Solo,
            CompanySize::Micro => Self::Micro,
            CompanySize::Small => Self::Small,
            CompanySize::Medium => Self::Medium,
            CompanySize::Large => Self::Large,
            CompanySize::Enterprise => Self::Enterprise,
        }
    }
}

/// A company's postal address; any part may be missing.
#[derive(SimpleObject, Clone, Debug, Default)]
pub(crate) struct CompanyAddress {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2, uppercase (`DE`, `US`).
    pub country: Option<String>,
}

/// An organisation your leads work for.
#[derive(MergedObject)]
pub(crate) struct Company(CompanyRecord, CompanyAttributes, CompanyWebsite);

impl crate::graphql::node::NodeId for Company {
    fn node_id(
        &self,
        _: &async_graphql::Context<'_>,
    ) -> std::future::Ready<async_graphql::Result<ID>> {
        std::future::ready(Ok(self.0.id.clone()))
    }
}

/// A company's fields besides its attributes (`companies::attributes`).
#[derive(SimpleObject)]
#[graphql(complex)]
pub(super) struct CompanyRecord {
    pub id: ID,
    pub name: String,
    pub website: Option<String>,
    /// The website's host, lowercase, without `www.`; unique among your
    /// companies.
    pub domain: Option<String>,
    pub industry: Option<String>,
    pub size: Option<CompanySize>,
    pub phone: Option<String>,
    pub description: Option<String>,
    /// What enrichment found (maps rating, review count, booking signals…).
    pub enrichment: Json<serde_json::Value>,
    /// Values of your COMPANY custom fields, by key.
    pub custom_fields: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The company's id, for relation fields resolved on this type.
    #[graphql(skip)]
    pub company_id: Uuid,
    #[graphql(skip)]
    pub postal_address: CompanyAddress,
}

#[ComplexObject]
impl CompanyRecord {
    /// The postal address (every part may be null).
    async fn address(&self) -> &CompanyAddress {
        &self.postal_address
    }

    /// The company's live leads, newest first unless ordered otherwise.
    #[graphql(complexity = "crate::graphql::pagination::cost(first, last, child_complexity)")]
    async fn leads(
        &self,
        ctx: &async_graphql::Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        order_by: Option<crate::crm::leads::types::LeadOrder>,
    ) -> async_graphql::Result<crate::graphql::pagination::RelayConnection<crate::crm::leads::Lead>>
    {
        let page = crate::graphql::pagination::PageArgs::new(first, after, last, before);
        // Newest first, the common case on a page of companies, reads the
        // first page of every company's leads in one batched query.
        let Some(order) = order_by else {
            return Box::pin(crate::graphql::loaders::children_connection::<
                crate::crm::leads::LeadsOfCompany,
                _,
            >(
                ctx,
                self.company_id,
                &page,
                DEFAULT_LEADS,
                crate::crm::leads::Lead::from,
            ))
            .await;
        };
        let filter = crate::crm::leads::filter::LeadFilter {
            company_id: Some(crate::graphql::filters::IdFilter {
                eq: Some(self.id.clone()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let query = crate::crm::leads::LeadQuery {
            page,
            filter: Some(filter),
            order,
            ..Default::default()
        };
        // Boxed: async-graphql moves every field's future, sized by the
        // largest field of the type, so an inline page of leads here made
        // each `name` of a company copy kilobytes.
        let mut leads = Box::pin(crate::crm::leads::leads_connection(ctx, query)).await?;
        leads.additional_fields = crate::graphql::loaders::children_totals::<
            crate::crm::leads::LeadsOfCompany,
        >(self.company_id);
        Ok(leads)
    }

    /// Notes on the company, newest first (the first page of a page of
    /// companies in one batched query).
    #[graphql(complexity = "crate::graphql::pagination::cost(first, last, child_complexity)")]
    async fn notes(
        &self,
        ctx: &async_graphql::Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<crate::graphql::pagination::RelayConnection<crate::crm::notes::Note>>
    {
        let args = crate::graphql::pagination::PageArgs::new(first, after, last, before);
        Box::pin(crate::crm::notes::notes_connection(
            ctx,
            crate::crm::notes::service::Subject::Company(self.company_id),
            &args,
            DEFAULT_NOTES,
        ))
        .await
    }
}

static LEADS: LatestBatch<
    companies::Model,
    LatestChildrenLoader<crate::crm::leads::LeadsOfCompany>,
> = LatestBatch::new("leads", company_id, leads_limit);
static NOTES: LatestBatch<
    companies::Model,
    LatestChildrenLoader<crate::crm::notes::NotesOfCompany>,
> = LatestBatch::new("notes", company_id, notes_limit);
static LEAD_COUNTS: CountBatch<
    companies::Model,
    ChildCountLoader<crate::crm::leads::LeadsOfCompany>,
> = CountBatch::new("leads", company_id);
static NOTE_COUNTS: CountBatch<
    companies::Model,
    ChildCountLoader<crate::crm::notes::NotesOfCompany>,
> = CountBatch::new("notes", company_id);

/// Leads and notes a company shows when `first` is not given.
const DEFAULT_LEADS: u64 = 20;
const DEFAULT_NOTES: u64 = 20;

fn company_id(company: &companies::Model) -> Uuid {
    company.id
}

/// Only the newest-first order reads through the batch; another order
/// pages on its own.
fn leads_limit(field: &SelectionField<'_>, page_size: u64) -> Option<u64> {
    let ordered = field
        .arguments()
        .unwrap_or_default()
        .iter()
        .any(|(name, value)| name.as_str() == "orderBy" && *value != async_graphql::Value::Null);
    if ordered {
        return None;
    }
    inline_limit(&page_args(field), page_size, DEFAULT_LEADS)
}

fn notes_limit(field: &SelectionField<'_>, page_size: u64) -> Option<u64> {
    inline_limit(&page_args(field), page_size, DEFAULT_NOTES)
}

impl Company {
    /// What a page of companies loads for its nodes in one batch each
    /// when the selection asks (see `Lead::LOADS`).
    pub(crate) const BATCHES: &'static [&'static dyn PageBatch<companies::Model>] =
        &[&LEADS, &NOTES, &LEAD_COUNTS, &NOTE_COUNTS];
}

impl From<companies::Model> for Company {
    fn from(company: companies::Model) -> Self {
        let attributes = CompanyAttributes(std::sync::Arc::new(company.clone()));
        let website = CompanyWebsite {
            domain: company.domain.clone(),
        };
        Self(CompanyRecord::from(company), attributes, website)
    }
}

impl From<companies::Model> for CompanyRecord {
    fn from(company: companies::Model) -> Self {
        Self {
            id: to_id(company.id),
            company_id: company.id,
            name: company.name,
            website: company.website,
            domain: company.domain,
            industry: company.industry,
            size: company.size.map(Into::into),
            phone: company.phone,
            description: company.description,
            enrichment: Json(company.enrichment),
            custom_fields: Json(company.custom_fields),
            created_at: company.created_at.to_utc(),
            updated_at: company.updated_at.to_utc(),
            postal_address: CompanyAddress {
                line1: company.address_line1,
                line2: company.address_line2,
                city: company.city,
                region: company.region,
                postal_code: company.postal_code,
                country: company.country,
            },
        }
    }
}

/// A postal address for a new company.
#[derive(InputObject, Default)]
pub(super) struct CompanyAddressInput {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2 code, any case (stored uppercase).
    pub country: Option<String>,
}

/// Changes to an address. Absent parts stay as they are; `null` clears one.
#[derive(InputObject, Default)]
pub(super) struct UpdateCompanyAddressInput {
    pub line1: MaybeUndefined<String>,
    pub line2: MaybeUndefined<String>,
    pub city: MaybeUndefined<String>,
    pub region: MaybeUndefined<String>,
    pub postal_code: MaybeUndefined<String>,
    pub country: MaybeUndefined<String>,
}

/// A new company.
#[derive(InputObject)]
pub(super) struct CreateCompanyInput {
    #[graphql(flatten)]
    pub attributes: CreateCompanyAttributes,
    pub name: String,
    /// The domain is derived from it; no two of your companies share one.
    pub website: Option<String>,
    pub industry: Option<String>,
    pub size: Option<CompanySize>,
    pub phone: Option<String>,
    pub description: Option<String>,
    pub address: Option<CompanyAddressInput>,
    /// A JSON object; `{}` by default.
    pub enrichment: Option<Json<serde_json::Value>>,
    /// Values of your COMPANY custom fields, by key, checked against their
    /// definitions.
    pub custom_fields: Option<Json<serde_json::Value>>,
}

/// Changes to a company. Absent fields stay as they are; `null` clears a
/// nullable field (`address: null` clears the whole address).
#[derive(InputObject)]
pub(super) struct UpdateCompanyInput {
    #[graphql(flatten)]
    pub attributes: UpdateCompanyAttributes,
    pub name: Option<String>,
    /// Changing it changes the domain; `null` clears both.
    pub website: MaybeUndefined<String>,
    pub industry: MaybeUndefined<String>,
    pub size: MaybeUndefined<CompanySize>,
    pub phone: MaybeUndefined<String>,
    pub description: MaybeUndefined<String>,
    pub address: MaybeUndefined<UpdateCompanyAddressInput>,
    /// Replaces the enrichment object.
    pub enrichment: Option<Json<serde_json::Value>>,
    /// Merged into the stored values: a key set to `null` is removed.
    pub custom_fields: Option<Json<serde_json::Value>>,
}

/// Conditions on companies. All given fields must hold (an implicit AND).
#[derive(InputObject, Clone, Default)]
pub(crate) struct CompanyFilter {
    pub and: Option<Vec<CompanyFilter>>,
    pub or: Option<Vec<CompanyFilter>>,
    pub not: Option<Box<CompanyFilter>>,
    /// The filterable attributes (`companies::attributes`).
    #[graphql(flatten)]
    pub attributes: CompanyAttributeFilter,
    /// The company's website analysis.
    // Boxed, as in `LeadFilter`.
    pub website_analysis: Option<Box<WebsiteAnalysisFilter>>,
}

impl crate::graphql::filters::Combined for CompanyFilter {
    fn and(&self) -> Option<&[Self]> {
        self.and.as_deref()
    }
    fn or(&self) -> Option<&[Self]> {
        self.or.as_deref()
    }
    fn not(&self) -> Option<&Self> {
        self.not.as_deref()
    }
    fn own(
        &self,
        _backend: sea_orm::DbBackend,
        path: &str,
    ) -> crate::error::AppResult<sea_orm::sea_query::Condition> {
        let mut all = self.attributes.condition(path)?;
        if let Some(f) = &self.website_analysis {
            all = all.add(
                crate::capture::website_analysis::service::company_condition(
                    f,
                    &format!("{path}.websiteAnalysis"),
                )?,
            );
        }
        Ok(all)
    }
}
