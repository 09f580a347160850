//! Per-request dataloaders: every list field resolves its relations through
//! these, so a page of N items costs a fixed number of queries, not N.
//! Built fresh for each request so nothing cached outlives it.

use async_graphql::dataloader::DataLoader;

use crate::app::Shared;
use crate::members::UserLoader;
use crate::tenants::PlanLoader;

/// Adds every loader to the request.
pub fn attach(request: async_graphql::Request, shared: &Shared) -> async_graphql::Request {
    let db = shared.db.clone();
    request
        .data(DataLoader::new(PlanLoader { db: db.clone() }, tokio::spawn))
        .data(DataLoader::new(UserLoader { db }, tokio::spawn))
}
