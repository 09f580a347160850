//! Recording engagement: every event is an `engagement_events` row written
//! in the same transaction as the message's status change and the lead's and
//! template's counters, so a dashboard, a lead and a message never disagree.
//!
//! Sequence numbers come from `engagement_sequences` through
//! `events::hub::allocate`, which hands them out in commit order (see there);
//! it is the transaction's last step before the insert.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    IntoActiveModel, NotSet, QueryFilter, QueryOrder, QuerySelect, Set, Statement,
};
use uuid::Uuid;

use entity::sea_orm_active_enums::{EngagementType, MessageStatus, SuppressionReason};
use entity::{engagement_events, leads, message_links, message_templates, messages};

use crate::db::is_postgres;
use crate::error::AppResult;
use crate::events::Committed;
use crate::events::hub::{Stream, allocate, notify};
use crate::tenancy::scoped::{tenant_rows, tenant_update};

/// An event about to be recorded against a message.
#[derive(Clone, Debug)]
pub(crate) struct NewEvent {
    pub kind: EngagementType,
    pub message_id: Uuid,
    /// Scanners, prefetchers, HEAD requests and clicks faster than a human:
    /// stored, but they change no status or counter.
    pub machine: bool,
    pub url: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// `tracker`, `smtp`, `api`, `imap`, or the webhook provider.
    pub source: &'static str,
    pub detail: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
    /// For `sent`: the id the SMTP server gave the message.
    pub provider_message_id: Option<String>,
    /// For `failed` and `bounced`: what went wrong.
    pub error: Option<String>,
    /// For `bounced`: a hard bounce (the address does not exist), which puts
    /// the address on the suppression list.
    pub permanent: bool,
}

impl NewEvent {
    pub(crate) fn new(kind: EngagementType, message_id: Uuid, source: &'static str) -> Self {
        Self {
            kind,
            message_id,
            machine: false,
            url: None,
            ip: None,
            user_agent: None,
            source,
            detail: serde_json::json!({}),
            occurred_at: Utc::now(),
            provider_message_id: None,
            error: None,
            permanent: false,
        }
    }
}

/// How far along a message is; statuses only move forward, except the
/// terminal ones (a bounce can arrive after "delivered").
/// `Unknown` ranks just above `Queued`: a delivery report, open or click
/// that arrives later settles it.
fn rank(status: &MessageStatus) -> u8 {
    match status {
        MessageStatus::Queued => 0,
        MessageStatus::Unknown => 1,
        MessageStatus::Sent => 2,
        MessageStatus::Delivered => 3,
        MessageStatus::Opened => 4,
        MessageStatus::Clicked => 5,
        MessageStatus::Replied => 6,
        MessageStatus::Failed
        | MessageStatus::Bounced
        | MessageStatus::Complained
        | MessageStatus::Canceled => TERMINAL,
    }
}

const TERMINAL: u8 = 7;

fn advance(message: &mut messages::Model, to: MessageStatus) {
    if rank(&to) > rank(&message.status) || rank(&to) == TERMINAL {
        message.status = to;
    }
}

