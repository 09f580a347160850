//! Typed filter inputs every list shares (`eq, ne, in, lt, lte, gt, gte,
//! contains, startsWith, isNull`), each compiled to a condition on one
//! column expression. Lists combine them with `and / or / not` in their own
//! filter input (see `leads::filter`).

use async_graphql::{EnumType, InputObject, InputType};
use chrono::{DateTime, Utc};
use sea_orm::DbBackend;
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Func, LikeExpr};
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::graphql::parse_id;

/// Values in one `in` list.
pub const MAX_IN: usize = 500;
/// Nesting of `and / or / not` allowed in one filter.
pub const MAX_DEPTH: usize = 6;

/// A list's filter input: its own conditions, combined with `and / or /
/// not` of further filters of its kind.
pub trait Combined: Sized {
    fn and(&self) -> Option<&[Self]>;
    fn or(&self) -> Option<&[Self]>;
    fn not(&self) -> Option<&Self>;
    /// The filter's own conditions; `path` names it in errors.
    fn own(&self, backend: DbBackend, path: &str) -> AppResult<Condition>;
}

/// Compiles a filter to one condition: its own conditions, every `and`,
/// any of `or`, and not `not`, nested at most [`MAX_DEPTH`] deep.
pub fn combine<F: Combined>(filter: &F, backend: DbBackend, path: &str) -> AppResult<Condition> {
    combine_at(filter, backend, path, 0)
}

fn combine_at<F: Combined>(
    filter: &F,
    backend: DbBackend,
    path: &str,
    depth: usize,
) -> AppResult<Condition> {
    if depth > MAX_DEPTH {
        return Err(AppError::invalid(
            path,
            format!("nests and/or/not deeper than {MAX_DEPTH}"),
        ));
    }
    let mut all = Condition::all();
    for (i, f) in filter.and().unwrap_or_default().iter().enumerate() {
        all = all.add(combine_at(
            f,
            backend,
            &format!("{path}.and.{i}"),
            depth + 1,
        )?);
    }
    if let Some(list) = filter.or() {
        let mut any = Condition::any();
        for (i, f) in list.iter().enumerate() {
            any = any.add(combine_at(
                f,
                backend,
                &format!("{path}.or.{i}"),
                depth + 1,
            )?);
        }
        all = all.add(any);
    }
    if let Some(f) = filter.not() {
        all = all.add(combine_at(f, backend, &format!("{path}.not"), depth + 1)?.not());
    }
    Ok(all.add(filter.own(backend, path)?))
}

#[derive(InputObject, Clone, Default)]
pub struct IdFilter {
    pub eq: Option<async_graphql::ID>,
    pub ne: Option<async_graphql::ID>,
    #[graphql(name = "in")]
    pub in_: Option<Vec<async_graphql::ID>>,
    pub is_null: Option<bool>,
}

#[derive(InputObject, Clone, Default)]
pub struct IntFilter {
    pub eq: Option<i32>,
    pub ne: Option<i32>,
    #[graphql(name = "in")]
    pub in_: Option<Vec<i32>>,
    pub lt: Option<i32>,
    pub lte: Option<i32>,
    pub gt: Option<i32>,
    pub gte: Option<i32>,
    pub is_null: Option<bool>,
}

#[derive(InputObject, Clone, Default)]
pub struct FloatFilter {
    pub eq: Option<f64>,
    pub ne: Option<f64>,
    pub lt: Option<f64>,
    pub lte: Option<f64>,
    pub gt: Option<f64>,
    pub gte: Option<f64>,
    pub is_null: Option<bool>,
}

#[derive(InputObject, Clone, Default)]
pub struct BooleanFilter {
    pub eq: Option<bool>,
    pub is_null: Option<bool>,
}

/// Text conditions; `contains` and `startsWith` ignore case.
#[derive(InputObject, Clone, Default)]
pub struct StringFilter {
    pub eq: Option<String>,
    pub ne: Option<String>,
    #[graphql(name = "in")]
    pub in_: Option<Vec<String>>,
    pub contains: Option<String>,
    pub starts_with: Option<String>,
    pub is_null: Option<bool>,
}

