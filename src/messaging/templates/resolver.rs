//! `messageTemplates`, `messageTemplate`, `previewTemplate`,
//! `createMessageTemplate`, `updateMessageTemplate`, `deleteMessageTemplate`.

use crate::graphql::json::Json;
use async_graphql::{Context, ID, Object};

use super::service;
use super::types::{
    CreateMessageTemplateInput, MessageChannel, MessageTemplate, RenderedMessage, TemplateCategory,
    UpdateMessageTemplateInput,
};
use crate::graphql::audit::touch;
use crate::graphql::pagination::{PageArgs, RelayConnection, connection, cost};
use crate::graphql::{caller, parse_id, shared};

#[derive(Default)]
pub(crate) struct TemplateQuery;

#[Object]
impl TemplateQuery {
    /// Your tenant's message templates, newest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn message_templates(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        channel: Option<MessageChannel>,
        category: Option<TemplateCategory>,
    ) -> async_graphql::Result<RelayConnection<MessageTemplate>> {
        let args = PageArgs::new(first, after, last, before);
        let (page, totals) = service::list(
            shared(ctx),
            caller(ctx)?,
            &args,
            channel.map(Into::into),
            category,
        )
        .await?;
        Ok(connection(
            page,
            totals,
            |row| row.id,
            MessageTemplate::from,
        ))
    }

    async fn message_template(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<MessageTemplate> {
        let id = parse_id(&id, "id")?;
        Ok(service::get(shared(ctx), caller(ctx)?, id).await?.into())
    }

    /// The template rendered for a lead, as it would be sent (without the
    /// tracking rewrite). `variables` gives values for declared variables.
    async fn preview_template(
        &self,
        ctx: &Context<'_>,
        template_id: ID,
        lead_id: ID,
        variables: Option<Json<serde_json::Value>>,
    ) -> async_graphql::Result<RenderedMessage> {
        let template_id = parse_id(&template_id, "templateId")?;
        let lead_id = parse_id(&lead_id, "leadId")?;
        let provided = variables
            .map(|v| v.into_object("variables"))
            .transpose()?
            .unwrap_or_default();
        Ok(crate::messaging::messages::compose::preview(
            shared(ctx),
            caller(ctx)?,
            template_id,
            lead_id,
            &provided,
        )
        .await?
        .into())
    }
}

#[derive(Default)]
pub(crate) struct TemplateMutation;

#[Object]
impl TemplateMutation {
    async fn create_message_template(
        &self,
        ctx: &Context<'_>,
        input: CreateMessageTemplateInput,
    ) -> async_graphql::Result<MessageTemplate> {
        let template = service::create(shared(ctx), caller(ctx)?, input).await?;
        touch(ctx, "message_template", template.id);
        Ok(template.into())
    }

    async fn update_message_template(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateMessageTemplateInput,
    ) -> async_graphql::Result<MessageTemplate> {
        let id = parse_id(&id, "id")?;
        touch(ctx, "message_template", id);
        Ok(service::update(shared(ctx), caller(ctx)?, id, input)
            .await?
            .into())
    }

    /// Deletes a template (softly: sent messages keep it). Returns it as it was.
    async fn delete_message_template(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<MessageTemplate> {
        let id = parse_id(&id, "id")?;
        touch(ctx, "message_template", id);
        Ok(service::delete(shared(ctx), caller(ctx)?, id).await?.into())
    }
}
