//! The tenant's active rules, loaded once per request: a page of 50 leads
//! asking for `scoreBreakdown` costs one query for the rules, not 50.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use entity::lead_scoring_rules;

use crate::error::{AppError, AppResult};
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::begin;

/// Keyed by tenant id; only the caller's own tenant is ever answered.
pub struct ActiveRulesLoader {
    db: DatabaseConnection,
    ctx: RequestCtx,
}

impl ActiveRulesLoader {
    pub fn new(db: DatabaseConnection, ctx: RequestCtx) -> Self {
        Self { db, ctx }
    }
}

impl Loader<Uuid> for ActiveRulesLoader {
    type Value = Arc<Vec<lead_scoring_rules::Model>>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        if !keys.contains(&self.ctx.tenant_id) {
            return Ok(HashMap::new());
        }
        let run = async {
            let txn = begin(&self.db, &self.ctx).await?;
            let rules = super::service::active_rules(&txn, &self.ctx).await?;
            txn.commit().await?;
            AppResult::Ok(HashMap::from([(self.ctx.tenant_id, Arc::new(rules))]))
        };
        run.await.map_err(Arc::new)
    }
}
