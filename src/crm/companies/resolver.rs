//! `companies`, `company`, `createCompany`, `updateCompany`, `deleteCompany`.

use async_graphql::{Context, ID, Object};

use super::service;
use super::types::{Company, CompanyFilter, CreateCompanyInput, UpdateCompanyInput};
use crate::graphql::audit::touch;
use crate::graphql::joins::load_batches;
use crate::graphql::pagination::{PageArgs, RelayConnection, connection, cost};
use crate::graphql::{caller, parse_id, shared};

#[derive(Default)]
pub(crate) struct CompanyQuery;

#[Object]
impl CompanyQuery {
    /// Your tenant's companies, newest first. `search` matches the name or
    /// the domain, ignoring case; `filter` on their attributes.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    #[expect(
        clippy::too_many_arguments,
        reason = "the Relay arguments plus search and filter"
    )]
    async fn companies(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        search: Option<String>,
        filter: Option<CompanyFilter>,
    ) -> async_graphql::Result<RelayConnection<Company>> {
        let args = PageArgs::new(first, after, last, before);
        let (page, totals) =
            service::list(shared(ctx), caller(ctx)?, &args, search, filter).await?;
        load_batches(ctx, &page.rows, Company::BATCHES).await?;
        Ok(connection(page, totals, |row| row.id, Company::from))
    }

    /// One company by id.
    async fn company(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Company> {
        let id = parse_id(&id, "id")?;
        Ok(service::get(shared(ctx), caller(ctx)?, id).await?.into())
    }
}

#[derive(Default)]
pub(crate) struct CompanyMutation;

#[Object]
impl CompanyMutation {
    /// Creates a company. A website whose domain another of your companies
    /// has is refused on `input.website`, naming that company.
    async fn create_company(
        &self,
        ctx: &Context<'_>,
        input: CreateCompanyInput,
    ) -> async_graphql::Result<Company> {
        let company = service::create(shared(ctx), caller(ctx)?, input).await?;
        touch(ctx, "company", company.id);
        Ok(company.into())
    }

    /// Changes a company.
    async fn update_company(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateCompanyInput,
    ) -> async_graphql::Result<Company> {
        let id = parse_id(&id, "id")?;
        touch(ctx, "company", id);
        Ok(service::update(shared(ctx), caller(ctx)?, id, input)
            .await?
            .into())
    }

    /// Deletes a company (softly: its leads keep pointing at it). Returns
    /// the company as it was.
    async fn delete_company(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Company> {
        let id = parse_id(&id, "id")?;
        touch(ctx, "company", id);
        Ok(service::delete(shared(ctx), caller(ctx)?, id).await?.into())
    }
}
