//! Creating leads, one or a chunk at a time, by one set of rules: what the
//! inputs reference is read once for all of them ([`Refs::load`], one
//! statement per kind of reference), each input becomes its row in memory
//! ([`prepare`]), and the rows, their tags and their timeline entries are
//! written with one statement per table ([`insert`]). `createLead` is a
//! chunk of one; an import's chunk is up to 500 lines, so a line costs no
//! round trip of its own.

use std::collections::{HashMap, HashSet};

use async_graphql::ID;
use chrono::{DateTime, FixedOffset};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};
use serde_json::json;
use uuid::Uuid;

use entity::sea_orm_active_enums::{
    ActivityType, CustomFieldEntity, LeadStatus as LeadStatusModel,
};
use entity::{
    companies, custom_field_definitions, lead_scoring_rules, lead_sources, lead_stages, lead_tags,
    leads, memberships, projects, website_analyses,
};

use super::fields::{self, derive};
use super::types::CreateLeadInput;
use crate::domain::{CurrencyCode, EmailAddress};
use crate::error::{AppError, AppResult};
use crate::graphql::parse_id;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::scoped;

/// Most rows in one INSERT: SQLite binds at most 32,766 values and
/// PostgreSQL 65,535, and a lead row has fewer than 50 columns.
const ROWS_PER_INSERT: usize = 400;

/// What a set of create inputs references, read in one go: which of the
/// ids they name are live rows of the tenant, the default stage, the
/// custom field definitions, and the live leads that already have one of
/// their emails.
pub(crate) struct Refs {
    default_stage: Option<Uuid>,
    stages: HashSet<Uuid>,
    projects: HashSet<Uuid>,
    companies: HashSet<Uuid>,
    sources: HashSet<Uuid>,
    owners: HashSet<Uuid>,
    definitions: Vec<custom_field_definitions::Model>,
    /// Live leads by (lowercase) email; leads prepared since are added.
    by_email: HashMap<String, leads::Model>,
    /// The website analyses of the referenced companies, when a scoring
    /// rule reads them.
    websites: HashMap<Uuid, website_analyses::Model>,
}

impl Refs {
    /// Reads what `inputs` reference (and what of it `rules` read), and the
    /// live leads with their emails or with one of `emails` (lowercase; an
    /// import's duplicate check reads them with the rest).
    pub(crate) async fn load<'i>(
        txn: &DatabaseTransaction,
        ctx: &RequestCtx,
        inputs: impl IntoIterator<Item = &'i CreateLeadInput>,
        emails: impl IntoIterator<Item = String>,
        rules: &[lead_scoring_rules::Model],
    ) -> AppResult<Self> {
        // Unparsable ids are left to `prepare`, which names their field.
        let mut wanted: [HashSet<Uuid>; 5] = Default::default();
        let mut emails: HashSet<String> = emails.into_iter().collect();
        let mut without_stage = false;
        for input in inputs {
            without_stage |= input.stage_id.is_none();
            for (set, id) in wanted.iter_mut().zip([
                &input.stage_id,
                &input.project_id,
                &input.company_id,
                &input.source_id,
                &input.owner_id,
            ]) {
                if let Some(id) = id.as_ref().and_then(|id| Uuid::parse_str(id).ok()) {
                    set.insert(id);
                }
            }
            if let Some(email) = &input.attributes.email {
                emails.insert(EmailAddress::normalize(email));
            }
        }
        let [stages, projects, companies, sources, owners] = wanted;
        let owners = owners.into_iter().collect::<Vec<_>>();
        let mut members = HashSet::new();
        for chunk in owners.chunks(fields::IDS_PER_LOOKUP) {
            members.extend(
                scoped::<memberships::Entity>(ctx)
                    .filter(memberships::Column::UserId.is_in(chunk.iter().copied()))
                    .all(txn)
                    .await?
                    .into_iter()
                    .map(|m| m.user_id),
            );
        }
        let emails = emails.into_iter().collect::<Vec<_>>();
        let mut by_email = HashMap::new();
        for chunk in emails.chunks(fields::IDS_PER_LOOKUP) {
            for lead in fields::live_with_emails(ctx, chunk).all(txn).await? {
                if let Some(email) = lead.email.clone() {
                    by_email.insert(email, lead);
                }
            }
        }
        let companies =
            fields::live_ids::<companies::Entity>(txn, ctx, companies, |c| c.deleted_at.is_some())
                .await?;
        let websites = if crate::crm::scoring::reads_website(rules) {
            let ids: Vec<Uuid> = companies.iter().copied().collect();
            crate::capture::website_analysis::service::of_companies(txn, ctx, &ids).await?
        } else {
            HashMap::new()
        };
        Ok(Self {
            websites,
            default_stage: match without_stage {
                true => crate::crm::pipeline::default_stage(txn, ctx)
                    .await?
                    .map(|stage| stage.id),
                false => None,
            },
            stages: fields::live_ids::<lead_stages::Entity>(txn, ctx, stages, |_| false).await?,
            projects: fields::live_ids::<projects::Entity>(txn, ctx, projects, |p| {
                p.deleted_at.is_some()
            })
            .await?,
            companies,
            sources: fields::live_ids::<lead_sources::Entity>(txn, ctx, sources, |s| {
                s.deleted_at.is_some()
            })
            .await?,
            owners: members,
            definitions: crate::crm::custom_fields::definitions(txn, ctx, CustomFieldEntity::Lead)
                .await?,
            by_email,
        })
    }

    /// The live lead with this email (lowercase), read or prepared.
    pub(crate) fn lead_with_email(&self, email: &str) -> Option<&leads::Model> {
        self.by_email.get(email)
    }

    /// Takes the lead's email: a later input with it is a duplicate.
    pub(crate) fn claim(&mut self, lead: &leads::Model) {
        if let Some(email) = &lead.email {
            self.by_email.insert(email.clone(), lead.clone());
        }
    }
}

