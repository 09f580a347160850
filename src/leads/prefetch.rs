//! Loads a page's relations before its nodes resolve: one `load_many` per
//! selected relation, so a page of leads costs the same statements for 5
//! leads as for 50, deterministically (see `graphql::loaders::Cached`).

use async_graphql::Context;
use futures::future::{BoxFuture, try_join_all};
use uuid::Uuid;

use entity::{companies, lead_sources, lead_stages, leads, projects};

use super::TagsLoader;
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

/// Prefetches what the query selects under `edges { node { … } }`.
pub async fn prefetch(ctx: &Context<'_>, rows: &[leads::Model]) -> async_graphql::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let node = ctx.look_ahead().field("edges").field("node");
    let lead_ids: Vec<Uuid> = rows.iter().map(|lead| lead.id).collect();
    let mut work: Vec<BoxFuture<'_, async_graphql::Result<()>>> = Vec::new();
    if node.field("company").exists() {
        work.push(by_id::<companies::Entity>(
            ctx,
            distinct(rows.iter().map(|l| l.company_id)),
        ));
    }
    if node.field("stage").exists() {
        work.push(by_id::<lead_stages::Entity>(
            ctx,
            distinct(rows.iter().map(|l| l.stage_id)),
        ));
    }
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
    if node.field("owner").exists() {
        let owners = distinct(rows.iter().map(|l| l.owner_id));
        let loader = users(ctx);
        work.push(Box::pin(async move {
            loader.load_many(owners).await.map_err(|e| {
                crate::error::AppError::internal(anyhow::anyhow!("loading users: {e}"))
            })?;
            Ok(())
        }));
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
