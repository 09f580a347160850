//! PostgreSQL only (a no-op on SQLite): the `promohub_app` role, its grants,
//! the `app_current_tenant()` / `app_current_user()` policy helpers, and
//! row-level security on every tenant-owned table created so far. Later
//! feature migrations call [`crate::enable_tenant_rls`] for their own tables.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::rls::{APP_ROLE, create_role, disable_tenant_rls, enable_tenant_rls, exec_all};

/// The tenant-owned tables of the identity and audit migrations.
const TENANT_TABLES: &[&str] = &[
    "memberships",
    "api_keys",
    "invites",
    "refresh_tokens",
    "settings",
    "audit_log",
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let mut statements = create_role(APP_ROLE);
        statements.extend([
            // STABLE so the planner evaluates them once per statement and
            // can use them in index conditions (VOLATILE made a policy
            // query 200x slower). NULLIF: a transaction-local setting
            // reads back as '' once its transaction is over.
            "CREATE OR REPLACE FUNCTION app_current_tenant() RETURNS uuid \
                 LANGUAGE sql STABLE \
                 AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$"
                .to_owned(),
            "CREATE OR REPLACE FUNCTION app_current_user() RETURNS uuid \
                 LANGUAGE sql STABLE \
                 AS $$ SELECT NULLIF(current_setting('app.user_id', true), '')::uuid $$"
                .to_owned(),
            format!(
                "GRANT EXECUTE ON FUNCTION app_current_tenant(), app_current_user() \
                     TO {APP_ROLE}"
            ),
            format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public \
                     TO {APP_ROLE}"
            ),
            format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}"),
            // Requests have no business with the migration bookkeeping.
            format!("REVOKE ALL ON seaql_migrations FROM {APP_ROLE}"),
            // Tables that later migrations create get the same grants.
            format!(
                "ALTER DEFAULT PRIVILEGES IN SCHEMA public \
                     GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}"
            ),
            format!(
                "ALTER DEFAULT PRIVILEGES IN SCHEMA public \
                     GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}"
            ),
        ]);
        exec_all(manager, &statements).await?;

        for table in TENANT_TABLES {
            enable_tenant_rls(manager, table).await?;
        }

        // Signing in lists the user's memberships in every tenant before a
        // tenant is chosen. Policies are OR-ed: this adds rows, only for reads.
        exec_all(
            manager,
            &[
                "DROP POLICY IF EXISTS own_memberships ON memberships".to_owned(),
                "CREATE POLICY own_memberships ON memberships FOR SELECT \
                 USING (user_id = app_current_user())"
                    .to_owned(),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        exec_all(
            manager,
            &["DROP POLICY IF EXISTS own_memberships ON memberships".to_owned()],
        )
        .await?;
        for table in TENANT_TABLES.iter().rev() {
            disable_tenant_rls(manager, table).await?;
        }
        // The role itself stays: it is cluster-wide and other databases
        // (other test databases, other environments) still use it. Its
        // privileges in this database go, so that it could be dropped.
        exec_all(
            manager,
            &[
                format!(
                    "ALTER DEFAULT PRIVILEGES IN SCHEMA public \
                     REVOKE USAGE, SELECT ON SEQUENCES FROM {APP_ROLE}"
                ),
                format!(
                    "ALTER DEFAULT PRIVILEGES IN SCHEMA public \
                     REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {APP_ROLE}"
                ),
                format!("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE}"),
                format!("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE}"),
                "DROP FUNCTION IF EXISTS app_current_user()".to_owned(),
                "DROP FUNCTION IF EXISTS app_current_tenant()".to_owned(),
                format!("REVOKE USAGE ON SCHEMA public FROM {APP_ROLE}"),
            ],
        )
        .await
    }
}
