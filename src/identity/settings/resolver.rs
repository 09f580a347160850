//! `settings`, `setting`, `setSetting`, `deleteSetting`.

use crate::graphql::json::Json;
use async_graphql::{Context, Object};

use super::service;
use super::types::Setting;
use crate::graphql::audit::touch;
use crate::graphql::pagination::{PageArgs, RelayConnection, cost};
use crate::graphql::{caller, shared};

#[derive(Default)]
pub(crate) struct SettingQuery;

#[Object]
impl SettingQuery {
    /// Your tenant's settings, ordered by key.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn settings(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<RelayConnection<Setting>> {
        let args = PageArgs::new(first, after, last, before);
        Ok(service::list(shared(ctx), caller(ctx)?, &args).await?)
    }

    /// One setting, or null if it is not set.
    async fn setting(
        &self,
        ctx: &Context<'_>,
        key: String,
    ) -> async_graphql::Result<Option<Setting>> {
        Ok(service::get(shared(ctx), caller(ctx)?, &key)
            .await?
            .map(Setting::from))
    }
}

#[derive(Default)]
pub(crate) struct SettingMutation;

#[Object]
impl SettingMutation {
    /// Creates or replaces a setting (at most 16 KiB of JSON). Admins only.
    async fn set_setting(
        &self,
        ctx: &Context<'_>,
        key: String,
        value: Json<serde_json::Value>,
    ) -> async_graphql::Result<Setting> {
        let setting = service::set(shared(ctx), caller(ctx)?, &key, value.0).await?;
        touch(ctx, "setting", setting.id);
        Ok(setting.into())
    }

    /// Deletes a setting; false if it was not set. Admins only.
    async fn delete_setting(&self, ctx: &Context<'_>, key: String) -> async_graphql::Result<bool> {
        let deleted = service::delete(shared(ctx), caller(ctx)?, &key).await?;
        if let Some(id) = deleted {
            touch(ctx, "setting", id);
        }
        Ok(deleted.is_some())
    }
}
