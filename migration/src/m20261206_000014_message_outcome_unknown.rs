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
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

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

/// SQLite: replaces `from` with `to` in the stored definition of `table`
/// (its enum column's `CHECK (… IN (…))`), inside the migration's
/// transaction.
async fn rewrite_check(
    db: &SchemaManagerConnection<'_>,
    table: &str,
    from: &str,
    to: &str,
) -> Result<(), DbErr> {
    let sql_of = |table: &str| {
        Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
            [table.into()],
        )
    };
    let current: String = db
        .query_one_raw(sql_of(table))
        .await?
        .ok_or_else(|| DbErr::Migration(format!("no table {table}")))?
        .try_get("", "sql")?;
    if current.matches(from).count() != 1 {
        return Err(DbErr::Migration(format!(
            "the CHECK constraint of {table} is not the expected one: {current}"
        )));
    }
    let version: i64 = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA schema_version",
        ))
        .await?
        .ok_or_else(|| DbErr::Migration("no schema_version".into()))?
        .try_get_by_index(0)?;
    db.execute_unprepared("PRAGMA writable_schema = ON").await?;
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
        [current.replacen(from, to, 1).into(), table.into()],
    ))
    .await?;
    db.execute_unprepared(&format!("PRAGMA schema_version = {}", version + 1))
        .await?;
    db.execute_unprepared("PRAGMA writable_schema = OFF")
        .await?;
    Ok(())
}
