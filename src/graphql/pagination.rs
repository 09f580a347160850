//! Relay connections with keyset cursors (never OFFSET).
//!
//! Lists here are ordered by id: ids are UUID v7, so id order is creation
//! order and the primary key index serves the keyset. `totalCount` runs its
//! COUNT only when the client selects it.

use std::sync::Arc;

use async_graphql::connection::{Connection, CursorType, Edge, EmptyFields};
use async_graphql::{Context, Object, OutputType};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::future::BoxFuture;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Select,
};
use uuid::Uuid;

use crate::db::all_with_literal_limits;
use crate::error::{AppError, AppResult};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin, end_read};

/// Page size when the client gives neither `first` nor `last`.
pub const DEFAULT_PAGE_SIZE: u64 = 20;

/// The four Relay arguments, as the client sent them.
#[derive(Clone, Debug, Default)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

impl PageArgs {
    pub fn new(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Self {
        Self {
            first,
            after,
            last,
            before,
        }
    }
}

tokio::task_local! {
    /// The largest page of the server running this operation, for [`cost`]:
    /// async-graphql's complexity functions see the arguments but not the
    /// server's configuration.
    static MAX_PAGE_SIZE: u64;
}

/// Runs an operation (its validation included) knowing the largest page.
pub(crate) async fn with_max_page_size<F: std::future::Future>(
    max: u64,
    operation: F,
) -> F::Output {
    MAX_PAGE_SIZE.scope(max, operation).await
}

/// Complexity of a connection field: the page size times its children, so a
/// client cannot fetch 100 × 100 × 100 nodes in one request.
///
/// A page larger than the server's largest costs one: its resolver refuses
/// it (`BAD_USER_INPUT` on `first`) before reading anything, and that error
/// says what to fix where "too complex" would not.
pub fn cost(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let max = MAX_PAGE_SIZE.try_with(|max| *max).ok();
    let size = match first.or(last) {
        None => DEFAULT_PAGE_SIZE as usize,
        Some(n) if max.is_some_and(|max| i64::from(n) > max as i64) => 1,
        Some(n) => n.max(1) as usize,
    };
    size.saturating_mul(child_complexity).saturating_add(1)
}

/// A validated request for one page.
struct Window {
    size: u64,
    forward: bool,
    cursor: Option<Uuid>,
}

/// A validated request for one page whose cursor the caller decodes itself:
/// for orders keyed by more than the id (see [`connection_with_cursors`]).
pub struct RawWindow<'a> {
    pub size: u64,
    /// `first/after` (true) or `last/before` (false).
    pub forward: bool,
    pub cursor: Option<&'a str>,
    /// The argument the cursor came from, for errors (`after` or `before`).
    pub cursor_field: &'static str,
}

/// Checks the page size and direction; leaves the cursor undecoded.
pub fn raw_window(args: &PageArgs, max_page_size: u64) -> AppResult<RawWindow<'_>> {
    if args.first.is_some() && args.last.is_some() {
        return Err(AppError::invalid(
            "first",
            "use either first or last, not both",
        ));
    }
    let checked = |value: i32, field: &str| -> AppResult<u64> {
        let value =
            u64::try_from(value).map_err(|_| AppError::invalid(field, "must not be negative"))?;
        if value > max_page_size {
            return Err(AppError::invalid(
                field,
                format!("must be at most {max_page_size}"),
            ));
        }
        Ok(value)
    };
    let (size, forward, cursor, cursor_field) = match (args.first, args.last) {
        (_, Some(last)) => (
            checked(last, "last")?,
            false,
            args.before.as_deref(),
            "before",
        ),
        (Some(first), None) => (
            checked(first, "first")?,
            true,
            args.after.as_deref(),
            "after",
        ),
        (None, None) => (
            DEFAULT_PAGE_SIZE.min(max_page_size),
            true,
            args.after.as_deref(),
            "after",
        ),
    };
    Ok(RawWindow {
        size,
        forward,
        cursor,
        cursor_field,
    })
}

