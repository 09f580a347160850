//! `form.fields` for a page of forms: one statement.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use entity::form_fields;

use crate::error::{AppError, AppResult};
use crate::tenancy::scoped::{ReadScope, end_read, scoped};

pub(crate) struct FieldsOfFormLoader {
    pub(crate) scope: ReadScope,
}

impl Loader<Uuid> for FieldsOfFormLoader {
    type Value = Vec<form_fields::Model>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let run = async {
            let reader = self.scope.read().await?;
            let rows = scoped::<form_fields::Entity>(self.scope.ctx())
                .filter(form_fields::Column::FormId.is_in(keys.iter().copied()))
                .order_by_asc(form_fields::Column::FormId)
                .order_by_asc(form_fields::Column::Position)
                .all(&reader)
                .await?;
            end_read(reader).await?;
            let mut by_form: HashMap<Uuid, Self::Value> = HashMap::new();
            for row in rows {
                by_form.entry(row.form_id).or_default().push(row);
            }
            AppResult::Ok(by_form)
        };
        run.await.map_err(Arc::new)
    }
}
