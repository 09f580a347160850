//! A page of leads with its company, stage and owner in one statement: the
//! page (filtered, ordered, limited) left-joined with the rows it points at.
//!
//! The page reads only the columns its query shows (`leads::columns`), and
//! reads them back by position, not by name: sea-orm's by-name decoding
//! hashes every column name, formats the full name of every joined
//! (prefixed) column and, for a NULL, formats that name into an error, which
//! together cost more than all of PostgreSQL's work for the page. Positions
//! come from the entities' `Column` enums, whose order is the order `find()`
//! selects them in.

use sea_orm::prelude::DateTimeWithTimeZone;
use sea_orm::sea_query::{
    Alias, Asterisk, Condition, DynIden, Expr, ExprTrait, IntoIden, Query, SelectStatement,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IdenStatic, JoinType, Order, QueryResult,
};
use uuid::Uuid;

use entity::leads::{self, Column};
use entity::sea_orm_active_enums::{CompanySize, LeadStatus, VerificationStatus as Verification};
use entity::{companies, lead_stages, users};

use super::columns::{PageColumns, Picked};
use super::list::{ascending, sort_expr};
use super::types::LeadOrderField;
use crate::db::build_select;
use crate::error::AppResult;
use crate::tenancy::scoped::TenantOwned;

/// The relations a page read together with its lead: `Some` for each the
/// page joined, holding the lead's row (`None` where it points at none).
/// Rows hold only the columns the query shows (see `leads::columns`), so
/// they stay with their lead and never go to a loader.
pub struct Joined {
    pub company: Option<Option<companies::Model>>,
    pub stage: Option<Option<lead_stages::Model>>,
    pub owner: Option<Option<users::Model>>,
}

/// A lead of a page (its columns the query shows), with what it joined.
pub struct LeadRow {
    /// Boxed (as `Lead` keeps it): a lead's model is most of a kilobyte, and
    /// a page's rows are moved from one collection to the next several times
    /// on their way to the response.
    pub lead: Box<leads::Model>,
    pub joined: Box<Joined>,
}

/// Adds the `picked` columns of `E`'s row matching `on`, aliased
/// `{alias}_{column}` (for whoever reads the SQL; rows are read by position).
fn left_join<E: EntityTrait>(
    outer: &mut SelectStatement,
    alias: &str,
    picked: &Picked<E>,
    on: impl Fn(&DynIden) -> Condition,
) {
    let table: DynIden = Alias::new(alias).into_iden();
    outer.join_as(JoinType::LeftJoin, E::default(), table.clone(), on(&table));
    for column in picked.columns() {
        outer.expr_as(
            column.select_as(Expr::col((table.clone(), column))),
            Alias::new(format!("{alias}_{}", column.as_str())),
        );
    }
}

/// Joins the tenant's own row of `E` that the page's `reference` names.
fn tenant_row<E: TenantOwned>(page: &DynIden, reference: Column) -> impl Fn(&DynIden) -> Condition {
    let page = page.clone();
    move |table| {
        Condition::all()
            .add(
                Expr::col((table.clone(), E::tenant_column()))
                    .equals((page.clone(), Column::TenantId)),
            )
            .add(Expr::col((table.clone(), E::id_column())).equals((page.clone(), reference)))
    }
}

/// Makes `inner` (a filtered, ordered, limited `find()` of leads) select
/// only the lead columns `picked`, in `Column` order.
pub fn select_picked(inner: &mut SelectStatement, picked: &Picked<leads::Entity>) {
    inner.clear_selects();
    for column in picked.columns() {
        inner.expr(column.select_as(Expr::col((leads::Entity, column))));
    }
}

