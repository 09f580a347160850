//! Queuing messages: `sendMessage` and `sendBulkMessages` render, check the
//! suppression list and the tenant's daily cap, and store each message with
//! its links and a delivery job in one transaction. Delivery happens in the
//! job (see `delivery`).

use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use uuid::Uuid;

use entity::sea_orm_active_enums::{MessageChannel, MessageStatus};
use entity::{leads, message_directory, message_links, message_templates, messages, tenants};

use super::compose::{self, Audience, Batch, Draft, Recipient};
use super::types::{MessageFilter, SendBulkMessagesInput, SendMessageInput, SkippedLead};
use crate::error::{AppError, AppResult};
use crate::events::{DomainEventKind, NewDomainEvent, commit_with};
use crate::graphql::pagination::{Order, Page, PageArgs, Totals, list_by_id};
use crate::graphql::parse_id;
use crate::jobs::{JobKind, new_job};
use crate::messaging::templates::render::{Rendered, TemplateParts, TemplateSource};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{
    as_system, begin, begin_write, find_live, find_owned, live, scoped, tenant_update,
};

/// Most leads one `sendBulkMessages` call takes.
pub(crate) const MAX_BULK: usize = 10_000;

type Provided = serde_json::Map<String, serde_json::Value>;

/// Messages the tenant may still queue today (UTC).
pub(crate) async fn remaining_today(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    now: chrono::DateTime<Utc>,
) -> AppResult<i64> {
    let tenant = tenants::Entity::find_by_id(ctx.tenant_id)
        .one(conn)
        .await?
        .ok_or(AppError::not_found("tenant"))?;
    let midnight = crate::messaging::senders::service::start_of_utc_day(now);
    let today = scoped::<messages::Entity>(ctx)
        .filter(messages::Column::QueuedAt.gte(midnight.fixed_offset()))
        .count(conn)
        .await? as i64;
    Ok(i64::from(tenant.max_emails_per_day) - today)
}

fn daily_cap_reached() -> AppError {
    AppError::limit_exceeded(
        "the tenant's daily email limit (max_emails_per_day of its plan) is reached; try again tomorrow",
    )
}

/// The sender shown in `sender.*` and stored on the message: the chosen
/// account, else the first in failover order.
async fn choose_sender(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    sender_id: Option<Uuid>,
    field: &str,
) -> AppResult<crate::messaging::senders::service::SenderCandidate> {
    let candidates =
        crate::messaging::senders::service::candidates(conn, ctx.tenant_id, sender_id).await?;
    if let Some(id) = sender_id
        && candidates.first().is_none_or(|c| c.account.id != id)
    {
        return Err(AppError::invalid(
            field,
            "no active sender account with this id",
        ));
    }
    candidates.into_iter().next().ok_or_else(|| {
        AppError::invalid(
            field,
            "no sender account can send: add one with createSenderAccount or activate one",
        )
    })
}

/// A template usable for email, or `NOT_FOUND` / a clear refusal.
async fn email_template(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    id: Uuid,
    field: &str,
) -> AppResult<message_templates::Model> {
    let template = find_live::<message_templates::Entity>(conn, ctx, id).await?;
    if template.channel != MessageChannel::Email {
        return Err(AppError::invalid(field, "this template is not for email"));
    }
    if !template.is_active {
        return Err(AppError::invalid(field, "this template is not active"));
    }
    Ok(template)
}

/// Everything one queued message needs stored.
pub(crate) struct Queued {
    message: messages::ActiveModel,
    links: Vec<message_links::ActiveModel>,
    directory: message_directory::ActiveModel,
    job: entity::jobs::ActiveModel,
}

/// What the messages of one send share.
pub(crate) struct Common<'a> {
    pub shared: &'a Shared,
    pub ctx: &'a RequestCtx,
    pub template_id: Option<Uuid>,
    pub campaign_id: Option<Uuid>,
    pub sender: &'a crate::messaging::senders::service::SenderCandidate,
    pub tracking: bool,
    pub provided: &'a Provided,
    pub now: chrono::DateTime<Utc>,
}

/// What a message being queued keeps beside its draft: its id and
/// address, and the campaign step it sends.
pub(crate) struct Outgoing {
    pub id: Uuid,
    pub email: String,
    pub sequence: Option<SequenceStep>,
}

/// The enrollment, step and variant a campaign message sends: the first
/// two are its idempotency key (unique together).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SequenceStep {
    pub enrollment_id: Uuid,
    pub step_id: Uuid,
    pub variant_id: Uuid,
}

