//! `apiKeys`, `createApiKey`, `revokeApiKey`.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};

use super::service;
use super::types::{ApiKey, CreatedApiKey};
use crate::graphql::audit::touch;
use crate::graphql::pagination::{PageArgs, RelayConnection, connection, cost};
use crate::graphql::{caller, parse_id, shared};
use crate::tenancy::Scope;

#[derive(Default)]
pub(crate) struct ApiKeyQuery;

#[Object]
impl ApiKeyQuery {
    /// Your tenant's API keys, newest first. Admins only.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn api_keys(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<RelayConnection<ApiKey>> {
        let args = PageArgs::new(first, after, last, before);
        let (page, totals) = service::list(shared(ctx), caller(ctx)?, &args).await?;
        Ok(connection(page, totals, |row| row.id, ApiKey::from))
    }
}

#[derive(Default)]
pub(crate) struct ApiKeyMutation;

#[Object]
impl ApiKeyMutation {
    /// Creates a key for a partner integration. The key is returned once.
    /// Admins only.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        name: String,
        scopes: Vec<Scope>,
        expires_at: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<CreatedApiKey> {
        let (key, secret) =
            service::create(shared(ctx), caller(ctx)?, &name, scopes, expires_at).await?;
        touch(ctx, "api_key", key.id);
        Ok(CreatedApiKey {
            api_key: key.into(),
            key: secret,
        })
    }

    /// Revokes a key at once. Admins only.
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ApiKey> {
        let id = parse_id(&id, "id")?;
        Ok(service::revoke(shared(ctx), caller(ctx)?, id).await?.into())
    }
}