fn window(args: &PageArgs, max_page_size: u64) -> AppResult<Window> {
    let raw = raw_window(args, max_page_size)?;
    let cursor = raw
        .cursor
        .map(|c| decode_cursor(c, raw.cursor_field))
        .transpose()?;
    Ok(Window {
        size: raw.size,
        forward: raw.forward,
        cursor,
    })
}

pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(cursor: &str, field: &str) -> AppResult<Uuid> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .ok_or_else(|| AppError::invalid(field, "is not a valid cursor"))
}

/// One page of rows plus what Relay's `pageInfo` needs.
pub struct Page<M> {
    pub rows: Vec<M>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

impl<M> Page<M> {
    /// The page from up to `size + 1` rows fetched in walking order (the
    /// extra row only says there is more); a backward walk is reversed back.
    pub fn from_fetched(mut rows: Vec<M>, size: u64, forward: bool, had_cursor: bool) -> Self {
        let has_more = rows.len() as u64 > size;
        rows.truncate(size as usize);
        if !forward {
            rows.reverse();
        }
        let (has_next_page, has_previous_page) = if forward {
            (has_more, had_cursor)
        } else {
            (had_cursor, has_more)
        };
        Self {
            rows,
            has_next_page,
            has_previous_page,
        }
    }

    /// The same page with every row converted.
    pub fn map<N>(self, f: impl FnMut(M) -> N) -> Page<N> {
        Page {
            rows: self.rows.into_iter().map(f).collect(),
            has_next_page: self.has_next_page,
            has_previous_page: self.has_previous_page,
        }
    }
}

/// One page of a list a loader already holds whole, newest first by id
/// (a lead's segments): the same cursors and page sizes as a list read by
/// [`page_by_id`].
pub fn page_of_loaded<M>(
    rows: Vec<M>,
    id_of: impl Fn(&M) -> Uuid,
    args: &PageArgs,
    max_page_size: u64,
) -> AppResult<Page<M>> {
    let window = window(args, max_page_size)?;
    let mut walk: Vec<M> = rows
        .into_iter()
        .filter(|row| match window.cursor {
            None => true,
            Some(cursor) if window.forward => id_of(row) < cursor,
            Some(cursor) => id_of(row) > cursor,
        })
        .collect();
    // Walking backwards is walking forwards in the opposite order.
    if !window.forward {
        walk.reverse();
    }
    walk.truncate(window.size as usize + 1);
    Ok(Page::from_fetched(
        walk,
        window.size,
        window.forward,
        window.cursor.is_some(),
    ))
}

/// Which way a list runs. Ids are UUIDv7, so by id is by creation time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    NewestFirst,
    OldestFirst,
}

/// A list field's answer: one page of `select` by `id_column`, read in the
/// caller's transaction (the request's own for a query), and its
/// `totalCount`, counted only if the client asks. Every plain list of the
/// API goes through here; `select` carries the tenant scope and filters.
pub async fn list_by_id<E>(
    shared: &Shared,
    ctx: &RequestCtx,
    select: Select<E>,
    id_column: E::Column,
    args: &PageArgs,
    order: Order,
) -> AppResult<(Page<E::Model>, Totals)>
where
    E: EntityTrait,
    E::Model: Sync,
{
    let txn = begin(&shared.db, ctx).await?;
    let page = page_by_id(
        &txn,
        select.clone(),
        id_column,
        args,
        shared.config.limits.page_size,
        order == Order::NewestFirst,
    )
    .await?;
    end_read(txn).await?;
    Ok((page, Totals::counting(&shared.db, ctx, select)))
}

