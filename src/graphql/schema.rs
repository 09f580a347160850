//! Schema assembly: every feature's query, mutation and subscription roots
//! merged into one schema, built per audience and kind of operation.

use std::sync::Arc;

use async_graphql::{MergedObject, MergedSubscription, Schema};

use super::{audit, is_admin};
use crate::config::Limits;
use crate::state::Shared;
use crate::tenancy::RequestCtx;

#[derive(MergedObject, Default)]
pub struct QueryRoot(
    crate::identity::auth::AuthQuery,
    crate::identity::tenants::TenantQuery,
    crate::identity::members::MemberQuery,
    crate::identity::api_keys::ApiKeyQuery,
    crate::identity::audit::AuditQuery,
    crate::crm::projects::ProjectQuery,
    crate::crm::companies::CompanyQuery,
    crate::crm::sources::LeadSourceQuery,
    crate::crm::segments::SegmentQuery,
    crate::crm::imports::ImportQuery,
    crate::capture::forms::FormQuery,
    crate::capture::page_views::PageViewQuery,
    crate::capture::page_views::TrackingSiteQuery,
    crate::crm::pipeline::PipelineQuery,
    crate::crm::custom_fields::CustomFieldQuery,
    crate::crm::notes::NoteQuery,
    crate::crm::scoring::ScoringQuery,
    crate::identity::settings::SettingQuery,
    crate::crm::leads::LeadQueryRoot,
    crate::messaging::engagement::EngagementQuery,
    crate::messaging::templates::TemplateQuery,
    crate::messaging::messages::MessageQuery,
    crate::messaging::senders::SenderAccountQuery,
    crate::messaging::custom_variables::CustomVariableQuery,
    crate::messaging::suppressions::SuppressionQuery,
    crate::messaging::outbox::OutboxQuery,
    crate::campaigns::CampaignQuery,
    crate::events::EventQuery,
    crate::graphql::node::NodeQuery,
);

#[derive(MergedObject, Default)]
pub struct MutationRoot(
    crate::identity::auth::AuthMutation,
    crate::identity::tenants::TenantMutation,
    crate::identity::members::MemberMutation,
    crate::identity::api_keys::ApiKeyMutation,
    crate::crm::activities::ActivityMutation,
    crate::crm::projects::ProjectMutation,
    crate::crm::companies::CompanyMutation,
    crate::crm::sources::LeadSourceMutation,
    crate::crm::segments::SegmentMutation,
    crate::crm::imports::ImportMutation,
    crate::capture::forms::FormMutation,
    crate::capture::page_views::TrackingSiteMutation,
    crate::crm::pipeline::PipelineMutation,
    crate::crm::custom_fields::CustomFieldMutation,
    crate::crm::notes::NoteMutation,
    crate::crm::scoring::ScoringMutation,
    crate::identity::settings::SettingMutation,
    crate::crm::leads::LeadMutation,
    crate::messaging::templates::TemplateMutation,
    crate::messaging::messages::MessageMutation,
    crate::messaging::senders::SenderAccountMutation,
    crate::messaging::custom_variables::CustomVariableMutation,
    crate::messaging::suppressions::SuppressionMutation,
    crate::capture::website_analysis::WebsiteAnalysisMutation,
    crate::campaigns::CampaignMutation,
    crate::campaigns::EnrollmentMutation,
);

#[derive(MergedSubscription, Default)]
pub struct SubscriptionRoot(
    crate::events::EventSubscription,
    crate::messaging::engagement::EngagementSubscription,
    crate::crm::segments::SegmentSubscription,
    crate::campaigns::CampaignSubscription,
    crate::crm::imports::ImportSubscription,
    crate::capture::forms::FormSubscription,
);

pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// The schema, built per audience and per kind of operation.
///
/// In production field suggestions ("did you mean …") map the schema for an
/// attacker, so only admins get them. And only mutations carry the audit
/// extension: its hook wraps every field resolution, which a 50-lead page
/// (hundreds of fields, no mutation) should not pay for.
#[derive(Clone)]
pub struct Schemas {
    standard: Pair,
    admin: Pair,
}

#[derive(Clone)]
struct Pair {
    /// Queries and subscriptions.
    reading: AppSchema,
    /// Mutations (and anything whose operation is not known in advance).
    writing: AppSchema,
}

impl Pair {
    fn build(shared: &Arc<Shared>, limits: &Limits, without_suggestions: bool) -> Self {
        Self {
            reading: build(Some(shared.clone()), limits, without_suggestions, false),
            writing: build(Some(shared.clone()), limits, without_suggestions, true),
        }
    }
}

impl Schemas {
    pub fn build(shared: Arc<Shared>) -> Self {
        let production = shared.config.is_production();
        let limits = shared.config.limits.clone();
        let admin = Pair::build(&shared, &limits, false);
        let standard = if production {
            Pair::build(&shared, &limits, true)
        } else {
            admin.clone()
        };
        Self { standard, admin }
    }

    /// The schema for this caller and operation: admins (and everyone in
    /// development) get suggestions; `writes` selects the audited schema.
    pub fn for_caller(&self, ctx: Option<&RequestCtx>, writes: bool) -> &AppSchema {
        let pair = if ctx.is_some_and(is_admin) {
            &self.admin
        } else {
            &self.standard
        };
        if writes { &pair.writing } else { &pair.reading }
    }
}

fn build(
    shared: Option<Arc<Shared>>,
    limits: &Limits,
    without_suggestions: bool,
    audited: bool,
) -> AppSchema {
    let mut builder = Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    // Depth is checked in `graphql::limits`, which leaves introspection's
    // own nesting out.
    .limit_complexity(limits.complexity);
    if audited {
        builder = builder.extension(audit::AuditLog);
    }
    if without_suggestions {
        builder = builder.disable_suggestions();
    }
    if let Some(shared) = shared {
        builder = builder.data(shared);
    }
    builder.finish()
}

/// The SDL, as `export-schema` writes it (no database needed).
pub fn sdl() -> String {
    let limits = crate::config::Config::for_database("sqlite::memory:").limits;
    build(None, &limits, false, false).sdl()
}
