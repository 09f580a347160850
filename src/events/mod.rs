//! Events (ARCHITECTURE.md, "Events"): the outbox of domain events, and the
//! one hub through which every stored event, engagement or domain, reaches
//! live subscribers on every node.
//!
//! A change writes its events in its own transaction ([`outbox::record`],
//! or [`commit_with`] which also commits and publishes), so an event exists
//! exactly when the change committed. Consumers that must not miss one read
//! the log from their own cursor ([`outbox::read_after`], the `domainEvents`
//! query); live subscriptions use the hub.

pub mod hub;
pub mod kinds;
pub mod outbox;
mod resolver;
pub mod resume;

use sea_orm::DatabaseTransaction;

pub use hub::{Committed, EventHub, HubEvent, Stream};
pub use kinds::DomainEventKind;
pub use outbox::{NewDomainEvent, Origin};
pub use resolver::{EventQuery, EventSubscription, TenantEventKind};
pub use resume::{parse_cursor, resumable};

use crate::error::AppResult;
use crate::state::Shared;

/// Writes `events` as `txn`'s last step, commits, and publishes them: the
/// end of every service call that changes something events describe.
pub async fn commit_with(
    shared: &Shared,
    txn: DatabaseTransaction,
    origin: impl Into<Origin>,
    events: Vec<NewDomainEvent>,
) -> AppResult<()> {
    let written = outbox::record(&txn, origin, events).await?;
    txn.commit().await?;
    shared
        .hub
        .published_after_commit(&shared.db, written.into());
    Ok(())
}
