//! `senderAccounts`, `senderAccount`, `createSenderAccount`,
//! `updateSenderAccount`, `testSenderAccount`, `testSenderMailbox`,
//! `deleteSenderAccount`.

use async_graphql::{Context, ID, Object};

use super::service;
use super::types::{
    CreateSenderAccountInput, SenderAccount, SenderTestResult, UpdateSenderAccountInput,
};
use crate::graphql::audit::touch;
use crate::graphql::pagination::{PageArgs, RelayConnection, connection_with_cursors, cost};
use crate::graphql::{caller, parse_id, shared};
use crate::messaging::mailboxes::types::MailboxTestResult;

#[derive(Default)]
pub struct SenderAccountQuery;

#[Object]
impl SenderAccountQuery {
    /// Your tenant's sender accounts in failover order: higher priority
    /// first, then the older account.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn sender_accounts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<RelayConnection<SenderAccount>> {
        let args = PageArgs::new(first, after, last, before);
        let (page, totals) = service::list(shared(ctx), caller(ctx)?, &args).await?;
        Ok(connection_with_cursors(
            page,
            totals,
            |row| service::failover_order().cursor_of(&row.account),
            SenderAccount::from,
        ))
    }

    /// One sender account by id.
    async fn sender_account(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<SenderAccount> {
        let id = parse_id(&id, "id")?;
        Ok(service::get(shared(ctx), caller(ctx)?, id).await?.into())
    }
}

#[derive(Default)]
pub struct SenderAccountMutation;

#[Object]
impl SenderAccountMutation {
    /// Adds an SMTP account. Admins only.
    async fn create_sender_account(
        &self,
        ctx: &Context<'_>,
        input: CreateSenderAccountInput,
    ) -> async_graphql::Result<SenderAccount> {
        let row = service::create(shared(ctx), caller(ctx)?, input).await?;
        touch(ctx, "sender_account", row.account.id);
        Ok(row.into())
    }

    /// Changes an SMTP account. Admins only.
    async fn update_sender_account(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateSenderAccountInput,
    ) -> async_graphql::Result<SenderAccount> {
        let id = parse_id(&id, "id")?;
        touch(ctx, "sender_account", id);
        Ok(service::update(shared(ctx), caller(ctx)?, id, input)
            .await?
            .into())
    }

    /// Runs the SMTP handshake with the account's server (connect,
    /// greeting, EHLO, STARTTLS or TLS, AUTH, QUIT; nothing is sent) and
    /// answers with what the server said. Admins only.
    async fn test_sender_account(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<SenderTestResult> {
        let id = parse_id(&id, "id")?;
        Ok(service::test(shared(ctx), caller(ctx)?, id).await?)
    }

    /// Runs the IMAP conversation with the account's mailbox (connect,
    /// TLS, greeting, LOGIN, SELECT; nothing is read or changed) and
    /// answers with what the server said. Admins only.
    async fn test_sender_mailbox(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<MailboxTestResult> {
        let id = parse_id(&id, "id")?;
        Ok(crate::messaging::mailboxes::service::test(shared(ctx), caller(ctx)?, id).await?)
    }

    /// Deletes an SMTP account (softly: messages sent through it keep it).
    /// Returns the account as it was. Admins only.
    async fn delete_sender_account(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<SenderAccount> {
        let id = parse_id(&id, "id")?;
        touch(ctx, "sender_account", id);
        Ok(service::delete(shared(ctx), caller(ctx)?, id).await?.into())
    }
}
