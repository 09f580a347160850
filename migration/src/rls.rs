//! Row-level security on PostgreSQL, the third layer of tenant isolation
//! (ARCHITECTURE.md). The server runs each unit of work in a transaction that
//! first does `set_config('role', 'promohub_app', true)` and sets
//! `app.tenant_id` / `app.user_id` (directly, or through `app_enter_as_member`
//! when it checks a member's token); the binding is always
//! transaction-local, never a session setting. The policies below then hide
//! every other tenant's rows, even when the server connects as a superuser.
//!
//! Every function here is a no-op on SQLite, so migrations call them
//! unconditionally.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// The NOLOGIN, non-superuser, non-BYPASSRLS role requests run as.
pub const APP_ROLE: &str = "promohub_app";

/// The role of the statements on [`SHARED_TABLES`] (NOLOGIN, non-superuser,
/// non-BYPASSRLS): job workers, delivery and tracking, sign-in.
pub const SYSTEM_ROLE: &str = "promohub_system";

/// Tables every tenant shares, with no tenant policy: not granted to
/// [`APP_ROLE`] (`m20261206_000011_shared_tables_role`). A new one is added
/// here and given to [`SYSTEM_ROLE`] by its migration.
pub const SHARED_TABLES: &[&str] = &[
    "jobs",
    "message_directory",
    "webhook_receipts",
    "user_logins",
    "public_ids",
    "mailbox_watches",
];

/// The role (as text) of the user `p_user` in the tenant `p_tenant`: NULL
/// unless the membership, the user and the tenant are all active. The check
/// that entering a tenant as a member makes, written once for the SQL
/// functions that do it (`app_enter_as_member`, whose 000013 form also
/// checks the session; 000008's `app_lane_enter` until 000009 dropped it),
/// whose parameters it names.
pub const ACTIVE_MEMBER_ROLE: &str = "(SELECT m.role::text \
     FROM public.memberships m \
     JOIN public.tenants t ON t.id = m.tenant_id \
     JOIN public.users u ON u.id = m.user_id \
     WHERE m.tenant_id = p_tenant AND m.user_id = p_user \
     AND t.is_active AND t.deleted_at IS NULL \
     AND u.is_active)";

/// What a tenant-owned row's `tenant_id` must equal. The sub-select makes it
/// an init plan, evaluated once per statement rather than once per row (see
/// `m20261122_000007_policies_read_tenant_once`).
pub const TENANT_POLICY: &str = "(SELECT app_current_tenant())";

/// Creates a NOLOGIN, non-superuser, non-BYPASSRLS role the server's own
/// user may switch to, with the use of the schema. Roles are
/// cluster-global and tests migrate many databases at once: an existing
/// role (or another session creating it at the same time) is not an error.
pub(crate) fn create_role(role: &str) -> Vec<String> {
    vec![
        format!(
            "DO $$ BEGIN \
               CREATE ROLE {role} NOLOGIN NOSUPERUSER NOBYPASSRLS; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; \
             END $$"
        ),
        // Lets a non-superuser server switch to it; harmless for a superuser.
        format!(
            "DO $$ BEGIN \
               GRANT {role} TO CURRENT_USER; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; \
             END $$"
        ),
        format!("GRANT USAGE ON SCHEMA public TO {role}"),
    ]
}

/// Turns on row-level security for a tenant-owned table: `ENABLE` and
/// `FORCE` (so the table owner is filtered too), the `tenant_isolation`
/// policy on `tenant_id = (SELECT app_current_tenant())` for reads and writes, and the
/// DML grants to [`APP_ROLE`]. Idempotent. Call it from every migration that
/// creates a tenant-owned table, after the
/// `m20261122_000003_row_level_security` migration has run.
pub async fn enable_tenant_rls(manager: &SchemaManager<'_>, table: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let t = quote_ident(table)?;
    exec_all(
        manager,
        &[
            format!("ALTER TABLE {t} ENABLE ROW LEVEL SECURITY"),
            format!("ALTER TABLE {t} FORCE ROW LEVEL SECURITY"),
            format!("DROP POLICY IF EXISTS tenant_isolation ON {t}"),
            format!(
                "CREATE POLICY tenant_isolation ON {t} FOR ALL \
                 USING (tenant_id = {TENANT_POLICY}) \
                 WITH CHECK (tenant_id = {TENANT_POLICY})"
            ),
            format!("GRANT SELECT, INSERT, UPDATE, DELETE ON {t} TO {APP_ROLE}"),
        ],
    )
    .await
}

/// Undoes [`enable_tenant_rls`] (for `down`). Extra policies a migration
/// added on the table must be dropped by that migration.
pub async fn disable_tenant_rls(manager: &SchemaManager<'_>, table: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let t = quote_ident(table)?;
    exec_all(
        manager,
        &[
            format!("DROP POLICY IF EXISTS tenant_isolation ON {t}"),
            format!("ALTER TABLE {t} NO FORCE ROW LEVEL SECURITY"),
            format!("ALTER TABLE {t} DISABLE ROW LEVEL SECURITY"),
        ],
    )
    .await
}

/// Runs raw statements one by one, on PostgreSQL only (a no-op on SQLite):
/// the whole of a migration that changes what exists on PostgreSQL alone
/// (functions, policies).
pub(crate) async fn exec_on_postgres(
    manager: &SchemaManager<'_>,
    statements: &[String],
) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    exec_all(manager, statements).await
}

/// Runs raw statements one by one on the migration's connection.
pub(crate) async fn exec_all(
    manager: &SchemaManager<'_>,
    statements: &[String],
) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    for sql in statements {
        conn.execute_unprepared(sql).await?;
    }
    Ok(())
}

/// Table names are spliced into DDL, so accept plain lowercase identifiers only.
fn quote_ident(name: &str) -> Result<String, DbErr> {
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(format!("\"{name}\""))
    } else {
        Err(DbErr::Migration(format!(
            "not a plain lowercase table name: {name:?}"
        )))
    }
}
