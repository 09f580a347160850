//! Segments (DOMAIN.md section 2): lead lists that campaigns address.
//!
//! - `segments`: a static list (explicit members) or a dynamic one (a saved
//!   lead filter, exactly the `leads` query's filter input, stored as JSON
//!   with the version of the filter language it was written in).
//! - `segment_members`: the members of static segments, one row per
//!   segment and lead.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    integer, json_binary_null, text, text_null, timestamp_with_time_zone_null, uuid, uuid_null,
};

use crate::helpers::{
    PgEnum, create_enum, created_at, drop_enum, enum_column, exec, index, tenant_fk,
    tenant_owned_table, tenant_ref, updated_at,
};
use crate::rls::{disable_tenant_rls, enable_tenant_rls};

/// A static list or a saved filter.
pub const SEGMENT_KIND: PgEnum = PgEnum {
    name: "segment_kind",
    variants: &["static", "dynamic"],
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_database_backend();
        create_enum(manager, SEGMENT_KIND).await?;

        let t = "segments";
        let mut table = tenant_owned_table(t);
        table
            .col(text("name"))
            .col(text_null("description"))
            .col(uuid_null("project_id"))
            .col(enum_column(db, t, "kind", SEGMENT_KIND))
            // The saved `LeadFilter` of a dynamic segment (NULL for a static
            // one) and the filter language version it was saved in.
            .col(json_binary_null("filter"))
            .col(integer("filter_version").default(1))
            .col(created_at(db))
            .col(updated_at(db))
            .col(uuid_null("created_by"))
            .col(uuid_null("updated_by"))
            .col(timestamp_with_time_zone_null("deleted_at"))
            .col(uuid_null("deleted_by"))
            .check(Expr::cust(
                "(kind = 'dynamic' AND filter IS NOT NULL) OR (kind = 'static' AND filter IS NULL)",
            ))
            .foreign_key(&mut tenant_ref(t, "project_id", "projects"));
        manager.create_table(table).await?;
        // One live segment per name and tenant (ignoring case).
        exec(
            manager,
            "CREATE UNIQUE INDEX segments_tenant_id_name_key ON segments (tenant_id, lower(name)) \
             WHERE deleted_at IS NULL",
        )
        .await?;
        enable_tenant_rls(manager, t).await?;

        // Keyed by segment and lead (no id of its own), so adding or
        // removing every lead a filter matches is one INSERT … SELECT or
        // DELETE, whatever the count.
        let t = "segment_members";
        manager
            .create_table(
                Table::create()
                    .table(t)
                    .col(uuid("tenant_id"))
                    .col(uuid("segment_id"))
                    .col(uuid("lead_id"))
                    .col(uuid_null("added_by"))
                    .col(created_at(db))
                    .primary_key(
                        Index::create()
                            .name("segment_members_pkey")
                            .col("tenant_id")
                            .col("segment_id")
                            .col("lead_id"),
                    )
                    .foreign_key(&mut tenant_fk(t))
                    .foreign_key(
                        &mut tenant_ref(t, "segment_id", "segments")
                            .on_delete(ForeignKeyAction::Cascade)
                            .to_owned(),
                    )
                    .foreign_key(
                        &mut tenant_ref(t, "lead_id", "leads")
                            .on_delete(ForeignKeyAction::Cascade)
                            .to_owned(),
                    )
                    .to_owned(),
            )
            .await?;
        // `lead.segments`, and a lead's memberships when it is merged.
        manager
            .create_index(index(t, &["tenant_id", "lead_id"]))
            .await?;
        enable_tenant_rls(manager, t).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in ["segment_members", "segments"] {
            disable_tenant_rls(manager, t).await?;
            exec(manager, &format!("DROP TABLE IF EXISTS {t}")).await?;
        }
        drop_enum(manager, SEGMENT_KIND).await?;
        Ok(())
    }
}
