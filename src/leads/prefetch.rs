//! Loads a page's relations before its nodes resolve: company, stage and
//! owner come joined to the page itself ([`including`]) and are fed to the
//! request's loaders; every other selected relation is one `load_many`. So a
//! page of leads costs the same statements for 5 leads as for 50,
//! deterministically (see `graphql::loaders::Cached`), and the node
//! resolvers still read every relation through a loader.

use async_graphql::Context;
use async_graphql::dataloader::Loader;
use futures::future::{BoxFuture, try_join_all};
use uuid::Uuid;

use entity::{companies, lead_sources, lead_stages, leads, projects};

use super::TagsLoader;
use super::joined::{Including, LeadRow};
use crate::activities::LatestActivitiesLoader;
use crate::graphql::loaders::{ByIdLoader, Cached, users};
use crate::tenancy::scoped::TenantOwned;

fn distinct(ids: impl Iterator<Item = Option<Uuid>>) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = ids.flatten().collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn by_id<'a, E>(ctx: &Context<'a>, ids: Vec<Uuid>) -> BoxFuture<'a, async_graphql::Result<()>>
where
    E: TenantOwned,
    E::Model: Clone + Send + Sync,
{
    let loader = ctx.data_unchecked::<Cached<ByIdLoader<E>>>();
    Box::pin(async move {
        loader
            .load_many(ids)
            .await
            .map_err(|e| crate::graphql::loaders::loader_error(&e))?;
        Ok(())
    })
}

/// `activities(first: n)` with no cursors: the inline case worth batching.
fn inline_activities_limit(field: &async_graphql::SelectionField<'_>) -> Option<u64> {
    let arguments = field.arguments().ok()?;
    let mut first = None;
    for (name, value) in arguments {
        match (name.as_str(), value) {
            ("first", async_graphql::Value::Number(n)) => first = n.as_u64(),
            ("after" | "last" | "before", v) if v != async_graphql::Value::Null => return None,
            _ => {}
        }
    }
    first
}

/// The to-one relations worth joining to the page: those the query selects
/// under `edges { node { … } }`.
pub fn including(ctx: &Context<'_>) -> Including {
    let node = ctx.look_ahead().field("edges").field("node");
    Including {
        company: node.field("company").exists(),
        stage: node.field("stage").exists(),
        owner: node.field("owner").exists(),
    }
}

/// Puts rows the page already has into a request loader's cache.
async fn feed_into<L>(loader: &Cached<L>, rows: Vec<L::Value>, id_of: fn(&L::Value) -> Uuid)
where
    L: Loader<Uuid>,
{
    if !rows.is_empty() {
        loader
            .feed_many(rows.into_iter().map(|row| (id_of(&row), row)))
            .await;
    }
}

/// Hands the relations joined to the page to the request's loaders (taking
/// them out of the rows), so the node resolvers find them there.
async fn feed(ctx: &Context<'_>, rows: &mut [LeadRow]) {
    let companies = rows.iter_mut().filter_map(|r| r.company.take()).collect();
    let loader = ctx.data_unchecked::<Cached<ByIdLoader<companies::Entity>>>();
    feed_into(loader, companies, |company| company.id).await;
    let stages = rows.iter_mut().filter_map(|r| r.stage.take()).collect();
    let loader = ctx.data_unchecked::<Cached<ByIdLoader<lead_stages::Entity>>>();
    feed_into(loader, stages, |stage| stage.id).await;
    let owners = rows.iter_mut().filter_map(|r| r.owner.take()).collect();
    feed_into(users(ctx), owners, |user| user.id).await;
}

/// Hands the page's joined relations to the loaders and prefetches the other
/// relations the query selects under `edges { node { … } }`.
pub async fn prefetch(ctx: &Context<'_>, rows: &mut [LeadRow]) -> async_graphql::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    feed(ctx, rows).await;
    let node = ctx.look_ahead().field("edges").field("node");
    let rows: Vec<&leads::Model> = rows.iter().map(|row| &row.lead).collect();
    let lead_ids: Vec<Uuid> = rows.iter().map(|lead| lead.id).collect();
    let mut work: Vec<BoxFuture<'_, async_graphql::Result<()>>> = Vec::new();
    if node.field("source").exists() {
        work.push(by_id::<lead_sources::Entity>(
            ctx,
            distinct(rows.iter().map(|l| l.source_id)),
        ));
    }
    if node.field("project").exists() {
        work.push(by_id::<projects::Entity>(
            ctx,
            distinct(rows.iter().map(|l| l.project_id)),
        ));
    }
    if node.field("tags").exists() || node.field("scoreBreakdown").exists() {
        let loader = ctx.data_unchecked::<Cached<TagsLoader>>();
        let ids = lead_ids.clone();
        work.push(Box::pin(async move {
            loader
                .load_many(ids)
                .await
                .map_err(|e| crate::graphql::loaders::loader_error(&e))?;
            Ok(())
        }));
    }
    let limits: Vec<u64> = node
        .field("activities")
        .selection_fields()
        .iter()
        .filter_map(inline_activities_limit)
        .collect();
    for limit in limits {
        let loader = ctx.data_unchecked::<Cached<LatestActivitiesLoader>>();
        // The resolver asks for one more than it shows, to know hasNextPage.
        let keys: Vec<(Uuid, u64)> = lead_ids.iter().map(|id| (*id, limit + 1)).collect();
        work.push(Box::pin(async move {
            loader
                .load_many(keys)
                .await
                .map_err(|e| crate::graphql::loaders::loader_error(&e))?;
            Ok(())
        }));
    }
    try_join_all(work).await?;
    Ok(())
}
