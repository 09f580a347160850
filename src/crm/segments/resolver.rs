//! `segments`, `segment`, `createSegment`, `updateSegment`,
//! `deleteSegment`, `addToSegment`, `removeFromSegment`, and the
//! `segmentCount` subscription.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, ID, Object, Subscription};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::MissedTickBehavior;

use super::service::{self, Chosen};
use super::types::{
    CreateSegmentInput, MembershipChange, MembershipResult, Segment, SegmentKind,
    UpdateSegmentInput,
};
use crate::crm::leads::filter::LeadFilter;
use crate::events::HubEvent;
use crate::graphql::audit::touch;
use crate::graphql::numbers::Count;
use crate::graphql::pagination::{PageArgs, RelayConnection, connection, cost};
use crate::graphql::{caller, parse_id, shared};
use crate::state::Shared;

#[derive(Default)]
pub(crate) struct SegmentQuery;

#[Object]
impl SegmentQuery {
    /// Your tenant's segments, newest first (of one kind when given).
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn segments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        kind: Option<SegmentKind>,
    ) -> async_graphql::Result<RelayConnection<Segment>> {
        let args = PageArgs::new(first, after, last, before);
        let (page, totals) = service::list(shared(ctx), caller(ctx)?, &args, kind).await?;
        Ok(connection(page, totals, |row| row.id, Segment::from))
    }

    /// One live segment by id.
    async fn segment(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Segment> {
        let id = parse_id(&id, "id")?;
        Ok(service::get(shared(ctx), caller(ctx)?, id).await?.into())
    }
}

#[derive(Default)]
pub(crate) struct SegmentMutation;

#[Object]
impl SegmentMutation {
    /// Creates a static segment, or a dynamic one with its filter (checked
    /// as `leads` checks it).
    async fn create_segment(
        &self,
        ctx: &Context<'_>,
        input: CreateSegmentInput,
    ) -> async_graphql::Result<Segment> {
        let segment = service::create(shared(ctx), caller(ctx)?, input).await?;
        touch(ctx, "segment", segment.id);
        Ok(segment.into())
    }

    /// Renames a segment, changes its description or project, or a dynamic
    /// segment's filter.
    async fn update_segment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateSegmentInput,
    ) -> async_graphql::Result<Segment> {
        let id = parse_id(&id, "id")?;
        let segment = service::update(shared(ctx), caller(ctx)?, id, input).await?;
        touch(ctx, "segment", segment.id);
        Ok(segment.into())
    }

    /// Moves a segment to the trash.
    async fn delete_segment(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Segment> {
        let id = parse_id(&id, "id")?;
        let segment = service::delete(shared(ctx), caller(ctx)?, id).await?;
        touch(ctx, "segment", segment.id);
        Ok(segment.into())
    }

    /// Adds leads to a static segment: by ids (at most 10,000, a result per
    /// id) or every live lead `filter` matches (one statement). A lead
    /// already in it stays once.
    async fn add_to_segment(
        &self,
        ctx: &Context<'_>,
        segment_id: ID,
        lead_ids: Option<Vec<ID>>,
        filter: Option<LeadFilter>,
    ) -> async_graphql::Result<MembershipChange> {
        let segment_id = parse_id(&segment_id, "segmentId")?;
        let chosen = Chosen::of(lead_ids, filter)?;
        let done = service::add(shared(ctx), caller(ctx)?, segment_id, chosen).await?;
        touch(ctx, "segment", segment_id);
        Ok(change(done))
    }

    /// Takes leads out of a static segment: by ids (at most 10,000, a result
    /// per id) or every live lead `filter` matches (one statement).
    async fn remove_from_segment(
        &self,
        ctx: &Context<'_>,
        segment_id: ID,
        lead_ids: Option<Vec<ID>>,
        filter: Option<LeadFilter>,
    ) -> async_graphql::Result<MembershipChange> {
        let segment_id = parse_id(&segment_id, "segmentId")?;
        let chosen = Chosen::of(lead_ids, filter)?;
        let done = service::remove(shared(ctx), caller(ctx)?, segment_id, chosen).await?;
        touch(ctx, "segment", segment_id);
        Ok(change(done))
    }
}

fn change(done: service::Changed) -> MembershipChange {
    MembershipChange {
        changed: done.changed.into(),
        results: done
            .results
            .into_iter()
            .map(|(lead_id, outcome)| MembershipResult { lead_id, outcome })
            .collect(),
        segment: done.segment.into(),
    }
}

#[derive(Default)]
pub(crate) struct SegmentSubscription;

/// How often `segmentCount` recounts at most.
const RECOUNT_INTERVAL: Duration = Duration::from_secs(1);

#[Subscription]
impl SegmentSubscription {
    /// A segment's count: now, then again whenever it changes, at most once
    /// a second. Any change to your leads or to the segment may move it, so
    /// each recounts (once per second however many arrive); only a new
    /// count is sent. Ends with `NOT_FOUND` when the segment is deleted.
    async fn segment_count(
        &self,
        ctx: &Context<'_>,
        segment_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Count>>> {
        let caller = caller(ctx)?.clone();
        let shared = ctx.data_unchecked::<Arc<Shared>>().clone();
        let id = parse_id(&segment_id, "segmentId")?;
        // Subscribe before the first count, so a change in between is seen.
        let mut receiver = shared.hub.subscribe();
        let first = service::count(&shared, &caller, id).await?;
        Ok(async_stream::stream! {
            let mut last = first;
            yield Ok(Count::from(last));
            let mut ticker = tokio::time::interval(RECOUNT_INTERVAL);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            ticker.tick().await;
            let mut dirty = false;
            loop {
                tokio::select! {
                    event = receiver.recv() => match event {
                        Ok(HubEvent::Domain(event)) => dirty |= event.tenant_id == caller.tenant_id,
                        Ok(HubEvent::Engagement(event)) => dirty |= event.tenant_id == caller.tenant_id,
                        // Missed some: recount to be sure.
                        Err(RecvError::Lagged(_)) => dirty = true,
                        Err(RecvError::Closed) => return,
                    },
                    _ = ticker.tick(), if dirty => {
                        dirty = false;
                        match service::count(&shared, &caller, id).await {
                            Ok(count) if count != last => {
                                last = count;
                                yield Ok(Count::from(count));
                            }
                            Ok(_) => {}
                            Err(error) => { yield Err(error.into()); return; }
                        }
                    }
                }
            }
        })
    }
}
