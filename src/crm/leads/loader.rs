//! A page of leads' tags in one query.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use entity::lead_tags;

use crate::error::{AppError, AppResult};
use crate::tenancy::scoped::{ReadScope, end_read, tenant_rows};

pub(crate) struct TagsLoader {
    pub scope: ReadScope,
}

impl Loader<Uuid> for TagsLoader {
    type Value = Vec<String>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let run = async {
            let reader = self.scope.read().await?;
            let rows = tenant_rows::<lead_tags::Entity>(self.scope.ctx().tenant_id)
                .filter(lead_tags::Column::LeadId.is_in(keys.iter().copied()))
                .order_by_asc(lead_tags::Column::Tag)
                .all(&reader)
                .await?;
            end_read(reader).await?;
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

/// A company's live leads, for the `totalCount` of `company.leads`.
pub(crate) struct LeadsOfCompany;

impl crate::graphql::loaders::ChildRelation for LeadsOfCompany {
    type Entity = entity::leads::Entity;

    fn parent_column() -> entity::leads::Column {
        entity::leads::Column::CompanyId
    }

    fn parent_of(child: &entity::leads::Model) -> Uuid {
        child.company_id.unwrap_or_default()
    }

    fn condition() -> sea_orm::Condition {
        sea_orm::Condition::all().add(entity::leads::Column::DeletedAt.is_null())
    }
}
