//! What a run of a campaign reads once: its steps and variants with their
//! template sources, its sender accounts with their remaining capacity, and
//! the tenant's won and lost stages.

use std::collections::{HashMap, HashSet};

use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use entity::sea_orm_active_enums::CampaignStatus;
use entity::{
    campaign_senders, campaign_step_variants, campaign_steps, campaigns, lead_stages,
    message_templates,
};

use crate::campaigns::campaign::settings::{StopSet, Timing};
use crate::error::AppResult;
use crate::messaging::senders::service::SenderCandidate;
use crate::messaging::templates::context::DeclaredVariable;
use crate::messaging::templates::render::TemplateSource;
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin_for, scoped, tenant_rows};

/// A variant ready to render.
pub(crate) struct VariantPlan {
    pub variant: campaign_step_variants::Model,
    pub source: TemplateSource,
    pub declared: Vec<DeclaredVariable>,
}

pub(crate) struct StepPlan {
    pub step: campaign_steps::Model,
    pub variants: Vec<VariantPlan>,
}

impl StepPlan {
    /// The variant an enrollment gets: the A/B winner once there is one,
    /// else a stable pick by weight.
    pub(crate) fn variant_for(&self, enrollment_id: Uuid) -> Option<&VariantPlan> {
        if let Some(winner) = self.step.winner_variant_id
            && let Some(v) = self.variants.iter().find(|v| v.variant.id == winner)
        {
            return Some(v);
        }
        let weights: Vec<(Uuid, u32)> = self
            .variants
            .iter()
            .map(|v| (v.variant.id, v.variant.weight.max(0) as u32))
            .collect();
        let id = crate::campaigns::ab::pick(enrollment_id, self.step.id, &weights)?;
        self.variants.iter().find(|v| v.variant.id == id)
    }
}

/// A sender account and how many more messages it may be given now.
pub(crate) struct SenderSlot {
    pub candidate: SenderCandidate,
    /// `None`: no hourly or daily limit.
    pub room: Option<i64>,
    pub given: i64,
}

pub(crate) struct Plan {
    pub campaign: campaigns::Model,
    pub timing: Timing,
    pub stop_on: StopSet,
    pub steps: Vec<StepPlan>,
    pub senders: Vec<SenderSlot>,
    pub won_stages: HashSet<Uuid>,
    pub lost_stages: HashSet<Uuid>,
}

