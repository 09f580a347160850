//! Turning lead inputs into column values: parsing, validation with the
//! failing field named, references checked inside the caller's tenant, and
//! the derived columns (display name, sort key, search text, score).

use std::collections::HashSet;

use async_graphql::ID;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, QueryFilter};
use uuid::Uuid;

use entity::sea_orm_active_enums::CustomFieldEntity;
use entity::{
    companies, lead_scoring_rules, lead_sources, lead_stages, leads, memberships, projects,
};

use crate::domain::{CurrencyCode, Decimal};
use crate::error::{AppError, AppResult};
use crate::graphql::parse_id;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{TenantOwned, scoped};

/// Most tags on one lead, and longest tag.
pub(crate) const MAX_TAGS: usize = 50;
pub(crate) const MAX_TAG_CHARS: usize = 50;

/// "First Last", or the email or phone when there is no name.
pub(crate) fn display_name(lead: &leads::Model) -> String {
    let name = [lead.first_name.as_deref(), lead.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if !name.is_empty() {
        return name;
    }
    lead.email
        .clone()
        .or_else(|| lead.phone.clone())
        .unwrap_or_default()
}

/// Recomputes the denormalised columns after any change.
pub(crate) fn derive(
    lead: &mut leads::Model,
    rules: &[lead_scoring_rules::Model],
    facts: crate::crm::scoring::LeadFacts<'_>,
) {
    lead.sort_name = display_name(lead).to_lowercase();
    lead.search_text = [
        lead.first_name.as_deref(),
        lead.last_name.as_deref(),
        lead.email.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ")
    .to_lowercase();
    lead.score = crate::crm::scoring::evaluate(rules, lead, facts).score;
}

/// ISO 4217, stored uppercase.
/// An amount in minor units of `currency`, not negative.
pub(crate) fn amount(
    value: Option<&Decimal>,
    currency: CurrencyCode,
    field: &str,
) -> AppResult<Option<i64>> {
    let Some(value) = value else {
        return Ok(None);
    };
    let units = value.to_minor(currency, field)?;
    if units < 0 {
        return Err(AppError::invalid(field, "must not be negative"));
    }
    Ok(Some(units))
}

/// Trimmed, non-blank, bounded and de-duplicated tags.
pub(crate) fn tags(values: Vec<String>, field: &str) -> AppResult<Vec<String>> {
    let mut tags: Vec<String> = Vec::new();
    for (i, raw) in values.into_iter().enumerate() {
        let tag = raw.trim().to_owned();
        if tag.is_empty() || tag.chars().count() > MAX_TAG_CHARS {
            return Err(AppError::invalid(
                format!("{field}.{i}"),
                format!("must be 1-{MAX_TAG_CHARS} characters"),
            ));
        }
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(AppError::invalid(field, format!("at most {MAX_TAGS} tags")));
    }
    Ok(tags)
}

pub(crate) fn json_object(value: serde_json::Value, field: &str) -> AppResult<serde_json::Value> {
    if !value.is_object() {
        return Err(AppError::invalid(field, "must be a JSON object"));
    }
    if value.to_string().len() > 64 * 1024 {
        return Err(AppError::invalid(field, "must be at most 64 KiB"));
    }
    Ok(value)
}

/// A referenced row of the caller's tenant that is not in the trash;
/// another tenant's id (or a deleted row) is NOT_FOUND.
async fn live_ref<E: TenantOwned>(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    id: &ID,
    field: &str,
    what: &'static str,
    deleted: impl Fn(&E::Model) -> bool,
) -> AppResult<Uuid> {
    let id = parse_id(id, field)?;
    if !live_ids::<E>(txn, ctx, HashSet::from([id]), deleted)
        .await?
        .contains(&id)
    {
        return Err(AppError::not_found(what));
    }
    Ok(id)
}

/// Most values in one `IN (…)` of a batch's lookups.
pub(crate) const IDS_PER_LOOKUP: usize = 400;

/// Which of `ids` are rows of the caller's tenant not in the trash (a
/// batch checks all its references of one kind at once).
pub(crate) async fn live_ids<E: TenantOwned>(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    ids: HashSet<Uuid>,
    deleted: impl Fn(&E::Model) -> bool,
) -> AppResult<HashSet<Uuid>> {
    let ids = ids.into_iter().collect::<Vec<_>>();
    let mut found = HashSet::new();
    for chunk in ids.chunks(IDS_PER_LOOKUP) {
        found.extend(
            scoped::<E>(ctx)
                .filter(E::id_column().is_in(chunk.iter().copied()))
                .all(txn)
                .await?
                .iter()
                .filter(|row| !deleted(row))
                .map(E::id_of),
        );
    }
    Ok(found)
}

pub(crate) async fn project(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    id: &ID,
    field: &str,
) -> AppResult<Uuid> {
    live_ref::<projects::Entity>(txn, ctx, id, field, "project", |p| p.deleted_at.is_some()).await
}

pub(crate) async fn company(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    id: &ID,
    field: &str,
) -> AppResult<Uuid> {
    live_ref::<companies::Entity>(txn, ctx, id, field, "company", |c| c.deleted_at.is_some()).await
}

pub(crate) async fn source(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    id: &ID,
    field: &str,
) -> AppResult<Uuid> {
    live_ref::<lead_sources::Entity>(txn, ctx, id, field, "lead source", |s| {
        s.deleted_at.is_some()
    })
    .await
}

pub(crate) async fn stage(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    id: &ID,
    field: &str,
) -> AppResult<Uuid> {
    live_ref::<lead_stages::Entity>(txn, ctx, id, field, "lead stage", |_| false).await
}

/// A user who is a member of the caller's tenant.
pub(crate) async fn owner(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    id: &ID,
    field: &str,
) -> AppResult<Uuid> {
    let user_id = parse_id(id, field)?;
    scoped::<memberships::Entity>(ctx)
        .filter(memberships::Column::UserId.eq(user_id))
        .one(txn)
        .await?
        .ok_or(AppError::not_found("member"))?;
    Ok(user_id)
}

/// The caller's live lead with this email, ignoring case: the lookup the
/// unique index `leads_tenant_id_live_email_key` serves. Emails are stored
/// lowercase, so it compares the column itself with plain equality, which
/// PostgreSQL may use as an index condition under row-level security
/// (`lower(email)` it may not), and it spells the partial index's own
/// conditions (`email IS NOT NULL` too), without which SQLite would not use
/// it. Either way round, every lookup scanned the tenant's leads.
pub(crate) fn live_with_email(ctx: &RequestCtx, email: &str) -> sea_orm::Select<leads::Entity> {
    live_with_an_email(ctx).filter(leads::Column::Email.eq(email.to_lowercase()))
}

/// The caller's live leads with one of `emails` (lowercase already), by
/// the same index.
pub(crate) fn live_with_emails(
    ctx: &RequestCtx,
    emails: &[String],
) -> sea_orm::Select<leads::Entity> {
    live_with_an_email(ctx).filter(leads::Column::Email.is_in(emails.iter().cloned()))
}

fn live_with_an_email(ctx: &RequestCtx) -> sea_orm::Select<leads::Entity> {
    scoped::<leads::Entity>(ctx)
        .filter(leads::Column::Email.is_not_null())
        .filter(leads::Column::DeletedAt.is_null())
}

pub(crate) async fn ensure_email_free(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    email: &str,
    except: Option<Uuid>,
    field: &str,
) -> AppResult<()> {
    let mut select = live_with_email(ctx, email);
    if let Some(id) = except {
        select = select.filter(leads::Column::Id.ne(id));
    }
    if select.one(conn).await?.is_some() {
        return Err(AppError::duplicate(
            field,
            "a lead with this email already exists",
        ));
    }
    Ok(())
}

/// Custom field values validated against the tenant's definitions.
pub(crate) async fn custom_fields(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    patch: &serde_json::Value,
    previous: Option<&serde_json::Value>,
    field: &str,
) -> AppResult<serde_json::Value> {
    crate::crm::custom_fields::validate(conn, ctx, CustomFieldEntity::Lead, patch, previous, field)
        .await
}

/// The lead's tags as stored.
pub(crate) async fn stored_tags(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    lead_id: Uuid,
) -> AppResult<Vec<String>> {
    use sea_orm::QueryOrder;
    Ok(scoped::<entity::lead_tags::Entity>(ctx)
        .filter(entity::lead_tags::Column::LeadId.eq(lead_id))
        .order_by_asc(entity::lead_tags::Column::Tag)
        .all(conn)
        .await?
        .into_iter()
        .map(|row| row.tag)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_trimmed_deduplicated_and_bounded() {
        assert_eq!(
            tags(vec![" vip ".into(), "vip".into(), "b2b".into()], "t").unwrap(),
            vec!["vip", "b2b"]
        );
        match tags(vec!["ok".into(), " ".into()], "input.tags") {
            Err(AppError::BadUserInput { field, .. }) => assert_eq!(field, "input.tags.1"),
            _ => panic!("blank tag accepted"),
        }
    }
}
