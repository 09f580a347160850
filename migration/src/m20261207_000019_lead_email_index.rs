//! A lead's email is kept unique per tenant among live leads by an index on
//! the email itself (`leads_tenant_id_live_email_key`) instead of on `lower(email)`: the application stores
//! emails normalised (`domain::Email` lowercases them), so the two agree,
//! and only the plain column can serve a lookup made under row-level
//! security.
//!
//! Why: PostgreSQL evaluates a query's own conditions after the policy's
//! unless their functions are `LEAKPROOF`, and an index condition is such
//! an evaluation. `lower()` is not leakproof, so `lower(email) = $1` could
//! not use the index for the application role and every email lookup (the
//! duplicate check of `createLead`, `upsertLeads`, an import's every line)
//! scanned all the tenant's leads. Text equality is leakproof. (Marking a
//! function leakproof needs a superuser, which a hosted database does not
//! grant.)

use sea_orm_migration::prelude::*;

use crate::helpers::exec;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Rows written before emails were normalised, or by hand.
        exec(
            manager,
            "UPDATE leads SET email = lower(email) WHERE email <> lower(email)",
        )
        .await?;
        // A new name: SQLite refused to create an index under the name of
        // one dropped earlier in the same migration.
        exec(manager, "DROP INDEX leads_tenant_id_email_key").await?;
        exec(
            manager,
            "CREATE UNIQUE INDEX leads_tenant_id_live_email_key ON leads (tenant_id, email) \
             WHERE email IS NOT NULL AND deleted_at IS NULL",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec(manager, "DROP INDEX leads_tenant_id_live_email_key").await?;
        exec(
            manager,
            "CREATE UNIQUE INDEX leads_tenant_id_email_key ON leads (tenant_id, lower(email)) \
             WHERE email IS NOT NULL AND deleted_at IS NULL",
        )
        .await
    }
}
