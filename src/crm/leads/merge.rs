//! Folding duplicates into one lead (`mergeLeads`) and importing by email
//! (`upsertLeads`), where each item stands or falls on its own.

use async_graphql::MaybeUndefined;
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, QueryFilter, TransactionTrait};
use serde_json::json;
use uuid::Uuid;

use entity::sea_orm_active_enums::ActivityType;
use entity::{activities, leads};

use super::events;
use super::fields;
use super::service::{create_in, find_live, insert_tags, rules, trash, update_in};
use super::types::{CreateLeadInput, UpdateLeadInput};
use crate::attributes::AttributeKind;
use crate::crm::activities::record;
use crate::error::{AppError, AppResult};
use crate::events::commit_with;
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin_write, tenant_update};

/// Most duplicates merged at once, and most items in one upsert.
pub(super) const MAX_DUPLICATES: usize = 20;
pub(super) const MAX_UPSERT: usize = 500;

/// Fills the primary's empty fields from the duplicates (in the order
/// given), unions tags, sums engagement, and moves notes and activities to
/// the primary; the duplicates go to the trash.
pub(super) async fn merge(
    shared: &Shared,
    ctx: &RequestCtx,
    primary_id: Uuid,
    duplicate_ids: Vec<Uuid>,
) -> AppResult<leads::Model> {
    ctx.require_writer()?;
    if duplicate_ids.is_empty() || duplicate_ids.len() > MAX_DUPLICATES {
        return Err(AppError::invalid(
            "duplicateIds",
            format!("give 1-{MAX_DUPLICATES} duplicates"),
        ));
    }
    let mut seen = vec![primary_id];
    for id in &duplicate_ids {
        if seen.contains(id) {
            return Err(AppError::invalid(
                "duplicateIds",
                "must be distinct and not include the primary",
            ));
        }
        seen.push(*id);
    }
    let txn = begin_write(&shared.db, ctx).await?;
    let primary = find_live(&txn, ctx, primary_id).await?;
    let mut duplicates = Vec::new();
    for id in &duplicate_ids {
        duplicates.push(find_live(&txn, ctx, *id).await?);
    }
    let mut merged = primary.clone();
    let mut tags = fields::stored_tags(&txn, ctx, primary.id).await?;
    for dup in &duplicates {
        super::attributes::fill_empty(&mut merged, dup);
        macro_rules! fill {
            ($($field:ident),*) => {$(
                if merged.$field.is_none() {
                    merged.$field = dup.$field;
                }
            )*};
        }
        fill!(
            project_id,
            company_id,
            stage_id,
            source_id,
            owner_id,
            last_responded_at,
            converted_at
        );
        merged.last_contacted_at = merged.last_contacted_at.max(dup.last_contacted_at);
        merged.emails_sent += dup.emails_sent;
        merged.emails_opened += dup.emails_opened;
        merged.emails_clicked += dup.emails_clicked;
        // Amounts add up only in one currency; a duplicate's in another
        // stays with it in the trash.
        if merged.currency == dup.currency {
            merged.lifetime_value_cents += dup.lifetime_value_cents;
            merged.budget_cents = merged.budget_cents.or(dup.budget_cents);
        }
        if let (Some(into), Some(from)) = (
            merged.custom_fields.as_object_mut(),
            dup.custom_fields.as_object(),
        ) {
            for (key, value) in from {
                into.entry(key.clone()).or_insert_with(|| value.clone());
            }
        }
        for tag in fields::stored_tags(&txn, ctx, dup.id).await? {
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
    }
    // Trash the duplicates first: the primary may take over an email, which
    // must be free among live leads.
    for dup in duplicates {
        trash(&txn, ctx, dup, json!({ "mergedInto": primary.id })).await?;
    }
    let mut moved_notes = 0;
    for duplicate in &duplicate_ids {
        moved_notes += crate::crm::notes::move_to_lead(&txn, ctx, *duplicate, primary.id).await?;
    }
    let moved_activities = tenant_update::<activities::Entity>(ctx.tenant_id)
        .col_expr(activities::Column::LeadId, Expr::value(primary.id))
        .filter(activities::Column::LeadId.is_in(duplicate_ids.clone()))
        .exec(&txn)
        .await?
        .rows_affected;
    let tags_added = insert_tags(&txn, ctx, primary.id, &tags).await?;
    let rules = rules(&txn, ctx).await?;
    let website = crate::crm::scoring::website_of(&txn, ctx, &rules, merged.company_id).await?;
    fields::derive(
        &mut merged,
        &rules,
        crate::crm::scoring::LeadFacts::new(&tags, website.as_ref()),
    );
    merged.updated_at = Utc::now().fixed_offset();
    merged.updated_by = ctx.user_id();
    let merged = leads::ActiveModel::from(merged)
        .reset_all()
        .update(&txn)
        .await?;
    record(
        &txn,
        ctx,
        merged.id,
        ActivityType::Merged,
        format!("Merged {} duplicate(s)", duplicate_ids.len()),
        json!({ "duplicates": duplicate_ids, "notesMoved": moved_notes, "activitiesMoved": moved_activities }),
    )
    .await?;
    let mut written: Vec<_> = duplicate_ids
        .iter()
        .map(|duplicate| events::merged(*duplicate, merged.id))
        .collect();
    written.extend(events::changed(&primary, &merged, tags_added > 0));
    commit_with(shared, txn, ctx, written).await?;
    Ok(merged)
}

/// The outcome of one upsert item.
pub(super) struct UpsertOutcome {
    pub created: bool,
    pub lead: Option<leads::Model>,
    pub error: Option<AppError>,
}

/// A lead's fields as a CSV line or a form gives them (input values by
/// field name, tags, custom field values) as the `createLead` input,
/// parsed as the API parses it; a value that does not parse is `field`'s
/// error.
pub(crate) fn create_input(
    mut lead: async_graphql::indexmap::IndexMap<async_graphql::Name, async_graphql::Value>,
    tags: Vec<String>,
    custom_fields: serde_json::Map<String, serde_json::Value>,
    field: &str,
) -> AppResult<CreateLeadInput> {
    use async_graphql::{InputType, Name, Value};
    if !tags.is_empty() {
        lead.insert(
            Name::new("tags"),
            Value::List(tags.into_iter().map(Value::String).collect()),
        );
    }
    if !custom_fields.is_empty() {
        lead.insert(
            Name::new("customFields"),
            Value::from_json(serde_json::Value::Object(custom_fields))
                .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))?,
        );
    }
    CreateLeadInput::parse(Some(Value::Object(lead)))
        .map_err(|e| AppError::invalid(field, e.into_server_error(Default::default()).message))
}

