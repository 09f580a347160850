//! A page of leads' tags in one query.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use entity::lead_tags;

use crate::error::{AppError, AppResult};
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::begin;

pub struct TagsLoader {
    pub db: DatabaseConnection,
    pub ctx: RequestCtx,
}

impl Loader<Uuid> for TagsLoader {
    type Value = Vec<String>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let run = async {
            let txn = begin(&self.db, &self.ctx).await?;
            let rows = lead_tags::Entity::find()
                .filter(lead_tags::Column::TenantId.eq(self.ctx.tenant_id))
                .filter(lead_tags::Column::LeadId.is_in(keys.iter().copied()))
                .order_by_asc(lead_tags::Column::Tag)
                .all(&txn)
                .await?;
            txn.commit().await?;
            let mut tags: HashMap<Uuid, Vec<String>> =
                keys.iter().map(|k| (*k, Vec::new())).collect();
            for row in rows {
                tags.entry(row.lead_id).or_default().push(row.tag);
            }
            AppResult::Ok(tags)
        };
        run.await.map_err(Arc::new)
    }
}
