//! Messaging and engagement (DOMAIN.md section 4): message templates, custom
//! variables, sender accounts, messages, append-only engagement events and
//! the suppression list; plus the global tables the senders and trackers
//! need: durable jobs, the directory that maps a provider's message id to its
//! tenant (webhooks arrive without one) and the receipts that make webhook
//! replays harmless.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, integer, integer_null, json_binary, text, text_null,
    timestamp_with_time_zone, timestamp_with_time_zone_null, uuid, uuid_null,
};

use crate::helpers::{
    PgEnum, create_enum, created_at, drop_enum, enum_column, exec, index, now_default, tenant_fk,
    tenant_owned_table, tenant_ref, unique_key, updated_at,
};
use crate::rls::{disable_tenant_rls, enable_tenant_rls};

pub const MESSAGE_CHANNEL: PgEnum = PgEnum {
    name: "message_channel",
    variants: &["email", "sms", "whatsapp", "linkedin", "voice"],
};
/// Seed 001's email template categories plus seed 000's template types.
pub const TEMPLATE_CATEGORY: PgEnum = PgEnum {
    name: "template_category",
    variants: &[
        "initial_outreach",
        "follow_up",
        "meeting_request",
        "introduction",
        "product_demo",
        "partnership",
        "welcome",
        "nurture",
        "promotional",
        "general",
        "other",
    ],
};
/// `none`: plain SMTP (local relays, tests); `starttls`: upgrade on port
/// 587; `tls`: implicit TLS on port 465.
pub const SMTP_TLS_MODE: PgEnum = PgEnum {
    name: "smtp_tls_mode",
    variants: &["none", "starttls", "tls"],
};
pub const MESSAGE_STATUS: PgEnum = PgEnum {
    name: "message_status",
    variants: &[
        "queued",
        "sent",
        "delivered",
        "opened",
        "clicked",
        "replied",
        "bounced",
        "complained",
        "failed",
    ],
};
pub const ENGAGEMENT_TYPE: PgEnum = PgEnum {
    name: "engagement_type",
    variants: &[
        "sent",
        "delivered",
        "opened",
        "clicked",
        "replied",
        "bounced",
        "complained",
        "unsubscribed",
        "failed",
    ],
};
pub const SUPPRESSION_REASON: PgEnum = PgEnum {
    name: "suppression_reason",
    variants: &["unsubscribed", "hard_bounce", "complaint", "manual"],
};
pub const JOB_STATUS: PgEnum = PgEnum {
    name: "job_status",
    variants: &["pending", "running", "done", "dead"],
};

const ENUMS: [PgEnum; 7] = [
    MESSAGE_CHANNEL,
    TEMPLATE_CATEGORY,
    SMTP_TLS_MODE,
    MESSAGE_STATUS,
    ENGAGEMENT_TYPE,
    SUPPRESSION_REASON,
    JOB_STATUS,
];

/// Tenant-owned tables in creation order; dropped in reverse.
const TENANT_TABLES: [&str; 8] = [
    "message_templates",
    "custom_variables",
    "sender_accounts",
    "messages",
    "message_links",
    "engagement_sequences",
    "engagement_events",
    "suppressions",
];
/// Tables every tenant shares (no row-level security): workers, webhooks
/// and the tracker reach them before a tenant is known.
const GLOBAL_TABLES: [&str; 3] = ["jobs", "message_directory", "webhook_receipts"];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for e in ENUMS {
            create_enum(manager, e).await?;
        }
        create_message_templates(manager).await?;
        create_custom_variables(manager).await?;
        create_sender_accounts(manager).await?;
        create_messages(manager).await?;
        create_message_links(manager).await?;
        create_engagement_sequences(manager).await?;
        create_engagement_events(manager).await?;
        create_suppressions(manager).await?;
        create_jobs(manager).await?;
        create_message_directory(manager).await?;
        create_webhook_receipts(manager).await?;
        for table in TENANT_TABLES {
            enable_tenant_rls(manager, table).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in GLOBAL_TABLES.iter().rev() {
            manager
                .drop_table(Table::drop().table(*table).if_exists().to_owned())
                .await?;
        }
        for table in TENANT_TABLES.iter().rev() {
            disable_tenant_rls(manager, table).await.ok();
            manager
                .drop_table(Table::drop().table(*table).if_exists().to_owned())
                .await?;
        }
        for e in ENUMS.iter().rev() {
            drop_enum(manager, *e).await?;
        }
        Ok(())
    }
}

