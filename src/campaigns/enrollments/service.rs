//! Enrollments: who is in a campaign and where each lead is in its
//! sequence. Leads join at launch (the audience), later as they enter a
//! dynamic audience, by hand (`enrollLeads`) or from a workflow; they leave
//! when their last step is sent, a stop condition fires, or by hand.
//!
//! Enrolling is set-based: the audience's lead ids are read in keyset
//! chunks and inserted with `ON CONFLICT DO NOTHING` on the unique
//! `(tenant, campaign, lead)` key, so enrolling twice (a retried tick, two
//! workers) enrols each lead once.

use async_graphql::InputType;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, RelationTrait, Set,
};
use uuid::Uuid;

use entity::sea_orm_active_enums::{CampaignStatus, EnrollmentStatus, MessageStatus, ScheduleKind};
use entity::{campaign_enrollments, campaigns, leads, messages};

use super::types::{EnrollResult, EnrollSkip, EnrollmentStatus as ApiStatus};
use crate::campaigns::campaign::settings::{Audience, Timing};
use crate::campaigns::schedule;
use crate::crm::leads::filter::{LeadFilter, compile};
use crate::crm::segments::service::{Missing, resolve_segments};
use crate::error::{AppError, AppResult};
use crate::graphql::pagination::{Order, Page, PageArgs, Totals, list_by_id};
use crate::graphql::{parse_id, to_id};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin_write, find_live, find_owned, live, scoped, tenant_update};

/// Lead ids read (and enrollments inserted) per statement.
const CHUNK: u64 = 1_000;

/// Most ids `enrollLeads` takes at once.
pub(crate) const MAX_IDS: usize = 10_000;

/// Where an enrollment came from.
pub(crate) mod source {
    pub(crate) const AUDIENCE: &str = "audience";
    pub(crate) const MANUAL: &str = "manual";
}

/// Why an enrollment stopped, besides the stop conditions' own names.
pub(crate) mod reason {
    pub(crate) const MANUAL: &str = "manual";
    pub(crate) const LEFT_AUDIENCE: &str = "left_audience";
    pub(crate) const CAMPAIGN_COMPLETED: &str = "campaign_completed";
    pub(crate) const LEAD_DELETED: &str = "lead_deleted";
    pub(crate) const SUPPRESSED: &str = "suppressed";
    pub(crate) const OPT_IN_PENDING: &str = "opt_in_pending";
}

/// The audience as one lead filter: in any of its segments, matching its
/// filter, in none of its exclusions. `missing` says what a segment
/// deleted since means (refused while saving, empty while sending).
pub(crate) async fn audience_filter(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    audience: &Audience,
    path: &str,
    missing: Missing,
) -> AppResult<Condition> {
    let mut filter = LeadFilter::default();
    if !audience.segment_ids.is_empty() {
        filter.in_segments = Some(audience.segment_ids.iter().copied().map(to_id).collect());
    }
    if !audience.exclude_segment_ids.is_empty() {
        filter.not_in_segments = Some(
            audience
                .exclude_segment_ids
                .iter()
                .copied()
                .map(to_id)
                .collect(),
        );
    }
    if let Some(json) = &audience.filter {
        let value = async_graphql::Value::from_json(json.clone())
            .map_err(|e| AppError::internal(anyhow::anyhow!("campaign audience: {e}")))?;
        let given = LeadFilter::parse(Some(value)).map_err(|e| {
            AppError::invalid(
                format!("{path}.filter"),
                e.into_server_error(Default::default()).message,
            )
        })?;
        filter.and = Some(vec![given]);
    }
    let mut chain = Vec::new();
    resolve_segments(conn, ctx, &mut filter, path, &mut chain, missing).await?;
    compile(&filter, conn.get_database_backend(), path)
}

/// The live leads of the audience.
pub(crate) async fn audience_leads(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    campaign: &campaigns::Model,
) -> AppResult<sea_orm::Select<leads::Entity>> {
    let condition = audience_filter(
        conn,
        ctx,
        &Audience::of(campaign),
        "audience",
        Missing::Empty,
    )
    .await?;
    Ok(live::<leads::Entity>(ctx).filter(condition))
}

