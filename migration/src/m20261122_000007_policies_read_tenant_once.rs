//! PostgreSQL only (a no-op on SQLite): the row-level security policies read
//! the bound tenant (and user) once per statement instead of once per row.
//!
//! `tenant_id = app_current_tenant()` inlines to
//! `NULLIF(current_setting('app.tenant_id', true), '')::uuid`, which
//! PostgreSQL evaluates again for every row a filter sees and for every
//! probe of a nested loop: a page of 50 leads joined with their companies and
//! stages parsed that UUID over a hundred times (a GUC lookup and `uuid_in`
//! each; ~8% of PostgreSQL's time in the leads benchmark). Written as
//! `(SELECT app_current_tenant())` it becomes an init plan, computed once per
//! statement, and still serves as an index condition. The rows the policies
//! admit are the same.

use sea_orm_migration::prelude::*;

use crate::rls::{TENANT_POLICY, exec_on_postgres};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Rewrites every `tenant_isolation` policy of the schema with `tenant`
/// (the expression the tenant id is compared with), and `own_memberships`
/// with `user`.
fn rewrite(tenant: &str, user: &str) -> Vec<String> {
    vec![
        format!(
            "DO $$ DECLARE t record; BEGIN \
               FOR t IN SELECT tablename FROM pg_policies \
                         WHERE schemaname = current_schema() \
                           AND policyname = 'tenant_isolation' LOOP \
                 EXECUTE format('ALTER POLICY tenant_isolation ON %I \
                                 USING (tenant_id = {tenant}) \
                                 WITH CHECK (tenant_id = {tenant})', t.tablename); \
               END LOOP; \
             END $$"
        ),
        format!("ALTER POLICY own_memberships ON memberships USING (user_id = {user})"),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_on_postgres(
            manager,
            &rewrite(TENANT_POLICY, "(SELECT app_current_user())"),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_on_postgres(
            manager,
            &rewrite("app_current_tenant()", "app_current_user()"),
        )
        .await
    }
}
