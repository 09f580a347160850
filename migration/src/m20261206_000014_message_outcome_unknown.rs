//! A message whose delivery outcome is unknown gets a status of its own,
//! `unknown`, and an engagement event, `outcome_unknown`, instead of
//! `failed`: a worker that stopped while handing a message to the SMTP
//! server cannot tell whether it arrived, and calling it failed hid
//! messages that were in fact delivered. Such a message is never retried
//! on its own (a second copy could arrive); an admin may resend it.
//!
//! PostgreSQL gains the enum values. SQLite has no enum types: the columns
//! carry `CHECK (col IN (...))` constraints, and SQLite cannot alter a
//! constraint. Widening an `IN` list only accepts more rows, so the stored
//! table definition is edited in place, the way SQLite documents for
//! loosening a constraint (`PRAGMA writable_schema`, then a schema version
//! bump so every connection reloads it), rather than rebuilding `messages`:
//! a rebuild's `DROP TABLE` would cascade into the events and links that
//! reference it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::helpers::rewrite_check;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `(table, PostgreSQL type, the IN list's last value before, value added)`.
const ADDED: [(&str, &str, &str, &str); 2] = [
    ("messages", "message_status", "'failed'", "unknown"),
    (
        "engagement_events",
        "engagement_type",
        "'failed'",
        "outcome_unknown",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    // SQLite: the schema edit must be one transaction on one connection.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            for (_, pg_type, _, value) in ADDED {
                db.execute_unprepared(&format!(
                    "ALTER TYPE {pg_type} ADD VALUE IF NOT EXISTS '{value}'"
                ))
                .await?;
            }
            return Ok(());
        }
        for (table, _, last, value) in ADDED {
            rewrite_check(
                db,
                table,
                &format!("{last})"),
                &format!("{last}, '{value}')"),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // What the value meant before this migration.
        db.execute_unprepared("UPDATE messages SET status = 'failed' WHERE status = 'unknown'")
            .await?;
        db.execute_unprepared(
            "UPDATE engagement_events SET event_type = 'failed' WHERE event_type = 'outcome_unknown'",
        )
        .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            // PostgreSQL cannot drop a value from an enum type; an unused
            // value is harmless and `up` adds it only if missing.
            return Ok(());
        }
        for (table, _, last, value) in ADDED {
            rewrite_check(
                db,
                table,
                &format!("{last}, '{value}')"),
                &format!("{last})"),
            )
            .await?;
        }
        Ok(())
    }
}
