//! Creating, searching, changing and (softly) deleting companies.
//!
//! The domain is derived from the website on every write and is unique among
//! a tenant's live companies (a partial unique index; a deleted company frees
//! its domain). The duplicate is reported on `input.website`, naming the
//! company that has the domain, so the client can offer to open it instead.

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction,
    IntoActiveModel, QueryFilter, Set,
};
use uuid::Uuid;

use entity::companies;
use entity::sea_orm_active_enums::CustomFieldEntity;

use super::country::CountryCode;
use super::domain::normalize_domain;
use super::types::{CompanyAddressInput, CompanyFilter, CreateCompanyInput, UpdateCompanyInput};
use crate::domain::{optional_text, required_text};
use crate::error::on_unique;
use crate::error::{AppError, AppResult};
use crate::graphql::filters::combine;
use crate::graphql::pagination::{Order, Page, PageArgs, Totals, list_by_id};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin_write, find_live, live, read_live, soft_delete};

const MAX_SEARCH_CHARS: usize = 200;
const DUPLICATE_DOMAIN: &str = "another company already has this website's domain";

/// One page of live companies, newest first; `search` matches the name or
/// the domain, ignoring case; `filter` holds on every one.
pub(super) async fn list(
    shared: &Shared,
    ctx: &RequestCtx,
    args: &PageArgs,
    search: Option<String>,
    filter: Option<CompanyFilter>,
) -> AppResult<(Page<companies::Model>, Totals)> {
    let mut select = live::<companies::Entity>(ctx);
    if let Some(filter) = &filter {
        let backend = shared.db.get_database_backend();
        select = select.filter(combine(filter, backend, "filter")?);
    }
    if let Some(term) = optional_text(search, "search", MAX_SEARCH_CHARS)? {
        let pattern = format!("%{}%", escape_like(&term.to_lowercase()));
        let like = || LikeExpr::new(pattern.clone()).escape('\\');
        select = select.filter(
            Condition::any()
                .add(Expr::expr(Func::lower(Expr::col(companies::Column::Name))).like(like()))
                .add(Expr::col(companies::Column::Domain).like(like())),
        );
    }
    list_by_id(
        shared,
        ctx,
        select,
        companies::Column::Id,
        args,
        Order::NewestFirst,
    )
    .await
}

pub(super) async fn get(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<companies::Model> {
    read_live::<companies::Entity>(&shared.db, ctx, id).await
}

pub(super) async fn create(
    shared: &Shared,
    ctx: &RequestCtx,
    input: CreateCompanyInput,
) -> AppResult<companies::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let company = create_in(&txn, ctx, input, "input").await?;
    txn.commit().await?;
    Ok(company)
}

/// Creates a company in `txn`, naming the fields under `prefix`.
async fn create_in(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    input: CreateCompanyInput,
    prefix: &str,
) -> AppResult<companies::Model> {
    let f = |name: &str| format!("{prefix}.{name}");
    let name = required_text(&input.name, &f("name"), 200)?;
    let (website, domain) = website(input.website, &f("website"))?;
    let address = input.address.unwrap_or_default();
    let enrichment = json_object(input.enrichment, &f("enrichment"))?;
    let now = Utc::now().fixed_offset();
    let mut company = companies::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        id: Set(Uuid::now_v7()),
        name: Set(name),
        website: Set(website),
        domain: Set(domain.clone()),
        industry: Set(optional_text(input.industry, &f("industry"), 200)?),
        size: Set(input.size.map(Into::into)),
        phone: Set(phone(input.phone, &f("phone"))?),
        description: Set(optional_text(input.description, &f("description"), 5_000)?),
        enrichment: Set(enrichment.unwrap_or_else(|| serde_json::json!({}))),
        created_at: Set(now),
        updated_at: Set(now),
        created_by: Set(ctx.user_id()),
        updated_by: Set(ctx.user_id()),
        deleted_at: Set(None),
        deleted_by: Set(None),
        ..Default::default()
    };
    set_address(&mut company, address)?;
    input.attributes.apply(&mut company, prefix)?;
    if let Some(domain) = &domain {
        ensure_domain_free(txn, ctx, domain, None).await?;
    }
    let patch = input
        .custom_fields
        .map_or_else(|| serde_json::json!({}), |json| json.0);
    company.custom_fields = Set(crate::crm::custom_fields::validate(
        txn,
        ctx,
        CustomFieldEntity::Company,
        &patch,
        None,
        &f("customFields"),
    )
    .await?);
    let company = company
        .insert(txn)
        .await
        .map_err(|e| on_unique(e, Some(&f("website")), DUPLICATE_DOMAIN))?;
    if let Some(domain) = &domain {
        crate::capture::website_analysis::service::company_created(txn, ctx, domain).await?;
    }
    Ok(company)
}

