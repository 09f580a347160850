//! Group commit for opens and clicks. A pixel or redirect request hands its
//! hit to a writer task and waits for the commit; the writer takes every hit
//! that arrived meanwhile and records them in one transaction (one sequence
//! reservation, one multi-row insert per tenant). Under load this turns
//! thousands of small transactions into a few large ones, and no request is
//! answered before its event is stored.
//!
//! A hit is kept until it is stored. While the database is unreachable (a
//! restart, a failover, connections killed) the writer retries its batch
//! with backoff, each attempt on a live connection (a dead one is retired by
//! the pool; `tenancy::scoped` begins on another). Meanwhile hits queue in
//! memory, in a bounded queue: when it is full a request waits
//! [`ENQUEUE_WAIT`] for room and then gives its hit up, counted in
//! `promohub_tracking_hits_lost_total` and logged as an error; a request
//! whose hit is queued but not yet stored after [`ANSWER_WAIT`] is answered
//! anyway (the pixel), and the hit is stored when the database is back.
//! What is lost is what a crash of this process takes with it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};
use tokio::sync::mpsc::error::SendTimeoutError;
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

use entity::sea_orm_active_enums::EngagementType;

use super::machine::is_machine_agent;
use crate::db::is_connection_failure;
use crate::error::{AppError, AppResult};
use crate::events::{Committed, EventHub};
use crate::messaging::engagement::recorder::{NewEvent, click_links, load_message_states, record};
use crate::secrets::TrackingToken;
use crate::tenancy::scoped::{begin_for, begin_global_write, bind, end_read, tenant_rows};

/// Hits recorded per transaction at most.
const MAX_BATCH: usize = 2_000;

/// Hits waiting for a writer at most (the memory an outage may fill): at a
/// few hundred hits a second, tens of seconds of a database away.
const QUEUE: usize = MAX_BATCH * 4;

/// How long a request waits for room in a full queue before its hit is
/// given up. A pixel is answered whatever happens; it must not hang.
pub(crate) const ENQUEUE_WAIT: Duration = Duration::from_secs(5);

/// How long a request waits for its hit to be stored before it is answered
/// anyway; the hit stays queued (a mail client gives up on a pixel after
/// about half a minute).
pub(crate) const ANSWER_WAIT: Duration = Duration::from_secs(20);

/// The first and the longest pause between attempts at a batch.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(2));

/// Attempts at a batch that fails for another reason than the database
/// being out of reach (a deadlock broken by PostgreSQL, a bug): retrying
/// without end would stall every hit behind it.
const ATTEMPTS_ON_OTHER_ERRORS: u32 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HitKind {
    Open,
    Click,
}

pub struct Hit {
    pub kind: HitKind,
    pub token: TrackingToken,
    /// A HEAD request: link checkers, never a person.
    pub head: bool,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub at: DateTime<Utc>,
}

/// What became of a hit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HitResult {
    /// Stored; for clicks, the URL to redirect to, and the message's lead
    /// (the landing page's tracker learns who the visitor is).
    Recorded {
        url: Option<String>,
        lead_id: Option<Uuid>,
    },
    /// The token is genuine but names no message or link (deleted since).
    Unknown,
    /// Not stored: the queue stayed full, or the batch failed for a reason
    /// other than the database being out of reach.
    Failed,
    /// Queued but not yet stored when the request stopped waiting
    /// ([`ANSWER_WAIT`]); the writer stores it when the database is back.
    Queued,
}

type Pending = (Hit, oneshot::Sender<HitResult>);

#[derive(Clone)]
pub struct TrackingWriter {
    sender: mpsc::Sender<Pending>,
}

