//! One statement per page: a connection's page left-joined with the to-one
//! relations its selection asks for, then one batch per selected to-many
//! relation for the whole page. Any connection can use it; each node type
//! declares what its nodes load once ([`NodeLoads`]: [`ToOne`] relations
//! and [`PageBatch`]es).
//!
//! The joined rows are read back by name with checked types (sea-orm's
//! `FromQueryResult` with a column prefix, as `find_also_related` reads
//! them) and handed to the request's dataloaders. The node's relation fields
//! still resolve through those loaders, as they do everywhere else, and find
//! the rows already in the loader's cache: the join saves the statements,
//! never changes what a field answers. A relation not declared, or not
//! joined, loads as before.

use std::marker::PhantomData;

use async_graphql::dataloader::Loader;
use async_graphql::{Context, SelectionField};
use futures::future::{BoxFuture, try_join_all};
use sea_orm::sea_query::{
    Alias, Asterisk, Condition, DynIden, Expr, ExprTrait, IntoIden, Query, SelectStatement,
    SimpleExpr,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, IdenStatic, Iterable, JoinType,
    Order, QueryResult, QueryTrait, Select,
};
use uuid::Uuid;

use crate::db::build_select;
use crate::error::{AppError, AppResult};
use crate::graphql::loaders::{ByIdLoader, Cached, from_loader};
use crate::graphql::pagination::PageArgs;
use crate::tenancy::scoped::TenantOwned;

/// A to-one relation of the nodes of `E`'s connections that a page can join.
pub trait ToOne<E: EntityTrait>: Send + Sync {
    /// The node's GraphQL field that resolves the relation.
    fn field(&self) -> &'static str;

    /// Left-joins the relation's row to `page` as `alias`, selecting its
    /// columns as `{alias}_{column}`.
    fn join(&self, outer: &mut SelectStatement, page: &DynIden, alias: &str);

    /// Reads the joined rows (prefix `{alias}_`) and puts them in the
    /// request's loader for the relation.
    fn feed<'a>(
        &'a self,
        ctx: &'a Context<'_>,
        rows: &'a [QueryResult],
        alias: &'a str,
    ) -> BoxFuture<'a, AppResult<()>>;
}

/// The row of the tenant-owned `R` that `E`'s `foreign_key` names, within
/// the same tenant; fed to `Cached<ByIdLoader<R>>`.
pub struct TenantRow<E: EntityTrait, R> {
    field: &'static str,
    foreign_key: E::Column,
    target: PhantomData<fn() -> R>,
}

impl<E: EntityTrait, R> TenantRow<E, R> {
    pub const fn new(field: &'static str, foreign_key: E::Column) -> Self {
        Self {
            field,
            foreign_key,
            target: PhantomData,
        }
    }
}

impl<E, R> ToOne<E> for TenantRow<E, R>
where
    E: TenantOwned,
    R: TenantOwned,
    R::Model: FromQueryResult + Clone + Send + Sync,
{
    fn field(&self) -> &'static str {
        self.field
    }

    fn join(&self, outer: &mut SelectStatement, page: &DynIden, alias: &str) {
        let table: DynIden = Alias::new(alias).into_iden();
        let on = Condition::all()
            .add(
                Expr::col((table.clone(), R::tenant_column()))
                    .equals((page.clone(), E::tenant_column())),
            )
            .add(
                Expr::col((table.clone(), R::id_column())).equals((page.clone(), self.foreign_key)),
            );
        join_columns::<R>(outer, table, alias, on);
    }

    fn feed<'a>(
        &'a self,
        ctx: &'a Context<'_>,
        rows: &'a [QueryResult],
        alias: &'a str,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(feed::<R, ByIdLoader<R>>(ctx, rows, alias, R::id_column()))
    }
}

/// A global row (users: people belong to many tenants) that `E`'s
/// `foreign_key` names, fed to the loader `L`. Row-level security and the
/// foreign key keep what a tenant's row can name to its own members.
pub struct GlobalRow<E: EntityTrait, R: EntityTrait, L> {
    field: &'static str,
    foreign_key: E::Column,
    id: R::Column,
    loader: PhantomData<fn() -> L>,
}

impl<E: EntityTrait, R: EntityTrait, L> GlobalRow<E, R, L> {
    pub const fn new(field: &'static str, foreign_key: E::Column, id: R::Column) -> Self {
        Self {
            field,
            foreign_key,
            id,
            loader: PhantomData,
        }
    }
}

