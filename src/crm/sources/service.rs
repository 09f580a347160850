//! Creating, listing, changing and (softly) deleting lead sources. Names
//! are unique among a tenant's live sources (a partial unique index; a
//! deleted source frees its name).

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, IntoActiveModel, Set};
use uuid::Uuid;

use entity::lead_sources;

use super::types::{CreateLeadSourceInput, UpdateLeadSourceInput};
use crate::domain::{optional_text, required_text};
use crate::error::AppResult;
use crate::error::on_unique;
use crate::graphql::pagination::{Order, Page, PageArgs, Totals, list_by_id};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{
    begin_write, ensure_live_name_free, find_live, live, read_live, soft_delete,
};

const MAX_UTM_CHARS: usize = 200;
const DUPLICATE_NAME: &str = "a lead source with this name already exists";

/// Refuses a name another live source has, ignoring case.
async fn ensure_name_free(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    name: &str,
    except: Option<Uuid>,
) -> AppResult<()> {
    ensure_live_name_free::<lead_sources::Entity>(
        conn,
        ctx,
        lead_sources::Column::Name,
        name,
        except,
        "another lead source already has this name",
    )
    .await
}

/// One page of live sources, newest first.
pub(super) async fn list(
    shared: &Shared,
    ctx: &RequestCtx,
    args: &PageArgs,
) -> AppResult<(Page<lead_sources::Model>, Totals)> {
    let select = live::<lead_sources::Entity>(ctx);
    list_by_id(
        shared,
        ctx,
        select,
        lead_sources::Column::Id,
        args,
        Order::NewestFirst,
    )
    .await
}

pub(super) async fn get(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<lead_sources::Model> {
    read_live::<lead_sources::Entity>(&shared.db, ctx, id).await
}

fn utm(value: Option<String>, field: &str) -> AppResult<Option<String>> {
    optional_text(value, field, MAX_UTM_CHARS)
}

pub(super) async fn create(
    shared: &Shared,
    ctx: &RequestCtx,
    input: CreateLeadSourceInput,
) -> AppResult<lead_sources::Model> {
    ctx.require_writer()?;
    let name = required_text(&input.name, "input.name", 200)?;
    let now = Utc::now().fixed_offset();
    let source = lead_sources::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        id: Set(Uuid::now_v7()),
        name: Set(name.clone()),
        source_type: Set(input.source_type.into()),
        utm_source: Set(utm(input.utm_source, "input.utmSource")?),
        utm_medium: Set(utm(input.utm_medium, "input.utmMedium")?),
        utm_campaign: Set(utm(input.utm_campaign, "input.utmCampaign")?),
        utm_term: Set(utm(input.utm_term, "input.utmTerm")?),
        utm_content: Set(utm(input.utm_content, "input.utmContent")?),
        is_active: Set(input.is_active.unwrap_or(true)),
        created_at: Set(now),
        updated_at: Set(now),
        created_by: Set(ctx.user_id()),
        updated_by: Set(ctx.user_id()),
        deleted_at: Set(None),
        deleted_by: Set(None),
    };
    let txn = begin_write(&shared.db, ctx).await?;
    ensure_name_free(&txn, ctx, &name, None).await?;
    let source = source
        .insert(&txn)
        .await
        .map_err(|e| on_unique(e, Some("input.name"), DUPLICATE_NAME))?;
    txn.commit().await?;
    Ok(source)
}

pub(super) async fn update(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
    input: UpdateLeadSourceInput,
) -> AppResult<lead_sources::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let mut source = find_live::<lead_sources::Entity>(&txn, ctx, id)
        .await?
        .into_active_model();
    if let Some(name) = input.name {
        let name = required_text(&name, "input.name", 200)?;
        ensure_name_free(&txn, ctx, &name, Some(id)).await?;
        source.name = Set(name);
    }
    if let Some(kind) = input.source_type {
        source.source_type = Set(kind.into());
    }
    // Absent leaves a tag alone; null clears it.
    for (value, column, field) in [
        (input.utm_source, &mut source.utm_source, "input.utmSource"),
        (input.utm_medium, &mut source.utm_medium, "input.utmMedium"),
        (
            input.utm_campaign,
            &mut source.utm_campaign,
            "input.utmCampaign",
        ),
        (input.utm_term, &mut source.utm_term, "input.utmTerm"),
        (
            input.utm_content,
            &mut source.utm_content,
            "input.utmContent",
        ),
    ] {
        if let Some(value) = Option::<Option<String>>::from(value) {
            *column = Set(utm(value, field)?);
        }
    }
    if let Some(active) = input.is_active {
        source.is_active = Set(active);
    }
    source.updated_at = Set(Utc::now().fixed_offset());
    source.updated_by = Set(ctx.user_id());
    let source = source
        .update(&txn)
        .await
        .map_err(|e| on_unique(e, Some("input.name"), DUPLICATE_NAME))?;
    txn.commit().await?;
    Ok(source)
}

/// Soft-deletes a source: leads keep pointing at it, lists forget it and its
/// name is free again.
pub(super) async fn delete(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<lead_sources::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let source = soft_delete::<lead_sources::Entity>(&txn, ctx, id).await?;
    txn.commit().await?;
    Ok(source)
}
