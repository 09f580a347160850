//! The rules of a lead's life: create, update, trash and restore, convert,
//! assign, tag, move through the pipeline. Every change that matters writes a
//! timeline entry in the same transaction and recomputes the score.

use async_graphql::MaybeUndefined;
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::json;
use uuid::Uuid;

use entity::sea_orm_active_enums::{ActivityType, LeadStatus as LeadStatusModel};
use entity::{lead_scoring_rules, lead_stages, lead_tags, leads, tenants};

pub(crate) use super::fields::display_name;
use super::fields::{self, derive};
use super::types::{CreateLeadInput, UpdateLeadInput};
use super::{create, events};
use crate::crm::activities::record;
use crate::domain::{CurrencyCode, rescale};
use crate::error::{AppError, AppResult};
use crate::events::commit_with;
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin, begin_write, find_owned, scoped, tenant_delete};

/// The scoring rules every write evaluates.
pub(crate) async fn rules(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
) -> AppResult<Vec<lead_scoring_rules::Model>> {
    crate::crm::scoring::active_rules(conn, ctx).await
}

/// A live lead of the caller's tenant; a trashed or foreign one is NOT_FOUND.
pub(crate) async fn find_live(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<leads::Model> {
    let lead = find_owned::<leads::Entity>(conn, ctx, id, "lead").await?;
    if lead.deleted_at.is_some() {
        return Err(AppError::not_found("lead"));
    }
    Ok(lead)
}

pub(crate) async fn get(shared: &Shared, ctx: &RequestCtx, id: Uuid) -> AppResult<leads::Model> {
    let txn = begin(&shared.db, ctx).await?;
    let lead = find_live(&txn, ctx, id).await?;
    txn.commit().await?;
    Ok(lead)
}

/// How many more live leads the plan allows, and the plan's limit.
pub(crate) async fn room_left(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
) -> AppResult<(i64, i64)> {
    let limit = tenants::Entity::find_by_id(ctx.tenant_id)
        .one(txn)
        .await?
        .map_or(i64::MAX, |t| i64::from(t.max_leads));
    let live = scoped::<leads::Entity>(ctx)
        .filter(leads::Column::DeletedAt.is_null())
        .count(txn)
        .await?;
    Ok((limit.saturating_sub(live as i64), limit))
}

/// The plan's lead limit counts live leads.
async fn ensure_room(txn: &DatabaseTransaction, ctx: &RequestCtx) -> AppResult<()> {
    let (left, limit) = room_left(txn, ctx).await?;
    if left <= 0 {
        return Err(AppError::limit_exceeded(format!(
            "the plan allows {limit} leads"
        )));
    }
    Ok(())
}

/// Replaces nothing: adds `tags` to the lead (existing ones are kept).
/// Returns how many it did not have.
pub(crate) async fn insert_tags(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    lead_id: Uuid,
    tags: &[String],
) -> AppResult<u64> {
    if tags.is_empty() {
        return Ok(0);
    }
    let now = Utc::now().fixed_offset();
    let added = lead_tags::Entity::insert_many(tags.iter().map(|tag| lead_tags::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        lead_id: Set(lead_id),
        tag: Set(tag.clone()),
        created_at: Set(now),
    }))
    .on_conflict_do_nothing_on([
        lead_tags::Column::TenantId,
        lead_tags::Column::LeadId,
        lead_tags::Column::Tag,
    ])
    .exec_without_returning(conn)
    .await?;
    // Every row a conflict: nothing added.
    Ok(match added {
        sea_orm::TryInsertResult::Inserted(added) => added,
        sea_orm::TryInsertResult::Empty | sea_orm::TryInsertResult::Conflicted => 0,
    })
}

/// Creates a lead inside `txn` (a chunk of one, see [`create`]); `prefix`
/// names the input in errors (`input`, or `inputs.3` for a bulk upsert).
pub(crate) async fn create_in(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    input: CreateLeadInput,
    prefix: &str,
    rules: &[lead_scoring_rules::Model],
) -> AppResult<leads::Model> {
    let refs = create::Refs::load(txn, ctx, [&input], [], rules).await?;
    let new = create::prepare(ctx, input, prefix, rules, &refs, Utc::now().fixed_offset())?;
    ensure_room(txn, ctx).await?;
    create::insert(txn, ctx, std::slice::from_ref(&new))
        .await
        .map_err(|e| unique_email(e, &format!("{prefix}.email")))?;
    Ok(new.lead)
}

/// A race past `ensure_email_free` still ends as the same field error.
fn unique_email(error: sea_orm::DbErr, field: &str) -> AppError {
    match error.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            AppError::duplicate(field, "a lead with this email already exists")
        }
        _ => error.into(),
    }
}

