//! Loads a page's relations before its nodes resolve: company, stage and
//! owner come joined to the page itself (what [`selection`] names), and
//! every other selected relation is one `load_many` into the request's
//! loaders. So a page of leads costs the same statements for 5 leads as for
//! 50, deterministically (see `graphql::loaders::Cached`).

use async_graphql::Context;
use futures::future::{BoxFuture, try_join_all};
use uuid::Uuid;

use entity::{lead_sources, leads, projects};

use super::TagsLoader;
use super::columns::NodeSelection;
use super::joined::LeadRow;
use crate::activities::LatestActivitiesLoader;
use crate::graphql::loaders::{ByIdLoader, Cached};
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

/// What the query selects under `edges { node { … } }`: the node's field
/// names and, for the relations a page joins (company, stage, owner), theirs.
pub fn selection<'a>(ctx: &'a Context<'_>) -> NodeSelection<'a> {
    let mut selection = NodeSelection::default();
    for node in ctx
        .look_ahead()
        .field("edges")
        .field("node")
        .selection_fields()
    {
        for field in node.selection_set() {
            let name = field.name();
            selection.lead.push(name);
            let relation = match name {
                "company" => &mut selection.company,
                "stage" => &mut selection.stage,
                "owner" => &mut selection.owner,
                _ => continue,
            };
            relation
                .get_or_insert_with(Vec::new)
                .extend(field.selection_set().map(|f| f.name()));
        }
    }
    selection
}

/// Prefetches the relations the query selects under `edges { node { … } }`
/// that the page did not join.
pub async fn prefetch(ctx: &Context<'_>, rows: &[LeadRow]) -> async_graphql::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let node = ctx.look_ahead().field("edges").field("node");
    let rows: Vec<&leads::Model> = rows.iter().map(|row| &*row.lead).collect();
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
