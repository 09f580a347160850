//! `customFieldDefinitions`, `createCustomFieldDefinition`,
//! `updateCustomFieldDefinition`, `deleteCustomFieldDefinition`.

use async_graphql::{Context, ID, Object};

use super::service;
use super::types::{
    CreateCustomFieldDefinitionInput, CustomFieldDefinition, CustomFieldEntity,
    UpdateCustomFieldDefinitionInput,
};
use crate::graphql::audit::touch;
use crate::graphql::pagination::{PageArgs, RelayConnection, cost};
use crate::graphql::{caller, parse_id, shared};

#[derive(Default)]
pub(crate) struct CustomFieldQuery;

#[Object]
impl CustomFieldQuery {
    /// Your tenant's custom fields of `entity` (all entities when omitted),
    /// in display order.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn custom_field_definitions(
        &self,
        ctx: &Context<'_>,
        entity: Option<CustomFieldEntity>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<RelayConnection<CustomFieldDefinition>> {
        let args = PageArgs::new(first, after, last, before);
        Ok(service::list(shared(ctx), caller(ctx)?, entity.map(Into::into), &args).await?)
    }
}

#[derive(Default)]
pub(crate) struct CustomFieldMutation;

#[Object]
impl CustomFieldMutation {
    /// Adds a custom field to leads or companies. Admins only.
    async fn create_custom_field_definition(
        &self,
        ctx: &Context<'_>,
        input: CreateCustomFieldDefinitionInput,
    ) -> async_graphql::Result<CustomFieldDefinition> {
        let definition = service::create(shared(ctx), caller(ctx)?, input).await?;
        touch(ctx, "custom_field_definition", definition.id);
        Ok(definition.into())
    }

    /// Changes a custom field's label, required flag, options, rules or
    /// position. Admins only.
    async fn update_custom_field_definition(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateCustomFieldDefinitionInput,
    ) -> async_graphql::Result<CustomFieldDefinition> {
        let id = parse_id(&id, "id")?;
        touch(ctx, "custom_field_definition", id);
        Ok(service::update(shared(ctx), caller(ctx)?, id, input)
            .await?
            .into())
    }

    /// Removes a custom field. Stored values under its key are dropped the
    /// next time each record is written. Admins only.
    async fn delete_custom_field_definition(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<CustomFieldDefinition> {
        let id = parse_id(&id, "id")?;
        touch(ctx, "custom_field_definition", id);
        Ok(service::delete(shared(ctx), caller(ctx)?, id).await?.into())
    }
}
