//! The mailbox watcher: keeps every enabled sender mailbox watched by
//! exactly one process, and turns the mail that arrives there into
//! engagement events.
//!
//! **Who watches.** A supervisor in each `serve`/`worker` process looks at
//! the shared `mailbox_watches` table every `imap_rescan_secs` (and at once
//! when this process changed a mailbox) and claims the mailboxes nobody
//! holds: `locked_by` = this process until `locked_until`. The task that
//! watches a mailbox renews that lease every third of `imap_lease_secs`;
//! a process that dies stops renewing, and another claims the mailbox once
//! the lease has run out. A process that stops (`Watchers::stop`) lets go
//! at once.
//!
//! **How.** One IMAP connection per mailbox: after each check it waits in
//! IDLE when the server offers it (new mail wakes it at once) or sleeps
//! `imap_poll_secs`; either way it wakes at every lease renewal, which
//! re-issues IDLE far more often than RFC 2177's 29 minutes require and
//! rereads the settings (a changed host, password or folder reconnects; a
//! disabled mailbox is let go). A failure is stored as `last_error` and
//! retried with backoff (doubling, at most a renewal period).
//!
//! **What is read.** Mail with a UID above the stored `last_uid`, in UID
//! order, without marking it seen. Each mail is classified
//! (`inbound_mail::classify`) and, in one transaction, its event recorded
//! and `last_uid` moved past it: a crash reprocesses at most the mail it
//! was on. The event is keyed by our message and the mail's Message-ID in
//! `webhook_receipts` (provider `imap`), so the same mail seen twice (a
//! crash, two processes during a lease handover, the same reply in two
//! mailboxes) records one event. A changed UIDVALIDITY (the server
//! renumbered the folder) starts over from the mail of the last day before
//! the change, which the receipts make safe; a mailbox seen for the first
//! time starts with the mail of the day before it was set up, not with
//! years of history.
//!
//! **What counts.** A reply or automatic reply counts only for a message of
//! the mailbox's own tenant: the Message-ID directory is shared, and mail
//! naming another tenant's message is ignored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set};
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use entity::sea_orm_active_enums::EngagementType;
use entity::{mailbox_watches, message_directory, sender_mailboxes, webhook_receipts};

use super::imap::{self, Connection};
use super::service;
use crate::error::AppResult;
use crate::messaging::engagement::recorder::{NewEvent, load_messages, record};
use crate::messaging::inbound_mail::{self, DeliveryOutcome, Inbound};
use crate::state::Shared;
use crate::tenancy::scoped::{
    as_system, begin_for, begin_for_write, begin_system, begin_system_write, tenant_update,
};

/// The provider name of the receipts (and the events' `source`).
const SOURCE: &str = "imap";
/// UIDs read per pass.
const BATCH: usize = 100;
/// The longest wait in IDLE (RFC 2177: re-issue within 29 minutes).
const IDLE_MAX: Duration = Duration::from_secs(25 * 60);
/// Stored errors are for a person to read.
const MAX_ERROR_CHARS: usize = 1_000;

/// A mailbox: its tenant and sender account.
type Key = (Uuid, Uuid);

/// This process's mailbox watchers.
pub struct Watchers {
    /// Who holds the leases this process takes.
    id: String,
    stop: watch::Sender<bool>,
    /// Rescan now (a mailbox changed in this process).
    rescan: Notify,
    /// The mailboxes this process watches, each with a bell that makes its
    /// task reread the settings now.
    running: Mutex<HashMap<Key, Arc<Notify>>>,
}

impl Default for Watchers {
    fn default() -> Self {
        Self {
            id: format!(
                "{}-{}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "promohub".to_owned()),
                Uuid::now_v7()
            ),
            stop: watch::channel(false).0,
            rescan: Notify::new(),
            running: Mutex::new(HashMap::new()),
        }
    }
}

