//! `engagementEvents` and `messageStats`: live engagement for dashboards,
//! and `messageStats` as a query.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, Object, Subscription};
use futures::{Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::MissedTickBehavior;

use super::service::{self, EventMatcher, StatsScope};
use super::types::{EngagementEventView, EngagementFilter, MessageStats, MessageStatsFilter};

use crate::events::HubEvent;
use crate::events::hub::Stream as EventStream;
use crate::events::resume::{last_seq, parse_cursor, resumable};
use crate::graphql::{caller, shared};
use crate::state::Shared;

#[derive(Default)]
pub(crate) struct EngagementQuery;

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
pub(crate) struct EngagementSubscription;

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
        let after = after
            .as_deref()
            .map(|cursor| parse_cursor(cursor, "after"))
            .transpose()?;
        // Subscribe before reading the last sequence number, so an event
        // committed in between arrives live rather than falling in a crack.
        let receiver = shared.hub.subscribe();
        let seen = last_seq(&shared.db, &caller, EventStream::Engagement).await?;
        let tenant_id = caller.tenant_id;
        let read = {
            let matcher = matcher.clone();
            move |after: i64, up_to: i64| {
                let (shared, caller, matcher) = (shared.clone(), caller.clone(), matcher.clone());
                async move {
                    // The matcher filters in SQL: every row read is wanted.
                    let batch =
                        service::replay_batch(&shared.db, &caller, &matcher, after, up_to).await?;
                    Ok(batch
                        .iter()
                        .map(|event| (event.seq, Some(EngagementEventView::from(event))))
                        .collect())
                }
            }
        };
        let pick = move |event: &HubEvent| match event {
            HubEvent::Engagement(event) if event.tenant_id == tenant_id => Some((
                event.seq,
                matcher
                    .matches(event)
                    .then(|| EngagementEventView::from(&**event)),
            )),
            _ => None,
        };
        Ok(resumable(receiver, after.unwrap_or(seen), seen, read, pick)
            .map(|event| event.map_err(Into::into)))
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
