//! `suppressions`, `suppression`, `addSuppression`, `removeSuppression`.

use async_graphql::{Context, Object};

use super::service;
use super::types::{Suppression, SuppressionReason};
use crate::graphql::audit::touch;
use crate::graphql::pagination::{PageArgs, RelayConnection, connection, cost};
use crate::graphql::{caller, shared};

#[derive(Default)]
pub struct SuppressionQuery;

#[Object]
impl SuppressionQuery {
    /// Your tenant's suppressed addresses, newest first; `search` matches
    /// part of the address.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn suppressions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        search: Option<String>,
    ) -> async_graphql::Result<RelayConnection<Suppression>> {
        let args = PageArgs::new(first, after, last, before);
        let (page, totals) =
            service::list(shared(ctx), caller(ctx)?, &args, search.as_deref()).await?;
        Ok(connection(page, totals, |row| row.id, Suppression::from))
    }

    /// Why `email` is suppressed; `NOT_FOUND` when it is not.
    async fn suppression(
        &self,
        ctx: &Context<'_>,
        email: String,
    ) -> async_graphql::Result<Suppression> {
        Ok(service::get(shared(ctx), caller(ctx)?, &email)
            .await?
            .into())
    }
}

#[derive(Default)]
pub struct SuppressionMutation;

#[Object]
impl SuppressionMutation {
    /// Suppresses an address (`reason`: `MANUAL` when omitted). Adding one
    /// already on the list changes nothing and returns the existing entry.
    async fn add_suppression(
        &self,
        ctx: &Context<'_>,
        email: String,
        reason: Option<SuppressionReason>,
        detail: Option<String>,
    ) -> async_graphql::Result<Suppression> {
        let reason = reason.unwrap_or(SuppressionReason::Manual).into();
        let suppression = service::add(shared(ctx), caller(ctx)?, &email, reason, detail).await?;
        touch(ctx, "suppression", suppression.id);
        Ok(suppression.into())
    }

    /// Takes an address off the list, so it may be sent to again; true
    /// when removed (`NOT_FOUND` when it was not on the list). Admins only:
    /// sending to someone who unsubscribed breaks the law in many places.
    async fn remove_suppression(
        &self,
        ctx: &Context<'_>,
        email: String,
    ) -> async_graphql::Result<bool> {
        let id = service::remove(shared(ctx), caller(ctx)?, &email).await?;
        touch(ctx, "suppression", id);
        Ok(true)
    }
}
