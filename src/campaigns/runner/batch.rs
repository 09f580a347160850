//! One batch of a campaign run, in one transaction: claim the due
//! enrollments, decide for each whether its next step goes now (or waits
//! for the window, a cap, a sender; or ends the enrollment), render and
//! queue what goes, and move every claimed enrollment on.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, FixedOffset, Timelike, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Query, QueryStatementBuilder};
use sea_orm::{ColumnTrait, ConnectionTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use entity::sea_orm_active_enums::{CampaignStatus, EnrollmentStatus, MessageChannel, OptInStatus};
use entity::{campaign_enrollments, campaigns, leads, messages};

use super::plan::Plan;
use crate::campaigns::campaign::types::StopCondition;
use crate::campaigns::enrollments::service::{enroll_audience, reason, remove_leavers, stop_in};
use crate::campaigns::schedule;
use crate::db::is_postgres;
use crate::error::AppResult;
use crate::messaging::messages::compose::{self, Audience, Batch, Draft};
use crate::messaging::messages::service::{
    Common, Outgoing, Queued, SequenceStep, bump_usage, draft, queue_one, remaining_today, store,
};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin_for_write, scoped, tenant_update};

/// Enrollments claimed per batch.
pub(crate) const BATCH: u64 = 500;

pub(crate) enum Outcome {
    /// The campaign no longer runs.
    Stopped,
    /// Not started yet: run again then.
    Wait(DateTime<Utc>),
    /// A batch went; `full` when it claimed as many as it could (more may
    /// be due).
    Sent { full: bool },
}

