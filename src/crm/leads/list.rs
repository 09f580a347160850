//! `leads(...)`: one page in any supported order, with keyset cursors over
//! `(sort value, id)` — never OFFSET, so page 1000 costs what page 1 does.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, FixedOffset};
use sea_orm::sea_query::{Condition, DynIden, Expr, ExprTrait, Func, IntoIden, SimpleExpr};
use sea_orm::{ColumnTrait, ConnectionTrait, Order, QueryFilter, QuerySelect, Select};
use serde_json::{Value, json};
use uuid::Uuid;

use entity::companies;
use entity::leads::{self, Column};

use super::filter::{self, LeadFilter};
use super::types::{LeadOrder, LeadOrderField, SortDirection};
use crate::error::{AppError, AppResult};
use crate::graphql::pagination::{Cursor, Page, PageArgs, Totals, raw_window};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{live, scoped};

/// What the client asked for.
#[derive(Default)]
pub(crate) struct LeadQuery {
    pub page: PageArgs,
    pub filter: Option<LeadFilter>,
    pub order: LeadOrder,
    pub search: Option<String>,
    /// List the trash instead of live leads.
    pub deleted: bool,
    /// Only the members of this static segment.
    pub in_segment: Option<Uuid>,
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
fn sort_expr(field: LeadOrderField, table: &DynIden) -> Option<SimpleExpr> {
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
pub(crate) fn cursor(lead: &leads::Model, field: LeadOrderField) -> Cursor {
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
pub(crate) async fn matching(
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
        let mut f = f.clone();
        crate::crm::segments::service::resolve_segments(
            conn,
            ctx,
            &mut f,
            "filter",
            &mut Vec::new(),
            crate::crm::segments::service::Missing::Refuse,
        )
        .await?;
        select = select.filter(filter::compile(&f, backend, "filter")?);
    }
    if let Some(segment) = query.in_segment {
        select = select.filter(crate::crm::segments::service::in_static_segment(segment));
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

/// One page of leads, planned: the matching leads after the cursor,
/// limited to the page (plus one, to know whether there is more). Its order
/// is applied by whoever runs it ([`PagePlan::order_on`]), on the leads'
/// table or on the page once relations are joined to it.
pub(crate) struct PagePlan {
    pub select: Select<leads::Entity>,
    field: LeadOrderField,
    order: Order,
    size: u64,
    forward: bool,
    had_cursor: bool,
    /// A plain page (the tenant's leads in some order) has one best plan
    /// whatever the values, so its size goes into the SQL and PostgreSQL
    /// keeps reusing a generic plan. With a filter or a search the best plan
    /// depends on the values (a rare stage or a common one), so the size
    /// stays a parameter and PostgreSQL plans each execution for its values.
    pub literal_limit: bool,
}

impl PagePlan {
    /// The page's order on `table`: the sort value, then the id.
    pub(crate) fn order_on(&self, table: &DynIden) -> Vec<(SimpleExpr, Order)> {
        let mut order: Vec<(SimpleExpr, Order)> = sort_expr(self.field, table)
            .map(|expr| (expr, self.order.clone()))
            .into_iter()
            .collect();
        order.push((Expr::col((table.clone(), Column::Id)), self.order.clone()));
        order
    }

    /// The page from the rows fetched in the plan's order.
    pub(crate) fn page(&self, rows: Vec<leads::Model>) -> Page<leads::Model> {
        Page::from_fetched(rows, self.size, self.forward, self.had_cursor)
    }
}

/// Plans one page of `query` and its lazy total, reading (the search's
/// companies) through `conn`.
pub(crate) async fn plan(
    conn: &impl ConnectionTrait,
    shared: &Shared,
    ctx: &RequestCtx,
    query: &LeadQuery,
) -> AppResult<(PagePlan, Totals)> {
    let select = matching(conn, shared, ctx, query).await?;
    let totals = Totals::counting(&shared.db, ctx, select.clone());
    let window = raw_window(&query.page, shared.config.limits.page_size)?;
    let field = query.order.field;
    let wanted = match query.order.direction {
        SortDirection::Asc => Order::Asc,
        SortDirection::Desc => Order::Desc,
    };
    // Walking backwards is walking forwards in the opposite order, then reversing.
    let order = match (window.forward, wanted) {
        (true, wanted) => wanted,
        (false, Order::Asc) => Order::Desc,
        (false, _) => Order::Asc,
    };
    let mut select = select;
    if let Some(cursor) = window.cursor {
        let (value, id) = decode_cursor(cursor, field, window.cursor_field)?;
        select = select.filter(after(field, order.clone(), value, id));
    }
    let plan = PagePlan {
        select: select.limit(window.size + 1),
        field,
        order,
        size: window.size,
        forward: window.forward,
        had_cursor: window.cursor.is_some(),
        literal_limit: query.filter.is_none()
            && query.search.is_none()
            && query.in_segment.is_none(),
    };
    Ok((plan, totals))
}