/// Counter deltas for one lead or template.
#[derive(Default)]
struct Deltas(HashMap<&'static str, i64>);

impl Deltas {
    fn add(&mut self, column: &'static str) {
        *self.0.entry(column).or_default() += 1;
    }
}

/// Applies `events` (all of one tenant) to their messages and records them.
/// `messages` must hold every message the events name, as loaded in this
/// transaction; it is updated in place. Returns the stored events in
/// sequence order.
pub(crate) async fn record(
    txn: &DatabaseTransaction,
    tenant_id: Uuid,
    messages: &mut HashMap<Uuid, messages::Model>,
    events: Vec<NewEvent>,
) -> AppResult<Vec<engagement_events::Model>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let now = Utc::now().fixed_offset();
    let mut changed: HashMap<Uuid, messages::Model> = HashMap::new();
    // Ordered maps: concurrent writers update the same leads and templates
    // in the same order, so they wait for each other instead of
    // deadlocking.
    let mut lead_deltas: BTreeMap<Uuid, Deltas> = BTreeMap::new();
    let mut lead_contacted: HashMap<Uuid, bool> = HashMap::new();
    let mut template_deltas: BTreeMap<Uuid, Deltas> = BTreeMap::new();
    let mut rows = Vec::with_capacity(events.len());
    let mut suppressions = Vec::new();
    // Campaign enrollments whose stop conditions these events may meet.
    let mut sequence_stops = Vec::new();

    for event in events {
        let Some(message) = messages.get_mut(&event.message_id) else {
            continue;
        };
        let at = event.occurred_at.fixed_offset();
        let lead = lead_deltas.entry(message.lead_id).or_default();
        let mut template = Deltas::default();
        match (&event.kind, event.machine) {
            (_, true) => {}
            (EngagementType::Sent, _) => {
                if message.sent_at.is_none() {
                    message.sent_at = Some(at);
                    lead.add("emails_sent");
                    template.add("sent_count");
                    lead_contacted.insert(message.lead_id, true);
                }
                message.provider_message_id = event.provider_message_id.clone();
                message.transfer_started_at = None;
                message.error = None;
                advance(message, MessageStatus::Sent);
            }
            (EngagementType::Delivered, _) => {
                if message.delivered_at.is_none() {
                    message.delivered_at = Some(at);
                    template.add("delivered_count");
                }
                advance(message, MessageStatus::Delivered);
            }
            (EngagementType::Opened, _) => {
                message.open_count += 1;
                if message.opened_at.is_none() {
                    message.opened_at = Some(at);
                    lead.add("emails_opened");
                    template.add("opened_count");
                }
                advance(message, MessageStatus::Opened);
            }
            (EngagementType::Clicked, _) => {
                message.click_count += 1;
                if message.clicked_at.is_none() {
                    message.clicked_at = Some(at);
                    lead.add("emails_clicked");
                    template.add("clicked_count");
                }
                advance(message, MessageStatus::Clicked);
            }
            (EngagementType::Replied, _) => {
                if message.replied_at.is_none() {
                    message.replied_at = Some(at);
                    template.add("replied_count");
                }
                lead_contacted.entry(message.lead_id).or_insert(false);
                advance(message, MessageStatus::Replied);
            }
            (EngagementType::Bounced, _) => {
                if message.bounced_at.is_none() {
                    message.bounced_at = Some(at);
                    template.add("bounced_count");
                }
                message.error = event.error.clone().or(message.error.take());
                message.transfer_started_at = None;
                advance(message, MessageStatus::Bounced);
            }
            (EngagementType::Complained, _) => {
                if message.complained_at.is_none() {
                    message.complained_at = Some(at);
                    template.add("complained_count");
                }
                advance(message, MessageStatus::Complained);
            }
            (EngagementType::Unsubscribed, _) => {
                if message.unsubscribed_at.is_none() {
                    message.unsubscribed_at = Some(at);
                    template.add("unsubscribed_count");
                }
            }
            (EngagementType::Failed, _) => {
                message.failed_at = Some(at);
                message.error = event.error.clone();
                message.transfer_started_at = None;
                advance(message, MessageStatus::Failed);
            }
            // Stored and published, nothing more: an out-of-office is not
            // an answer, so no `replied_at`, status, counter or suppression.
            (EngagementType::AutoReplied, _) => {}
            (EngagementType::OutcomeUnknown, _) => {
                // Not failed: `failed_at` stays empty. The marker is
                // cleared; the status keeps the job from sending again.
                message.error = event.error.clone();
                message.transfer_started_at = None;
                advance(message, MessageStatus::Unknown);
            }
        }
        if !event.machine
            && let Some(enrollment_id) = message.enrollment_id
            && let Some(condition) =
                crate::campaigns::enrollments::service::stop_condition_of(&event.kind)
        {
            sequence_stops.push((enrollment_id, condition));
        }
        let suppression = match event.kind {
            _ if event.machine => None,
            EngagementType::Bounced if event.permanent => Some(SuppressionReason::HardBounce),
            EngagementType::Complained => Some(SuppressionReason::Complaint),
            EngagementType::Unsubscribed => Some(SuppressionReason::Unsubscribed),
            _ => None,
        };
        if let Some(reason) = suppression {
            suppressions.push((
                message.recipient.clone(),
                reason,
                message.id,
                event.error.clone(),
            ));
        }
        if let Some(template_id) = message.template_id {
            let entry = template_deltas.entry(template_id).or_default();
            for (column, n) in template.0 {
                *entry.0.entry(column).or_default() += n;
            }
        }
        let mut detail = event.detail;
        if let Some(error) = &event.error {
            detail["error"] = serde_json::Value::String(error.clone());
        }
        rows.push(engagement_events::ActiveModel {
            tenant_id: Set(tenant_id),
            id: Set(Uuid::now_v7()),
            // Numbered below, once the tenant's sequence row is locked.
            seq: NotSet,
            event_type: Set(event.kind),
            message_id: Set(message.id),
            lead_id: Set(message.lead_id),
            campaign_id: Set(message.campaign_id),
            template_id: Set(message.template_id),
            machine: Set(event.machine),
            url: Set(event.url),
            ip: Set(event.ip),
            user_agent: Set(event.user_agent.map(|ua| ua.chars().take(512).collect())),
            source: Set(event.source.to_owned()),
            detail: Set(detail),
            occurred_at: Set(at),
            created_at: Set(now),
        });
        changed.insert(message.id, message.clone());
    }

    save_messages(txn, tenant_id, changed, now).await?;
    // In this transaction: a reply stops the sequence before the next step
    // can be claimed (the scheduler locks the enrollment it sends for).
    crate::campaigns::enrollments::service::stop_on_engagement(
        txn,
        tenant_id,
        &sequence_stops,
        now.to_utc(),
    )
    .await?;
    for (email, reason, message_id, detail) in suppressions {
        crate::messaging::suppressions::service::suppress(
            txn,
            tenant_id,
            &email,
            reason,
            Some(message_id),
            detail,
        )
        .await?;
    }
    let lead_changes: Vec<(Uuid, Deltas, Option<bool>)> = lead_deltas
        .into_iter()
        .map(|(lead_id, deltas)| (lead_id, deltas, lead_contacted.get(&lead_id).copied()))
        .filter(|(_, deltas, contacted)| !deltas.0.is_empty() || contacted.is_some())
        .collect();
    if is_postgres(txn) {
        bump_leads_at_once(txn, tenant_id, &lead_changes, now).await?;
    } else {
        for (lead_id, deltas, contacted) in lead_changes {
            bump_lead(txn, tenant_id, lead_id, deltas, contacted, now).await?;
        }
    }
    for (template_id, deltas) in template_deltas {
        bump(
            txn,
            tenant_update::<message_templates::Entity>(tenant_id)
                .filter(message_templates::Column::Id.eq(template_id)),
            deltas,
        )
        .await?;
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // Last, so that the tenant's sequence row stays locked only for the
    // insert and the commit: concurrent writers do everything above in
    // parallel and queue only here.
    let first_seq = allocate(txn, Stream::Engagement, tenant_id, rows.len() as i64).await?;
    for (row, seq) in rows.iter_mut().zip(first_seq..) {
        row.seq = Set(seq);
    }
    let stored = engagement_events::Entity::insert_many(rows)
        .exec_with_returning(txn)
        .await?;
    let last_seq = stored.iter().map(|e| e.seq).max().unwrap_or(first_seq);
    notify(txn, Stream::Engagement, tenant_id, first_seq, last_seq).await?;
    let mut stored = stored;
    stored.sort_by_key(|e| e.seq);
    Ok(stored)
}

async fn save_messages(
    txn: &DatabaseTransaction,
    tenant_id: Uuid,
    changed: HashMap<Uuid, messages::Model>,
    now: sea_orm::prelude::DateTimeWithTimeZone,
) -> AppResult<()> {
    if is_postgres(txn) {
        return update_messages_at_once(txn, tenant_id, changed.into_values().collect(), now).await;
    }
    // SQLite runs in process: one statement per message costs no round trip.
    for (_, message) in changed {
        debug_assert_eq!(message.tenant_id, tenant_id);
        let mut active = message.into_active_model();
        // Only what events change; `reset_all` would rewrite the bodies too.
        for column in EVENT_COLUMNS {
            active.reset(column);
        }
        active.updated_at = Set(now);
        active.update(txn).await?;
    }
    Ok(())
}

/// The message columns events change.
const EVENT_COLUMNS: [messages::Column; 15] = [
    messages::Column::Status,
    messages::Column::ProviderMessageId,
    messages::Column::Error,
    messages::Column::TransferStartedAt,
    messages::Column::SentAt,
    messages::Column::DeliveredAt,
    messages::Column::OpenedAt,
    messages::Column::ClickedAt,
    messages::Column::RepliedAt,
    messages::Column::BouncedAt,
    messages::Column::ComplainedAt,
    messages::Column::FailedAt,
    messages::Column::UnsubscribedAt,
    messages::Column::OpenCount,
    messages::Column::ClickCount,
];

/// Rows per `UPDATE … FROM (VALUES …)`: at most 16 parameters each, well
/// under PostgreSQL's 65,535.
const ROWS_PER_UPDATE: usize = 1_000;

/// PostgreSQL: `statement` with `{values}` replaced by `rows` as a `VALUES`
/// list whose columns are cast to `casts`; `$1…` are the `leading`
/// parameters. One round trip for a batch's messages, leads or links
/// instead of one per row.
fn with_values(
    statement: &str,
    leading: &[sea_orm::Value],
    casts: &[&str],
    rows: &[Vec<sea_orm::Value>],
) -> Statement {
    let mut values = leading.to_vec();
    let mut tuples = Vec::with_capacity(rows.len());
    for row in rows {
        debug_assert_eq!(row.len(), casts.len());
        let base = values.len();
        let params: Vec<String> = casts
            .iter()
            .enumerate()
            .map(|(i, cast)| format!("${}::{cast}", base + i + 1))
            .collect();
        tuples.push(format!("({})", params.join(", ")));
        values.extend(row.iter().cloned());
    }
    Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        statement.replace("{values}", &tuples.join(", ")),
        values,
    )
}

