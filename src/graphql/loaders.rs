//! Per-request dataloaders: every list field resolves its relations through
//! these, so a page of N items costs a fixed number of queries, not N.
//! Built fresh for each request, with the caller's tenant inside, so nothing
//! cached outlives the request or crosses tenants.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, Loader};
use sea_orm::{ColumnTrait, DatabaseConnection, QueryFilter};
use uuid::Uuid;

use crate::app::Shared;
use crate::error::{AppError, AppResult};
use crate::members::UserLoader;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{TenantOwned, begin, scoped};
use crate::tenants::PlanLoader;

/// Rows of one tenant-owned table by id, in the caller's tenant (scoped query
/// and, on PostgreSQL, row-level security).
pub struct ByIdLoader<E> {
    db: DatabaseConnection,
    ctx: RequestCtx,
    entity: PhantomData<fn() -> E>,
}

impl<E> ByIdLoader<E> {
    pub fn new(db: DatabaseConnection, ctx: RequestCtx) -> Self {
        Self {
            db,
            ctx,
            entity: PhantomData,
        }
    }
}

impl<E> Loader<Uuid> for ByIdLoader<E>
where
    E: TenantOwned,
    E::Model: Clone + Send + Sync,
{
    type Value = E::Model;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let run = async {
            let txn = begin(&self.db, &self.ctx).await?;
            let rows = scoped::<E>(&self.ctx)
                .filter(E::id_column().is_in(keys.iter().copied()))
                .all(&txn)
                .await?;
            txn.commit().await?;
            AppResult::Ok(rows.into_iter().map(|row| (E::id_of(&row), row)).collect())
        };
        run.await.map_err(Arc::new)
    }
}

/// Loads one row of the caller's tenant by id through the request's loader.
pub async fn load_by_id<E>(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Option<E::Model>>
where
    E: TenantOwned,
    E::Model: Clone + Send + Sync,
{
    let loader = ctx
        .data_opt::<DataLoader<ByIdLoader<E>>>()
        .ok_or_else(|| AppError::unauthenticated("sign in or send an API key"))?;
    loader.load_one(id).await.map_err(|e| loader_error(&e))
}

/// A loader failure (a database error) as the client sees it: `INTERNAL`,
/// with the cause logged.
pub fn loader_error(error: &AppError) -> async_graphql::Error {
    let cause = match error {
        AppError::Internal(cause) => format!("{cause:#}"),
        other => other.public_message(),
    };
    AppError::internal(anyhow::anyhow!("dataloader: {cause}")).into()
}

macro_rules! by_id_loaders {
    ($request:ident, $db:ident, $ctx:ident; $($module:ident),* $(,)?) => {
        $(
            $request = $request.data(DataLoader::new(
                ByIdLoader::<entity::$module::Entity>::new($db.clone(), $ctx.clone()),
                tokio::spawn,
            ));
        )*
    };
}

/// Adds every loader to the request. Tenant-scoped loaders need a caller.
pub fn attach(
    request: async_graphql::Request,
    shared: &Shared,
    ctx: Option<&RequestCtx>,
) -> async_graphql::Request {
    let db = shared.db.clone();
    let mut request = request
        .data(DataLoader::new(PlanLoader { db: db.clone() }, tokio::spawn))
        .data(DataLoader::new(UserLoader { db: db.clone() }, tokio::spawn));
    if let Some(ctx) = ctx {
        by_id_loaders!(request, db, ctx; projects, companies, lead_stages, lead_sources, leads);
    }
    request
}
