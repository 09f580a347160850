//! The helpers every resolver uses (caller, ids, read scope, filters,
//! look-ahead joins, pagination, limits, scalars); the schema itself is
//! assembled in [`schema`].

pub mod audit;
pub mod filters;
pub mod joins;
pub mod json;
pub mod keyset;
pub mod limits;
pub mod loaders;
pub(crate) mod node;
pub mod numbers;
pub mod order;
pub mod pagination;
pub mod schema;

pub use schema::{AppSchema, MutationRoot, QueryRoot, Schemas, SubscriptionRoot, sdl};

use std::sync::Arc;

use async_graphql::Context;

use crate::error::{AppError, AppResult};
use crate::state::Shared;
use crate::tenancy::{RequestCtx, RequestMeta};

pub fn is_admin(ctx: &RequestCtx) -> bool {
    ctx.role >= crate::tenancy::Role::Admin
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

/// The two `From` conversions between a GraphQL enum and the database enum
/// it mirrors, variant for variant: a variant added on one side and not the
/// other does not compile.
macro_rules! mirror_enum {
    ($api:ident <=> $model:ident { $($variant:ident),* $(,)? }) => {
        impl From<$model> for $api {
            fn from(value: $model) -> Self {
                match value {
                    $($model::$variant => Self::$variant),*
                }
            }
        }
        impl From<$api> for $model {
            fn from(value: $api) -> Self {
                match value {
                    $($api::$variant => Self::$variant),*
                }
            }
        }
    };
}
pub(crate) use mirror_enum;
