//! The campaign scheduler: one durable `run_campaign` job per active
//! campaign (its `unique_key` keeps it to one), in the same job table as
//! every other background job.
//!
//! A run claims the campaign's due enrollments in batches (`FOR UPDATE
//! SKIP LOCKED` on PostgreSQL) and, in one transaction per batch, queues
//! each due step's message through the one message path and moves the
//! enrollment on. The message's `(enrollment, step)` key is unique and the
//! batch commits or not as a whole, so a worker that dies mid-batch sends
//! nothing of it and the next run takes the same enrollments again: no
//! step is sent twice or skipped. The run then schedules itself again for
//! the next due enrollment (`JobOutcome::RunAgainAt`); enrolling leads,
//! resuming or changing the campaign wakes it sooner (`wake`).

mod batch;
mod plan;
pub(crate) mod winner;

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use entity::sea_orm_active_enums::{CampaignStatus, EnrollmentStatus, JobStatus};
use entity::{campaign_enrollments, campaigns, jobs};

use crate::error::AppResult;
use crate::jobs::{JobKind, JobOutcome, new_job};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{as_system, begin_for, begin_for_write, scoped};

/// How long one run keeps claiming batches before it hands the worker back
/// (it continues at once in its next run).
const RUN_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// How often a campaign that enrols new audience members compares its
/// audience with its enrollments.
pub(crate) const AUDIENCE_SYNC: Duration = Duration::seconds(60);

/// The most a run waits before looking again, whatever is due: a wake
/// lost to a race costs at most this.
const MAX_SLEEP: Duration = Duration::minutes(10);

/// How often a campaign whose every step is queued looks whether its
/// messages went, to complete.
const UNSENT_CHECK: Duration = Duration::seconds(5);

fn unique_key(campaign_id: Uuid) -> String {
    format!("run_campaign:{campaign_id}")
}

