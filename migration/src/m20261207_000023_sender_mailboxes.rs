//! The IMAP mailbox of a sender account, where replies and bounce reports
//! to mail sent over SMTP arrive (issue 18).
//!
//! - `sender_mailboxes` (tenant-owned, row-level security): one row per
//!   sender account that has a mailbox, keyed `(tenant_id, sender_id)` and
//!   deleted with its account. A table of its own rather than columns on
//!   `sender_accounts`: the mailbox is optional and comes whole (host,
//!   credentials, folder), and its watch state (UIDVALIDITY, last UID, last
//!   check, last error) changes every few seconds, which would otherwise
//!   rewrite the account row that every send reads.
//! - `mailbox_watches` (shared, like the job queue): which mailboxes are to
//!   be watched and which process watches each (`locked_by` until
//!   `locked_until`, a lease the watcher renews). Shared because the claim
//!   looks across every tenant, which the tenant role cannot (and should
//!   not) do; only `promohub_system` reads it. The settings stay with the
//!   tenant.
//! - Engagement type `auto_replied`: an out-of-office or other automatic
//!   answer (RFC 3834), recorded but not counted as a reply.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, boolean, boolean_null, integer, text, text_null,
    timestamp_with_time_zone_null, uuid,
};
use sea_orm_migration::sea_orm::DbBackend;

use crate::helpers::{
    created_at, enum_column, exec, index, rewrite_check, tenant_fk, tenant_ref, updated_at,
};
use crate::m20261122_000005_messaging::SMTP_TLS_MODE;
use crate::rls::{APP_ROLE, SYSTEM_ROLE, disable_tenant_rls, enable_tenant_rls, exec_on_postgres};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The engagement types' IN list ended with this value before.
const ENGAGEMENT_LAST: &str = "'outcome_unknown'";
const AUTO_REPLIED: &str = "auto_replied";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    // SQLite: the CHECK rewrite must be one transaction on one connection.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_sender_mailboxes(manager).await?;
        enable_tenant_rls(manager, "sender_mailboxes").await?;
        create_mailbox_watches(manager).await?;
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(&format!(
                "ALTER TYPE engagement_type ADD VALUE IF NOT EXISTS '{AUTO_REPLIED}'"
            ))
            .await?;
        } else {
            rewrite_check(
                db,
                "engagement_events",
                &format!("{ENGAGEMENT_LAST})"),
                &format!("{ENGAGEMENT_LAST}, '{AUTO_REPLIED}')"),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "DELETE FROM engagement_events WHERE event_type = '{AUTO_REPLIED}'"
        ))
        .await?;
        if manager.get_database_backend() == DbBackend::Sqlite {
            rewrite_check(
                db,
                "engagement_events",
                &format!("{ENGAGEMENT_LAST}, '{AUTO_REPLIED}')"),
                &format!("{ENGAGEMENT_LAST})"),
            )
            .await?;
        }
        // PostgreSQL cannot drop a value from an enum type; an unused value
        // is harmless and `up` adds it only if missing.
        exec(manager, "DROP TABLE IF EXISTS mailbox_watches").await?;
        disable_tenant_rls(manager, "sender_mailboxes").await?;
        exec(manager, "DROP TABLE IF EXISTS sender_mailboxes").await
    }
}

async fn create_sender_mailboxes(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    let t = "sender_mailboxes";
    let mut to_account = tenant_ref(t, "sender_id", "sender_accounts");
    to_account.on_delete(ForeignKeyAction::Cascade);
    manager
        .create_table(
            Table::create()
                .table(t)
                .col(uuid("tenant_id"))
                .col(uuid("sender_id"))
                .primary_key(
                    Index::create()
                        .name(format!("{t}_pkey"))
                        .col("tenant_id")
                        .col("sender_id"),
                )
                .foreign_key(&mut tenant_fk(t))
                .foreign_key(&mut to_account)
                .col(text("host"))
                .col(integer("port"))
                // The same three ways as SMTP: plain, STARTTLS, implicit TLS.
                .col(enum_column(db, t, "tls_mode", SMTP_TLS_MODE).default("tls"))
                .col(text("username"))
                // AES-256-GCM under the server's key, with associated data
                // naming the account *and* this slot, so neither another
                // account's sealed value nor the SMTP password opens here.
                .col(text("password_encrypted"))
                .col(text("folder").default("INBOX"))
                .col(boolean("enabled").default(true))
                // Watch state: a restart resumes after `last_uid` while the
                // folder's UIDVALIDITY is unchanged.
                .col(big_integer_null("uid_validity"))
                .col(big_integer("last_uid").default(0))
                .col(boolean_null("supports_idle"))
                .col(timestamp_with_time_zone_null("last_checked_at"))
                .col(text_null("last_error"))
                .col(timestamp_with_time_zone_null("last_error_at"))
                .col(created_at(db))
                .col(updated_at(db))
                .to_owned(),
        )
        .await
}

async fn create_mailbox_watches(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let t = "mailbox_watches";
    manager
        .create_table(
            Table::create()
                .table(t)
                .col(uuid("tenant_id"))
                .col(uuid("sender_id"))
                .primary_key(
                    Index::create()
                        .name(format!("{t}_pkey"))
                        .col("tenant_id")
                        .col("sender_id"),
                )
                .foreign_key(&mut tenant_fk(t))
                // The mailbox is enabled and its account not deleted.
                .col(boolean("watched").default(true))
                // The process watching it, until when (a lease it renews).
                .col(text_null("locked_by"))
                .col(timestamp_with_time_zone_null("locked_until"))
                .col(created_at(manager.get_database_backend()))
                .to_owned(),
        )
        .await?;
    manager
        .create_index(index(t, &["watched", "locked_until"]).to_owned())
        .await?;
    // Shared by every tenant, with no tenant policy: the watcher reads it
    // as the system role (see `m20261206_000011_shared_tables_role`).
    exec_on_postgres(
        manager,
        &[
            format!("REVOKE ALL ON {t} FROM {APP_ROLE}"),
            format!("GRANT SELECT, INSERT, UPDATE, DELETE ON {t} TO {SYSTEM_ROLE}"),
        ],
    )
    .await
}