impl TrackingWriter {
    /// Starts `writers` writer tasks sharing one queue.
    pub fn start(
        db: DatabaseConnection,
        hub: EventHub,
        machine_window_ms: i64,
        writers: usize,
    ) -> Self {
        let (sender, receiver) = mpsc::channel::<Pending>(QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..writers.max(1) {
            let receiver = receiver.clone();
            let db = db.clone();
            let hub = hub.clone();
            tokio::spawn(async move {
                loop {
                    let batch = {
                        let mut receiver = receiver.lock().await;
                        let Some(first) = receiver.recv().await else {
                            return;
                        };
                        let mut batch = vec![first];
                        while batch.len() < MAX_BATCH {
                            match receiver.try_recv() {
                                Ok(hit) => batch.push(hit),
                                Err(_) => break,
                            }
                        }
                        batch
                    };
                    write_batch(&db, &hub, machine_window_ms, batch).await;
                }
            });
        }
        Self { sender }
    }

    /// Records the hit and waits until it is committed (at most
    /// [`ENQUEUE_WAIT`] for room in the queue, then [`ANSWER_WAIT`]).
    pub async fn submit(&self, hit: Hit) -> HitResult {
        let (reply, answer) = oneshot::channel();
        match self.sender.send_timeout((hit, reply), ENQUEUE_WAIT).await {
            Ok(()) => {}
            Err(SendTimeoutError::Timeout(_)) => {
                metrics::counter!("promohub_tracking_hits_lost_total").increment(1);
                tracing::error!(
                    queued = QUEUE,
                    "the tracking queue stayed full; a hit was not recorded"
                );
                return HitResult::Failed;
            }
            // The writers are gone: the server is shutting down.
            Err(SendTimeoutError::Closed(_)) => return HitResult::Failed,
        }
        match tokio::time::timeout(ANSWER_WAIT, answer).await {
            Ok(result) => result.unwrap_or(HitResult::Failed),
            Err(_) => HitResult::Queued,
        }
    }
}

async fn write_batch(db: &DatabaseConnection, hub: &EventHub, window_ms: i64, batch: Vec<Pending>) {
    // Tenants in order, so concurrent writers lock their rows in one order.
    let mut by_tenant: BTreeMap<Uuid, Vec<Pending>> = BTreeMap::new();
    for pending in batch {
        by_tenant
            .entry(pending.0.token.tenant_id)
            .or_default()
            .push(pending);
    }
    let mut pause = BACKOFF.0;
    let mut other_errors = 0;
    // A batch whose COMMIT got no answer may be stored. One of its events
    // is looked up before the batch is stored again, so a commit that did
    // land is not stored twice.
    let mut unsure: Option<Stored> = None;
    let outcome = loop {
        let attempt = match unsure.take() {
            Some(stored) => match was_committed(db, &stored).await {
                Ok(true) => Ok(stored),
                Ok(false) => store(db, window_ms, &by_tenant).await,
                Err(error) => {
                    unsure = Some(stored);
                    Err(StoreError::Before(error))
                }
            },
            None => store(db, window_ms, &by_tenant).await,
        };
        let error = match attempt {
            Ok(stored) => break Ok(stored),
            Err(StoreError::Commit(error, stored)) => {
                if !stored.1.is_empty() {
                    unsure = Some(stored);
                }
                error
            }
            Err(StoreError::Before(error)) => error,
        };
        // The database is out of reach: wait for it, however long. Other
        // errors (PostgreSQL breaking a deadlock with another writer; nothing
        // of the batch was stored) get a few attempts.
        if !out_of_reach(&error) {
            other_errors += 1;
            if other_errors >= ATTEMPTS_ON_OTHER_ERRORS {
                break Err(error);
            }
        }
        metrics::counter!("promohub_tracking_write_retries_total").increment(1);
        tracing::warn!(?error, retry_in = ?pause, "recording tracking hits failed; retrying");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(BACKOFF.1);
    };
    match outcome {
        Ok((plans, events)) => {
            hub.published_after_commit(db, Committed::Engagement(events));
            let mut replies: HashMap<Uuid, Vec<Option<oneshot::Sender<HitResult>>>> = by_tenant
                .into_iter()
                .map(|(tenant, hits)| {
                    (
                        tenant,
                        hits.into_iter().map(|(_, reply)| Some(reply)).collect(),
                    )
                })
                .collect();
            for (tenant_id, index, result) in plans {
                if let Some(reply) = replies.get_mut(&tenant_id).and_then(|r| r[index].take()) {
                    let _ = reply.send(result);
                }
            }
        }
        Err(error) => {
            let lost: usize = by_tenant.values().map(Vec::len).sum();
            metrics::counter!("promohub_tracking_hits_lost_total").increment(lost as u64);
            tracing::error!(?error, lost, "recording tracking hits failed");
            for (_, hits) in by_tenant {
                for (_, reply) in hits {
                    let _ = reply.send(HitResult::Failed);
                }
            }
        }
    }
}

/// The database is unreachable or dropped the connection (or the pool had
/// none to give in time): worth waiting for.
fn out_of_reach(error: &AppError) -> bool {
    is_connection_failure(error)
        || matches!(error, AppError::Internal(cause)
            if matches!(cause.downcast_ref::<sea_orm::DbErr>(), Some(sea_orm::DbErr::ConnectionAcquire(_))))
}

/// Whether the batch of an unanswered COMMIT was stored: its events are
/// stored together or not at all, so one of them tells.
async fn was_committed(db: &DatabaseConnection, stored: &Stored) -> AppResult<bool> {
    let Some(event) = stored.1.first() else {
        return Ok(false);
    };
    let txn = begin_for(db, event.tenant_id, None).await?;
    let found = tenant_rows::<entity::engagement_events::Entity>(event.tenant_id)
        .filter(entity::engagement_events::Column::Id.eq(event.id))
        .count(&txn)
        .await?;
    end_read(txn).await?;
    Ok(found > 0)
}

/// What a batch came to: a result per hit (its tenant, its index among the
/// tenant's hits) and the events stored.
type Stored = (
    Vec<(Uuid, usize, HitResult)>,
    Vec<entity::engagement_events::Model>,
);

enum StoreError {
    /// Failed before the commit: nothing was stored.
    Before(AppError),
    /// The commit failed: stored or not, as the database got it.
    Commit(AppError, Stored),
}

impl From<AppError> for StoreError {
    fn from(error: AppError) -> Self {
        Self::Before(error)
    }
}

async fn store(
    db: &DatabaseConnection,
    window_ms: i64,
    by_tenant: &BTreeMap<Uuid, Vec<Pending>>,
) -> Result<Stored, StoreError> {
    let txn = begin_global_write(db, None).await?;
    let mut plans = Vec::new();
    let mut stored = Vec::new();
    for (tenant_id, hits) in by_tenant.iter() {
        // One transaction, rebound per tenant: row-level security applies
        // to each tenant's part.
        bind(&txn, Some(*tenant_id), None).await?;
        let mut messages = load_message_states(
            &txn,
            *tenant_id,
            hits.iter().map(|(h, _)| h.token.message_id),
        )
        .await?;
        // Scanners, prefetchers and hits faster than anyone reads an email
        // (or before it was even sent) are machines: stored, never counted.
        let machine: Vec<bool> = hits
            .iter()
            .map(|(hit, _)| {
                let too_soon = messages.get(&hit.token.message_id).is_none_or(|message| {
                    message
                        .sent_at
                        .is_none_or(|sent| (hit.at - sent.to_utc()).num_milliseconds() < window_ms)
                });
                hit.head || too_soon || is_machine_agent(hit.user_agent.as_deref())
            })
            .collect();
        let mut clicks: BTreeMap<(Uuid, i32), i64> = BTreeMap::new();
        for ((hit, _), &machine) in hits.iter().zip(&machine) {
            if hit.kind == HitKind::Click && messages.contains_key(&hit.token.message_id) {
                *clicks
                    .entry((hit.token.message_id, hit.token.position as i32))
                    .or_default() += i64::from(!machine);
            }
        }
        let links = click_links(&txn, *tenant_id, &clicks).await?;
        let mut events = Vec::new();
        for (index, ((hit, _), machine)) in hits.iter().zip(machine).enumerate() {
            let Some(message) = messages.get(&hit.token.message_id) else {
                plans.push((*tenant_id, index, HitResult::Unknown));
                continue;
            };
            let position = hit.token.position as i32;
            let url = match hit.kind {
                HitKind::Open => None,
                HitKind::Click => match links.get(&(message.id, position)) {
                    Some(url) => Some(url.clone()),
                    None => {
                        plans.push((*tenant_id, index, HitResult::Unknown));
                        continue;
                    }
                },
            };
            events.push(NewEvent {
                machine,
                url: url.clone(),
                ip: hit.ip.clone(),
                user_agent: hit.user_agent.clone(),
                occurred_at: hit.at,
                detail: serde_json::json!({ "head": hit.head }),
                ..NewEvent::new(
                    match hit.kind {
                        HitKind::Open => EngagementType::Opened,
                        HitKind::Click => EngagementType::Clicked,
                    },
                    message.id,
                    "tracker",
                )
            });
            plans.push((
                *tenant_id,
                index,
                HitResult::Recorded {
                    url,
                    lead_id: Some(message.lead_id),
                },
            ));
        }
        stored.extend(record(&txn, *tenant_id, &mut messages, events).await?);
    }
    match txn.commit().await {
        Ok(()) => Ok((plans, stored)),
        Err(error) => Err(StoreError::Commit(error.into(), (plans, stored))),
    }
}