/// A message to render for `recipient`, with a fresh id (its unsubscribe
/// link names it).
pub(crate) fn draft(
    common: &Common,
    recipient: Recipient,
    email: String,
    sequence: Option<SequenceStep>,
) -> Draft<Outgoing> {
    let id = Uuid::now_v7();
    Draft {
        unsubscribe_url: crate::messaging::tracking::links::unsubscribe_url(
            common.shared,
            common.ctx.tenant_id,
            id,
        ),
        key: Outgoing {
            id,
            email,
            sequence,
        },
        recipient,
    }
}

pub(crate) fn queue_one(
    common: &Common,
    draft: &Draft<Outgoing>,
    rendered: Rendered,
) -> AppResult<Queued> {
    let shared = common.shared;
    let tenant_id = common.ctx.tenant_id;
    let (id, email, recipient) = (draft.key.id, draft.key.email.clone(), &draft.recipient);
    let (html, links) = match (&rendered.html_body, common.tracking) {
        (Some(html), true) => {
            let (html, links) = compose::track(shared, tenant_id, id, html)?;
            (Some(html), links)
        }
        (html, _) => (html.clone(), Vec::new()),
    };
    let now = common.now.fixed_offset();
    let header = format!("{id}@{}", shared.config.messaging.mail_domain);
    let sequence = draft.key.sequence;
    Ok(Queued {
        message: messages::ActiveModel {
            tenant_id: Set(tenant_id),
            id: Set(id),
            channel: Set(MessageChannel::Email),
            lead_id: Set(recipient.lead.id),
            campaign_id: Set(common.campaign_id),
            template_id: Set(common.template_id),
            sender_id: Set(Some(common.sender.account.id)),
            recipient_domain: Set(Some(crate::messaging::senders::limiter::recipient_domain(
                &email,
            ))),
            recipient: Set(email),
            from_email: Set(Some(common.sender.account.from_email.clone())),
            from_name: Set(common.sender.account.from_name.clone()),
            subject: Set(Some(rendered.subject)),
            text_body: Set(Some(rendered.text_body)),
            html_body: Set(html),
            status: Set(MessageStatus::Queued),
            message_id_header: Set(header.clone()),
            provider_message_id: Set(None),
            tracking: Set(common.tracking),
            error: Set(None),
            attempts: Set(0),
            transfer_started_at: Set(None),
            next_attempt_at: Set(None),
            queued_at: Set(now),
            sent_at: Set(None),
            delivered_at: Set(None),
            opened_at: Set(None),
            clicked_at: Set(None),
            replied_at: Set(None),
            bounced_at: Set(None),
            complained_at: Set(None),
            failed_at: Set(None),
            unsubscribed_at: Set(None),
            open_count: Set(0),
            click_count: Set(0),
            credits_charged: Set(0),
            variables: Set(serde_json::Value::Object(common.provided.clone())),
            enrollment_id: Set(sequence.map(|s| s.enrollment_id)),
            step_id: Set(sequence.map(|s| s.step_id)),
            variant_id: Set(sequence.map(|s| s.variant_id)),
            created_at: Set(now),
            updated_at: Set(now),
            created_by: Set(common.ctx.user_id()),
        },
        links: links
            .into_iter()
            .enumerate()
            .map(|(position, url)| message_links::ActiveModel {
                tenant_id: Set(tenant_id),
                id: Set(Uuid::now_v7()),
                message_id: Set(id),
                position: Set(position as i32),
                url: Set(url),
                click_count: Set(0),
            })
            .collect(),
        directory: message_directory::ActiveModel {
            lookup_key: Set(header),
            tenant_id: Set(tenant_id),
            message_id: Set(id),
        },
        job: {
            let mut job = new_job(
                tenant_id,
                JobKind::SendMessage,
                serde_json::json!({ "message_id": id }),
                shared.config.messaging.send_max_attempts,
            );
            // A campaign's deliveries are held while it is paused.
            job.group_key = Set(common
                .campaign_id
                .map(crate::campaigns::campaign::service::delivery_group));
            job
        },
    })
}

