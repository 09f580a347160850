//! Pages of lists ordered by more than their id: pipeline stages by
//! position, settings and variables by key, sender accounts by priority.
//!
//! A list names its sort keys, the last of which is unique (the id). A
//! cursor carries the row's value of every key, so the next page starts
//! right after that row with one keyset condition, also when the row itself
//! has been deleted or moved since; no OFFSET, so a page costs the same
//! wherever it is.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::sea_query::{Condition, ExprTrait, SimpleExpr};
use sea_orm::{ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::all_with_literal_limits;
use crate::error::{AppError, AppResult};
use crate::graphql::pagination::{Cursor, Page, PageArgs, RelayConnection, Totals, raw_window};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin, end_read};

/// A row's value of one sort key, as its cursor stores it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum KeyValue {
    #[serde(rename = "i")]
    Int(i64),
    #[serde(rename = "s")]
    Text(String),
    #[serde(rename = "u")]
    Id(Uuid),
}

impl KeyValue {
    fn same_kind(&self, other: &KeyValue) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }

    fn into_value(self) -> sea_orm::Value {
        match self {
            KeyValue::Int(value) => value.into(),
            KeyValue::Text(value) => value.into(),
            KeyValue::Id(value) => value.into(),
        }
    }
}

/// One key of a list's order.
pub struct SortKey<M> {
    /// What the rows are sorted by (a column, or an expression of one).
    pub expr: SimpleExpr,
    pub descending: bool,
    /// The row's value of `expr`, for its cursor.
    pub value_of: fn(&M) -> KeyValue,
    /// The kind of value a cursor must hold for this key.
    pub kind: KeyValue,
}

impl<M> SortKey<M> {
    pub fn ascending(
        expr: impl Into<SimpleExpr>,
        kind: KeyValue,
        value_of: fn(&M) -> KeyValue,
    ) -> Self {
        Self {
            expr: expr.into(),
            descending: false,
            value_of,
            kind,
        }
    }

    pub fn descending(
        expr: impl Into<SimpleExpr>,
        kind: KeyValue,
        value_of: fn(&M) -> KeyValue,
    ) -> Self {
        Self {
            descending: true,
            ..Self::ascending(expr, kind, value_of)
        }
    }
}

/// A list's whole order; the last key must be unique among the rows.
pub struct KeyOrder<M>(pub Vec<SortKey<M>>);

impl<M> KeyOrder<M> {
    /// The cursor of `row`, encoded only if the client selects it.
    pub fn cursor_of(&self, row: &M) -> Cursor {
        let values: Vec<KeyValue> = self.0.iter().map(|key| (key.value_of)(row)).collect();
        Cursor::deferred(move || encode(&values))
    }

    /// `select` sorted in this order (for reads that take the whole list).
    pub fn sort<E: EntityTrait<Model = M>>(&self, select: Select<E>) -> Select<E> {
        self.sorted(select, false)
    }

    /// `select` in this order, or in the opposite one when `reversed`.
    fn sorted<E: EntityTrait<Model = M>>(
        &self,
        mut select: Select<E>,
        reversed: bool,
    ) -> Select<E> {
        for key in &self.0 {
            select = if key.descending != reversed {
                select.order_by_desc(key.expr.clone())
            } else {
                select.order_by_asc(key.expr.clone())
            };
        }
        select
    }

    fn decode(&self, cursor: &str, field: &str) -> AppResult<Vec<KeyValue>> {
        let bad = || AppError::invalid(field, "is not a valid cursor");
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
        let values: Vec<KeyValue> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        let fits = values.len() == self.0.len()
            && values
                .iter()
                .zip(&self.0)
                .all(|(value, key)| value.same_kind(&key.kind));
        if fits { Ok(values) } else { Err(bad()) }
    }

