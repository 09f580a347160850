//! Users by id, batched: a page of members costs one query for their people.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use entity::users;

use crate::error::{AppError, AppResult};
use crate::tenancy::scoped::{ReadScope, end_read};

/// Users are global; callers only ever ask for ids they reached through
/// their own tenant's rows (memberships, audit entries). A signed-in
/// caller's request reads them in its own transaction (`scope`); an
/// anonymous one (sign-up, login) on the pool.
pub struct UserLoader {
    pub db: DatabaseConnection,
    pub scope: Option<ReadScope>,
}

impl Loader<Uuid> for UserLoader {
    type Value = users::Model;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let run = async {
            let find = users::Entity::find().filter(users::Column::Id.is_in(keys.iter().copied()));
            let rows = match &self.scope {
                Some(scope) => {
                    let txn = scope.read().await?;
                    let rows = find.all(&txn).await?;
                    end_read(txn).await?;
                    rows
                }
                None => find.all(&self.db).await?,
            };
            AppResult::Ok(rows.into_iter().map(|user| (user.id, user)).collect())
        };
        run.await.map_err(Arc::new)
    }
}
