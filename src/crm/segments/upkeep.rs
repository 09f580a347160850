//! Segment upkeep: keeps every dynamic segment's members (its open
//! `segment_memberships` periods) current as leads change, with who
//! entered and left, when and why.
//!
//! Every lead write records a domain event in its own transaction (the
//! outbox: API, bulk update, merge, import, form) and every send, open,
//! click and reply an engagement event, so no write path can be missed:
//! upkeep reads both logs from a cursor per tenant (`segment_upkeep`) and
//! re-checks only the leads they name. One statement evaluates every
//! dynamic segment's filter for a chunk of leads, one reads their open
//! periods, and only what changed is written. The work is idempotent (at
//! most one open period per segment and lead, by a unique index), and the
//! cursor moves last, so a crash re-reads and nothing is done twice.
//!
//! A segment is re-checked over all of its tenant's leads, chunk by chunk,
//! when it is created or its filter changes, when a segment it names
//! changes, and, for filters that count back from now ("created in the
//! last 30 days", engagement periods), every `segment_sweep_secs`: time
//! moves their members with no lead changing. No segment is ever rebuilt
//! from scratch: every pass writes only the differences.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::{Condition, Expr, ExprTrait, OnConflict, Order, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use entity::sea_orm_active_enums::{EngagementType, SegmentKind};
use entity::{domain_events, engagement_events, leads, segment_memberships, segment_upkeep};

use super::service::{Missing, resolve_segments, saved_filter};
use crate::crm::leads::filter::{LeadFilter, compile};
use crate::error::AppResult;
use crate::events::{DomainEventKind, HubEvent, outbox};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{
    begin_for, begin_for_write, begin_global, end_read, live, scoped, tenant_rows, tenant_update,
};

/// Events read from each log per pass, and leads evaluated per statement.
const BATCH: u64 = 1_000;
/// Segments evaluated per statement (one `CASE` column each).
const SEGMENTS_PER_STATEMENT: usize = 32;

/// Why a lead entered or left a segment, as `segment.explain` shows it.
pub(crate) mod why {
    /// Put in a static segment by hand (`addToSegment`).
    pub(crate) const ADDED: &str = "added";
    /// Taken out of a static segment by hand (`removeFromSegment`).
    pub(crate) const REMOVED: &str = "removed";
    /// The segment was created, or its filter changed.
    pub(crate) const FILTER: &str = "segment.filter";
    /// A segment this one names gained or lost members, or changed.
    pub(crate) const NAMED_SEGMENT: &str = "segment.named";
    /// The segment was deleted.
    pub(crate) const SEGMENT_DELETED: &str = "segment.deleted";
    /// A relative date or an engagement period moved on.
    pub(crate) const TIME: &str = "time";
    /// The lead sent, opened, clicked or replied to a message.
    pub(crate) const ENGAGEMENT: &str = "engagement";
}

/// Starts upkeep on its own small pool, so that its background statements
/// never queue behind requests (nor requests behind it).
pub(crate) fn start(shared: Arc<Shared>) {
    tokio::spawn(async move {
        let mut config = shared.config.clone();
        config.db_pool_size = Some(2);
        let db = match crate::db::connect(&config).await {
            Ok(db) => db,
            Err(error) => {
                tracing::error!(
                    ?error,
                    "segment upkeep could not connect; segments stay as they are"
                );
                return;
            }
        };
        run(shared, db).await;
    });
}