/// A point in time (`2026-12-01T09:30:00Z`, RFC 3339) or a whole UTC day
/// (`2026-12-01`). As a bound a day means all of it: `gte`/`from` a day is
/// from its first instant, `lte`/`to` a day through its last, `eq` a day
/// anywhere in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateOrDateTime {
    At(DateTime<Utc>),
    Day(chrono::NaiveDate),
}

#[async_graphql::Scalar(name = "DateOrDateTime")]
impl async_graphql::ScalarType for DateOrDateTime {
    fn parse(value: async_graphql::Value) -> async_graphql::InputValueResult<Self> {
        let async_graphql::Value::String(text) = &value else {
            return Err(async_graphql::InputValueError::expected_type(value));
        };
        let text = text.trim();
        if let Ok(day) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Ok(Self::Day(day));
        }
        DateTime::parse_from_rfc3339(text)
            .map(|at| Self::At(at.to_utc()))
            .map_err(|_| {
                async_graphql::InputValueError::custom(format!(
                    "{text:?} is neither a date (2026-12-01) nor an RFC 3339 timestamp \
                     (2026-12-01T09:30:00Z)"
                ))
            })
    }

    fn to_value(&self) -> async_graphql::Value {
        async_graphql::Value::String(match self {
            Self::At(at) => at.to_rfc3339(),
            Self::Day(day) => day.to_string(),
        })
    }
}

impl DateOrDateTime {
    /// The first instant it covers.
    pub fn start(self) -> DateTime<Utc> {
        match self {
            Self::At(at) => at,
            Self::Day(day) => day.and_time(chrono::NaiveTime::MIN).and_utc(),
        }
    }

    /// The end of a range that ends with it: an instant itself (inclusive),
    /// a day's next midnight (exclusive).
    pub fn end(self) -> (DateTime<Utc>, bool) {
        match self {
            Self::At(at) => (at, true),
            Self::Day(_) => (self.start() + chrono::Duration::days(1), false),
        }
    }
}

#[derive(InputObject, Clone, Default)]
pub struct DateTimeFilter {
    pub eq: Option<DateOrDateTime>,
    pub lt: Option<DateOrDateTime>,
    pub lte: Option<DateOrDateTime>,
    pub gt: Option<DateOrDateTime>,
    pub gte: Option<DateOrDateTime>,
    /// Within the last so many days, counted back from the moment the
    /// filter runs (so a saved segment's "last 30 days" moves with time).
    pub in_last_days: Option<i32>,
    /// Longer ago than so many days, from the moment the filter runs.
    pub before_last_days: Option<i32>,
    pub is_null: Option<bool>,
}

impl DateTimeFilter {
    /// Counted back from the moment the filter runs.
    pub fn is_relative(&self) -> bool {
        self.in_last_days.is_some() || self.before_last_days.is_some()
    }
}

/// The longest relative period a date filter takes (100 years).
const MAX_RELATIVE_DAYS: i32 = 36_500;

pub(crate) fn days_ago(days: i32, path: &str) -> AppResult<DateTime<Utc>> {
    if !(1..=MAX_RELATIVE_DAYS).contains(&days) {
        return Err(AppError::invalid(
            path,
            format!("must be between 1 and {MAX_RELATIVE_DAYS}"),
        ));
    }
    Ok(Utc::now() - chrono::Duration::days(i64::from(days)))
}

/// Conditions on an enum value; `ne` also keeps rows that have none.
// Named per enum in the schema by a `concrete` attribute here.
#[derive(InputObject, Clone)]
#[graphql(concrete(
    name = "VerificationStatusFilter",
    params(crate::crm::leads::types::VerificationStatus)
))]
#[graphql(concrete(
    name = "BookingPotentialFilter",
    params(crate::crm::leads::types::BookingPotential)
))]
#[graphql(concrete(
    name = "BookingToolFilter",
    params(crate::capture::website_analysis::BookingTool)
))]
#[graphql(concrete(
    name = "WebsiteAnalysisStatusFilter",
    params(crate::capture::website_analysis::WebsiteAnalysisStatus)
))]
pub struct EnumFilter<T: EnumType + InputType + Copy> {
    pub eq: Option<T>,
    pub ne: Option<T>,
    #[graphql(name = "in")]
    pub in_: Option<Vec<T>>,
    pub is_null: Option<bool>,
}