/// Counters of what was sent with a template or through a message: kept in
/// the same transaction as the event that changes them.
fn engagement_counters(table: &mut TableCreateStatement) {
    for col in [
        "sent_count",
        "delivered_count",
        "opened_count",
        "clicked_count",
        "replied_count",
        "bounced_count",
        "complained_count",
        "unsubscribed_count",
    ] {
        table.col(integer(col).default(0));
    }
}

async fn create_message_templates(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    let t = "message_templates";
    let mut table = tenant_owned_table(t);
    table
        .col(text("name"))
        .col(text_null("description"))
        .col(enum_column(db, t, "channel", MESSAGE_CHANNEL).default("email"))
        .col(enum_column(db, t, "category", TEMPLATE_CATEGORY).default("general"))
        .col(text_null("subject"))
        .col(text_null("text_body"))
        .col(text_null("html_body"))
        // [{"name": "...", "default": "..."}]: variables a sender may pass in,
        // each with the value used when it does not.
        .col(json_binary("variables").default("[]"))
        .col(boolean("is_active").default(true))
        .col(boolean("is_default").default(false))
        .col(integer("usage_count").default(0));
    engagement_counters(&mut table);
    table
        .col(created_at(db))
        .col(updated_at(db))
        .col(uuid_null("created_by"))
        .col(uuid_null("updated_by"))
        .col(timestamp_with_time_zone_null("deleted_at"))
        .col(uuid_null("deleted_by"));
    manager.create_table(table).await?;
    exec(
        manager,
        "CREATE UNIQUE INDEX message_templates_tenant_id_channel_name_key \
         ON message_templates (tenant_id, channel, name) WHERE deleted_at IS NULL",
    )
    .await
}

async fn create_custom_variables(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    let t = "custom_variables";
    manager
        .create_table(
            tenant_owned_table(t)
                // The name templates use: `{{ vars.companyRevenue }}`.
                .col(text("key"))
                .col(text("label"))
                .col(text("category").default("custom"))
                .col(text_null("description"))
                .col(text("default_value").default(""))
                .col(boolean("is_active").default(true))
                .col(integer("usage_count").default(0))
                .col(created_at(db))
                .col(updated_at(db))
                .to_owned(),
        )
        .await?;
    manager
        .create_index(unique_key(t, &["tenant_id", "key"]).table(t).to_owned())
        .await
}

async fn create_sender_accounts(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    let t = "sender_accounts";
    manager
        .create_table(
            tenant_owned_table(t)
                .col(text("name"))
                .col(text("provider").default("custom"))
                .col(text("host"))
                .col(integer("port").check(Expr::cust("port BETWEEN 1 AND 65535")))
                .col(enum_column(db, t, "tls_mode", SMTP_TLS_MODE).default("starttls"))
                .col(text_null("username"))
                // AES-256-GCM: base64 of nonce || ciphertext || tag, never the
                // password itself.
                .col(text_null("password_encrypted"))
                .col(text("from_email"))
                .col(text_null("from_name"))
                .col(text_null("reply_to"))
                .col(integer_null("hourly_limit").check(Expr::cust("hourly_limit >= 0")))
                .col(integer_null("daily_limit").check(Expr::cust("daily_limit >= 0")))
                // Higher first; ties broken by creation order.
                .col(integer("priority").default(0))
                .col(boolean("is_active").default(true))
                .col(big_integer("total_sent").default(0))
                .col(timestamp_with_time_zone_null("last_used_at"))
                .col(text_null("last_error"))
                .col(timestamp_with_time_zone_null("last_error_at"))
                .col(created_at(db))
                .col(updated_at(db))
                .col(uuid_null("created_by"))
                .col(uuid_null("updated_by"))
                .col(timestamp_with_time_zone_null("deleted_at"))
                .col(uuid_null("deleted_by"))
                .to_owned(),
        )
        .await?;
    exec(
        manager,
        "CREATE UNIQUE INDEX sender_accounts_tenant_id_name_key \
         ON sender_accounts (tenant_id, name) WHERE deleted_at IS NULL",
    )
    .await
}