impl Plan {
    /// The campaign's plan, or `None` when it no longer runs (paused,
    /// completed, deleted).
    pub(crate) async fn load(
        shared: &Shared,
        ctx: &RequestCtx,
        campaign_id: Uuid,
    ) -> AppResult<Option<Self>> {
        let txn = begin_for(&shared.db, ctx.tenant_id, None).await?;
        let Some(campaign) = crate::tenancy::scoped::live::<campaigns::Entity>(ctx)
            .filter(campaigns::Column::Id.eq(campaign_id))
            .one(&txn)
            .await?
        else {
            return Ok(None);
        };
        if !matches!(
            campaign.status,
            CampaignStatus::Active | CampaignStatus::Scheduled
        ) {
            return Ok(None);
        }
        let steps = scoped::<campaign_steps::Entity>(ctx)
            .filter(campaign_steps::Column::CampaignId.eq(campaign_id))
            .order_by_asc(campaign_steps::Column::Position)
            .all(&txn)
            .await?;
        let variants = scoped::<campaign_step_variants::Entity>(ctx)
            .filter(campaign_step_variants::Column::CampaignId.eq(campaign_id))
            .order_by_asc(campaign_step_variants::Column::Position)
            .all(&txn)
            .await?;
        let template_ids: Vec<Uuid> = variants.iter().filter_map(|v| v.template_id).collect();
        let templates: HashMap<Uuid, message_templates::Model> =
            scoped::<message_templates::Entity>(ctx)
                .filter(message_templates::Column::Id.is_in(template_ids))
                .all(&txn)
                .await?
                .into_iter()
                .map(|t| (t.id, t))
                .collect();
        let mut by_step: HashMap<Uuid, Vec<VariantPlan>> = HashMap::new();
        for variant in variants {
            let (source, declared) = match variant.template_id.and_then(|id| templates.get(&id)) {
                Some(template) => (
                    TemplateSource::of(&crate::messaging::templates::service::parts(template)),
                    crate::messaging::templates::service::declared(template),
                ),
                None => (
                    TemplateSource {
                        subject: variant.subject.clone(),
                        text_body: variant.text_body.clone(),
                        html_body: variant.html_body.clone(),
                    },
                    Vec::new(),
                ),
            };
            by_step
                .entry(variant.step_id)
                .or_default()
                .push(VariantPlan {
                    variant,
                    source,
                    declared,
                });
        }
        let named: Vec<Uuid> = tenant_rows::<campaign_senders::Entity>(ctx.tenant_id)
            .filter(campaign_senders::Column::CampaignId.eq(campaign_id))
            .order_by_asc(campaign_senders::Column::Position)
            .all(&txn)
            .await?
            .into_iter()
            .map(|s| s.sender_id)
            .collect();
        let candidates =
            crate::messaging::senders::service::candidates(&txn, ctx.tenant_id, None).await?;
        let usage = crate::messaging::senders::service::usage_of(
            &txn,
            ctx.tenant_id,
            &candidates.iter().map(|c| c.account.id).collect::<Vec<_>>(),
            shared.clock.now(),
        )
        .await?;
        let queued = crate::messaging::senders::service::queued_by_sender(
            &txn,
            ctx.tenant_id,
            candidates
                .iter()
                .filter(|c| c.account.hourly_limit.is_some() || c.account.daily_limit.is_some())
                .map(|c| c.account.id),
        )
        .await?;
        let senders = candidates
            .into_iter()
            .filter(|c| named.is_empty() || named.contains(&c.account.id))
            .map(|candidate| {
                let waiting = queued.get(&candidate.account.id).copied().unwrap_or(0);
                let used = usage
                    .get(&candidate.account.id)
                    .copied()
                    .unwrap_or_default();
                let hour = candidate
                    .account
                    .hourly_limit
                    .map(|limit| i64::from(limit) - used.last_hour - waiting);
                let day = candidate
                    .account
                    .daily_limit
                    .map(|limit| i64::from(limit) - used.today - waiting);
                let room = match (hour, day) {
                    (Some(h), Some(d)) => Some(Ord::min(h, d).max(0)),
                    (Some(n), None) | (None, Some(n)) => Some(n.max(0)),
                    (None, None) => None,
                };
                SenderSlot {
                    candidate,
                    room,
                    given: 0,
                }
            })
            .collect();
        let stages = tenant_rows::<lead_stages::Entity>(ctx.tenant_id)
            .all(&txn)
            .await?;
        txn.commit().await?;
        let steps = steps
            .into_iter()
            .map(|step| StepPlan {
                variants: by_step.remove(&step.id).unwrap_or_default(),
                step,
            })
            .collect();
        Ok(Some(Self {
            timing: Timing::of(&campaign),
            stop_on: StopSet::of(&campaign),
            campaign,
            steps,
            senders,
            won_stages: stages.iter().filter(|s| s.is_won).map(|s| s.id).collect(),
            lost_stages: stages.iter().filter(|s| s.is_lost).map(|s| s.id).collect(),
        }))
    }

    /// The sender with the most room (spreading the campaign's sends over
    /// its accounts); `None` when every account is full.
    pub(crate) fn take_sender(&mut self) -> Option<usize> {
        let best = self
            .senders
            .iter()
            .enumerate()
            .filter(|(_, s)| s.room.is_none_or(|room| s.given < room))
            .min_by_key(|(_, s)| s.given)
            .map(|(i, _)| i)?;
        self.senders[best].given += 1;
        Some(best)
    }
}
