//! `messages`, `message`, `sendMessage`, `sendBulkMessages`,
//! `resendMessage`.

use async_graphql::{Context, ID, Object};

use super::service;
use super::types::{
    BulkSendResult, Message, MessageFilter, SendBulkMessagesInput, SendMessageInput,
};
use crate::graphql::audit::touch;
use crate::graphql::pagination::{PageArgs, RelayConnection, connection, cost};
use crate::graphql::{caller, parse_id, shared};

#[derive(Default)]
pub(crate) struct MessageQuery;

#[Object]
impl MessageQuery {
    /// Your tenant's messages, newest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        filter: Option<MessageFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<RelayConnection<Message>> {
        let args = PageArgs::new(first, after, last, before);
        let (page, totals) = service::list(shared(ctx), caller(ctx)?, &args, filter).await?;
        Ok(connection(page, totals, |row| row.id, Message::from))
    }

    /// One message with its events.
    async fn message(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Message> {
        let id = parse_id(&id, "id")?;
        Ok(service::get(shared(ctx), caller(ctx)?, id).await?.into())
    }
}

#[derive(Default)]
pub(crate) struct MessageMutation;

#[Object]
impl MessageMutation {
    /// Renders a template (or inline content) for a lead and queues it; a
    /// worker delivers it over SMTP. Refused for suppressed addresses and
    /// once the tenant's daily limit is reached.
    async fn send_message(
        &self,
        ctx: &Context<'_>,
        input: SendMessageInput,
    ) -> async_graphql::Result<Message> {
        let message = service::send(shared(ctx), caller(ctx)?, input).await?;
        touch(ctx, "message", message.id);
        Ok(message.into())
    }

    /// Queues one template for many leads (at most 10,000); leads that
    /// cannot receive it are listed with the reason.
    async fn send_bulk_messages(
        &self,
        ctx: &Context<'_>,
        input: SendBulkMessagesInput,
    ) -> async_graphql::Result<BulkSendResult> {
        let template = parse_id(&input.template_id, "input.templateId")?;
        touch(ctx, "message_template", template);
        let (queued, skipped) = service::send_bulk(shared(ctx), caller(ctx)?, input).await?;
        Ok(BulkSendResult { queued, skipped })
    }

    /// Admins only: sends again a message whose delivery outcome is
    /// `UNKNOWN` (it may have arrived: the recipient may get two copies) or
    /// that `FAILED`. It is queued again under a new Message-ID; the
    /// `message.resent` domain event keeps what it was.
    async fn resend_message(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Message> {
        let id = parse_id(&id, "id")?;
        touch(ctx, "message", id);
        Ok(service::resend(shared(ctx), caller(ctx)?, id).await?.into())
    }
}