async fn create_messages(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    let t = "messages";
    let mut table = tenant_owned_table(t);
    table
        .col(enum_column(db, t, "channel", MESSAGE_CHANNEL).default("email"))
        .col(uuid("lead_id"))
        // Campaigns, enrollments and sequence steps arrive with the campaigns
        // feature; the ids are kept now so events can be filtered by them.
        .col(uuid_null("campaign_id"))
        .col(uuid_null("template_id"))
        .col(uuid_null("sender_id"))
        .col(text("recipient"))
        .col(text_null("from_email"))
        .col(text_null("from_name"))
        .col(text_null("subject"))
        .col(text_null("text_body"))
        .col(text_null("html_body"))
        .col(enum_column(db, t, "status", MESSAGE_STATUS).default("queued"))
        // Our RFC 5322 Message-ID, fixed when the message is queued: the
        // idempotency key of the delivery (a retry re-sends the same id).
        .col(text("message_id_header"))
        .col(text_null("provider_message_id"))
        .col(boolean("tracking").default(true))
        .col(text_null("error"))
        .col(integer("attempts").default(0))
        // Set, and committed, just before the SMTP DATA command: a worker
        // that finds it set on a queued message knows an earlier attempt
        // stopped mid-transfer and must not send again.
        .col(timestamp_with_time_zone_null("transfer_started_at"))
        .col(timestamp_with_time_zone("queued_at").default(now_default(db)))
        .col(timestamp_with_time_zone_null("sent_at"))
        .col(timestamp_with_time_zone_null("delivered_at"))
        .col(timestamp_with_time_zone_null("opened_at"))
        .col(timestamp_with_time_zone_null("clicked_at"))
        .col(timestamp_with_time_zone_null("replied_at"))
        .col(timestamp_with_time_zone_null("bounced_at"))
        .col(timestamp_with_time_zone_null("complained_at"))
        .col(timestamp_with_time_zone_null("failed_at"))
        .col(timestamp_with_time_zone_null("unsubscribed_at"))
        .col(integer("open_count").default(0))
        .col(integer("click_count").default(0))
        .col(integer("credits_charged").default(0))
        .col(json_binary("variables").default("{}"))
        .col(created_at(db))
        .col(updated_at(db))
        .col(uuid_null("created_by"))
        .foreign_key(&mut tenant_ref(t, "lead_id", "leads"))
        .foreign_key(&mut tenant_ref(t, "template_id", "message_templates"))
        .foreign_key(&mut tenant_ref(t, "sender_id", "sender_accounts"));
    manager.create_table(table).await?;
    manager
        .create_index(
            unique_key(t, &["tenant_id", "message_id_header"])
                .table(t)
                .to_owned(),
        )
        .await?;
    for cols in [
        &["tenant_id", "lead_id", "id"][..],
        &["tenant_id", "status", "id"],
        &["tenant_id", "template_id", "id"],
        &["tenant_id", "campaign_id", "id"],
        // Sender limits count what each account sent in the last hour/day.
        &["tenant_id", "sender_id", "sent_at"],
        // The daily cap counts what the tenant queued today.
        &["tenant_id", "queued_at"],
    ] {
        manager.create_index(index(t, cols)).await?;
    }
    Ok(())
}

async fn create_message_links(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let t = "message_links";
    manager
        .create_table(
            tenant_owned_table(t)
                .col(uuid("message_id"))
                // 0-based order of the link in the HTML body; click tokens
                // name (message, position).
                .col(integer("position"))
                .col(text("url"))
                .col(integer("click_count").default(0))
                .foreign_key(&mut tenant_ref(t, "message_id", "messages"))
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            unique_key(t, &["tenant_id", "message_id", "position"])
                .table(t)
                .to_owned(),
        )
        .await
}

/// One row per tenant: the last engagement event sequence number. Writers
/// take it with `UPDATE … RETURNING` inside their transaction, so sequence
/// numbers are handed out in commit order and a subscriber resuming "after
/// N" can never miss an event that committed later with a smaller number.
async fn create_engagement_sequences(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table("engagement_sequences")
                .col(uuid("tenant_id").primary_key())
                .col(big_integer("last_seq").default(0))
                .foreign_key(&mut tenant_fk("engagement_sequences"))
                .to_owned(),
        )
        .await
}

