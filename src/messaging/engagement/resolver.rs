//! `engagementEvents` and `messageStats`: live engagement for dashboards,
//! and `messageStats` as a query.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, Object, Subscription};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::MissedTickBehavior;

use super::service::{self, EventMatcher, REPLAY_BATCH, StatsScope};
use super::types::{EngagementEventView, EngagementFilter, MessageStats, MessageStatsFilter};
use crate::error::{AppError, AppResult};
use crate::events::HubEvent;
use crate::graphql::{caller, shared};
use crate::state::Shared;
use crate::tenancy::RequestCtx;

#[derive(Default)]
pub struct EngagementQuery;

#[Object]
impl EngagementQuery {
    /// Message counts and rates for a campaign, a template, or the whole tenant.
    async fn message_stats(
        &self,
        ctx: &Context<'_>,
        filter: Option<MessageStatsFilter>,
    ) -> async_graphql::Result<MessageStats> {
        let scope = StatsScope::parse(filter)?;
        Ok(service::stats(&shared(ctx).db, caller(ctx)?, scope).await?)
    }
}

#[derive(Default)]
pub struct EngagementSubscription;

#[Subscription]
impl EngagementSubscription {
    /// Your tenant's engagement events as they happen. With `after` (the
    /// `cursor` of the last event you saw), first the stored events after it,
    /// then live ones: a dashboard that reconnects misses nothing and sees
    /// nothing twice. A subscriber that falls too far behind is ended with a
    /// `LIMIT_EXCEEDED` error naming the cursor to resume from.
    async fn engagement_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<EngagementFilter>,
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<EngagementEventView>>> {
        let caller = caller(ctx)?.clone();
        let shared = ctx.data_unchecked::<Arc<Shared>>().clone();
        let matcher = EventMatcher::parse(filter)?;
        let after = after.as_deref().map(service::parse_cursor).transpose()?;
        // Subscribe before reading the last sequence number, so an event
        // committed in between arrives live rather than falling in a crack.
        let mut receiver = shared.hub.subscribe();
        let mut seen = service::last_seq(&shared.db, &caller).await?;
        let replay_from = after.unwrap_or(seen).min(seen);
        Ok(async_stream::stream! {
            let mut pending = Vec::new();
            if let Err(error) = replay(&shared, &caller, &matcher, replay_from, seen, &mut pending).await {
                yield Err(error.into());
                return;
            }
            for event in pending.drain(..) {
                yield Ok(event);
            }
            loop {
                match receiver.recv().await {
                    Ok(HubEvent::Engagement(event)) => {
                        if event.tenant_id != caller.tenant_id || event.seq <= seen {
                            continue;
                        }
                        if event.seq > seen + 1 {
                            // A notification went missing (listener reconnect,
                            // out-of-order publish): the table has the rest.
                            if let Err(error) = replay(&shared, &caller, &matcher, seen, event.seq - 1, &mut pending).await {
                                yield Err(error.into());
                                return;
                            }
                            for event in pending.drain(..) {
                                yield Ok(event);
                            }
                        }
                        seen = event.seq;
                        if matcher.matches(&event) {
                            yield Ok(EngagementEventView::from(&*event));
                        }
                    }
                    Ok(HubEvent::Domain(_)) => {}
                    Err(RecvError::Lagged(_)) => {
                        yield Err(AppError::limit_exceeded(format!(
                            "this subscription fell too far behind and was closed; \
                             subscribe again with after: \"{seen}\" to resume"
                        ))
                        .into());
                        return;
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        })
    }

    /// Sent, delivered, opened, clicked, bounced, replied and unsubscribed
    /// counts and rates (human and raw) for a campaign, a template or the
    /// tenant: now, then again whenever they change, at most once per
    /// `PROMOHUB_STATS_INTERVAL_MS`.
    async fn message_stats(
        &self,
        ctx: &Context<'_>,
        filter: Option<MessageStatsFilter>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<MessageStats>>> {
        let caller = caller(ctx)?.clone();
        let shared = ctx.data_unchecked::<Arc<Shared>>().clone();
        let scope = StatsScope::parse(filter)?;
        let mut receiver = shared.hub.subscribe();
        let interval = Duration::from_millis(shared.config.messaging.stats_interval_ms.max(50));
        Ok(async_stream::stream! {
            let mut last = match service::stats(&shared.db, &caller, scope).await {
                Ok(stats) => stats,
                Err(error) => { yield Err(error.into()); return; }
            };
            yield Ok(last.clone());
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            ticker.tick().await;
            let mut dirty = false;
            loop {
                tokio::select! {
                    event = receiver.recv() => match event {
                        Ok(HubEvent::Engagement(event)) => {
                            dirty |= event.tenant_id == caller.tenant_id && scope.covers(&event);
                        }
                        Ok(HubEvent::Domain(_)) => {}
                        // Missed some: recount to be sure.
                        Err(RecvError::Lagged(_)) => dirty = true,
                        Err(RecvError::Closed) => return,
                    },
                    _ = ticker.tick(), if dirty => {
                        dirty = false;
                        match service::stats(&shared.db, &caller, scope).await {
                            Ok(stats) => {
                                if !same_counts(&stats, &last) {
                                    last = stats.clone();
                                    yield Ok(stats);
                                }
                            }
                            Err(error) => { yield Err(error.into()); return; }
                        }
                    }
                }
            }
        })
    }
}

fn same_counts(a: &MessageStats, b: &MessageStats) -> bool {
    MessageStats {
        at: b.at,
        ..a.clone()
    } == *b
}

/// Collects matching stored events with `after < seq <= up_to` into `out`.
async fn replay(
    shared: &Shared,
    caller: &RequestCtx,
    matcher: &EventMatcher,
    mut after: i64,
    up_to: i64,
    out: &mut Vec<EngagementEventView>,
) -> AppResult<()> {
    while after < up_to {
        let events = service::replay_batch(&shared.db, caller, matcher, after, up_to).await?;
        out.extend(events.iter().map(EngagementEventView::from));
        match events.last() {
            Some(last) if events.len() as u64 == REPLAY_BATCH => after = last.seq,
            _ => break,
        }
    }
    Ok(())
}