    /// Rows strictly after the cursor's row in walking order: the first
    /// key beyond it, or equal on it and the second beyond, and so on.
    fn beyond(&self, values: Vec<KeyValue>, forward: bool) -> Condition {
        let values: Vec<sea_orm::Value> = values.into_iter().map(KeyValue::into_value).collect();
        let mut any = Condition::any();
        for (i, key) in self.0.iter().enumerate() {
            let mut all = Condition::all();
            for (earlier, value) in self.0[..i].iter().zip(&values) {
                all = all.add(earlier.expr.clone().eq(value.clone()));
            }
            let value = values[i].clone();
            let later = if key.descending != forward {
                key.expr.clone().gt(value)
            } else {
                key.expr.clone().lt(value)
            };
            any = any.add(all.add(later));
        }
        any
    }
}

fn encode(values: &[KeyValue]) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(values).expect("key values serialise"))
}

/// Fetches one page of `select` in `order`.
pub async fn page_by_keys<E>(
    conn: &impl ConnectionTrait,
    select: Select<E>,
    order: &KeyOrder<E::Model>,
    args: &PageArgs,
    max_page_size: u64,
) -> AppResult<Page<E::Model>>
where
    E: EntityTrait,
{
    let window = raw_window(args, max_page_size)?;
    let cursor = window
        .cursor
        .map(|c| order.decode(c, window.cursor_field))
        .transpose()?;
    let had_cursor = cursor.is_some();
    let mut query = select;
    if let Some(values) = cursor {
        query = query.filter(order.beyond(values, window.forward));
    }
    // Walking backwards is walking forwards in the opposite order, then reversing.
    query = order.sorted(query, !window.forward);
    let rows = all_with_literal_limits(conn, query.limit(window.size + 1)).await?;
    Ok(Page::from_fetched(
        rows,
        window.size,
        window.forward,
        had_cursor,
    ))
}

/// A list field's answer in `order`: one page read in the request's
/// transaction, and its `totalCount`, counted only if asked.
pub async fn connection_by_keys<E, T>(
    shared: &Shared,
    ctx: &RequestCtx,
    select: Select<E>,
    order: KeyOrder<E::Model>,
    args: &PageArgs,
    node: impl Fn(E::Model) -> T,
) -> AppResult<RelayConnection<T>>
where
    E: EntityTrait,
    E::Model: Sync,
    T: async_graphql::OutputType,
{
    let txn = begin(&shared.db, ctx).await?;
    let page = page_by_keys(
        &txn,
        select.clone(),
        &order,
        args,
        shared.config.limits.page_size,
    )
    .await?;
    end_read(txn).await?;
    let totals = Totals::counting(&shared.db, ctx, select);
    Ok(crate::graphql::pagination::connection_with_cursors(
        page,
        totals,
        |row| order.cursor_of(row),
        node,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Row(i64, Uuid);

    fn order() -> KeyOrder<Row> {
        use sea_orm::sea_query::{Alias, Expr};
        KeyOrder(vec![
            SortKey::ascending(
                Expr::col(Alias::new("position")),
                KeyValue::Int(0),
                |r: &Row| KeyValue::Int(r.0),
            ),
            SortKey::ascending(
                Expr::col(Alias::new("id")),
                KeyValue::Id(Uuid::nil()),
                |r: &Row| KeyValue::Id(r.1),
            ),
        ])
    }

    #[test]
    fn cursors_round_trip_and_a_cursor_of_another_list_is_refused() {
        let order = order();
        let id = Uuid::now_v7();
        let cursor = encode(&[KeyValue::Int(3), KeyValue::Id(id)]);
        assert_eq!(
            order.decode(&cursor, "after").unwrap(),
            vec![KeyValue::Int(3), KeyValue::Id(id)]
        );
        for wrong in [
            encode(&[KeyValue::Text("3".into()), KeyValue::Id(id)]),
            encode(&[KeyValue::Id(id)]),
            "garbage".to_owned(),
        ] {
            match order.decode(&wrong, "after") {
                Err(AppError::BadUserInput { field, .. }) => assert_eq!(field, "after"),
                other => panic!("accepted {wrong}: {other:?}"),
            }
        }
    }
}
