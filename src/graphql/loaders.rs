//! Per-request dataloaders: every list field resolves its relations through
//! these, so a page of N items costs a fixed number of queries, not N.
//! Built fresh for each request, with the caller's tenant inside, so nothing
//! cached outlives the request or crosses tenants.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use futures::future::BoxFuture;
use sea_orm::{ColumnTrait, QueryFilter};
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::graphql::pagination::{
    CountSource, PageArgs, RelayConnection, Totals, connection, first_page, inline_limit,
    page_by_id,
};
use crate::identity::members::UserLoader;
use crate::identity::tenants::PlanLoader;
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{
    ReadScope, ReadTxn, TenantOwned, TenantScoped, begin, end_read, scoped,
};

/// A loader with a per-request cache: a list resolver can prefetch a whole
/// page's relations in one `load_many` (one registration, so exactly one
/// query, whatever the scheduler does) and the node resolvers then read the
/// cache. Without it, batching rests on a 1 ms timer, and a busy machine can
/// split one batch in two.
pub type Cached<L> = DataLoader<L, HashMapCache>;

pub fn cached<L>(loader: L) -> Cached<L>
where
    L: Send + Sync + 'static,
{
    DataLoader::with_cache(loader, tokio::spawn, HashMapCache::default())
}

/// Rows of one tenant-owned table by id, in the caller's tenant (scoped query
/// and, on PostgreSQL, row-level security).
pub struct ByIdLoader<E> {
    scope: ReadScope,
    entity: PhantomData<fn() -> E>,
}

impl<E> ByIdLoader<E> {
    pub fn new(scope: ReadScope) -> Self {
        Self {
            scope,
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
            let reader = self.scope.read().await?;
            let rows = scoped::<E>(self.scope.ctx())
                .filter(E::id_column().is_in(keys.iter().copied()))
                .all(&reader)
                .await?;
            end_read(reader).await?;
            AppResult::Ok(rows.into_iter().map(|row| (E::id_of(&row), row)).collect())
        };
        run.await.map_err(Arc::new)
    }
}

