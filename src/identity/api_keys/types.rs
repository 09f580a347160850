//! GraphQL shapes of API keys.

use async_graphql::{ID, SimpleObject};
use chrono::{DateTime, Utc};

use entity::api_keys;

use crate::graphql::to_id;
use crate::identity::auth::authenticate::parse_scopes;
use crate::tenancy::Scope;

/// A partner's key. The secret itself is never shown again after creation.
#[derive(SimpleObject)]
pub(crate) struct ApiKey {
    pub id: ID,
    pub name: String,
    /// Enough of the key to recognise it, e.g. `phk_…a1B2c3`.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<api_keys::Model> for ApiKey {
    fn from(key: api_keys::Model) -> Self {
        Self {
            id: to_id(key.id),
            name: key.name,
            prefix: key.prefix,
            scopes: parse_scopes(&key.scopes),
            created_at: key.created_at.to_utc(),
            expires_at: key.expires_at.map(|at| at.to_utc()),
            last_used_at: key.last_used_at.map(|at| at.to_utc()),
            revoked_at: key.revoked_at.map(|at| at.to_utc()),
        }
    }
}

/// A new key: `key` is shown this once.
#[derive(SimpleObject)]
pub(super) struct CreatedApiKey {
    pub api_key: ApiKey,
    /// Send as `Authorization: Bearer <key>`. Store it now: it cannot be shown again.
    pub key: String,
}
