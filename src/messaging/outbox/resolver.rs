//! `outboxEmails`.

use async_graphql::{Context, ID, Object};

use super::service;
use super::types::OutboxEmail;
use crate::graphql::pagination::{PageArgs, RelayConnection, connection, cost};
use crate::graphql::{caller, parse_id, shared};

#[derive(Default)]
pub(crate) struct OutboxQuery;

#[Object]
impl OutboxQuery {
    /// What your `OUTBOX` sender accounts "sent" (development only), newest
    /// first; `messageId` narrows it to one message's copy.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn outbox_emails(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        message_id: Option<ID>,
    ) -> async_graphql::Result<RelayConnection<OutboxEmail>> {
        let args = PageArgs::new(first, after, last, before);
        let message_id = message_id
            .map(|id| parse_id(&id, "messageId"))
            .transpose()?;
        let (page, totals) = service::list(shared(ctx), caller(ctx)?, &args, message_id).await?;
        Ok(connection(page, totals, |row| row.id, OutboxEmail::from))
    }
}