/// When a lead enrolled at `now` gets its first step, before the send
/// window is applied (the runner applies it when the step is due).
pub(crate) fn first_run_at(
    campaign: &campaigns::Model,
    timing: &Timing,
    lead_zone: Option<&str>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let start = campaign
        .starts_at
        .map(|at| Ord::max(at.to_utc(), now))
        .unwrap_or(now);
    let zone = timing.zone_for(lead_zone);
    let batch = |weekday: Option<u32>| {
        let minute = Ord::max(campaign.send_time_minute.unwrap_or(9 * 60), 0) as u32;
        schedule::next_batch(start, zone, minute, weekday, &timing.window).unwrap_or(start)
    };
    match campaign.schedule_kind {
        ScheduleKind::Immediate | ScheduleKind::At => start,
        ScheduleKind::Daily => batch(None),
        ScheduleKind::Weekly => batch(Some(Ord::max(campaign.send_weekday.unwrap_or(1), 1) as u32)),
    }
}

fn enrollment_row(
    campaign: &campaigns::Model,
    timing: &Timing,
    lead_id: Uuid,
    lead_zone: Option<&str>,
    source: &str,
    now: DateTime<Utc>,
) -> campaign_enrollments::ActiveModel {
    let at = now.fixed_offset();
    campaign_enrollments::ActiveModel {
        tenant_id: Set(campaign.tenant_id),
        id: Set(Uuid::now_v7()),
        campaign_id: Set(campaign.id),
        lead_id: Set(lead_id),
        status: Set(EnrollmentStatus::Active),
        next_step: Set(0),
        next_run_at: Set(Some(
            first_run_at(campaign, timing, lead_zone, now).fixed_offset(),
        )),
        source: Set(source.to_owned()),
        stop_reason: Set(None),
        error: Set(None),
        last_message_id: Set(None),
        last_sent_at: Set(None),
        enrolled_at: Set(at),
        started_at: Set(None),
        completed_at: Set(None),
        stopped_at: Set(None),
        converted_at: Set(None),
        updated_at: Set(at),
    }
}

