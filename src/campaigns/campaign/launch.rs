//! `launchCampaign`: everything is checked first and every problem is
//! reported at once (a launch that fails changes nothing); then the
//! audience is enrolled and the scheduler woken.

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use entity::sea_orm_active_enums::{CampaignStatus, MessageChannel, OptInStatus};
use entity::{
    campaign_senders, campaign_step_variants, campaign_steps, campaigns, leads, message_templates,
    sender_accounts, suppressions,
};

use super::service::{require_status, status_name};
use super::types::LaunchProblem;
use crate::campaigns::enrollments::service::{audience_leads, enroll_audience};
use crate::error::AppResult;
use crate::messaging::messages::compose::{self, Audience, Batch, Draft};
use crate::messaging::templates::render::TemplateSource;
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin_write, find_live, scoped, tenant_rows, tenant_update};

/// Leads each variant is rendered for before launch.
const RENDER_SAMPLE: u64 = 5;

pub(crate) struct Launch {
    pub campaign: campaigns::Model,
    pub launched: bool,
    pub problems: Vec<LaunchProblem>,
    pub audience_size: u64,
    pub sendable: u64,
    pub steps: u64,
}

fn problem(field: impl Into<String>, code: &str, message: impl Into<String>) -> LaunchProblem {
    LaunchProblem {
        field: field.into(),
        code: code.to_owned(),
        message: message.into(),
    }
}

