//! `campaigns`, `campaign`, the campaign mutations and the `campaignStats`
//! subscription.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, ID, Object, Subscription};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::MissedTickBehavior;

use super::launch;
use super::service;
use super::types::{
    Campaign, CampaignFilter, CampaignStats, CreateCampaignInput, LaunchResult, UpdateCampaignInput,
};
use crate::events::HubEvent;
use crate::graphql::audit::touch;
use crate::graphql::numbers::Count;
use crate::graphql::pagination::{PageArgs, RelayConnection, connection, cost};
use crate::graphql::{caller, parse_id, shared};
use crate::state::Shared;
use crate::tenancy::scoped::{begin, end_read, find_live};

#[derive(Default)]
pub(crate) struct CampaignQuery;

#[Object]
impl CampaignQuery {
    /// Your tenant's live campaigns, newest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn campaigns(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<CampaignFilter>,
    ) -> async_graphql::Result<RelayConnection<Campaign>> {
        let args = PageArgs::new(first, after, last, before);
        let (page, totals) = service::list(shared(ctx), caller(ctx)?, &args, filter).await?;
        Ok(connection(page, totals, |row| row.id, Campaign::from))
    }

    /// One live campaign by id.
    async fn campaign(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Campaign> {
        let id = parse_id(&id, "id")?;
        Ok(service::get(shared(ctx), caller(ctx)?, id).await?.into())
    }
}

#[derive(Default)]
pub(crate) struct CampaignMutation;

#[Object]
impl CampaignMutation {
    /// Creates a campaign as a draft: its audience, steps, schedule and
    /// limits, each checked now (a bad value names its field).
    async fn create_campaign(
        &self,
        ctx: &Context<'_>,
        input: CreateCampaignInput,
    ) -> async_graphql::Result<Campaign> {
        let campaign = service::create(shared(ctx), caller(ctx)?, input).await?;
        touch(ctx, "campaign", campaign.id);
        Ok(campaign.into())
    }

    /// Changes a campaign (steps, audience and kind only while it is not
    /// active).
    async fn update_campaign(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateCampaignInput,
    ) -> async_graphql::Result<Campaign> {
        let id = parse_id(&id, "id")?;
        let campaign = service::update(shared(ctx), caller(ctx)?, id, input).await?;
        touch(ctx, "campaign", campaign.id);
        Ok(campaign.into())
    }

    /// Moves a draft to the trash (a campaign that ran is archived instead).
    async fn delete_campaign(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Campaign> {
        let id = parse_id(&id, "id")?;
        let campaign = service::delete(shared(ctx), caller(ctx)?, id).await?;
        touch(ctx, "campaign", campaign.id);
        Ok(campaign.into())
    }

    /// Checks everything (steps render for a sample of the audience, senders
    /// active, audience sendable, schedule and budget) and reports every
    /// problem at once; when there is none, enrols the audience and starts
    /// sending (or waits for `startsAt`).
    async fn launch_campaign(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<LaunchResult> {
        let id = parse_id(&id, "id")?;
        let done = launch::launch(shared(ctx), caller(ctx)?, id).await?;
        if done.launched {
            touch(ctx, "campaign", id);
        }
        Ok(LaunchResult {
            launched: done.launched,
            campaign: done.campaign.into(),
            problems: done.problems,
            audience_size: Count(done.audience_size as i64),
            sendable: Count(done.sendable as i64),
            estimated_messages: Count((done.sendable * done.steps) as i64),
        })
    }

    /// Stops sending at once (queued messages are held); `resumeCampaign`
    /// goes on where it stopped.
    async fn pause_campaign(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Campaign> {
        let id = parse_id(&id, "id")?;
        let campaign = service::pause(shared(ctx), caller(ctx)?, id).await?;
        touch(ctx, "campaign", id);
        Ok(campaign.into())
    }

    async fn resume_campaign(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Campaign> {
        let id = parse_id(&id, "id")?;
        let campaign = service::resume(shared(ctx), caller(ctx)?, id).await?;
        touch(ctx, "campaign", id);
        Ok(campaign.into())
    }

    /// Ends the campaign: active enrollments stop, queued messages not yet
    /// being sent are canceled.
    async fn complete_campaign(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Campaign> {
        let id = parse_id(&id, "id")?;
        let campaign = service::complete(shared(ctx), caller(ctx)?, id).await?;
        touch(ctx, "campaign", id);
        Ok(campaign.into())
    }

    /// Archives a draft, paused or completed campaign (ending it first).
    async fn archive_campaign(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Campaign> {
        let id = parse_id(&id, "id")?;
        let campaign = service::archive(shared(ctx), caller(ctx)?, id).await?;
        touch(ctx, "campaign", id);
        Ok(campaign.into())
    }
}

#[derive(Default)]
pub(crate) struct CampaignSubscription;

async fn read_stats(
    shared: &Shared,
    caller: &crate::tenancy::RequestCtx,
    id: uuid::Uuid,
) -> crate::error::AppResult<CampaignStats> {
    let txn = begin(&shared.db, caller).await?;
    find_live::<entity::campaigns::Entity>(&*txn, caller, id).await?;
    let mut stats = super::loader::stats_of(&*txn, caller, &[id]).await?;
    end_read(txn).await?;
    Ok(stats.remove(&id).unwrap_or_else(CampaignStats::empty))
}

fn same(a: &CampaignStats, b: &CampaignStats) -> bool {
    let mut a = a.clone();
    a.messages.at = b.messages.at;
    a == *b
}

#[Subscription]
impl CampaignSubscription {
    /// A campaign's enrollments and message figures: now, then again
    /// whenever they change, at most once per `PROMOHUB_STATS_INTERVAL_MS`.
    async fn campaign_stats(
        &self,
        ctx: &Context<'_>,
        campaign_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<CampaignStats>>> {
        let caller = caller(ctx)?.clone();
        let shared = ctx.data_unchecked::<Arc<Shared>>().clone();
        let id = parse_id(&campaign_id, "campaignId")?;
        let mut receiver = shared.hub.subscribe();
        let first = read_stats(&shared, &caller, id).await?;
        let interval = Duration::from_millis(shared.config.messaging.stats_interval_ms.max(50));
        Ok(async_stream::stream! {
            let mut last = first;
            yield Ok(last.clone());
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            ticker.tick().await;
            // Enrollments move without an event (the scheduler's batches):
            // the ticker also recounts now and then.
            let mut idle_ticks = 0u32;
            let mut dirty = false;
            loop {
                tokio::select! {
                    event = receiver.recv() => match event {
                        Ok(HubEvent::Engagement(event)) => {
                            dirty |= event.tenant_id == caller.tenant_id && event.campaign_id == Some(id);
                        }
                        Ok(HubEvent::Domain(_)) => {}
                        Err(RecvError::Lagged(_)) => dirty = true,
                        Err(RecvError::Closed) => return,
                    },
                    _ = ticker.tick() => {
                        idle_ticks += 1;
                        if !dirty && idle_ticks < 5 {
                            continue;
                        }
                        dirty = false;
                        idle_ticks = 0;
                        match read_stats(&shared, &caller, id).await {
                            Ok(stats) => {
                                if !same(&stats, &last) {
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
