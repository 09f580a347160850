//! PostgreSQL only (a no-op on SQLite): `app_enter_as_member(tenant, user)`,
//! which binds the transaction to a tenant as a user (the `promohub_app`
//! role, `app.tenant_id`, `app.user_id`, as the server's `bind` does) and
//! returns the user's role there: NULL unless the membership, the user and
//! the tenant are all active.
//!
//! Authentication checks the membership on every request. Binding and then
//! reading were two round trips; as one statement they are one.
//!
//! The function has no `SET` clause on purpose: one would undo the
//! transaction-local settings it makes when it returns. It runs as its
//! caller, so the membership query inside it runs as `promohub_app`, under
//! row-level security, exactly like the query it replaces.

use sea_orm_migration::prelude::*;

use crate::rls::{ACTIVE_MEMBER_ROLE, APP_ROLE, exec_on_postgres};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_on_postgres(
            manager,
            &[
                format!(
                    "CREATE OR REPLACE FUNCTION app_enter_as_member(p_tenant uuid, p_user uuid) \
                     RETURNS text LANGUAGE plpgsql VOLATILE AS $$ \
                     BEGIN \
                       PERFORM set_config('role', '{APP_ROLE}', true), \
                               set_config('app.tenant_id', p_tenant::text, true), \
                               set_config('app.user_id', p_user::text, true); \
                       RETURN {ACTIVE_MEMBER_ROLE}; \
                     END $$"
                ),
                // Only the server's own connection role enters a tenant; the
                // role requests run as has no use for it.
                "REVOKE ALL ON FUNCTION app_enter_as_member(uuid, uuid) FROM PUBLIC".to_owned(),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_on_postgres(
            manager,
            &["DROP FUNCTION IF EXISTS app_enter_as_member(uuid, uuid)".to_owned()],
        )
        .await
    }
}
