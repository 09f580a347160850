//! GraphQL shapes of enrollments.

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Enum, ID, SimpleObject};
use chrono::{DateTime, Utc};

use entity::campaign_enrollments;
use entity::sea_orm_active_enums::EnrollmentStatus as EnrollmentStatusModel;

use crate::graphql::loaders::load_by_id;
use crate::graphql::mirror_enum;
use crate::graphql::to_id;

/// Where a lead stands in a campaign.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnrollmentStatus {
    /// Its next step is due at `nextRunAt`.
    Active,
    /// Every step was sent.
    Completed,
    /// Ended early: `stopReason` says why.
    Stopped,
    /// Could not go on: `error` says why (e.g. no email address).
    Failed,
}
mirror_enum!(EnrollmentStatus <=> EnrollmentStatusModel {
    Active, Completed, Stopped, Failed
});

/// A lead in a campaign: the next step it gets and when.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub(crate) struct Enrollment {
    pub id: ID,
    pub campaign_id: ID,
    pub lead_id: ID,
    pub status: EnrollmentStatus,
    /// Position of the next step to send (the number of steps once done).
    pub next_step: i32,
    /// When the next step is due (the send window may delay it further).
    pub next_run_at: Option<DateTime<Utc>>,
    /// How it came in: `audience`, `manual` or `workflow`.
    pub source: String,
    /// Why it stopped: `replied`, `clicked`, `converted`, `unsubscribed`,
    /// `bounced`, `won`, `lost` (the stop conditions), `manual`,
    /// `left_audience`, `campaign_completed`, `lead_deleted`, `suppressed`,
    /// `opt_in_pending`.
    pub stop_reason: Option<String>,
    pub error: Option<String>,
    pub last_message_id: Option<ID>,
    pub enrolled_at: DateTime<Utc>,
    /// When its first step was queued.
    pub started_at: Option<DateTime<Utc>>,
    pub last_sent_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    #[graphql(skip)]
    pub model: Arc<campaign_enrollments::Model>,
}

#[ComplexObject]
impl Enrollment {
    async fn lead(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<crate::crm::leads::Lead>> {
        Ok(load_by_id::<entity::leads::Entity>(ctx, self.model.lead_id)
            .await?
            .map(Into::into))
    }

    async fn campaign(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<crate::campaigns::campaign::types::Campaign>> {
        Ok(
            load_by_id::<entity::campaigns::Entity>(ctx, self.model.campaign_id)
                .await?
                .map(Into::into),
        )
    }
}

impl From<campaign_enrollments::Model> for Enrollment {
    fn from(model: campaign_enrollments::Model) -> Self {
        Self {
            id: to_id(model.id),
            campaign_id: to_id(model.campaign_id),
            lead_id: to_id(model.lead_id),
            status: model.status.into(),
            next_step: model.next_step,
            next_run_at: model.next_run_at.map(|at| at.to_utc()),
            source: model.source.clone(),
            stop_reason: model.stop_reason.clone(),
            error: model.error.clone(),
            last_message_id: model.last_message_id.map(to_id),
            enrolled_at: model.enrolled_at.to_utc(),
            started_at: model.started_at.map(|at| at.to_utc()),
            last_sent_at: model.last_sent_at.map(|at| at.to_utc()),
            completed_at: model.completed_at.map(|at| at.to_utc()),
            stopped_at: model.stopped_at.map(|at| at.to_utc()),
            model: Arc::new(model),
        }
    }
}

/// What `enrollLeads` did for each lead asked for.
#[derive(SimpleObject)]
pub(crate) struct EnrollResult {
    /// Leads newly enrolled.
    pub enrolled: crate::graphql::numbers::Count,
    /// Leads that were not: already enrolled, or not found.
    pub skipped: Vec<EnrollSkip>,
}

#[derive(SimpleObject)]
pub(crate) struct EnrollSkip {
    pub lead_id: ID,
    /// `ALREADY_ENROLLED` or `NOT_FOUND`.
    pub code: String,
}
