//! The outbox of domain events: what changed in a tenant, written in the
//! transaction that changed it (so an event exists exactly when its change
//! committed), numbered per tenant in commit order, and published through
//! the one hub after commit.
//!
//! Consumers that must not miss an event (segment upkeep, automation,
//! outgoing webhooks) keep their own cursor and call [`read_after`]; live
//! subscribers get the same events from the hub (`domainEvents`).
//!
//! A lead's engagement counters (`emailsSent`, `emailsOpened`,
//! `emailsClicked`, last contacted and responded) are the one lead change
//! not written here: the engagement events that move them are their record
//! (`engagementEvents`), and the tracker's hot path does not write a second
//! event per open or click.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Select,
};
use uuid::Uuid;

use entity::domain_events;

use super::hub::{Committed, Stream, allocate, notify};
use super::kinds::DomainEventKind;
use crate::error::AppResult;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::tenant_rows;

/// An event about to be written.
#[derive(Clone, Debug)]
pub struct NewDomainEvent {
    pub kind: DomainEventKind,
    /// The lead, member, invite, API key or tenant it is about.
    pub subject_id: Uuid,
    pub payload: serde_json::Value,
}

impl NewDomainEvent {
    pub fn new(kind: DomainEventKind, subject_id: Uuid) -> Self {
        Self {
            kind,
            subject_id,
            payload: serde_json::json!({}),
        }
    }

    pub fn with_payload(mut self, payload: serde_json::Value) -> Self {
        self.payload = payload;
        self
    }
}

/// Who caused the events: the member or API key, or nobody (the system).
#[derive(Clone, Copy, Debug)]
pub struct Origin {
    pub tenant_id: Uuid,
    pub actor_id: Option<Uuid>,
}

impl From<&RequestCtx> for Origin {
    fn from(ctx: &RequestCtx) -> Self {
        Self {
            tenant_id: ctx.tenant_id,
            actor_id: match ctx.actor {
                crate::tenancy::Actor::System => None,
                _ => Some(ctx.actor_id()),
            },
        }
    }
}

/// Events written so far in one transaction, published once it commits.
#[must_use = "publish the events after the commit (EventHub::published_after_commit)"]
pub struct Written(pub Vec<domain_events::Model>);

impl From<Written> for Committed {
    fn from(written: Written) -> Self {
        Committed::Domain(written.0)
    }
}

/// Writes `events` in `txn` (one insert) and announces them to every node at
/// commit. Call it as the transaction's last step: the tenant's sequence
/// row stays locked until commit.
pub async fn record(
    txn: &DatabaseTransaction,
    origin: impl Into<Origin>,
    events: Vec<NewDomainEvent>,
) -> AppResult<Written> {
    let origin = origin.into();
    if events.is_empty() {
        return Ok(Written(Vec::new()));
    }
    let first = allocate(txn, Stream::Domain, origin.tenant_id, events.len() as i64).await?;
    let now = chrono::Utc::now().fixed_offset();
    let rows: Vec<domain_events::Model> = events
        .into_iter()
        .zip(first..)
        .map(|(event, seq)| domain_events::Model {
            tenant_id: origin.tenant_id,
            id: Uuid::now_v7(),
            seq,
            kind: event.kind.spelling().to_owned(),
            subject_id: event.subject_id,
            actor_id: origin.actor_id,
            payload: event.payload,
            created_at: now,
        })
        .collect();
    // Parameters per statement are bounded (SQLite allows 32,766): a bulk
    // change of thousands of leads inserts in chunks.
    for chunk in rows.chunks(INSERT_CHUNK) {
        domain_events::Entity::insert_many(chunk.iter().cloned().map(active))
            .exec_without_returning(txn)
            .await?;
    }
    let last = first + rows.len() as i64 - 1;
    notify(txn, Stream::Domain, origin.tenant_id, first, last).await?;
    Ok(Written(rows))
}

/// Rows per insert: 8 columns each, well under every backend's limit.
const INSERT_CHUNK: usize = 1000;

fn active(model: domain_events::Model) -> domain_events::ActiveModel {
    domain_events::ActiveModel {
        tenant_id: Set(model.tenant_id),
        id: Set(model.id),
        seq: Set(model.seq),
        kind: Set(model.kind),
        subject_id: Set(model.subject_id),
        actor_id: Set(model.actor_id),
        payload: Set(model.payload),
        created_at: Set(model.created_at),
    }
}

/// The tenant's events of the given kinds (all when empty).
pub fn of_kinds(tenant_id: Uuid, kinds: &[DomainEventKind]) -> Select<domain_events::Entity> {
    let select = tenant_rows::<domain_events::Entity>(tenant_id);
    if kinds.is_empty() {
        return select;
    }
    select.filter(domain_events::Column::Kind.is_in(kinds.iter().map(|kind| kind.spelling())))
}

/// The tenant's events with `after < seq <= up_to`, oldest first, at most
/// `limit`, of the given kinds (all when empty). Call it in a transaction
/// bound to the tenant.
pub async fn read_after(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    (after, up_to): (i64, i64),
    limit: u64,
    kinds: &[DomainEventKind],
) -> AppResult<Vec<domain_events::Model>> {
    Ok(of_kinds(tenant_id, kinds)
        .filter(domain_events::Column::Seq.gt(after))
        .filter(domain_events::Column::Seq.lte(up_to))
        .order_by_asc(domain_events::Column::Seq)
        .limit(limit)
        .all(conn)
        .await?)
}

/// The tenant's last `limit` events before `before` (all when `None`),
/// newest first, of the given kinds: a page walked backwards.
pub async fn read_before(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    before: Option<i64>,
    limit: u64,
    kinds: &[DomainEventKind],
) -> AppResult<Vec<domain_events::Model>> {
    let mut select = of_kinds(tenant_id, kinds);
    if let Some(before) = before {
        select = select.filter(domain_events::Column::Seq.lt(before));
    }
    Ok(select
        .order_by_desc(domain_events::Column::Seq)
        .limit(limit)
        .all(conn)
        .await?)
}
