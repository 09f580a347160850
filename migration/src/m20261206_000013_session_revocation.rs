//! PostgreSQL only (a no-op on SQLite): `app_enter_as_member` takes the
//! session an access token belongs to, `(tenant, user, session)`, and
//! returns NULL also when that session is revoked.
//!
//! An access token names its session (the `sid` claim: the family of
//! refresh tokens of its sign-in). A session lives while one of its
//! refresh tokens is unrevoked; logout and the reuse of a rotated refresh
//! token revoke them all, and from then on its access tokens are refused,
//! not only once they expire. The check is part of the statement that
//! binds the request and reads the role, so it costs no round trip.
//!
//! The two-argument function, which admits a token of any session, goes.
//! Like it, the new one has no `SET` clause (one would undo its
//! transaction-local settings) and runs as its caller: the session lookup
//! runs as `promohub_app`, bound to the tenant, under row-level security.

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
                "DROP FUNCTION IF EXISTS app_enter_as_member(uuid, uuid)".to_owned(),
                format!(
                    "CREATE OR REPLACE FUNCTION \
                       app_enter_as_member(p_tenant uuid, p_user uuid, p_session uuid) \
                     RETURNS text LANGUAGE plpgsql VOLATILE AS $$ \
                     BEGIN \
                       PERFORM set_config('role', '{APP_ROLE}', true), \
                               set_config('app.tenant_id', p_tenant::text, true), \
                               set_config('app.user_id', p_user::text, true); \
                       IF NOT EXISTS (SELECT 1 FROM public.refresh_tokens r \
                                      WHERE r.tenant_id = p_tenant AND r.family_id = p_session \
                                      AND r.user_id = p_user AND r.revoked_at IS NULL) THEN \
                         RETURN NULL; \
                       END IF; \
                       RETURN {ACTIVE_MEMBER_ROLE}; \
                     END $$"
                ),
                // Only the server's own connection role enters a tenant.
                "REVOKE ALL ON FUNCTION app_enter_as_member(uuid, uuid, uuid) FROM PUBLIC"
                    .to_owned(),
            ],
        )
        .await
    }

    /// Puts back 000006's function.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_on_postgres(
            manager,
            &["DROP FUNCTION IF EXISTS app_enter_as_member(uuid, uuid, uuid)".to_owned()],
        )
        .await?;
        crate::m20261122_000006_enter_as_member::Migration
            .up(manager)
            .await
    }
}
