//! PostgreSQL only (a no-op on SQLite): the tables every tenant shares
//! (`jobs`, `message_directory`, `webhook_receipts`, `user_logins`) are
//! taken from the tenant role and given to a role of their own,
//! `promohub_system`.
//!
//! They have no `tenant_id` policy to hide other tenants' rows, so
//! `promohub_app`, which requests run as, must not read them at all: a
//! query that forgot its filter could otherwise list every tenant's jobs or
//! login attempts. The paths that need them (the job workers, the message
//! directory and webhook receipts of delivery and tracking, the login
//! attempts of sign-in) switch to `promohub_system` for those statements
//! only (`tenancy::scoped::as_system`).

use sea_orm_migration::prelude::*;

use crate::rls::{APP_ROLE, SYSTEM_ROLE, create_role, exec_on_postgres};

/// The shared tables when this migration was written (later ones are
/// given to the system role by their own migrations).
const SHARED_TABLES: [&str; 4] = [
    "jobs",
    "message_directory",
    "webhook_receipts",
    "user_logins",
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = SHARED_TABLES.join(", ");
        let mut statements = create_role(SYSTEM_ROLE);
        statements.extend([
            format!("REVOKE ALL ON {tables} FROM {APP_ROLE}"),
            format!("GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO {SYSTEM_ROLE}"),
        ]);
        exec_on_postgres(manager, &statements).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = SHARED_TABLES.join(", ");
        exec_on_postgres(
            manager,
            &[
                format!("REVOKE ALL ON {tables} FROM {SYSTEM_ROLE}"),
                format!("GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO {APP_ROLE}"),
            ],
        )
        .await
    }
}
