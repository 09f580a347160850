//! PostgreSQL only (a no-op on SQLite): drops `app_lane_enter` (000008).
//!
//! It bound a read lane's whole session to a tenant. A session setting
//! outlives the request that made it, and breaks behind PgBouncer or
//! Supabase's pooler in transaction mode, so the server binds every request
//! transaction-locally again (`app_enter_as_member`, 000006) and the
//! session-binding function goes.

use sea_orm_migration::prelude::*;

use crate::rls::exec_on_postgres;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_on_postgres(
            manager,
            &["DROP FUNCTION IF EXISTS app_lane_enter(uuid, uuid)".to_owned()],
        )
        .await
    }

    /// Puts back 000008's function as it was.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::m20261122_000008_lane_enter::Migration
            .up(manager)
            .await
    }
}
