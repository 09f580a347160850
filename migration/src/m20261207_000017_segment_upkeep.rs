//! Segment upkeep (DOMAIN.md section 2): who is in which segment since
//! when, kept as lead data changes.
//!
//! - `segment_memberships`: one row per period a lead spent in a segment
//!   (entered at, left at, and why each happened). The open periods of a
//!   dynamic segment are its materialised members, maintained from the
//!   domain-event outbox and the engagement log; a static segment's periods
//!   are written when leads are added and removed.
//! - `segment_upkeep`: per tenant, how far upkeep has read each log, and
//!   when it last re-checked the segments whose filters depend on the
//!   clock ("created in the last 30 days").
//! - An index on engagement by kind and time, for the filter's engagement
//!   clauses ("opened any message in the last 30 days") over a whole
//!   tenant.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, text, text_null, timestamp_with_time_zone, timestamp_with_time_zone_null, uuid,
};

use crate::helpers::{created_at, exec, index, tenant_fk, tenant_ref};
use crate::rls::{disable_tenant_rls, enable_tenant_rls};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_database_backend();
        // Keyed by segment, lead and entry time (no id of its own), so
        // adding every lead a filter matches is one INSERT … SELECT.
        let t = "segment_memberships";
        let mut table = Table::create();
        table
            .table(t)
            .col(uuid("tenant_id"))
            .col(uuid("segment_id"))
            .col(uuid("lead_id"))
            .col(timestamp_with_time_zone("entered_at"))
            // Why the lead entered: `added` (by hand), `filter` (the
            // segment's filter changed), `lead.changed`, `engagement`,
            // `time` (a relative date moved on)…
            .col(text("entered_why"))
            .col(timestamp_with_time_zone_null("left_at"))
            .col(text_null("left_why"))
            .primary_key(
                Index::create()
                    .name("segment_memberships_pkey")
                    .col("tenant_id")
                    .col("segment_id")
                    .col("lead_id")
                    .col("entered_at"),
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
            );
        manager.create_table(table).await?;
        // The static members so far entered when they were added.
        exec(
            manager,
            "INSERT INTO segment_memberships (tenant_id, segment_id, lead_id, entered_at, entered_why) \
             SELECT tenant_id, segment_id, lead_id, created_at, 'added' FROM segment_members",
        )
        .await?;
        // At most one open period per segment and lead: the current members.
        exec(
            manager,
            "CREATE UNIQUE INDEX segment_memberships_open_key \
             ON segment_memberships (tenant_id, segment_id, lead_id) WHERE left_at IS NULL",
        )
        .await?;
        // A lead's periods, newest first (`segment.explain`).
        manager
            .create_index(index(t, &["tenant_id", "lead_id", "entered_at"]))
            .await?;
        enable_tenant_rls(manager, t).await?;

        let t = "segment_upkeep";
        manager
            .create_table(
                Table::create()
                    .table(t)
                    .col(uuid("tenant_id").primary_key())
                    // The last domain event and engagement event read.
                    .col(big_integer("domain_seq").default(0))
                    .col(big_integer("engagement_seq").default(0))
                    // When the clock-dependent segments were last re-checked.
                    .col(timestamp_with_time_zone_null("swept_at"))
                    .col(created_at(db))
                    .foreign_key(&mut tenant_fk(t))
                    .to_owned(),
            )
            .await?;
        enable_tenant_rls(manager, t).await?;

        manager
            .create_index(index(
                "engagement_events",
                &["tenant_id", "event_type", "occurred_at", "lead_id"],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec(
            manager,
            "DROP INDEX IF EXISTS engagement_events_tenant_id_event_type_occurred_at_lead_id_idx",
        )
        .await?;
        for t in ["segment_upkeep", "segment_memberships"] {
            disable_tenant_rls(manager, t).await?;
            exec(manager, &format!("DROP TABLE IF EXISTS {t}")).await?;
        }
        Ok(())
    }
}
