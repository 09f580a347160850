//! Delivering one queued message: the `send_message` job.
//!
//! Exactly-once, as far as SMTP allows: the job does nothing for a message
//! that is no longer queued; the moment before the SMTP DATA command is
//! committed on the message (`transfer_started_at`), so a worker that finds
//! it set knows an earlier attempt died mid-transfer and marks the message
//! `unknown` (not `failed`: it may well have arrived) instead of sending a
//! second copy; and the Message-ID, fixed at queue time, is the same on
//! every attempt. Only an admin's `resendMessage` sends such a message
//! again, under a new Message-ID.
//!
//! Accounts are tried in failover order (priority, then age). Before a
//! message is handed to an account it takes a slot in the shared limiter
//! ([`limiter::reserve`]), which also sets the transfer marker: the limits
//! hold exactly across workers and processes, and the reservation is the
//! exactly-once marker. An account with no slot now says when it will have
//! one; an account whose server throttles (SES's `454 Throttling failure`,
//! any 4xx) gives the slot back and rests. Either way the next account is
//! tried, and when none can take the message now the job runs again when
//! the first one can ([`JobOutcome::RunAgainAt`]): waiting, not failing, so
//! no attempt is used up and the recipient is never skipped. An account
//! that cannot be reached or answers with another account error hands over
//! to the next; when every account fails so, the job is retried with
//! backoff.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use entity::sea_orm_active_enums::{EngagementType, MessageStatus, SenderTransport};
use entity::{jobs, message_directory, messages, outbox_emails};

use crate::error::AppResult;
use crate::jobs::JobOutcome;
use crate::jobs::queue::backoff;
use crate::messaging::engagement::recorder::{NewEvent, load_messages, record_now};
use crate::messaging::senders::limiter::{self, Reservation};
use crate::messaging::senders::service::{self as senders, SenderCandidate};
use crate::messaging::smtp::{self, OutgoingEmail, SendFailure, Stage};
use crate::state::Shared;
use crate::tenancy::scoped::{as_system, begin_for, begin_for_write, tenant_update};

/// The earliest moment some account may take the message, and why not now.
#[derive(Default)]
struct Wait(Option<(DateTime<Utc>, String)>);

impl Wait {
    fn until(&mut self, at: DateTime<Utc>, reason: String) {
        if self.0.as_ref().is_none_or(|(earliest, _)| at < *earliest) {
            self.0 = Some((at, reason));
        }
    }
}

/// When the account rests (throttled, pausing, full) according to the
/// snapshot read with the candidates: skipped without taking its lock.
fn resting(
    account: &entity::sender_accounts::Model,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, String)> {
    let future = |at: Option<chrono::DateTime<chrono::FixedOffset>>| {
        at.map(|at| at.to_utc()).filter(|at| *at > now)
    };
    if let Some(until) = future(account.throttled_until) {
        return Some((
            until,
            format!(
                "sender account {:?} was throttled by its provider; resting until then",
                account.name
            ),
        ));
    }
    future(account.next_send_at).map(|next| (next, limiter::resting_reason(account)))
}

/// Why a message was not retried after a worker died mid-transfer.
pub(crate) const OUTCOME_UNKNOWN: &str = "delivery outcome unknown: a worker stopped while handing the \
     message to the SMTP server; not retried so the recipient cannot receive it twice \
     (an admin may resend it)";

/// Why a message was not retried after the connection broke during DATA.
const LOST_DURING_DATA: &str = "delivery outcome unknown: the connection to the SMTP server broke \
     while the message was being transferred; not retried so the recipient cannot receive it \
     twice (an admin may resend it)";

pub(crate) async fn run(shared: &Shared, job: &jobs::Model) -> JobOutcome {
    match attempt(shared, job).await {
        Ok(outcome) => outcome,
        Err(error) => {
            tracing::warn!(?error, job = %job.id, "delivery attempt failed");
            JobOutcome::RetryAfter(retry_delay(shared, job), format!("{error:?}"))
        }
    }
}

