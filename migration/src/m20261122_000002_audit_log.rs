//! `audit_log`: one row per mutation (DOMAIN.md section 9), tenant-owned.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{json_binary, text, text_null, uuid_null};

use crate::helpers::{PgEnum, create_enum, created_at, drop_enum, enum_column, tenant_owned_table};

pub const ACTOR_TYPE: PgEnum = PgEnum {
    name: "actor_type",
    variants: &["user", "api_key", "system", "anonymous"],
};
pub const AUDIT_OUTCOME: PgEnum = PgEnum {
    name: "audit_outcome",
    variants: &["success", "failure"],
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_database_backend();
        create_enum(manager, ACTOR_TYPE).await?;
        create_enum(manager, AUDIT_OUTCOME).await?;
        manager
            .create_table(
                tenant_owned_table("audit_log")
                    .col(enum_column(db, "audit_log", "actor_type", ACTOR_TYPE))
                    .col(uuid_null("actor_id"))
                    .col(text("action"))
                    .col(text_null("entity_type"))
                    .col(uuid_null("entity_id"))
                    .col(json_binary("changes").default("{}"))
                    .col(text_null("request_id"))
                    .col(text_null("ip"))
                    .col(enum_column(db, "audit_log", "outcome", AUDIT_OUTCOME))
                    .col(text_null("error_code"))
                    .col(created_at(db))
                    .to_owned(),
            )
            .await?;
        // Newest-first keyset pagination within a tenant.
        manager
            .create_index(
                Index::create()
                    .name("audit_log_tenant_id_created_at_id_idx")
                    .table("audit_log")
                    .col("tenant_id")
                    .col("created_at")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("audit_log").if_exists().to_owned())
            .await?;
        drop_enum(manager, AUDIT_OUTCOME).await?;
        drop_enum(manager, ACTOR_TYPE).await
    }
}