impl Watchers {
    /// Stops every mailbox task of this process; each logs out and lets go
    /// of its lease so another process takes over at its next rescan.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// [`Self::stop`], then waits (at most `limit`) for the tasks to have
    /// let go, so a process that exits right after leaves no lease behind.
    pub async fn stop_and_wait(&self, limit: Duration) {
        self.stop();
        let deadline = tokio::time::Instant::now() + limit;
        while self.watching() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// How many mailboxes this process watches now.
    pub fn watching(&self) -> usize {
        self.running.lock().expect("watchers lock").len()
    }

    /// A mailbox of this tenant changed: its task (if here) rereads the
    /// settings now, and the supervisor rescans.
    pub(crate) fn changed(&self, tenant_id: Uuid, sender_id: Uuid) {
        if let Some(bell) = self
            .running
            .lock()
            .expect("watchers lock")
            .get(&(tenant_id, sender_id))
        {
            bell.notify_one();
        }
        self.rescan.notify_one();
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    async fn until_stopped(&self) {
        let mut stop = self.stop.subscribe();
        let _ = stop.wait_for(|stopped| *stopped).await;
    }
}

/// Starts the supervisor; it runs until [`Watchers::stop`].
pub(crate) fn start(shared: Arc<Shared>) {
    tokio::spawn(async move { supervise(shared).await });
}

fn lease(shared: &Shared) -> chrono::Duration {
    chrono::Duration::seconds(shared.config.messaging.imap_lease_secs.max(3) as i64)
}

/// How often a task renews its lease and rereads its settings.
fn cycle(shared: &Shared) -> Duration {
    Duration::from_secs((shared.config.messaging.imap_lease_secs.max(3) / 3).max(1))
}

async fn supervise(shared: Arc<Shared>) {
    let watchers = &shared.mailbox_watchers;
    let rescan = Duration::from_secs(shared.config.messaging.imap_rescan_secs.max(1));
    while !watchers.stopped() {
        match claimable(&shared).await {
            Ok(keys) => {
                for key in keys {
                    if watchers.stopped() {
                        break;
                    }
                    if watchers
                        .running
                        .lock()
                        .expect("watchers lock")
                        .contains_key(&key)
                    {
                        continue;
                    }
                    match claim(&shared, key, false).await {
                        Ok(true) => {
                            let bell = Arc::new(Notify::new());
                            watchers
                                .running
                                .lock()
                                .expect("watchers lock")
                                .insert(key, bell.clone());
                            let shared = shared.clone();
                            tokio::spawn(async move { watch_one(shared, key, bell).await });
                        }
                        Ok(false) => {}
                        Err(error) => tracing::warn!(?error, "claiming a mailbox failed"),
                    }
                }
            }
            Err(error) => tracing::warn!(?error, "listing the mailboxes to watch failed"),
        }
        tokio::select! {
            () = watchers.until_stopped() => {}
            () = watchers.rescan.notified() => {}
            () = tokio::time::sleep(rescan) => {}
        }
    }
}

/// Mailboxes to watch that no live lease holds (or that this process
/// holds).
async fn claimable(shared: &Shared) -> AppResult<Vec<Key>> {
    use mailbox_watches::Column;
    let now = shared.clock.now().fixed_offset();
    let txn = begin_system(&shared.db).await?;
    let keys: Vec<Key> = mailbox_watches::Entity::find()
        .select_only()
        .column(Column::TenantId)
        .column(Column::SenderId)
        .filter(Column::Watched.eq(true))
        .filter(
            Condition::any()
                .add(Column::LockedUntil.is_null())
                .add(Column::LockedUntil.lt(now))
                .add(Column::LockedBy.eq(shared.mailbox_watchers.id.as_str())),
        )
        .limit(1_000)
        .into_tuple()
        .all(&txn)
        .await?;
    txn.commit().await?;
    Ok(keys)
}

/// Takes (or, with `renewing`, keeps) the lease on a watched mailbox.
/// `false`: another process holds it, or it is no longer to be watched.
async fn claim(shared: &Shared, (tenant_id, sender_id): Key, renewing: bool) -> AppResult<bool> {
    use mailbox_watches::Column;
    let now = shared.clock.now();
    let me = shared.mailbox_watchers.id.as_str();
    let free = if renewing {
        Condition::all().add(Column::LockedBy.eq(me))
    } else {
        Condition::any()
            .add(Column::LockedUntil.is_null())
            .add(Column::LockedUntil.lt(now.fixed_offset()))
            .add(Column::LockedBy.eq(me))
    };
    let txn = begin_system_write(&shared.db).await?;
    let updated = mailbox_watches::Entity::update_many()
        .col_expr(Column::LockedBy, Expr::value(me))
        .col_expr(
            Column::LockedUntil,
            Expr::value((now + lease(shared)).fixed_offset()),
        )
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::SenderId.eq(sender_id))
        .filter(Column::Watched.eq(true))
        .filter(free)
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(updated.rows_affected == 1)
}

/// Lets go of the lease so another process may take the mailbox at once.
async fn release(shared: &Shared, (tenant_id, sender_id): Key) -> AppResult<()> {
    use mailbox_watches::Column;
    let txn = begin_system_write(&shared.db).await?;
    mailbox_watches::Entity::update_many()
        .col_expr(Column::LockedBy, Expr::value(Option::<String>::None))
        .col_expr(
            Column::LockedUntil,
            Expr::value(Option::<sea_orm::prelude::DateTimeWithTimeZone>::None),
        )
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::SenderId.eq(sender_id))
        .filter(Column::LockedBy.eq(shared.mailbox_watchers.id.as_str()))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Removes the mailbox from this process's list when its task ends, however
/// it ends.
struct Running<'a>(&'a Watchers, Key);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0
            .running
            .lock()
            .expect("watchers lock")
            .remove(&self.1);
    }
}