async fn run(shared: Arc<Shared>, db: DatabaseConnection) {
    let mut events = shared.hub.subscribe();
    let sweep = Duration::from_secs(Ord::max(shared.config.segment_sweep_secs, 1));
    let mut next_sweep = tokio::time::Instant::now() + sweep;
    // Whatever happened while no process was running is in the logs.
    let mut dirty = every_tenant(&db).await;
    loop {
        for tenant_id in std::mem::take(&mut dirty) {
            if let Err(error) = catch_up(&shared, &db, tenant_id).await {
                // The cursor did not move: the next event or sweep retries.
                tracing::warn!(?error, %tenant_id, "segment upkeep failed");
                metrics::counter!("promohub_segment_upkeep_failures_total").increment(1);
            }
        }
        tokio::select! {
            received = events.recv() => match received {
                Ok(event) => {
                    dirty.insert(tenant_of(&event));
                    while let Ok(event) = events.try_recv() {
                        dirty.insert(tenant_of(&event));
                    }
                }
                // Missed announcements: their events are in the logs.
                Err(RecvError::Lagged(_)) => dirty = every_tenant(&db).await,
                Err(RecvError::Closed) => return,
            },
            _ = tokio::time::sleep_until(next_sweep) => {
                dirty = every_tenant(&db).await;
                next_sweep = tokio::time::Instant::now() + sweep;
            }
        }
    }
}

fn tenant_of(event: &HubEvent) -> Uuid {
    match event {
        HubEvent::Domain(event) => event.tenant_id,
        HubEvent::Engagement(event) => event.tenant_id,
    }
}

async fn every_tenant(db: &DatabaseConnection) -> BTreeSet<Uuid> {
    let read = async {
        let txn = begin_global(db, None).await?;
        let ids: Vec<Uuid> = entity::tenants::Entity::find()
            .select_only()
            .column(entity::tenants::Column::Id)
            .filter(entity::tenants::Column::DeletedAt.is_null())
            .into_tuple()
            .all(&txn)
            .await?;
        end_read(txn).await?;
        AppResult::Ok(ids)
    };
    match read.await {
        Ok(ids) => ids.into_iter().collect(),
        Err(error) => {
            tracing::warn!(?error, "segment upkeep could not list tenants");
            BTreeSet::new()
        }
    }
}

/// A live dynamic segment, ready to evaluate.
struct Dynamic {
    id: Uuid,
    filter: LeadFilter,
    condition: Condition,
}

/// The tenant's live dynamic segments with their filters compiled (the
/// segments they name read as of now).
async fn dynamic_segments(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
) -> AppResult<Vec<Dynamic>> {
    let rows = live::<entity::segments::Entity>(ctx)
        .filter(entity::segments::Column::Kind.eq(SegmentKind::Dynamic))
        .order_by_asc(entity::segments::Column::Id)
        .all(conn)
        .await?;
    let mut segments = Vec::with_capacity(rows.len());
    for segment in rows {
        let Some(mut filter) = saved_filter(&segment)? else {
            continue;
        };
        let mut chain = vec![segment.id];
        resolve_segments(conn, ctx, &mut filter, "filter", &mut chain, Missing::Empty).await?;
        let condition = compile(&filter, conn.get_database_backend(), "filter")?;
        segments.push(Dynamic {
            id: segment.id,
            filter,
            condition,
        });
    }
    Ok(segments)
}

/// What a batch of events asks upkeep to do.
#[derive(Default)]
struct Plan {
    /// Segments to re-check over every lead, with why.
    whole: BTreeMap<Uuid, &'static str>,
    /// Segments deleted: their open periods close.
    deleted: BTreeSet<Uuid>,
    /// Leads a lead event names, with the last event's kind.
    leads: BTreeMap<Uuid, &'static str>,
    /// Leads an engagement event names.
    engaged: BTreeSet<Uuid>,
}

