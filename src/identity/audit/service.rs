//! Writing and reading audit rows.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, QueryFilter, Set};
use uuid::Uuid;

use entity::audit_log;
use entity::sea_orm_active_enums::{ActorType, AuditOutcome};

use super::types::AuditFilter;
use crate::error::AppResult;
use crate::graphql::pagination::{Order, Page, PageArgs, Totals, list_by_id};
use crate::graphql::parse_id;
use crate::state::Shared;
use crate::tenancy::scoped::{begin_for_write, scoped};
use crate::tenancy::{Actor, RequestCtx};

pub(crate) enum Outcome {
    Success,
    /// Refused or failed, with the error code the client saw.
    Failure(String),
}

pub(crate) struct AuditRecord {
    pub tenant_id: Uuid,
    pub actor: Option<Actor>,
    pub action: String,
    pub entity_type: Option<String>,
    pub entity_id: Option<Uuid>,
    pub changes: serde_json::Value,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub outcome: Outcome,
}

/// Appends one row to the tenant's audit log.
pub(crate) async fn record(db: &DatabaseConnection, record: AuditRecord) -> AppResult<()> {
    let (actor_type, actor_id) = match &record.actor {
        Some(Actor::User { user_id }) => (ActorType::User, Some(*user_id)),
        Some(Actor::ApiKey { key_id, .. }) => (ActorType::ApiKey, Some(*key_id)),
        Some(Actor::System) => (ActorType::System, None),
        None => (ActorType::Anonymous, None),
    };
    let (outcome, error_code) = match record.outcome {
        Outcome::Success => (AuditOutcome::Success, None),
        Outcome::Failure(code) => (AuditOutcome::Failure, Some(code)),
    };
    let user_id = match record.actor {
        Some(Actor::User { user_id }) => Some(user_id),
        _ => None,
    };
    let txn = begin_for_write(db, record.tenant_id, user_id).await?;
    audit_log::ActiveModel {
        tenant_id: Set(record.tenant_id),
        id: Set(Uuid::now_v7()),
        actor_type: Set(actor_type),
        actor_id: Set(actor_id),
        action: Set(record.action),
        entity_type: Set(record.entity_type),
        entity_id: Set(record.entity_id),
        changes: Set(record.changes),
        request_id: Set(record.request_id),
        ip: Set(record.ip),
        outcome: Set(outcome),
        error_code: Set(error_code),
        created_at: Set(Utc::now().fixed_offset()),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(())
}

fn filtered(
    ctx: &RequestCtx,
    filter: &AuditFilter,
) -> AppResult<sea_orm::Select<audit_log::Entity>> {
    let mut select = scoped::<audit_log::Entity>(ctx);
    if let Some(action) = &filter.action {
        select = select.filter(audit_log::Column::Action.eq(action.clone()));
    }
    if let Some(actor_id) = &filter.actor_id {
        select =
            select.filter(audit_log::Column::ActorId.eq(parse_id(actor_id, "filter.actorId")?));
    }
    if let Some(entity_type) = &filter.entity_type {
        select = select.filter(audit_log::Column::EntityType.eq(entity_type.clone()));
    }
    if let Some(entity_id) = &filter.entity_id {
        select =
            select.filter(audit_log::Column::EntityId.eq(parse_id(entity_id, "filter.entityId")?));
    }
    if let Some(outcome) = filter.outcome {
        select = select.filter(audit_log::Column::Outcome.eq(AuditOutcome::from(outcome)));
    }
    if let Some(since) = filter.since {
        select = select.filter(audit_log::Column::CreatedAt.gte(since.fixed_offset()));
    }
    if let Some(until) = filter.until {
        select = select.filter(audit_log::Column::CreatedAt.lt(until.fixed_offset()));
    }
    Ok(select)
}

/// The tenant's audit log, newest first. Admins only.
pub(super) async fn list(
    shared: &Shared,
    ctx: &RequestCtx,
    filter: AuditFilter,
    args: &PageArgs,
) -> AppResult<(Page<audit_log::Model>, Totals)> {
    ctx.require_admin()?;
    let select = filtered(ctx, &filter)?;
    list_by_id(
        shared,
        ctx,
        select,
        audit_log::Column::Id,
        args,
        Order::NewestFirst,
    )
    .await
}