pub(crate) async fn store(conn: &impl ConnectionTrait, queued: Vec<Queued>) -> AppResult<()> {
    let mut messages_rows = Vec::new();
    let mut links = Vec::new();
    let mut directory = Vec::new();
    let mut jobs = Vec::new();
    for q in queued {
        messages_rows.push(q.message);
        links.extend(q.links);
        directory.push(q.directory);
        jobs.push(q.job);
    }
    // Chunks keep each statement under SQLite's bound-parameter limit.
    for chunk in messages_rows.chunks(200) {
        messages::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(conn)
            .await?;
    }
    for chunk in links.chunks(1000) {
        message_links::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(conn)
            .await?;
    }
    // The directory and the job queue are shared by every tenant: only
    // `promohub_system` may write them.
    as_system(conn, async {
        for chunk in directory.chunks(1000) {
            message_directory::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(conn)
                .await?;
        }
        crate::jobs::queue::insert(conn, jobs).await
    })
    .await
}

pub(crate) async fn bump_usage(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    template_id: Option<Uuid>,
    n: i32,
) -> AppResult<()> {
    if let Some(id) = template_id {
        use sea_orm::sea_query::{Expr, ExprTrait};
        tenant_update::<message_templates::Entity>(ctx.tenant_id)
            .col_expr(
                message_templates::Column::UsageCount,
                Expr::col(message_templates::Column::UsageCount).add(n),
            )
            .filter(message_templates::Column::Id.eq(id))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// A campaign named on a message must be one of the caller's live ones.
async fn check_campaign(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    campaign_id: Option<Uuid>,
) -> AppResult<()> {
    if let Some(id) = campaign_id {
        find_live::<entity::campaigns::Entity>(conn, ctx, id)
            .await
            .map_err(|_| {
                AppError::invalid("input.campaignId", "no campaign of yours has this id")
            })?;
    }
    Ok(())
}

fn optional_id(id: Option<&async_graphql::ID>, field: &str) -> AppResult<Option<Uuid>> {
    id.map(|id| parse_id(id, field)).transpose()
}

/// `sendMessage`.
pub(crate) async fn send(
    shared: &Shared,
    ctx: &RequestCtx,
    input: SendMessageInput,
) -> AppResult<messages::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let message = send_in(&txn, shared, ctx, input, Purpose::Outreach).await?;
    txn.commit().await?;
    shared.jobs.wake();
    Ok(message)
}

/// Why a message is sent, for the rules that depend on it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Anything the tenant sends a lead: never to a lead whose double
    /// opt-in is pending.
    Outreach,
    /// The double opt-in confirmation itself.
    OptInConfirmation,
}

fn opt_in_pending(lead: &leads::Model) -> bool {
    lead.opt_in_status == entity::sea_orm_active_enums::OptInStatus::Pending
}