impl<T: EnumType + InputType + Copy> Default for EnumFilter<T> {
    fn default() -> Self {
        Self {
            eq: None,
            ne: None,
            in_: None,
            is_null: None,
        }
    }
}

/// A filter input on one column (text compares ignoring case).
pub trait ColumnFilter {
    /// The condition on `column`; `path` names the filter in errors.
    fn condition(&self, column: Expr, path: &str) -> AppResult<Condition>;
}

/// `%` and `_` in user text match themselves in LIKE patterns.
pub fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub(crate) fn checked_len<T>(list: &[T], path: &str) -> AppResult<()> {
    if list.len() > MAX_IN {
        return Err(AppError::invalid(
            path,
            format!("`in` takes at most {MAX_IN} values"),
        ));
    }
    Ok(())
}

fn null_check(c: Condition, expr: &Expr, is_null: Option<bool>) -> Condition {
    match is_null {
        Some(true) => c.add(expr.clone().is_null()),
        Some(false) => c.add(expr.clone().is_not_null()),
        None => c,
    }
}

/// `ne` keeps rows where the column is NULL: they are not equal.
fn not_equal(expr: &Expr, value: impl Into<sea_orm::Value>) -> Condition {
    Condition::any()
        .add(expr.clone().ne(value.into()))
        .add(expr.clone().is_null())
}

impl ColumnFilter for IdFilter {
    fn condition(&self, expr: Expr, path: &str) -> AppResult<Condition> {
        let mut c = Condition::all();
        if let Some(id) = &self.eq {
            c = c.add(expr.clone().eq(parse_id(id, &format!("{path}.eq"))?));
        }
        if let Some(id) = &self.ne {
            c = c.add(not_equal(&expr, parse_id(id, &format!("{path}.ne"))?));
        }
        if let Some(list) = &self.in_ {
            checked_len(list, &format!("{path}.in"))?;
            let parsed = list
                .iter()
                .map(|id| parse_id(id, &format!("{path}.in")))
                .collect::<AppResult<Vec<Uuid>>>()?;
            c = c.add(expr.clone().is_in(parsed));
        }
        Ok(null_check(c, &expr, self.is_null))
    }
}

impl ColumnFilter for IntFilter {
    fn condition(&self, expr: Expr, path: &str) -> AppResult<Condition> {
        let mut c = Condition::all();
        if let Some(v) = self.eq {
            c = c.add(expr.clone().eq(v));
        }
        if let Some(v) = self.ne {
            c = c.add(expr.clone().ne(v));
        }
        if let Some(list) = &self.in_ {
            checked_len(list, &format!("{path}.in"))?;
            c = c.add(expr.clone().is_in(list.clone()));
        }
        c = ordered(c, &expr, self.lt, self.lte, self.gt, self.gte);
        Ok(null_check(c, &expr, self.is_null))
    }
}

impl ColumnFilter for FloatFilter {
    fn condition(&self, expr: Expr, _path: &str) -> AppResult<Condition> {
        let mut c = Condition::all();
        if let Some(v) = self.eq {
            c = c.add(expr.clone().eq(v));
        }
        if let Some(v) = self.ne {
            c = c.add(expr.clone().ne(v));
        }
        c = ordered(c, &expr, self.lt, self.lte, self.gt, self.gte);
        Ok(null_check(c, &expr, self.is_null))
    }
}

impl ColumnFilter for BooleanFilter {
    fn condition(&self, expr: Expr, _path: &str) -> AppResult<Condition> {
        let mut c = Condition::all();
        if let Some(v) = self.eq {
            c = c.add(expr.clone().eq(v));
        }
        Ok(null_check(c, &expr, self.is_null))
    }
}