/// Checks the campaign and, when nothing is wrong, launches it.
pub(crate) async fn launch(shared: &Shared, ctx: &RequestCtx, id: Uuid) -> AppResult<Launch> {
    ctx.require_writer()?;
    let now = shared.clock.now();
    let txn = begin_write(&shared.db, ctx).await?;
    let campaign = find_live::<campaigns::Entity>(&txn, ctx, id).await?;
    require_status(&campaign, &[CampaignStatus::Draft], "launching")?;
    let mut problems = Vec::new();

    let steps = scoped::<campaign_steps::Entity>(ctx)
        .filter(campaign_steps::Column::CampaignId.eq(id))
        .order_by_asc(campaign_steps::Column::Position)
        .all(&txn)
        .await?;
    let variants = scoped::<campaign_step_variants::Entity>(ctx)
        .filter(campaign_step_variants::Column::CampaignId.eq(id))
        .order_by_asc(campaign_step_variants::Column::Position)
        .all(&txn)
        .await?;
    if steps.is_empty() {
        problems.push(problem(
            "steps",
            "NO_STEPS",
            "the campaign has no step: add at least one with updateCampaign",
        ));
    }
    for step in &steps {
        if step.channel != MessageChannel::Email {
            problems.push(problem(
                format!("steps.{}.channel", step.position),
                "CHANNEL_UNAVAILABLE",
                format!(
                    "{:?} steps cannot send yet: only EMAIL sends today",
                    step.channel
                ),
            ));
        }
    }

    // Senders: the named ones must be live and active; with none named,
    // the tenant needs an active account.
    let named: Vec<Uuid> = tenant_rows::<campaign_senders::Entity>(ctx.tenant_id)
        .filter(campaign_senders::Column::CampaignId.eq(id))
        .order_by_asc(campaign_senders::Column::Position)
        .all(&txn)
        .await?
        .into_iter()
        .map(|s| s.sender_id)
        .collect();
    let accounts = crate::tenancy::scoped::live::<sender_accounts::Entity>(ctx)
        .filter(sender_accounts::Column::IsActive.eq(true))
        .all(&txn)
        .await?;
    for (i, sender) in named.iter().enumerate() {
        if !accounts.iter().any(|a| a.id == *sender) {
            problems.push(problem(
                format!("senderIds.{i}"),
                "SENDER_INACTIVE",
                "this sender account is deactivated or deleted",
            ));
        }
    }
    let sender = accounts
        .iter()
        .find(|a| named.is_empty() || named.contains(&a.id));
    if sender.is_none() && named.is_empty() {
        problems.push(problem(
            "senderIds",
            "NO_SENDER",
            "no active sender account: add one with createSenderAccount",
        ));
    }

    // Schedule and budget.
    if campaign.ends_at.is_some_and(|at| at.to_utc() <= now) {
        problems.push(problem(
            "schedule.endsAt",
            "SCHEDULE",
            "the campaign's end has already passed",
        ));
    }
    if let Some(budget) = campaign.budget_amount
        && campaign.spent_amount >= budget
    {
        problems.push(problem(
            "budget",
            "BUDGET",
            "the campaign has spent its whole budget",
        ));
    }

    // The audience: how many, and how many can be sent to.
    let audience = audience_leads(&txn, ctx, &campaign).await?;
    let audience_size = audience.clone().count(&txn).await?;
    let suppressed = Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(suppressions::Entity)
            .and_where(
                Expr::col((suppressions::Entity, suppressions::Column::TenantId))
                    .equals((leads::Entity, leads::Column::TenantId)),
            )
            .and_where(
                Expr::col((suppressions::Entity, suppressions::Column::Email))
                    .equals((leads::Entity, leads::Column::Email)),
            )
            .to_owned(),
    );
    let sendable_leads = audience
        .filter(leads::Column::Email.is_not_null())
        .filter(leads::Column::OptInStatus.ne(OptInStatus::Pending))
        .filter(suppressed.not());
    let sendable = sendable_leads.clone().count(&txn).await?;
    // Leads enrolled by hand before the launch count too.
    let enrolled = scoped::<entity::campaign_enrollments::Entity>(ctx)
        .filter(entity::campaign_enrollments::Column::CampaignId.eq(id))
        .count(&txn)
        .await?;
    if sendable == 0 && enrolled == 0 && !campaign.enroll_new_leads {
        problems.push(problem(
            "audience",
            "EMPTY_AUDIENCE",
            if audience_size == 0 {
                "no lead is in the audience".to_owned()
            } else {
                format!(
                    "none of the audience's {audience_size} leads can be sent to \
                     (no email address, suppressed, or double opt-in pending)"
                )
            },
        ));
    }

    // Every variant renders for a sample of the audience.
    let sample = sendable_leads
        .order_by_asc(leads::Column::Id)
        .limit(RENDER_SAMPLE)
        .all(&txn)
        .await?;
    let template_ids: Vec<Uuid> = variants.iter().filter_map(|v| v.template_id).collect();
    let templates: std::collections::HashMap<Uuid, message_templates::Model> =
        scoped::<message_templates::Entity>(ctx)
            .filter(message_templates::Column::Id.is_in(template_ids))
            .all(&txn)
            .await?
            .into_iter()
            .map(|t| (t.id, t))
            .collect();
    let base = Audience::load(
        &txn,
        ctx.tenant_id,
        sender.map(|s| (s.from_name.clone(), s.from_email.clone())),
    )
    .await?;
    // Loaded once: every variant renders for the same sample.
    let recipients = compose::recipients(&txn, ctx, sample).await?;
    for step in &steps {
        for variant in variants.iter().filter(|v| v.step_id == step.id) {
            let field = format!("steps.{}.variants.{}", step.position, variant.position);
            let (source, declared) = match variant.template_id {
                Some(tid) => match templates.get(&tid) {
                    Some(t) if t.deleted_at.is_none() && t.is_active => (
                        TemplateSource::of(&crate::messaging::templates::service::parts(t)),
                        crate::messaging::templates::service::declared(t),
                    ),
                    _ => {
                        problems.push(problem(
                            format!("{field}.templateId"),
                            "TEMPLATE_INACTIVE",
                            "this template is deactivated or deleted",
                        ));
                        continue;
                    }
                },
                None => (
                    TemplateSource {
                        subject: variant.subject.clone(),
                        text_body: variant.text_body.clone(),
                        html_body: variant.html_body.clone(),
                    },
                    Vec::new(),
                ),
            };
            let drafts: Vec<Draft<Uuid>> = recipients
                .iter()
                .cloned()
                .map(|recipient| Draft {
                    key: recipient.lead.id,
                    recipient,
                    unsubscribe_url: crate::messaging::tracking::links::unsubscribe_url(
                        shared,
                        ctx.tenant_id,
                        Uuid::nil(),
                    ),
                })
                .collect();
            let batch = Batch {
                template: source,
                audience: base.for_sender(base.sender_name.clone(), base.sender_email.clone()),
                declared,
                provided: Default::default(),
            };
            let count = drafts.len();
            match compose::render_drafts(shared, batch, drafts, count).await {
                Ok(rendered) => {
                    if let Some((draft, error)) = rendered.into_iter().find_map(|(d, r)| match r {
                        Some(Err(e)) => Some((d, e)),
                        _ => None,
                    }) {
                        problems.push(problem(
                            field.clone(),
                            "RENDER_FAILED",
                            format!(
                                "does not render for lead {}: {}",
                                crate::graphql::to_id(draft.key).as_str(),
                                error.public_message()
                            ),
                        ));
                    }
                }
                Err(error) => problems.push(problem(
                    field.clone(),
                    "RENDER_FAILED",
                    error.public_message(),
                )),
            }
        }
    }

    let steps_count = steps.len() as u64;
    if !problems.is_empty() {
        drop(txn);
        return Ok(Launch {
            campaign,
            launched: false,
            problems,
            audience_size,
            sendable,
            steps: steps_count,
        });
    }
    let starts = campaign.starts_at.map(|at| at.to_utc());
    let status = if starts.is_some_and(|at| at > now) {
        CampaignStatus::Scheduled
    } else {
        CampaignStatus::Active
    };
    tenant_update::<campaigns::Entity>(ctx.tenant_id)
        .col_expr(campaigns::Column::Status, Expr::val(status))
        .col_expr(campaigns::Column::LaunchedAt, Expr::val(now.fixed_offset()))
        .col_expr(
            campaigns::Column::AudienceSyncedAt,
            Expr::val(now.fixed_offset()),
        )
        .col_expr(campaigns::Column::UpdatedAt, Expr::val(now.fixed_offset()))
        .filter(campaigns::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    let campaign = find_live::<campaigns::Entity>(&txn, ctx, id).await?;
    enroll_audience(&txn, ctx, &campaign, now).await?;
    crate::campaigns::runner::wake(&txn, &campaign, Ord::max(starts.unwrap_or(now), now)).await?;
    txn.commit().await?;
    shared.jobs.wake();
    tracing::info!(campaign = %id, status = status_name(&campaign.status), "campaign launched");
    Ok(Launch {
        campaign,
        launched: true,
        problems,
        audience_size,
        sendable,
        steps: steps_count,
    })
}