pub(crate) async fn create(
    shared: &Shared,
    ctx: &RequestCtx,
    input: CreateLeadInput,
) -> AppResult<leads::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let rules = rules(&txn, ctx).await?;
    let lead = create_in(&txn, ctx, input, "input", &rules).await?;
    commit_with(shared, txn, ctx, vec![events::created(&lead)]).await?;
    Ok(lead)
}

/// Applies `input` to `current` inside `txn`, writing the timeline entries
/// the change deserves. Returns the updated lead.
pub(crate) async fn update_in(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    current: leads::Model,
    input: UpdateLeadInput,
    prefix: &str,
    rules: &[lead_scoring_rules::Model],
) -> AppResult<leads::Model> {
    let f = |name: &str| format!("{prefix}.{name}");
    let mut lead = current.clone();
    let mut changed: Vec<&'static str> = Vec::new();
    input.attributes.apply(&mut lead, prefix, &mut changed)?;
    let mut note = |given: bool, name: &'static str| {
        if given {
            changed.push(name);
        }
    };
    let stored = CurrencyCode::stored(&lead.currency)?;
    let currency = input.currency.unwrap_or(stored);
    if currency != stored {
        lead.lifetime_value_cents =
            rescale(lead.lifetime_value_cents, stored, currency, &f("currency"))?;
        lead.budget_cents = lead
            .budget_cents
            .map(|units| rescale(units, stored, currency, &f("currency")))
            .transpose()?;
        lead.currency = currency.as_str().to_owned();
        note(true, "currency");
    }
    if let Some(v) = input.lifetime_value {
        lead.lifetime_value_cents =
            fields::amount(Some(&v), currency, &f("lifetimeValue"))?.unwrap_or(0);
        note(true, "lifetimeValue");
    }
    match input.budget {
        MaybeUndefined::Undefined => {}
        MaybeUndefined::Null => {
            lead.budget_cents = None;
            note(true, "budget");
        }
        MaybeUndefined::Value(v) => {
            lead.budget_cents = fields::amount(Some(&v), currency, &f("budget"))?;
            note(true, "budget");
        }
    }
    if let Some(v) = input.enrichment {
        lead.enrichment = fields::json_object(v.0, &f("enrichment"))?;
        note(true, "enrichment");
    }
    if let Some(v) = input.custom_fields {
        lead.custom_fields = fields::custom_fields(
            txn,
            ctx,
            &v.0,
            Some(&current.custom_fields),
            &f("customFields"),
        )
        .await?;
        note(true, "customFields");
    }
    let project = input.project_id;
    if let MaybeUndefined::Value(id) = &project {
        lead.project_id = Some(fields::project(txn, ctx, id, &f("projectId")).await?);
    } else if project.is_null() {
        lead.project_id = None;
    }
    note(!project.is_undefined(), "projectId");
    let company = input.company_id;
    if let MaybeUndefined::Value(id) = &company {
        lead.company_id = Some(fields::company(txn, ctx, id, &f("companyId")).await?);
    } else if company.is_null() {
        lead.company_id = None;
    }
    note(!company.is_undefined(), "companyId");
    let source = input.source_id;
    if let MaybeUndefined::Value(id) = &source {
        lead.source_id = Some(fields::source(txn, ctx, id, &f("sourceId")).await?);
    } else if source.is_null() {
        lead.source_id = None;
    }
    note(!source.is_undefined(), "sourceId");
    let owner = input.owner_id;
    if let MaybeUndefined::Value(id) = &owner {
        lead.owner_id = Some(fields::owner(txn, ctx, id, &f("ownerId")).await?);
    } else if owner.is_null() {
        lead.owner_id = None;
    }
    note(!owner.is_undefined(), "ownerId");
    if let Some(id) = &input.stage_id {
        lead.stage_id = Some(fields::stage(txn, ctx, id, &f("stageId")).await?);
        note(true, "stageId");
    }
    if let Some(status) = input.status {
        lead.status = status.into();
        if lead.status == LeadStatusModel::Converted && lead.converted_at.is_none() {
            lead.converted_at = Some(Utc::now().fixed_offset());
        }
        note(true, "status");
    }
    if lead.email.is_none()
        && lead.first_name.is_none()
        && lead.last_name.is_none()
        && lead.phone.is_none()
    {
        return Err(AppError::invalid(
            f("email"),
            "a lead needs a name, an email or a phone",
        ));
    }
    if let Some(email) = &lead.email
        && current.email.as_deref() != Some(email)
    {
        fields::ensure_email_free(txn, ctx, email, Some(lead.id), &f("email")).await?;
    }
    save(txn, ctx, &current, lead, rules, &changed, &f("email")).await
}