/// The page `inner` (already filtered, ordered and limited, selecting the
/// lead columns of `columns`), left-joined with the relations `columns`
/// names. The join is outside the limit, so a sort over many matching leads
/// never joins more than the page. With `literal_limit` the page size is
/// written into the SQL (see `db::build_select`).
pub async fn with_relations(
    conn: &impl ConnectionTrait,
    inner: SelectStatement,
    field: LeadOrderField,
    order: Order,
    columns: &PageColumns,
    literal_limit: bool,
) -> AppResult<Vec<LeadRow>> {
    let backend = conn.get_database_backend();
    if !columns.joins_any() {
        let statement = build_select(backend, &inner, literal_limit);
        return read_rows(conn.query_all_raw(statement).await?, columns);
    }
    let page: DynIden = Alias::new("page").into_iden();
    let mut outer = Query::select();
    outer
        .column((page.clone(), Asterisk))
        .from_subquery(inner, page.clone());
    if let Some(picked) = &columns.company {
        left_join(
            &mut outer,
            "c",
            picked,
            tenant_row::<companies::Entity>(&page, Column::CompanyId),
        );
    }
    if let Some(picked) = &columns.stage {
        left_join(
            &mut outer,
            "s",
            picked,
            tenant_row::<lead_stages::Entity>(&page, Column::StageId),
        );
    }
    if let Some(picked) = &columns.owner {
        // Users are global: the owner's membership is what the foreign key checks.
        let page = page.clone();
        left_join(&mut outer, "u", picked, move |u| {
            Condition::all().add(
                Expr::col((u.clone(), users::Column::Id)).equals((page.clone(), Column::OwnerId)),
            )
        });
    }
    // The joins do not keep the page's order. Sorting the joined rows again
    // was a sixth of PostgreSQL's work for the statement, so the server puts
    // its rows back in order itself, except in orders only the database
    // can compare (names, by its collation).
    let in_order = ascending(field);
    if in_order.is_none() {
        if let Some(expr) = sort_expr(field, &page) {
            outer.order_by_expr(expr, order.clone());
        }
        outer.order_by((page.clone(), Column::Id), order.clone());
    }
    let statement = build_select(backend, &outer, literal_limit);
    let mut rows = read_rows(conn.query_all_raw(statement).await?, columns)?;
    if let Some(ascending) = in_order {
        rows.sort_unstable_by(|a, b| match order {
            Order::Desc => ascending(&b.lead, &a.lead),
            _ => ascending(&a.lead, &b.lead),
        });
    }
    Ok(rows)
}

/// Where each table's columns are in a row: the lead's first, then each
/// joined relation's, in the order `with_relations` selects them.
struct Positions {
    lead: Vec<Option<usize>>,
    company: Option<Vec<Option<usize>>>,
    stage: Option<Vec<Option<usize>>>,
    owner: Option<Vec<Option<usize>>>,
}

impl Positions {
    fn of(columns: &PageColumns) -> Self {
        let mut next = 0;
        let mut take = |count: usize| {
            next += count;
            next - count
        };
        let lead = columns.lead.positions(take(columns.lead.count()));
        let company = columns
            .company
            .as_ref()
            .map(|p| p.positions(take(p.count())));
        let stage = columns.stage.as_ref().map(|p| p.positions(take(p.count())));
        let owner = columns.owner.as_ref().map(|p| p.positions(take(p.count())));
        Self {
            lead,
            company,
            stage,
            owner,
        }
    }
}

fn read_rows(rows: Vec<QueryResult>, columns: &PageColumns) -> AppResult<Vec<LeadRow>> {
    let at = Positions::of(columns);
    Ok(rows
        .iter()
        .map(|row| read_row(row, &at))
        .collect::<Result<_, DbErr>>()?)
}

fn read_row(row: &QueryResult, at: &Positions) -> Result<LeadRow, DbErr> {
    let lead = Box::new(read_lead(row, &at.lead)?);
    // A reference is a foreign key within the tenant, so the joined row is
    // there whenever the lead points at one.
    let joined = Joined {
        company: at
            .company
            .as_ref()
            .map(|at| lead.company_id.map(|_| read_company(row, at)).transpose())
            .transpose()?,
        stage: at
            .stage
            .as_ref()
            .map(|at| lead.stage_id.map(|_| read_stage(row, at)).transpose())
            .transpose()?,
        owner: at
            .owner
            .as_ref()
            .map(|at| lead.owner_id.map(|_| read_user(row, at)).transpose())
            .transpose()?,
    };
    Ok(LeadRow {
        lead,
        joined: Box::new(joined),
    })
}

/// A value read from a row by position.
///
/// On PostgreSQL the value is decoded straight from the row, without the
/// per-value type check sqlx and sea-orm make: this statement selected the
/// entities' own columns, so their types are known (and the entity drift
/// check keeps the entities equal to the migrations). A mismatch would still
/// fail to decode (wrong length, invalid UTF-8), never read garbage. The
/// check, and sea-orm's turning every NULL into a formatted error before it
/// becomes `None`, were a third of decoding a page. Elsewhere (SQLite) and
/// for enums, sea-orm decodes it.
trait ColumnValue: Sized {
    fn at(row: &QueryResult, index: usize) -> Result<Self, DbErr>;
}

macro_rules! decoded_unchecked_on_postgres {
    ($($type:ty),* $(,)?) => {$(
        impl ColumnValue for $type {
            fn at(row: &QueryResult, index: usize) -> Result<Self, DbErr> {
                match row.try_as_pg_row() {
                    Some(pg) => sea_orm::sqlx::Row::try_get_unchecked(pg, index)
                        .map_err(|e| DbErr::Type(format!("column {index}: {e}"))),
                    None => row.try_get_by_index(index),
                }
            }
        }
    )*};
}

