//! Lead scoring: tenant-defined rules give or take points when a lead
//! matches them; a lead's `score` is the clamped sum. The engine is pure so
//! the lead service (one lead), the bulk recompute after a rule change and
//! `lead.scoreBreakdown` all compute the same thing.

mod engine;
mod loader;
mod resolver;
pub mod service;
mod types;

use std::sync::Arc;

use async_graphql::Context;
use async_graphql::dataloader::DataLoader;
use sea_orm::DatabaseConnection;

use crate::error::AppError;
use crate::graphql::caller;
use crate::graphql::loaders::loader_error;
use crate::tenancy::RequestCtx;

pub use engine::{
    Contribution, Criterion, LeadFacts, RuleError, ScoreOutcome, evaluate, lead_statuses,
    reads_website, validate_rule,
};
pub use loader::ActiveRulesLoader;
pub use resolver::{ScoringMutation, ScoringQuery};
pub(crate) use service::website_of;
pub use service::{active_rules, recompute_all, recompute_matching};
pub use types::{ScoreContribution, ScoringCondition, ScoringRule};

/// Adds the scoring loaders to a request of an authenticated caller (called
/// by `graphql::loaders::attach`).
pub fn attach_loaders(
    request: async_graphql::Request,
    db: &DatabaseConnection,
    ctx: &RequestCtx,
) -> async_graphql::Request {
    request.data(DataLoader::new(
        ActiveRulesLoader::new(db.clone(), ctx.clone()),
        tokio::spawn,
    ))
}

/// The caller's active rules, loaded once per request however many leads ask.
pub async fn active_rules_for_request(
    ctx: &Context<'_>,
) -> async_graphql::Result<Arc<Vec<entity::lead_scoring_rules::Model>>> {
    let tenant_id = caller(ctx)?.tenant_id;
    let loader = ctx
        .data_opt::<DataLoader<ActiveRulesLoader>>()
        .ok_or_else(|| AppError::unauthenticated("sign in or send an API key"))?;
    Ok(loader
        .load_one(tenant_id)
        .await
        .map_err(|e| loader_error(&e))?
        .unwrap_or_default())
}