/// Runs [`with_values`] once per chunk of `rows`.
async fn execute_with_values(
    txn: &DatabaseTransaction,
    statement: &str,
    leading: &[sea_orm::Value],
    casts: &[&str],
    rows: Vec<Vec<sea_orm::Value>>,
) -> AppResult<()> {
    for chunk in rows.chunks(ROWS_PER_UPDATE) {
        txn.execute_raw(with_values(statement, leading, casts, chunk))
            .await?;
    }
    Ok(())
}

/// PostgreSQL: a batch of opens and clicks touches hundreds of messages. The
/// rows were read `FOR UPDATE` in this transaction, so writing their new
/// state loses no concurrent change.
async fn update_messages_at_once(
    txn: &DatabaseTransaction,
    tenant_id: Uuid,
    rows: Vec<messages::Model>,
    now: sea_orm::prelude::DateTimeWithTimeZone,
) -> AppResult<()> {
    const TIME: &str = "timestamptz";
    let casts = [
        "uuid",
        "message_status",
        "text",
        "text",
        TIME,
        TIME,
        TIME,
        TIME,
        TIME,
        TIME,
        TIME,
        TIME,
        TIME,
        TIME,
        "int",
        "int",
    ];
    let rows = rows
        .into_iter()
        .map(|m| {
            vec![
                m.id.into(),
                m.status.to_value().into(),
                m.provider_message_id.into(),
                m.error.into(),
                m.transfer_started_at.into(),
                m.sent_at.into(),
                m.delivered_at.into(),
                m.opened_at.into(),
                m.clicked_at.into(),
                m.replied_at.into(),
                m.bounced_at.into(),
                m.complained_at.into(),
                m.failed_at.into(),
                m.unsubscribed_at.into(),
                m.open_count.into(),
                m.click_count.into(),
            ]
        })
        .collect();
    execute_with_values(
        txn,
        "UPDATE messages AS m SET status = v.status, provider_message_id = v.provider_message_id, \
         error = v.error, transfer_started_at = v.transfer_started_at, sent_at = v.sent_at, \
         delivered_at = v.delivered_at, opened_at = v.opened_at, clicked_at = v.clicked_at, \
         replied_at = v.replied_at, bounced_at = v.bounced_at, complained_at = v.complained_at, \
         failed_at = v.failed_at, unsubscribed_at = v.unsubscribed_at, open_count = v.open_count, \
         click_count = v.click_count, updated_at = $2 \
         FROM (VALUES {values}) AS v(id, status, provider_message_id, error, transfer_started_at, \
         sent_at, delivered_at, opened_at, clicked_at, replied_at, bounced_at, complained_at, \
         failed_at, unsubscribed_at, open_count, click_count) \
         WHERE m.tenant_id = $1 AND m.id = v.id",
        &[tenant_id.into(), now.into()],
        &casts,
        rows,
    )
    .await
}

