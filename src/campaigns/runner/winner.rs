//! A/B decisions: after each run, every undecided test of the campaign is
//! looked at (one grouped count per step) and the decision stored with its
//! numbers; a winner, once declared, is the only variant sent after.

use chrono::{DateTime, FixedOffset};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use entity::sea_orm_active_enums::AbMetric;
use entity::{campaign_steps, messages};

use super::plan::Plan;
use crate::campaigns::ab::{Arm, decide};
use crate::error::AppResult;
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin_for_write, scoped, tenant_update};

/// A variant's sends, successes and first send.
type ArmRow = (Option<Uuid>, i64, i64, Option<DateTime<FixedOffset>>);

/// Looks at every undecided A/B test of the campaign.
pub(crate) async fn decide_due(
    shared: &Shared,
    ctx: &RequestCtx,
    plan: &mut Plan,
) -> AppResult<()> {
    let campaign = plan.campaign.clone();
    let success = match campaign.ab_metric {
        AbMetric::OpenRate => messages::Column::OpenedAt,
        AbMetric::ClickRate => messages::Column::ClickedAt,
        AbMetric::ReplyRate => messages::Column::RepliedAt,
    };
    for step in &mut plan.steps {
        if step.variants.len() < 2 || step.step.winner_variant_id.is_some() {
            continue;
        }
        let now = shared.clock.now();
        let txn = begin_for_write(&shared.db, ctx.tenant_id, None).await?;
        let counted = |column: messages::Column| {
            Expr::expr(Func::count(Expr::expr(Expr::case(
                Expr::col(column).is_not_null(),
                Expr::val(1),
            ))))
        };
        let rows: Vec<ArmRow> = scoped::<messages::Entity>(ctx)
            .select_only()
            .column(messages::Column::VariantId)
            .expr(counted(messages::Column::SentAt))
            .expr(counted(success))
            .expr(Expr::col(messages::Column::SentAt).min())
            .filter(messages::Column::CampaignId.eq(campaign.id))
            .filter(messages::Column::StepId.eq(step.step.id))
            .filter(messages::Column::SentAt.is_not_null())
            .group_by(messages::Column::VariantId)
            .into_tuple()
            .all(&txn)
            .await?;
        let arms: Vec<Arm> = step
            .variants
            .iter()
            .map(|v| {
                let row = rows.iter().find(|r| r.0 == Some(v.variant.id));
                Arm {
                    variant_id: v.variant.id,
                    sent: row.map(|r| r.1).unwrap_or(0),
                    successes: row.map(|r| r.2).unwrap_or(0),
                }
            })
            .collect();
        let first_send = rows.iter().filter_map(|r| r.3).min();
        let enough = arms
            .iter()
            .all(|arm| arm.sent >= i64::from(campaign.ab_min_sends));
        let time_up = match (campaign.ab_decide_after_hours, first_send) {
            (Some(hours), Some(first)) => {
                now - first.to_utc() >= chrono::Duration::hours(i64::from(hours))
            }
            _ => false,
        };
        let decision = decide(arms, campaign.ab_confidence_pct, enough || time_up);
        let mut update = tenant_update::<campaign_steps::Entity>(ctx.tenant_id)
            .col_expr(
                campaign_steps::Column::AbDecision,
                Expr::val(serde_json::to_value(&decision).unwrap_or_default()),
            )
            .col_expr(
                campaign_steps::Column::UpdatedAt,
                Expr::val(now.fixed_offset()),
            )
            .filter(campaign_steps::Column::Id.eq(step.step.id))
            .filter(campaign_steps::Column::WinnerVariantId.is_null());
        if let Some(winner) = decision.winner {
            update = update
                .col_expr(campaign_steps::Column::WinnerVariantId, Expr::val(winner))
                .col_expr(
                    campaign_steps::Column::WinnerDecidedAt,
                    Expr::val(now.fixed_offset()),
                );
        }
        update.exec(&txn).await?;
        txn.commit().await?;
        if decision.winner.is_some() {
            step.step.winner_variant_id = decision.winner;
        }
    }
    Ok(())
}