/// Fetches one page of `select`, keyed and ordered by `id_column`.
pub async fn page_by_id<E>(
    conn: &impl ConnectionTrait,
    select: Select<E>,
    id_column: E::Column,
    args: &PageArgs,
    max_page_size: u64,
    newest_first: bool,
) -> AppResult<Page<E::Model>>
where
    E: EntityTrait,
{
    let window = window(args, max_page_size)?;
    // Walking backwards is walking forwards in the opposite order, then reversing.
    let descending = newest_first == window.forward;
    let mut query = select;
    if let Some(cursor) = window.cursor {
        query = if descending {
            query.filter(id_column.lt(cursor))
        } else {
            query.filter(id_column.gt(cursor))
        };
    }
    query = if descending {
        query.order_by_desc(id_column)
    } else {
        query.order_by_asc(id_column)
    };
    let rows = all_with_literal_limits(conn, query.limit(window.size + 1)).await?;
    Ok(Page::from_fetched(
        rows,
        window.size,
        window.forward,
        window.cursor.is_some(),
    ))
}

type CountFn = Arc<dyn Fn() -> BoxFuture<'static, AppResult<u64>> + Send + Sync>;

/// A count that reads through the request (its dataloaders), so the
/// `totalCount`s of many nested connections share one grouped query.
pub trait CountSource: Send + Sync {
    fn count<'a>(&'a self, ctx: &'a Context<'_>) -> BoxFuture<'a, AppResult<u64>>;
}

/// `totalCount` of a connection, counted only if asked for.
pub struct Totals {
    count: Count,
}

enum Count {
    /// Counted on its own.
    Alone(CountFn),
    /// Counted with its siblings, through the request.
    InRequest(Box<dyn CountSource>),
}

impl Totals {
    pub fn new(
        count: impl Fn() -> BoxFuture<'static, AppResult<u64>> + Send + Sync + 'static,
    ) -> Self {
        Self {
            count: Count::Alone(Arc::new(count)),
        }
    }

    /// A count already known (the list was read whole).
    pub fn exactly(count: u64) -> Self {
        Self::new(move || Box::pin(std::future::ready(Ok(count))))
    }

    pub fn in_request(source: impl CountSource + 'static) -> Self {
        Self {
            count: Count::InRequest(Box::new(source)),
        }
    }

    /// Counts `select` (in its own tenant-bound transaction) if the client asks.
    pub fn counting<E>(db: &DatabaseConnection, ctx: &RequestCtx, select: Select<E>) -> Self
    where
        E: EntityTrait,
        E::Model: Sync,
    {
        let (db, ctx) = (db.clone(), ctx.clone());
        Self::new(move || {
            let (db, ctx, select) = (db.clone(), ctx.clone(), select.clone());
            Box::pin(async move {
                let txn = begin(&db, &ctx).await?;
                let count = select.count(&txn).await?;
                end_read(txn).await?;
                Ok(count)
            })
        })
    }
}

#[Object]
impl Totals {
    /// How many items match, across all pages.
    async fn total_count(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<crate::graphql::numbers::Count> {
        let count = match &self.count {
            Count::Alone(count) => count().await?,
            Count::InRequest(source) => source.count(ctx).await?,
        };
        Ok(count.into())
    }
}

/// A Relay connection named after its node type (`MemberConnection`, `MemberEdge`).
pub type RelayConnection<T> = Connection<Cursor, T, Totals, EmptyFields>;

/// An edge's cursor, encoded only when the client selects it: a list
/// usually reads `edges { node }` and at most `pageInfo.endCursor`, so
/// encoding every row's cursor up front is mostly wasted (bench/README.md,
/// "Costs behind the code").
pub struct Cursor(CursorSource);

enum CursorSource {
    /// A row of a list ordered by id.
    Id(Uuid),
    /// A row of a list with its own encoding (the sort value and the id).
    Deferred(Box<dyn Fn() -> String + Send + Sync>),
    /// A cursor as the client sent it.
    Encoded(String),
}

impl Cursor {
    pub fn of_id(id: Uuid) -> Self {
        Self(CursorSource::Id(id))
    }

