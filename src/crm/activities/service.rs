//! Writing and reading timeline entries.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use uuid::Uuid;

use entity::activities;
use entity::sea_orm_active_enums::{ActivityType, ActorType};

use crate::domain::{optional_text, required_text};
use crate::error::AppResult;
use crate::state::Shared;
use crate::tenancy::scoped::begin_write;
use crate::tenancy::{Actor, RequestCtx};

/// Appends one entry to `lead_id`'s timeline, inside the caller's
/// transaction so it commits (or not) with the change it describes.
pub(crate) async fn record(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    lead_id: Uuid,
    kind: ActivityType,
    summary: impl Into<String>,
    detail: serde_json::Value,
) -> AppResult<activities::Model> {
    record_at(conn, ctx, lead_id, kind, summary.into(), detail, Utc::now()).await
}

async fn record_at(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    lead_id: Uuid,
    kind: ActivityType,
    summary: String,
    detail: serde_json::Value,
    occurred_at: DateTime<Utc>,
) -> AppResult<activities::Model> {
    Ok(entry(ctx, lead_id, kind, summary, detail, occurred_at)
        .insert(conn)
        .await?)
}

/// A timeline entry by the caller, not yet written (a batch writes many
/// with one statement).
pub(crate) fn entry(
    ctx: &RequestCtx,
    lead_id: Uuid,
    kind: ActivityType,
    summary: String,
    detail: serde_json::Value,
    occurred_at: DateTime<Utc>,
) -> activities::ActiveModel {
    let (actor_type, actor_id) = match &ctx.actor {
        Actor::User { user_id } => (ActorType::User, Some(*user_id)),
        Actor::ApiKey { key_id, .. } => (ActorType::ApiKey, Some(*key_id)),
        Actor::System => (ActorType::System, None),
    };
    activities::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        id: Set(Uuid::now_v7()),
        lead_id: Set(lead_id),
        activity_type: Set(kind),
        actor_type: Set(actor_type),
        actor_id: Set(actor_id),
        summary: Set(summary),
        detail: Set(detail),
        occurred_at: Set(occurred_at.fixed_offset()),
        created_at: Set(Utc::now().fixed_offset()),
    }
}

/// What a person logs by hand.
pub(crate) struct LogActivity {
    pub lead_id: Uuid,
    pub kind: ActivityType,
    pub summary: String,
    pub detail: Option<String>,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Only hand-logged kinds: the system kinds describe changes the system made.
fn is_manual(kind: ActivityType) -> bool {
    matches!(
        kind,
        ActivityType::Call
            | ActivityType::Meeting
            | ActivityType::Email
            | ActivityType::Task
            | ActivityType::Other
    )
}

/// `logActivity`: a call, meeting, email, task or other touch on a lead.
pub(crate) async fn log(
    shared: &Shared,
    ctx: &RequestCtx,
    input: LogActivity,
) -> AppResult<activities::Model> {
    ctx.require_writer()?;
    if !is_manual(input.kind) {
        return Err(crate::error::AppError::invalid(
            "input.kind",
            "only CALL, MEETING, EMAIL, TASK or OTHER can be logged by hand",
        ));
    }
    let summary = required_text(&input.summary, "input.summary", 500)?;
    let detail = optional_text(input.detail, "input.detail", 10_000)?;
    if input
        .occurred_at
        .is_some_and(|at| at > Utc::now() + chrono::Duration::days(365))
    {
        return Err(crate::error::AppError::invalid(
            "input.occurredAt",
            "is too far in the future",
        ));
    }
    let txn = begin_write(&shared.db, ctx).await?;
    let lead = crate::tenancy::scoped::find_live::<entity::leads::Entity>(&txn, ctx, input.lead_id)
        .await?;
    let detail = detail.map_or(
        serde_json::json!({}),
        |text| serde_json::json!({ "text": text }),
    );
    let activity = record_at(
        &txn,
        ctx,
        lead.id,
        input.kind,
        summary,
        detail,
        input.occurred_at.unwrap_or_else(Utc::now),
    )
    .await?;
    txn.commit().await?;
    Ok(activity)
}
