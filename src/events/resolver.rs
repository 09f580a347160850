//! Reading the outbox: `domainEvents` (a query from a cursor, and a
//! subscription that replays from a cursor and then goes live), and
//! `tenantEvents`, the membership, API key and tenant changes among them.

use std::sync::Arc;

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ID, Object, SimpleObject, Subscription};
use futures::{Stream, StreamExt};

use entity::domain_events;

use super::hub::{HubEvent, Stream as EventStream};
use super::kinds::DomainEventKind;
use super::outbox;
use super::resume::{REPLAY_BATCH, last_seq, parse_cursor, resumable};
use crate::error::AppResult;
use crate::graphql::json::Json;
use crate::graphql::pagination::{
    Cursor, Page, PageArgs, RelayConnection, Totals, cost, raw_window,
};
use crate::graphql::{caller, shared, to_id};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin, end_read};

/// The most one page of `domainEvents` holds.
const MAX_PAGE: u64 = 500;

/// One domain event. `cursor` orders a tenant's events: pass the last one
/// you handled as `after` to read on from there.
#[derive(SimpleObject, Clone, Debug)]
pub(super) struct DomainEvent {
    pub cursor: String,
    pub kind: DomainEventKind,
    /// The lead, member, invite, API key or tenant it is about.
    pub subject_id: ID,
    /// The user or API key that caused it; null for the system.
    pub actor_id: Option<ID>,
    /// What changed: for `LEAD_CHANGED`, `{"fields": [...]}` names the
    /// changed fields; for `LEAD_MERGED`, `{"into": id}`.
    pub payload: Json<serde_json::Value>,
    pub at: chrono::DateTime<chrono::Utc>,
}

impl DomainEvent {
    /// `None` for a kind this release does not know (a newer node wrote it).
    fn from_model(event: &domain_events::Model) -> Option<Self> {
        Some(Self {
            cursor: event.seq.to_string(),
            kind: DomainEventKind::parse(&event.kind)?,
            subject_id: to_id(event.subject_id),
            actor_id: event.actor_id.map(to_id),
            payload: Json(event.payload.clone()),
            at: event.created_at.to_utc(),
        })
    }
}

/// The membership, API key and tenant kinds, as `tenantEvents` names them.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantEventKind {
    MemberInvited,
    MemberJoined,
    MemberRoleChanged,
    MemberRemoved,
    ApiKeyCreated,
    ApiKeyRevoked,
    TenantUpdated,
}

impl TenantEventKind {
    fn of(kind: DomainEventKind) -> Option<Self> {
        Some(match kind {
            DomainEventKind::MemberInvited => Self::MemberInvited,
            DomainEventKind::MemberJoined => Self::MemberJoined,
            DomainEventKind::MemberRoleChanged => Self::MemberRoleChanged,
            DomainEventKind::MemberRemoved => Self::MemberRemoved,
            DomainEventKind::ApiKeyCreated => Self::ApiKeyCreated,
            DomainEventKind::ApiKeyRevoked => Self::ApiKeyRevoked,
            DomainEventKind::TenantUpdated => Self::TenantUpdated,
            DomainEventKind::LeadCreated
            | DomainEventKind::LeadChanged
            | DomainEventKind::LeadDeleted
            | DomainEventKind::LeadRestored
            | DomainEventKind::LeadMerged
            | DomainEventKind::MessageResent
            | DomainEventKind::SegmentCreated
            | DomainEventKind::SegmentChanged
            | DomainEventKind::SegmentDeleted
            | DomainEventKind::FormSubmitted => return None,
        })
    }
}

/// A membership, invite, API key or tenant change.
pub(super) struct TenantEvent {
    kind: TenantEventKind,
    event: DomainEvent,
}

impl TenantEvent {
    fn of(event: DomainEvent) -> Option<Self> {
        Some(Self {
            kind: TenantEventKind::of(event.kind)?,
            event,
        })
    }
}

#[Object]
impl TenantEvent {
    async fn kind(&self) -> TenantEventKind {
        self.kind
    }

    /// The member, invite, API key or tenant the event is about.
    async fn subject_id(&self) -> &ID {
        &self.event.subject_id
    }

    /// The user or API key that caused it.
    async fn actor_id(&self) -> Option<&ID> {
        self.event.actor_id.as_ref()
    }

    async fn at(&self) -> chrono::DateTime<chrono::Utc> {
        self.event.at
    }
}

#[derive(Default)]
pub struct EventQuery;

#[Object]
impl EventQuery {
    /// Your tenant's domain events of `kinds` (all when omitted), oldest
    /// first. Each edge's cursor is its event's `cursor`: keep the last one
    /// you handled and pass it as `after` next time (or to the
    /// `domainEvents` subscription): nothing is missed and nothing comes
    /// twice. At most 500 a page.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn domain_events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        kinds: Option<Vec<DomainEventKind>>,
    ) -> async_graphql::Result<RelayConnection<DomainEvent>> {
        let args = PageArgs::new(first, after, last, before);
        let kinds = kinds.unwrap_or_default();
        Ok(events_page(shared(ctx), caller(ctx)?, &args, kinds).await?)
    }
}

