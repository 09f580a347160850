//! `leads(...)`: one page in any supported order, with keyset cursors over
//! `(sort value, id)` — never OFFSET, so page 1000 costs what page 1 does.

use std::cmp::Ordering;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, FixedOffset};
use sea_orm::sea_query::{Condition, DynIden, Expr, ExprTrait, Func, IntoIden, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, Order, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select,
};
use serde_json::{Value, json};
use uuid::Uuid;

use entity::companies;
use entity::leads::{self, Column};

use super::columns::{NodeSelection, PageColumns, for_selection};
use super::filter::{self, LeadFilter};
use super::joined::{LeadRow, select_picked, with_relations};
use super::types::{LeadOrder, LeadOrderField, SortDirection};
use crate::app::Shared;
use crate::error::{AppError, AppResult};
use crate::graphql::pagination::{Cursor, DEFAULT_PAGE_SIZE, Page, PageArgs, Totals};
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{ReadScope, live, scoped};

/// What the client asked for.
#[derive(Default)]
pub struct LeadQuery {
    pub page: PageArgs,
    pub filter: Option<LeadFilter>,
    pub order: LeadOrder,
    pub search: Option<String>,
    /// List the trash instead of live leads.
    pub deleted: bool,
}

/// `last_contacted_at` may be NULL; ordering treats never-contacted leads as
/// contacted at the epoch so the keyset stays total.
fn epoch() -> DateTime<FixedOffset> {
    DateTime::UNIX_EPOCH.fixed_offset()
}

/// The column a field orders by (`None`: the id alone, which is creation
/// order since ids are UUID v7).
fn sort_column(field: LeadOrderField) -> Option<Column> {
    match field {
        LeadOrderField::CreatedAt => None,
        LeadOrderField::UpdatedAt => Some(Column::UpdatedAt),
        LeadOrderField::Score => Some(Column::Score),
        LeadOrderField::Name => Some(Column::SortName),
        LeadOrderField::LastContactedAt => Some(Column::LastContactedAt),
    }
}

/// The expression a field orders by, on the leads of `table`: its
/// [`sort_column`], never-contacted leads counting as contacted at the epoch.
pub(super) fn sort_expr(field: LeadOrderField, table: &DynIden) -> Option<SimpleExpr> {
    let column = sort_column(field)?;
    let expr = Expr::col((table.clone(), column));
    Some(match column {
        Column::LastContactedAt => Expr::expr(Func::coalesce([expr, Expr::val(epoch())])),
        _ => expr,
    })
}

fn leads_table() -> DynIden {
    leads::Entity.into_iden()
}

/// The row's sort value, as its cursor stores it (id order needs none).
enum SortValue {
    None,
    Time(DateTime<FixedOffset>),
    Score(i32),
    Name(String),
}

impl SortValue {
    fn of(lead: &leads::Model, field: LeadOrderField) -> Self {
        match field {
            LeadOrderField::CreatedAt => Self::None,
            LeadOrderField::UpdatedAt => Self::Time(lead.updated_at),
            LeadOrderField::Score => Self::Score(lead.score),
            LeadOrderField::Name => Self::Name(lead.sort_name.clone()),
            LeadOrderField::LastContactedAt => {
                Self::Time(lead.last_contacted_at.unwrap_or_else(epoch))
            }
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Self::None => Value::Null,
            Self::Time(at) => json!(at.to_rfc3339()),
            Self::Score(score) => json!(score),
            Self::Name(name) => json!(name),
        }
    }
}