/// The live company with `website`'s domain, else the one named `name`
/// (ignoring case), else a new one with both: an import's lines name their
/// company by these, never by id.
pub(crate) async fn find_or_create(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    name: Option<&str>,
    website_given: Option<&str>,
    field: &str,
) -> AppResult<Uuid> {
    let (website, domain) = website(website_given.map(str::to_owned), field)?;
    let found = match (&domain, name) {
        (Some(domain), _) => {
            live::<companies::Entity>(ctx)
                .filter(companies::Column::Domain.eq(domain.as_str()))
                .one(txn)
                .await?
        }
        (None, Some(name)) => {
            live::<companies::Entity>(ctx)
                .filter(
                    Expr::expr(Func::lower(Expr::col(companies::Column::Name)))
                        .eq(name.to_lowercase()),
                )
                .one(txn)
                .await?
        }
        (None, None) => None,
    };
    if let Some(company) = found {
        return Ok(company.id);
    }
    let name = name.map(str::to_owned).or(domain).unwrap_or_default();
    let mut fields = async_graphql::indexmap::IndexMap::new();
    fields.insert(
        async_graphql::Name::new("name"),
        async_graphql::Value::String(name),
    );
    if let Some(website) = website {
        fields.insert(
            async_graphql::Name::new("website"),
            async_graphql::Value::String(website),
        );
    }
    let input = <CreateCompanyInput as async_graphql::InputType>::parse(Some(
        async_graphql::Value::Object(fields),
    ))
    .map_err(|e| AppError::invalid(field, e.into_server_error(Default::default()).message))?;
    Ok(create_in(txn, ctx, input, "row.company").await?.id)
}

