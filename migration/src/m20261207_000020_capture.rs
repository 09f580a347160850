//! Capture (DOMAIN.md section 3): public lead forms and page-view tracking.
//!
//! - `forms`, `form_fields`: a form a visitor fills on the tenant's site:
//!   its settings (what a submission does) and its ordered, typed fields,
//!   each mapped to a lead field or a custom field.
//! - `form_submissions`: every accepted submission, as sent, with the lead
//!   it created or updated, where it came from, and the double opt-in
//!   confirmation (the consent proof).
//! - `form_daily_counts`: views and silently dropped spam per form and day
//!   (`form.stats` over a period).
//! - `tracking_sites`: a tenant's website for page-view tracking: its public
//!   site key and the URL patterns of its funnel pages.
//! - `page_views`, `visitor_leads`: visits, and which lead a first-party
//!   visitor id turned out to be.
//! - `public_ids`: the one shared directory from a public id (a form's, a
//!   site key) to its tenant, for the public routes that have no caller.
//! - `leads.opt_in_status`: where a lead stands in double opt-in.
//! - Activity types `form_submitted` and `opt_in_confirmed`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, date, integer, integer_null, json_binary, json_binary_null, text,
    text_null, timestamp_with_time_zone, timestamp_with_time_zone_null, uuid, uuid_null,
};
use sea_orm_migration::sea_orm::DbBackend;

use crate::helpers::{
    PgEnum, create_enum, created_at, drop_enum, enum_column, exec, index, rewrite_check, tenant_fk,
    tenant_owned_table, tenant_ref, updated_at, with_audit_columns,
};
use crate::rls::{APP_ROLE, SYSTEM_ROLE, disable_tenant_rls, enable_tenant_rls, exec_on_postgres};

pub const FORM_STATUS: PgEnum = PgEnum {
    name: "form_status",
    variants: &["draft", "published", "archived"],
};

pub const FORM_FIELD_TYPE: PgEnum = PgEnum {
    name: "form_field_type",
    variants: &[
        "text",
        "email",
        "phone",
        "number",
        "textarea",
        "select",
        "multiselect",
        "checkbox",
        "date",
        "hidden",
        "consent",
    ],
};

/// What a submission does to the lead that already has its email.
pub const FORM_UPDATE_POLICY: PgEnum = PgEnum {
    name: "form_update_policy",
    variants: &["fill_blanks", "overwrite"],
};

/// Whether a submission made a lead or changed one.
pub const SUBMISSION_OUTCOME: PgEnum = PgEnum {
    name: "submission_outcome",
    variants: &["created", "updated"],
};

/// Double opt-in, of a lead and of the submission that asked for it.
pub const OPT_IN_STATUS: PgEnum = PgEnum {
    name: "opt_in_status",
    variants: &["none", "pending", "confirmed"],
};

pub const DEVICE_TYPE: PgEnum = PgEnum {
    name: "device_type",
    variants: &["desktop", "mobile", "tablet", "other"],
};

/// What a public id opens.
pub const PUBLIC_ID_KIND: PgEnum = PgEnum {
    name: "public_id_kind",
    variants: &["form", "tracking_site"],
};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Creation order; dropped in reverse.
const TENANT_TABLES: [&str; 7] = [
    "forms",
    "form_fields",
    "form_submissions",
    "form_daily_counts",
    "tracking_sites",
    "page_views",
    "visitor_leads",
];

const ENUMS: [PgEnum; 7] = [
    FORM_STATUS,
    FORM_FIELD_TYPE,
    FORM_UPDATE_POLICY,
    SUBMISSION_OUTCOME,
    OPT_IN_STATUS,
    DEVICE_TYPE,
    PUBLIC_ID_KIND,
];