impl ColumnFilter for DateTimeFilter {
    fn condition(&self, expr: Expr, path: &str) -> AppResult<Condition> {
        let at = |v: DateTime<Utc>| v.fixed_offset();
        // "Up to and including it": through an instant, before a day's
        // next midnight.
        let through = |v: DateOrDateTime| match v.end() {
            (end, true) => expr.clone().lte(at(end)),
            (end, false) => expr.clone().lt(at(end)),
        };
        // "After it": past an instant, from a day's next midnight.
        let after = |v: DateOrDateTime| match v.end() {
            (end, true) => expr.clone().gt(at(end)),
            (end, false) => expr.clone().gte(at(end)),
        };
        let mut c = Condition::all();
        if let Some(v) = self.eq {
            c = c.add(expr.clone().gte(at(v.start()))).add(through(v));
        }
        if let Some(v) = self.gte {
            c = c.add(expr.clone().gte(at(v.start())));
        }
        if let Some(v) = self.gt {
            c = c.add(after(v));
        }
        if let Some(v) = self.lte {
            c = c.add(through(v));
        }
        if let Some(v) = self.lt {
            c = c.add(expr.clone().lt(at(v.start())));
        }
        if let Some(days) = self.in_last_days {
            let since = days_ago(days, &format!("{path}.inLastDays"))?;
            c = c.add(expr.clone().gte(at(since)));
        }
        if let Some(days) = self.before_last_days {
            let until = days_ago(days, &format!("{path}.beforeLastDays"))?;
            c = c.add(expr.clone().lt(at(until)));
        }
        Ok(null_check(c, &expr, self.is_null))
    }
}

impl<T> EnumFilter<T>
where
    T: EnumType + InputType + Copy,
{
    /// `to_db` turns the API's value into the column's.
    pub fn condition<V: Into<sea_orm::Value>>(
        &self,
        expr: Expr,
        path: &str,
        to_db: impl Fn(T) -> V,
    ) -> AppResult<Condition> {
        let mut c = Condition::all();
        if let Some(v) = self.eq {
            c = c.add(expr.clone().eq(to_db(v).into()));
        }
        if let Some(v) = self.ne {
            c = c.add(not_equal(&expr, to_db(v)));
        }
        if let Some(list) = &self.in_ {
            checked_len(list, &format!("{path}.in"))?;
            c = c.add(
                expr.clone()
                    .is_in(list.iter().map(|v| to_db(*v).into()).collect::<Vec<_>>()),
            );
        }
        Ok(null_check(c, &expr, self.is_null))
    }
}

fn ordered<V: Into<sea_orm::Value>>(
    mut c: Condition,
    expr: &Expr,
    lt: Option<V>,
    lte: Option<V>,
    gt: Option<V>,
    gte: Option<V>,
) -> Condition {
    if let Some(v) = lt {
        c = c.add(expr.clone().lt(v.into()));
    }
    if let Some(v) = lte {
        c = c.add(expr.clone().lte(v.into()));
    }
    if let Some(v) = gt {
        c = c.add(expr.clone().gt(v.into()));
    }
    if let Some(v) = gte {
        c = c.add(expr.clone().gte(v.into()));
    }
    c
}

fn lower(expr: Expr) -> Expr {
    Expr::expr(Func::lower(expr))
}

impl ColumnFilter for StringFilter {
    fn condition(&self, expr: Expr, path: &str) -> AppResult<Condition> {
        let mut c = Condition::all();
        if let Some(v) = &self.eq {
            c = c.add(lower(expr.clone()).eq(v.to_lowercase()));
        }
        if let Some(v) = &self.ne {
            c = c.add(
                Condition::any()
                    .add(lower(expr.clone()).ne(v.to_lowercase()))
                    .add(expr.clone().is_null()),
            );
        }
        if let Some(list) = &self.in_ {
            checked_len(list, &format!("{path}.in"))?;
            c = c.add(lower(expr.clone()).is_in(list.iter().map(|v| v.to_lowercase())));
        }
        let like = |pattern: String| LikeExpr::new(pattern).escape('\\');
        if let Some(v) = &self.contains {
            let pattern = format!("%{}%", like_escape(&v.to_lowercase()));
            c = c.add(lower(expr.clone()).like(like(pattern)));
        }
        if let Some(v) = &self.starts_with {
            let pattern = format!("{}%", like_escape(&v.to_lowercase()));
            c = c.add(lower(expr.clone()).like(like(pattern)));
        }
        Ok(null_check(c, &expr, self.is_null))
    }
}
