//! Website analyses (DOMAIN.md section 3, `website_analyses`; seed 001
//! `websiteAnalysisCache`): what a company's home page and its contact or
//! booking page say about how the business takes bookings, one row per
//! domain for every tenant (a global table, keyed by the normalised domain),
//! kept for 30 days.
//!
//! Every signal is a typed, nullable column (NULL: not known, e.g. after a
//! failed fetch), so lead filters and scoring rules compare them in SQL and
//! in the scoring engine like any other attribute.
//!
//! On PostgreSQL the table holds public facts about websites, not tenant
//! data: requests (`promohub_app`) may read it, only `promohub_system`
//! writes it. To hand a new analysis to every tenant that has a company on
//! the domain, `promohub_system` may also read which tenants have a live
//! company on which domain (those three columns of `companies`, nothing
//! else).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    boolean_null, integer_null, json_binary, text, text_null, timestamp_with_time_zone_null,
};

use crate::helpers::{
    PgEnum, create_enum, created_at, drop_enum, enum_column, enum_column_null, exec, updated_at,
};
use crate::rls::{APP_ROLE, SYSTEM_ROLE, exec_on_postgres};

/// Where a domain's analysis stands: `pending` until its first fetch ends,
/// then `complete`, `blocked` (robots.txt keeps crawlers out) or `failed`.
pub const WEBSITE_ANALYSIS_STATUS: PgEnum = PgEnum {
    name: "website_analysis_status",
    variants: &["pending", "complete", "blocked", "failed"],
};

/// The online booking tools the analysis recognises (seed 001
/// `currentBookingTool`).
pub const BOOKING_TOOL: PgEnum = PgEnum {
    name: "booking_tool",
    variants: &[
        "calendly",
        "acuity",
        "square",
        "simplybook",
        "setmore",
        "booksy",
        "fresha",
        "vagaro",
        "mindbody",
        "schedulicity",
        "youcanbookme",
        "hubspot_meetings",
        "google_calendar",
        "microsoft_bookings",
        "zocdoc",
        "doctolib",
        "opentable",
        "resy",
        "treatwell",
        "timely",
        "appointy",
        "cal_com",
        "tidycal",
        "savvycal",
        "bookeo",
        "picktime",
        "setster",
    ],
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_database_backend();
        create_enum(manager, WEBSITE_ANALYSIS_STATUS).await?;
        create_enum(manager, BOOKING_TOOL).await?;
        let t = "website_analyses";
        manager
            .create_table(
                Table::create()
                    .table(t)
                    // Lowercase, without `www.` (`companies.domain`'s form).
                    .col(text("domain").primary_key())
                    .col(enum_column(db, t, "status", WEBSITE_ANALYSIS_STATUS).default("pending"))
                    .col(text_null("error"))
                    .col(boolean_null("has_booking_keywords"))
                    .col(
                        integer_null("booking_keyword_score")
                            .check(Expr::cust("booking_keyword_score BETWEEN 0 AND 10"))
                            .to_owned(),
                    )
                    // The booking words and phrases found, a JSON array.
                    .col(json_binary("booking_keywords").default("[]"))
                    .col(enum_column_null(db, t, "booking_tool", BOOKING_TOOL))
                    .col(boolean_null("has_online_booking"))
                    .col(boolean_null("has_appointment_form"))
                    .col(boolean_null("has_calendar"))
                    .col(boolean_null("has_pricing"))
                    .col(boolean_null("has_gallery"))
                    .col(boolean_null("has_reviews"))
                    .col(boolean_null("has_contact_form"))
                    .col(boolean_null("has_phone_only"))
                    .col(boolean_null("has_multiple_locations"))
                    .col(
                        integer_null("services_count")
                            .check(Expr::cust("services_count >= 0"))
                            .to_owned(),
                    )
                    // Language codes (`en`, `de`), a JSON array.
                    .col(json_binary("languages").default("[]"))
                    // The pages fetched: kind, URL, status, size, error.
                    .col(json_binary("pages").default("[]"))
                    .col(timestamp_with_time_zone_null("analyzed_at"))
                    .col(timestamp_with_time_zone_null("expires_at"))
                    // A fetch in progress (on any node) until then: requests
                    // for the domain wait for it instead of fetching again.
                    .col(timestamp_with_time_zone_null("claimed_until"))
                    .col(created_at(db))
                    .col(updated_at(db))
                    .to_owned(),
            )
            .await?;
        exec_on_postgres(
            manager,
            &[
                format!("REVOKE INSERT, UPDATE, DELETE ON {t} FROM {APP_ROLE}"),
                format!("GRANT SELECT, INSERT, UPDATE, DELETE ON {t} TO {SYSTEM_ROLE}"),
                format!(
                    "GRANT SELECT (tenant_id, domain, deleted_at) ON companies TO {SYSTEM_ROLE}"
                ),
                format!(
                    "CREATE POLICY system_finds_domains ON companies FOR SELECT TO {SYSTEM_ROLE} \
                     USING (true)"
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_on_postgres(
            manager,
            &[
                "DROP POLICY IF EXISTS system_finds_domains ON companies".to_owned(),
                format!(
                    "REVOKE SELECT (tenant_id, domain, deleted_at) ON companies FROM {SYSTEM_ROLE}"
                ),
            ],
        )
        .await?;
        exec(manager, "DROP TABLE IF EXISTS website_analyses").await?;
        drop_enum(manager, BOOKING_TOOL).await?;
        drop_enum(manager, WEBSITE_ANALYSIS_STATUS).await
    }
}