fn retry_delay(shared: &Shared, job: &jobs::Model) -> chrono::Duration {
    let base = chrono::Duration::milliseconds(shared.config.messaging.retry_base_ms as i64);
    backoff(base, job.attempts)
}

/// An event at the injectable clock's now: `sent_at` is what the sending
/// windows count.
fn event(shared: &Shared, kind: EngagementType, message_id: Uuid) -> NewEvent {
    NewEvent {
        occurred_at: shared.clock.now(),
        ..NewEvent::new(kind, message_id, "smtp")
    }
}

fn outcome_unknown(shared: &Shared, message_id: Uuid, error: &str) -> NewEvent {
    NewEvent {
        error: Some(error.to_owned()),
        ..event(shared, EngagementType::OutcomeUnknown, message_id)
    }
}

fn failed(shared: &Shared, message_id: Uuid, error: impl Into<String>) -> NewEvent {
    NewEvent {
        error: Some(error.into()),
        ..event(shared, EngagementType::Failed, message_id)
    }
}

async fn attempt(shared: &Shared, job: &jobs::Model) -> AppResult<JobOutcome> {
    let (Some(tenant_id), Some(message_id)) = (
        job.tenant_id,
        job.payload
            .get("message_id")
            .and_then(|v| v.as_str())
            .and_then(|v| Uuid::parse_str(v).ok()),
    ) else {
        return Ok(JobOutcome::Failed("malformed send_message job".into()));
    };

    let txn = begin_for(&shared.db, tenant_id, None).await?;
    let Some(message) = load_messages(&txn, tenant_id, [message_id])
        .await?
        .remove(&message_id)
    else {
        return Ok(JobOutcome::Done);
    };
    if let Some(campaign_id) = message.campaign_id
        && crate::campaigns::campaign::service::is_paused(&txn, tenant_id, campaign_id).await?
    {
        // Released by `resumeCampaign`.
        return Ok(JobOutcome::Held);
    }
    let candidates = senders::candidates(&txn, tenant_id, message.sender_id).await?;
    let suppressed =
        crate::messaging::suppressions::service::is_suppressed(&txn, tenant_id, &message.recipient)
            .await?;
    txn.commit().await?;

    if message.status != MessageStatus::Queued {
        // Sent, or settled otherwise, by an earlier run of this job.
        return Ok(JobOutcome::Done);
    }
    if message.transfer_started_at.is_some() {
        record_now(
            shared,
            tenant_id,
            vec![outcome_unknown(shared, message_id, OUTCOME_UNKNOWN)],
        )
        .await?;
        return Ok(JobOutcome::Done);
    }
    if let Some(suppression) = suppressed {
        let reason = format!(
            "the recipient is on the suppression list ({:?})",
            suppression.reason
        );
        record_now(shared, tenant_id, vec![failed(shared, message_id, reason)]).await?;
        return Ok(JobOutcome::Done);
    }

    let mut last_failure = String::from("no sender account can send: none is active");
    // Whether an account failed in a way that uses up the attempt (not a
    // limit, not a throttle).
    let mut failed_attempt = false;
    let mut wait = Wait::default();
    for candidate in &candidates {
        let name = &candidate.account.name;
        if let Some((at, reason)) = resting(&candidate.account, shared.clock.now()) {
            wait.until(at, reason);
            continue;
        }
        let outbox = candidate.account.transport == SenderTransport::Outbox;
        let refusal = if outbox && shared.config.is_production() {
            Some(format!(
                "sender account {name:?} uses the development outbox, which production never uses"
            ))
        } else {
            None
        };
        let account = match (outbox, refusal) {
            (_, Some(refusal)) => Err(refusal),
            (true, None) => Ok(None),
            (false, None) => senders::smtp_account(shared, &candidate.account).map(Some),
        };
        let account = match account {
            Ok(account) => account,
            Err(error) => {
                last_failure = error;
                failed_attempt = true;
                senders::record_use(
                    &shared.db,
                    tenant_id,
                    candidate.account.id,
                    Err(last_failure.clone()),
                )
                .await?;
                continue;
            }
        };
        match limiter::reserve(shared, &message, candidate.account.id, job.attempts).await? {
            Reservation::Granted => {}
            Reservation::Wait { at, reason } => {
                wait.until(at, reason);
                continue;
            }
            Reservation::Unusable => continue,
            // Taken by another worker, or settled meanwhile.
            Reservation::Gone => return Ok(JobOutcome::Done),
        }
        let Some(account) = account else {
            match store_in_outbox(shared, &message, candidate).await? {
                Ok(()) => return Ok(JobOutcome::Done),
                Err(refusal) => {
                    clear_transfer_started(shared, tenant_id, message_id).await?;
                    last_failure = refusal;
                    failed_attempt = true;
                    senders::record_use(
                        &shared.db,
                        tenant_id,
                        candidate.account.id,
                        Err(last_failure.clone()),
                    )
                    .await?;
                    continue;
                }
            }
        };
        let email = outgoing(shared, &message, candidate);
        // The reservation already committed the transfer marker.
        let result = smtp::deliver(&account, &email, || async { Ok(()) }).await;
        match result {
            Ok(accepted) => {
                let provider_id = accepted.provider_message_id.clone();
                let sent = NewEvent {
                    provider_message_id: provider_id.clone(),
                    detail: serde_json::json!({ "sender": candidate.account.name, "response": accepted.response }),
                    ..event(shared, EngagementType::Sent, message_id)
                };
                record_sent(shared, tenant_id, message_id, sent, provider_id, None).await?;
                senders::record_use(&shared.db, tenant_id, candidate.account.id, Ok(())).await?;
                return Ok(JobOutcome::Done);
            }
            Err(failure) if failure.is_permanent_for_message() => {
                let bounce = failure.stage == Stage::RcptTo;
                let settled = NewEvent {
                    error: Some(describe(&failure)),
                    permanent: bounce,
                    detail: serde_json::json!({ "code": failure.code, "stage": format!("{:?}", failure.stage) }),
                    ..event(
                        shared,
                        if bounce {
                            EngagementType::Bounced
                        } else {
                            EngagementType::Failed
                        },
                        message_id,
                    )
                };
                tracing::info!(
                    job = %job.id, message = %message_id, sender = %candidate.account.name,
                    error = %describe(&failure), "delivery refused for good",
                );
                record_now(shared, tenant_id, vec![settled]).await?;
                return Ok(JobOutcome::Done);
            }
            Err(failure) if failure.stage == Stage::Data && failure.code.is_none() => {
                // The data went (perhaps all of it) and no reply came: the
                // same as a worker stopping here.
                let unknown = NewEvent {
                    detail: serde_json::json!({ "sender": candidate.account.name, "failure": describe(&failure) }),
                    ..outcome_unknown(shared, message_id, LOST_DURING_DATA)
                };
                record_now(shared, tenant_id, vec![unknown]).await?;
                return Ok(JobOutcome::Done);
            }
            Err(failure) => {
                // The server did not take the message: the slot and the
                // marker are given back.
                clear_transfer_started(shared, tenant_id, message_id).await?;
                last_failure = describe(&failure);
                senders::record_use(
                    &shared.db,
                    tenant_id,
                    candidate.account.id,
                    Err(last_failure.clone()),
                )
                .await?;
                if failure.is_throttle() {
                    let until = limiter::note_throttled(shared, &candidate.account).await?;
                    tracing::info!(
                        job = %job.id, message = %message_id, sender = %name,
                        error = %last_failure, "sender account throttled; message rescheduled",
                    );
                    wait.until(
                        until,
                        format!("sender account {name:?} was throttled ({last_failure}); waiting for a slot"),
                    );
                    continue;
                }
                failed_attempt = true;
                if !failure.is_account_problem() {
                    break;
                }
            }
        }
    }
    if let (false, Some((at, reason))) = (failed_attempt, &wait.0) {
        let reason = format!("waiting for a sending slot: {reason}");
        tracing::debug!(job = %job.id, message = %message_id, %at, %reason, "delivery deferred");
        note_waiting(shared, tenant_id, message_id, &reason, *at).await?;
        return Ok(JobOutcome::RunAgainAt(*at, reason));
    }
    if job.attempts >= job.max_attempts {
        let error = format!("gave up after {} attempts: {last_failure}", job.attempts);
        tracing::warn!(job = %job.id, message = %message_id, %error, "delivery given up");
        note_failed_attempt(shared, job, tenant_id, message_id, &error, None).await?;
        record_now(
            shared,
            tenant_id,
            vec![failed(shared, message_id, error.clone())],
        )
        .await?;
        return Ok(JobOutcome::Failed(error));
    }
    let now = shared.clock.now();
    let mut delay = retry_delay(shared, job);
    if let Some((at, _)) = &wait.0 {
        // An account that was only full or throttled may take it sooner.
        delay = Ord::min(delay, Ord::max(*at - now, chrono::Duration::zero()));
    }
    let next_attempt_at = now + delay;
    tracing::info!(
        job = %job.id, message = %message_id, attempt = job.attempts,
        next_attempt_at = %next_attempt_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        error = %last_failure, "delivery attempt failed; will retry",
    );
    note_failed_attempt(
        shared,
        job,
        tenant_id,
        message_id,
        &last_failure,
        Some(next_attempt_at),
    )
    .await?;
    Ok(JobOutcome::RetryAfter(delay, last_failure))
}