/// What becomes of one claimed enrollment.
enum Fate {
    Send {
        lead: usize,
        variant: usize,
        sender: usize,
    },
    Defer(DateTime<Utc>),
    Stop(&'static str),
    Fail(String),
    Complete,
}

fn offset(at: DateTime<Utc>) -> DateTime<FixedOffset> {
    at.fixed_offset()
}

/// Starts of the current hour and of the next.
fn hour_of(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = now
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(now);
    (start, start + Duration::hours(1))
}

/// Leads the campaign started (first step queued) since `since`.
async fn started_since(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    campaign_id: Uuid,
    since: DateTime<Utc>,
) -> AppResult<i64> {
    Ok(scoped::<campaign_enrollments::Entity>(ctx)
        .filter(campaign_enrollments::Column::CampaignId.eq(campaign_id))
        .filter(campaign_enrollments::Column::StartedAt.gte(offset(since)))
        .count(conn)
        .await? as i64)
}

pub(crate) async fn run(
    shared: &Shared,
    ctx: &RequestCtx,
    plan: &mut Plan,
    now: DateTime<Utc>,
) -> AppResult<Outcome> {
    let txn = begin_for_write(&shared.db, ctx.tenant_id, None).await?;
    // The campaign row is read under a share lock: pausing (an update)
    // waits for this batch, and the next batch sees it paused.
    let mut read =
        scoped::<campaigns::Entity>(ctx).filter(campaigns::Column::Id.eq(plan.campaign.id));
    if is_postgres(&txn) {
        read = read.lock_shared();
    }
    let Some(campaign) = read.one(&txn).await? else {
        return Ok(Outcome::Stopped);
    };
    if campaign.deleted_at.is_some() {
        return Ok(Outcome::Stopped);
    }
    match campaign.status {
        CampaignStatus::Active => {}
        CampaignStatus::Scheduled => {
            let starts = campaign.starts_at.map(|at| at.to_utc()).unwrap_or(now);
            if starts > now {
                return Ok(Outcome::Wait(starts));
            }
            tenant_update::<campaigns::Entity>(ctx.tenant_id)
                .col_expr(campaigns::Column::Status, Expr::val(CampaignStatus::Active))
                .col_expr(campaigns::Column::UpdatedAt, Expr::val(offset(now)))
                .filter(campaigns::Column::Id.eq(campaign.id))
                .exec(&txn)
                .await?;
        }
        _ => return Ok(Outcome::Stopped),
    }
    if campaign.ends_at.is_some_and(|at| at.to_utc() <= now) {
        crate::campaigns::campaign::service::finish(
            &txn,
            ctx,
            &campaign,
            CampaignStatus::Completed,
            now,
        )
        .await?;
        txn.commit().await?;
        return Ok(Outcome::Stopped);
    }
    if campaign.enroll_new_leads
        && campaign
            .audience_synced_at
            .is_none_or(|at| now - at.to_utc() >= super::AUDIENCE_SYNC)
    {
        enroll_audience(&txn, ctx, &campaign, now).await?;
        if campaign.remove_leavers {
            remove_leavers(&txn, ctx, &campaign, now).await?;
        }
        tenant_update::<campaigns::Entity>(ctx.tenant_id)
            .col_expr(campaigns::Column::AudienceSyncedAt, Expr::val(offset(now)))
            .filter(campaigns::Column::Id.eq(campaign.id))
            .exec(&txn)
            .await?;
        plan.campaign.audience_synced_at = Some(offset(now));
    }

    let mut claim = scoped::<campaign_enrollments::Entity>(ctx)
        .filter(campaign_enrollments::Column::CampaignId.eq(campaign.id))
        .filter(campaign_enrollments::Column::Status.eq(EnrollmentStatus::Active))
        .filter(campaign_enrollments::Column::NextRunAt.lte(offset(now)))
        .order_by_asc(campaign_enrollments::Column::NextRunAt)
        .limit(BATCH);
    if is_postgres(&txn) {
        claim = claim.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let claimed = claim.all(&txn).await?;
    let full = claimed.len() as u64 == BATCH;
    if claimed.is_empty() {
        txn.commit().await?;
        return Ok(Outcome::Sent { full: false });
    }

    let lead_ids: Vec<Uuid> = claimed.iter().map(|e| e.lead_id).collect();
    let found: Vec<leads::Model> = crate::tenancy::scoped::live::<leads::Entity>(ctx)
        .filter(leads::Column::Id.is_in(lead_ids))
        .all(&txn)
        .await?;
    let suppressed = crate::messaging::suppressions::service::suppressed_among(
        &txn,
        ctx.tenant_id,
        found.iter().filter_map(|l| l.email.clone()),
    )
    .await?;
    let recipients = compose::recipients(&txn, ctx, found).await?;
    let lead_index: HashMap<Uuid, usize> = recipients
        .iter()
        .enumerate()
        .map(|(i, r)| (r.lead.id, i))
        .collect();

    // Caps: the tenant's daily limit, and the campaign's leads per day
    // and per hour (counted from `started_at`).
    let mut tenant_room = remaining_today(&txn, ctx, now).await?;
    let (day_start, day_end) = schedule::local_day(now, plan.timing.zone);
    let (hour_start, hour_end) = hour_of(now);
    let mut day_room = match campaign.leads_per_day {
        Some(cap) => Some(i64::from(cap) - started_since(&txn, ctx, campaign.id, day_start).await?),
        None => None,
    };
    let mut hour_room = match campaign.leads_per_hour {
        Some(cap) => {
            Some(i64::from(cap) - started_since(&txn, ctx, campaign.id, hour_start).await?)
        }
        None => None,
    };
    let tomorrow_utc =
        crate::messaging::senders::service::start_of_utc_day(now) + Duration::days(1);

    let mut fates: Vec<(campaign_enrollments::Model, Fate)> = Vec::with_capacity(claimed.len());
    for enrollment in claimed {
        let fate = decide(
            plan,
            &enrollment,
            &lead_index,
            &recipients,
            &suppressed,
            now,
            (&mut tenant_room, tomorrow_utc),
            (&mut day_room, day_end),
            (&mut hour_room, hour_end),
        );
        fates.push((enrollment, fate));
    }

    // Render and queue what goes, grouped by variant and sender (each
    // group renders with its own `sender.*`).
    let mut groups: BTreeMap<(usize, usize, usize), Vec<usize>> = BTreeMap::new();
    for (i, (enrollment, fate)) in fates.iter().enumerate() {
        if let Fate::Send {
            variant, sender, ..
        } = fate
        {
            groups
                .entry((enrollment.next_step as usize, *variant, *sender))
                .or_default()
                .push(i);
        }
    }
    let lead_zones: Vec<Option<String>> = recipients
        .iter()
        .map(|r| r.lead.time_zone.clone())
        .collect();
    let mut recipients: Vec<Option<compose::Recipient>> =
        recipients.into_iter().map(Some).collect();
    let mut queued: Vec<Queued> = Vec::new();
    let mut sent: Vec<usize> = Vec::new();
    let mut failed: Vec<(usize, String)> = Vec::new();
    let audience_base = Audience::load(&txn, ctx.tenant_id, None).await?;
    let provided = serde_json::Map::new();
    for ((step_index, variant_index, sender_index), members) in groups {
        let step = &plan.steps[step_index];
        let variant = &step.variants[variant_index];
        let sender = &plan.senders[sender_index].candidate;
        let common = Common {
            shared,
            ctx,
            template_id: variant.variant.template_id,
            campaign_id: Some(campaign.id),
            sender,
            tracking: true,
            provided: &provided,
            now,
        };
        let mut drafts: Vec<Draft<Outgoing>> = Vec::with_capacity(members.len());
        let mut owners: Vec<usize> = Vec::with_capacity(members.len());
        for i in members {
            let (enrollment, fate) = &fates[i];
            let Fate::Send { lead, .. } = fate else {
                continue;
            };
            let Some(recipient) = recipients[*lead].take() else {
                continue;
            };
            let email = recipient.lead.email.clone().unwrap_or_default();
            drafts.push(draft(
                &common,
                recipient,
                email,
                Some(SequenceStep {
                    enrollment_id: enrollment.id,
                    step_id: step.step.id,
                    variant_id: variant.variant.id,
                }),
            ));
            owners.push(i);
        }
        let batch = Batch {
            template: variant.source.clone(),
            audience: audience_base.for_sender(
                sender.account.from_name.clone(),
                Some(sender.account.from_email.clone()),
            ),
            declared: variant.declared.clone(),
            provided: provided.clone(),
        };
        let count = drafts.len();
        let rendered = match compose::render_drafts(shared, batch, drafts, count).await {
            Ok(rendered) => rendered,
            Err(error) => {
                // Over the template limits: every lead would fail alike.
                for i in owners {
                    failed.push((i, error.public_message()));
                }
                continue;
            }
        };
        let mut in_group = 0;
        for ((draft, outcome), i) in rendered.into_iter().zip(owners) {
            match outcome
                .unwrap_or_else(|| {
                    Err(crate::error::AppError::internal(anyhow::anyhow!(
                        "not rendered"
                    )))
                })
                .and_then(|r| queue_one(&common, &draft, r))
            {
                Ok(q) => {
                    queued.push(q);
                    sent.push(i);
                    in_group += 1;
                }
                Err(error) => failed.push((i, error.public_message())),
            }
        }
        bump_usage(&txn, ctx, variant.variant.template_id, in_group).await?;
    }
    store(&txn, queued).await?;

    // Move every claimed enrollment on.
    let mut stops: BTreeMap<&'static str, Vec<Uuid>> = BTreeMap::new();
    let mut defers: BTreeMap<DateTime<Utc>, Vec<Uuid>> = BTreeMap::new();
    let mut completes: Vec<Uuid> = Vec::new();
    let mut sent_moves: BTreeMap<(i32, Option<DateTime<Utc>>), Vec<Uuid>> = BTreeMap::new();
    let mut failures: Vec<(Uuid, String)> = failed
        .into_iter()
        .map(|(i, error)| (fates[i].0.id, error))
        .collect();
    let sent_set: std::collections::HashSet<usize> = sent.iter().copied().collect();
    for (i, (enrollment, fate)) in fates.iter().enumerate() {
        match fate {
            Fate::Send { lead, .. } if sent_set.contains(&i) => {
                let next = enrollment.next_step + 1;
                let at = plan.steps.get(next as usize).map(|step| {
                    let zone = plan.timing.zone_for(lead_zones[*lead].as_deref());
                    schedule::after_delay(
                        now,
                        Ord::max(step.step.delay_minutes, 0) as u32,
                        step.step.business_days,
                        zone,
                    )
                });
                sent_moves
                    .entry((next, at))
                    .or_default()
                    .push(enrollment.id);
            }
            Fate::Send { .. } => {}
            Fate::Defer(at) => defers.entry(*at).or_default().push(enrollment.id),
            Fate::Stop(why) => stops.entry(why).or_default().push(enrollment.id),
            Fate::Fail(error) => failures.push((enrollment.id, error.clone())),
            Fate::Complete => completes.push(enrollment.id),
        }
    }
    for ((next, at), ids) in sent_moves {
        advance(&txn, ctx, &ids, next, at, plan.steps.len() as i32, now).await?;
    }
    for (at, ids) in defers {
        tenant_update::<campaign_enrollments::Entity>(ctx.tenant_id)
            .col_expr(
                campaign_enrollments::Column::NextRunAt,
                Expr::val(offset(at)),
            )
            .col_expr(
                campaign_enrollments::Column::UpdatedAt,
                Expr::val(offset(now)),
            )
            .filter(campaign_enrollments::Column::Id.is_in(ids))
            .exec(&txn)
            .await?;
    }
    for (why, ids) in stops {
        if why == StopCondition::Converted.spelling() {
            tenant_update::<campaign_enrollments::Entity>(ctx.tenant_id)
                .col_expr(
                    campaign_enrollments::Column::ConvertedAt,
                    Expr::val(offset(now)),
                )
                .filter(campaign_enrollments::Column::Id.is_in(ids.clone()))
                .exec(&txn)
                .await?;
        }
        stop_in(&txn, ctx.tenant_id, &ids, why, now).await?;
    }
    for (id, error) in failures {
        tenant_update::<campaign_enrollments::Entity>(ctx.tenant_id)
            .col_expr(
                campaign_enrollments::Column::Status,
                Expr::val(EnrollmentStatus::Failed),
            )
            .col_expr(campaign_enrollments::Column::Error, Expr::val(error))
            .col_expr(
                campaign_enrollments::Column::StoppedAt,
                Expr::val(offset(now)),
            )
            .col_expr(
                campaign_enrollments::Column::NextRunAt,
                Expr::val(None::<DateTime<FixedOffset>>),
            )
            .col_expr(
                campaign_enrollments::Column::UpdatedAt,
                Expr::val(offset(now)),
            )
            .filter(campaign_enrollments::Column::Id.eq(id))
            .exec(&txn)
            .await?;
    }
    if !completes.is_empty() {
        complete(&txn, ctx, &completes, now).await?;
    }
    txn.commit().await?;
    shared.jobs.wake();
    metrics::counter!("promohub_campaign_messages_queued_total").increment(sent.len() as u64);
    Ok(Outcome::Sent { full })
}

/// Decides one enrollment's fate (see [`Fate`]).
#[expect(clippy::too_many_arguments, reason = "the batch's shared tallies")]
fn decide(
    plan: &mut Plan,
    enrollment: &campaign_enrollments::Model,
    lead_index: &HashMap<Uuid, usize>,
    recipients: &[compose::Recipient],
    suppressed: &std::collections::HashSet<String>,
    now: DateTime<Utc>,
    tenant: (&mut i64, DateTime<Utc>),
    day: (&mut Option<i64>, DateTime<Utc>),
    hour: (&mut Option<i64>, DateTime<Utc>),
) -> Fate {
    let Some(&lead_at) = lead_index.get(&enrollment.lead_id) else {
        return Fate::Stop(reason::LEAD_DELETED);
    };
    let lead = &recipients[lead_at].lead;
    let Some(step) = plan.steps.get(Ord::max(enrollment.next_step, 0) as usize) else {
        return Fate::Complete;
    };
    let stop_on = &plan.stop_on;
    if stop_on.has(StopCondition::Converted)
        && lead
            .converted_at
            .is_some_and(|at| at >= enrollment.enrolled_at)
    {
        return Fate::Stop(StopCondition::Converted.spelling());
    }
    if let Some(stage) = lead.stage_id {
        if stop_on.has(StopCondition::Won) && plan.won_stages.contains(&stage) {
            return Fate::Stop(StopCondition::Won.spelling());
        }
        if stop_on.has(StopCondition::Lost) && plan.lost_stages.contains(&stage) {
            return Fate::Stop(StopCondition::Lost.spelling());
        }
    }
    if step.step.channel != MessageChannel::Email {
        return Fate::Fail(format!(
            "step {} is a {:?} step: only email sends today",
            step.step.position, step.step.channel
        ));
    }
    let Some(email) = lead.email.as_deref() else {
        return Fate::Fail("the lead has no email address".into());
    };
    if suppressed.contains(&email.to_lowercase()) {
        return Fate::Stop(reason::SUPPRESSED);
    }
    if lead.opt_in_status == OptInStatus::Pending {
        return Fate::Stop(reason::OPT_IN_PENDING);
    }
    let zone = plan.timing.zone_for(lead.time_zone.as_deref());
    match schedule::next_open(now, zone, &plan.timing.window) {
        Some(open) if open > now => return Fate::Defer(open),
        Some(_) => {}
        None => return Fate::Fail("the campaign's send window allows no day".into()),
    }
    let first = enrollment.next_step == 0;
    if first {
        if day.0.is_some_and(|room| room <= 0) {
            return Fate::Defer(day.1);
        }
        if hour.0.is_some_and(|room| room <= 0) {
            return Fate::Defer(hour.1);
        }
    }
    if *tenant.0 <= 0 {
        return Fate::Defer(tenant.1);
    }
    let Some(variant) = step.variant_for(enrollment.id).and_then(|v| {
        step.variants
            .iter()
            .position(|x| x.variant.id == v.variant.id)
    }) else {
        return Fate::Fail(format!("step {} has no variant", step.step.position));
    };
    let Some(sender) = plan.take_sender() else {
        // Every account is at its hourly or daily limit.
        return Fate::Defer(hour.1);
    };
    *tenant.0 -= 1;
    if first {
        if let Some(room) = day.0.as_mut() {
            *room -= 1;
        }
        if let Some(room) = hour.0.as_mut() {
            *room -= 1;
        }
    }
    Fate::Send {
        lead: lead_at,
        variant,
        sender,
    }
}

/// Moves sent enrollments to `next` (due `at`), or completes them after the
/// last step; notes the message and when the first step went.
async fn advance(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    ids: &[Uuid],
    next: i32,
    at: Option<DateTime<Utc>>,
    steps: i32,
    now: DateTime<Utc>,
) -> AppResult<()> {
    // The newest message of the enrollment (PostgreSQL has no max(uuid)).
    let last_message = Query::select()
        .column((messages::Entity, messages::Column::Id))
        .from(messages::Entity)
        .order_by(
            (messages::Entity, messages::Column::Id),
            sea_orm::Order::Desc,
        )
        .limit(1)
        .and_where(
            Expr::col((messages::Entity, messages::Column::TenantId)).equals((
                campaign_enrollments::Entity,
                campaign_enrollments::Column::TenantId,
            )),
        )
        .and_where(
            Expr::col((messages::Entity, messages::Column::EnrollmentId)).equals((
                campaign_enrollments::Entity,
                campaign_enrollments::Column::Id,
            )),
        )
        .to_owned();
    let mut update = tenant_update::<campaign_enrollments::Entity>(ctx.tenant_id)
        .col_expr(campaign_enrollments::Column::NextStep, Expr::val(next))
        .col_expr(
            campaign_enrollments::Column::LastSentAt,
            Expr::val(offset(now)),
        )
        .col_expr(
            campaign_enrollments::Column::LastMessageId,
            Expr::expr(sea_orm::sea_query::SimpleExpr::SubQuery(
                None,
                Box::new(last_message.into_sub_query_statement()),
            )),
        )
        .col_expr(
            campaign_enrollments::Column::StartedAt,
            Expr::expr(sea_orm::sea_query::Func::coalesce([
                Expr::col(campaign_enrollments::Column::StartedAt),
                Expr::val(offset(now)),
            ])),
        )
        .col_expr(
            campaign_enrollments::Column::UpdatedAt,
            Expr::val(offset(now)),
        );
    update = match at {
        Some(at) if next < steps => update.col_expr(
            campaign_enrollments::Column::NextRunAt,
            Expr::val(offset(at)),
        ),
        _ => update
            .col_expr(
                campaign_enrollments::Column::Status,
                Expr::val(EnrollmentStatus::Completed),
            )
            .col_expr(
                campaign_enrollments::Column::CompletedAt,
                Expr::val(offset(now)),
            )
            .col_expr(
                campaign_enrollments::Column::NextRunAt,
                Expr::val(None::<DateTime<FixedOffset>>),
            ),
    };
    for chunk in ids.chunks(1_000) {
        update
            .clone()
            .filter(campaign_enrollments::Column::Id.is_in(chunk.iter().copied()))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// Enrollments whose every step was sent.
async fn complete(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> AppResult<()> {
    tenant_update::<campaign_enrollments::Entity>(ctx.tenant_id)
        .col_expr(
            campaign_enrollments::Column::Status,
            Expr::val(EnrollmentStatus::Completed),
        )
        .col_expr(
            campaign_enrollments::Column::CompletedAt,
            Expr::val(offset(now)),
        )
        .col_expr(
            campaign_enrollments::Column::NextRunAt,
            Expr::val(None::<DateTime<FixedOffset>>),
        )
        .col_expr(
            campaign_enrollments::Column::UpdatedAt,
            Expr::val(offset(now)),
        )
        .filter(campaign_enrollments::Column::Id.is_in(ids.iter().copied()))
        .exec(conn)
        .await?;
    Ok(())
}
