//! PostgreSQL only (a no-op on SQLite): drops `app_lane_enter` (000008).
//!
//! It bound a read lane's whole session to a tenant. A session setting
//! outlives the request that made it, and breaks behind PgBouncer or
//! Supabase's pooler in transaction mode, so the server binds every request
//! transaction-locally again (`app_enter_as_member`, 000006) and the
//! session-binding function goes.

use sea_orm_migration::prelude::*;

use crate::rls::{ACTIVE_MEMBER_ROLE, APP_ROLE, exec_on_postgres};

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
        exec_on_postgres(
            manager,
            &[
                format!(
                    "CREATE OR REPLACE FUNCTION app_lane_enter(p_tenant uuid, p_user uuid) \
                     RETURNS text LANGUAGE plpgsql VOLATILE AS $$ \
                     BEGIN \
                       PERFORM set_config('app.tenant_id', p_tenant::text, false), \
                               set_config('app.user_id', coalesce(p_user::text, ''), false); \
                       IF p_user IS NULL THEN \
                         RETURN NULL; \
                       END IF; \
                       RETURN {ACTIVE_MEMBER_ROLE}; \
                     END $$"
                ),
                "REVOKE ALL ON FUNCTION app_lane_enter(uuid, uuid) FROM PUBLIC".to_owned(),
                format!("GRANT EXECUTE ON FUNCTION app_lane_enter(uuid, uuid) TO {APP_ROLE}"),
            ],
        )
        .await
    }
}