pub(super) async fn update(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
    input: UpdateCompanyInput,
) -> AppResult<companies::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let current = find_live::<companies::Entity>(&txn, ctx, id).await?;
    let previous_custom_fields = current.custom_fields.clone();
    let previous_domain = current.domain.clone();
    let mut company = current.into_active_model();
    input.attributes.apply_to_row(&mut company, "input")?;
    if let Some(name) = input.name {
        company.name = Set(required_text(&name, "input.name", 200)?);
    }
    // Absent leaves a field alone; null clears it.
    if let Some(value) = Option::<Option<String>>::from(input.website) {
        let (website, domain) = website(value, "input.website")?;
        if let Some(domain) = &domain {
            ensure_domain_free(&txn, ctx, domain, Some(id)).await?;
        }
        company.website = Set(website);
        company.domain = Set(domain);
    }
    if let Some(value) = Option::<Option<String>>::from(input.industry) {
        company.industry = Set(optional_text(value, "input.industry", 200)?);
    }
    if let Some(value) = Option::<Option<_>>::from(input.size) {
        company.size = Set(value.map(Into::into));
    }
    if let Some(value) = Option::<Option<String>>::from(input.phone) {
        company.phone = Set(phone(value, "input.phone")?);
    }
    if let Some(value) = Option::<Option<String>>::from(input.description) {
        company.description = Set(optional_text(value, "input.description", 5_000)?);
    }
    match Option::<Option<_>>::from(input.address) {
        Some(None) => set_address(&mut company, CompanyAddressInput::default())?,
        Some(Some(patch)) => {
            let parts = [
                (patch.line1, &mut company.address_line1, "line1"),
                (patch.line2, &mut company.address_line2, "line2"),
                (patch.city, &mut company.city, "city"),
                (patch.region, &mut company.region, "region"),
                (patch.postal_code, &mut company.postal_code, "postalCode"),
                (patch.country, &mut company.country, "country"),
            ];
            for (value, column, part) in parts {
                if let Some(value) = Option::<Option<String>>::from(value) {
                    *column = Set(address_part(part, value)?);
                }
            }
        }
        None => {}
    }
    if let Some(enrichment) = json_object(input.enrichment, "input.enrichment")? {
        company.enrichment = Set(enrichment);
    }
    if let Some(patch) = input.custom_fields {
        company.custom_fields = Set(crate::crm::custom_fields::validate(
            &txn,
            ctx,
            CustomFieldEntity::Company,
            &patch.0,
            Some(&previous_custom_fields),
            "input.customFields",
        )
        .await?);
    }
    company.updated_at = Set(Utc::now().fixed_offset());
    company.updated_by = Set(ctx.user_id());
    let company = company
        .update(&txn)
        .await
        .map_err(|e| on_unique(e, Some("input.website"), DUPLICATE_DOMAIN))?;
    if company.domain != previous_domain {
        crate::capture::website_analysis::service::company_website_changed(
            &txn,
            ctx,
            company.id,
            company.domain.as_deref(),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(company)
}

/// Soft-deletes a company: leads keep pointing at it, lists forget it and
/// its domain is free again.
pub(super) async fn delete(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<companies::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let company = soft_delete::<companies::Entity>(&txn, ctx, id).await?;
    txn.commit().await?;
    Ok(company)
}

async fn ensure_domain_free(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    domain: &str,
    except: Option<Uuid>,
) -> AppResult<()> {
    let mut select = live::<companies::Entity>(ctx).filter(companies::Column::Domain.eq(domain));
    if let Some(id) = except {
        select = select.filter(companies::Column::Id.ne(id));
    }
    if let Some(other) = select.one(conn).await? {
        return Err(AppError::duplicate(
            "input.website",
            format!(
                "{domain} is already the domain of company \"{}\" (id {})",
                other.name, other.id
            ),
        ));
    }
    Ok(())
}

/// The website as given (trimmed) and its normalised domain.
fn website(raw: Option<String>, field: &str) -> AppResult<(Option<String>, Option<String>)> {
    let Some(website) = optional_text(raw, field, 2_000)? else {
        return Ok((None, None));
    };
    let domain = normalize_domain(&website).ok_or_else(|| {
        AppError::invalid(
            field,
            "is not a website address such as https://example.com",
        )
    })?;
    Ok((Some(website), Some(domain)))
}

fn phone(raw: Option<String>, field: &str) -> AppResult<Option<String>> {
    let phone = optional_text(raw, field, 50)?;
    if phone
        .as_deref()
        .is_some_and(|p| !p.chars().any(|c| c.is_ascii_digit()))
    {
        return Err(AppError::invalid(field, "must contain a number"));
    }
    Ok(phone)
}

fn json_object(
    value: Option<crate::graphql::json::Json<serde_json::Value>>,
    field: &str,
) -> AppResult<Option<serde_json::Value>> {
    match value {
        Some(json) if json.0.is_object() => Ok(Some(json.0)),
        Some(_) => Err(AppError::invalid(field, "must be a JSON object")),
        None => Ok(None),
    }
}

/// One address part, trimmed and bounded; the country as its ISO code.
fn address_part(part: &str, value: Option<String>) -> AppResult<Option<String>> {
    let field = format!("input.address.{part}");
    if part == "country" {
        return optional_text(value, &field, 100)?
            .map(|code| CountryCode::parse(&code, &field).map(CountryCode::into_inner))
            .transpose();
    }
    let max = match part {
        "postalCode" => 20,
        "city" | "region" => 100,
        _ => 200,
    };
    optional_text(value, &field, max)
}

fn set_address(
    company: &mut companies::ActiveModel,
    address: CompanyAddressInput,
) -> AppResult<()> {
    company.address_line1 = Set(address_part("line1", address.line1)?);
    company.address_line2 = Set(address_part("line2", address.line2)?);
    company.city = Set(address_part("city", address.city)?);
    company.region = Set(address_part("region", address.region)?);
    company.postal_code = Set(address_part("postalCode", address.postal_code)?);
    company.country = Set(address_part("country", address.country)?);
    Ok(())
}

/// Escapes LIKE's wildcards so a search for `50%` finds "50%".
fn escape_like(term: &str) -> String {
    term.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websites_yield_their_domain_and_bad_ones_name_the_field() {
        assert_eq!(
            website(Some(" https://www.Acme.com/x ".into()), "f").unwrap(),
            (
                Some("https://www.Acme.com/x".into()),
                Some("acme.com".into())
            )
        );
        assert_eq!(website(Some("  ".into()), "f").unwrap(), (None, None));
        match website(Some("not a site".into()), "input.website") {
            Err(AppError::BadUserInput { field, .. }) => assert_eq!(field, "input.website"),
            other => panic!("accepted: {other:?}"),
        }
    }

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like("50%_a\\b"), "50\\%\\_a\\\\b");
    }

    #[test]
    fn address_parts_are_bounded_and_countries_parsed() {
        assert_eq!(
            address_part("country", Some(" de ".into())).unwrap(),
            Some("DE".into())
        );
        assert!(address_part("country", Some("Germany".into())).is_err());
        assert!(address_part("postalCode", Some("1".repeat(21))).is_err());
        assert_eq!(address_part("line1", Some(" ".into())).unwrap(), None);
    }
}
