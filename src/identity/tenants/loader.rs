//! Plans by id, batched: a list of tenants (`me.memberships`) costs one query.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use entity::plans;

/// Plans are a global table (no tenant), so this loader needs no tenant binding.
pub(crate) struct PlanLoader {
    pub db: DatabaseConnection,
}

impl Loader<Uuid> for PlanLoader {
    type Value = plans::Model;
    type Error = Arc<sea_orm::DbErr>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = plans::Entity::find()
            .filter(plans::Column::Id.is_in(keys.iter().copied()))
            .all(&self.db)
            .await
            .map_err(Arc::new)?;
        Ok(rows.into_iter().map(|plan| (plan.id, plan)).collect())
    }
}