impl<E, R, L> ToOne<E> for GlobalRow<E, R, L>
where
    E: EntityTrait,
    R: EntityTrait,
    R::Model: FromQueryResult + Clone + Send + Sync,
    L: Loader<Uuid, Value = R::Model> + Send + Sync,
{
    fn field(&self) -> &'static str {
        self.field
    }

    fn join(&self, outer: &mut SelectStatement, page: &DynIden, alias: &str) {
        let table: DynIden = Alias::new(alias).into_iden();
        let on = Condition::all()
            .add(Expr::col((table.clone(), self.id)).equals((page.clone(), self.foreign_key)));
        join_columns::<R>(outer, table, alias, on);
    }

    fn feed<'a>(
        &'a self,
        ctx: &'a Context<'_>,
        rows: &'a [QueryResult],
        alias: &'a str,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(feed::<R, L>(ctx, rows, alias, self.id))
    }
}

fn join_columns<R: EntityTrait>(
    outer: &mut SelectStatement,
    table: DynIden,
    alias: &str,
    on: Condition,
) {
    outer.join_as(JoinType::LeftJoin, R::default(), table.clone(), on);
    for column in R::Column::iter() {
        outer.expr_as(
            column.select_as(Expr::col((table.clone(), column))),
            Alias::new(format!("{alias}_{}", column.as_str())),
        );
    }
}

/// Puts the joined rows of `R` (prefix `{alias}_`, keyed by `id`) in the
/// request's `Cached<L>`.
async fn feed<R, L>(
    ctx: &Context<'_>,
    rows: &[QueryResult],
    alias: &str,
    id: R::Column,
) -> AppResult<()>
where
    R: EntityTrait,
    R::Model: FromQueryResult + Clone + Send + Sync,
    L: Loader<Uuid, Value = R::Model> + Send + Sync,
{
    let models = joined_models::<R>(rows, alias, id)?;
    if let Some(loader) = ctx.data_opt::<Cached<L>>() {
        loader.feed_many(models).await;
    }
    Ok(())
}

/// The joined rows of `R` by id; rows whose lead pointed at none (a NULL id)
/// are skipped, every other row must decode.
fn joined_models<R>(
    rows: &[QueryResult],
    alias: &str,
    id: R::Column,
) -> AppResult<Vec<(Uuid, R::Model)>>
where
    R: EntityTrait,
    R::Model: FromQueryResult,
{
    let prefix = format!("{alias}_");
    let mut models = Vec::new();
    for row in rows {
        let Some(key) = row.try_get::<Option<Uuid>>(&prefix, id.as_str())? else {
            continue;
        };
        models.push((key, R::Model::from_query_result(row, &prefix)?));
    }
    Ok(models)
}

/// True when the connection's nodes (under `edges { node }` or `nodes`)
/// select `field`, anywhere in the query (aliases and fragments included).
pub fn nodes_select(ctx: &Context<'_>, field: &str) -> bool {
    let connection = ctx.look_ahead();
    connection
        .field("edges")
        .field("node")
        .field(field)
        .exists()
        || connection.field("nodes").field(field).exists()
}

/// Every occurrence of the nodes' `field` in the query, with its arguments.
fn node_fields<'a>(ctx: &'a Context<'_>, field: &str) -> Vec<SelectionField<'a>> {
    let connection = ctx.look_ahead();
    let mut fields = connection
        .field("edges")
        .field("node")
        .field(field)
        .selection_fields();
    fields.extend(connection.field("nodes").field(field).selection_fields());
    fields
}

/// A per-node value a loader batches (a to-many relation, tags), loaded
/// for the whole page in one `load_many` when the selection asks for it.
/// Left to the nodes, a loader's batch rests on a 1 ms timer that a busy
/// machine can split (see `graphql::loaders::Cached`); this way a page
/// costs the same statements whatever its size and the scheduler.
pub trait PageBatch<M>: Send + Sync {
    fn field(&self) -> &'static str;

    fn load<'a>(&'a self, ctx: &'a Context<'_>, page: &'a [M]) -> BoxFuture<'a, AppResult<()>>;
}

/// Each row's `key` through the request's `Cached<L>`.
pub struct KeyedBatch<M, L> {
    field: &'static str,
    key: fn(&M) -> Uuid,
    loader: PhantomData<fn() -> L>,
}