    /// A cursor already in its final form.
    pub fn of_text(cursor: String) -> Self {
        Self(CursorSource::Encoded(cursor))
    }

    /// A cursor that `encode` writes if the client selects it; `encode`
    /// owns what it needs, so the row can go on to become the node.
    pub fn deferred(encode: impl Fn() -> String + Send + Sync + 'static) -> Self {
        Self(CursorSource::Deferred(Box::new(encode)))
    }
}

impl CursorType for Cursor {
    type Error = std::convert::Infallible;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        Ok(Self(CursorSource::Encoded(s.to_owned())))
    }

    fn encode_cursor(&self) -> String {
        match &self.0 {
            CursorSource::Id(id) => encode_cursor(*id),
            CursorSource::Deferred(encode) => encode(),
            CursorSource::Encoded(cursor) => cursor.clone(),
        }
    }
}

/// Builds the connection from a page, converting rows to GraphQL nodes.
/// How many rows a to-many connection of a node (`lead.notes`,
/// `lead.messages`…) loads through its batched loader: the first page with
/// no cursor, one row more than it shows to know `hasNextPage`. `None` when
/// it pages with cursors, or asks for more than a page: it then reads on
/// its own.
pub fn inline_limit(args: &PageArgs, page_size: u64, default_first: u64) -> Option<u64> {
    match (args.first, &args.after, args.last, &args.before) {
        (None, None, None, None) => Some(default_first.min(page_size) + 1),
        (Some(n), None, None, None) if n >= 0 && (n as u64) <= page_size => Some(n as u64 + 1),
        _ => None,
    }
}

/// The first page of such a connection from the rows its loader read with
/// `limit` (from [`inline_limit`]).
pub fn first_page<M>(mut rows: Vec<M>, limit: u64) -> Page<M> {
    let shown = limit.saturating_sub(1);
    let has_next_page = rows.len() as u64 > shown;
    rows.truncate(shown as usize);
    Page {
        rows,
        has_next_page,
        has_previous_page: false,
    }
}

pub fn connection<M, T: OutputType>(
    page: Page<M>,
    totals: Totals,
    id_of: impl Fn(&M) -> Uuid,
    node: impl Fn(M) -> T,
) -> RelayConnection<T> {
    connection_with_cursors(page, totals, |row| Cursor::of_id(id_of(row)), node)
}

/// Like [`connection`], for orders whose cursor is more than the id.
pub fn connection_with_cursors<M, T: OutputType>(
    page: Page<M>,
    totals: Totals,
    cursor_of: impl Fn(&M) -> Cursor,
    node: impl Fn(M) -> T,
) -> RelayConnection<T> {
    let mut connection =
        Connection::with_additional_fields(page.has_previous_page, page.has_next_page, totals);
    connection.edges.extend(
        page.rows
            .into_iter()
            .map(|row| Edge::new(cursor_of(&row), node(row))),
    );
    connection
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_pages_over_the_limit_naming_the_argument() {
        let args = PageArgs::new(Some(101), None, None, None);
        match window(&args, 100) {
            Err(AppError::BadUserInput { field, .. }) => assert_eq!(field, "first"),
            _ => panic!("accepted first: 101"),
        }
        assert!(window(&PageArgs::new(Some(100), None, None, None), 100).is_ok());
        assert!(window(&PageArgs::new(Some(-1), None, None, None), 100).is_err());
        assert!(window(&PageArgs::new(Some(1), None, Some(1), None), 100).is_err());
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id), "after").unwrap(), id);
        assert!(decode_cursor("not a cursor", "after").is_err());
    }

    #[test]
    fn cost_multiplies_page_size_by_children() {
        assert_eq!(cost(Some(50), None, 3), 151);
        assert_eq!(cost(None, Some(10), 2), 21);
        assert_eq!(cost(None, None, 1), DEFAULT_PAGE_SIZE as usize + 1);
    }
}