/// What a connection was opened with: a change reconnects.
fn settings_of(mailbox: &sender_mailboxes::Model) -> impl PartialEq + use<> {
    (
        mailbox.host.clone(),
        mailbox.port,
        mailbox.tls_mode,
        mailbox.username.clone(),
        mailbox.password_encrypted.clone(),
        mailbox.folder.clone(),
    )
}

/// Watches one mailbox while this process holds its lease.
async fn watch_one(shared: Arc<Shared>, key: Key, bell: Arc<Notify>) {
    let watchers = &shared.mailbox_watchers;
    let _running = Running(watchers, key);
    let cycle = cycle(&shared);
    let poll = Duration::from_secs(shared.config.messaging.imap_poll_secs.max(1));
    let mut backoff = Duration::from_secs(1);
    let mut connection: Option<(Connection, sender_mailboxes::Model)> = None;
    // Waits up to `limit`, ending early when stopped or the settings change.
    let pause = |limit: Duration| {
        let bell = bell.clone();
        async move {
            tokio::select! {
                () = watchers.until_stopped() => {}
                () = bell.notified() => {}
                () = tokio::time::sleep(limit) => {}
            }
        }
    };
    while !watchers.stopped() {
        match claim(&shared, key, true).await {
            Ok(true) => {}
            Ok(false) => break,
            Err(error) => {
                tracing::warn!(?error, "renewing a mailbox lease failed");
                pause(cycle).await;
                continue;
            }
        }
        let mailbox = match load(&shared, key).await {
            Ok(Some(mailbox)) if mailbox.enabled => mailbox,
            Ok(_) => break,
            Err(error) => {
                tracing::warn!(?error, "reading a mailbox's settings failed");
                pause(cycle).await;
                continue;
            }
        };
        let (mut open, mailbox) = match connection.take() {
            Some((open, opened_with)) if settings_of(&opened_with) == settings_of(&mailbox) => {
                (open, mailbox)
            }
            stale => {
                if let Some((open, _)) = stale {
                    open.logout().await;
                }
                match connect(&shared, key, mailbox).await {
                    Ok(opened) => opened,
                    Err(problem) => {
                        note_error(&shared, key, &problem).await;
                        pause(backoff).await;
                        backoff = (backoff * 2).min(cycle);
                        continue;
                    }
                }
            }
        };
        if let Err(problem) = check(&shared, key, &mut open, &mailbox).await {
            note_error(&shared, key, &problem).await;
            open.logout().await;
            pause(backoff).await;
            backoff = (backoff * 2).min(cycle);
            continue;
        }
        backoff = Duration::from_secs(1);
        note_checked(&shared, key, open.selected.supports_idle).await;
        if open.selected.supports_idle {
            let bell = bell.clone();
            let interrupted = async move {
                tokio::select! {
                    () = watchers.until_stopped() => {}
                    () = bell.notified() => {}
                }
            };
            match open.idle(cycle.min(IDLE_MAX), interrupted).await {
                Ok(open) => connection = Some((open, mailbox)),
                Err(failure) => {
                    note_error(&shared, key, &failure.to_string()).await;
                    pause(backoff).await;
                }
            }
        } else {
            connection = Some((open, mailbox));
            pause(poll.min(cycle)).await;
        }
    }
    if let Some((open, _)) = connection {
        open.logout().await;
    }
    if let Err(error) = release(&shared, key).await {
        tracing::warn!(?error, "releasing a mailbox lease failed");
    }
}