impl<M, L> KeyedBatch<M, L> {
    pub const fn new(field: &'static str, key: fn(&M) -> Uuid) -> Self {
        Self {
            field,
            key,
            loader: PhantomData,
        }
    }
}

impl<M, L> PageBatch<M> for KeyedBatch<M, L>
where
    M: Sync,
    L: Loader<Uuid, Error = std::sync::Arc<AppError>> + Send + Sync,
{
    fn field(&self) -> &'static str {
        self.field
    }

    fn load<'a>(&'a self, ctx: &'a Context<'_>, page: &'a [M]) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            if let Some(loader) = ctx.data_opt::<Cached<L>>() {
                loader
                    .load_many(page.iter().map(self.key))
                    .await
                    .map_err(from_loader)?;
            }
            Ok(())
        })
    }
}

/// The newest children of each row, as many as each occurrence of the
/// field asks for (`limit` reads it the way the field's resolver does;
/// `None`: that occurrence pages with cursors and reads on its own), read
/// by the request's `Cached<L>` loader keyed `(parent, limit)`.
pub struct LatestBatch<M, L> {
    field: &'static str,
    parent: fn(&M) -> Uuid,
    limit: fn(&SelectionField<'_>, u64) -> Option<u64>,
    loader: PhantomData<fn() -> L>,
}

impl<M, L> LatestBatch<M, L> {
    pub const fn new(
        field: &'static str,
        parent: fn(&M) -> Uuid,
        limit: fn(&SelectionField<'_>, u64) -> Option<u64>,
    ) -> Self {
        Self {
            field,
            parent,
            limit,
            loader: PhantomData,
        }
    }
}

impl<M, L> PageBatch<M> for LatestBatch<M, L>
where
    M: Sync,
    L: Loader<(Uuid, u64), Error = std::sync::Arc<AppError>> + Send + Sync,
    L::Value: Clone + Send + Sync,
{
    fn field(&self) -> &'static str {
        self.field
    }

    fn load<'a>(&'a self, ctx: &'a Context<'_>, page: &'a [M]) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            let page_size = crate::graphql::shared(ctx).config.limits.page_size;
            let mut limits: Vec<u64> = node_fields(ctx, self.field)
                .iter()
                .filter_map(|field| (self.limit)(field, page_size))
                .collect();
            limits.sort_unstable();
            limits.dedup();
            let Some(loader) = ctx.data_opt::<Cached<L>>() else {
                return Ok(());
            };
            for limit in limits {
                let keys = page.iter().map(|row| ((self.parent)(row), limit));
                loader.load_many(keys).await.map_err(from_loader)?;
            }
            Ok(())
        })
    }
}

/// How many children each row has, when some occurrence of the field
/// selects `totalCount`: one grouped count for the page through the
/// request's `Cached<L>` (see `graphql::loaders::ChildCountLoader`).
pub struct CountBatch<M, L> {
    field: &'static str,
    parent: fn(&M) -> Uuid,
    loader: PhantomData<fn() -> L>,
}

impl<M, L> CountBatch<M, L> {
    pub const fn new(field: &'static str, parent: fn(&M) -> Uuid) -> Self {
        Self {
            field,
            parent,
            loader: PhantomData,
        }
    }
}

impl<M, L> PageBatch<M> for CountBatch<M, L>
where
    M: Sync,
    L: Loader<Uuid, Value = u64, Error = std::sync::Arc<AppError>> + Send + Sync,
{
    fn field(&self) -> &'static str {
        self.field
    }

    fn load<'a>(&'a self, ctx: &'a Context<'_>, page: &'a [M]) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            let counted = node_fields(ctx, self.field)
                .iter()
                .any(|field| field.selection_set().any(|f| f.name() == "totalCount"));
            if let (true, Some(loader)) = (counted, ctx.data_opt::<Cached<L>>()) {
                loader
                    .load_many(page.iter().map(self.parent))
                    .await
                    .map_err(from_loader)?;
            }
            Ok(())
        })
    }
}

/// The Relay arguments of a selected field, as its resolver gets them.
pub fn page_args(field: &SelectionField<'_>) -> PageArgs {
    let mut args = PageArgs::default();
    for (name, value) in field.arguments().unwrap_or_default() {
        let int = || match &value {
            async_graphql::Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
            _ => None,
        };
        let text = || match &value {
            async_graphql::Value::String(s) => Some(s.clone()),
            _ => None,
        };
        match name.as_str() {
            "first" => args.first = int(),
            "last" => args.last = int(),
            "after" => args.after = text(),
            "before" => args.before = text(),
            _ => {}
        }
    }
    args
}

