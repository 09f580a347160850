//! Emailing the members a form names about each of its submissions: one
//! durable job per member, queued in the submission's transaction, sent
//! through the tenant's SMTP sender accounts in failover order.
//!
//! A notification is sent at most once: right before DATA the job records
//! that the transfer started (committed), and a job that finds that mark
//! after a crash does not send again (the member may miss one notification,
//! never get two). A transient failure is retried by the job system; the
//! submission itself never waits for it.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, QueryFilter,
    Set,
};
use serde_json::json;
use uuid::Uuid;

use entity::sea_orm_active_enums::SenderTransport;
use entity::{form_submissions, forms, jobs, leads, memberships, users};

use crate::error::AppResult;
use crate::jobs::{JobKind, JobOutcome, new_job};
use crate::messaging::senders::service as senders;
use crate::messaging::smtp::{self, OutgoingEmail};
use crate::state::Shared;
use crate::tenancy::scoped::{begin_for, begin_system_write, end_read, tenant_rows};

/// Attempts of a notification (transient SMTP failures), with the job
/// system's backoff between them.
const MAX_ATTEMPTS: i32 = 5;

/// Queues the notifications of a new submission in its transaction.
pub(crate) async fn enqueue(
    txn: &DatabaseTransaction,
    form: &forms::Model,
    submission_id: Uuid,
) -> AppResult<bool> {
    let members: Vec<Uuid> =
        serde_json::from_value(form.notify_user_ids.clone()).unwrap_or_default();
    if members.is_empty() {
        return Ok(false);
    }
    let jobs = members
        .into_iter()
        .map(|user_id| {
            new_job(
                form.tenant_id,
                JobKind::NotifyFormSubmission,
                json!({ "submission_id": submission_id, "user_id": user_id }),
                MAX_ATTEMPTS,
            )
        })
        .collect();
    crate::jobs::queue::enqueue(txn, jobs).await?;
    Ok(true)
}

fn uuid_at(job: &jobs::Model, key: &str) -> Option<Uuid> {
    job.payload
        .get(key)
        .and_then(|v| v.as_str())
        .and_then(|v| Uuid::parse_str(v).ok())
}

/// What the email says.
struct Notice {
    to: String,
    subject: String,
    text: String,
}

async fn notice(
    shared: &Shared,
    tenant_id: Uuid,
    submission_id: Uuid,
    user_id: Uuid,
) -> AppResult<Option<Notice>> {
    let txn = begin_for(&shared.db, tenant_id, None).await?;
    let found = async {
        let Some(submission) = tenant_rows::<form_submissions::Entity>(tenant_id)
            .filter(form_submissions::Column::Id.eq(submission_id))
            .one(&txn)
            .await?
        else {
            return AppResult::Ok(None);
        };
        // A member removed since is not told.
        let member = tenant_rows::<memberships::Entity>(tenant_id)
            .filter(memberships::Column::UserId.eq(user_id))
            .one(&txn)
            .await?;
        let user = users::Entity::find_by_id(user_id).one(&txn).await?;
        let (Some(_), Some(user)) = (member, user) else {
            return Ok(None);
        };
        let form = tenant_rows::<forms::Entity>(tenant_id)
            .filter(forms::Column::Id.eq(submission.form_id))
            .one(&txn)
            .await?;
        let lead = tenant_rows::<leads::Entity>(tenant_id)
            .filter(leads::Column::Id.eq(submission.lead_id))
            .one(&txn)
            .await?;
        let form_name = form.map_or_else(|| "a form".to_owned(), |f| f.name);
        let who = lead
            .as_ref()
            .map(crate::crm::leads::fields::display_name)
            .unwrap_or_default();
        let mut text = format!(
            "{who} submitted \"{form_name}\" ({}).\n\n",
            match submission.outcome {
                entity::sea_orm_active_enums::SubmissionOutcome::Created => "a new lead",
                entity::sea_orm_active_enums::SubmissionOutcome::Updated => "an existing lead",
            }
        );
        if let Some(values) = submission.data.as_object() {
            for (key, value) in values {
                let shown = match value {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => continue,
                    other => other.to_string(),
                };
                text.push_str(&format!("{key}: {shown}\n"));
            }
        }
        if let Some(page) = &submission.page_url {
            text.push_str(&format!("\nPage: {page}\n"));
        }
        Ok(Some(Notice {
            to: user.email,
            subject: format!("New submission: {form_name}"),
            text,
        }))
    }
    .await;
    end_read(txn).await?;
    found
}