/// Queues a message in the caller's transaction (the caller commits and
/// then wakes the job runner).
pub(crate) async fn send_in(
    txn: &sea_orm::DatabaseTransaction,
    shared: &Shared,
    ctx: &RequestCtx,
    input: SendMessageInput,
    purpose: Purpose,
) -> AppResult<messages::Model> {
    let lead_id = parse_id(&input.lead_id, "input.leadId")?;
    let template_id = optional_id(input.template_id.as_ref(), "input.templateId")?;
    let sender_id = optional_id(input.sender_id.as_ref(), "input.senderId")?;
    let campaign_id = optional_id(input.campaign_id.as_ref(), "input.campaignId")?;
    let provided = input
        .variables
        .map(|v| v.into_object("input.variables"))
        .transpose()?
        .unwrap_or_default();
    let inline = input.subject.is_some() || input.text_body.is_some() || input.html_body.is_some();
    if inline && template_id.is_some() {
        return Err(AppError::invalid(
            "input.templateId",
            "give a template or inline content, not both",
        ));
    }
    if !inline && template_id.is_none() {
        return Err(AppError::invalid(
            "input.templateId",
            "give a template or inline subject and body",
        ));
    }

    let lead = find_live::<leads::Entity>(txn, ctx, lead_id).await?;
    let Some(email) = lead.email.clone() else {
        return Err(AppError::invalid(
            "input.leadId",
            "this lead has no email address",
        ));
    };
    if purpose == Purpose::Outreach && opt_in_pending(&lead) {
        return Err(AppError::invalid(
            "input.leadId",
            "this lead has not yet confirmed their subscription (double opt-in)",
        ));
    }
    if let Some(s) =
        crate::messaging::suppressions::service::is_suppressed(txn, ctx.tenant_id, &email).await?
    {
        return Err(AppError::invalid(
            "input.leadId",
            format!(
                "{email} is on the suppression list ({:?}); it is never sent to",
                s.reason
            ),
        ));
    }
    check_campaign(txn, ctx, campaign_id).await?;
    if remaining_today(txn, ctx, shared.clock.now()).await? < 1 {
        return Err(daily_cap_reached());
    }
    let (parts_owned, declared) = match template_id {
        Some(id) => {
            let template = email_template(txn, ctx, id, "input.templateId").await?;
            let declared = crate::messaging::templates::service::declared(&template);
            (
                (
                    template.subject.clone(),
                    template.text_body.clone(),
                    template.html_body.clone(),
                ),
                declared,
            )
        }
        None => (
            (input.subject, input.text_body, input.html_body),
            Vec::new(),
        ),
    };
    let parts = TemplateParts {
        subject: parts_owned.0.as_deref(),
        text_body: parts_owned.1.as_deref(),
        html_body: parts_owned.2.as_deref(),
    };
    if template_id.is_none() {
        let keys = crate::messaging::custom_variables::service::keys(txn, ctx.tenant_id).await?;
        crate::messaging::templates::service::validate(
            &MessageChannel::Email,
            &parts,
            &[],
            &keys,
            "input.",
        )?;
    }
    let source = TemplateSource::of(&parts);
    let sender = choose_sender(txn, ctx, sender_id, "input.senderId").await?;
    let audience = Audience::load(
        txn,
        ctx.tenant_id,
        Some((
            sender.account.from_name.clone(),
            sender.account.from_email.clone(),
        )),
    )
    .await?;
    let recipient = compose::recipients(txn, ctx, vec![lead]).await?.remove(0);
    let common = Common {
        shared,
        ctx,
        template_id,
        campaign_id,
        sender: &sender,
        tracking: input.tracking.unwrap_or(true),
        provided: &provided,
        now: shared.clock.now(),
    };
    let batch = Batch {
        template: source,
        audience,
        declared,
        provided: provided.clone(),
    };
    let drafts = vec![draft(&common, recipient, email, None)];
    let Some((draft, Some(rendered))) = compose::render_drafts(shared, batch, drafts, 1)
        .await?
        .pop()
    else {
        return Err(AppError::internal(anyhow::anyhow!(
            "the message was not rendered"
        )));
    };
    let queued = rendered
        .and_then(|rendered| queue_one(&common, &draft, rendered))
        .map_err(|e| e.with_field_prefix("input."))?;
    let id = *queued.message.id.as_ref();
    store(txn, vec![queued]).await?;
    bump_usage(txn, ctx, template_id, 1).await?;
    find_owned::<messages::Entity>(txn, ctx, id, "message").await
}