/// Writes `lead` (recomputing derived columns and score) and the timeline
/// entries for what differs from `before`.
async fn save(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    before: &leads::Model,
    mut lead: leads::Model,
    rules: &[lead_scoring_rules::Model],
    changed: &[&str],
    email_field: &str,
) -> AppResult<leads::Model> {
    let tags = fields::stored_tags(txn, ctx, lead.id).await?;
    let website = crate::crm::scoring::website_of(txn, ctx, rules, lead.company_id).await?;
    derive(
        &mut lead,
        rules,
        crate::crm::scoring::LeadFacts::new(&tags, website.as_ref()),
    );
    lead.updated_at = Utc::now().fixed_offset();
    lead.updated_by = ctx.user_id();
    let saved = leads::ActiveModel::from(lead)
        .reset_all()
        .update(txn)
        .await
        .map_err(|e| unique_email(e, email_field))?;
    timeline(txn, ctx, before, &saved, changed).await?;
    Ok(saved)
}

async fn timeline(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    before: &leads::Model,
    after: &leads::Model,
    changed: &[&str],
) -> AppResult<()> {
    if before.stage_id != after.stage_id {
        record(
            txn,
            ctx,
            after.id,
            ActivityType::StageChanged,
            "Stage changed",
            json!({ "from": before.stage_id, "to": after.stage_id }),
        )
        .await?;
    }
    if before.status != after.status {
        let kind = if after.status == LeadStatusModel::Converted {
            ActivityType::Converted
        } else {
            ActivityType::StatusChanged
        };
        record(
            txn,
            ctx,
            after.id,
            kind,
            "Status changed",
            json!({ "from": before.status, "to": after.status }),
        )
        .await?;
    }
    if before.owner_id != after.owner_id {
        record(
            txn,
            ctx,
            after.id,
            ActivityType::Assigned,
            if after.owner_id.is_some() {
                "Assigned"
            } else {
                "Unassigned"
            },
            json!({ "from": before.owner_id, "to": after.owner_id }),
        )
        .await?;
    }
    let others: Vec<&str> = changed
        .iter()
        .copied()
        .filter(|name| !matches!(*name, "stageId" | "status" | "ownerId"))
        .collect();
    if !others.is_empty() {
        record(
            txn,
            ctx,
            after.id,
            ActivityType::LeadUpdated,
            "Lead updated",
            json!({ "fields": others }),
        )
        .await?;
    }
    Ok(())
}

pub(crate) async fn update(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
    input: UpdateLeadInput,
) -> AppResult<leads::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let current = find_live(&txn, ctx, id).await?;
    let rules = rules(&txn, ctx).await?;
    let before = current.clone();
    let lead = update_in(&txn, ctx, current, input, "input", &rules).await?;
    commit_with(shared, txn, ctx, events::changed(&before, &lead, false)).await?;
    Ok(lead)
}

/// Moves a lead to the trash.
pub(crate) async fn delete(shared: &Shared, ctx: &RequestCtx, id: Uuid) -> AppResult<leads::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let lead = find_live(&txn, ctx, id).await?;
    let lead = trash(&txn, ctx, lead, json!({})).await?;
    commit_with(shared, txn, ctx, vec![events::deleted(lead.id)]).await?;
    Ok(lead)
}

pub(crate) async fn trash(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    lead: leads::Model,
    detail: serde_json::Value,
) -> AppResult<leads::Model> {
    let now = Utc::now().fixed_offset();
    let mut active: leads::ActiveModel = lead.into();
    active.deleted_at = Set(Some(now));
    active.deleted_by = Set(ctx.user_id());
    active.updated_at = Set(now);
    let lead = active.update(txn).await?;
    record(
        txn,
        ctx,
        lead.id,
        ActivityType::Deleted,
        "Moved to trash",
        detail,
    )
    .await?;
    Ok(lead)
}

/// Brings a lead back from the trash, unless a live lead took its email.
pub(crate) async fn restore(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<leads::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let lead = find_owned::<leads::Entity>(&txn, ctx, id, "lead").await?;
    if lead.deleted_at.is_none() {
        return Err(AppError::conflict("the lead is not in the trash"));
    }
    if let Some(email) = &lead.email {
        fields::ensure_email_free(&txn, ctx, email, Some(lead.id), "id").await?;
    }
    ensure_room(&txn, ctx).await?;
    let mut active: leads::ActiveModel = lead.into();
    active.deleted_at = Set(None);
    active.deleted_by = Set(None);
    active.updated_at = Set(Utc::now().fixed_offset());
    let lead = active.update(&txn).await?;
    record(
        &txn,
        ctx,
        lead.id,
        ActivityType::Restored,
        "Restored from trash",
        json!({}),
    )
    .await?;
    commit_with(shared, txn, ctx, vec![events::restored(lead.id)]).await?;
    Ok(lead)
}