/// `id`, if it names one of `known` (parsed with its field named).
fn reference(
    id: &Option<ID>,
    known: &HashSet<Uuid>,
    field: &str,
    what: &'static str,
) -> AppResult<Option<Uuid>> {
    let Some(id) = id else {
        return Ok(None);
    };
    let id = parse_id(id, field)?;
    if !known.contains(&id) {
        return Err(AppError::not_found(what));
    }
    Ok(Some(id))
}

/// A lead ready to be written, with its tags.
pub(crate) struct NewLead {
    pub lead: leads::Model,
    pub tags: Vec<String>,
}

/// Checks `input` against `refs` and builds its row (score and derived
/// columns included); `prefix` names the input in errors (`input`,
/// `inputs.3`, `row`). Nothing is written, and the email is not claimed:
/// the caller does that once it keeps the lead.
pub(crate) fn prepare(
    ctx: &RequestCtx,
    input: CreateLeadInput,
    prefix: &str,
    rules: &[lead_scoring_rules::Model],
    refs: &Refs,
    now: DateTime<FixedOffset>,
) -> AppResult<NewLead> {
    let f = |name: &str| format!("{prefix}.{name}");
    let mut row = leads::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        id: Set(Uuid::now_v7()),
        score: Set(0),
        emails_sent: Set(0),
        emails_opened: Set(0),
        emails_clicked: Set(0),
        last_contacted_at: Set(None),
        last_responded_at: Set(None),
        search_text: Set(String::new()),
        sort_name: Set(String::new()),
        created_at: Set(now),
        updated_at: Set(now),
        created_by: Set(ctx.user_id()),
        updated_by: Set(ctx.user_id()),
        deleted_at: Set(None),
        deleted_by: Set(None),
        opt_in_status: Set(entity::sea_orm_active_enums::OptInStatus::None),
        opt_in_confirmed_at: Set(None),
        ..Default::default()
    };
    input.attributes.apply(&mut row, prefix)?;
    let needs_contact = [&row.email, &row.first_name, &row.last_name, &row.phone]
        .iter()
        .all(|value| matches!(value, sea_orm::ActiveValue::Set(None)));
    if needs_contact {
        return Err(AppError::invalid(
            f("email"),
            "a lead needs a name, an email or a phone",
        ));
    }
    let tags = fields::tags(input.tags.unwrap_or_default(), &f("tags"))?;
    let patch = input.custom_fields.map_or(json!({}), |j| j.0);
    let Some(patch) = patch.as_object() else {
        return Err(AppError::invalid(
            f("customFields"),
            "must be a JSON object",
        ));
    };
    let custom_fields = crate::crm::custom_fields::validate_with(
        &refs.definitions,
        patch,
        None,
        &f("customFields"),
    )?;
    if let sea_orm::ActiveValue::Set(Some(email)) = &row.email
        && refs.lead_with_email(email).is_some()
    {
        return Err(AppError::duplicate(
            f("email"),
            "a lead with this email already exists",
        ));
    }
    let stage_id = match reference(&input.stage_id, &refs.stages, &f("stageId"), "lead stage")? {
        Some(id) => Some(id),
        None => refs.default_stage,
    };
    let status: LeadStatusModel = input.status.map_or(LeadStatusModel::New, Into::into);
    row.project_id = Set(reference(
        &input.project_id,
        &refs.projects,
        &f("projectId"),
        "project",
    )?);
    row.company_id = Set(reference(
        &input.company_id,
        &refs.companies,
        &f("companyId"),
        "company",
    )?);
    row.stage_id = Set(stage_id);
    row.source_id = Set(reference(
        &input.source_id,
        &refs.sources,
        &f("sourceId"),
        "lead source",
    )?);
    row.owner_id = Set(reference(
        &input.owner_id,
        &refs.owners,
        &f("ownerId"),
        "member",
    )?);
    row.converted_at = Set((status == LeadStatusModel::Converted).then_some(now));
    row.status = Set(status);
    let currency = input.currency.unwrap_or(CurrencyCode::EUR);
    row.currency = Set(currency.as_str().to_owned());
    row.budget_cents = Set(fields::amount(
        input.budget.as_ref(),
        currency,
        &f("budget"),
    )?);
    row.lifetime_value_cents =
        Set(
            fields::amount(input.lifetime_value.as_ref(), currency, &f("lifetimeValue"))?
                .unwrap_or(0),
        );
    row.custom_fields = Set(custom_fields);
    row.enrichment = Set(match input.enrichment {
        Some(j) => fields::json_object(j.0, &f("enrichment"))?,
        None => json!({}),
    });
    // Every column is set above or by the attributes; one left out fails here.
    let mut lead: leads::Model = sea_orm::TryIntoModel::try_into_model(row)?;
    let website = lead.company_id.and_then(|id| refs.websites.get(&id));
    derive(
        &mut lead,
        rules,
        crate::crm::scoring::LeadFacts::new(&tags, website),
    );
    Ok(NewLead { lead, tags })
}

