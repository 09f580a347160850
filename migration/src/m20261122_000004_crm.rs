//! The CRM (DOMAIN.md section 2): projects, companies, the pipeline, lead
//! sources, leads and their tags, custom field definitions, versioned notes,
//! the activity timeline and scoring rules. Every table is tenant-owned with
//! composite keys, so a lead can never point at another tenant's company,
//! stage, source, project or owner, and row-level security applies on
//! PostgreSQL.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, boolean, integer, integer_null, json_binary, text, text_null,
    timestamp_with_time_zone, timestamp_with_time_zone_null, uuid, uuid_null,
};
use sea_orm_migration::sea_orm::DbBackend;

use crate::enums::ACTOR_TYPE;
use crate::helpers::{
    PgEnum, create_enum, created_at, drop_enum, enum_column, enum_column_null, exec, index,
    tenant_owned_table, tenant_ref, unique_key, updated_at, with_audit_columns,
};
use crate::rls::{disable_tenant_rls, enable_tenant_rls};

pub const PROJECT_STATUS: PgEnum = PgEnum {
    name: "project_status",
    variants: &["active", "paused", "archived"],
};
/// Head-count bands: solo (1), micro (2-10), small (11-50), medium (51-200),
/// large (201-1000), enterprise (1001+).
pub const COMPANY_SIZE: PgEnum = PgEnum {
    name: "company_size",
    variants: &["solo", "micro", "small", "medium", "large", "enterprise"],
};
pub const LEAD_SOURCE_TYPE: PgEnum = PgEnum {
    name: "lead_source_type",
    variants: &[
        "website",
        "form",
        "import",
        "api",
        "linkedin",
        "apollo",
        "hunter",
        "google_places",
        "manual",
        "referral",
        "event",
        "email",
        "paid_ads",
        "other",
    ],
};
pub const LEAD_STATUS: PgEnum = PgEnum {
    name: "lead_status",
    variants: &[
        "new",
        "contacted",
        "follow_up_1",
        "follow_up_2",
        "responded",
        "interested",
        "not_interested",
        "invalid",
        "converted",
    ],
};
pub const VERIFICATION_STATUS: PgEnum = PgEnum {
    name: "verification_status",
    variants: &["unverified", "valid", "invalid", "risky", "unknown"],
};
pub const CUSTOM_FIELD_ENTITY: PgEnum = PgEnum {
    name: "custom_field_entity",
    variants: &["lead", "company"],
};
pub const CUSTOM_FIELD_TYPE: PgEnum = PgEnum {
    name: "custom_field_type",
    variants: &["text", "number", "date", "boolean", "select", "multiselect"],
};
pub const ACTIVITY_TYPE: PgEnum = PgEnum {
    name: "activity_type",
    variants: &[
        "lead_created",
        "lead_updated",
        "stage_changed",
        "status_changed",
        "assigned",
        "tags_changed",
        "note_added",
        "merged",
        "converted",
        "deleted",
        "restored",
        "call",
        "meeting",
        "email",
        "task",
        "other",
    ],
};
pub const SCORING_CONDITION: PgEnum = PgEnum {
    name: "scoring_condition",
    variants: &[
        "equals",
        "not_equals",
        "contains",
        "gt",
        "lt",
        "in",
        "exists",
    ],
};

const ENUMS: [PgEnum; 9] = [
    PROJECT_STATUS,
    COMPANY_SIZE,
    LEAD_SOURCE_TYPE,
    LEAD_STATUS,
    VERIFICATION_STATUS,
    CUSTOM_FIELD_ENTITY,
    CUSTOM_FIELD_TYPE,
    ACTIVITY_TYPE,
    SCORING_CONDITION,
];

