//! Campaign rules: saving a campaign with its senders, steps and variants
//! (checked when saved, each bad value naming its field), and the status
//! machine (launch is in `launch`).
//!
//! Pausing holds the campaign's queued deliveries (their jobs become
//! `held`) in the transaction that pauses it, and a delivery that had
//! already been claimed checks the campaign before it sends, so sends stop
//! at once; resuming releases them and wakes the scheduler, which goes on
//! from each enrollment's next step.

use async_graphql::MaybeUndefined;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use entity::sea_orm_active_enums::{CampaignKind, CampaignStatus, JobStatus, MessageChannel};
use entity::{
    campaign_enrollments, campaign_senders, campaign_step_variants, campaign_steps, campaigns,
    message_templates, sender_accounts,
};

use super::settings::{
    Audience, parse_delay, parse_ids, parse_time, parse_window, parse_zone_named,
};
use super::types::{
    AbTestInput, CampaignAudienceInput, CampaignFilter, CampaignScheduleInput, CampaignStepInput,
    CreateCampaignInput, StopCondition, UpdateCampaignInput,
};
use crate::campaigns::enrollments::service::{audience_filter, reason, stop_in};
use crate::crm::segments::service::Missing;
use crate::domain::{CurrencyCode, optional_text, required_text};
use crate::error::{AppError, AppResult, on_unique};
use crate::graphql::pagination::{Order, Page, PageArgs, Totals, list_by_id};
use crate::graphql::parse_id;
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{
    as_system, begin_write, ensure_live_name_free, find_live, live, read_live, scoped, soft_delete,
    tenant_delete, tenant_update,
};

const MAX_NAME_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 2_000;
const MAX_STEPS: usize = 20;
const MAX_VARIANTS: usize = 5;
const MAX_WEIGHT: i32 = 1_000;
const DUPLICATE_NAME: &str = "another campaign already has this name";

/// The status as the API spells it, for messages.
pub(crate) fn status_name(status: &CampaignStatus) -> &'static str {
    match status {
        CampaignStatus::Draft => "DRAFT",
        CampaignStatus::Scheduled => "SCHEDULED",
        CampaignStatus::Active => "ACTIVE",
        CampaignStatus::Paused => "PAUSED",
        CampaignStatus::Completed => "COMPLETED",
        CampaignStatus::Archived => "ARCHIVED",
    }
}

/// Refuses an action the campaign's status does not allow, naming both.
pub(crate) fn require_status(
    campaign: &campaigns::Model,
    allowed: &[CampaignStatus],
    action: &str,
) -> AppResult<()> {
    if allowed.contains(&campaign.status) {
        return Ok(());
    }
    let names: Vec<&str> = allowed.iter().map(status_name).collect();
    Err(AppError::conflict(format!(
        "the campaign is {}: {action} needs it to be {}",
        status_name(&campaign.status),
        names.join(" or ")
    )))
}

/// Whether the campaign is paused (its deliveries wait).
pub(crate) async fn is_paused(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    campaign_id: Uuid,
) -> AppResult<bool> {
    let status: Option<CampaignStatus> =
        crate::tenancy::scoped::tenant_rows::<campaigns::Entity>(tenant_id)
            .select_only()
            .column(campaigns::Column::Status)
            .filter(campaigns::Column::Id.eq(campaign_id))
            .into_tuple()
            .one(conn)
            .await?;
    Ok(status == Some(CampaignStatus::Paused))
}

/// The `group_key` of a campaign's delivery jobs.
pub(crate) fn delivery_group(campaign_id: Uuid) -> String {
    format!("campaign:{campaign_id}")
}

/// Every column the settings inputs set, parsed.
#[derive(Default)]
struct Settings {
    schedule: Option<ScheduleColumns>,
    stop_on: Option<serde_json::Value>,
    ab: Option<AbColumns>,
}

struct ScheduleColumns {
    kind: entity::sea_orm_active_enums::ScheduleKind,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    send_time_minute: Option<i32>,
    send_weekday: Option<i32>,
    time_zone: String,
    use_lead_time_zone: bool,
    window: (i32, i32, i32),
}

struct AbColumns {
    metric: Option<entity::sea_orm_active_enums::AbMetric>,
    min_sends: Option<i32>,
    decide_after_hours: MaybeUndefined<i32>,
    confidence_pct: Option<i32>,
}

