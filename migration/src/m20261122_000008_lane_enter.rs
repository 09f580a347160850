//! PostgreSQL only (a no-op on SQLite): `app_lane_enter(tenant, user)`, which
//! binds a read lane's session to a tenant as a user (`app.tenant_id`,
//! `app.user_id`) and returns the user's role there: NULL unless the
//! membership, the user and the tenant are all active. With a NULL user (an
//! API key) it binds the tenant alone and returns NULL.
//!
//! `app_enter_as_member` (000006) binds one transaction. A read lane (see
//! the server's `tenancy::lanes`) reads without one: its session runs as
//! `promohub_app` from the moment it connects, and each request binds the
//! session before its first read, so a query request costs no `BEGIN` and
//! no `ROLLBACK`. That is why `promohub_app` may execute this function. It
//! grants nothing new: custom settings such as `app.tenant_id` can be set by
//! any role with `set_config`, and row-level security trusts the server to
//! bind them, as it always has.
//!
//! Like 000006 the function runs as its caller (no `SECURITY DEFINER`), so
//! the membership query runs under row-level security.

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

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_on_postgres(
            manager,
            &["DROP FUNCTION IF EXISTS app_lane_enter(uuid, uuid)".to_owned()],
        )
        .await
    }
}