/// Shows on the message why its latest attempt failed, how many attempts
/// there were and (unless given up) when the next one runs: where a user
/// looks first, rather than only in the sender account's `lastError`.
async fn note_failed_attempt(
    shared: &Shared,
    job: &jobs::Model,
    tenant_id: Uuid,
    message_id: Uuid,
    error: &str,
    next_attempt_at: Option<chrono::DateTime<Utc>>,
) -> AppResult<()> {
    update_while_queued(
        shared,
        tenant_id,
        message_id,
        vec![
            (messages::Column::Attempts, Expr::val(job.attempts)),
            (messages::Column::Error, Expr::val(error)),
            (
                messages::Column::NextAttemptAt,
                Expr::val(next_attempt_at.map(|at| at.fixed_offset())),
            ),
            (
                messages::Column::UpdatedAt,
                Expr::val(shared.clock.now().fixed_offset()),
            ),
        ],
    )
    .await
}

/// Shows on the message why it waits and until when, without counting an
/// attempt: no account may take it now (limits, pause, throttling).
async fn note_waiting(
    shared: &Shared,
    tenant_id: Uuid,
    message_id: Uuid,
    reason: &str,
    at: DateTime<Utc>,
) -> AppResult<()> {
    update_while_queued(
        shared,
        tenant_id,
        message_id,
        vec![
            (messages::Column::Error, Expr::val(reason)),
            (
                messages::Column::NextAttemptAt,
                Expr::val(at.fixed_offset()),
            ),
            (
                messages::Column::UpdatedAt,
                Expr::val(shared.clock.now().fixed_offset()),
            ),
        ],
    )
    .await
}