/// How leads compare in `field` order, ascending: the sort value, then the
/// id, as [`sort_expr`] and the id order them in SQL. Only for orders whose
/// values compare the same in Rust as in the database; `None` for names,
/// which sort by the database's collation.
pub(super) fn ascending(
    field: LeadOrderField,
) -> Option<impl Fn(&leads::Model, &leads::Model) -> Ordering> {
    let by_value: fn(&leads::Model, &leads::Model) -> Ordering = match field {
        LeadOrderField::CreatedAt => |_, _| Ordering::Equal,
        LeadOrderField::UpdatedAt => |a, b| a.updated_at.cmp(&b.updated_at),
        LeadOrderField::Score => |a, b| a.score.cmp(&b.score),
        LeadOrderField::LastContactedAt => |a, b| {
            let contacted = |lead: &leads::Model| lead.last_contacted_at.unwrap_or_else(epoch);
            contacted(a).cmp(&contacted(b))
        },
        LeadOrderField::Name => return None,
    };
    Some(move |a: &leads::Model, b: &leads::Model| by_value(a, b).then_with(|| a.id.cmp(&b.id)))
}

/// A cursor value back as a bindable SQL value, checked against the order.
fn bind_value(value: &Value, field: LeadOrderField, arg: &str) -> AppResult<sea_orm::Value> {
    let bad = || AppError::invalid(arg, "is not a cursor of this ordering");
    match field {
        LeadOrderField::CreatedAt => Ok(sea_orm::Value::Int(None)),
        LeadOrderField::Score => value.as_i64().map(|v| (v as i32).into()).ok_or_else(bad),
        LeadOrderField::Name => value.as_str().map(|v| v.to_owned().into()).ok_or_else(bad),
        LeadOrderField::UpdatedAt | LeadOrderField::LastContactedAt => value
            .as_str()
            .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
            .map(Into::into)
            .ok_or_else(bad),
    }
}

/// The lead's cursor in `field` order: its sort value and id, encoded
/// only if the client selects it.
pub fn cursor(lead: &leads::Model, field: LeadOrderField) -> Cursor {
    let id = lead.id;
    let value = SortValue::of(lead, field);
    Cursor::deferred(move || URL_SAFE_NO_PAD.encode(json!([value.to_json(), id]).to_string()))
}

fn decode_cursor(
    cursor: &str,
    field: LeadOrderField,
    arg: &str,
) -> AppResult<(sea_orm::Value, Uuid)> {
    let bad = || AppError::invalid(arg, "is not a valid cursor");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let parts: Vec<Value> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let [value, id] = parts.as_slice() else {
        return Err(bad());
    };
    let id = id
        .as_str()
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(bad)?;
    Ok((bind_value(value, field, arg)?, id))
}

/// Rows strictly after `(value, id)` in `order`.
fn after(field: LeadOrderField, order: Order, value: sea_orm::Value, id: Uuid) -> Condition {
    let id_col = Expr::col((leads::Entity, Column::Id));
    let beyond = |e: SimpleExpr, v: SimpleExpr| match order {
        Order::Asc => e.gt(v),
        _ => e.lt(v),
    };
    match sort_expr(field, &leads_table()) {
        None => Condition::all().add(beyond(id_col.clone(), Expr::val(id))),
        Some(expr) => Condition::any()
            .add(beyond(expr.clone(), Expr::val(value.clone())))
            .add(
                Condition::all()
                    .add(expr.eq(value))
                    .add(beyond(id_col.clone(), Expr::val(id))),
            ),
    }
}

/// Live leads (or the trash) of the caller's tenant matching the filter and search.
pub async fn matching(
    conn: &impl ConnectionTrait,
    shared: &Shared,
    ctx: &RequestCtx,
    query: &LeadQuery,
) -> AppResult<Select<leads::Entity>> {
    let backend = shared.db.get_database_backend();
    let mut select = scoped::<leads::Entity>(ctx);
    select = if query.deleted {
        select.filter(Column::DeletedAt.is_not_null())
    } else {
        select.filter(Column::DeletedAt.is_null())
    };
    if let Some(f) = &query.filter {
        select = select.filter(filter::compile(f, backend, "filter")?);
    }
    if let Some(text) = query
        .search
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        if text.chars().count() > 100 {
            return Err(AppError::invalid(
                "search",
                "must be at most 100 characters",
            ));
        }
        let pattern = filter::search_pattern(text);
        let companies: Vec<Uuid> = live::<companies::Entity>(ctx)
            .filter(
                Expr::expr(Func::lower(Expr::col((
                    companies::Entity,
                    companies::Column::Name,
                ))))
                .like(sea_orm::sea_query::LikeExpr::new(pattern.clone()).escape('\\')),
            )
            .select_only()
            .column(companies::Column::Id)
            .limit(filter::MAX_SEARCH_COMPANIES)
            .into_tuple()
            .all(conn)
            .await?;
        select = select.filter(filter::search(&pattern, companies));
    }
    Ok(select)
}

