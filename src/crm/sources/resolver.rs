//! `leadSources`, `leadSource`, `createLeadSource`, `updateLeadSource`,
//! `deleteLeadSource`.

use async_graphql::{Context, ID, Object};

use super::service;
use super::types::{CreateLeadSourceInput, LeadSource, UpdateLeadSourceInput};
use crate::graphql::audit::touch;
use crate::graphql::pagination::{PageArgs, RelayConnection, connection, cost};
use crate::graphql::{caller, parse_id, shared};

#[derive(Default)]
pub(crate) struct LeadSourceQuery;

#[Object]
impl LeadSourceQuery {
    /// Your tenant's lead sources, newest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn lead_sources(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<RelayConnection<LeadSource>> {
        let args = PageArgs::new(first, after, last, before);
        let (page, totals) = service::list(shared(ctx), caller(ctx)?, &args).await?;
        Ok(connection(page, totals, |row| row.id, LeadSource::from))
    }

    /// One lead source by id.
    async fn lead_source(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<LeadSource> {
        let id = parse_id(&id, "id")?;
        Ok(service::get(shared(ctx), caller(ctx)?, id).await?.into())
    }
}

#[derive(Default)]
pub(crate) struct LeadSourceMutation;

#[Object]
impl LeadSourceMutation {
    /// Creates a lead source.
    async fn create_lead_source(
        &self,
        ctx: &Context<'_>,
        input: CreateLeadSourceInput,
    ) -> async_graphql::Result<LeadSource> {
        let source = service::create(shared(ctx), caller(ctx)?, input).await?;
        touch(ctx, "lead_source", source.id);
        Ok(source.into())
    }

    /// Changes a lead source.
    async fn update_lead_source(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateLeadSourceInput,
    ) -> async_graphql::Result<LeadSource> {
        let id = parse_id(&id, "id")?;
        touch(ctx, "lead_source", id);
        Ok(service::update(shared(ctx), caller(ctx)?, id, input)
            .await?
            .into())
    }

    /// Deletes a lead source (softly: leads keep it). Returns the source as
    /// it was.
    async fn delete_lead_source(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<LeadSource> {
        let id = parse_id(&id, "id")?;
        touch(ctx, "lead_source", id);
        Ok(service::delete(shared(ctx), caller(ctx)?, id).await?.into())
    }
}
