//! Campaigns and sequences (DOMAIN.md section 5).
//!
//! - `campaigns`: a broadcast (one step) or a sequence (several), its
//!   audience (segments or a lead filter, minus exclusion segments), its
//!   schedule and send window, caps, budget, stop conditions and A/B
//!   settings. A campaign owns its ordered steps: DOMAIN.md's `sequences`
//!   are the steps of one campaign (`campaign_steps`), since a sequence's
//!   A/B decisions and enrollments belong to the campaign that runs it.
//! - `campaign_senders`: the sender accounts a campaign spreads its sends
//!   over (all active accounts when it names none).
//! - `campaign_steps`, `campaign_step_variants`: each step's delay after the
//!   previous one, its channel, its A/B variants with weights (one variant
//!   is a step without a test) and the stored A/B decision.
//! - `campaign_enrollments`: lead × campaign: the next step to send and
//!   when, and how the enrollment ended.
//! - `messages` gain the enrollment, step and variant they were sent for:
//!   `(tenant_id, enrollment_id, step_id)` is unique, the idempotency key
//!   that makes each step of an enrollment a message exactly once. The
//!   free `campaign_id` labels messages carried until now become archived
//!   campaigns (one per label), so the column can reference `campaigns`.
//!   Messages a paused campaign must not send are `canceled` when their
//!   enrollment stops before delivery.
//! - `jobs` gain a `group_key` (a campaign's delivery jobs are held while it
//!   is paused, status `held`, and released on resume) and a `unique_key`
//!   (at most one pending or running job per key: one scheduler tick per
//!   campaign).
//! - `leads.time_zone`: the lead's IANA time zone, for send windows in each
//!   lead's own time.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, boolean, integer, integer_null, json_binary, json_binary_null,
    text, text_null, timestamp_with_time_zone, timestamp_with_time_zone_null, uuid, uuid_null,
};
use sea_orm_migration::sea_orm::DbBackend;

use crate::helpers::{
    PgEnum, create_enum, created_at, drop_enum, enum_column, exec, index, rewrite_check,
    tenant_owned_table, tenant_ref, updated_at, with_audit_columns,
};
use crate::m20261122_000005_messaging::MESSAGE_CHANNEL;
use crate::rls::{disable_tenant_rls, enable_tenant_rls};

pub const CAMPAIGN_KIND: PgEnum = PgEnum {
    name: "campaign_kind",
    variants: &["broadcast", "sequence"],
};

pub const CAMPAIGN_STATUS: PgEnum = PgEnum {
    name: "campaign_status",
    variants: &[
        "draft",
        "scheduled",
        "active",
        "paused",
        "completed",
        "archived",
    ],
};

/// When a campaign's leads start: at launch, at a time, or in daily or
/// weekly batches at `send_time`.
pub const SCHEDULE_KIND: PgEnum = PgEnum {
    name: "schedule_kind",
    variants: &["immediate", "at", "daily", "weekly"],
};

pub const ENROLLMENT_STATUS: PgEnum = PgEnum {
    name: "enrollment_status",
    variants: &["active", "completed", "stopped", "failed"],
};

/// What an A/B test's winner is chosen by.
pub const AB_METRIC: PgEnum = PgEnum {
    name: "ab_metric",
    variants: &["open_rate", "click_rate", "reply_rate"],
};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Creation order; dropped in reverse.
const TENANT_TABLES: [&str; 5] = [
    "campaigns",
    "campaign_senders",
    "campaign_steps",
    "campaign_step_variants",
    "campaign_enrollments",
];

const ENUMS: [PgEnum; 5] = [
    CAMPAIGN_KIND,
    CAMPAIGN_STATUS,
    SCHEDULE_KIND,
    ENROLLMENT_STATUS,
    AB_METRIC,
];

