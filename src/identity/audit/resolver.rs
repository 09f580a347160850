//! `auditLog`: admins read their tenant's audit trail.

use async_graphql::{Context, Object};

use super::service;
use super::types::{AuditEntry, AuditFilter};
use crate::graphql::pagination::{PageArgs, RelayConnection, connection, cost};
use crate::graphql::{caller, shared};

#[derive(Default)]
pub(crate) struct AuditQuery;

#[Object]
impl AuditQuery {
    /// Every mutation attempt in your tenant, newest first. Admins only.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<RelayConnection<AuditEntry>> {
        let args = PageArgs::new(first, after, last, before);
        let (page, totals) =
            service::list(shared(ctx), caller(ctx)?, filter.unwrap_or_default(), &args).await?;
        Ok(connection(page, totals, |row| row.id, AuditEntry::from))
    }
}
