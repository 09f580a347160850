//! Group commit for opens and clicks. A pixel or redirect request hands its
//! hit to a writer task and waits for the commit; the writer takes every hit
//! that arrived meanwhile and records them in one transaction (one sequence
//! reservation, one multi-row insert per tenant). Under load this turns
//! thousands of small transactions into a few large ones, and no request is
//! answered before its event is stored.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

use entity::sea_orm_active_enums::EngagementType;

use super::machine::is_machine_agent;
use crate::error::AppResult;
use crate::events::{Committed, EventHub};
use crate::messaging::engagement::recorder::{NewEvent, click_links, load_message_states, record};
use crate::secrets::TrackingToken;
use crate::tenancy::scoped::{begin_global_write, bind};

/// Hits recorded per transaction at most.
const MAX_BATCH: usize = 2_000;

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
    /// Stored; for clicks, the URL to redirect to.
    Recorded { url: Option<String> },
    /// The token is genuine but names no message or link (deleted since).
    Unknown,
    /// The database failed; nothing was stored.
    Failed,
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
        let (sender, receiver) = mpsc::channel::<Pending>(MAX_BATCH * 4);
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

    /// Records the hit and waits until it is committed.
    pub async fn submit(&self, hit: Hit) -> HitResult {
        let (reply, answer) = oneshot::channel();
        if self.sender.send((hit, reply)).await.is_err() {
            return HitResult::Failed;
        }
        answer.await.unwrap_or(HitResult::Failed)
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
    // One retry: PostgreSQL may abort a batch to break a deadlock with
    // another writer (a webhook touching the same lead); nothing of it was
    // stored, so storing it again loses and doubles nothing.
    let mut result = store(db, window_ms, &mut by_tenant).await;
    if let Err(error) = &result {
        tracing::warn!(?error, "recording tracking hits failed; retrying once");
        result = store(db, window_ms, &mut by_tenant).await;
    }
    match result {
        Ok((results, events)) => {
            hub.published_after_commit(db, Committed::Engagement(events));
            for (reply, result) in results {
                let _ = reply.send(result);
            }
        }
        Err(error) => {
            tracing::error!(?error, "recording tracking hits failed");
            for (_, hits) in by_tenant {
                for (_, reply) in hits {
                    let _ = reply.send(HitResult::Failed);
                }
            }
        }
    }
}

type Replies = Vec<(oneshot::Sender<HitResult>, HitResult)>;

async fn store(
    db: &DatabaseConnection,
    window_ms: i64,
    by_tenant: &mut BTreeMap<Uuid, Vec<Pending>>,
) -> AppResult<(Replies, Vec<entity::engagement_events::Model>)> {
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
            plans.push((*tenant_id, index, HitResult::Recorded { url }));
        }
        stored.extend(record(&txn, *tenant_id, &mut messages, events).await?);
    }
    txn.commit().await?;
    let mut replies = Vec::with_capacity(plans.len());
    let mut taken: HashMap<Uuid, Vec<Option<oneshot::Sender<HitResult>>>> =
        std::mem::take(by_tenant)
            .into_iter()
            .map(|(tenant, hits)| {
                (
                    tenant,
                    hits.into_iter().map(|(_, reply)| Some(reply)).collect(),
                )
            })
            .collect();
    for (tenant_id, index, result) in plans {
        if let Some(reply) = taken.get_mut(&tenant_id).and_then(|r| r[index].take()) {
            replies.push((reply, result));
        }
    }
    Ok((replies, stored))
}
