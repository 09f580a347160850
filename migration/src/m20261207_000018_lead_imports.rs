//! CSV imports (DOMAIN.md section 2, `lead_batches`; seed 001
//! `leadBatches`).
//!
//! - `lead_batches`: one uploaded file and its import: what was detected
//!   (encoding, delimiter, headers), the mapping and options it runs with,
//!   where it stands (`rows_done`, the resume point) and its totals.
//! - `lead_batch_parts`: the file itself, in parts of at most 1 MiB, so an
//!   upload is stored as it streams in and a job reads it part by part on
//!   any node, whatever its size.
//! - `lead_batch_errors`: one row per rejected line (its number, the field
//!   and the message, and the line as read), for the failed-rows CSV.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, blob, integer, json_binary, json_binary_null, text, text_null,
    timestamp_with_time_zone_null, uuid, uuid_null,
};

use crate::helpers::{
    PgEnum, create_enum, created_at, drop_enum, enum_column, exec, index, tenant_fk,
    tenant_owned_table, tenant_ref, updated_at,
};
use crate::rls::{disable_tenant_rls, enable_tenant_rls};

/// Where an import stands.
pub const IMPORT_STATUS: PgEnum = PgEnum {
    name: "import_status",
    variants: &[
        "uploading",
        "uploaded",
        "running",
        "completed",
        "cancelled",
        "failed",
    ],
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_database_backend();
        create_enum(manager, IMPORT_STATUS).await?;

        let t = "lead_batches";
        let mut table = tenant_owned_table(t);
        table
            .col(text("file_name"))
            .col(uuid_null("uploaded_by"))
            .col(enum_column(db, t, "status", IMPORT_STATUS))
            .col(big_integer("byte_size"))
            // `utf-8` or `windows-1252`, and the one-character delimiter.
            .col(text("encoding"))
            .col(text("delimiter"))
            // The header row, as a JSON array of strings.
            .col(json_binary("headers"))
            // Set when the import starts: column → target, and the options
            // (duplicate policy, tags, stage, source, project, segment).
            .col(json_binary_null("mapping"))
            .col(json_binary_null("options"))
            // Data rows in the file, once counted (at the end of the upload).
            .col(integer("rows_total").default(0))
            // Rows handled so far, committed with what they did: the point
            // a resumed job goes on from.
            .col(integer("rows_done").default(0))
            .col(integer("created").default(0))
            .col(integer("updated").default(0))
            .col(integer("duplicates_skipped").default(0))
            .col(integer("failed").default(0))
            // Why the whole import stopped, when it did.
            .col(text_null("error"))
            .col(timestamp_with_time_zone_null("cancel_requested_at"))
            .col(timestamp_with_time_zone_null("started_at"))
            .col(timestamp_with_time_zone_null("finished_at"))
            .col(created_at(db))
            .col(updated_at(db));
        manager.create_table(table).await?;
        // The tenant's history, newest first (`imports`).
        manager
            .create_index(index(t, &["tenant_id", "created_at"]))
            .await?;
        enable_tenant_rls(manager, t).await?;

        let t = "lead_batch_parts";
        manager
            .create_table(
                Table::create()
                    .table(t)
                    .col(uuid("tenant_id"))
                    .col(uuid("batch_id"))
                    .col(integer("part"))
                    .col(blob("data"))
                    .primary_key(
                        Index::create()
                            .name("lead_batch_parts_pkey")
                            .col("tenant_id")
                            .col("batch_id")
                            .col("part"),
                    )
                    .foreign_key(&mut tenant_fk(t))
                    .foreign_key(
                        &mut tenant_ref(t, "batch_id", "lead_batches")
                            .on_delete(ForeignKeyAction::Cascade)
                            .to_owned(),
                    )
                    .to_owned(),
            )
            .await?;
        enable_tenant_rls(manager, t).await?;

        let t = "lead_batch_errors";
        manager
            .create_table(
                Table::create()
                    .table(t)
                    .col(uuid("tenant_id"))
                    .col(uuid("batch_id"))
                    // The line's number in the file, the header being line 1.
                    .col(integer("row_number"))
                    .col(text_null("field"))
                    .col(text("message"))
                    // The line as read, one string per column.
                    .col(json_binary("record"))
                    .primary_key(
                        Index::create()
                            .name("lead_batch_errors_pkey")
                            .col("tenant_id")
                            .col("batch_id")
                            .col("row_number"),
                    )
                    .foreign_key(&mut tenant_fk(t))
                    .foreign_key(
                        &mut tenant_ref(t, "batch_id", "lead_batches")
                            .on_delete(ForeignKeyAction::Cascade)
                            .to_owned(),
                    )
                    .to_owned(),
            )
            .await?;
        enable_tenant_rls(manager, t).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in ["lead_batch_errors", "lead_batch_parts", "lead_batches"] {
            disable_tenant_rls(manager, t).await?;
            exec(manager, &format!("DROP TABLE IF EXISTS {t}")).await?;
        }
        drop_enum(manager, IMPORT_STATUS).await?;
        Ok(())
    }
}