async fn create_engagement_events(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    let t = "engagement_events";
    manager
        .create_table(
            tenant_owned_table(t)
                .col(big_integer("seq"))
                .col(enum_column(db, t, "event_type", ENGAGEMENT_TYPE))
                .col(uuid("message_id"))
                .col(uuid("lead_id"))
                .col(uuid_null("campaign_id"))
                .col(uuid_null("template_id"))
                // Scanners, prefetchers and clicks too fast for a human:
                // stored, but kept out of the human rates.
                .col(boolean("machine").default(false))
                .col(text_null("url"))
                .col(text_null("ip"))
                .col(text_null("user_agent"))
                // Where it came from: `tracker`, `smtp`, `ses`, `sendgrid`,
                // `standard`, `api`.
                .col(text("source"))
                .col(json_binary("detail").default("{}"))
                .col(timestamp_with_time_zone("occurred_at"))
                .col(created_at(db))
                .foreign_key(&mut tenant_ref(t, "message_id", "messages"))
                .to_owned(),
        )
        .await?;
    manager
        .create_index(unique_key(t, &["tenant_id", "seq"]).table(t).to_owned())
        .await?;
    for cols in [
        &["tenant_id", "message_id", "seq"][..],
        &["tenant_id", "lead_id", "seq"],
        &["tenant_id", "campaign_id", "seq"],
        &["tenant_id", "template_id", "seq"],
    ] {
        manager.create_index(index(t, cols)).await?;
    }
    Ok(())
}

async fn create_suppressions(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    let t = "suppressions";
    manager
        .create_table(
            tenant_owned_table(t)
                // Lowercased.
                .col(text("email"))
                .col(enum_column(db, t, "reason", SUPPRESSION_REASON))
                .col(uuid_null("message_id"))
                .col(text_null("detail"))
                .col(created_at(db))
                .col(uuid_null("created_by"))
                .to_owned(),
        )
        .await?;
    manager
        .create_index(unique_key(t, &["tenant_id", "email"]).table(t).to_owned())
        .await
}

async fn create_jobs(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    let t = "jobs";
    manager
        .create_table(
            Table::create()
                .table(t)
                .col(uuid("id").primary_key())
                .col(uuid_null("tenant_id"))
                // `send_message`, …
                .col(text("kind"))
                .col(json_binary("payload").default("{}"))
                .col(enum_column(db, t, "status", JOB_STATUS).default("pending"))
                .col(integer("attempts").default(0))
                .col(integer("max_attempts").default(8))
                .col(timestamp_with_time_zone("run_at").default(now_default(db)))
                // A running job whose lease ran out belongs to a worker that
                // died; another worker takes it over.
                .col(timestamp_with_time_zone_null("locked_until"))
                .col(text_null("locked_by"))
                .col(text_null("last_error"))
                .col(created_at(db))
                .col(updated_at(db))
                .foreign_key(&mut tenant_fk(t))
                .to_owned(),
        )
        .await?;
    manager
        .create_index(index(t, &["status", "run_at"]))
        .await?;
    manager
        .create_index(index(t, &["tenant_id", "kind", "status"]))
        .await
}

async fn create_message_directory(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let t = "message_directory";
    manager
        .create_table(
            Table::create()
                .table(t)
                // Our Message-ID or the provider's id for the message.
                .col(text("lookup_key").primary_key())
                .col(uuid("tenant_id"))
                .col(uuid("message_id"))
                .foreign_key(&mut tenant_fk(t))
                .to_owned(),
        )
        .await
}

async fn create_webhook_receipts(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    manager
        .create_table(
            Table::create()
                .table("webhook_receipts")
                .col(text("provider"))
                .col(text("event_id"))
                .col(timestamp_with_time_zone("received_at").default(now_default(db)))
                .primary_key(
                    Index::create()
                        .name("webhook_receipts_pkey")
                        .col("provider")
                        .col("event_id"),
                )
                .to_owned(),
        )
        .await
}