impl Plan {
    fn of(
        events: &[domain_events::Model],
        engagement: &[(i64, Uuid)],
        segments: &[Dynamic],
    ) -> Self {
        let mut plan = Plan::default();
        // A segment changed: itself and those naming it are re-checked.
        let changed = |plan: &mut Plan, id: Uuid, own: Option<&'static str>| {
            if let Some(why) = own {
                plan.whole.insert(id, why);
            }
            for dependent in segments
                .iter()
                .filter(|s| s.id != id && s.filter.names_segment(id))
            {
                plan.whole.entry(dependent.id).or_insert(why::NAMED_SEGMENT);
            }
        };
        for event in events {
            let Some(kind) = DomainEventKind::parse(&event.kind) else {
                continue;
            };
            match kind {
                DomainEventKind::LeadCreated
                | DomainEventKind::LeadChanged
                | DomainEventKind::LeadDeleted
                | DomainEventKind::LeadRestored => {
                    plan.leads.insert(event.subject_id, kind.spelling());
                }
                DomainEventKind::LeadMerged => {
                    plan.leads.insert(event.subject_id, kind.spelling());
                    let into = event.payload.get("into").and_then(|v| v.as_str());
                    if let Some(into) = into.and_then(|id| Uuid::parse_str(id).ok()) {
                        plan.leads.insert(into, kind.spelling());
                    }
                }
                DomainEventKind::SegmentCreated => {
                    changed(&mut plan, event.subject_id, Some(why::FILTER))
                }
                DomainEventKind::SegmentChanged => {
                    let refiltered = event.payload["fields"]
                        .as_array()
                        .is_some_and(|fields| fields.iter().any(|f| f == "filter"));
                    changed(
                        &mut plan,
                        event.subject_id,
                        refiltered.then_some(why::FILTER),
                    );
                }
                DomainEventKind::SegmentDeleted => {
                    plan.deleted.insert(event.subject_id);
                    changed(&mut plan, event.subject_id, None);
                }
                _ => {}
            }
        }
        plan.engaged = engagement.iter().map(|(_, lead)| *lead).collect();
        // Not live (deleted, or static): nothing to re-check.
        plan.whole
            .retain(|id, _| segments.iter().any(|s| s.id == *id));
        plan
    }
}

/// Brings the tenant's dynamic segments up to date with both logs, batch
/// by batch, then sweeps the clock-dependent ones when due.
pub(crate) async fn catch_up(
    shared: &Shared,
    db: &DatabaseConnection,
    tenant_id: Uuid,
) -> AppResult<()> {
    let ctx = RequestCtx::system(tenant_id);
    let sweep = chrono::Duration::seconds(Ord::max(shared.config.segment_sweep_secs, 1) as i64);
    loop {
        let txn = begin_for(db, tenant_id, None).await?;
        let cursor = tenant_rows::<segment_upkeep::Entity>(tenant_id)
            .one(&txn)
            .await?;
        let (domain_seq, engagement_seq) = cursor
            .as_ref()
            .map_or((0, 0), |c| (c.domain_seq, c.engagement_seq));
        let events =
            outbox::read_after(&txn, tenant_id, (domain_seq, i64::MAX), BATCH, &[]).await?;
        let engagement: Vec<(i64, Uuid)> = tenant_rows::<engagement_events::Entity>(tenant_id)
            .filter(engagement_events::Column::Seq.gt(engagement_seq))
            .filter(engagement_events::Column::EventType.is_in([
                EngagementType::Sent,
                EngagementType::Opened,
                EngagementType::Clicked,
                EngagementType::Replied,
            ]))
            .order_by_asc(engagement_events::Column::Seq)
            .limit(BATCH)
            .select_only()
            .column(engagement_events::Column::Seq)
            .column(engagement_events::Column::LeadId)
            .into_tuple()
            .all(&txn)
            .await?;
        let segments = dynamic_segments(&txn, &ctx).await?;
        end_read(txn).await?;

        let now = Utc::now();
        let sweep_due = cursor
            .as_ref()
            .is_none_or(|c| c.swept_at.is_none_or(|at| at.to_utc() + sweep <= now));
        if events.is_empty() && engagement.is_empty() && !sweep_due {
            return Ok(());
        }
        let plan = Plan::of(&events, &engagement, &segments);
        for id in &plan.deleted {
            close_all(db, &ctx, *id, why::SEGMENT_DELETED).await?;
        }
        for segment in &segments {
            if let Some(why) = plan.whole.get(&segment.id) {
                recheck_all(db, &ctx, &[segment], why).await?;
            }
        }
        if sweep_due {
            let clocked: Vec<&Dynamic> = segments
                .iter()
                .filter(|s| s.filter.depends_on_clock() && !plan.whole.contains_key(&s.id))
                .collect();
            for segment in clocked {
                recheck_all(db, &ctx, &[segment], why::TIME).await?;
            }
        }
        // The leads the events name, against every segment not re-checked
        // whole already; engaged leads against the segments engagement moves.
        let rest: Vec<&Dynamic> = segments
            .iter()
            .filter(|s| !plan.whole.contains_key(&s.id))
            .collect();
        let leads: Vec<(Uuid, &str)> = plan.leads.iter().map(|(id, why)| (*id, *why)).collect();
        for chunk in leads.chunks(BATCH as usize) {
            recheck(db, &ctx, &rest, chunk).await?;
        }
        let engaging: Vec<&Dynamic> = rest
            .iter()
            .copied()
            .filter(|s| s.filter.reads_engagement())
            .collect();
        if !engaging.is_empty() {
            let engaged: Vec<(Uuid, &str)> = plan
                .engaged
                .iter()
                .filter(|id| !plan.leads.contains_key(id))
                .map(|id| (*id, why::ENGAGEMENT))
                .collect();
            for chunk in engaged.chunks(BATCH as usize) {
                recheck(db, &ctx, &engaging, chunk).await?;
            }
        }

        let read_all = (events.len() as u64) < BATCH && (engagement.len() as u64) < BATCH;
        let moved = Cursor {
            domain_seq: events.last().map_or(domain_seq, |e| e.seq),
            engagement_seq: engagement.last().map_or(engagement_seq, |(seq, _)| *seq),
            swept_at: sweep_due.then_some(now),
        };
        save_cursor(db, tenant_id, cursor.is_some(), moved).await?;
        metrics::counter!("promohub_segment_upkeep_events_total")
            .increment((events.len() + engagement.len()) as u64);
        if read_all {
            return Ok(());
        }
    }
}

