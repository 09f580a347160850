//! A page of campaigns' steps, senders and statistics, one grouped
//! statement each (never a query per campaign).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter, QueryOrder, QuerySelect, RelationTrait};
use uuid::Uuid;

use entity::sea_orm_active_enums::EnrollmentStatus;
use entity::{
    campaign_enrollments, campaign_senders, campaign_step_variants, campaign_steps, leads,
};

use super::types::{CampaignStats, CampaignStep};
use crate::error::{AppError, AppResult};
use crate::graphql::numbers::Count;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{ReadScope, end_read, scoped, tenant_rows};

/// `campaign.steps` for a page of campaigns.
pub(crate) struct StepsOfCampaignLoader {
    pub(crate) scope: ReadScope,
}

impl Loader<Uuid> for StepsOfCampaignLoader {
    type Value = Vec<CampaignStep>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let run = async {
            let reader = self.scope.read().await?;
            let ctx = self.scope.ctx();
            let steps = scoped::<campaign_steps::Entity>(ctx)
                .filter(campaign_steps::Column::CampaignId.is_in(keys.iter().copied()))
                .order_by_asc(campaign_steps::Column::Position)
                .all(&reader)
                .await?;
            let mut variants: HashMap<Uuid, Vec<campaign_step_variants::Model>> = HashMap::new();
            for variant in scoped::<campaign_step_variants::Entity>(ctx)
                .filter(campaign_step_variants::Column::CampaignId.is_in(keys.iter().copied()))
                .order_by_asc(campaign_step_variants::Column::Position)
                .all(&reader)
                .await?
            {
                variants.entry(variant.step_id).or_default().push(variant);
            }
            end_read(reader).await?;
            let mut found: HashMap<Uuid, Vec<CampaignStep>> =
                keys.iter().map(|k| (*k, Vec::new())).collect();
            for step in steps {
                let of_step = variants.remove(&step.id).unwrap_or_default();
                if let Some(list) = found.get_mut(&step.campaign_id) {
                    list.push(CampaignStep::of(&step, of_step));
                }
            }
            AppResult::Ok(found)
        };
        run.await.map_err(Arc::new)
    }
}

/// `campaign.senderIds` for a page of campaigns.
pub(crate) struct SendersOfCampaignLoader {
    pub(crate) scope: ReadScope,
}

impl Loader<Uuid> for SendersOfCampaignLoader {
    type Value = Vec<Uuid>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let run = async {
            let reader = self.scope.read().await?;
            let rows = tenant_rows::<campaign_senders::Entity>(self.scope.ctx().tenant_id)
                .filter(campaign_senders::Column::CampaignId.is_in(keys.iter().copied()))
                .order_by_asc(campaign_senders::Column::Position)
                .all(&reader)
                .await?;
            end_read(reader).await?;
            let mut found: HashMap<Uuid, Vec<Uuid>> =
                keys.iter().map(|k| (*k, Vec::new())).collect();
            for row in rows {
                found
                    .entry(row.campaign_id)
                    .or_default()
                    .push(row.sender_id);
            }
            AppResult::Ok(found)
        };
        run.await.map_err(Arc::new)
    }
}

/// `campaign.stats` for a page of campaigns.
pub(crate) struct CampaignStatsLoader {
    pub(crate) scope: ReadScope,
}

impl Loader<Uuid> for CampaignStatsLoader {
    type Value = CampaignStats;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let run = async {
            let reader = self.scope.read().await?;
            let found = stats_of(&reader, self.scope.ctx(), keys).await?;
            end_read(reader).await?;
            AppResult::Ok(found)
        };
        run.await.map_err(Arc::new)
    }
}

/// The statistics of many campaigns: enrollments by status and converted
/// leads (one grouped query), and their messages (`stats_by_campaign`).
pub(crate) async fn stats_of(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    ids: &[Uuid],
) -> AppResult<HashMap<Uuid, CampaignStats>> {
    let status_count = |status: EnrollmentStatus| {
        Expr::expr(Func::count(Expr::expr(Expr::case(
            Expr::col((
                campaign_enrollments::Entity,
                campaign_enrollments::Column::Status,
            ))
            .eq(status),
            Expr::val(1),
        ))))
    };
    let converted = Expr::expr(Func::count(Expr::expr(Expr::case(
        Expr::col((leads::Entity, leads::Column::ConvertedAt)).gte(Expr::col((
            campaign_enrollments::Entity,
            campaign_enrollments::Column::EnrolledAt,
        ))),
        Expr::val(1),
    ))));
    let rows: Vec<(Uuid, i64, i64, i64, i64, i64, i64)> =
        scoped::<campaign_enrollments::Entity>(ctx)
            .select_only()
            .column(campaign_enrollments::Column::CampaignId)
            .expr(
                Expr::col((
                    campaign_enrollments::Entity,
                    campaign_enrollments::Column::Id,
                ))
                .count(),
            )
            .expr(status_count(EnrollmentStatus::Active))
            .expr(status_count(EnrollmentStatus::Completed))
            .expr(status_count(EnrollmentStatus::Stopped))
            .expr(status_count(EnrollmentStatus::Failed))
            .expr(converted)
            .join(
                sea_orm::JoinType::LeftJoin,
                campaign_enrollments::Relation::Leads.def(),
            )
            .filter(campaign_enrollments::Column::CampaignId.is_in(ids.iter().copied()))
            .group_by(campaign_enrollments::Column::CampaignId)
            .into_tuple()
            .all(conn)
            .await?;
    let mut messages =
        crate::messaging::engagement::service::stats_by_campaign(conn, ctx.tenant_id, ids).await?;
    let mut found = HashMap::new();
    for id in ids {
        let mut stats = CampaignStats::empty();
        if let Some(row) = rows.iter().find(|r| r.0 == *id) {
            stats.enrolled = Count(row.1);
            stats.active = Count(row.2);
            stats.completed = Count(row.3);
            stats.stopped = Count(row.4);
            stats.failed = Count(row.5);
            stats.converted = Count(row.6);
            stats.conversion_rate = crate::messaging::engagement::types::rate(row.6, row.1);
        }
        if let Some(m) = messages.remove(id) {
            stats.messages = m;
        }
        stats.messages.at = Utc::now();
        found.insert(*id, stats);
    }
    Ok(found)
}