/// `(table, PostgreSQL type, the IN list's last value before, value added)`.
const ADDED_VALUES: [(&str, &str, &str, &str); 2] = [
    ("messages", "message_status", "'unknown'", "canceled"),
    ("jobs", "job_status", "'dead'", "held"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    // SQLite: the CHECK rewrite must be one transaction on one connection.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for e in ENUMS {
            create_enum(manager, e).await?;
        }
        create_campaigns(manager).await?;
        create_campaign_senders(manager).await?;
        create_campaign_steps(manager).await?;
        create_campaign_step_variants(manager).await?;
        create_campaign_enrollments(manager).await?;
        for t in TENANT_TABLES {
            enable_tenant_rls(manager, t).await?;
        }
        add_enum_values(manager).await?;
        link_messages(manager).await?;
        add_job_keys(manager).await?;
        manager
            .alter_table(
                Table::alter()
                    .table("leads")
                    .add_column(text_null("time_zone"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        manager
            .alter_table(
                Table::alter()
                    .table("leads")
                    .drop_column("time_zone")
                    .to_owned(),
            )
            .await?;
        exec(manager, "DROP INDEX IF EXISTS jobs_unique_key_key").await?;
        exec(manager, "DROP INDEX IF EXISTS jobs_group_key_idx").await?;
        exec(
            manager,
            "UPDATE jobs SET status = 'pending' WHERE status = 'held'",
        )
        .await?;
        exec(
            manager,
            "UPDATE messages SET status = 'failed' WHERE status = 'canceled'",
        )
        .await?;
        for column in ["unique_key", "group_key"] {
            manager
                .alter_table(Table::alter().table("jobs").drop_column(column).to_owned())
                .await?;
        }
        exec(manager, "DROP INDEX IF EXISTS messages_enrollment_step_key").await?;
        if backend == DbBackend::Postgres {
            exec(
                manager,
                "ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_tenant_id_campaign_id_fkey, \
                 DROP CONSTRAINT IF EXISTS messages_tenant_id_enrollment_id_fkey",
            )
            .await?;
        }
        for column in ["variant_id", "step_id", "enrollment_id"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("messages")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        if backend == DbBackend::Sqlite {
            for (table, _, last, value) in ADDED_VALUES {
                rewrite_check(
                    db,
                    table,
                    &format!("{last}, '{value}')"),
                    &format!("{last})"),
                )
                .await?;
            }
        }
        for t in TENANT_TABLES.iter().rev() {
            disable_tenant_rls(manager, t).await?;
            exec(manager, &format!("DROP TABLE IF EXISTS {t}")).await?;
        }
        for e in ENUMS {
            drop_enum(manager, e).await?;
        }
        Ok(())
    }
}

async fn create_campaigns(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    let t = "campaigns";
    let mut table = tenant_owned_table(t);
    table
        .col(text("name"))
        .col(text_null("description"))
        .col(enum_column(db, t, "kind", CAMPAIGN_KIND).default("broadcast"))
        .col(enum_column(db, t, "status", CAMPAIGN_STATUS).default("draft"))
        .col(uuid_null("project_id"))
        // `{ "segmentIds": [...], "filter": LeadFilter | null,
        //    "excludeSegmentIds": [...] }`, as the API takes it.
        .col(json_binary("audience").default("{}"))
        // Enrol leads that enter the audience after launch; stop the
        // enrollments of leads that leave it.
        .col(boolean("enroll_new_leads").default(false))
        .col(boolean("remove_leavers").default(false))
        .col(enum_column(db, t, "schedule_kind", SCHEDULE_KIND).default("immediate"))
        .col(timestamp_with_time_zone_null("starts_at"))
        .col(timestamp_with_time_zone_null("ends_at"))
        // Minutes after midnight at which daily and weekly batches start,
        // and the ISO weekday (1 = Monday) of weekly ones.
        .col(integer_null("send_time_minute"))
        .col(integer_null("send_weekday"))
        // The send window: ISO weekdays as bits (Monday = 1 … Sunday = 64)
        // and minutes of the day [start, end), in `time_zone` or each
        // lead's own.
        .col(integer("window_days").default(127))
        .col(integer("window_start_minute").default(0))
        .col(integer("window_end_minute").default(1440))
        .col(text("time_zone").default("UTC"))
        .col(boolean("use_lead_time_zone").default(false))
        // Leads started (sent their first step) per day and per hour.
        .col(integer_null("leads_per_day"))
        .col(integer_null("leads_per_hour"))
        // Money in minor units of `currency`.
        .col(big_integer_null("budget_amount"))
        .col(big_integer("spent_amount").default(0))
        .col(text("currency").default("USD"))
        // What ends a lead's sequence early: `replied`, `clicked`,
        // `converted`, `unsubscribed`, `bounced`, `won`, `lost`.
        .col(json_binary("stop_on").default(r#"["replied","unsubscribed","bounced","converted"]"#))
        // A/B tests: decided by this metric once every variant of a step
        // has `ab_min_sends` sends (or after `ab_decide_after_hours`), at
        // this confidence (percent).
        .col(enum_column(db, t, "ab_metric", AB_METRIC).default("open_rate"))
        .col(integer("ab_min_sends").default(100))
        .col(integer_null("ab_decide_after_hours"))
        .col(integer("ab_confidence_pct").default(95))
        .col(timestamp_with_time_zone_null("launched_at"))
        .col(timestamp_with_time_zone_null("paused_at"))
        .col(timestamp_with_time_zone_null("completed_at"))
        .col(timestamp_with_time_zone_null("archived_at"))
        // When the audience was last compared with the enrollments.
        .col(timestamp_with_time_zone_null("audience_synced_at"))
        .foreign_key(&mut tenant_ref(t, "project_id", "projects"));
    with_audit_columns(&mut table, db);
    manager.create_table(table).await?;
    exec(
        manager,
        "CREATE UNIQUE INDEX campaigns_tenant_id_name_key ON campaigns (tenant_id, lower(name)) \
         WHERE deleted_at IS NULL",
    )
    .await?;
    manager
        .create_index(index(t, &["tenant_id", "status", "id"]))
        .await
}

async fn create_campaign_senders(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let t = "campaign_senders";
    manager
        .create_table(
            Table::create()
                .table(t)
                .col(uuid("tenant_id"))
                .col(uuid("campaign_id"))
                .col(uuid("sender_id"))
                .col(integer("position"))
                .primary_key(
                    Index::create()
                        .name("campaign_senders_pkey")
                        .col("tenant_id")
                        .col("campaign_id")
                        .col("sender_id"),
                )
                .foreign_key(&mut crate::helpers::tenant_fk(t))
                .foreign_key(
                    &mut tenant_ref(t, "campaign_id", "campaigns")
                        .on_delete(ForeignKeyAction::Cascade)
                        .to_owned(),
                )
                .foreign_key(&mut tenant_ref(t, "sender_id", "sender_accounts"))
                .to_owned(),
        )
        .await
}

async fn create_campaign_steps(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    let t = "campaign_steps";
    let mut table = tenant_owned_table(t);
    table
        .col(uuid("campaign_id"))
        .col(integer("position"))
        // After the previous step was sent (after enrollment, for the first).
        .col(integer("delay_minutes").default(0))
        // Count the delay's days as business days (Monday to Friday).
        .col(boolean("business_days").default(false))
        .col(enum_column(db, t, "channel", MESSAGE_CHANNEL).default("email"))
        .col(uuid_null("winner_variant_id"))
        .col(timestamp_with_time_zone_null("winner_decided_at"))
        // The test's numbers when it was decided (or last found undecided).
        .col(json_binary_null("ab_decision"))
        .col(created_at(db))
        .col(updated_at(db))
        .foreign_key(
            &mut tenant_ref(t, "campaign_id", "campaigns")
                .on_delete(ForeignKeyAction::Cascade)
                .to_owned(),
        );
    manager.create_table(table).await?;
    manager
        .create_index(index(t, &["tenant_id", "campaign_id", "position"]))
        .await
}

async fn create_campaign_step_variants(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    let t = "campaign_step_variants";
    let mut table = tenant_owned_table(t);
    table
        .col(uuid("campaign_id"))
        .col(uuid("step_id"))
        .col(integer("position"))
        .col(text("label"))
        .col(integer("weight").default(1))
        .col(uuid_null("template_id"))
        .col(text_null("subject"))
        .col(text_null("text_body"))
        .col(text_null("html_body"))
        .col(created_at(db))
        .foreign_key(
            &mut tenant_ref(t, "step_id", "campaign_steps")
                .on_delete(ForeignKeyAction::Cascade)
                .to_owned(),
        )
        .foreign_key(&mut tenant_ref(t, "template_id", "message_templates"));
    manager.create_table(table).await?;
    manager
        .create_index(index(t, &["tenant_id", "step_id", "position"]))
        .await
}

async fn create_campaign_enrollments(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    let t = "campaign_enrollments";
    let mut table = tenant_owned_table(t);
    table
        .col(uuid("campaign_id"))
        .col(uuid("lead_id"))
        .col(enum_column(db, t, "status", ENROLLMENT_STATUS).default("active"))
        // Position of the next step to send; the number of steps when done.
        .col(integer("next_step").default(0))
        .col(timestamp_with_time_zone_null("next_run_at"))
        // `audience`, `manual`, `workflow`.
        .col(text("source"))
        .col(text_null("stop_reason"))
        .col(text_null("error"))
        .col(uuid_null("last_message_id"))
        .col(timestamp_with_time_zone_null("last_sent_at"))
        .col(timestamp_with_time_zone("enrolled_at"))
        // When its first step was queued: the leads-per-day and per-hour
        // caps count these.
        .col(timestamp_with_time_zone_null("started_at"))
        .col(timestamp_with_time_zone_null("completed_at"))
        .col(timestamp_with_time_zone_null("stopped_at"))
        .col(timestamp_with_time_zone_null("converted_at"))
        .col(updated_at(db))
        .foreign_key(
            &mut tenant_ref(t, "campaign_id", "campaigns")
                .on_delete(ForeignKeyAction::Cascade)
                .to_owned(),
        )
        .foreign_key(
            &mut tenant_ref(t, "lead_id", "leads")
                .on_delete(ForeignKeyAction::Cascade)
                .to_owned(),
        );
    manager.create_table(table).await?;
    exec(
        manager,
        "CREATE UNIQUE INDEX campaign_enrollments_tenant_id_campaign_id_lead_id_key \
         ON campaign_enrollments (tenant_id, campaign_id, lead_id)",
    )
    .await?;
    // The scheduler's claim: the campaign's due active enrollments.
    exec(
        manager,
        "CREATE INDEX campaign_enrollments_due_idx \
         ON campaign_enrollments (tenant_id, campaign_id, next_run_at) WHERE status = 'active'",
    )
    .await?;
    for cols in [
        &["tenant_id", "campaign_id", "id"][..],
        &["tenant_id", "campaign_id", "started_at"],
        &["tenant_id", "lead_id", "id"],
    ] {
        manager.create_index(index(t, cols)).await?;
    }
    Ok(())
}

async fn add_enum_values(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    if manager.get_database_backend() == DbBackend::Postgres {
        for (_, pg_type, _, value) in ADDED_VALUES {
            db.execute_unprepared(&format!(
                "ALTER TYPE {pg_type} ADD VALUE IF NOT EXISTS '{value}'"
            ))
            .await?;
        }
        return Ok(());
    }
    for (table, _, last, value) in ADDED_VALUES {
        rewrite_check(
            db,
            table,
            &format!("{last})"),
            &format!("{last}, '{value}')"),
        )
        .await?;
    }
    Ok(())
}

async fn link_messages(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    for column in ["enrollment_id", "step_id", "variant_id"] {
        manager
            .alter_table(
                Table::alter()
                    .table("messages")
                    .add_column(uuid_null(column))
                    .to_owned(),
            )
            .await?;
    }
    exec(
        manager,
        "CREATE UNIQUE INDEX messages_enrollment_step_key \
         ON messages (tenant_id, enrollment_id, step_id)",
    )
    .await?;
    // Each free label becomes an archived campaign of its own, so no
    // message loses its campaign when the column starts to reference one.
    let (kind, status) = match manager.get_database_backend() {
        DbBackend::Postgres => ("'broadcast'::campaign_kind", "'archived'::campaign_status"),
        _ => ("'broadcast'", "'archived'"),
    };
    exec(
        manager,
        &format!(
            "INSERT INTO campaigns (tenant_id, id, name, kind, status, archived_at) \
             SELECT DISTINCT tenant_id, campaign_id, 'Campaign ' || campaign_id, {kind}, \
             {status}, CURRENT_TIMESTAMP FROM messages WHERE campaign_id IS NOT NULL"
        ),
    )
    .await?;
    if manager.get_database_backend() == DbBackend::Postgres {
        // SQLite cannot add a table constraint to an existing table; the
        // services check the campaign there (they do on both).
        exec(
            manager,
            "ALTER TABLE messages \
             ADD CONSTRAINT messages_tenant_id_campaign_id_fkey FOREIGN KEY (tenant_id, campaign_id) \
             REFERENCES campaigns (tenant_id, id), \
             ADD CONSTRAINT messages_tenant_id_enrollment_id_fkey FOREIGN KEY (tenant_id, enrollment_id) \
             REFERENCES campaign_enrollments (tenant_id, id) ON DELETE SET NULL (enrollment_id)",
        )
        .await?;
    }
    Ok(())
}

async fn add_job_keys(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    for column in ["group_key", "unique_key"] {
        manager
            .alter_table(
                Table::alter()
                    .table("jobs")
                    .add_column(text_null(column))
                    .to_owned(),
            )
            .await?;
    }
    exec(
        manager,
        "CREATE INDEX jobs_group_key_idx ON jobs (group_key, status) WHERE group_key IS NOT NULL",
    )
    .await?;
    // `held` cannot appear here: PostgreSQL refuses a value added in the
    // same transaction. Held jobs never carry a unique key.
    exec(
        manager,
        "CREATE UNIQUE INDEX jobs_unique_key_key ON jobs (unique_key) \
         WHERE unique_key IS NOT NULL AND status IN ('pending', 'running')",
    )
    .await
}
