//! Website analyses by domain, loaded once per request however many
//! companies of a page ask.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use entity::website_analyses;

use crate::error::{AppError, AppResult};
use crate::tenancy::scoped::{ReadScope, end_read};

/// Keyed by domain. The table is shared by every tenant and holds no
/// tenant's data; the keys come from the caller's own companies.
pub(crate) struct WebsiteAnalysisLoader {
    pub scope: ReadScope,
}

impl Loader<String> for WebsiteAnalysisLoader {
    type Value = website_analyses::Model;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        let run = async {
            let reader = self.scope.read().await?;
            let rows = website_analyses::Entity::find()
                .filter(website_analyses::Column::Domain.is_in(keys.iter().cloned()))
                .all(&reader)
                .await?;
            end_read(reader).await?;
            AppResult::Ok(
                rows.into_iter()
                    .map(|row| (row.domain.clone(), row))
                    .collect(),
            )
        };
        run.await.map_err(Arc::new)
    }
}

/// The website analysis of the caller's company `id`, through the
/// request's loaders (a page of leads asks for its companies once).
pub(crate) async fn of_company_in_request(
    ctx: &async_graphql::Context<'_>,
    id: uuid::Uuid,
) -> async_graphql::Result<Option<website_analyses::Model>> {
    let company = crate::graphql::loaders::load_by_id::<entity::companies::Entity>(ctx, id).await?;
    let Some(domain) = company.and_then(|company| company.domain) else {
        return Ok(None);
    };
    crate::graphql::loaders::load_one::<WebsiteAnalysisLoader, _>(ctx, domain).await
}