decoded_unchecked_on_postgres!(
    Uuid,
    Option<Uuid>,
    String,
    Option<String>,
    bool,
    i32,
    Option<i32>,
    i64,
    Option<i64>,
    DateTimeWithTimeZone,
    Option<DateTimeWithTimeZone>,
    serde_json::Value,
);

macro_rules! decoded_by_sea_orm {
    ($($type:ty),* $(,)?) => {$(
        impl ColumnValue for $type {
            fn at(row: &QueryResult, index: usize) -> Result<Self, DbErr> {
                row.try_get_by_index(index)
            }
        }
    )*};
}

decoded_by_sea_orm!(LeadStatus, Verification, Option<CompanySize>);

/// Builds `entity::$module::Model` from a row: each field read from its
/// column's position in `$at` (indexed by `Column as usize`), or blank when
/// the page did not read that column (`Default`, or the value after `=`).
macro_rules! by_position {
    ($row:expr, $at:expr, $module:ident {
        $($field:ident: $column:ident $(= $blank:expr)?),* $(,)?
    }) => {
        entity::$module::Model {
            $($field: match $at[entity::$module::Column::$column as usize] {
                Some(index) => ColumnValue::at($row, index)?,
                None => blank!($($blank)?),
            },)*
        }
    };
}

macro_rules! blank {
    () => {
        Default::default()
    };
    ($value:expr) => {
        $value
    };
}

fn read_lead(row: &QueryResult, at: &[Option<usize>]) -> Result<leads::Model, DbErr> {
    Ok(by_position!(
        row,
        at,
        leads {
            tenant_id: TenantId,
            id: Id,
            first_name: FirstName,
            last_name: LastName,
            email: Email,
            phone: Phone,
            job_title: JobTitle,
            country: Country,
            city: City,
            project_id: ProjectId,
            company_id: CompanyId,
            stage_id: StageId,
            source_id: SourceId,
            owner_id: OwnerId,
            status: Status = LeadStatus::New,
            score: Score,
            quality_score: QualityScore,
            verification_status: VerificationStatus = Verification::Unverified,
            budget_cents: BudgetCents,
            authority: Authority,
            need: Need,
            timeline: Timeline,
            lifetime_value_cents: LifetimeValueCents,
            currency: Currency,
            emails_sent: EmailsSent,
            emails_opened: EmailsOpened,
            emails_clicked: EmailsClicked,
            last_contacted_at: LastContactedAt,
            last_responded_at: LastRespondedAt,
            custom_fields: CustomFields,
            enrichment: Enrichment,
            search_text: SearchText,
            sort_name: SortName,
            converted_at: ConvertedAt,
            created_at: CreatedAt,
            updated_at: UpdatedAt,
            created_by: CreatedBy,
            updated_by: UpdatedBy,
            deleted_at: DeletedAt,
            deleted_by: DeletedBy,
        }
    ))
}

fn read_company(row: &QueryResult, at: &[Option<usize>]) -> Result<companies::Model, DbErr> {
    Ok(by_position!(
        row,
        at,
        companies {
            tenant_id: TenantId,
            id: Id,
            name: Name,
            website: Website,
            domain: Domain,
            industry: Industry,
            size: Size,
            phone: Phone,
            description: Description,
            address_line1: AddressLine1,
            address_line2: AddressLine2,
            city: City,
            region: Region,
            postal_code: PostalCode,
            country: Country,
            enrichment: Enrichment,
            custom_fields: CustomFields,
            created_at: CreatedAt,
            updated_at: UpdatedAt,
            created_by: CreatedBy,
            updated_by: UpdatedBy,
            deleted_at: DeletedAt,
            deleted_by: DeletedBy,
        }
    ))
}

fn read_stage(row: &QueryResult, at: &[Option<usize>]) -> Result<lead_stages::Model, DbErr> {
    Ok(by_position!(
        row,
        at,
        lead_stages {
            tenant_id: TenantId,
            id: Id,
            name: Name,
            position: Position,
            color: Color,
            is_default: IsDefault,
            is_won: IsWon,
            is_lost: IsLost,
            created_at: CreatedAt,
            updated_at: UpdatedAt,
        }
    ))
}

fn read_user(row: &QueryResult, at: &[Option<usize>]) -> Result<users::Model, DbErr> {
    Ok(by_position!(
        row,
        at,
        users {
            id: Id,
            email: Email,
            password_hash: PasswordHash,
            name: Name,
            locale: Locale,
            is_active: IsActive,
            last_login_at: LastLoginAt,
            created_at: CreatedAt,
            updated_at: UpdatedAt,
        }
    ))
}