/// How a page is ordered, on a given table: the page's own table inside,
/// the page's alias once it is joined.
pub type PageOrder<'a> = &'a (dyn Fn(&DynIden) -> Vec<(SimpleExpr, Order)> + Send + Sync);

/// How a page of `E` reads what its nodes show besides their own columns.
pub struct NodeLoads<'r, E: EntityTrait> {
    /// Joined to the page's statement.
    pub to_one: &'r [&'r dyn ToOne<E>],
    /// Loaded for the whole page once it is read.
    pub batches: &'r [&'r dyn PageBatch<E::Model>],
}

/// Runs `page` (filtered and limited; ordered here by `order`) as one
/// statement with the to-one relations the selection asks for joined,
/// feeds the joined rows to the request's loaders, and loads the selected
/// batches for the page. With `literal_limit` the page size is written into
/// the SQL (see `db::build_select`).
pub async fn page_with_relations<E>(
    ctx: &Context<'_>,
    conn: &impl ConnectionTrait,
    page: Select<E>,
    order: PageOrder<'_>,
    loads: &NodeLoads<'_, E>,
    literal_limit: bool,
) -> AppResult<Vec<E::Model>>
where
    E: EntityTrait,
    E::Model: FromQueryResult + Sync,
{
    let rows = joined_page(ctx, conn, page, order, loads.to_one, literal_limit).await?;
    load_batches(ctx, &rows, loads.batches).await?;
    Ok(rows)
}

/// Loads the batches the connection's selection asks for, for a page of
/// `rows` read by any means.
pub async fn load_batches<M: Sync>(
    ctx: &Context<'_>,
    rows: &[M],
    batches: &[&dyn PageBatch<M>],
) -> AppResult<()> {
    let selected = batches
        .iter()
        .filter(|batch| nodes_select(ctx, batch.field()))
        .map(|batch| batch.load(ctx, rows));
    try_join_all(selected).await?;
    Ok(())
}

async fn joined_page<E>(
    ctx: &Context<'_>,
    conn: &impl ConnectionTrait,
    page: Select<E>,
    order: PageOrder<'_>,
    relations: &[&dyn ToOne<E>],
    literal_limit: bool,
) -> AppResult<Vec<E::Model>>
where
    E: EntityTrait,
    E::Model: FromQueryResult,
{
    let backend = conn.get_database_backend();
    let mut inner = page.into_query();
    let table: DynIden = E::default().into_iden();
    for (expr, direction) in order(&table) {
        inner.order_by_expr(expr, direction);
    }
    let joined: Vec<&dyn ToOne<E>> = relations
        .iter()
        .copied()
        .filter(|relation| nodes_select(ctx, relation.field()))
        .collect();
    if joined.is_empty() {
        let rows = conn
            .query_all_raw(build_select(backend, &inner, literal_limit))
            .await?;
        return decode_page::<E>(&rows);
    }
    // The join is outside the page's LIMIT, so a sort over many matching rows
    // never joins more than the page; the joins do not keep its order, so
    // the outer statement orders again.
    let page_alias: DynIden = Alias::new("page").into_iden();
    let mut outer = Query::select();
    outer
        .column((page_alias.clone(), Asterisk))
        .from_subquery(inner, page_alias.clone());
    let aliases: Vec<String> = (0..joined.len()).map(|n| format!("j{n}")).collect();
    for (relation, alias) in joined.iter().zip(&aliases) {
        relation.join(&mut outer, &page_alias, alias);
    }
    for (expr, direction) in order(&page_alias) {
        outer.order_by_expr(expr, direction);
    }
    let rows = conn
        .query_all_raw(build_select(backend, &outer, literal_limit))
        .await?;
    for (relation, alias) in joined.iter().zip(&aliases) {
        relation.feed(ctx, &rows, alias).await?;
    }
    decode_page::<E>(&rows)
}

fn decode_page<E>(rows: &[QueryResult]) -> AppResult<Vec<E::Model>>
where
    E: EntityTrait,
    E::Model: FromQueryResult,
{
    rows.iter()
        .map(|row| E::Model::from_query_result(row, "").map_err(AppError::from))
        .collect()
}