/// One value through the request's `Cached<L>`; the loaders are attached
/// only for a signed-in caller, hence `UNAUTHENTICATED` without one.
pub async fn load_one<L, K>(ctx: &Context<'_>, key: K) -> async_graphql::Result<Option<L::Value>>
where
    L: Loader<K, Error = Arc<AppError>> + Send + Sync + 'static,
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    L::Value: Send + Sync + Clone + 'static,
{
    let loader = ctx
        .data_opt::<Cached<L>>()
        .ok_or_else(|| AppError::unauthenticated("sign in or send an API key"))?;
    loader.load_one(key).await.map_err(|e| loader_error(&e))
}

/// Loads one row of the caller's tenant by id through the request's loader.
pub async fn load_by_id<E>(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Option<E::Model>>
where
    E: TenantOwned,
    E::Model: Clone + Send + Sync,
{
    load_one::<ByIdLoader<E>, _>(ctx, id).await
}

/// A loader's shared error as the request's own.
pub fn from_loader(error: Arc<AppError>) -> AppError {
    Arc::try_unwrap(error)
        .unwrap_or_else(|shared| AppError::internal(anyhow::anyhow!("dataloader: {shared:?}")))
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
    ($request:ident, $scope:ident; $($module:ident),* $(,)?) => {
        $(
            $request = $request.data(cached(ByIdLoader::<entity::$module::Entity>::new($scope.clone())));
        )*
    };
}

/// The newest-children and child-count loaders of each relation.
macro_rules! child_loaders {
    ($request:ident, $scope:ident; $($relation:ty),* $(,)?) => {
        $(
            $request = $request
                .data(cached(LatestChildrenLoader::<$relation>::new($scope.clone())))
                .data(cached(ChildCountLoader::<$relation>::new($scope.clone())));
        )*
    };
}

/// Adds every loader to the request. Tenant-scoped loaders need a caller
/// and read through `scope` (which the request data carries too, for list
/// services).
pub fn attach(
    request: async_graphql::Request,
    shared: &Shared,
    ctx: Option<&RequestCtx>,
    scope: Option<&ReadScope>,
) -> async_graphql::Request {
    let db = shared.db.clone();
    let mut request = request
        .data(DataLoader::new(PlanLoader { db: db.clone() }, tokio::spawn))
        .data(cached(UserLoader {
            db: db.clone(),
            scope: scope.cloned(),
        }));
    if let (Some(ctx), Some(scope)) = (ctx, scope) {
        request = request.data(scope.clone());
        by_id_loaders!(request, scope; projects, companies, lead_stages, lead_sources, leads, messages, forms, campaigns);
        child_loaders!(request, scope;
            crate::crm::activities::ActivitiesOfLead,
            crate::crm::notes::NotesOfLead,
            crate::crm::notes::NotesOfCompany,
            crate::crm::notes::VersionsOfNote,
            crate::crm::leads::LeadsOfCompany,
            crate::messaging::messages::loader::EventsOfMessage,
            crate::messaging::messages::loader::MessagesOfLead,
            crate::capture::page_views::PageViewsOfLead,
            crate::campaigns::EnrollmentsOfCampaign,
            crate::campaigns::EnrollmentsOfLead,
        );
        request = request.data(cached(crate::crm::leads::TagsLoader {
            scope: scope.clone(),
        }));
        request = request.data(cached(crate::crm::segments::SegmentCountLoader {
            scope: scope.clone(),
        }));
        request = request.data(cached(crate::crm::segments::SegmentsOfLeadLoader {
            scope: scope.clone(),
        }));
        request = request.data(cached(crate::capture::forms::FieldsOfFormLoader {
            scope: scope.clone(),
        }));
        request = request.data(cached(
            crate::campaigns::campaign::loader::StepsOfCampaignLoader {
                scope: scope.clone(),
            },
        ));
        request = request.data(cached(
            crate::campaigns::campaign::loader::SendersOfCampaignLoader {
                scope: scope.clone(),
            },
        ));
        request = request.data(cached(
            crate::campaigns::campaign::loader::CampaignStatsLoader {
                scope: scope.clone(),
            },
        ));
        request = request.data(cached(
            crate::capture::website_analysis::WebsiteAnalysisLoader {
                scope: scope.clone(),
            },
        ));
        request = crate::crm::scoring::attach_loaders(request, &db, ctx);
    }
    request
}

/// A one-to-many relation whose newest children a list shows inline
/// (`lead.activities(first: 3)` on a page of leads).
pub trait ChildRelation: Send + Sync + 'static {
    type Entity: TenantOwned;
    /// The child's column holding the parent id.
    fn parent_column() -> <Self::Entity as sea_orm::EntityTrait>::Column;
    fn parent_of(child: &<Self::Entity as sea_orm::EntityTrait>::Model) -> Uuid;
    /// Which rows count as children (notes in the trash do not); every row
    /// by default.
    fn condition() -> sea_orm::Condition {
        sea_orm::Condition::all()
    }
}

/// The newest `limit` children of many parents in one query per distinct
/// limit: `ROW_NUMBER() OVER (PARTITION BY parent ORDER BY id DESC)`, which
/// both backends support. Keyed by `(parent id, limit)`.
pub struct LatestChildrenLoader<R> {
    scope: ReadScope,
    relation: PhantomData<fn() -> R>,
}

impl<R> LatestChildrenLoader<R> {
    pub fn new(scope: ReadScope) -> Self {
        Self {
            scope,
            relation: PhantomData,
        }
    }
}

impl<R> Loader<(Uuid, u64)> for LatestChildrenLoader<R>
where
    R: ChildRelation,
    <R::Entity as sea_orm::EntityTrait>::Model: Clone + Send + Sync,
{
    type Value = Vec<<R::Entity as sea_orm::EntityTrait>::Model>;
    type Error = Arc<AppError>;

    async fn load(
        &self,
        keys: &[(Uuid, u64)],
    ) -> Result<HashMap<(Uuid, u64), Self::Value>, Self::Error> {
        use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, Query};
        use sea_orm::{EntityName, EntityTrait, IdenStatic};

        let run = async {
            let mut by_limit: HashMap<u64, Vec<Uuid>> = HashMap::new();
            for (parent, limit) in keys {
                by_limit.entry(*limit).or_default().push(*parent);
            }
            let table = R::Entity::default().table_name().to_owned();
            let parent = R::parent_column();
            let reader = self.scope.read().await?;
            let conn: &ReadTxn = &reader;
            let tenant_id = self.scope.ctx().tenant_id;
            let backend = sea_orm::ConnectionTrait::get_database_backend(conn);
            let mut found = HashMap::new();
            for (limit, parents) in by_limit {
                let inner = Query::select()
                    .column(Asterisk)
                    .expr_as(
                        Expr::cust(format!(
                            "ROW_NUMBER() OVER (PARTITION BY \"{}\" ORDER BY \"id\" DESC)",
                            parent.as_str()
                        )),
                        Alias::new("row_in_parent"),
                    )
                    .from(Alias::new(table.clone()))
                    .and_where(Expr::col(R::Entity::tenant_column()).eq(tenant_id))
                    .and_where(Expr::col(parent).is_in(parents.iter().copied()))
                    .cond_where(R::condition())
                    .to_owned();
                let outer = Query::select()
                    .column(Asterisk)
                    .from_subquery(inner, Alias::new("ranked"))
                    .and_where(Expr::col(Alias::new("row_in_parent")).lte(limit))
                    .order_by(Alias::new("id"), sea_orm::Order::Desc)
                    .to_owned();
                let rows = R::Entity::find()
                    .from_raw_sql(backend.build(&outer))
                    .all(conn)
                    .await?;
                for parent_id in &parents {
                    found.insert((*parent_id, limit), Vec::new());
                }
                for row in rows {
                    if let Some(children) = found.get_mut(&(R::parent_of(&row), limit)) {
                        children.push(row);
                    }
                }
            }
            end_read(reader).await?;
            AppResult::Ok(found)
        };
        run.await.map_err(Arc::new)
    }
}

