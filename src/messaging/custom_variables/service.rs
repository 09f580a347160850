//! Defining, changing and deleting custom variables, and reading them for
//! rendering. Any writer manages them (they are message content, not
//! credentials); viewers only read. Keys are unique per tenant ignoring case
//! (`vars.Revenue` next to `vars.revenue` would only confuse) and fixed once
//! created, because templates refer to them by key.

use std::collections::BTreeSet;

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QuerySelect, Set,
};
use uuid::Uuid;

use entity::custom_variables::{self, Column};

use super::types::{
    CreateCustomVariableInput, CustomVariable, CustomVariableCategory, UpdateCustomVariableInput,
};
use crate::domain::{optional_text, required_text};
use crate::error::on_unique;
use crate::error::{AppError, AppResult};
use crate::graphql::keyset::{KeyOrder, KeyValue, SortKey, connection_by_keys};
use crate::graphql::pagination::{PageArgs, RelayConnection};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{
    begin_write, find_owned, scoped, tenant_delete, tenant_rows, tenant_update,
};

const DUPLICATE_KEY: &str = "a custom variable with this key already exists";
/// The list is one unpaged query: this keeps it small.
const MAX_VARIABLES: u64 = 500;
const MAX_KEY_CHARS: usize = 64;
const MAX_DEFAULT_CHARS: usize = 500;

/// A variable key: `[A-Za-z_][A-Za-z0-9_]{0,63}`, a plain identifier so
/// that `{{ vars.<key> }}` parses in every template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VariableKey(String);

