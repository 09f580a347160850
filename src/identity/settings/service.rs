//! Reading, upserting and deleting settings.

use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use entity::settings;

use super::types::Setting;
use crate::error::{AppError, AppResult};
use crate::graphql::keyset::{KeyOrder, KeyValue, SortKey, connection_by_keys};
use crate::graphql::pagination::{PageArgs, RelayConnection};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin, begin_write, scoped, tenant_delete};

/// Longest accepted value, serialised as JSON: settings are preferences, not
/// a document store.
pub(crate) const MAX_VALUE_BYTES: usize = 16 * 1024;

/// A setting key: `^[a-z][a-z0-9_.-]{0,63}$`. Parsed once at the edge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SettingKey(String);

impl SettingKey {
    /// Parses `value`; `field` names the argument in the error.
    pub(crate) fn parse(value: &str, field: &str) -> AppResult<Self> {
        let mut chars = value.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
        if first_ok && rest_ok && value.len() <= 64 {
            Ok(Self(value.to_owned()))
        } else {
            Err(AppError::invalid(
                field,
                "must start with a lowercase letter and contain only a-z, 0-9, '_', '.' or '-' \
                 (at most 64 characters)",
            ))
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// One page of the caller's tenant's settings, ordered by key. Any member.
pub(crate) async fn list(
    shared: &Shared,
    ctx: &RequestCtx,
    args: &PageArgs,
) -> AppResult<RelayConnection<Setting>> {
    let order = KeyOrder(vec![
        SortKey::ascending(
            Expr::col(settings::Column::Key),
            KeyValue::Text(String::new()),
            |setting: &settings::Model| KeyValue::Text(setting.key.clone()),
        ),
        SortKey::ascending(
            Expr::col(settings::Column::Id),
            KeyValue::Id(Uuid::nil()),
            |setting: &settings::Model| KeyValue::Id(setting.id),
        ),
    ]);
    let select = scoped::<settings::Entity>(ctx);
    connection_by_keys(shared, ctx, select, order, args, Setting::from).await
}

/// One setting, or `None` when it was never set. Any member.
pub(crate) async fn get(
    shared: &Shared,
    ctx: &RequestCtx,
    key: &str,
) -> AppResult<Option<settings::Model>> {
    let key = SettingKey::parse(key, "key")?;
    let txn = begin(&shared.db, ctx).await?;
    let row = scoped::<settings::Entity>(ctx)
        .filter(settings::Column::Key.eq(key.as_str()))
        .one(&txn)
        .await?;
    txn.commit().await?;
    Ok(row)
}

/// Creates or replaces a setting. Admins only.
pub(crate) async fn set(
    shared: &Shared,
    ctx: &RequestCtx,
    key: &str,
    value: serde_json::Value,
) -> AppResult<settings::Model> {
    ctx.require_admin()?;
    let key = SettingKey::parse(key, "key")?;
    let size = serde_json::to_vec(&value)
        .map_err(AppError::internal)?
        .len();
    if size > MAX_VALUE_BYTES {
        return Err(AppError::invalid(
            "value",
            format!("must be at most {MAX_VALUE_BYTES} bytes as JSON"),
        ));
    }
    let now = Utc::now().fixed_offset();
    let row = settings::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        id: Set(Uuid::now_v7()),
        key: Set(key.0),
        value: Set(value),
        created_at: Set(now),
        updated_at: Set(now),
        updated_by: Set(ctx.user_id()),
    };
    let txn = begin_write(&shared.db, ctx).await?;
    // One statement, so two admins setting the same new key at once cannot
    // collide on the unique (tenant_id, key).
    let saved = settings::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([settings::Column::TenantId, settings::Column::Key])
                .update_columns([
                    settings::Column::Value,
                    settings::Column::UpdatedAt,
                    settings::Column::UpdatedBy,
                ])
                .to_owned(),
        )
        .exec_with_returning(&txn)
        .await?;
    txn.commit().await?;
    Ok(saved)
}

/// Deletes a setting; the id of the deleted row, or `None` if it was not
/// set. Admins only.
pub(crate) async fn delete(
    shared: &Shared,
    ctx: &RequestCtx,
    key: &str,
) -> AppResult<Option<Uuid>> {
    ctx.require_admin()?;
    let key = SettingKey::parse(key, "key")?;
    let txn = begin_write(&shared.db, ctx).await?;
    let existing = scoped::<settings::Entity>(ctx)
        .filter(settings::Column::Key.eq(key.as_str()))
        .one(&txn)
        .await?;
    if let Some(row) = &existing {
        tenant_delete::<settings::Entity>(ctx.tenant_id)
            .filter(settings::Column::Id.eq(row.id))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(existing.map(|row| row.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_documented_pattern() {
        for good in ["a", "mail.footer", "ui.page-size", "x_1", &"k".repeat(64)] {
            assert!(SettingKey::parse(good, "key").is_ok(), "{good}");
        }
        for bad in ["", "1a", "_a", "Mail", "a b", "a/b", "é", &"k".repeat(65)] {
            match SettingKey::parse(bad, "key") {
                Err(AppError::BadUserInput { field, .. }) => assert_eq!(field, "key"),
                _ => panic!("accepted {bad:?}"),
            }
        }
    }
}