/// One page of the tenant's events, walked forwards from `after` or
/// backwards from `before`, in the request's transaction.
async fn events_page(
    shared: &Shared,
    caller: &RequestCtx,
    args: &PageArgs,
    kinds: Vec<DomainEventKind>,
) -> AppResult<RelayConnection<DomainEvent>> {
    let window = raw_window(args, MAX_PAGE)?;
    let cursor = window
        .cursor
        .map(|cursor| parse_cursor(cursor, window.cursor_field))
        .transpose()?;
    let fetch = window.size + 1;
    let txn = begin(&shared.db, caller).await?;
    let rows = if window.forward {
        let range = (cursor.unwrap_or(0), i64::MAX);
        outbox::read_after(&*txn, caller.tenant_id, range, fetch, &kinds).await?
    } else {
        outbox::read_before(&*txn, caller.tenant_id, cursor, fetch, &kinds).await?
    };
    end_read(txn).await?;
    let page = Page::from_fetched(rows, window.size, window.forward, cursor.is_some());
    let totals = Totals::counting(
        &shared.db,
        caller,
        outbox::of_kinds(caller.tenant_id, &kinds),
    );
    let mut connection =
        Connection::with_additional_fields(page.has_previous_page, page.has_next_page, totals);
    // An event of a kind this release does not know (a newer node wrote it)
    // is left out of the page; its cursor is passed over with it.
    connection.edges.extend(page.rows.iter().filter_map(|row| {
        let event = DomainEvent::from_model(row)?;
        Some(Edge::new(Cursor::of_text(event.cursor.clone()), event))
    }));
    Ok(connection)
}

/// Stored events with `after < seq <= up_to` (a page or a replay batch).
async fn read_after(
    shared: &Shared,
    caller: &RequestCtx,
    range: (i64, i64),
    limit: u64,
    kinds: &[DomainEventKind],
) -> AppResult<Vec<domain_events::Model>> {
    let txn = begin(&shared.db, caller).await?;
    let events = outbox::read_after(&*txn, caller.tenant_id, range, limit, kinds).await?;
    end_read(txn).await?;
    Ok(events)
}

/// The caller's tenant's domain events of `kinds` (all when empty), stored
/// after `after` first when given, then live (see [`resumable`]).
async fn domain_stream(
    shared: Arc<Shared>,
    caller: RequestCtx,
    kinds: Vec<DomainEventKind>,
    after: Option<i64>,
) -> AppResult<impl Stream<Item = AppResult<DomainEvent>>> {
    // Subscribe before reading the last sequence number, so an event
    // committed in between arrives live rather than falling in a crack.
    let receiver = shared.hub.subscribe();
    let seen = last_seq(&shared.db, &caller, EventStream::Domain).await?;
    let tenant_id = caller.tenant_id;
    let wanted = move |event: &domain_events::Model| {
        DomainEvent::from_model(event).filter(|view| kinds.is_empty() || kinds.contains(&view.kind))
    };
    let read = {
        let wanted = wanted.clone();
        move |after: i64, up_to: i64| {
            let (shared, caller, wanted) = (shared.clone(), caller.clone(), wanted.clone());
            async move {
                let batch = read_after(&shared, &caller, (after, up_to), REPLAY_BATCH, &[]).await?;
                Ok(batch
                    .iter()
                    .map(|event| (event.seq, wanted(event)))
                    .collect())
            }
        }
    };
    let pick = move |event: &HubEvent| match event {
        HubEvent::Domain(event) if event.tenant_id == tenant_id => Some((event.seq, wanted(event))),
        _ => None,
    };
    Ok(resumable(receiver, after.unwrap_or(seen), seen, read, pick))
}

#[derive(Default)]
pub struct EventSubscription;

#[Subscription]
impl EventSubscription {
    /// Membership, invite, API key and tenant changes in your tenant, as they happen.
    async fn tenant_events(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<TenantEvent>>> {
        let caller = caller(ctx)?.clone();
        let shared = ctx.data_unchecked::<Arc<Shared>>().clone();
        let kinds = DomainEventKind::all()
            .filter(|kind| TenantEventKind::of(*kind).is_some())
            .collect();
        Ok(domain_stream(shared, caller, kinds, None)
            .await?
            .filter_map(|event| async move {
                match event {
                    Ok(event) => TenantEvent::of(event).map(Ok),
                    Err(error) => Some(Err(error.into())),
                }
            }))
    }

    /// Your tenant's domain events (leads created, changed, deleted and
    /// merged; membership, API key and tenant changes), optionally of some
    /// kinds only. With `after` (the `cursor` of the last event you saw),
    /// first the stored events after it, then live ones: a consumer that
    /// reconnects misses nothing and sees nothing twice.
    async fn domain_events(
        &self,
        ctx: &Context<'_>,
        kinds: Option<Vec<DomainEventKind>>,
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<DomainEvent>>> {
        let caller = caller(ctx)?.clone();
        let shared = ctx.data_unchecked::<Arc<Shared>>().clone();
        let after = after
            .as_deref()
            .map(|cursor| parse_cursor(cursor, "after"))
            .transpose()?;
        Ok(
            domain_stream(shared, caller, kinds.unwrap_or_default(), after)
                .await?
                .map(|event| event.map_err(Into::into)),
        )
    }
}
