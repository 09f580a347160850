//! Creating, listing and revoking API keys. Admins only.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};
use uuid::Uuid;

use entity::api_keys;

use crate::domain::required_text;
use crate::error::{AppError, AppResult};
use crate::events::{DomainEventKind, NewDomainEvent, commit_with};
use crate::graphql::pagination::{Order, Page, PageArgs, Totals, list_by_id};
use crate::identity::auth::tokens::{self, TokenKind};
use crate::state::Shared;
use crate::tenancy::scoped::{begin_write, find_owned, scoped};
use crate::tenancy::{RequestCtx, Scope};

pub(super) async fn create(
    shared: &Shared,
    ctx: &RequestCtx,
    name: &str,
    scopes: Vec<Scope>,
    expires_at: Option<DateTime<Utc>>,
) -> AppResult<(api_keys::Model, String)> {
    ctx.require_admin()?;
    let name = required_text(name, "name", 100)?;
    if scopes.is_empty() {
        return Err(AppError::invalid(
            "scopes",
            "give at least one of read, write, admin",
        ));
    }
    if expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(AppError::invalid("expiresAt", "must be in the future"));
    }
    let mut scopes = scopes;
    scopes.sort();
    scopes.dedup();
    let minted = tokens::mint(TokenKind::ApiKey, ctx.tenant_id);
    let txn = begin_write(&shared.db, ctx).await?;
    let key = api_keys::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        id: Set(Uuid::now_v7()),
        name: Set(name),
        prefix: Set(tokens::display_prefix(&minted.token)),
        key_hash: Set(minted.hash),
        scopes: Set(serde_json::json!(
            scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>()
        )),
        expires_at: Set(expires_at.map(|at| at.fixed_offset())),
        last_used_at: Set(None),
        revoked_at: Set(None),
        created_by: Set(ctx.user_id()),
        created_at: Set(Utc::now().fixed_offset()),
    }
    .insert(&txn)
    .await?;
    commit_with(
        shared,
        txn,
        ctx,
        vec![NewDomainEvent::new(DomainEventKind::ApiKeyCreated, key.id)],
    )
    .await?;
    Ok((key, minted.token))
}

pub(super) async fn list(
    shared: &Shared,
    ctx: &RequestCtx,
    args: &PageArgs,
) -> AppResult<(Page<api_keys::Model>, Totals)> {
    ctx.require_admin()?;
    let select = scoped::<api_keys::Entity>(ctx);
    list_by_id(
        shared,
        ctx,
        select,
        api_keys::Column::Id,
        args,
        Order::NewestFirst,
    )
    .await
}

/// Revokes a key; it stops working on the next request.
pub(super) async fn revoke(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<api_keys::Model> {
    ctx.require_admin()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let key = find_owned::<api_keys::Entity>(&txn, ctx, id, "API key").await?;
    if key.revoked_at.is_some() {
        return Ok(key);
    }
    let mut active = key.into_active_model();
    active.revoked_at = Set(Some(Utc::now().fixed_offset()));
    let key = active.update(&txn).await?;
    commit_with(
        shared,
        txn,
        ctx,
        vec![NewDomainEvent::new(DomainEventKind::ApiKeyRevoked, key.id)],
    )
    .await?;
    Ok(key)
}