/// `sendBulkMessages`: one template to many leads. The template is compiled
/// once; leads without an address, suppressed or missing are skipped with a
/// reason, the rest are queued together.
pub(crate) async fn send_bulk(
    shared: &Shared,
    ctx: &RequestCtx,
    input: SendBulkMessagesInput,
) -> AppResult<(i32, Vec<SkippedLead>)> {
    ctx.require_writer()?;
    if input.lead_ids.len() > MAX_BULK {
        return Err(AppError::invalid(
            "input.leadIds",
            format!("at most {MAX_BULK} leads per call"),
        ));
    }
    let template_id = parse_id(&input.template_id, "input.templateId")?;
    let sender_id = optional_id(input.sender_id.as_ref(), "input.senderId")?;
    let campaign_id = optional_id(input.campaign_id.as_ref(), "input.campaignId")?;
    let mut lead_ids = Vec::with_capacity(input.lead_ids.len());
    for (i, id) in input.lead_ids.iter().enumerate() {
        lead_ids.push(parse_id(id, &format!("input.leadIds[{i}]"))?);
    }
    lead_ids.sort_unstable();
    lead_ids.dedup();
    let provided = input
        .variables
        .map(|v| v.into_object("input.variables"))
        .transpose()?
        .unwrap_or_default();

    let txn = begin_write(&shared.db, ctx).await?;
    let template = email_template(&txn, ctx, template_id, "input.templateId").await?;
    let declared = crate::messaging::templates::service::declared(&template);
    let source = TemplateSource::of(&crate::messaging::templates::service::parts(&template));
    let sender = choose_sender(&txn, ctx, sender_id, "input.senderId").await?;
    let audience = Audience::load(
        &txn,
        ctx.tenant_id,
        Some((
            sender.account.from_name.clone(),
            sender.account.from_email.clone(),
        )),
    )
    .await?;
    let mut leads_found = Vec::with_capacity(lead_ids.len());
    for chunk in lead_ids.chunks(500) {
        leads_found.extend(
            live::<leads::Entity>(ctx)
                .filter(leads::Column::Id.is_in(chunk.iter().copied()))
                .all(&txn)
                .await?,
        );
    }
    let mut skipped = Vec::new();
    let skip = |id: Uuid, code: &str, message: String| SkippedLead {
        lead_id: crate::graphql::to_id(id),
        code: code.to_owned(),
        message,
    };
    let found: std::collections::HashSet<Uuid> = leads_found.iter().map(|l| l.id).collect();
    for id in &lead_ids {
        if !found.contains(id) {
            skipped.push(skip(*id, "NOT_FOUND", "lead not found".into()));
        }
    }
    let suppressed = crate::messaging::suppressions::service::suppressed_among(
        &txn,
        ctx.tenant_id,
        leads_found.iter().filter_map(|l| l.email.clone()),
    )
    .await?;
    check_campaign(&txn, ctx, campaign_id).await?;
    let remaining = remaining_today(&txn, ctx, shared.clock.now()).await?;
    let recipients = compose::recipients(&txn, ctx, leads_found).await?;
    let common = Common {
        shared,
        ctx,
        template_id: Some(template_id),
        campaign_id,
        sender: &sender,
        tracking: input.tracking.unwrap_or(true),
        provided: &provided,
        now: shared.clock.now(),
    };
    let mut drafts = Vec::with_capacity(recipients.len());
    for recipient in recipients {
        let id = recipient.lead.id;
        let Some(email) = recipient.lead.email.clone() else {
            skipped.push(skip(id, "NO_EMAIL", "the lead has no email address".into()));
            continue;
        };
        if opt_in_pending(&recipient.lead) {
            skipped.push(skip(
                id,
                "OPT_IN_PENDING",
                "the lead has not yet confirmed their subscription (double opt-in)".into(),
            ));
            continue;
        }
        if suppressed.contains(&email.to_lowercase()) {
            skipped.push(skip(
                id,
                "SUPPRESSED",
                format!("{email} is on the suppression list"),
            ));
            continue;
        }
        drafts.push(draft(&common, recipient, email, None));
    }
    let batch = Batch {
        template: source,
        audience,
        declared,
        provided: provided.clone(),
    };
    // Rendering stops at the daily limit: the rest are not rendered at all.
    let max_rendered = usize::try_from(remaining).unwrap_or(0);
    let mut queued = Vec::with_capacity(drafts.len());
    for (draft, rendered) in compose::render_drafts(shared, batch, drafts, max_rendered).await? {
        let id = draft.recipient.lead.id;
        let Some(rendered) = rendered else {
            skipped.push(skip(
                id,
                "LIMIT_EXCEEDED",
                "the tenant's daily email limit is reached".into(),
            ));
            continue;
        };
        match rendered.and_then(|rendered| queue_one(&common, &draft, rendered)) {
            Ok(q) => queued.push(q),
            Err(error) => skipped.push(skip(id, error.code(), error.public_message())),
        }
    }
    let count = queued.len() as i32;
    store(&txn, queued).await?;
    bump_usage(&txn, ctx, Some(template_id), count).await?;
    txn.commit().await?;
    shared.jobs.wake();
    Ok((count, skipped))
}

/// One page of messages, newest first.
pub(crate) async fn list(
    shared: &Shared,
    ctx: &RequestCtx,
    args: &PageArgs,
    filter: Option<MessageFilter>,
) -> AppResult<(Page<messages::Model>, Totals)> {
    let filter = filter.unwrap_or_default();
    let mut select = scoped::<messages::Entity>(ctx);
    if let Some(statuses) = filter.status {
        select = select
            .filter(messages::Column::Status.is_in(statuses.into_iter().map(MessageStatus::from)));
    }
    for (value, column, field) in [
        (&filter.lead_id, messages::Column::LeadId, "filter.leadId"),
        (
            &filter.template_id,
            messages::Column::TemplateId,
            "filter.templateId",
        ),
        (
            &filter.campaign_id,
            messages::Column::CampaignId,
            "filter.campaignId",
        ),
        (
            &filter.sender_id,
            messages::Column::SenderId,
            "filter.senderId",
        ),
    ] {
        if let Some(id) = optional_id(value.as_ref(), field)? {
            select = select.filter(column.eq(id));
        }
    }
    list_by_id(
        shared,
        ctx,
        select,
        messages::Column::Id,
        args,
        Order::NewestFirst,
    )
    .await
}

