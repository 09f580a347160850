//! `enrollLeads`, `stopEnrollment`, and the `enrollments` connections of a
//! campaign and of a lead (batched through `ChildRelation`).

use async_graphql::{Context, ID, Object};
use uuid::Uuid;

use entity::campaign_enrollments;

use super::service;
use super::types::{EnrollResult, Enrollment, EnrollmentStatus};
use crate::graphql::audit::touch;
use crate::graphql::loaders::{ChildRelation, children_connection};
use crate::graphql::pagination::{PageArgs, RelayConnection, connection};
use crate::graphql::{caller, parse_id, shared};

/// Enrollments shown per campaign or lead when `first` is not given.
const DEFAULT_ENROLLMENTS: u64 = 20;

/// `campaign.enrollments`, newest first.
pub(crate) struct EnrollmentsOfCampaign;

impl ChildRelation for EnrollmentsOfCampaign {
    type Entity = campaign_enrollments::Entity;

    fn parent_column() -> campaign_enrollments::Column {
        campaign_enrollments::Column::CampaignId
    }

    fn parent_of(child: &campaign_enrollments::Model) -> Uuid {
        child.campaign_id
    }
}

/// `lead.enrollments`, newest first.
pub(crate) struct EnrollmentsOfLead;

impl ChildRelation for EnrollmentsOfLead {
    type Entity = campaign_enrollments::Entity;

    fn parent_column() -> campaign_enrollments::Column {
        campaign_enrollments::Column::LeadId
    }

    fn parent_of(child: &campaign_enrollments::Model) -> Uuid {
        child.lead_id
    }
}

/// `campaign.enrollments`: batched across a page of campaigns unless a
/// status narrows it (then one query for this campaign).
pub(crate) async fn of_campaign(
    ctx: &Context<'_>,
    campaign_id: Uuid,
    args: &PageArgs,
    status: Option<EnrollmentStatus>,
) -> async_graphql::Result<RelayConnection<Enrollment>> {
    match status {
        None => {
            Box::pin(children_connection::<EnrollmentsOfCampaign, _>(
                ctx,
                campaign_id,
                args,
                DEFAULT_ENROLLMENTS,
                Enrollment::from,
            ))
            .await
        }
        Some(status) => {
            let (page, totals) = service::list_of_campaign(
                shared(ctx),
                caller(ctx)?,
                campaign_id,
                args,
                Some(status),
            )
            .await?;
            Ok(connection(page, totals, |row| row.id, Enrollment::from))
        }
    }
}

/// `lead.enrollments`.
pub(crate) async fn of_lead(
    ctx: &Context<'_>,
    lead_id: Uuid,
    args: &PageArgs,
) -> async_graphql::Result<RelayConnection<Enrollment>> {
    Box::pin(children_connection::<EnrollmentsOfLead, _>(
        ctx,
        lead_id,
        args,
        DEFAULT_ENROLLMENTS,
        Enrollment::from,
    ))
    .await
}

#[derive(Default)]
pub(crate) struct EnrollmentMutation;

#[Object]
impl EnrollmentMutation {
    /// Enrols leads in a campaign by hand (at most 10,000 at once). A lead
    /// already in it, or not found, is skipped and named.
    async fn enroll_leads(
        &self,
        ctx: &Context<'_>,
        campaign_id: ID,
        lead_ids: Vec<ID>,
    ) -> async_graphql::Result<EnrollResult> {
        let campaign_id = parse_id(&campaign_id, "campaignId")?;
        let result = service::enroll(shared(ctx), caller(ctx)?, campaign_id, lead_ids).await?;
        touch(ctx, "campaign", campaign_id);
        Ok(result)
    }

    /// Stops an active enrollment: no further step is sent, and its queued
    /// messages not yet being sent are canceled.
    async fn stop_enrollment(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Enrollment> {
        let id = parse_id(&id, "id")?;
        let enrollment = service::stop(shared(ctx), caller(ctx)?, id).await?;
        touch(ctx, "campaign", enrollment.campaign_id);
        Ok(enrollment.into())
    }
}