/// The mailbox's settings and state, unless it or its account is gone.
async fn load(
    shared: &Shared,
    (tenant_id, sender_id): Key,
) -> AppResult<Option<sender_mailboxes::Model>> {
    let txn = begin_for(&shared.db, tenant_id, None).await?;
    let mailbox = service::find(&txn, tenant_id, sender_id).await?;
    txn.commit().await?;
    Ok(mailbox)
}

/// Opens the connection and settles where to resume: the stored `last_uid`
/// while UIDVALIDITY is unchanged, else from the mail of the day before
/// (see the module doc).
async fn connect(
    shared: &Shared,
    key: Key,
    mut mailbox: sender_mailboxes::Model,
) -> Result<(Connection, sender_mailboxes::Model), String> {
    let access = service::access(shared, &mailbox)?;
    let mut open = imap::open(&access).await.map_err(|f| f.to_string())?;
    let validity = open.selected.uid_validity.map(i64::from);
    if validity.is_none() || validity != mailbox.uid_validity {
        let since = match mailbox.uid_validity {
            // Renumbered: what arrived since the last check, with a margin.
            Some(_) => mailbox.last_checked_at.map_or(mailbox.created_at, |at| at),
            None => mailbox.created_at,
        }
        .to_utc()
            - chrono::Duration::days(1);
        let start = open
            .first_uid_since(since)
            .await
            .map_err(|f| f.to_string())?;
        if mailbox.uid_validity.is_some() {
            tracing::info!(
                sender = %key.1,
                "the mailbox's UIDVALIDITY changed; reading it again from {since}"
            );
        }
        let last_uid = i64::from(start.saturating_sub(1));
        save_position(shared, key, validity, last_uid)
            .await
            .map_err(|e| format!("storing the mailbox position failed: {e:?}"))?;
        mailbox.uid_validity = validity;
        mailbox.last_uid = last_uid;
    }
    Ok((open, mailbox))
}

/// Reads and records the mail that arrived since the last check.
async fn check(
    shared: &Shared,
    key: Key,
    open: &mut Connection,
    mailbox: &sender_mailboxes::Model,
) -> Result<(), String> {
    let validity = mailbox.uid_validity;
    let mut after = u32::try_from(mailbox.last_uid).unwrap_or(0);
    loop {
        let uids = open
            .uids_after(after, BATCH)
            .await
            .map_err(|f| f.to_string())?;
        let full = uids.len() == BATCH;
        for (uid, size) in uids {
            if shared.mailbox_watchers.stopped() {
                return Ok(());
            }
            let raw = open.fetch(uid, size).await.map_err(|f| f.to_string())?;
            process(shared, key, validity, uid, raw.as_deref())
                .await
                .map_err(|e| format!("recording mail {uid} failed: {e:?}"))?;
            after = uid;
        }
        if !full {
            return Ok(());
        }
    }
}

/// What a mail means for one of our messages: the event to record.
struct Found {
    message_id: Uuid,
    event: NewEvent,
}