/// One page of leads (the columns and relations `selection` shows) and a
/// lazy total, read through the request's scope.
pub async fn list(
    shared: &Shared,
    scope: &ReadScope,
    query: LeadQuery,
    selection: &NodeSelection<'_>,
) -> AppResult<(Page<LeadRow>, Totals)> {
    let columns = for_selection(selection, sort_column(query.order.field));
    let ctx = scope.ctx();
    let mut reader = scope.read().await?;
    let conn = reader.conn();
    let select = matching(&conn, shared, ctx, &query).await?;
    let totals = Totals::counting(&shared.db, ctx, select.clone());
    let page = page(
        &conn,
        select,
        &query,
        &columns,
        shared.config.limits.page_size,
    )
    .await?;
    reader.done().await?;
    Ok((page, totals))
}

async fn page(
    conn: &impl ConnectionTrait,
    select: Select<leads::Entity>,
    query: &LeadQuery,
    columns: &PageColumns,
    max_page_size: u64,
) -> AppResult<Page<LeadRow>> {
    let args = &query.page;
    if args.first.is_some() && args.last.is_some() {
        return Err(AppError::invalid(
            "first",
            "use either first or last, not both",
        ));
    }
    let (size, forward, cursor, arg) = match (args.first, args.last) {
        (_, Some(n)) => (n, false, args.before.as_deref(), "before"),
        (Some(n), None) => (n, true, args.after.as_deref(), "after"),
        (None, None) => (
            DEFAULT_PAGE_SIZE as i32,
            true,
            args.after.as_deref(),
            "after",
        ),
    };
    let name = if forward { "first" } else { "last" };
    let size = u64::try_from(size).map_err(|_| AppError::invalid(name, "must not be negative"))?;
    if size > max_page_size {
        return Err(AppError::invalid(
            name,
            format!("must be at most {max_page_size}"),
        ));
    }
    let field = query.order.field;
    let wanted = match query.order.direction {
        SortDirection::Asc => Order::Asc,
        SortDirection::Desc => Order::Desc,
    };
    // Walking backwards is walking forwards in the opposite order, then reversing.
    let order = if forward {
        wanted
    } else if wanted == Order::Asc {
        Order::Desc
    } else {
        Order::Asc
    };
    let mut select = select;
    let has_cursor = cursor.is_some();
    if let Some(cursor) = cursor {
        let (value, id) = decode_cursor(cursor, field, arg)?;
        select = select.filter(after(field, order.clone(), value, id));
    }
    if let Some(expr) = sort_expr(field, &leads_table()) {
        select = select.order_by(expr, order.clone());
    }
    select = select.order_by(Column::Id, order.clone()).limit(size + 1);
    // A plain page (the tenant's leads in some order) has one best plan
    // whatever the values, so its size goes into the SQL and PostgreSQL
    // keeps reusing a generic plan. With a filter or a search the best plan
    // depends on the values (a rare stage or a common one, a tag on most
    // leads or on few), so the size stays a parameter, which makes
    // PostgreSQL plan each execution for its values.
    let literal_limit = query.filter.is_none() && query.search.is_none();
    let mut inner = select.into_query();
    select_picked(&mut inner, &columns.lead);
    let rows = with_relations(conn, inner, field, order, columns, literal_limit).await?;
    Ok(Page::from_fetched(rows, size, forward, has_cursor))
}