/// Keeps of `lead` and `custom_fields` only what `current` does not have
/// yet: an update that fills blanks and overwrites nothing.
pub(crate) fn only_blanks(
    lead: &mut async_graphql::indexmap::IndexMap<async_graphql::Name, async_graphql::Value>,
    custom_fields: &mut serde_json::Map<String, serde_json::Value>,
    current: &leads::Model,
) {
    use crate::attributes::AttributeValue;
    use crate::crm::leads::attributes::LEAD_ATTRIBUTES;
    lead.retain(|name, _| {
        LEAD_ATTRIBUTES
            .iter()
            .find(|a| a.name == name.as_str())
            .is_none_or(|a| matches!((a.value)(current), AttributeValue::Missing))
    });
    custom_fields.retain(|key, _| current.custom_fields.get(key).is_none_or(|v| v.is_null()));
}

/// A create input as an update: given fields are set, absent ones kept.
pub(crate) fn as_update(input: CreateLeadInput) -> (UpdateLeadInput, Vec<String>) {
    let set_id =
        |v: Option<async_graphql::ID>| v.map_or(MaybeUndefined::Undefined, MaybeUndefined::Value);
    let mut attributes = input.attributes.into_update();
    // The email is the key: it finds the lead, it does not change it.
    attributes.email = MaybeUndefined::Undefined;
    let update = UpdateLeadInput {
        attributes,
        project_id: set_id(input.project_id),
        company_id: set_id(input.company_id),
        stage_id: input.stage_id,
        source_id: set_id(input.source_id),
        owner_id: set_id(input.owner_id),
        status: input.status,
        currency: input.currency,
        budget: input
            .budget
            .map_or(MaybeUndefined::Undefined, MaybeUndefined::Value),
        lifetime_value: input.lifetime_value,
        custom_fields: input.custom_fields,
        enrichment: input.enrichment,
    };
    (update, input.tags.unwrap_or_default())
}

/// Creates or updates leads keyed by email. Each item runs in its own
/// savepoint: a rejected item is reported and rolled back, the others stay.
pub(super) async fn upsert(
    shared: &Shared,
    ctx: &RequestCtx,
    inputs: Vec<CreateLeadInput>,
) -> AppResult<Vec<UpsertOutcome>> {
    ctx.require_writer()?;
    if inputs.len() > MAX_UPSERT {
        return Err(AppError::invalid(
            "inputs",
            format!("at most {MAX_UPSERT} leads per call"),
        ));
    }
    let txn = begin_write(&shared.db, ctx).await?;
    let rules = rules(&txn, ctx).await?;
    let mut outcomes = Vec::with_capacity(inputs.len());
    // Events of the items that stay, written once they are all through.
    let mut written = Vec::new();
    for (index, input) in inputs.into_iter().enumerate() {
        let prefix = format!("inputs.{index}");
        let savepoint = txn.begin().await?;
        let result = async {
            let email = <crate::attributes::Email as AttributeKind>::create(
                input.attributes.email.clone(),
                &format!("{prefix}.email"),
            )?
            .ok_or_else(|| AppError::invalid(format!("{prefix}.email"), "is required to upsert"))?;
            let existing = fields::live_with_email(ctx, &email).one(&savepoint).await?;
            match existing {
                Some(current) => {
                    let (update, tags) = as_update(input);
                    let tags = fields::tags(tags, &format!("{prefix}.tags"))?;
                    let tags_added = insert_tags(&savepoint, ctx, current.id, &tags).await?;
                    let before = current.clone();
                    let lead = update_in(&savepoint, ctx, current, update, &prefix, &rules).await?;
                    let events = events::changed(&before, &lead, tags_added > 0);
                    AppResult::Ok((lead, false, events))
                }
                None => {
                    let lead = create_in(&savepoint, ctx, input, &prefix, &rules).await?;
                    let events = vec![events::created(&lead)];
                    Ok((lead, true, events))
                }
            }
        }
        .await;
        match result {
            Ok((lead, created, events)) => {
                savepoint.commit().await?;
                written.extend(events);
                outcomes.push(UpsertOutcome {
                    created,
                    lead: Some(lead),
                    error: None,
                });
            }
            Err(AppError::Internal(cause)) => return Err(AppError::Internal(cause)),
            Err(error) => {
                savepoint.rollback().await?;
                outcomes.push(UpsertOutcome {
                    created: false,
                    lead: None,
                    error: Some(error),
                });
            }
        }
    }
    commit_with(shared, txn, ctx, written).await?;
    Ok(outcomes)
}