/// Classifies mail `uid` and records its event (if any) and the new
/// position in one transaction.
async fn process(
    shared: &Shared,
    key: Key,
    validity: Option<i64>,
    uid: u32,
    raw: Option<&[u8]>,
) -> AppResult<()> {
    let (tenant_id, sender_id) = key;
    let (found, mail_key) = match raw {
        Some(raw) => {
            let summary = Summary::of(raw);
            let mail_key = summary
                .message_id
                .clone()
                .unwrap_or_else(|| format!("{sender_id}:{}:{uid}", validity.unwrap_or_default()));
            let found = meaning(
                shared,
                tenant_id,
                inbound_mail::classify(raw),
                &summary,
                uid,
            )
            .await?;
            (found, mail_key)
        }
        None => (None, String::new()),
    };
    let txn = begin_for_write(&shared.db, tenant_id, None).await?;
    let mut stored = Vec::new();
    if let Some(Found { message_id, event }) = found {
        let inserted = as_system(&txn, async {
            Ok(
                webhook_receipts::Entity::insert(webhook_receipts::ActiveModel {
                    provider: Set(SOURCE.to_owned()),
                    event_id: Set(format!("{message_id}/{mail_key}")),
                    received_at: Set(Utc::now().fixed_offset()),
                })
                .on_conflict_do_nothing_on([
                    webhook_receipts::Column::Provider,
                    webhook_receipts::Column::EventId,
                ])
                .exec_without_returning(&txn)
                .await?,
            )
        })
        .await?;
        if matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
            let mut messages = load_messages(&txn, tenant_id, [message_id]).await?;
            stored = record(&txn, tenant_id, &mut messages, vec![event]).await?;
        }
    }
    tenant_update::<sender_mailboxes::Entity>(tenant_id)
        .col_expr(
            sender_mailboxes::Column::LastUid,
            Expr::value(i64::from(uid)),
        )
        .filter(sender_mailboxes::Column::SenderId.eq(sender_id))
        .filter(match validity {
            Some(v) => sender_mailboxes::Column::UidValidity.eq(v),
            None => sender_mailboxes::Column::UidValidity.is_null(),
        })
        .filter(sender_mailboxes::Column::LastUid.lt(i64::from(uid)))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    if !stored.is_empty() {
        shared
            .hub
            .published_after_commit(&shared.db, crate::events::Committed::Engagement(stored));
    }
    Ok(())
}

/// The headers shown with an event.
struct Summary {
    message_id: Option<String>,
    from: Option<String>,
    subject: Option<String>,
}

impl Summary {
    fn of(raw: &[u8]) -> Self {
        let parsed = mail_parser::MessageParser::default().parse_headers(raw);
        let header = |name: &str| {
            parsed
                .as_ref()
                .and_then(|mail| mail.header_raw(name))
                .map(|v| v.trim().to_owned())
        };
        Self {
            message_id: parsed
                .as_ref()
                .and_then(|mail| mail.message_id())
                .map(str::to_owned),
            from: header("From"),
            subject: parsed
                .as_ref()
                .and_then(|mail| mail.subject())
                .map(str::to_owned),
        }
    }
}

/// The tenant and message a Message-ID of ours names, from the shared
/// directory.
async fn directory(shared: &Shared, message_id: &str) -> AppResult<Option<(Uuid, Uuid)>> {
    let txn = begin_system(&shared.db).await?;
    let row = message_directory::Entity::find()
        .filter(message_directory::Column::LookupKey.eq(message_id))
        .one(&txn)
        .await?;
    txn.commit().await?;
    Ok(row.map(|r| (r.tenant_id, r.message_id)))
}

/// Our message (of this tenant) that `id` names; another tenant's is none
/// of this mailbox's business.
async fn ours(shared: &Shared, tenant_id: Uuid, id: &str) -> AppResult<Option<Uuid>> {
    Ok(match directory(shared, id).await? {
        Some((tenant, message_id)) if tenant == tenant_id => Some(message_id),
        Some(_) => {
            tracing::info!(message = id, "mail names another tenant's message; ignored");
            None
        }
        None => None,
    })
}

