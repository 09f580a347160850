//! What a newcomer needs to see a delivery happen (or not):
//!
//! - `messages.next_attempt_at`: when a queued message will be tried again
//!   after a failed attempt (its `error` says why that attempt failed, and
//!   `attempts` counts every attempt, not only those that reached DATA).
//! - `sender_accounts.transport`: `smtp` (the default everywhere) or
//!   `outbox`, a development-only transport that stores the message exactly
//!   as it would have been sent, so sending works on a bare machine.
//! - `outbox_emails`: what the outbox transport stored, one row per message
//!   handed to it, shown through the API.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{text, timestamp_with_time_zone_null, uuid, uuid_null};

use crate::helpers::{
    PgEnum, create_enum, created_at, drop_enum, enum_column, exec, index, tenant_owned_table,
    tenant_ref,
};
use crate::rls::{disable_tenant_rls, enable_tenant_rls};

/// How a sender account hands messages over.
pub const SENDER_TRANSPORT: PgEnum = PgEnum {
    name: "sender_transport",
    variants: &["smtp", "outbox"],
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_database_backend();
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("messages"))
                    .add_column(timestamp_with_time_zone_null("next_attempt_at"))
                    .to_owned(),
            )
            .await?;

        create_enum(manager, SENDER_TRANSPORT).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("sender_accounts"))
                    .add_column(
                        enum_column(db, "sender_accounts", "transport", SENDER_TRANSPORT)
                            .default("smtp")
                            .to_owned(),
                    )
                    .to_owned(),
            )
            .await?;

        let t = "outbox_emails";
        let mut table = tenant_owned_table(t);
        table
            .col(uuid("message_id"))
            .col(uuid_null("sender_id"))
            .col(text("envelope_from"))
            .col(text("recipient"))
            .col(text("subject"))
            // The whole RFC 5322 message, headers included, as the SMTP
            // transport would have sent it.
            .col(text("raw"))
            .col(created_at(db))
            .foreign_key(
                &mut tenant_ref(t, "message_id", "messages")
                    .on_delete(ForeignKeyAction::Cascade)
                    .to_owned(),
            )
            // Sender accounts are only ever soft-deleted.
            .foreign_key(&mut tenant_ref(t, "sender_id", "sender_accounts"));
        manager.create_table(table).await?;
        manager
            .create_index(index(t, &["tenant_id", "created_at", "id"]))
            .await?;
        manager
            .create_index(index(t, &["tenant_id", "message_id"]))
            .await?;
        enable_tenant_rls(manager, t).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        disable_tenant_rls(manager, "outbox_emails").await?;
        exec(manager, "DROP TABLE IF EXISTS outbox_emails").await?;
        for (table, column) in [
            ("sender_accounts", "transport"),
            ("messages", "next_attempt_at"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .drop_column(Alias::new(column))
                        .to_owned(),
                )
                .await?;
        }
        drop_enum(manager, SENDER_TRANSPORT).await?;
        Ok(())
    }
}
