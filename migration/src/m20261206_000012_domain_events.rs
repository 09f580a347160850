//! The outbox of domain events (ARCHITECTURE.md, "Events"): lead created
//! and changed, membership, API key and tenant changes, and the kinds later
//! features add (form submitted, segment entered, import finished…).
//!
//! A service writes its events in the transaction that made the change, so
//! an event exists exactly when its change committed. Sequence numbers come
//! from `domain_event_sequences` as engagement's do from
//! `engagement_sequences`: an upsert that holds the tenant's row until
//! commit hands numbers out in commit order, so a consumer reading "after
//! N" from its own cursor never misses an event that commits later with a
//! smaller number.
//!
//! `kind` is text (`lead.created`, `member.joined`…) rather than an enum
//! type: every feature adds kinds, and a node running the previous release
//! must still read a log that holds a newer one.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::helpers::{created_at, index, tenant_fk, tenant_owned_table, unique_key};
use crate::rls::{disable_tenant_rls, enable_tenant_rls};

const EVENTS: &str = "domain_events";
const SEQUENCES: &str = "domain_event_sequences";

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table(SEQUENCES)
                    .col(uuid("tenant_id").primary_key())
                    .col(big_integer("last_seq").default(0))
                    .foreign_key(&mut tenant_fk(SEQUENCES))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                tenant_owned_table(EVENTS)
                    .col(big_integer("seq"))
                    .col(text("kind"))
                    // The lead, member, invite, API key or tenant it is about.
                    .col(uuid("subject_id"))
                    // The user or API key that caused it; none for the system.
                    .col(uuid_null("actor_id"))
                    // What changed (for `lead.changed`, the fields).
                    .col(json_binary("payload").default("{}"))
                    .col(created_at(db))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                unique_key(EVENTS, &["tenant_id", "seq"])
                    .table(EVENTS)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(EVENTS, &["tenant_id", "subject_id", "seq"]))
            .await?;
        enable_tenant_rls(manager, SEQUENCES).await?;
        enable_tenant_rls(manager, EVENTS).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        disable_tenant_rls(manager, EVENTS).await?;
        disable_tenant_rls(manager, SEQUENCES).await?;
        manager
            .drop_table(Table::drop().table(EVENTS).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SEQUENCES).to_owned())
            .await
    }
}
