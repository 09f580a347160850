//! GraphQL shapes of settings.

use crate::graphql::json::Json;
use async_graphql::{ID, SimpleObject};
use chrono::{DateTime, Utc};

use entity::settings;

/// One setting of your tenant.
#[derive(SimpleObject)]
pub(crate) struct Setting {
    pub id: ID,
    /// Lowercase, e.g. `mail.footer` or `ui.default_page_size`.
    pub key: String,
    pub value: Json<serde_json::Value>,
    pub updated_at: DateTime<Utc>,
}

impl From<settings::Model> for Setting {
    fn from(row: settings::Model) -> Self {
        Self {
            id: crate::graphql::to_id(row.id),
            key: row.key,
            value: Json(row.value),
            updated_at: row.updated_at.to_utc(),
        }
    }
}