/// Sets columns of a message that is still queued, in a transaction of its
/// own (a message settled meanwhile is left as it is).
async fn update_while_queued(
    shared: &Shared,
    tenant_id: Uuid,
    message_id: Uuid,
    columns: Vec<(messages::Column, Expr)>,
) -> AppResult<()> {
    let txn = begin_for_write(&shared.db, tenant_id, None).await?;
    let mut update = tenant_update::<messages::Entity>(tenant_id);
    for (column, value) in columns {
        update = update.col_expr(column, value);
    }
    update
        .filter(messages::Column::Id.eq(message_id))
        .filter(messages::Column::Status.eq(MessageStatus::Queued))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// The development outbox: stores the message exactly as the SMTP transport
/// would have sent it and records it sent, in one transaction (the slot is
/// already reserved). The inner `Err` is a refusal that hands over to the
/// next account.
async fn store_in_outbox(
    shared: &Shared,
    message: &messages::Model,
    candidate: &SenderCandidate,
) -> AppResult<Result<(), String>> {
    let email = outgoing(shared, message, candidate);
    let raw = match smtp::build_message(&email) {
        Ok(built) => String::from_utf8_lossy(&built.formatted()).into_owned(),
        Err(failure) => return Ok(Err(describe(&failure))),
    };
    let now = shared.clock.now();
    let stored = outbox_emails::ActiveModel {
        tenant_id: sea_orm::Set(message.tenant_id),
        id: sea_orm::Set(Uuid::now_v7()),
        message_id: sea_orm::Set(message.id),
        sender_id: sea_orm::Set(Some(candidate.account.id)),
        envelope_from: sea_orm::Set(email.from_email.clone()),
        recipient: sea_orm::Set(email.to.clone()),
        subject: sea_orm::Set(email.subject.clone()),
        raw: sea_orm::Set(raw),
        created_at: sea_orm::Set(now.fixed_offset()),
    };
    let sent = NewEvent {
        detail: serde_json::json!({ "sender": candidate.account.name, "response": "stored in the development outbox" }),
        occurred_at: now,
        ..NewEvent::new(EngagementType::Sent, message.id, "outbox")
    };
    record_sent(
        shared,
        message.tenant_id,
        message.id,
        sent,
        None,
        Some(stored),
    )
    .await?;
    senders::record_use(&shared.db, message.tenant_id, candidate.account.id, Ok(())).await?;
    Ok(Ok(()))
}

fn describe(failure: &SendFailure) -> String {
    match failure.code {
        Some(code) => format!("{:?}: {code} {}", failure.stage, failure.message),
        None => format!("{:?}: {}", failure.stage, failure.message),
    }
}

fn outgoing(shared: &Shared, message: &messages::Model, sender: &SenderCandidate) -> OutgoingEmail {
    OutgoingEmail {
        from_email: sender.account.from_email.clone(),
        from_name: sender.account.from_name.clone(),
        reply_to: sender.account.reply_to.clone(),
        to: message.recipient.clone(),
        subject: message.subject.clone().unwrap_or_default(),
        text_body: message.text_body.clone().unwrap_or_default(),
        html_body: message.html_body.clone(),
        message_id: message.message_id_header.clone(),
        unsubscribe_url: crate::messaging::tracking::links::unsubscribe_url(
            shared,
            message.tenant_id,
            message.id,
        ),
        unsubscribe_mailto: None,
    }
}

/// Gives the slot back: the server did not take the message, so the marker
/// no longer means "maybe sent" and the windows no longer count it.
async fn clear_transfer_started(
    shared: &Shared,
    tenant_id: Uuid,
    message_id: Uuid,
) -> AppResult<()> {
    let none = Expr::val(None::<chrono::DateTime<chrono::FixedOffset>>);
    update_while_queued(
        shared,
        tenant_id,
        message_id,
        vec![(messages::Column::TransferStartedAt, none)],
    )
    .await
}

/// Records `sent` and files the provider's id so its webhooks find the
/// message, in one transaction.
async fn record_sent(
    shared: &Shared,
    tenant_id: Uuid,
    message_id: Uuid,
    sent: NewEvent,
    provider_id: Option<String>,
    outbox_copy: Option<outbox_emails::ActiveModel>,
) -> AppResult<()> {
    let txn = begin_for_write(&shared.db, tenant_id, None).await?;
    if let Some(copy) = outbox_copy {
        outbox_emails::Entity::insert(copy)
            .exec_without_returning(&txn)
            .await?;
    }
    let mut messages = load_messages(&txn, tenant_id, [message_id]).await?;
    let stored =
        crate::messaging::engagement::recorder::record(&txn, tenant_id, &mut messages, vec![sent])
            .await?;
    if let Some(provider_id) = provider_id {
        as_system(&txn, async {
            message_directory::Entity::insert(message_directory::ActiveModel {
                lookup_key: sea_orm::Set(provider_id),
                tenant_id: sea_orm::Set(tenant_id),
                message_id: sea_orm::Set(message_id),
            })
            .on_conflict_do_nothing_on([message_directory::Column::LookupKey])
            .exec_without_returning(&txn)
            .await?;
            Ok(())
        })
        .await?;
    }
    txn.commit().await?;
    shared
        .hub
        .published_after_commit(&shared.db, crate::events::Committed::Engagement(stored));
    Ok(())
}