/// The lead columns events count into.
const LEAD_COUNTERS: [&str; 3] = ["emails_sent", "emails_opened", "emails_clicked"];

/// PostgreSQL: the leads' counters and contact times of a batch in one
/// `UPDATE … FROM (VALUES …)`, the rows in lead id order.
async fn bump_leads_at_once(
    txn: &DatabaseTransaction,
    tenant_id: Uuid,
    changes: &[(Uuid, Deltas, Option<bool>)],
    now: sea_orm::prelude::DateTimeWithTimeZone,
) -> AppResult<()> {
    let rows = changes
        .iter()
        .map(|(lead_id, deltas, contacted)| {
            debug_assert!(
                deltas.0.keys().all(|c| LEAD_COUNTERS.contains(c)),
                "a lead counter this statement does not write"
            );
            let delta = |column: &str| deltas.0.get(column).copied().unwrap_or(0) as i32;
            vec![
                (*lead_id).into(),
                delta("emails_sent").into(),
                delta("emails_opened").into(),
                delta("emails_clicked").into(),
                (*contacted == Some(true)).into(),
                (*contacted == Some(false)).into(),
            ]
        })
        .collect();
    execute_with_values(
        txn,
        "UPDATE leads AS l SET emails_sent = l.emails_sent + v.sent, \
         emails_opened = l.emails_opened + v.opened, \
         emails_clicked = l.emails_clicked + v.clicked, \
         last_contacted_at = CASE WHEN v.contacted THEN $2 ELSE l.last_contacted_at END, \
         last_responded_at = CASE WHEN v.responded THEN $2 ELSE l.last_responded_at END \
         FROM (VALUES {values}) AS v(id, sent, opened, clicked, contacted, responded) \
         WHERE l.tenant_id = $1 AND l.id = v.id",
        &[tenant_id.into(), now.into()],
        &["uuid", "int", "int", "int", "bool", "bool"],
        rows,
    )
    .await
}

