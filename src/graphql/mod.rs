//! Schema assembly and the helpers every resolver uses.

pub mod audit;
pub mod filters;
pub mod joins;
pub mod json;
pub mod limits;
pub mod loaders;
pub mod pagination;

use std::sync::Arc;

use async_graphql::{Context, MergedObject, MergedSubscription, Schema};

use crate::app::Shared;
use crate::config::Limits;
use crate::error::{AppError, AppResult};
use crate::tenancy::{RequestCtx, RequestMeta};

#[derive(MergedObject, Default)]
pub struct QueryRoot(
    crate::auth::AuthQuery,
    crate::tenants::TenantQuery,
    crate::members::MemberQuery,
    crate::api_keys::ApiKeyQuery,
    crate::audit::AuditQuery,
    crate::projects::ProjectQuery,
    crate::companies::CompanyQuery,
    crate::sources::LeadSourceQuery,
    crate::pipeline::PipelineQuery,
    crate::custom_fields::CustomFieldQuery,
    crate::notes::NoteQuery,
    crate::scoring::ScoringQuery,
    crate::settings::SettingQuery,
    crate::leads::LeadQueryRoot,
    crate::engagement::EngagementQuery,
    crate::templates::TemplateQuery,
    crate::messaging::MessageQuery,
    crate::senders::SenderAccountQuery,
    crate::custom_variables::CustomVariableQuery,
    crate::suppressions::SuppressionQuery,
);

#[derive(MergedObject, Default)]
pub struct MutationRoot(
    crate::auth::AuthMutation,
    crate::tenants::TenantMutation,
    crate::members::MemberMutation,
    crate::api_keys::ApiKeyMutation,
    crate::activities::ActivityMutation,
    crate::projects::ProjectMutation,
    crate::companies::CompanyMutation,
    crate::sources::LeadSourceMutation,
    crate::pipeline::PipelineMutation,
    crate::custom_fields::CustomFieldMutation,
    crate::notes::NoteMutation,
    crate::scoring::ScoringMutation,
    crate::settings::SettingMutation,
    crate::leads::LeadMutation,
    crate::templates::TemplateMutation,
    crate::messaging::MessageMutation,
    crate::senders::SenderAccountMutation,
    crate::custom_variables::CustomVariableMutation,
    crate::suppressions::SuppressionMutation,
);

#[derive(MergedSubscription, Default)]
pub struct SubscriptionRoot(
    crate::events::EventSubscription,
    crate::engagement::EngagementSubscription,
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

pub fn is_admin(ctx: &RequestCtx) -> bool {
    ctx.role >= crate::tenancy::Role::Admin
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
    .limit_depth(limits.depth)
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

/// The process-wide services (database, config, keys, event hub).
pub fn shared<'a>(ctx: &Context<'a>) -> &'a Shared {
    ctx.data_unchecked::<Arc<Shared>>()
}

/// The authenticated caller, or `UNAUTHENTICATED`.
pub fn caller<'a>(ctx: &Context<'a>) -> AppResult<&'a RequestCtx> {
    ctx.data_opt::<RequestCtx>()
        .ok_or_else(|| AppError::unauthenticated("sign in or send an API key"))
}

/// How this request reads: in its transaction where it has one (see
/// [`crate::tenancy::scoped::RequestTxn`]), else a transaction per read.
pub fn read_scope(ctx: &Context<'_>) -> AppResult<crate::tenancy::scoped::ReadScope> {
    Ok(crate::tenancy::scoped::ReadScope::new(
        shared(ctx).db.clone(),
        caller(ctx)?.clone(),
    ))
}

/// Request facts (id, ip, user agent), present for every caller.
pub fn meta<'a>(ctx: &Context<'a>) -> &'a RequestMeta {
    ctx.data_unchecked::<RequestMeta>()
}

/// Parses a client-supplied id; `field` names the argument in the error.
pub fn parse_id(id: &async_graphql::ID, field: &str) -> AppResult<uuid::Uuid> {
    uuid::Uuid::parse_str(id.as_str()).map_err(|_| AppError::invalid(field, "is not a valid id"))
}

/// An id as clients see it.
pub fn to_id(id: uuid::Uuid) -> async_graphql::ID {
    async_graphql::ID(id_string(id))
}

/// An id as the API writes it: the hyphenated lowercase UUID, written
/// without `Display`'s formatting machinery, which a page of leads with its
/// relations calls hundreds of times (bench/README.md, "Costs behind the
/// code").
pub fn id_string(id: uuid::Uuid) -> String {
    id.hyphenated()
        .encode_lower(&mut uuid::Uuid::encode_buffer())
        .to_owned()
}