/// Marks the lead converted (now) and moves it to the won stage, if any.
pub(crate) async fn convert(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<leads::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let current = find_live(&txn, ctx, id).await?;
    if current.status == LeadStatusModel::Converted {
        return Err(AppError::conflict("the lead is already converted"));
    }
    let won = scoped::<lead_stages::Entity>(ctx)
        .filter(lead_stages::Column::IsWon.eq(true))
        .order_by_asc(lead_stages::Column::Position)
        .one(&txn)
        .await?;
    let mut lead = current.clone();
    lead.status = LeadStatusModel::Converted;
    lead.converted_at = Some(Utc::now().fixed_offset());
    if let Some(won) = won {
        lead.stage_id = Some(won.id);
    }
    let rules = rules(&txn, ctx).await?;
    let lead = save(&txn, ctx, &current, lead, &rules, &[], "id").await?;
    commit_with(shared, txn, ctx, events::changed(&current, &lead, false)).await?;
    Ok(lead)
}

/// Assigns the lead to a member, or unassigns it with `None`.
pub(crate) async fn assign(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
    owner: Option<async_graphql::ID>,
) -> AppResult<leads::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let current = find_live(&txn, ctx, id).await?;
    let mut lead = current.clone();
    lead.owner_id = match &owner {
        Some(owner) => Some(fields::owner(&txn, ctx, owner, "ownerId").await?),
        None => None,
    };
    let rules = rules(&txn, ctx).await?;
    let lead = save(&txn, ctx, &current, lead, &rules, &[], "id").await?;
    commit_with(shared, txn, ctx, events::changed(&current, &lead, false)).await?;
    Ok(lead)
}

/// Moves the lead to another stage of the pipeline.
pub(crate) async fn move_to_stage(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
    stage: async_graphql::ID,
) -> AppResult<leads::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let current = find_live(&txn, ctx, id).await?;
    let mut lead = current.clone();
    lead.stage_id = Some(fields::stage(&txn, ctx, &stage, "stageId").await?);
    let rules = rules(&txn, ctx).await?;
    let lead = save(&txn, ctx, &current, lead, &rules, &[], "id").await?;
    commit_with(shared, txn, ctx, events::changed(&current, &lead, false)).await?;
    Ok(lead)
}

/// Adds or removes tags; the score follows (rules may look at tags).
pub(crate) async fn change_tags(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
    tags: Vec<String>,
    add: bool,
) -> AppResult<leads::Model> {
    ctx.require_writer()?;
    let tags = fields::tags(tags, "tags")?;
    let txn = begin_write(&shared.db, ctx).await?;
    let current = find_live(&txn, ctx, id).await?;
    // How many tags were added or removed (asking for one the lead has, or
    // has not, changes nothing).
    let touched = if add {
        let existing = fields::stored_tags(&txn, ctx, id).await?;
        let total = existing
            .iter()
            .chain(tags.iter().filter(|t| !existing.contains(t)))
            .count();
        if total > fields::MAX_TAGS {
            return Err(AppError::invalid(
                "tags",
                format!("a lead has at most {} tags", fields::MAX_TAGS),
            ));
        }
        insert_tags(&txn, ctx, id, &tags).await?
    } else {
        tenant_delete::<lead_tags::Entity>(ctx.tenant_id)
            .filter(lead_tags::Column::LeadId.eq(id))
            .filter(lead_tags::Column::Tag.is_in(tags.clone()))
            .exec(&txn)
            .await?
            .rows_affected
    };
    let (summary, key) = if add {
        ("Tags added", "added")
    } else {
        ("Tags removed", "removed")
    };
    let mut detail = serde_json::Map::new();
    detail.insert(key.to_owned(), json!(tags));
    record(
        &txn,
        ctx,
        id,
        ActivityType::TagsChanged,
        summary,
        serde_json::Value::Object(detail),
    )
    .await?;
    let rules = rules(&txn, ctx).await?;
    let lead = save(&txn, ctx, &current, current.clone(), &rules, &[], "id").await?;
    let changed = events::changed(&current, &lead, touched > 0);
    commit_with(shared, txn, ctx, changed).await?;
    Ok(lead)
}
