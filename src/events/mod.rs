//! The event hub: changes inside a tenant, published to live subscribers.
//!
//! In-process broadcast for now. Engagement streaming (with its replay from a
//! cursor and PostgreSQL LISTEN/NOTIFY fan-out across nodes) builds on this.

mod resolver;

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;
use uuid::Uuid;

pub use resolver::EventSubscription;

/// What happened in a tenant.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantEventKind {
    MemberInvited,
    MemberJoined,
    MemberRoleChanged,
    MemberRemoved,
    ApiKeyCreated,
    ApiKeyRevoked,
    TenantUpdated,
}

/// One event. `tenant_id` routes it and never leaves the server.
#[derive(Clone, Debug)]
pub struct TenantEvent {
    pub tenant_id: Uuid,
    pub kind: TenantEventKind,
    pub subject_id: Uuid,
    pub actor_id: Option<Uuid>,
    pub at: DateTime<Utc>,
}

/// Publishes events to every subscriber of this process.
#[derive(Clone)]
pub struct EventHub {
    sender: broadcast::Sender<TenantEvent>,
}

impl EventHub {
    /// `capacity` bounds memory: a subscriber more than that many events
    /// behind loses the oldest ones (and is told so) rather than growing a queue.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity);
        Self { sender }
    }

    pub fn publish(
        &self,
        tenant_id: Uuid,
        kind: TenantEventKind,
        subject_id: Uuid,
        actor_id: Option<Uuid>,
    ) {
        // No subscribers is not an error.
        let _ = self.sender.send(TenantEvent {
            tenant_id,
            kind,
            subject_id,
            actor_id,
            at: Utc::now(),
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<TenantEvent> {
        self.sender.subscribe()
    }
}