/// How many children each parent has: one grouped COUNT for a page of
/// parents, for the `totalCount` of their nested connections.
pub struct ChildCountLoader<R> {
    scope: ReadScope,
    relation: PhantomData<fn() -> R>,
}

impl<R> ChildCountLoader<R> {
    pub fn new(scope: ReadScope) -> Self {
        Self {
            scope,
            relation: PhantomData,
        }
    }
}

impl<R: ChildRelation> Loader<Uuid> for ChildCountLoader<R> {
    type Value = u64;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, u64>, Self::Error> {
        use sea_orm::QuerySelect;
        use sea_orm::sea_query::{Expr, ExprTrait};

        let run = async {
            let parent = R::parent_column();
            let reader = self.scope.read().await?;
            let counts: Vec<(Option<Uuid>, i64)> = scoped::<R::Entity>(self.scope.ctx())
                .select_only()
                .column(parent)
                .expr(Expr::col(parent).count())
                .filter(parent.is_in(keys.iter().copied()))
                .filter(R::condition())
                .group_by(parent)
                .into_tuple()
                .all(&reader)
                .await?;
            end_read(reader).await?;
            let mut found: HashMap<Uuid, u64> = keys.iter().map(|key| (*key, 0)).collect();
            for (parent, count) in counts {
                if let Some(parent) = parent {
                    found.insert(parent, u64::try_from(count).unwrap_or_default());
                }
            }
            AppResult::Ok(found)
        };
        run.await.map_err(Arc::new)
    }
}

/// `totalCount` of `parent`'s children, read through the request's grouped
/// count when the client asks.
pub fn children_totals<R: ChildRelation>(parent: Uuid) -> Totals {
    Totals::in_request(ChildCount::<R> {
        parent,
        relation: PhantomData,
    })
}

struct ChildCount<R> {
    parent: Uuid,
    relation: PhantomData<fn() -> R>,
}

impl<R: ChildRelation> CountSource for ChildCount<R> {
    fn count<'a>(&'a self, ctx: &'a Context<'_>) -> BoxFuture<'a, AppResult<u64>> {
        Box::pin(async move {
            let loader = ctx
                .data_opt::<Cached<ChildCountLoader<R>>>()
                .ok_or_else(|| AppError::unauthenticated("sign in or send an API key"))?;
            let count = loader.load_one(self.parent).await.map_err(from_loader)?;
            Ok(count.unwrap_or_default())
        })
    }
}

/// A node's to-many relation as a connection, newest first: the first page
/// through the batched loader (one query for a page of parents), any other
/// page read on its own; `totalCount` through the grouped count.
pub async fn children_connection<R, T>(
    ctx: &Context<'_>,
    parent: Uuid,
    args: &PageArgs,
    default_first: u64,
    node: impl Fn(<R::Entity as sea_orm::EntityTrait>::Model) -> T,
) -> async_graphql::Result<RelayConnection<T>>
where
    R: ChildRelation,
    <R::Entity as sea_orm::EntityTrait>::Model: Clone + Send + Sync,
    T: async_graphql::OutputType,
{
    let shared = crate::graphql::shared(ctx);
    let caller = crate::graphql::caller(ctx)?;
    let page_size = shared.config.limits.page_size;
    let page = match inline_limit(args, page_size, default_first) {
        Some(limit) => first_page(latest_children::<R>(ctx, parent, limit).await?, limit),
        None => {
            let select = scoped::<R::Entity>(caller)
                .filter(R::parent_column().eq(parent))
                .filter(R::condition());
            let reader = begin(&shared.db, caller).await?;
            let page = page_by_id(
                &reader,
                select,
                R::Entity::id_column(),
                args,
                page_size,
                true,
            )
            .await?;
            end_read(reader).await?;
            page
        }
    };
    Ok(connection(
        page,
        children_totals::<R>(parent),
        R::Entity::id_of,
        node,
    ))
}

/// The newest `limit` children of `parent` through the request's loader.
pub async fn latest_children<R>(
    ctx: &Context<'_>,
    parent: Uuid,
    limit: u64,
) -> async_graphql::Result<Vec<<R::Entity as sea_orm::EntityTrait>::Model>>
where
    R: ChildRelation,
    <R::Entity as sea_orm::EntityTrait>::Model: Clone + Send + Sync,
{
    Ok(load_one::<LatestChildrenLoader<R>, _>(ctx, (parent, limit))
        .await?
        .unwrap_or_default())
}

/// The signed-in people behind ids (members, owners, authors), cached per request.
pub fn users<'a>(ctx: &Context<'a>) -> &'a Cached<UserLoader> {
    ctx.data_unchecked::<Cached<UserLoader>>()
}

/// One user by id through the request's loader.
pub async fn load_user(
    ctx: &Context<'_>,
    id: Uuid,
) -> async_graphql::Result<Option<entity::users::Model>> {
    users(ctx).load_one(id).await.map_err(|e| loader_error(&e))
}
