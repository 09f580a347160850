//! `tenant` and `updateTenant`.

use async_graphql::{Context, Object};

use super::service;
use super::types::{Tenant, UpdateTenantInput};
use crate::graphql::audit::touch;
use crate::graphql::{caller, shared};

#[derive(Default)]
pub(crate) struct TenantQuery;

#[Object]
impl TenantQuery {
    /// Your tenant: profile, plan, limits, branding and settings.
    async fn tenant(&self, ctx: &Context<'_>) -> async_graphql::Result<Tenant> {
        Ok(service::get(shared(ctx), caller(ctx)?).await?.into())
    }
}

#[derive(Default)]
pub(crate) struct TenantMutation;

#[Object]
impl TenantMutation {
    /// Changes your tenant's profile, branding or settings. Admins only.
    async fn update_tenant(
        &self,
        ctx: &Context<'_>,
        input: UpdateTenantInput,
    ) -> async_graphql::Result<Tenant> {
        let tenant = service::update(shared(ctx), caller(ctx)?, input).await?;
        touch(ctx, "tenant", tenant.id);
        Ok(tenant.into())
    }
}
