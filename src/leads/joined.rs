//! A page of leads with its company, stage and owner in one statement: the
//! page (filtered, ordered, limited) left-joined with the rows it points at.
//!
//! Rows are read back by position, not by column name: sea-orm's by-name
//! decoding hashes every column name, formats the full name of every joined
//! (prefixed) column and, for a NULL, formats that name into an error, which
//! together cost more than all of PostgreSQL's work for the page. Positions come from the entities' `Column` enums, whose
//! order is the order `find()` selects them in.

use sea_orm::sea_query::{
    Alias, Asterisk, Condition, DynIden, Expr, ExprTrait, IntoIden, Query, SelectStatement,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IdenStatic, Iterable, JoinType, Order,
    QueryResult,
};

use entity::leads::{self, Column};
use entity::{companies, lead_stages, users};

use super::list::sort_expr;
use super::types::LeadOrderField;
use crate::db::build_select;
use crate::error::AppResult;
use crate::tenancy::scoped::TenantOwned;

/// Relations a page brings along in its own statement, so that a page of
/// leads with its companies, stages and owners is one query and one round
/// trip, not four.
#[derive(Clone, Copy, Debug, Default)]
pub struct Including {
    pub company: bool,
    pub stage: bool,
    pub owner: bool,
}

impl Including {
    pub fn any(self) -> bool {
        self.company || self.stage || self.owner
    }
}

/// A lead of a page with the relations the page was asked to include
/// (`None` also where the lead has no such relation).
pub struct LeadRow {
    pub lead: leads::Model,
    pub company: Option<companies::Model>,
    pub stage: Option<lead_stages::Model>,
    pub owner: Option<users::Model>,
}

impl From<leads::Model> for LeadRow {
    fn from(lead: leads::Model) -> Self {
        Self {
            lead,
            company: None,
            stage: None,
            owner: None,
        }
    }
}

/// Adds `E`'s row matching `on` as the next columns, aliased `{alias}_{column}`
/// (for whoever reads the SQL; the rows are read by position).
fn left_join<E: EntityTrait>(
    outer: &mut SelectStatement,
    alias: &str,
    on: impl Fn(&DynIden) -> Condition,
) {
    let table: DynIden = Alias::new(alias).into_iden();
    outer.join_as(JoinType::LeftJoin, E::default(), table.clone(), on(&table));
    for column in E::Column::iter() {
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

/// The page (already filtered, ordered and limited by `inner`) left-joined
/// with its relations. The join is outside the limit, so a sort over many
/// matching leads never joins more than the page. With `literal_limit` the
/// page size is written into the SQL (see `db::build_select`).
pub async fn with_relations(
    conn: &impl ConnectionTrait,
    inner: SelectStatement,
    field: LeadOrderField,
    order: Order,
    including: Including,
    literal_limit: bool,
) -> AppResult<Vec<LeadRow>> {
    let page: DynIden = Alias::new("page").into_iden();
    let mut outer = Query::select();
    outer
        .column((page.clone(), Asterisk))
        .from_subquery(inner, page.clone());
    if including.company {
        left_join::<companies::Entity>(
            &mut outer,
            "c",
            tenant_row::<companies::Entity>(&page, Column::CompanyId),
        );
    }
    if including.stage {
        left_join::<lead_stages::Entity>(
            &mut outer,
            "s",
            tenant_row::<lead_stages::Entity>(&page, Column::StageId),
        );
    }
    if including.owner {
        // Users are global: the owner's membership is what the foreign key checks.
        let page = page.clone();
        left_join::<users::Entity>(&mut outer, "u", move |u| {
            Condition::all().add(
                Expr::col((u.clone(), users::Column::Id)).equals((page.clone(), Column::OwnerId)),
            )
        });
    }
    if let Some(expr) = sort_expr(field, &page) {
        outer.order_by_expr(expr, order.clone());
    }
    outer.order_by((page.clone(), Column::Id), order);
    let statement = build_select(conn.get_database_backend(), &outer, literal_limit);
    let rows = conn.query_all_raw(statement).await?;
    Ok(rows
        .iter()
        .map(|row| read_row(row, including))
        .collect::<Result<_, DbErr>>()?)
}

/// One row: the lead's columns, then each included relation's, in the
/// order `with_relations` selected them.
fn read_row(row: &QueryResult, including: Including) -> Result<LeadRow, DbErr> {
    let lead = read_lead(row)?;
    let mut at = leads::Column::iter().count();
    // A reference is a foreign key within the tenant, so the joined row is
    // there whenever the lead points at one.
    let mut company = None;
    if including.company {
        if lead.company_id.is_some() {
            company = Some(read_company(row, at)?);
        }
        at += companies::Column::iter().count();
    }
    let mut stage = None;
    if including.stage {
        if lead.stage_id.is_some() {
            stage = Some(read_stage(row, at)?);
        }
        at += lead_stages::Column::iter().count();
    }
    let mut owner = None;
    if including.owner && lead.owner_id.is_some() {
        owner = Some(read_user(row, at)?);
    }
    Ok(LeadRow {
        lead,
        company,
        stage,
        owner,
    })
}

/// Builds `entity::$module::Model` from the row's columns starting at `$at`,
/// each field from the position of its own column.
macro_rules! by_position {
    ($row:expr, $at:expr, $module:ident { $($field:ident: $column:ident),* $(,)? }) => {
        entity::$module::Model {
            $($field: $row.try_get_by_index($at + entity::$module::Column::$column as usize)?,)*
        }
    };
}

fn read_lead(row: &QueryResult) -> Result<leads::Model, DbErr> {
    Ok(by_position!(
        row,
        0,
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
            status: Status,
            score: Score,
            quality_score: QualityScore,
            verification_status: VerificationStatus,
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

fn read_company(row: &QueryResult, at: usize) -> Result<companies::Model, DbErr> {
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

fn read_stage(row: &QueryResult, at: usize) -> Result<lead_stages::Model, DbErr> {
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

fn read_user(row: &QueryResult, at: usize) -> Result<users::Model, DbErr> {
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