fn parse_schedule(input: &CampaignScheduleInput, field: &str) -> AppResult<ScheduleColumns> {
    use super::types::ScheduleKind as Kind;
    let kind = input.kind.unwrap_or(Kind::Immediate);
    let send_time_minute = input
        .send_time
        .as_deref()
        .map(|t| parse_time(t, &format!("{field}.sendTime"), false).map(|m| m as i32))
        .transpose()?;
    if matches!(kind, Kind::Daily | Kind::Weekly) && send_time_minute.is_none() {
        return Err(AppError::invalid(
            format!("{field}.sendTime"),
            "a daily or weekly schedule needs its time (HH:MM)",
        ));
    }
    if kind == Kind::Weekly && input.weekday.is_none() {
        return Err(AppError::invalid(
            format!("{field}.weekday"),
            "a weekly schedule needs its day",
        ));
    }
    if kind == Kind::At && input.starts_at.is_none() {
        return Err(AppError::invalid(
            format!("{field}.startsAt"),
            "an AT schedule needs its start time",
        ));
    }
    if let (Some(start), Some(end)) = (input.starts_at, input.ends_at)
        && end <= start
    {
        return Err(AppError::invalid(
            format!("{field}.endsAt"),
            "the end must come after the start",
        ));
    }
    let time_zone = match &input.time_zone {
        Some(zone) => parse_zone_named(zone, &format!("{field}.timeZone"))?,
        None => "UTC".to_owned(),
    };
    let window = match &input.window {
        Some(window) => parse_window(window, &format!("{field}.window"))?,
        None => (0x7f, 0, 1440),
    };
    Ok(ScheduleColumns {
        kind: kind.into(),
        starts_at: input.starts_at,
        ends_at: input.ends_at,
        send_time_minute,
        send_weekday: input.weekday.map(|d| d.number() as i32),
        time_zone,
        use_lead_time_zone: input.use_lead_time_zone.unwrap_or(false),
        window,
    })
}

fn parse_ab(input: AbTestInput, field: &str) -> AppResult<AbColumns> {
    if let Some(n) = input.min_sends_per_variant
        && !(1..=1_000_000).contains(&n)
    {
        return Err(AppError::invalid(
            format!("{field}.minSendsPerVariant"),
            "between 1 and 1,000,000",
        ));
    }
    if let MaybeUndefined::Value(hours) = input.decide_after_hours
        && !(1..=24 * 90).contains(&hours)
    {
        return Err(AppError::invalid(
            format!("{field}.decideAfterHours"),
            "between 1 and 2,160 hours (90 days)",
        ));
    }
    if let Some(pct) = input.confidence_pct
        && !(50..=99).contains(&pct)
    {
        return Err(AppError::invalid(
            format!("{field}.confidencePct"),
            "between 50 and 99",
        ));
    }
    Ok(AbColumns {
        metric: input.metric.map(Into::into),
        min_sends: input.min_sends_per_variant,
        decide_after_hours: input.decide_after_hours,
        confidence_pct: input.confidence_pct,
    })
}

fn parse_stop_on(conditions: &[StopCondition]) -> serde_json::Value {
    let mut spelled: Vec<&str> = conditions.iter().map(|c| c.spelling()).collect();
    spelled.sort_unstable();
    spelled.dedup();
    serde_json::json!(spelled)
}

fn check_cap(value: Option<i32>, field: &str) -> AppResult<()> {
    if let Some(n) = value
        && n < 1
    {
        return Err(AppError::invalid(
            field,
            "a cap is at least 1 (leave it empty for none)",
        ));
    }
    Ok(())
}

/// The audience checked (segments and filter as `leads` checks them) and
/// as stored.
async fn storable_audience(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    input: &CampaignAudienceInput,
) -> AppResult<serde_json::Value> {
    let filter = match &input.filter {
        Some(filter) => Some(
            crate::crm::segments::service::storable(
                conn,
                ctx,
                filter,
                "input.audience.filter",
                None,
            )
            .await?,
        ),
        None => None,
    };
    let audience = Audience {
        segment_ids: parse_ids(input.segment_ids.as_ref(), "input.audience.segmentIds")?,
        filter,
        exclude_segment_ids: parse_ids(
            input.exclude_segment_ids.as_ref(),
            "input.audience.excludeSegmentIds",
        )?,
    };
    // The named segments must be the caller's.
    audience_filter(conn, ctx, &audience, "input.audience", Missing::Refuse).await?;
    Ok(audience.to_json())
}