/// Makes sure the campaign's scheduler job runs at `at` at the latest, in
/// the caller's transaction: moves an existing job earlier, or queues one.
pub(crate) async fn wake(
    conn: &impl ConnectionTrait,
    campaign: &campaigns::Model,
    at: DateTime<Utc>,
) -> AppResult<()> {
    let key = unique_key(campaign.id);
    let at = at.fixed_offset();
    as_system(conn, async {
        // Also a running job: its run ends by keeping the earlier time
        // (`queue::run_again_at`).
        jobs::Entity::update_many()
            .col_expr(jobs::Column::RunAt, Expr::val(at))
            .filter(jobs::Column::UniqueKey.eq(key.clone()))
            .filter(jobs::Column::Status.is_in([JobStatus::Pending, JobStatus::Running]))
            .filter(jobs::Column::RunAt.gt(at))
            .exec(conn)
            .await?;
        let mut job = new_job(
            campaign.tenant_id,
            JobKind::RunCampaign,
            serde_json::json!({ "campaign_id": campaign.id }),
            // Failures are retried with backoff for long.
            1_000,
        );
        job.run_at = sea_orm::Set(at);
        job.unique_key = sea_orm::Set(Some(key.clone()));
        // The partial unique index refuses a second pending or running job.
        // No conflict target: the one to meet is the partial unique index,
        // not the primary key.
        let inserted = jobs::Entity::insert(job)
            .on_conflict(
                sea_orm::sea_query::OnConflict::new()
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(conn)
            .await;
        match inserted {
            Ok(_) | Err(sea_orm::DbErr::RecordNotInserted) => Ok(()),
            Err(error) => Err(error.into()),
        }
    })
    .await
}

/// The `run_campaign` job.
pub(crate) async fn run(shared: &Shared, job: &jobs::Model) -> JobOutcome {
    let (Some(tenant_id), Some(campaign_id)) = (
        job.tenant_id,
        job.payload
            .get("campaign_id")
            .and_then(|v| v.as_str())
            .and_then(|v| Uuid::parse_str(v).ok()),
    ) else {
        return JobOutcome::Failed("malformed run_campaign job".into());
    };
    match run_campaign(shared, tenant_id, campaign_id).await {
        Ok(Some(at)) => JobOutcome::RunAgainAt(at, String::new()),
        Ok(None) => JobOutcome::Done,
        Err(error) => {
            tracing::warn!(?error, %campaign_id, "campaign run failed");
            let base = Duration::milliseconds(shared.config.messaging.retry_base_ms as i64);
            JobOutcome::RetryAfter(
                crate::jobs::queue::backoff(base, job.attempts),
                format!("{error:?}"),
            )
        }
    }
}

/// Runs due batches for a while; returns when to run next (`None`: the
/// campaign needs no more runs).
async fn run_campaign(
    shared: &Shared,
    tenant_id: Uuid,
    campaign_id: Uuid,
) -> AppResult<Option<DateTime<Utc>>> {
    let started = std::time::Instant::now();
    let ctx = RequestCtx::system(tenant_id);
    let Some(mut plan) = plan::Plan::load(shared, &ctx, campaign_id).await? else {
        return Ok(None);
    };
    // A test decided by what happened since the last run applies to this
    // run's sends.
    winner::decide_due(shared, &ctx, &mut plan).await?;
    loop {
        let now = shared.clock.now();
        match batch::run(shared, &ctx, &mut plan, now).await? {
            batch::Outcome::Stopped => return Ok(None),
            batch::Outcome::Wait(until) => return Ok(Some(until)),
            batch::Outcome::Sent { full } => {
                if !full || started.elapsed() > RUN_BUDGET {
                    break;
                }
            }
        }
    }
    winner::decide_due(shared, &ctx, &mut plan).await?;
    next_run(shared, &ctx, &plan.campaign).await
}

/// When the campaign next has work: its earliest due enrollment, the next
/// audience check, and at most `MAX_SLEEP` away. A campaign with nothing
/// left to send and no audience to watch completes.
async fn next_run(
    shared: &Shared,
    ctx: &RequestCtx,
    campaign: &campaigns::Model,
) -> AppResult<Option<DateTime<Utc>>> {
    let now = shared.clock.now();
    let txn = begin_for(&shared.db, ctx.tenant_id, None).await?;
    let next: Option<DateTime<chrono::FixedOffset>> = scoped::<campaign_enrollments::Entity>(ctx)
        .select_only()
        .column(campaign_enrollments::Column::NextRunAt)
        .filter(campaign_enrollments::Column::CampaignId.eq(campaign.id))
        .filter(campaign_enrollments::Column::Status.eq(EnrollmentStatus::Active))
        .filter(campaign_enrollments::Column::NextRunAt.is_not_null())
        .order_by_asc(campaign_enrollments::Column::NextRunAt)
        .limit(1)
        .into_tuple::<Option<DateTime<chrono::FixedOffset>>>()
        .one(&txn)
        .await?
        .flatten();
    txn.commit().await?;
    let mut at = now + MAX_SLEEP;
    if let Some(next) = next {
        at = Ord::min(at, Ord::max(next.to_utc(), now));
    } else if !campaign.enroll_new_leads {
        // Done once every message went too: until then the campaign can
        // still be paused (its deliveries held).
        if complete_if_done(shared, ctx, campaign.id, now).await? {
            return Ok(None);
        }
        at = Ord::min(at, now + UNSENT_CHECK);
    }
    if campaign.enroll_new_leads {
        at = Ord::min(at, now + AUDIENCE_SYNC);
    }
    if let Some(ends) = campaign.ends_at {
        at = Ord::min(at, Ord::max(ends.to_utc(), now));
    }
    Ok(Some(at))
}

/// Completes an active campaign without active enrollments or queued
/// messages; says whether it is done.
async fn complete_if_done(
    shared: &Shared,
    ctx: &RequestCtx,
    campaign_id: Uuid,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let txn = begin_for_write(&shared.db, ctx.tenant_id, None).await?;
    let active = scoped::<campaign_enrollments::Entity>(ctx)
        .filter(campaign_enrollments::Column::CampaignId.eq(campaign_id))
        .filter(campaign_enrollments::Column::Status.eq(EnrollmentStatus::Active))
        .one(&txn)
        .await?;
    let unsent = scoped::<entity::messages::Entity>(ctx)
        .filter(entity::messages::Column::CampaignId.eq(campaign_id))
        .filter(
            entity::messages::Column::Status
                .eq(entity::sea_orm_active_enums::MessageStatus::Queued),
        )
        .one(&txn)
        .await?;
    let done = active.is_none() && unsent.is_none();
    if done {
        crate::tenancy::scoped::tenant_update::<campaigns::Entity>(ctx.tenant_id)
            .col_expr(
                campaigns::Column::Status,
                Expr::val(CampaignStatus::Completed),
            )
            .col_expr(
                campaigns::Column::CompletedAt,
                Expr::val(now.fixed_offset()),
            )
            .col_expr(campaigns::Column::UpdatedAt, Expr::val(now.fixed_offset()))
            .filter(campaigns::Column::Id.eq(campaign_id))
            .filter(campaigns::Column::Status.eq(CampaignStatus::Active))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(done)
}