pub(crate) async fn get(shared: &Shared, ctx: &RequestCtx, id: Uuid) -> AppResult<messages::Model> {
    let txn = begin(&shared.db, ctx).await?;
    let message = find_owned::<messages::Entity>(&txn, ctx, id, "message").await?;
    txn.commit().await?;
    Ok(message)
}

/// `resendMessage`: an admin's explicit choice to send again a message
/// whose delivery outcome is unknown (it may have arrived) or that failed.
/// The same message is queued again under a new Message-ID, the
/// idempotency key of the new attempt, so the attempt is a delivery of its
/// own and a reply or bounce to either copy still finds the message (both
/// ids stay in the directory). What it was is kept: its engagement events
/// stay, and a `message.resent` domain event records the previous status,
/// error and Message-ID. Two concurrent resends queue one attempt.
pub(crate) async fn resend(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<messages::Model> {
    use sea_orm::sea_query::Expr;

    ctx.require_admin()?;
    const RESENDABLE: [MessageStatus; 2] = [MessageStatus::Unknown, MessageStatus::Failed];
    let txn = begin_write(&shared.db, ctx).await?;
    let before = find_owned::<messages::Entity>(&txn, ctx, id, "message").await?;
    if !RESENDABLE.contains(&before.status) {
        return Err(AppError::conflict(
            "only a message whose delivery outcome is unknown or that failed can be resent",
        ));
    }
    if let Some(s) = crate::messaging::suppressions::service::is_suppressed(
        &txn,
        ctx.tenant_id,
        &before.recipient,
    )
    .await?
    {
        return Err(AppError::invalid(
            "id",
            format!(
                "{} is on the suppression list ({:?}); it is never sent to",
                before.recipient, s.reason
            ),
        ));
    }
    let header = format!("{}@{}", Uuid::now_v7(), shared.config.messaging.mail_domain);
    let now = Utc::now().fixed_offset();
    let updated = tenant_update::<messages::Entity>(ctx.tenant_id)
        .col_expr(messages::Column::Status, Expr::val(MessageStatus::Queued))
        .col_expr(messages::Column::MessageIdHeader, Expr::val(header.clone()))
        .col_expr(
            messages::Column::TransferStartedAt,
            Expr::val(None::<chrono::DateTime<chrono::FixedOffset>>),
        )
        .col_expr(
            messages::Column::FailedAt,
            Expr::val(None::<chrono::DateTime<chrono::FixedOffset>>),
        )
        .col_expr(messages::Column::Error, Expr::val(None::<String>))
        .col_expr(messages::Column::UpdatedAt, Expr::val(now))
        .filter(messages::Column::Id.eq(id))
        .filter(messages::Column::Status.eq(before.status))
        .exec(&txn)
        .await?;
    if updated.rows_affected != 1 {
        return Err(AppError::conflict(
            "the message changed meanwhile; load it again",
        ));
    }
    let job = new_job(
        ctx.tenant_id,
        JobKind::SendMessage,
        serde_json::json!({ "message_id": id }),
        shared.config.messaging.send_max_attempts,
    );
    // The directory and the job queue are shared by every tenant: only
    // `promohub_system` may write them.
    as_system(&txn, async {
        message_directory::Entity::insert(message_directory::ActiveModel {
            lookup_key: Set(header.clone()),
            tenant_id: Set(ctx.tenant_id),
            message_id: Set(id),
        })
        .exec_without_returning(&txn)
        .await?;
        crate::jobs::queue::insert(&txn, vec![job]).await
    })
    .await?;
    let message = find_owned::<messages::Entity>(&txn, ctx, id, "message").await?;
    let event = NewDomainEvent::new(DomainEventKind::MessageResent, id).with_payload(
        serde_json::json!({
            // As the API spells it (`UNKNOWN`, `FAILED`).
            "previousStatus": async_graphql::Value::from(super::types::MessageStatus::from(before.status)),
            "previousError": before.error,
            "previousMessageIdHeader": before.message_id_header,
            "messageIdHeader": header,
        }),
    );
    commit_with(shared, txn, ctx, vec![event]).await?;
    shared.jobs.wake();
    Ok(message)
}