/// The sender accounts named, live ones of the caller's tenant.
async fn check_senders(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    ids: &[Uuid],
) -> AppResult<()> {
    for (i, id) in ids.iter().enumerate() {
        if find_live::<sender_accounts::Entity>(conn, ctx, *id)
            .await
            .is_err()
        {
            return Err(AppError::invalid(
                format!("input.senderIds.{i}"),
                "no sender account of yours has this id",
            ));
        }
    }
    Ok(())
}

async fn save_senders(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    campaign_id: Uuid,
    ids: &[Uuid],
) -> AppResult<()> {
    tenant_delete::<campaign_senders::Entity>(ctx.tenant_id)
        .filter(campaign_senders::Column::CampaignId.eq(campaign_id))
        .exec(conn)
        .await?;
    if ids.is_empty() {
        return Ok(());
    }
    campaign_senders::Entity::insert_many(ids.iter().enumerate().map(|(i, id)| {
        campaign_senders::ActiveModel {
            tenant_id: Set(ctx.tenant_id),
            campaign_id: Set(campaign_id),
            sender_id: Set(*id),
            position: Set(i as i32),
        }
    }))
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Checks the steps and replaces the campaign's steps with them.
async fn save_steps(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    campaign_id: Uuid,
    kind: &CampaignKind,
    steps: &[CampaignStepInput],
    now: DateTime<Utc>,
) -> AppResult<()> {
    if steps.len() > MAX_STEPS {
        return Err(AppError::invalid(
            "input.steps",
            format!("at most {MAX_STEPS} steps"),
        ));
    }
    if *kind == CampaignKind::Broadcast && steps.len() > 1 {
        return Err(AppError::invalid(
            "input.steps",
            "a broadcast has one step: make it a SEQUENCE for follow-ups",
        ));
    }
    let keys = crate::messaging::custom_variables::service::keys(conn, ctx.tenant_id).await?;
    let mut step_rows = Vec::new();
    let mut variant_rows = Vec::new();
    for (position, step) in steps.iter().enumerate() {
        let field = format!("input.steps.{position}");
        let (delay_minutes, business_days) =
            parse_delay(step.delay.as_ref(), &format!("{field}.delay"))?;
        let channel: MessageChannel = step
            .channel
            .unwrap_or(crate::messaging::templates::types::MessageChannel::Email)
            .into();
        if step.variants.is_empty() || step.variants.len() > MAX_VARIANTS {
            return Err(AppError::invalid(
                format!("{field}.variants"),
                format!("a step has 1 to {MAX_VARIANTS} variants (2 or more are an A/B test)"),
            ));
        }
        let step_id = Uuid::now_v7();
        for (i, variant) in step.variants.iter().enumerate() {
            let vfield = format!("{field}.variants.{i}");
            let weight = variant.weight.unwrap_or(1);
            if !(1..=MAX_WEIGHT).contains(&weight) {
                return Err(AppError::invalid(
                    format!("{vfield}.weight"),
                    format!("between 1 and {MAX_WEIGHT}"),
                ));
            }
            let inline = variant.subject.is_some()
                || variant.text_body.is_some()
                || variant.html_body.is_some();
            let template_id = variant
                .template_id
                .as_ref()
                .map(|id| parse_id(id, &format!("{vfield}.templateId")))
                .transpose()?;
            match (template_id, inline) {
                (Some(_), true) => {
                    return Err(AppError::invalid(
                        format!("{vfield}.templateId"),
                        "give a template or inline content, not both",
                    ));
                }
                (None, false) => {
                    return Err(AppError::invalid(
                        format!("{vfield}.templateId"),
                        "give a template or inline subject and body",
                    ));
                }
                (Some(id), false) => {
                    let template = find_live::<message_templates::Entity>(conn, ctx, id)
                        .await
                        .map_err(|_| {
                            AppError::invalid(
                                format!("{vfield}.templateId"),
                                "no template of yours has this id",
                            )
                        })?;
                    if template.channel != channel {
                        return Err(AppError::invalid(
                            format!("{vfield}.templateId"),
                            "this template is for another channel than the step's",
                        ));
                    }
                }
                (None, true) => crate::messaging::templates::service::validate(
                    &channel,
                    &crate::messaging::templates::render::TemplateParts {
                        subject: variant.subject.as_deref(),
                        text_body: variant.text_body.as_deref(),
                        html_body: variant.html_body.as_deref(),
                    },
                    &[],
                    &keys,
                    &format!("{vfield}."),
                )?,
            }
            let label = match &variant.label {
                Some(label) => required_text(label, &format!("{vfield}.label"), 40)?,
                None => char::from(b'A' + i as u8).to_string(),
            };
            variant_rows.push(campaign_step_variants::ActiveModel {
                tenant_id: Set(ctx.tenant_id),
                id: Set(Uuid::now_v7()),
                campaign_id: Set(campaign_id),
                step_id: Set(step_id),
                position: Set(i as i32),
                label: Set(label),
                weight: Set(weight),
                template_id: Set(template_id),
                subject: Set(variant.subject.clone()),
                text_body: Set(variant.text_body.clone()),
                html_body: Set(variant.html_body.clone()),
                created_at: Set(now.fixed_offset()),
            });
        }
        step_rows.push(campaign_steps::ActiveModel {
            tenant_id: Set(ctx.tenant_id),
            id: Set(step_id),
            campaign_id: Set(campaign_id),
            position: Set(position as i32),
            delay_minutes: Set(delay_minutes),
            business_days: Set(business_days),
            channel: Set(channel),
            winner_variant_id: Set(None),
            winner_decided_at: Set(None),
            ab_decision: Set(None),
            created_at: Set(now.fixed_offset()),
            updated_at: Set(now.fixed_offset()),
        });
    }
    // Variants go with their steps (ON DELETE CASCADE).
    tenant_delete::<campaign_steps::Entity>(ctx.tenant_id)
        .filter(campaign_steps::Column::CampaignId.eq(campaign_id))
        .exec(conn)
        .await?;
    if !step_rows.is_empty() {
        campaign_steps::Entity::insert_many(step_rows)
            .exec_without_returning(conn)
            .await?;
        campaign_step_variants::Entity::insert_many(variant_rows)
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

fn parse_settings(
    schedule: Option<&CampaignScheduleInput>,
    stop_on: Option<&Vec<StopCondition>>,
    ab: Option<AbTestInput>,
) -> AppResult<Settings> {
    Ok(Settings {
        schedule: schedule
            .map(|s| parse_schedule(s, "input.schedule"))
            .transpose()?,
        stop_on: stop_on.map(|c| parse_stop_on(c)),
        ab: ab.map(|ab| parse_ab(ab, "input.abTest")).transpose()?,
    })
}

fn apply_settings(active: &mut campaigns::ActiveModel, settings: Settings) {
    if let Some(s) = settings.schedule {
        active.schedule_kind = Set(s.kind);
        active.starts_at = Set(s.starts_at.map(|at| at.fixed_offset()));
        active.ends_at = Set(s.ends_at.map(|at| at.fixed_offset()));
        active.send_time_minute = Set(s.send_time_minute);
        active.send_weekday = Set(s.send_weekday);
        active.time_zone = Set(s.time_zone);
        active.use_lead_time_zone = Set(s.use_lead_time_zone);
        active.window_days = Set(s.window.0);
        active.window_start_minute = Set(s.window.1);
        active.window_end_minute = Set(s.window.2);
    }
    if let Some(stop_on) = settings.stop_on {
        active.stop_on = Set(stop_on);
    }
    if let Some(ab) = settings.ab {
        if let Some(metric) = ab.metric {
            active.ab_metric = Set(metric);
        }
        if let Some(n) = ab.min_sends {
            active.ab_min_sends = Set(n);
        }
        match ab.decide_after_hours {
            MaybeUndefined::Value(h) => active.ab_decide_after_hours = Set(Some(h)),
            MaybeUndefined::Null => active.ab_decide_after_hours = Set(None),
            MaybeUndefined::Undefined => {}
        }
        if let Some(pct) = ab.confidence_pct {
            active.ab_confidence_pct = Set(pct);
        }
    }
}

async fn project(
    txn: &sea_orm::DatabaseTransaction,
    ctx: &RequestCtx,
    id: &async_graphql::ID,
) -> AppResult<Uuid> {
    crate::crm::leads::fields::project(txn, ctx, id, "input.projectId")
        .await
        .map_err(|error| match error {
            AppError::NotFound(_) => {
                AppError::invalid("input.projectId", "no project of yours has this id")
            }
            other => other,
        })
}

fn money(amount: &crate::domain::Decimal, currency: CurrencyCode, field: &str) -> AppResult<i64> {
    let units = amount.to_minor(currency, field)?;
    if units < 0 {
        return Err(AppError::invalid(field, "cannot be negative"));
    }
    Ok(units)
}

/// `createCampaign`: a draft.
pub(crate) async fn create(
    shared: &Shared,
    ctx: &RequestCtx,
    input: CreateCampaignInput,
) -> AppResult<campaigns::Model> {
    ctx.require_writer()?;
    let name = required_text(&input.name, "input.name", MAX_NAME_CHARS)?;
    let description = optional_text(
        input.description,
        "input.description",
        MAX_DESCRIPTION_CHARS,
    )?;
    check_cap(input.leads_per_day, "input.leadsPerDay")?;
    check_cap(input.leads_per_hour, "input.leadsPerHour")?;
    let currency = input.currency.unwrap_or(CurrencyCode::USD);
    let budget = input
        .budget
        .as_ref()
        .map(|b| money(b, currency, "input.budget"))
        .transpose()?;
    let sender_ids = parse_ids(input.sender_ids.as_ref(), "input.senderIds")?;
    let kind: CampaignKind = input
        .kind
        .unwrap_or(super::types::CampaignKind::Broadcast)
        .into();
    let settings = parse_settings(
        input.schedule.as_ref(),
        input.stop_on.as_ref(),
        input.ab_test,
    )?;
    let now = shared.clock.now();
    let txn = begin_write(&shared.db, ctx).await?;
    ensure_live_name_free::<campaigns::Entity>(
        &txn,
        ctx,
        campaigns::Column::Name,
        &name,
        None,
        DUPLICATE_NAME,
    )
    .await?;
    let audience = match &input.audience {
        Some(audience) => storable_audience(&txn, ctx, audience).await?,
        None => Audience {
            segment_ids: Vec::new(),
            filter: None,
            exclude_segment_ids: Vec::new(),
        }
        .to_json(),
    };
    check_senders(&txn, ctx, &sender_ids).await?;
    let project_id = match &input.project_id {
        Some(id) => Some(project(&txn, ctx, id).await?),
        None => None,
    };
    let id = Uuid::now_v7();
    let at = now.fixed_offset();
    let mut active = campaigns::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        id: Set(id),
        name: Set(name),
        description: Set(description),
        kind: Set(kind),
        status: Set(CampaignStatus::Draft),
        project_id: Set(project_id),
        audience: Set(audience),
        enroll_new_leads: Set(input.enroll_new_leads.unwrap_or(false)),
        remove_leavers: Set(input.remove_leavers.unwrap_or(false)),
        schedule_kind: Set(entity::sea_orm_active_enums::ScheduleKind::Immediate),
        starts_at: Set(None),
        ends_at: Set(None),
        send_time_minute: Set(None),
        send_weekday: Set(None),
        window_days: Set(0x7f),
        window_start_minute: Set(0),
        window_end_minute: Set(1440),
        time_zone: Set("UTC".to_owned()),
        use_lead_time_zone: Set(false),
        leads_per_day: Set(input.leads_per_day),
        leads_per_hour: Set(input.leads_per_hour),
        budget_amount: Set(budget),
        spent_amount: Set(0),
        currency: Set(currency.as_str().to_owned()),
        stop_on: Set(parse_stop_on(&[
            StopCondition::Replied,
            StopCondition::Unsubscribed,
            StopCondition::Bounced,
            StopCondition::Converted,
        ])),
        ab_metric: Set(entity::sea_orm_active_enums::AbMetric::OpenRate),
        ab_min_sends: Set(100),
        ab_decide_after_hours: Set(None),
        ab_confidence_pct: Set(95),
        launched_at: Set(None),
        paused_at: Set(None),
        completed_at: Set(None),
        archived_at: Set(None),
        audience_synced_at: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
        created_by: Set(ctx.user_id()),
        updated_by: Set(ctx.user_id()),
        deleted_at: Set(None),
        deleted_by: Set(None),
    };
    apply_settings(&mut active, settings);
    let campaign = active
        .insert(&txn)
        .await
        .map_err(|e| on_unique(e, Some("input.name"), DUPLICATE_NAME))?;
    save_senders(&txn, ctx, id, &sender_ids).await?;
    if let Some(steps) = &input.steps {
        save_steps(&txn, ctx, id, &kind, steps, now).await?;
    }
    txn.commit().await?;
    Ok(campaign)
}

/// `updateCampaign`.
pub(crate) async fn update(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
    input: UpdateCampaignInput,
) -> AppResult<campaigns::Model> {
    ctx.require_writer()?;
    let now = shared.clock.now();
    let txn = begin_write(&shared.db, ctx).await?;
    let before = find_live::<campaigns::Entity>(&txn, ctx, id).await?;
    require_status(
        &before,
        &[
            CampaignStatus::Draft,
            CampaignStatus::Scheduled,
            CampaignStatus::Active,
            CampaignStatus::Paused,
        ],
        "a change",
    )?;
    let structural = input.steps.is_some() || input.audience.is_some() || input.kind.is_some();
    if structural && before.status == CampaignStatus::Active {
        return Err(AppError::conflict(
            "the campaign is ACTIVE: pause it before changing its steps, audience or kind",
        ));
    }
    let mut active: campaigns::ActiveModel = before.clone().into();
    if let Some(name) = &input.name {
        let name = required_text(name, "input.name", MAX_NAME_CHARS)?;
        ensure_live_name_free::<campaigns::Entity>(
            &txn,
            ctx,
            campaigns::Column::Name,
            &name,
            Some(id),
            DUPLICATE_NAME,
        )
        .await?;
        active.name = Set(name);
    }
    match input.description {
        MaybeUndefined::Value(text) => {
            active.description = Set(optional_text(
                Some(text),
                "input.description",
                MAX_DESCRIPTION_CHARS,
            )?)
        }
        MaybeUndefined::Null => active.description = Set(None),
        MaybeUndefined::Undefined => {}
    }
    match &input.project_id {
        MaybeUndefined::Value(pid) => active.project_id = Set(Some(project(&txn, ctx, pid).await?)),
        MaybeUndefined::Null => active.project_id = Set(None),
        MaybeUndefined::Undefined => {}
    }
    let kind: CampaignKind = input.kind.map(Into::into).unwrap_or(before.kind);
    active.kind = Set(kind);
    if let Some(audience) = &input.audience {
        active.audience = Set(storable_audience(&txn, ctx, audience).await?);
    }
    for (value, column, field) in [
        (
            &input.leads_per_day,
            &mut active.leads_per_day,
            "input.leadsPerDay",
        ),
        (
            &input.leads_per_hour,
            &mut active.leads_per_hour,
            "input.leadsPerHour",
        ),
    ] {
        match value {
            MaybeUndefined::Value(n) => {
                check_cap(Some(*n), field)?;
                *column = Set(Some(*n));
            }
            MaybeUndefined::Null => *column = Set(None),
            MaybeUndefined::Undefined => {}
        }
    }
    let currency = match input.currency {
        Some(currency) => {
            // Amounts keep their value: re-expressed in the new currency's
            // minor units.
            let from = CurrencyCode::parse(&before.currency).unwrap_or(CurrencyCode::USD);
            if let Some(budget) = before.budget_amount {
                active.budget_amount = Set(Some(crate::domain::rescale(
                    budget,
                    from,
                    currency,
                    "input.currency",
                )?));
            }
            active.spent_amount = Set(crate::domain::rescale(
                before.spent_amount,
                from,
                currency,
                "input.currency",
            )?);
            active.currency = Set(currency.as_str().to_owned());
            currency
        }
        None => CurrencyCode::parse(&before.currency).unwrap_or(CurrencyCode::USD),
    };
    match &input.budget {
        MaybeUndefined::Value(amount) => {
            active.budget_amount = Set(Some(money(amount, currency, "input.budget")?))
        }
        MaybeUndefined::Null => active.budget_amount = Set(None),
        MaybeUndefined::Undefined => {}
    }
    if let Some(spent) = &input.spent {
        active.spent_amount = Set(money(spent, currency, "input.spent")?);
    }
    if let Some(v) = input.enroll_new_leads {
        active.enroll_new_leads = Set(v);
    }
    if let Some(v) = input.remove_leavers {
        active.remove_leavers = Set(v);
    }
    let settings = parse_settings(
        input.schedule.as_ref(),
        input.stop_on.as_ref(),
        input.ab_test,
    )?;
    apply_settings(&mut active, settings);
    if let Some(ids) = &input.sender_ids {
        let ids = parse_ids(Some(ids), "input.senderIds")?;
        check_senders(&txn, ctx, &ids).await?;
        save_senders(&txn, ctx, id, &ids).await?;
    }
    if let Some(steps) = &input.steps {
        save_steps(&txn, ctx, id, &kind, steps, now).await?;
    } else if input.kind.is_some() && kind == CampaignKind::Broadcast {
        let steps = scoped::<campaign_steps::Entity>(ctx)
            .filter(campaign_steps::Column::CampaignId.eq(id))
            .all(&txn)
            .await?;
        if steps.len() > 1 {
            return Err(AppError::invalid(
                "input.kind",
                "a broadcast has one step: remove the follow-ups first",
            ));
        }
    }
    active.updated_at = Set(now.fixed_offset());
    active.updated_by = Set(ctx.user_id());
    let campaign = active
        .update(&txn)
        .await
        .map_err(|e| on_unique(e, Some("input.name"), DUPLICATE_NAME))?;
    if campaign.status == CampaignStatus::Active {
        // A new window or cap may make steps due sooner.
        crate::campaigns::runner::wake(&txn, &campaign, now).await?;
    }
    txn.commit().await?;
    shared.jobs.wake();
    Ok(campaign)
}

/// `deleteCampaign`: only a draft (a campaign that sent is archived).
pub(crate) async fn delete(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<campaigns::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let campaign = find_live::<campaigns::Entity>(&txn, ctx, id).await?;
    require_status(
        &campaign,
        &[CampaignStatus::Draft],
        "deleting (archive it instead)",
    )?;
    let deleted = soft_delete::<campaigns::Entity>(&txn, ctx, id).await?;
    txn.commit().await?;
    Ok(deleted)
}

pub(crate) async fn get(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<campaigns::Model> {
    read_live::<campaigns::Entity>(&shared.db, ctx, id).await
}

/// One page of live campaigns, newest first.
pub(crate) async fn list(
    shared: &Shared,
    ctx: &RequestCtx,
    args: &PageArgs,
    filter: Option<CampaignFilter>,
) -> AppResult<(Page<campaigns::Model>, Totals)> {
    let filter = filter.unwrap_or_default();
    let mut select = live::<campaigns::Entity>(ctx);
    if let Some(statuses) = filter.status {
        select = select.filter(
            campaigns::Column::Status.is_in(statuses.into_iter().map(CampaignStatus::from)),
        );
    }
    if let Some(kind) = filter.kind {
        select = select.filter(campaigns::Column::Kind.eq(CampaignKind::from(kind)));
    }
    if let Some(project) = &filter.project_id {
        select =
            select.filter(campaigns::Column::ProjectId.eq(parse_id(project, "filter.projectId")?));
    }
    list_by_id(
        shared,
        ctx,
        select,
        campaigns::Column::Id,
        args,
        Order::NewestFirst,
    )
    .await
}

/// Sets the campaign's status (and the time it reached it).
async fn set_status(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    id: Uuid,
    status: CampaignStatus,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let at = now.fixed_offset();
    let mut update = tenant_update::<campaigns::Entity>(ctx.tenant_id)
        .col_expr(campaigns::Column::Status, Expr::val(status))
        .col_expr(campaigns::Column::UpdatedAt, Expr::val(at))
        .filter(campaigns::Column::Id.eq(id));
    let stamp = match status {
        CampaignStatus::Active | CampaignStatus::Scheduled => Some(campaigns::Column::LaunchedAt),
        CampaignStatus::Paused => Some(campaigns::Column::PausedAt),
        CampaignStatus::Completed => Some(campaigns::Column::CompletedAt),
        CampaignStatus::Archived => Some(campaigns::Column::ArchivedAt),
        CampaignStatus::Draft => None,
    };
    if let Some(column) = stamp {
        update = update.col_expr(column, Expr::val(at));
    }
    update.exec(conn).await?;
    Ok(())
}

/// Holds (or releases) the campaign's delivery jobs.
async fn hold_deliveries(
    conn: &impl ConnectionTrait,
    campaign_id: Uuid,
    hold: bool,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let (from, to) = if hold {
        (JobStatus::Pending, JobStatus::Held)
    } else {
        (JobStatus::Held, JobStatus::Pending)
    };
    as_system(conn, async {
        let mut update = entity::jobs::Entity::update_many()
            .col_expr(entity::jobs::Column::Status, Expr::val(to))
            .col_expr(
                entity::jobs::Column::UpdatedAt,
                Expr::val(now.fixed_offset()),
            )
            .filter(entity::jobs::Column::GroupKey.eq(delivery_group(campaign_id)))
            .filter(entity::jobs::Column::Status.eq(from));
        if !hold {
            update = update.col_expr(entity::jobs::Column::RunAt, Expr::val(now.fixed_offset()));
        }
        update.exec(conn).await?;
        Ok(())
    })
    .await
}

/// `pauseCampaign`.
pub(crate) async fn pause(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<campaigns::Model> {
    ctx.require_writer()?;
    let now = shared.clock.now();
    let txn = begin_write(&shared.db, ctx).await?;
    let campaign = find_live::<campaigns::Entity>(&txn, ctx, id).await?;
    require_status(
        &campaign,
        &[CampaignStatus::Active, CampaignStatus::Scheduled],
        "pausing",
    )?;
    set_status(&txn, ctx, id, CampaignStatus::Paused, now).await?;
    hold_deliveries(&txn, id, true, now).await?;
    let campaign = find_live::<campaigns::Entity>(&txn, ctx, id).await?;
    txn.commit().await?;
    Ok(campaign)
}

/// `resumeCampaign`: goes on from each enrollment's next step.
pub(crate) async fn resume(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<campaigns::Model> {
    ctx.require_writer()?;
    let now = shared.clock.now();
    let txn = begin_write(&shared.db, ctx).await?;
    let campaign = find_live::<campaigns::Entity>(&txn, ctx, id).await?;
    require_status(&campaign, &[CampaignStatus::Paused], "resuming")?;
    let status = if campaign.starts_at.is_some_and(|at| at.to_utc() > now) {
        CampaignStatus::Scheduled
    } else {
        CampaignStatus::Active
    };
    tenant_update::<campaigns::Entity>(ctx.tenant_id)
        .col_expr(campaigns::Column::Status, Expr::val(status))
        .col_expr(
            campaigns::Column::PausedAt,
            Expr::val(None::<DateTime<chrono::FixedOffset>>),
        )
        .col_expr(campaigns::Column::UpdatedAt, Expr::val(now.fixed_offset()))
        .filter(campaigns::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    hold_deliveries(&txn, id, false, now).await?;
    let campaign = find_live::<campaigns::Entity>(&txn, ctx, id).await?;
    crate::campaigns::runner::wake(&txn, &campaign, now).await?;
    txn.commit().await?;
    shared.jobs.wake();
    Ok(campaign)
}

/// Ends a campaign: its active enrollments stop (their queued messages not
/// yet being sent are canceled).
pub(crate) async fn finish(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    campaign: &campaigns::Model,
    status: CampaignStatus,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let active: Vec<Uuid> = scoped::<campaign_enrollments::Entity>(ctx)
        .select_only()
        .column(campaign_enrollments::Column::Id)
        .filter(campaign_enrollments::Column::CampaignId.eq(campaign.id))
        .filter(
            campaign_enrollments::Column::Status
                .eq(entity::sea_orm_active_enums::EnrollmentStatus::Active),
        )
        .order_by_asc(campaign_enrollments::Column::Id)
        .into_tuple()
        .all(conn)
        .await?;
    stop_in(
        conn,
        ctx.tenant_id,
        &active,
        reason::CAMPAIGN_COMPLETED,
        now,
    )
    .await?;
    set_status(conn, ctx, campaign.id, status, now).await?;
    // Held deliveries go back to the queue: canceled messages settle as
    // such, those already being sent finish.
    hold_deliveries(conn, campaign.id, false, now).await
}

/// `completeCampaign`.
pub(crate) async fn complete(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<campaigns::Model> {
    end(
        shared,
        ctx,
        id,
        &[
            CampaignStatus::Active,
            CampaignStatus::Paused,
            CampaignStatus::Scheduled,
        ],
        CampaignStatus::Completed,
        "completing",
    )
    .await
}

/// `archiveCampaign`.
pub(crate) async fn archive(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<campaigns::Model> {
    end(
        shared,
        ctx,
        id,
        &[
            CampaignStatus::Draft,
            CampaignStatus::Paused,
            CampaignStatus::Completed,
        ],
        CampaignStatus::Archived,
        "archiving",
    )
    .await
}

/// Ends a campaign from one of `allowed` into `status` (see [`finish`]).
async fn end(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
    allowed: &[CampaignStatus],
    status: CampaignStatus,
    action: &str,
) -> AppResult<campaigns::Model> {
    ctx.require_writer()?;
    let now = shared.clock.now();
    let txn = begin_write(&shared.db, ctx).await?;
    let campaign = find_live::<campaigns::Entity>(&txn, ctx, id).await?;
    require_status(&campaign, allowed, action)?;
    finish(&txn, ctx, &campaign, status, now).await?;
    let campaign = find_live::<campaigns::Entity>(&txn, ctx, id).await?;
    txn.commit().await?;
    shared.jobs.wake();
    Ok(campaign)
}