/// Records on the job that its transfer started (see the module docs).
async fn mark_started(shared: &Shared, job: &jobs::Model) -> anyhow::Result<()> {
    // The job table is shared: the system role writes it.
    let txn = begin_system_write(&shared.db)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let mut payload = job.payload.clone();
    payload["transfer_started"] = json!(true);
    let mut row = job.clone().into_active_model();
    row.payload = Set(payload);
    row.updated_at = Set(Utc::now().fixed_offset());
    row.update(&txn).await?;
    txn.commit().await?;
    Ok(())
}

pub(crate) async fn run(shared: &Shared, job: &jobs::Model) -> JobOutcome {
    match attempt(shared, job).await {
        Ok(outcome) => outcome,
        Err(error) => JobOutcome::RetryAfter(
            chrono::Duration::milliseconds(shared.config.messaging.retry_base_ms as i64),
            format!("{error:?}"),
        ),
    }
}

async fn attempt(shared: &Shared, job: &jobs::Model) -> AppResult<JobOutcome> {
    let (Some(tenant_id), Some(submission_id), Some(user_id)) = (
        job.tenant_id,
        uuid_at(job, "submission_id"),
        uuid_at(job, "user_id"),
    ) else {
        return Ok(JobOutcome::Failed(
            "malformed notify_form_submission job".into(),
        ));
    };
    if job.payload.get("transfer_started") == Some(&json!(true)) {
        tracing::warn!(job = %job.id, "a form notification's earlier transfer was interrupted; not sent again");
        return Ok(JobOutcome::Done);
    }
    let Some(notice) = notice(shared, tenant_id, submission_id, user_id).await? else {
        return Ok(JobOutcome::Done);
    };
    let txn = begin_for(&shared.db, tenant_id, None).await?;
    let candidates = senders::candidates(&txn, tenant_id, None).await?;
    end_read(txn).await?;
    let mut last = String::from("no SMTP sender account can send now");
    for candidate in candidates
        .iter()
        .filter(|c| c.account.transport == SenderTransport::Smtp)
    {
        let account = match senders::smtp_account(shared, &candidate.account) {
            Ok(account) => account,
            Err(error) => {
                last = error;
                continue;
            }
        };
        let email = OutgoingEmail {
            from_email: candidate.account.from_email.clone(),
            from_name: candidate.account.from_name.clone(),
            reply_to: None,
            to: notice.to.clone(),
            subject: notice.subject.clone(),
            text_body: notice.text.clone(),
            html_body: None,
            message_id: format!("{}@{}", job.id, shared.config.messaging.mail_domain),
            // Members manage notifications on the form, not by unsubscribing.
            unsubscribe_url: format!("{}/graphql", shared.config.public_url()),
            unsubscribe_mailto: None,
        };
        match smtp::deliver(&account, &email, || mark_started(shared, job)).await {
            Ok(_) => {
                senders::record_use(&shared.db, tenant_id, candidate.account.id, Ok(())).await?;
                metrics::counter!("promohub_form_notifications_total").increment(1);
                return Ok(JobOutcome::Done);
            }
            Err(failure) if failure.is_permanent_for_message() => {
                return Ok(JobOutcome::Failed(failure.to_string()));
            }
            Err(failure) => {
                last = failure.to_string();
            }
        }
    }
    Ok(JobOutcome::RetryAfter(
        chrono::Duration::milliseconds(shared.config.messaging.retry_base_ms as i64),
        last,
    ))
}