/// Activity types added: the IN list's last value before, the values added.
const ACTIVITY_LAST: &str = "'other'";
const ACTIVITIES: [&str; 2] = ["form_submitted", "opt_in_confirmed"];

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
        create_forms(manager).await?;
        create_form_fields(manager).await?;
        create_form_submissions(manager).await?;
        create_form_daily_counts(manager).await?;
        create_tracking_sites(manager).await?;
        create_page_views(manager).await?;
        create_visitor_leads(manager).await?;
        for t in TENANT_TABLES {
            enable_tenant_rls(manager, t).await?;
        }
        create_public_ids(manager).await?;
        add_opt_in_to_leads(manager).await?;
        add_activity_types(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let values = ACTIVITIES.map(|v| format!("'{v}'")).join(", ");
        db.execute_unprepared(&format!(
            "UPDATE activities SET activity_type = 'other' WHERE activity_type IN ({values})"
        ))
        .await?;
        if manager.get_database_backend() == DbBackend::Sqlite {
            rewrite_check(
                db,
                "activities",
                &format!("{ACTIVITY_LAST}, {values})"),
                &format!("{ACTIVITY_LAST})"),
            )
            .await?;
        }
        for column in ["opt_in_confirmed_at", "opt_in_status"] {
            manager
                .alter_table(Table::alter().table("leads").drop_column(column).to_owned())
                .await?;
        }
        exec(manager, "DROP TABLE IF EXISTS public_ids").await?;
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

async fn create_forms(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    let t = "forms";
    let mut table = tenant_owned_table(t);
    table
        .col(text("name"))
        .col(text_null("title"))
        .col(text_null("description"))
        .col(uuid_null("project_id"))
        .col(enum_column(db, t, "status", FORM_STATUS).default("draft"))
        // Unguessable; `public_ids` routes it to the tenant.
        .col(text("public_id"))
        .col(text_null("success_message"))
        .col(text_null("redirect_url"))
        // Origins allowed to post the form from a browser (CORS), as a JSON
        // array of `scheme://host[:port]`.
        .col(json_binary("allowed_origins").default("[]"))
        .col(boolean("double_opt_in").default(false))
        .col(uuid_null("confirmation_template_id"))
        // What a submission does to its lead.
        .col(uuid_null("stage_id"))
        .col(uuid_null("source_id"))
        .col(json_binary("tags").default("[]"))
        .col(uuid_null("owner_id"))
        // Round robin over these members when `owner_id` is not set; the
        // next one's position.
        .col(json_binary("round_robin_owner_ids").default("[]"))
        .col(integer("round_robin_next").default(0))
        .col(json_binary("notify_user_ids").default("[]"))
        .col(enum_column(db, t, "update_policy", FORM_UPDATE_POLICY).default("fill_blanks"))
        // Faster than this since the form was drawn is a bot.
        .col(integer("min_fill_seconds").default(3))
        .col(timestamp_with_time_zone_null("published_at"))
        .foreign_key(&mut tenant_ref(t, "project_id", "projects"))
        .foreign_key(&mut tenant_ref(t, "stage_id", "lead_stages"))
        .foreign_key(&mut tenant_ref(t, "source_id", "lead_sources"))
        .foreign_key(&mut tenant_ref(
            t,
            "confirmation_template_id",
            "message_templates",
        ))
        .foreign_key(
            ForeignKey::create()
                .name("forms_tenant_id_owner_id_fkey")
                .from_col("tenant_id")
                .from_col("owner_id")
                .to_tbl("memberships")
                .to_col("tenant_id")
                .to_col("user_id"),
        );
    with_audit_columns(&mut table, db);
    manager.create_table(table).await?;
    exec(
        manager,
        "CREATE UNIQUE INDEX forms_tenant_id_name_key ON forms (tenant_id, lower(name)) \
         WHERE deleted_at IS NULL",
    )
    .await?;
    exec(
        manager,
        "CREATE UNIQUE INDEX forms_tenant_id_public_id_key ON forms (tenant_id, public_id)",
    )
    .await
}

async fn create_form_fields(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    let t = "form_fields";
    let mut table = tenant_owned_table(t);
    table
        .col(uuid("form_id"))
        .col(integer("position"))
        // The name the field is posted under.
        .col(text("key"))
        .col(enum_column(db, t, "field_type", FORM_FIELD_TYPE))
        .col(text("label"))
        .col(text_null("placeholder"))
        .col(text_null("help_text"))
        .col(boolean("required").default(false))
        // `[{ "value": …, "label": … }]` for select, multiselect.
        .col(json_binary("options").default("[]"))
        // `{ minLength, maxLength, min, max, pattern }`, each optional.
        .col(json_binary("validation").default("{}"))
        // A lead attribute (`email`, `firstName`…) or `customFields.<key>`;
        // NULL keeps the value on the submission only.
        .col(text_null("maps_to"))
        .col(text_null("default_value"))
        .foreign_key(
            &mut tenant_ref(t, "form_id", "forms")
                .on_delete(ForeignKeyAction::Cascade)
                .to_owned(),
        );
    manager.create_table(table).await?;
    exec(
        manager,
        "CREATE UNIQUE INDEX form_fields_tenant_id_form_id_key_key \
         ON form_fields (tenant_id, form_id, key)",
    )
    .await
}

async fn create_form_submissions(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    let t = "form_submissions";
    let mut table = tenant_owned_table(t);
    table
        .col(uuid("form_id"))
        .col(uuid("lead_id"))
        .col(enum_column(db, t, "outcome", SUBMISSION_OUTCOME))
        // The fields as posted, by key (after validation: typed values).
        .col(json_binary("data"))
        .col(text_null("page_url"))
        .col(text_null("referrer"))
        .col(text_null("utm_source"))
        .col(text_null("utm_medium"))
        .col(text_null("utm_campaign"))
        .col(text_null("utm_term"))
        .col(text_null("utm_content"))
        .col(text_null("ip"))
        .col(text_null("user_agent"))
        .col(text_null("visitor_id"))
        .col(enum_column(db, t, "opt_in", OPT_IN_STATUS).default("none"))
        // The consent proof: the texts shown and agreed to.
        .col(json_binary_null("consent"))
        // The confirmation email queued for double opt-in.
        .col(uuid_null("confirmation_message_id"))
        .col(timestamp_with_time_zone_null("confirmed_at"))
        .col(text_null("confirmed_ip"))
        .col(created_at(db))
        .foreign_key(&mut tenant_ref(t, "form_id", "forms"))
        .foreign_key(&mut tenant_ref(t, "lead_id", "leads"));
    manager.create_table(table).await?;
    manager
        .create_index(index(t, &["tenant_id", "form_id", "id"]))
        .await?;
    manager
        .create_index(index(t, &["tenant_id", "lead_id", "id"]))
        .await
}

async fn create_form_daily_counts(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let t = "form_daily_counts";
    manager
        .create_table(
            Table::create()
                .table(t)
                .col(uuid("tenant_id"))
                .col(uuid("form_id"))
                // UTC day.
                .col(date("day"))
                .col(big_integer("views").default(0))
                .col(big_integer("spam").default(0))
                .primary_key(
                    Index::create()
                        .name("form_daily_counts_pkey")
                        .col("tenant_id")
                        .col("form_id")
                        .col("day"),
                )
                .foreign_key(&mut tenant_fk(t))
                .foreign_key(
                    &mut tenant_ref(t, "form_id", "forms")
                        .on_delete(ForeignKeyAction::Cascade)
                        .to_owned(),
                )
                .to_owned(),
        )
        .await
}

async fn create_tracking_sites(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    let t = "tracking_sites";
    let mut table = tenant_owned_table(t);
    table
        .col(text("name"))
        // Public (it is in the page's source); `public_ids` routes it.
        .col(text("site_key"))
        // The hosts whose pages carry the snippet (`acme.example`,
        // `www.acme.example`): a tracked email link to one of them tells the
        // landing page who the visitor is (`ph_lid`); other links are left
        // as they are.
        .col(json_binary("domains").default("[]"))
        // JSON arrays of URL patterns (`*` matches any run of characters)
        // marking funnel pages.
        .col(json_binary("demo_patterns").default("[]"))
        .col(json_binary("pricing_patterns").default("[]"))
        .col(json_binary("contact_patterns").default("[]"));
    with_audit_columns(&mut table, db);
    manager.create_table(table).await?;
    exec(
        manager,
        "CREATE UNIQUE INDEX tracking_sites_tenant_id_name_key \
         ON tracking_sites (tenant_id, lower(name)) WHERE deleted_at IS NULL",
    )
    .await
}

async fn create_page_views(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    let t = "page_views";
    let mut table = tenant_owned_table(t);
    table
        .col(uuid("site_id"))
        .col(text("visitor_id"))
        .col(uuid_null("lead_id"))
        .col(text("url"))
        .col(text("path"))
        .col(text_null("referrer"))
        .col(text_null("title"))
        .col(text_null("utm_source"))
        .col(text_null("utm_medium"))
        .col(text_null("utm_campaign"))
        .col(text_null("utm_term"))
        .col(text_null("utm_content"))
        // ISO 3166 alpha-2.
        .col(text_null("country"))
        .col(text_null("city"))
        .col(enum_column(db, t, "device_type", DEVICE_TYPE))
        .col(text_null("browser"))
        .col(text_null("os"))
        .col(integer_null("screen_width"))
        .col(integer_null("screen_height"))
        // Known crawlers: kept apart (never in aggregates), counted.
        .col(boolean("is_bot").default(false))
        .col(boolean("is_demo_page").default(false))
        .col(boolean("is_pricing_page").default(false))
        .col(boolean("is_contact_page").default(false))
        // Truncated unless the tenant keeps full addresses.
        .col(text_null("ip"))
        .col(text_null("user_agent"))
        .col(timestamp_with_time_zone("viewed_at"))
        .foreign_key(&mut tenant_ref(t, "site_id", "tracking_sites"))
        .foreign_key(&mut tenant_ref(t, "lead_id", "leads"));
    manager.create_table(table).await?;
    for cols in [
        &["tenant_id", "viewed_at"][..],
        &["tenant_id", "visitor_id", "viewed_at"],
        &["tenant_id", "lead_id", "id"],
    ] {
        manager.create_index(index(t, cols)).await?;
    }
    Ok(())
}

async fn create_visitor_leads(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    let t = "visitor_leads";
    manager
        .create_table(
            Table::create()
                .table(t)
                .col(uuid("tenant_id"))
                .col(text("visitor_id"))
                .col(uuid("lead_id"))
                // `form` or `email_click`.
                .col(text("identified_by"))
                .col(created_at(db))
                .col(updated_at(db))
                .primary_key(
                    Index::create()
                        .name("visitor_leads_pkey")
                        .col("tenant_id")
                        .col("visitor_id"),
                )
                .foreign_key(&mut tenant_fk(t))
                .foreign_key(
                    &mut tenant_ref(t, "lead_id", "leads")
                        .on_delete(ForeignKeyAction::Cascade)
                        .to_owned(),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(index(t, &["tenant_id", "lead_id"]))
        .await
}

async fn create_public_ids(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    let t = "public_ids";
    manager
        .create_table(
            Table::create()
                .table(t)
                .col(text("public_id").primary_key())
                .col(enum_column(db, t, "kind", PUBLIC_ID_KIND))
                .col(uuid("tenant_id"))
                // The form's or the tracking site's id.
                .col(uuid("target_id"))
                .col(created_at(db))
                .foreign_key(&mut tenant_fk(t))
                .to_owned(),
        )
        .await?;
    // Shared by every tenant, with no tenant policy: the public routes read
    // it as the system role (see `m20261206_000011_shared_tables_role`).
    exec_on_postgres(
        manager,
        &[
            format!("REVOKE ALL ON {t} FROM {APP_ROLE}"),
            format!("GRANT SELECT, INSERT, UPDATE, DELETE ON {t} TO {SYSTEM_ROLE}"),
        ],
    )
    .await
}

async fn add_opt_in_to_leads(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_database_backend();
    for mut column in [
        enum_column(db, "leads", "opt_in_status", OPT_IN_STATUS)
            .default("none")
            .to_owned(),
        timestamp_with_time_zone_null("opt_in_confirmed_at"),
    ] {
        manager
            .alter_table(
                Table::alter()
                    .table("leads")
                    .add_column(&mut column)
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

async fn add_activity_types(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    if manager.get_database_backend() == DbBackend::Postgres {
        for value in ACTIVITIES {
            db.execute_unprepared(&format!(
                "ALTER TYPE activity_type ADD VALUE IF NOT EXISTS '{value}'"
            ))
            .await?;
        }
        return Ok(());
    }
    let values = ACTIVITIES.map(|v| format!("'{v}'")).join(", ");
    rewrite_check(
        db,
        "activities",
        &format!("{ACTIVITY_LAST})"),
        &format!("{ACTIVITY_LAST}, {values})"),
    )
    .await
}