/// One lead's counters and contact time (SQLite; `record` passes only leads
/// with something to change).
async fn bump_lead(
    txn: &DatabaseTransaction,
    tenant_id: Uuid,
    lead_id: Uuid,
    deltas: Deltas,
    contacted: Option<bool>,
    now: sea_orm::prelude::DateTimeWithTimeZone,
) -> AppResult<()> {
    let mut update = with_deltas(
        tenant_update::<leads::Entity>(tenant_id).filter(leads::Column::Id.eq(lead_id)),
        deltas,
    );
    match contacted {
        Some(true) => update = update.col_expr(leads::Column::LastContactedAt, Expr::val(now)),
        Some(false) => update = update.col_expr(leads::Column::LastRespondedAt, Expr::val(now)),
        None => {}
    }
    update.exec(txn).await?;
    Ok(())
}

/// Adds `n` clicks to each link and returns the URLs of the links that
/// exist (`n` = 0 for a click that does not count, such as a scanner's).
/// On PostgreSQL one `UPDATE … FROM (VALUES …) RETURNING` per batch finds
/// and counts the links in one round trip. The links' messages are locked
/// in this transaction already, so two writers never update the same links
/// at once. A click's own event is recorded by [`record`].
pub(crate) async fn click_links(
    txn: &DatabaseTransaction,
    tenant_id: Uuid,
    clicks: &BTreeMap<(Uuid, i32), i64>,
) -> AppResult<HashMap<(Uuid, i32), String>> {
    let mut urls = HashMap::with_capacity(clicks.len());
    if clicks.is_empty() {
        return Ok(urls);
    }
    if !is_postgres(txn) {
        for (&(message_id, position), &n) in clicks {
            let updated = tenant_update::<message_links::Entity>(tenant_id)
                .col_expr(
                    message_links::Column::ClickCount,
                    Expr::col(message_links::Column::ClickCount).add(n),
                )
                .filter(message_links::Column::MessageId.eq(message_id))
                .filter(message_links::Column::Position.eq(position))
                .exec_with_returning(txn)
                .await?;
            for link in updated {
                urls.insert((link.message_id, link.position), link.url);
            }
        }
        return Ok(urls);
    }
    let rows: Vec<Vec<sea_orm::Value>> = clicks
        .iter()
        .map(|(&(message_id, position), &n)| vec![message_id.into(), position.into(), n.into()])
        .collect();
    for chunk in rows.chunks(ROWS_PER_UPDATE) {
        let statement = with_values(
            "UPDATE message_links AS l SET click_count = l.click_count + v.n \
             FROM (VALUES {values}) AS v(message_id, position, n) \
             WHERE l.tenant_id = $1 AND l.message_id = v.message_id AND l.position = v.position \
             RETURNING l.message_id, l.position, l.url",
            &[tenant_id.into()],
            &["uuid", "int", "bigint"],
            chunk,
        );
        for row in txn.query_all_raw(statement).await? {
            let message_id: Uuid = row.try_get("", "message_id")?;
            let position: i32 = row.try_get("", "position")?;
            urls.insert((message_id, position), row.try_get("", "url")?);
        }
    }
    Ok(urls)
}