/// Creation order; dropped in reverse.
const TABLES: [&str; 11] = [
    "projects",
    "companies",
    "lead_stages",
    "lead_sources",
    "leads",
    "lead_tags",
    "custom_field_definitions",
    "notes",
    "note_versions",
    "activities",
    "lead_scoring_rules",
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for e in ENUMS {
            create_enum(manager, e).await?;
        }
        create_projects(manager).await?;
        create_companies(manager).await?;
        create_lead_stages(manager).await?;
        create_lead_sources(manager).await?;
        create_leads(manager).await?;
        create_lead_tags(manager).await?;
        create_custom_field_definitions(manager).await?;
        create_notes(manager).await?;
        create_activities(manager).await?;
        create_lead_scoring_rules(manager).await?;
        for table in TABLES {
            enable_tenant_rls(manager, table).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES.iter().rev() {
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

/// Audit columns of user-facing records: who created and last changed the
/// row, and soft deletion.
async fn create_projects(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    let mut table = tenant_owned_table("projects");
    table
        .col(text("name"))
        .col(text_null("description"))
        .col(text_null("target_audience"))
        .col(json_binary("content_topics").default("[]"))
        .col(text_null("brand_voice"))
        .col(integer_null("monthly_lead_goal").check(Expr::col("monthly_lead_goal").gte(0)))
        .col(enum_column(db, "projects", "status", PROJECT_STATUS).default("active"));
    with_audit_columns(&mut table, db);
    manager.create_table(table).await
}

async fn create_companies(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    let mut table = tenant_owned_table("companies");
    table
        .col(text("name"))
        .col(text_null("website"))
        // Normalised from the website (lowercase host without `www.`).
        .col(text_null("domain"))
        .col(text_null("industry"))
        .col(enum_column_null(db, "companies", "size", COMPANY_SIZE))
        .col(text_null("phone"))
        .col(text_null("description"))
        .col(text_null("address_line1"))
        .col(text_null("address_line2"))
        .col(text_null("city"))
        .col(text_null("region"))
        .col(text_null("postal_code"))
        .col(text_null("country"))
        // Maps rating, review count, booking signals… from enrichment.
        .col(json_binary("enrichment").default("{}"))
        .col(json_binary("custom_fields").default("{}"));
    with_audit_columns(&mut table, db);
    manager.create_table(table).await?;
    manager
        .create_index(index("companies", &["tenant_id", "name"]))
        .await?;
    // One live company per domain and tenant; a deleted one frees the domain.
    // A partial index: valid on both backends.
    exec(
        manager,
        "CREATE UNIQUE INDEX companies_tenant_id_domain_key ON companies (tenant_id, domain) \
         WHERE domain IS NOT NULL AND deleted_at IS NULL",
    )
    .await
}

async fn create_lead_stages(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    manager
        .create_table(
            tenant_owned_table("lead_stages")
                .col(text("name"))
                .col(integer("position"))
                .col(text("color"))
                .col(boolean("is_default").default(false))
                .col(boolean("is_won").default(false))
                .col(boolean("is_lost").default(false))
                .col(created_at(db))
                .col(updated_at(db))
                .index(&mut unique_key("lead_stages", &["tenant_id", "name"]))
                .check(Check::named(
                    "lead_stages_won_lost_check",
                    Expr::cust("NOT (is_won AND is_lost)"),
                ))
                .to_owned(),
        )
        .await?;
    manager
        .create_index(index("lead_stages", &["tenant_id", "position"]))
        .await
}

async fn create_lead_sources(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    let mut table = tenant_owned_table("lead_sources");
    table
        .col(text("name"))
        .col(enum_column(
            db,
            "lead_sources",
            "source_type",
            LEAD_SOURCE_TYPE,
        ))
        .col(text_null("utm_source"))
        .col(text_null("utm_medium"))
        .col(text_null("utm_campaign"))
        .col(text_null("utm_term"))
        .col(text_null("utm_content"))
        .col(boolean("is_active").default(true));
    with_audit_columns(&mut table, db);
    manager.create_table(table).await?;
    exec(
        manager,
        "CREATE UNIQUE INDEX lead_sources_tenant_id_name_key ON lead_sources (tenant_id, name) \
         WHERE deleted_at IS NULL",
    )
    .await
}

async fn create_leads(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    let mut table = tenant_owned_table("leads");
    table
        .col(text_null("first_name"))
        .col(text_null("last_name"))
        .col(text_null("email"))
        .col(text_null("phone"))
        .col(text_null("job_title"))
        .col(text_null("country"))
        .col(text_null("city"))
        .col(uuid_null("project_id"))
        .col(uuid_null("company_id"))
        .col(uuid_null("stage_id"))
        .col(uuid_null("source_id"))
        // The member the lead is assigned to (a user id of this tenant).
        .col(uuid_null("owner_id"))
        .col(enum_column(db, "leads", "status", LEAD_STATUS).default("new"))
        .col(
            integer("score")
                .default(0)
                .check(Expr::cust("score BETWEEN 0 AND 100")),
        )
        .col(integer_null("quality_score").check(Expr::cust("quality_score BETWEEN 0 AND 100")))
        .col(
            enum_column(db, "leads", "verification_status", VERIFICATION_STATUS)
                .default("unverified"),
        )
        // BANT qualification.
        .col(big_integer_null("budget_cents").check(Expr::col("budget_cents").gte(0)))
        .col(text_null("authority"))
        .col(text_null("need"))
        .col(text_null("timeline"))
        .col(big_integer("lifetime_value_cents").default(0))
        .col(text("currency").default("EUR"))
        // Engagement counters, kept by messaging.
        .col(integer("emails_sent").default(0))
        .col(integer("emails_opened").default(0))
        .col(integer("emails_clicked").default(0))
        .col(timestamp_with_time_zone_null("last_contacted_at"))
        .col(timestamp_with_time_zone_null("last_responded_at"))
        .col(json_binary("custom_fields").default("{}"))
        .col(json_binary("enrichment").default("{}"))
        // Denormalised by the service: lowercase "first last email company"
        // for search, and the lowercase display name for ordering by name.
        .col(text("search_text").default(""))
        .col(text("sort_name").default(""))
        .col(timestamp_with_time_zone_null("converted_at"))
        .foreign_key(&mut tenant_ref("leads", "project_id", "projects"))
        .foreign_key(&mut tenant_ref("leads", "company_id", "companies"))
        .foreign_key(&mut tenant_ref("leads", "stage_id", "lead_stages"))
        .foreign_key(&mut tenant_ref("leads", "source_id", "lead_sources"))
        .foreign_key(
            ForeignKey::create()
                .name("leads_tenant_id_owner_id_fkey")
                .from_col("tenant_id")
                .from_col("owner_id")
                .to_tbl("memberships")
                .to_col("tenant_id")
                .to_col("user_id"),
        );
    with_audit_columns(&mut table, db);
    manager.create_table(table).await?;
    // Email unique per tenant ignoring case, among live leads.
    exec(
        manager,
        "CREATE UNIQUE INDEX leads_tenant_id_email_key ON leads (tenant_id, lower(email)) \
         WHERE email IS NOT NULL AND deleted_at IS NULL",
    )
    .await?;
    // Keyset orders and the filterable relations, each tenant-first with the
    // id as the tiebreaker.
    for cols in [
        &["tenant_id", "stage_id", "id"][..],
        // A stage's leads by score: the pipeline board's default view.
        &["tenant_id", "stage_id", "score", "id"],
        &["tenant_id", "status", "id"],
        &["tenant_id", "owner_id", "id"],
        &["tenant_id", "company_id", "id"],
        &["tenant_id", "source_id", "id"],
        &["tenant_id", "project_id", "id"],
        &["tenant_id", "score", "id"],
        &["tenant_id", "updated_at", "id"],
        &["tenant_id", "sort_name", "id"],
        &["tenant_id", "last_contacted_at", "id"],
        &["tenant_id", "converted_at"],
    ] {
        manager.create_index(index("leads", cols)).await?;
    }
    if db == DbBackend::Postgres {
        // Substring search on names, emails and company names. A trigram GIN
        // index cannot lead with tenant_id (no GIN opclass for uuid without
        // btree_gin); the tenant filter is applied on the bitmap result.
        exec(manager, "CREATE EXTENSION IF NOT EXISTS pg_trgm").await?;
        exec(
            manager,
            "CREATE INDEX leads_search_text_trgm_idx ON leads USING gin (search_text gin_trgm_ops)",
        )
        .await?;
    }
    Ok(())
}

async fn create_lead_tags(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    manager
        .create_table(
            Table::create()
                .table("lead_tags")
                .col(uuid("tenant_id"))
                .col(uuid("lead_id"))
                .col(text("tag"))
                .col(created_at(db))
                .primary_key(
                    Index::create()
                        .name("lead_tags_pkey")
                        .col("tenant_id")
                        .col("lead_id")
                        .col("tag"),
                )
                .foreign_key(&mut crate::helpers::tenant_fk("lead_tags"))
                .foreign_key(
                    &mut tenant_ref("lead_tags", "lead_id", "leads")
                        .on_delete(ForeignKeyAction::Cascade)
                        .to_owned(),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(index("lead_tags", &["tenant_id", "tag", "lead_id"]))
        .await
}

async fn create_custom_field_definitions(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    let table = "custom_field_definitions";
    manager
        .create_table(
            tenant_owned_table(table)
                .col(enum_column(db, table, "entity", CUSTOM_FIELD_ENTITY))
                .col(text("key"))
                .col(text("label"))
                .col(enum_column(db, table, "field_type", CUSTOM_FIELD_TYPE))
                .col(boolean("required").default(false))
                // Allowed values of select / multiselect fields.
                .col(json_binary("options").default("[]"))
                // {min, max, minLength, maxLength, regex}.
                .col(json_binary("validation").default("{}"))
                .col(integer("position").default(0))
                .col(created_at(db))
                .col(updated_at(db))
                .index(&mut unique_key(table, &["tenant_id", "entity", "key"]))
                .to_owned(),
        )
        .await
}

async fn create_notes(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    manager
        .create_table(
            tenant_owned_table("notes")
                // Exactly one of lead / company: real composite foreign keys
                // rather than a polymorphic (type, id) pair the database
                // could not check.
                .col(uuid_null("lead_id"))
                .col(uuid_null("company_id"))
                .col(uuid_null("author_id"))
                .col(text("body"))
                .col(boolean("is_internal").default(false))
                .col(integer("version").default(1))
                .col(created_at(db))
                .col(updated_at(db))
                .col(uuid_null("updated_by"))
                .col(timestamp_with_time_zone_null("deleted_at"))
                .foreign_key(&mut tenant_ref("notes", "lead_id", "leads"))
                .foreign_key(&mut tenant_ref("notes", "company_id", "companies"))
                .foreign_key(
                    ForeignKey::create()
                        .name("notes_author_id_fkey")
                        .from_col("author_id")
                        .to_tbl("users")
                        .to_col("id")
                        .on_delete(ForeignKeyAction::SetNull),
                )
                .check(Check::named(
                    "notes_one_subject_check",
                    Expr::cust("(lead_id IS NULL) <> (company_id IS NULL)"),
                ))
                .to_owned(),
        )
        .await?;
    manager
        .create_index(index("notes", &["tenant_id", "lead_id", "id"]))
        .await?;
    manager
        .create_index(index("notes", &["tenant_id", "company_id", "id"]))
        .await?;
    manager
        .create_table(
            tenant_owned_table("note_versions")
                .col(uuid("note_id"))
                .col(integer("version"))
                .col(text("body"))
                .col(boolean("is_internal"))
                .col(uuid_null("edited_by"))
                .col(created_at(db))
                .foreign_key(
                    &mut tenant_ref("note_versions", "note_id", "notes")
                        .on_delete(ForeignKeyAction::Cascade)
                        .to_owned(),
                )
                .index(&mut unique_key(
                    "note_versions",
                    &["tenant_id", "note_id", "version"],
                ))
                .to_owned(),
        )
        .await
}

async fn create_activities(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    manager
        .create_table(
            tenant_owned_table("activities")
                .col(uuid("lead_id"))
                .col(enum_column(
                    db,
                    "activities",
                    "activity_type",
                    ACTIVITY_TYPE,
                ))
                .col(enum_column(db, "activities", "actor_type", ACTOR_TYPE))
                .col(uuid_null("actor_id"))
                .col(text("summary"))
                .col(json_binary("detail").default("{}"))
                .col(timestamp_with_time_zone("occurred_at"))
                .col(created_at(db))
                .foreign_key(
                    &mut tenant_ref("activities", "lead_id", "leads")
                        .on_delete(ForeignKeyAction::Cascade)
                        .to_owned(),
                )
                .to_owned(),
        )
        .await?;
    // A lead's timeline, newest first.
    manager
        .create_index(index("activities", &["tenant_id", "lead_id", "id"]))
        .await
}

async fn create_lead_scoring_rules(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    let table = "lead_scoring_rules";
    manager
        .create_table(
            tenant_owned_table(table)
                .col(text("name"))
                // A lead field (`status`, `country`, `jobTitle`, `emailsOpened`,
                // `tags`, `custom.<key>`…) or engagement fact.
                .col(text("criteria"))
                .col(enum_column(db, table, "condition", SCORING_CONDITION))
                .col(json_binary("value").default("null"))
                .col(integer("points").check(Expr::cust("points BETWEEN -100 AND 100")))
                .col(boolean("is_active").default(true))
                .col(created_at(db))
                .col(updated_at(db))
                .to_owned(),
        )
        .await?;
    manager
        .create_index(index(table, &["tenant_id", "is_active"]))
        .await
}
