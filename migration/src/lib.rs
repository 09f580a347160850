//! Database migrations for PromoHub, runnable on PostgreSQL and SQLite.
//!
//! One sea-query definition per table serves both backends; raw SQL is used
//! only for what exists on PostgreSQL alone (enum types, row-level security,
//! the `promohub_app` role and its grants). The helpers in [`helpers`] and
//! [`rls`] are public so that feature migrations added later build their
//! tables the same way (tenant-first composite keys, enum columns checked by
//! the database, RLS on every tenant-owned table).

pub use sea_orm_migration::prelude::*;

pub mod helpers;
mod m20261122_000001_identity;
mod m20261122_000002_audit_log;
mod m20261122_000003_row_level_security;
mod m20261122_000004_crm;
mod m20261122_000005_messaging;
mod m20261122_000006_enter_as_member;
mod m20261122_000007_policies_read_tenant_once;
mod m20261122_000008_lane_enter;
mod m20261206_000009_drop_lane_enter;
mod m20261206_000010_lead_and_company_signals;
mod m20261206_000011_shared_tables_role;
mod m20261206_000012_domain_events;
mod m20261206_000013_session_revocation;
mod m20261206_000014_message_outcome_unknown;
mod m20261207_000015_delivery_visibility_and_outbox;
mod m20261207_000016_segments;
mod m20261207_000017_segment_upkeep;
mod m20261207_000018_lead_imports;
mod m20261207_000019_lead_email_index;
mod m20261207_000020_capture;
mod m20261207_000021_website_analyses;
mod m20261207_000022_campaigns;
mod m20261207_000023_sender_mailboxes;
mod m20261207_000024_sender_rate_limits;
pub mod rls;

pub use helpers::{
    PgEnum, create_enum, created_at, drop_enum, enum_column, enum_column_null, index, now_default,
    tenant_fk, tenant_owned_table, unique_key, updated_at,
};
pub use rls::{
    APP_ROLE, SHARED_TABLES, SYSTEM_ROLE, TENANT_POLICY, disable_tenant_rls, enable_tenant_rls,
};

/// The enum types created so far, for later migrations whose columns reuse
/// them (they must not create them again).
pub mod enums {
    pub use crate::m20261122_000001_identity::{INVITE_STATUS, MEMBER_ROLE, PLAN_TIER};
    pub use crate::m20261122_000002_audit_log::{ACTOR_TYPE, AUDIT_OUTCOME};
    pub use crate::m20261122_000004_crm::{
        ACTIVITY_TYPE, COMPANY_SIZE, CUSTOM_FIELD_ENTITY, CUSTOM_FIELD_TYPE, LEAD_SOURCE_TYPE,
        LEAD_STATUS, PROJECT_STATUS, SCORING_CONDITION, VERIFICATION_STATUS,
    };
    pub use crate::m20261122_000005_messaging::{
        ENGAGEMENT_TYPE, JOB_STATUS, MESSAGE_CHANNEL, MESSAGE_STATUS, SMTP_TLS_MODE,
        SUPPRESSION_REASON, TEMPLATE_CATEGORY,
    };
    pub use crate::m20261206_000010_lead_and_company_signals::BOOKING_POTENTIAL;
    pub use crate::m20261207_000015_delivery_visibility_and_outbox::SENDER_TRANSPORT;
    pub use crate::m20261207_000016_segments::SEGMENT_KIND;
    pub use crate::m20261207_000018_lead_imports::IMPORT_STATUS;
    pub use crate::m20261207_000020_capture::{
        DEVICE_TYPE, FORM_FIELD_TYPE, FORM_STATUS, FORM_UPDATE_POLICY, OPT_IN_STATUS,
        PUBLIC_ID_KIND, SUBMISSION_OUTCOME,
    };
    pub use crate::m20261207_000021_website_analyses::{BOOKING_TOOL, WEBSITE_ANALYSIS_STATUS};
    pub use crate::m20261207_000022_campaigns::{
        AB_METRIC, CAMPAIGN_KIND, CAMPAIGN_STATUS, ENROLLMENT_STATUS, SCHEDULE_KIND,
    };
}

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_identity::Migration),
            Box::new(m20261122_000002_audit_log::Migration),
            Box::new(m20261122_000003_row_level_security::Migration),
            Box::new(m20261122_000004_crm::Migration),
            Box::new(m20261122_000005_messaging::Migration),
            Box::new(m20261122_000006_enter_as_member::Migration),
            Box::new(m20261122_000007_policies_read_tenant_once::Migration),
            Box::new(m20261122_000008_lane_enter::Migration),
            Box::new(m20261206_000009_drop_lane_enter::Migration),
            Box::new(m20261206_000010_lead_and_company_signals::Migration),
            Box::new(m20261206_000011_shared_tables_role::Migration),
            Box::new(m20261206_000012_domain_events::Migration),
            Box::new(m20261206_000013_session_revocation::Migration),
            Box::new(m20261206_000014_message_outcome_unknown::Migration),
            Box::new(m20261207_000015_delivery_visibility_and_outbox::Migration),
            Box::new(m20261207_000016_segments::Migration),
            Box::new(m20261207_000017_segment_upkeep::Migration),
            Box::new(m20261207_000018_lead_imports::Migration),
            Box::new(m20261207_000019_lead_email_index::Migration),
            Box::new(m20261207_000020_capture::Migration),
            Box::new(m20261207_000021_website_analyses::Migration),
            Box::new(m20261207_000022_campaigns::Migration),
            Box::new(m20261207_000023_sender_mailboxes::Migration),
            Box::new(m20261207_000024_sender_rate_limits::Migration),
        ]
    }
}