/// Adds each delta to its column in one UPDATE.
async fn bump<E: EntityTrait>(
    txn: &DatabaseTransaction,
    update: sea_orm::UpdateMany<E>,
    deltas: Deltas,
) -> AppResult<()> {
    if deltas.0.is_empty() {
        return Ok(());
    }
    with_deltas(update, deltas).exec(txn).await?;
    Ok(())
}

fn with_deltas<E: EntityTrait>(
    mut update: sea_orm::UpdateMany<E>,
    deltas: Deltas,
) -> sea_orm::UpdateMany<E> {
    for (column, n) in deltas.0 {
        update = update.col_expr(Alias::new(column), Expr::col(Alias::new(column)).add(n));
    }
    update
}

/// Records events in a transaction of their own and publishes them after
/// commit. Events naming a message the tenant does not have are dropped.
pub(crate) async fn record_now(
    shared: &crate::state::Shared,
    tenant_id: Uuid,
    events: Vec<NewEvent>,
) -> AppResult<Vec<engagement_events::Model>> {
    let txn = crate::tenancy::scoped::begin_for_write(&shared.db, tenant_id, None).await?;
    let mut messages = load_messages(&txn, tenant_id, events.iter().map(|e| e.message_id)).await?;
    let stored = record(&txn, tenant_id, &mut messages, events).await?;
    txn.commit().await?;
    shared
        .hub
        .published_after_commit(&shared.db, Committed::Engagement(stored.clone()));
    Ok(stored)
}

/// The tenant's messages with these ids, by id, locked for this
/// transaction on PostgreSQL (in id order, so two batches touching the same
/// messages cannot deadlock): counters are written back as new values.
pub(crate) async fn load_messages(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    ids: impl IntoIterator<Item = Uuid>,
) -> AppResult<HashMap<Uuid, messages::Model>> {
    load(conn, tenant_id, ids, false).await
}

/// [`load_messages`] without the subject and bodies (they come back as
/// `None`): what recording events needs, for a fraction of the bytes. Never
/// save such a row whole; [`record`] writes only the event columns.
pub(crate) async fn load_message_states(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    ids: impl IntoIterator<Item = Uuid>,
) -> AppResult<HashMap<Uuid, messages::Model>> {
    load(conn, tenant_id, ids, true).await
}

async fn load(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    ids: impl IntoIterator<Item = Uuid>,
    without_content: bool,
) -> AppResult<HashMap<Uuid, messages::Model>> {
    use sea_orm::{IdenStatic, Iterable};
    let mut ids: Vec<Uuid> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    let mut found = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let mut select = tenant_rows::<messages::Entity>(tenant_id)
            .filter(messages::Column::Id.is_in(chunk.iter().copied()))
            .order_by_asc(messages::Column::Id)
            .lock_exclusive();
        if without_content {
            select = select.select_only();
            for column in messages::Column::iter() {
                if matches!(
                    column,
                    messages::Column::Subject
                        | messages::Column::TextBody
                        | messages::Column::HtmlBody
                ) {
                    select = select.column_as(Expr::cust("CAST(NULL AS TEXT)"), column.as_str());
                } else {
                    select = select.column(column);
                }
            }
        }
        for message in select.all(conn).await? {
            found.insert(message.id, message);
        }
    }
    Ok(found)
}