/// Inserts enrollments, skipping leads already enrolled; returns how many
/// were new.
async fn insert_enrollments(
    conn: &impl ConnectionTrait,
    rows: Vec<campaign_enrollments::ActiveModel>,
) -> AppResult<u64> {
    let mut inserted = 0;
    for chunk in rows.chunks(CHUNK as usize) {
        let result = campaign_enrollments::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([
                    campaign_enrollments::Column::TenantId,
                    campaign_enrollments::Column::CampaignId,
                    campaign_enrollments::Column::LeadId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(conn)
            .await;
        match result {
            Ok(n) => inserted += n,
            // Every row of the chunk was a conflict.
            Err(sea_orm::DbErr::RecordNotInserted) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(inserted)
}

/// Enrols every lead of the campaign's audience not enrolled yet, in the
/// caller's transaction; returns how many joined.
pub(crate) async fn enroll_audience(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    campaign: &campaigns::Model,
    now: DateTime<Utc>,
) -> AppResult<u64> {
    let timing = Timing::of(campaign);
    let select = audience_leads(txn, ctx, campaign).await?;
    let not_enrolled = Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(campaign_enrollments::Entity)
            .and_where(
                Expr::col((
                    campaign_enrollments::Entity,
                    campaign_enrollments::Column::TenantId,
                ))
                .equals((leads::Entity, leads::Column::TenantId)),
            )
            .and_where(
                Expr::col((
                    campaign_enrollments::Entity,
                    campaign_enrollments::Column::CampaignId,
                ))
                .eq(campaign.id),
            )
            .and_where(
                Expr::col((
                    campaign_enrollments::Entity,
                    campaign_enrollments::Column::LeadId,
                ))
                .equals((leads::Entity, leads::Column::Id)),
            )
            .to_owned(),
    )
    .not();
    let mut after: Option<Uuid> = None;
    let mut enrolled = 0;
    loop {
        let mut chunk = select
            .clone()
            .select_only()
            .column(leads::Column::Id)
            .column(leads::Column::TimeZone)
            .filter(not_enrolled.clone())
            .order_by_asc(leads::Column::Id)
            .limit(CHUNK);
        if let Some(after) = after {
            chunk = chunk.filter(leads::Column::Id.gt(after));
        }
        let rows: Vec<(Uuid, Option<String>)> = chunk.into_tuple().all(txn).await?;
        let Some(last) = rows.last().map(|(id, _)| *id) else {
            break;
        };
        after = Some(last);
        let full = rows.len() as u64 == CHUNK;
        let models = rows
            .into_iter()
            .map(|(id, zone)| {
                enrollment_row(
                    campaign,
                    &timing,
                    id,
                    zone.as_deref(),
                    source::AUDIENCE,
                    now,
                )
            })
            .collect();
        enrolled += insert_enrollments(txn, models).await?;
        if !full {
            break;
        }
    }
    Ok(enrolled)
}

/// Enrols the given leads (live ones of the tenant) in the caller's
/// transaction: each result names a lead that was not enrolled and why.
pub(crate) async fn enroll_in(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    campaign: &campaigns::Model,
    lead_ids: &[Uuid],
    source: &str,
    now: DateTime<Utc>,
) -> AppResult<(u64, Vec<(Uuid, &'static str)>)> {
    let timing = Timing::of(campaign);
    let mut found: Vec<(Uuid, Option<String>)> = Vec::with_capacity(lead_ids.len());
    for chunk in lead_ids.chunks(CHUNK as usize) {
        found.extend(
            live::<leads::Entity>(ctx)
                .select_only()
                .column(leads::Column::Id)
                .column(leads::Column::TimeZone)
                .filter(leads::Column::Id.is_in(chunk.iter().copied()))
                .into_tuple::<(Uuid, Option<String>)>()
                .all(txn)
                .await?,
        );
    }
    let mut already = std::collections::HashSet::new();
    for chunk in lead_ids.chunks(CHUNK as usize) {
        already.extend(
            scoped::<campaign_enrollments::Entity>(ctx)
                .select_only()
                .column(campaign_enrollments::Column::LeadId)
                .filter(campaign_enrollments::Column::CampaignId.eq(campaign.id))
                .filter(campaign_enrollments::Column::LeadId.is_in(chunk.iter().copied()))
                .into_tuple::<Uuid>()
                .all(txn)
                .await?,
        );
    }
    let live: std::collections::HashSet<Uuid> = found.iter().map(|(id, _)| *id).collect();
    let mut skipped = Vec::new();
    for id in lead_ids {
        if !live.contains(id) {
            skipped.push((*id, "NOT_FOUND"));
        } else if already.contains(id) {
            skipped.push((*id, "ALREADY_ENROLLED"));
        }
    }
    let rows = found
        .into_iter()
        .filter(|(id, _)| !already.contains(id))
        .map(|(id, zone)| enrollment_row(campaign, &timing, id, zone.as_deref(), source, now))
        .collect();
    let enrolled = insert_enrollments(txn, rows).await?;
    Ok((enrolled, skipped))
}

/// A campaign that still takes enrollments.
fn open_for_enrollment(campaign: &campaigns::Model) -> AppResult<()> {
    match campaign.status {
        CampaignStatus::Completed | CampaignStatus::Archived => Err(AppError::conflict(format!(
            "the campaign is {}: it takes no more leads",
            crate::campaigns::campaign::service::status_name(&campaign.status)
        ))),
        _ => Ok(()),
    }
}

/// `enrollLeads`.
pub(crate) async fn enroll(
    shared: &Shared,
    ctx: &RequestCtx,
    campaign_id: Uuid,
    lead_ids: Vec<async_graphql::ID>,
) -> AppResult<EnrollResult> {
    ctx.require_writer()?;
    if lead_ids.len() > MAX_IDS {
        return Err(AppError::invalid(
            "leadIds",
            format!("at most {MAX_IDS} leads per call"),
        ));
    }
    let mut ids = Vec::with_capacity(lead_ids.len());
    for (i, id) in lead_ids.iter().enumerate() {
        let id = parse_id(id, &format!("leadIds.{i}"))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let txn = begin_write(&shared.db, ctx).await?;
    let campaign = find_live::<campaigns::Entity>(&txn, ctx, campaign_id).await?;
    open_for_enrollment(&campaign)?;
    let now = shared.clock.now();
    let (enrolled, skipped) = enroll_in(&txn, ctx, &campaign, &ids, source::MANUAL, now).await?;
    if campaign.status == CampaignStatus::Active {
        crate::campaigns::runner::wake(&txn, &campaign, now).await?;
    }
    txn.commit().await?;
    shared.jobs.wake();
    Ok(EnrollResult {
        enrolled: crate::graphql::numbers::Count(enrolled as i64),
        skipped: skipped
            .into_iter()
            .map(|(id, code)| EnrollSkip {
                lead_id: to_id(id),
                code: code.to_owned(),
            })
            .collect(),
    })
}

/// Stops active enrollments (by id) with `why`, and cancels their messages
/// that are queued and not yet being handed over, in the caller's
/// transaction. Returns the enrollments stopped.
pub(crate) async fn stop_in(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    ids: &[Uuid],
    why: &str,
    now: DateTime<Utc>,
) -> AppResult<u64> {
    let at = now.fixed_offset();
    let mut stopped = 0;
    for chunk in ids.chunks(CHUNK as usize) {
        stopped += tenant_update::<campaign_enrollments::Entity>(tenant_id)
            .col_expr(
                campaign_enrollments::Column::Status,
                Expr::val(EnrollmentStatus::Stopped),
            )
            .col_expr(campaign_enrollments::Column::StopReason, Expr::val(why))
            .col_expr(campaign_enrollments::Column::StoppedAt, Expr::val(at))
            .col_expr(
                campaign_enrollments::Column::NextRunAt,
                Expr::val(None::<DateTime<chrono::FixedOffset>>),
            )
            .col_expr(campaign_enrollments::Column::UpdatedAt, Expr::val(at))
            .filter(campaign_enrollments::Column::Id.is_in(chunk.iter().copied()))
            .filter(campaign_enrollments::Column::Status.eq(EnrollmentStatus::Active))
            .exec(conn)
            .await?
            .rows_affected;
        cancel_queued(conn, tenant_id, chunk, why, now).await?;
    }
    Ok(stopped)
}

/// Cancels the queued messages of these enrollments that no worker has
/// started to hand over (those go on: they may already have arrived).
pub(crate) async fn cancel_queued(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    enrollment_ids: &[Uuid],
    why: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    tenant_update::<messages::Entity>(tenant_id)
        .col_expr(messages::Column::Status, Expr::val(MessageStatus::Canceled))
        .col_expr(
            messages::Column::Error,
            Expr::val(format!(
                "not sent: the lead's campaign enrollment stopped ({why})"
            )),
        )
        .col_expr(messages::Column::UpdatedAt, Expr::val(now.fixed_offset()))
        .filter(messages::Column::EnrollmentId.is_in(enrollment_ids.iter().copied()))
        .filter(messages::Column::Status.eq(MessageStatus::Queued))
        .filter(messages::Column::TransferStartedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

/// The stop condition an engagement event meets, if any. Automatic
/// replies are not replies.
pub(crate) fn stop_condition_of(
    kind: &entity::sea_orm_active_enums::EngagementType,
) -> Option<crate::campaigns::campaign::types::StopCondition> {
    use crate::campaigns::campaign::types::StopCondition;
    use entity::sea_orm_active_enums::EngagementType;
    match kind {
        EngagementType::Replied => Some(StopCondition::Replied),
        EngagementType::Clicked => Some(StopCondition::Clicked),
        EngagementType::Unsubscribed | EngagementType::Complained => {
            Some(StopCondition::Unsubscribed)
        }
        EngagementType::Bounced => Some(StopCondition::Bounced),
        _ => None,
    }
}

/// Stops the enrollments whose campaign stops on what happened (events
/// recorded in the caller's transaction): `(enrollment, condition)`.
pub(crate) async fn stop_on_engagement(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    met: &[(Uuid, crate::campaigns::campaign::types::StopCondition)],
    now: DateTime<Utc>,
) -> AppResult<()> {
    if met.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = met.iter().map(|(id, _)| *id).collect();
    let rows: Vec<(Uuid, serde_json::Value)> =
        crate::tenancy::scoped::tenant_rows::<campaign_enrollments::Entity>(tenant_id)
            .select_only()
            .column(campaign_enrollments::Column::Id)
            .column(campaigns::Column::StopOn)
            .join(
                sea_orm::JoinType::InnerJoin,
                campaign_enrollments::Relation::Campaigns.def(),
            )
            .filter(campaign_enrollments::Column::Id.is_in(ids))
            .filter(campaign_enrollments::Column::Status.eq(EnrollmentStatus::Active))
            .into_tuple()
            .all(conn)
            .await?;
    let mut by_reason: std::collections::BTreeMap<&'static str, Vec<Uuid>> = Default::default();
    for (id, condition) in met {
        let Some((_, stop_on)) = rows.iter().find(|(row, _)| row == id) else {
            continue;
        };
        let stops = stop_on.as_array().is_some_and(|list| {
            list.iter()
                .any(|v| v.as_str() == Some(condition.spelling()))
        });
        if stops {
            by_reason.entry(condition.spelling()).or_default().push(*id);
        }
    }
    for (why, ids) in by_reason {
        stop_in(conn, tenant_id, &ids, why, now).await?;
    }
    Ok(())
}

/// `stopEnrollment`.
pub(crate) async fn stop(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<campaign_enrollments::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let enrollment =
        find_owned::<campaign_enrollments::Entity>(&txn, ctx, id, "enrollment").await?;
    if enrollment.status != EnrollmentStatus::Active {
        return Err(AppError::conflict(format!(
            "the enrollment is {}: only an active one can be stopped",
            match enrollment.status {
                EnrollmentStatus::Active => "active",
                EnrollmentStatus::Completed => "completed",
                EnrollmentStatus::Stopped => "stopped",
                EnrollmentStatus::Failed => "failed",
            }
        )));
    }
    stop_in(
        &txn,
        ctx.tenant_id,
        &[id],
        reason::MANUAL,
        shared.clock.now(),
    )
    .await?;
    let enrollment =
        find_owned::<campaign_enrollments::Entity>(&txn, ctx, id, "enrollment").await?;
    txn.commit().await?;
    Ok(enrollment)
}

/// Stops the active enrollments whose lead left the audience.
pub(crate) async fn remove_leavers(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    campaign: &campaigns::Model,
    now: DateTime<Utc>,
) -> AppResult<u64> {
    let members = audience_leads(txn, ctx, campaign)
        .await?
        .select_only()
        .column(leads::Column::Id)
        .into_query();
    let leaving: Vec<Uuid> = scoped::<campaign_enrollments::Entity>(ctx)
        .select_only()
        .column(campaign_enrollments::Column::Id)
        .filter(campaign_enrollments::Column::CampaignId.eq(campaign.id))
        .filter(campaign_enrollments::Column::Status.eq(EnrollmentStatus::Active))
        .filter(campaign_enrollments::Column::LeadId.not_in_subquery(members))
        .into_tuple()
        .all(txn)
        .await?;
    stop_in(txn, ctx.tenant_id, &leaving, reason::LEFT_AUDIENCE, now).await
}

/// One page of a campaign's enrollments, newest first.
pub(crate) async fn list_of_campaign(
    shared: &Shared,
    ctx: &RequestCtx,
    campaign_id: Uuid,
    args: &PageArgs,
    status: Option<ApiStatus>,
) -> AppResult<(Page<campaign_enrollments::Model>, Totals)> {
    let mut select = scoped::<campaign_enrollments::Entity>(ctx)
        .filter(campaign_enrollments::Column::CampaignId.eq(campaign_id));
    if let Some(status) = status {
        select =
            select.filter(campaign_enrollments::Column::Status.eq(EnrollmentStatus::from(status)));
    }
    list_by_id(
        shared,
        ctx,
        select,
        campaign_enrollments::Column::Id,
        args,
        Order::NewestFirst,
    )
    .await
}
