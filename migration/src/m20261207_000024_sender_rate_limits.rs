//! Sending limits as providers state them, held exactly across workers and
//! processes (issue 18):
//!
//! - `sender_accounts.rate_limits`: any number of sliding windows, a JSON
//!   array of `{"limit": N, "per_seconds": S}` (SES's 14 per second, a
//!   host's 30 per minute, Gmail's 2,000 per day), beside the hourly and
//!   daily caps.
//! - `sender_accounts.min_delay_ms` / `max_delay_ms`: a random pause
//!   between two sends from the account; `next_send_at`: the account sends
//!   nothing before it (the pause after its last send, or the moment a full
//!   window frees a slot, so other workers skip it without taking its lock),
//!   and `next_send_reason` says which, for the messages that wait on it.
//! - `sender_accounts.domain_limit` / `domain_limit_seconds`: at most that
//!   many sends from the account to one recipient domain per window.
//! - `sender_accounts.throttled_until` / `throttle_strikes`: the provider
//!   answered with a throttling reply (4xx); the account rests until then,
//!   doubling with each strike in a row.
//! - `messages.recipient_domain`: set when a message takes a slot, so the
//!   domain throttle counts through an index.
//!
//! Indexes: the windows count a sender's sends from `(tenant_id, sender_id,
//! sent_at)` (exists); the domain throttle from `(tenant_id, sender_id,
//! recipient_domain, sent_at)`; messages whose transfer has started but that
//! are not recorded as sent yet (in flight) from a partial index on
//! `transfer_started_at`, which only holds those few rows. No new table: no
//! new row-level security.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::timestamp_with_time_zone_null;
use sea_orm_migration::schema::{integer, integer_null, json_binary, text_null};

use crate::helpers::{exec, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

const SENDER_COLUMNS: &[&str] = &[
    "rate_limits",
    "min_delay_ms",
    "max_delay_ms",
    "domain_limit",
    "domain_limit_seconds",
    "next_send_at",
    "next_send_reason",
    "throttled_until",
    "throttle_strikes",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        let columns = [
            json_binary("rate_limits").default("[]").to_owned(),
            integer_null("min_delay_ms"),
            integer_null("max_delay_ms"),
            integer_null("domain_limit"),
            integer_null("domain_limit_seconds"),
            timestamp_with_time_zone_null("next_send_at"),
            text_null("next_send_reason"),
            timestamp_with_time_zone_null("throttled_until"),
            integer("throttle_strikes").default(0).to_owned(),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("sender_accounts"))
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("messages"))
                    .add_column(text_null("recipient_domain"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "messages",
                &["tenant_id", "sender_id", "recipient_domain", "sent_at"],
            ))
            .await?;
        exec(
            manager,
            "CREATE INDEX messages_tenant_id_sender_id_in_flight_idx \
             ON messages (tenant_id, sender_id, transfer_started_at) \
             WHERE transfer_started_at IS NOT NULL",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec(
            manager,
            "DROP INDEX messages_tenant_id_sender_id_in_flight_idx",
        )
        .await?;
        exec(
            manager,
            "DROP INDEX messages_tenant_id_sender_id_recipient_domain_sent_at_idx",
        )
        .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("messages"))
                    .drop_column(Alias::new("recipient_domain"))
                    .to_owned(),
            )
            .await?;
        for column in SENDER_COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("sender_accounts"))
                        .drop_column(Alias::new(*column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