impl VariableKey {
    /// Parses `value` (surrounding spaces ignored); `field` names the input.
    pub fn parse(value: &str, field: &str) -> AppResult<Self> {
        let value = value.trim();
        let mut chars = value.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if first_ok && rest_ok && value.len() <= MAX_KEY_CHARS {
            Ok(Self(value.to_owned()))
        } else {
            Err(AppError::invalid(
                field,
                "must start with a letter or '_' and contain only letters, digits and '_' \
                 (at most 64 characters)",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Ordered by key the same way on both backends (PostgreSQL collations
/// would otherwise sort case differently from SQLite), then by id.
fn by_key() -> KeyOrder<custom_variables::Model> {
    KeyOrder(vec![
        SortKey::ascending(
            Expr::expr(Func::lower(Expr::col(Column::Key))),
            KeyValue::Text(String::new()),
            |variable| KeyValue::Text(variable.key.to_lowercase()),
        ),
        SortKey::ascending(
            Expr::col(Column::Key),
            KeyValue::Text(String::new()),
            |variable| KeyValue::Text(variable.key.clone()),
        ),
        SortKey::ascending(
            Expr::col(Column::Id),
            KeyValue::Id(Uuid::nil()),
            |variable| KeyValue::Id(variable.id),
        ),
    ])
}

/// One page of the tenant's variables, of one category or all, by key.
/// Any member.
pub async fn list(
    shared: &Shared,
    ctx: &RequestCtx,
    category: Option<CustomVariableCategory>,
    args: &PageArgs,
) -> AppResult<RelayConnection<CustomVariable>> {
    let mut select = scoped::<custom_variables::Entity>(ctx);
    if let Some(category) = category {
        select = select.filter(Column::Category.eq(category.as_str()));
    }
    connection_by_keys(shared, ctx, select, by_key(), args, CustomVariable::from).await
}

/// For rendering: `(key, default value)` of the tenant's active variables,
/// by key. Call it inside a transaction bound to `tenant_id`.
pub async fn active_values(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
) -> AppResult<Vec<(String, String)>> {
    let select =
        tenant_rows::<custom_variables::Entity>(tenant_id).filter(Column::IsActive.eq(true));
    Ok(by_key()
        .sort(select)
        .select_only()
        .column(Column::Key)
        .column(Column::DefaultValue)
        .into_tuple()
        .all(conn)
        .await?)
}

/// For template validation: the keys rendering provides (the active
/// variables', as [`active_values`] gives them). Call it inside a
/// transaction bound to `tenant_id`.
pub async fn keys(conn: &impl ConnectionTrait, tenant_id: Uuid) -> AppResult<BTreeSet<String>> {
    let keys: Vec<String> = tenant_rows::<custom_variables::Entity>(tenant_id)
        .filter(Column::IsActive.eq(true))
        .select_only()
        .column(Column::Key)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(keys.into_iter().collect())
}

/// For rendering: counts one use of each of `keys` (what `usageCount` shows).
pub async fn record_usage(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    keys: &[String],
) -> AppResult<()> {
    if keys.is_empty() {
        return Ok(());
    }
    tenant_update::<custom_variables::Entity>(tenant_id)
        .col_expr(Column::UsageCount, Expr::col(Column::UsageCount).add(1))
        .filter(Column::Key.is_in(keys.iter().cloned()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Refuses a key another variable has, ignoring case.
async fn ensure_key_free(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    key: &VariableKey,
) -> AppResult<()> {
    let taken = scoped::<custom_variables::Entity>(ctx)
        .filter(Expr::expr(Func::lower(Expr::col(Column::Key))).eq(key.as_str().to_lowercase()))
        .one(conn)
        .await?;
    if taken.is_some() {
        return Err(AppError::duplicate(
            "input.key",
            "another custom variable already has this key",
        ));
    }
    Ok(())
}

fn label(value: &str) -> AppResult<String> {
    required_text(value, "input.label", 200)
}

fn description(value: Option<String>) -> AppResult<Option<String>> {
    optional_text(value, "input.description", 2_000)
}

/// Default values are message content: kept exactly as given (spaces and
/// line breaks included), only bounded.
fn default_value(value: String) -> AppResult<String> {
    if value.chars().count() > MAX_DEFAULT_CHARS {
        return Err(AppError::invalid(
            "input.defaultValue",
            format!("must be at most {MAX_DEFAULT_CHARS} characters"),
        ));
    }
    Ok(value)
}

pub async fn create(
    shared: &Shared,
    ctx: &RequestCtx,
    input: CreateCustomVariableInput,
) -> AppResult<custom_variables::Model> {
    ctx.require_writer()?;
    let key = VariableKey::parse(&input.key, "input.key")?;
    let now = Utc::now().fixed_offset();
    let variable = custom_variables::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        id: Set(Uuid::now_v7()),
        key: Set(key.as_str().to_owned()),
        label: Set(label(&input.label)?),
        category: Set(input
            .category
            .unwrap_or(CustomVariableCategory::Custom)
            .as_str()
            .to_owned()),
        description: Set(description(input.description)?),
        default_value: Set(default_value(input.default_value.unwrap_or_default())?),
        is_active: Set(input.is_active.unwrap_or(true)),
        usage_count: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let txn = begin_write(&shared.db, ctx).await?;
    if scoped::<custom_variables::Entity>(ctx).count(&txn).await? >= MAX_VARIABLES {
        return Err(AppError::limit_exceeded(format!(
            "a tenant has at most {MAX_VARIABLES} custom variables"
        )));
    }
    ensure_key_free(&txn, ctx, &key).await?;
    let variable = variable
        .insert(&txn)
        .await
        .map_err(|e| on_unique(e, Some("input.key"), DUPLICATE_KEY))?;
    txn.commit().await?;
    Ok(variable)
}

pub async fn update(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
    input: UpdateCustomVariableInput,
) -> AppResult<custom_variables::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let mut variable = find_owned::<custom_variables::Entity>(&txn, ctx, id, "custom variable")
        .await?
        .into_active_model();
    if let Some(value) = input.label {
        variable.label = Set(label(&value)?);
    }
    if let Some(category) = input.category {
        variable.category = Set(category.as_str().to_owned());
    }
    // Absent leaves the description alone; null clears it.
    if let Some(value) = Option::<Option<String>>::from(input.description) {
        variable.description = Set(description(value)?);
    }
    if let Some(value) = input.default_value {
        variable.default_value = Set(default_value(value)?);
    }
    if let Some(active) = input.is_active {
        variable.is_active = Set(active);
    }
    variable.updated_at = Set(Utc::now().fixed_offset());
    let variable = variable.update(&txn).await?;
    txn.commit().await?;
    Ok(variable)
}

/// Deletes a variable for good: nothing references it by id, and templates
/// that still use its key render it as missing.
pub async fn delete(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<custom_variables::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let variable = find_owned::<custom_variables::Entity>(&txn, ctx, id, "custom variable").await?;
    tenant_delete::<custom_variables::Entity>(ctx.tenant_id)
        .filter(Column::Id.eq(id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(variable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_identifiers() {
        for good in ["a", "_x", "companyRevenue", "link_2", &"k".repeat(64)] {
            assert_eq!(VariableKey::parse(good, "k").unwrap().as_str(), good);
        }
        assert_eq!(
            VariableKey::parse("  spaced ", "k").unwrap().as_str(),
            "spaced"
        );
        for bad in [
            "",
            "1st",
            "with-dash",
            "dot.ted",
            "has space",
            "é",
            &"k".repeat(65),
        ] {
            match VariableKey::parse(bad, "input.key") {
                Err(AppError::BadUserInput { field, .. }) => assert_eq!(field, "input.key"),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn categories_round_trip_and_unknown_is_custom() {
        for category in [
            CustomVariableCategory::Lead,
            CustomVariableCategory::Company,
            CustomVariableCategory::Link,
            CustomVariableCategory::Custom,
        ] {
            assert_eq!(CustomVariableCategory::parse(category.as_str()), category);
        }
        assert_eq!(
            CustomVariableCategory::parse("other"),
            CustomVariableCategory::Custom
        );
    }
}