struct Cursor {
    domain_seq: i64,
    engagement_seq: i64,
    swept_at: Option<chrono::DateTime<Utc>>,
}

async fn save_cursor(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    exists: bool,
    cursor: Cursor,
) -> AppResult<()> {
    let txn = begin_for_write(db, tenant_id, None).await?;
    if exists {
        let mut update = tenant_update::<segment_upkeep::Entity>(tenant_id)
            .col_expr(
                segment_upkeep::Column::DomainSeq,
                Expr::val(cursor.domain_seq),
            )
            .col_expr(
                segment_upkeep::Column::EngagementSeq,
                Expr::val(cursor.engagement_seq),
            )
            // Another node may have moved further: never back.
            .filter(segment_upkeep::Column::DomainSeq.lte(cursor.domain_seq))
            .filter(segment_upkeep::Column::EngagementSeq.lte(cursor.engagement_seq));
        if let Some(at) = cursor.swept_at {
            update = update.col_expr(
                segment_upkeep::Column::SweptAt,
                Expr::val(at.fixed_offset()),
            );
        }
        update.exec(&txn).await?;
    } else {
        segment_upkeep::Entity::insert(segment_upkeep::ActiveModel {
            tenant_id: Set(tenant_id),
            domain_seq: Set(cursor.domain_seq),
            engagement_seq: Set(cursor.engagement_seq),
            swept_at: Set(cursor.swept_at.map(|at| at.fixed_offset())),
            created_at: Set(Utc::now().fixed_offset()),
        })
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .exec_without_returning(&txn)
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Which leads one evaluation covers.
enum Scope<'a> {
    /// These leads.
    Leads(&'a [Uuid]),
    /// The next chunk of the tenant's leads by id, after this one.
    After(Option<Uuid>),
}

/// For each lead in scope (live or not), whether it is in each segment:
/// one statement per [`SEGMENTS_PER_STATEMENT`] segments.
async fn evaluate(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    segments: &[&Dynamic],
    scope: Scope<'_>,
) -> AppResult<Vec<(Uuid, Vec<bool>)>> {
    let mut found: Vec<(Uuid, Vec<bool>)> = Vec::new();
    let mut at: HashMap<Uuid, usize> = HashMap::new();
    for group in segments.chunks(SEGMENTS_PER_STATEMENT) {
        let mut select = Query::select();
        select
            .column((leads::Entity, leads::Column::Id))
            .from(leads::Entity)
            .and_where(Expr::col((leads::Entity, leads::Column::TenantId)).eq(ctx.tenant_id));
        for segment in group {
            let member = Condition::all()
                .add(Expr::col((leads::Entity, leads::Column::DeletedAt)).is_null())
                .add(segment.condition.clone());
            select.expr(Expr::case(member, 1).finally(0));
        }
        match scope {
            Scope::Leads(ids) => {
                select.and_where(
                    Expr::col((leads::Entity, leads::Column::Id)).is_in(ids.iter().copied()),
                );
            }
            Scope::After(after) => {
                if let Some(after) = after {
                    select.and_where(Expr::col((leads::Entity, leads::Column::Id)).gt(after));
                }
                select
                    .order_by((leads::Entity, leads::Column::Id), Order::Asc)
                    .limit(BATCH);
            }
        }
        let backend = conn.get_database_backend();
        for row in conn.query_all_raw(backend.build(&select)).await? {
            let id: Uuid = row.try_get_by_index(0)?;
            let mut flags = Vec::with_capacity(group.len());
            for i in 0..group.len() {
                let flag: i32 = row.try_get_by_index(i + 1)?;
                flags.push(flag == 1);
            }
            let slot = *at.entry(id).or_insert_with(|| {
                found.push((id, Vec::with_capacity(segments.len())));
                found.len() - 1
            });
            found[slot].1.extend(flags);
        }
    }
    Ok(found)
}

/// Re-checks `leads` (each with why it is looked at) against `segments`
/// in one write transaction.
async fn recheck(
    db: &DatabaseConnection,
    ctx: &RequestCtx,
    segments: &[&Dynamic],
    leads: &[(Uuid, &str)],
) -> AppResult<()> {
    if segments.is_empty() || leads.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = leads.iter().map(|(id, _)| *id).collect();
    let whys: HashMap<Uuid, &str> = leads.iter().copied().collect();
    let txn = begin_for_write(db, ctx.tenant_id, None).await?;
    let matched = evaluate(&txn, ctx, segments, Scope::Leads(&ids)).await?;
    apply(&txn, ctx, segments, &ids, &matched, |id| {
        whys.get(&id).copied().unwrap_or(why::FILTER)
    })
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Re-checks every lead of the tenant against `segments`, a chunk per
/// transaction (so writers wait at most one chunk on SQLite).
async fn recheck_all(
    db: &DatabaseConnection,
    ctx: &RequestCtx,
    segments: &[&Dynamic],
    why: &str,
) -> AppResult<()> {
    let mut after = None;
    loop {
        let txn = begin_for_write(db, ctx.tenant_id, None).await?;
        let matched = evaluate(&txn, ctx, segments, Scope::After(after)).await?;
        let Some((last, _)) = matched.last() else {
            txn.commit().await?;
            return Ok(());
        };
        after = Some(*last);
        let ids: Vec<Uuid> = matched.iter().map(|(id, _)| *id).collect();
        apply(&txn, ctx, segments, &ids, &matched, |_| why).await?;
        txn.commit().await?;
        if (ids.len() as u64) < BATCH {
            return Ok(());
        }
        crate::db::let_writers_in(db).await;
    }
}

/// Writes the difference between what `matched` says and the open periods
/// of `ids` in `segments`: a period opens for each lead that entered and
/// closes for each that left (a lead no longer there has left).
async fn apply<'w>(
    txn: &sea_orm::DatabaseTransaction,
    ctx: &RequestCtx,
    segments: &[&Dynamic],
    ids: &[Uuid],
    matched: &[(Uuid, Vec<bool>)],
    why: impl Fn(Uuid) -> &'w str,
) -> AppResult<()> {
    let open: HashSet<(Uuid, Uuid)> = scoped::<segment_memberships::Entity>(ctx)
        .filter(segment_memberships::Column::LeftAt.is_null())
        .filter(segment_memberships::Column::SegmentId.is_in(segments.iter().map(|s| s.id)))
        .filter(segment_memberships::Column::LeadId.is_in(ids.iter().copied()))
        .select_only()
        .column(segment_memberships::Column::SegmentId)
        .column(segment_memberships::Column::LeadId)
        .into_tuple()
        .all(txn)
        .await?
        .into_iter()
        .collect();
    let now = Utc::now().fixed_offset();
    let mut entering = Vec::new();
    let mut inside: HashSet<(Uuid, Uuid)> = HashSet::new();
    for (lead, flags) in matched {
        for (segment, member) in segments.iter().zip(flags) {
            if !*member {
                continue;
            }
            inside.insert((segment.id, *lead));
            if !open.contains(&(segment.id, *lead)) {
                entering.push(segment_memberships::ActiveModel {
                    tenant_id: Set(ctx.tenant_id),
                    segment_id: Set(segment.id),
                    lead_id: Set(*lead),
                    entered_at: Set(now),
                    entered_why: Set(why(*lead).to_owned()),
                    left_at: Set(None),
                    left_why: Set(None),
                });
            }
        }
    }
    // Leaving, grouped by segment and reason: one UPDATE each.
    let mut leaving: BTreeMap<(Uuid, String), Vec<Uuid>> = BTreeMap::new();
    for (segment, lead) in open.difference(&inside) {
        leaving
            .entry((*segment, why(*lead).to_owned()))
            .or_default()
            .push(*lead);
    }
    for ((segment, reason), leads) in leaving {
        close(txn, ctx, segment, &leads, &reason).await?;
    }
    for chunk in entering.chunks(BATCH as usize) {
        // A period another node opened meanwhile stays the one open.
        segment_memberships::Entity::insert_many(chunk.to_vec())
            .on_conflict(OnConflict::new().do_nothing().to_owned())
            .exec_without_returning(txn)
            .await?;
    }
    metrics::counter!("promohub_segment_members_moved_total").increment(entering.len() as u64);
    Ok(())
}

/// Closes the open periods of `leads` in `segment`.
pub(crate) async fn close(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    segment: Uuid,
    leads: &[Uuid],
    reason: &str,
) -> AppResult<()> {
    for chunk in leads.chunks(BATCH as usize) {
        closing(ctx, segment, reason)
            .filter(segment_memberships::Column::LeadId.is_in(chunk.iter().copied()))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// The update that closes open periods of `segment` (narrow it down).
pub(crate) fn closing(
    ctx: &RequestCtx,
    segment: Uuid,
    reason: &str,
) -> sea_orm::UpdateMany<segment_memberships::Entity> {
    tenant_update::<segment_memberships::Entity>(ctx.tenant_id)
        .col_expr(
            segment_memberships::Column::LeftAt,
            Expr::val(Utc::now().fixed_offset()),
        )
        .col_expr(
            segment_memberships::Column::LeftWhy,
            Expr::val(reason.to_owned()),
        )
        .filter(segment_memberships::Column::SegmentId.eq(segment))
        .filter(segment_memberships::Column::LeftAt.is_null())
}

async fn close_all(
    db: &DatabaseConnection,
    ctx: &RequestCtx,
    segment: Uuid,
    reason: &str,
) -> AppResult<()> {
    let txn = begin_for_write(db, ctx.tenant_id, None).await?;
    closing(ctx, segment, reason).exec(&txn).await?;
    txn.commit().await?;
    Ok(())
}
