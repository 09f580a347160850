//! `customVariables`, `createCustomVariable`, `updateCustomVariable`,
//! `deleteCustomVariable`.

use async_graphql::{Context, ID, Object};

use super::service;
use super::types::{
    CreateCustomVariableInput, CustomVariable, CustomVariableCategory, UpdateCustomVariableInput,
};
use crate::graphql::audit::touch;
use crate::graphql::pagination::{PageArgs, RelayConnection, cost};
use crate::graphql::{caller, parse_id, shared};

#[derive(Default)]
pub struct CustomVariableQuery;

#[Object]
impl CustomVariableQuery {
    /// Your tenant's custom variables (of one category when given), by key.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn custom_variables(
        &self,
        ctx: &Context<'_>,
        category: Option<CustomVariableCategory>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<RelayConnection<CustomVariable>> {
        let args = PageArgs::new(first, after, last, before);
        Ok(service::list(shared(ctx), caller(ctx)?, category, &args).await?)
    }
}

#[derive(Default)]
pub struct CustomVariableMutation;

#[Object]
impl CustomVariableMutation {
    /// Adds a custom variable.
    async fn create_custom_variable(
        &self,
        ctx: &Context<'_>,
        input: CreateCustomVariableInput,
    ) -> async_graphql::Result<CustomVariable> {
        let variable = service::create(shared(ctx), caller(ctx)?, input).await?;
        touch(ctx, "custom_variable", variable.id);
        Ok(variable.into())
    }

    /// Changes a custom variable's label, category, description, default
    /// value or active flag.
    async fn update_custom_variable(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateCustomVariableInput,
    ) -> async_graphql::Result<CustomVariable> {
        let id = parse_id(&id, "id")?;
        touch(ctx, "custom_variable", id);
        Ok(service::update(shared(ctx), caller(ctx)?, id, input)
            .await?
            .into())
    }

    /// Deletes a custom variable for good. Returns it as it was.
    async fn delete_custom_variable(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<CustomVariable> {
        let id = parse_id(&id, "id")?;
        touch(ctx, "custom_variable", id);
        Ok(service::delete(shared(ctx), caller(ctx)?, id).await?.into())
    }
}