async fn meaning(
    shared: &Shared,
    tenant_id: Uuid,
    inbound: Inbound,
    summary: &Summary,
    uid: u32,
) -> AppResult<Option<Found>> {
    let mut detail = serde_json::json!({ "uid": uid });
    for (name, value) in [
        ("from", &summary.from),
        ("subject", &summary.subject),
        ("mailMessageId", &summary.message_id),
    ] {
        if let Some(value) = value {
            detail[name] = value.clone().into();
        }
    }
    let (kind, target, permanent, error) = match inbound {
        Inbound::Unrelated => return Ok(None),
        Inbound::Reply { target } => (EngagementType::Replied, vec![target], false, None),
        Inbound::AutoReply { target, reason } => {
            detail["automatic"] = reason.into();
            (EngagementType::AutoReplied, vec![target], false, None)
        }
        Inbound::Bounce(report) => {
            let Some(worst) = report.worst() else {
                return Ok(None);
            };
            let permanent = match worst.outcome() {
                DeliveryOutcome::Hard => true,
                DeliveryOutcome::Soft => false,
                // Still being tried: a later report settles it.
                DeliveryOutcome::NoBounce => return Ok(None),
            };
            for (name, value) in [
                ("recipient", &worst.recipient),
                ("status", &worst.status),
                ("diagnostic", &worst.diagnostic),
            ] {
                if let Some(value) = value {
                    detail[name] = value.clone().into();
                }
            }
            detail["action"] = worst.action.clone().into();
            let error = worst
                .diagnostic
                .clone()
                .or_else(|| worst.status.as_ref().map(|s| format!("status {s}")))
                .unwrap_or_else(|| "bounced".to_owned());
            (
                EngagementType::Bounced,
                report.originals.clone(),
                permanent,
                Some(error),
            )
        }
    };
    for id in target {
        if let Some(message_id) = ours(shared, tenant_id, &id).await? {
            detail["answered"] = id.into();
            return Ok(Some(Found {
                message_id,
                event: NewEvent {
                    permanent,
                    error,
                    detail,
                    ..NewEvent::new(kind, message_id, SOURCE)
                },
            }));
        }
    }
    Ok(None)
}

async fn save_position(
    shared: &Shared,
    (tenant_id, sender_id): Key,
    validity: Option<i64>,
    last_uid: i64,
) -> AppResult<()> {
    let txn = begin_for_write(&shared.db, tenant_id, None).await?;
    tenant_update::<sender_mailboxes::Entity>(tenant_id)
        .col_expr(sender_mailboxes::Column::UidValidity, Expr::value(validity))
        .col_expr(sender_mailboxes::Column::LastUid, Expr::value(last_uid))
        .filter(sender_mailboxes::Column::SenderId.eq(sender_id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

async fn note_error(shared: &Shared, (tenant_id, sender_id): Key, problem: &str) {
    tracing::info!(sender = %sender_id, problem, "sender mailbox check failed");
    let now: DateTime<Utc> = shared.clock.now();
    let write = async {
        let txn = begin_for_write(&shared.db, tenant_id, None).await?;
        tenant_update::<sender_mailboxes::Entity>(tenant_id)
            .col_expr(
                sender_mailboxes::Column::LastError,
                Expr::value(problem.chars().take(MAX_ERROR_CHARS).collect::<String>()),
            )
            .col_expr(
                sender_mailboxes::Column::LastErrorAt,
                Expr::value(now.fixed_offset()),
            )
            .filter(sender_mailboxes::Column::SenderId.eq(sender_id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        AppResult::Ok(())
    };
    if let Err(error) = write.await {
        tracing::warn!(?error, "storing a mailbox error failed");
    }
}

async fn note_checked(shared: &Shared, (tenant_id, sender_id): Key, supports_idle: bool) {
    let now = shared.clock.now().fixed_offset();
    let write = async {
        let txn = begin_for_write(&shared.db, tenant_id, None).await?;
        tenant_update::<sender_mailboxes::Entity>(tenant_id)
            .col_expr(sender_mailboxes::Column::LastCheckedAt, Expr::value(now))
            .col_expr(
                sender_mailboxes::Column::SupportsIdle,
                Expr::value(supports_idle),
            )
            .col_expr(
                sender_mailboxes::Column::LastError,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                sender_mailboxes::Column::LastErrorAt,
                Expr::value(Option::<sea_orm::prelude::DateTimeWithTimeZone>::None),
            )
            .filter(sender_mailboxes::Column::SenderId.eq(sender_id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        AppResult::Ok(())
    };
    if let Err(error) = write.await {
        tracing::warn!(?error, "storing a mailbox check failed");
    }
}
