//! Double opt-in: a submission to a form that asks for it leaves its lead
//! pending, emails a signed link, and following the link confirms the lead
//! and keeps the proof (when, from which address) on the submission.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, DatabaseTransaction, IntoActiveModel, Set, TransactionTrait};
use serde_json::json;
use uuid::Uuid;

use entity::sea_orm_active_enums::{ActivityType, OptInStatus};
use entity::{form_submissions, forms, leads};

use crate::crm::leads::events as lead_events;
use crate::error::{AppError, AppResult};
use crate::events::commit_with;
use crate::messaging::messages::service::{Purpose, send_in};
use crate::secrets::{TokenKind, TrackingToken};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin_for_write, find_owned};

/// The template variable that holds the confirmation link.
pub(crate) const LINK_VARIABLE: &str = "confirmationUrl";

pub(crate) fn confirmation_url(shared: &Shared, tenant_id: Uuid, submission_id: Uuid) -> String {
    let token = shared.tracking.sign(
        TokenKind::OptInConfirmation,
        TrackingToken {
            tenant_id,
            message_id: submission_id,
            position: 0,
        },
    );
    format!("{}/f/confirm/{token}", shared.config.public_url())
}

/// Queues the confirmation email in the submission's transaction (in a
/// savepoint). A tenant without a working sender still gets the lead: the
/// submission is stored without a confirmation message, which is logged.
pub(crate) async fn queue_confirmation(
    shared: &Shared,
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    form: &forms::Model,
    lead: &leads::Model,
    submission_id: Uuid,
) -> Option<Uuid> {
    let template_id = form.confirmation_template_id?;
    let input = crate::messaging::messages::types::SendMessageInput {
        lead_id: crate::graphql::to_id(lead.id),
        template_id: Some(crate::graphql::to_id(template_id)),
        subject: None,
        text_body: None,
        html_body: None,
        sender_id: None,
        variables: Some(crate::graphql::json::Json(json!({
            LINK_VARIABLE: confirmation_url(shared, ctx.tenant_id, submission_id),
        }))),
        tracking: Some(false),
        campaign_id: None,
    };
    let queued = async {
        let savepoint = txn.begin().await?;
        match send_in(&savepoint, shared, ctx, input, Purpose::OptInConfirmation).await {
            Ok(message) => {
                savepoint.commit().await?;
                Ok(message.id)
            }
            Err(error) => {
                savepoint.rollback().await?;
                Err(error)
            }
        }
    };
    match queued.await {
        Ok(id) => Some(id),
        Err(error) => {
            metrics::counter!("promohub_form_confirmations_unsent_total").increment(1);
            tracing::warn!(form_id = %form.id, %submission_id, ?error, "the double opt-in email could not be queued");
            None
        }
    }
}

/// Follows a confirmation link: the submission and its lead are confirmed
/// (once; following it again changes nothing). `None` for a link that is
/// not genuine or names nothing.
pub(crate) async fn confirm(
    shared: &Shared,
    token: &str,
    ip: Option<String>,
) -> AppResult<Option<form_submissions::Model>> {
    let Some(token) = shared.tracking.verify(TokenKind::OptInConfirmation, token) else {
        return Ok(None);
    };
    let ctx = RequestCtx::system(token.tenant_id);
    let txn = begin_for_write(&shared.db, token.tenant_id, None).await?;
    let submission = match find_owned::<form_submissions::Entity>(
        &txn,
        &ctx,
        token.message_id,
        "form submission",
    )
    .await
    {
        Ok(found) => found,
        Err(AppError::NotFound(_)) => return Ok(None),
        Err(error) => return Err(error),
    };
    if submission.opt_in == OptInStatus::Confirmed {
        return Ok(Some(submission));
    }
    let now = Utc::now();
    let mut row = submission.into_active_model();
    row.opt_in = Set(OptInStatus::Confirmed);
    row.confirmed_at = Set(Some(now.fixed_offset()));
    row.confirmed_ip = Set(ip.clone());
    let submission = row.update(&txn).await?;
    let before = find_owned::<leads::Entity>(&txn, &ctx, submission.lead_id, "lead").await?;
    let mut events = Vec::new();
    if before.deleted_at.is_none() && before.opt_in_status != OptInStatus::Confirmed {
        let lead =
            super::submit::set_opt_in(&txn, &ctx, before.id, OptInStatus::Confirmed, Some(now))
                .await?;
        crate::crm::activities::record(
            &txn,
            &ctx,
            lead.id,
            ActivityType::OptInConfirmed,
            "Confirmed their subscription (double opt-in)",
            json!({
                "submissionId": crate::graphql::id_string(submission.id),
                "ip": ip,
            }),
        )
        .await?;
        events.extend(lead_events::changed(&before, &lead, false));
    }
    commit_with(shared, txn, &ctx, events).await?;
    Ok(Some(submission))
}