/// Writes prepared leads, their tags and a "Lead created" timeline entry
/// each: one statement per table (per 400 rows). A lead whose email was
/// taken since it was prepared fails the whole statement with the unique
/// violation, for the caller to report or retry.
pub(crate) async fn insert(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    new: &[NewLead],
) -> Result<(), sea_orm::DbErr> {
    for chunk in new.chunks(ROWS_PER_INSERT) {
        leads::Entity::insert_many(
            chunk
                .iter()
                .map(|n| leads::ActiveModel::from(n.lead.clone()).reset_all()),
        )
        .exec_without_returning(txn)
        .await?;
        let tags = chunk
            .iter()
            .flat_map(|n| {
                n.tags.iter().map(|tag| lead_tags::ActiveModel {
                    tenant_id: Set(ctx.tenant_id),
                    lead_id: Set(n.lead.id),
                    tag: Set(tag.clone()),
                    created_at: Set(n.lead.created_at),
                })
            })
            .collect::<Vec<_>>();
        for tags in tags.chunks(ROWS_PER_INSERT * 4) {
            lead_tags::Entity::insert_many(tags.to_vec())
                .exec_without_returning(txn)
                .await?;
        }
        entity::activities::Entity::insert_many(chunk.iter().map(|n| {
            crate::crm::activities::entry(
                ctx,
                n.lead.id,
                ActivityType::LeadCreated,
                "Lead created".to_owned(),
                json!({ "tags": n.tags }),
                n.lead.created_at.to_utc(),
            )
        }))
        .exec_without_returning(txn)
        .await?;
    }
    Ok(())
}
