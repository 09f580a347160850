//! `tenantEvents`: the caller's tenant's membership and key changes, live.

use async_graphql::{Context, ID, Object, Subscription};
use futures::{Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;

use super::{TenantEvent, TenantEventKind};
use crate::graphql::{caller, shared};

#[Object(name = "TenantEvent")]
impl TenantEvent {
    async fn kind(&self) -> TenantEventKind {
        self.kind
    }

    /// The member, invite, API key or tenant the event is about.
    async fn subject_id(&self) -> ID {
        ID(self.subject_id.to_string())
    }

    /// The user or API key that caused it.
    async fn actor_id(&self) -> Option<ID> {
        self.actor_id.map(|id| ID(id.to_string()))
    }

    async fn at(&self) -> chrono::DateTime<chrono::Utc> {
        self.at
    }
}

#[derive(Default)]
pub struct EventSubscription;

#[Subscription]
impl EventSubscription {
    /// Membership, invite, API key and tenant changes in your tenant, as they happen.
    async fn tenant_events(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = TenantEvent>> {
        let tenant_id = caller(ctx)?.tenant_id;
        let receiver = shared(ctx).hub.subscribe();
        Ok(
            BroadcastStream::new(receiver).filter_map(move |event| async move {
                // A lagged receiver skips what it missed; only own-tenant events pass.
                event.ok().filter(|event| event.tenant_id == tenant_id)
            }),
        )
    }
}
