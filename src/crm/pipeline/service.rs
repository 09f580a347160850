//! Pipeline rules: stage positions are always 0..n in order; exactly one
//! stage is the default; no stage is both won and lost; the last stage
//! cannot go; a stage leads use (deleted leads included: they can be
//! restored) goes only by moving its leads to another stage.
//!
//! Every change reads the whole pipeline first, locked on PostgreSQL, so
//! two concurrent edits cannot both leave it without a default or with
//! duplicate positions. A pipeline is a handful of rows, so renumbering it
//! costs little.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use entity::{lead_stages, leads};

use super::types::{CreateLeadStageInput, LeadStage, UpdateLeadStageInput};
use crate::db::is_postgres;
use crate::domain::required_text;
use crate::error::on_unique;
use crate::error::{AppError, AppResult};
use crate::events::commit_with;
use crate::graphql::keyset::{KeyOrder, KeyValue, SortKey, connection_by_keys};
use crate::graphql::pagination::{PageArgs, RelayConnection};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{
    begin_write, scoped, tenant_delete, tenant_update, update_returning_ids,
};

const MAX_NAME_CHARS: usize = 100;
const DUPLICATE_NAME: &str = "a stage with this name already exists";

/// The pipeline a new tenant starts with: (name, color, default, won, lost).
const DEFAULT_PIPELINE: [(&str, &str, bool, bool, bool); 6] = [
    ("New", "#64748b", true, false, false),
    ("Contacted", "#3b82f6", false, false, false),
    ("Qualified", "#8b5cf6", false, false, false),
    ("Proposal", "#f59e0b", false, false, false),
    ("Won", "#22c55e", false, true, false),
    ("Lost", "#ef4444", false, false, true),
];

/// Creates the default pipeline (New, Contacted, Qualified, Proposal, Won,
/// Lost; New is the default) for a tenant being created, inside its
/// transaction.
pub(crate) async fn seed_default(conn: &impl ConnectionTrait, tenant_id: Uuid) -> AppResult<()> {
    let now = Utc::now().fixed_offset();
    let stages = DEFAULT_PIPELINE.iter().zip(0..).map(
        |(&(name, color, is_default, is_won, is_lost), position)| lead_stages::ActiveModel {
            tenant_id: Set(tenant_id),
            id: Set(Uuid::now_v7()),
            name: Set(name.to_owned()),
            position: Set(position),
            color: Set(color.to_owned()),
            is_default: Set(is_default),
            is_won: Set(is_won),
            is_lost: Set(is_lost),
            created_at: Set(now),
            updated_at: Set(now),
        },
    );
    lead_stages::Entity::insert_many(stages).exec(conn).await?;
    Ok(())
}

/// The stage new leads land in: the default one (or, should a pipeline ever
/// lack one, its first stage). `None` only for a tenant without stages.
pub(crate) async fn default_stage(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
) -> AppResult<Option<lead_stages::Model>> {
    Ok(scoped::<lead_stages::Entity>(ctx)
        .order_by_desc(lead_stages::Column::IsDefault)
        .order_by_asc(lead_stages::Column::Position)
        .order_by_asc(lead_stages::Column::Id)
        .one(conn)
        .await?)
}

/// The pipeline's order: by position, then id.
pub(super) fn order() -> KeyOrder<lead_stages::Model> {
    KeyOrder(vec![
        SortKey::ascending(
            Expr::col(lead_stages::Column::Position),
            KeyValue::Int(0),
            |stage| KeyValue::Int(stage.position.into()),
        ),
        SortKey::ascending(
            Expr::col(lead_stages::Column::Id),
            KeyValue::Id(Uuid::nil()),
            |stage| KeyValue::Id(stage.id),
        ),
    ])
}

fn in_order(ctx: &RequestCtx) -> sea_orm::Select<lead_stages::Entity> {
    order().sort(scoped::<lead_stages::Entity>(ctx))
}

/// The whole pipeline in order, its rows locked (PostgreSQL; SQLite
/// serialises writers already) until the transaction ends.
async fn pipeline_locked(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
) -> AppResult<Vec<lead_stages::Model>> {
    let mut select = in_order(ctx);
    if is_postgres(txn) {
        select = select.lock_exclusive();
    }
    Ok(select.all(txn).await?)
}

/// The pipeline in order.
/// One page of the pipeline, in order. Any member.
pub(super) async fn list(
    shared: &Shared,
    ctx: &RequestCtx,
    args: &PageArgs,
) -> AppResult<RelayConnection<LeadStage>> {
    let select = scoped::<lead_stages::Entity>(ctx);
    connection_by_keys(shared, ctx, select, order(), args, LeadStage::from).await
}

pub(super) async fn create(
    shared: &Shared,
    ctx: &RequestCtx,
    input: CreateLeadStageInput,
) -> AppResult<lead_stages::Model> {
    ctx.require_writer()?;
    let name = required_text(&input.name, "input.name", MAX_NAME_CHARS)?;
    let color = parse_color(&input.color, "input.color")?;
    let (is_won, is_lost) = (
        input.is_won.unwrap_or(false),
        input.is_lost.unwrap_or(false),
    );
    if is_won && is_lost {
        return Err(AppError::invalid(
            "input.isLost",
            "a stage cannot be both won and lost",
        ));
    }
    let position = input
        .position
        .map(|p| parse_position(p, "input.position"))
        .transpose()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let stages = pipeline_locked(&txn, ctx).await?;
    ensure_name_free(&stages, &name, None)?;
    // The first stage of an empty pipeline is the default whatever was asked.
    let is_default = input.is_default.unwrap_or(false) || !stages.iter().any(|s| s.is_default);
    if is_default {
        clear_default(&txn, ctx).await?;
    }
    let id = Uuid::now_v7();
    let mut order: Vec<Uuid> = stages.iter().map(|s| s.id).collect();
    let index = position.map_or(order.len(), |p| p.min(order.len()));
    order.insert(index, id);
    let now = Utc::now().fixed_offset();
    lead_stages::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        id: Set(id),
        name: Set(name),
        position: Set(to_position(index)),
        color: Set(color),
        is_default: Set(is_default),
        is_won: Set(is_won),
        is_lost: Set(is_lost),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(|e| on_unique(e, Some("input.name"), DUPLICATE_NAME))?;
    renumber(&txn, ctx, &stages, &order).await?;
    let stage = reread(&txn, ctx, id).await?;
    txn.commit().await?;
    Ok(stage)
}

pub(super) async fn update(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
    input: UpdateLeadStageInput,
) -> AppResult<lead_stages::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let stages = pipeline_locked(&txn, ctx).await?;
    let stage = stages
        .iter()
        .find(|s| s.id == id)
        .cloned()
        .ok_or(AppError::not_found("lead stage"))?;
    let mut active: lead_stages::ActiveModel = stage.clone().into();
    if let Some(name) = input.name {
        let name = required_text(&name, "input.name", MAX_NAME_CHARS)?;
        ensure_name_free(&stages, &name, Some(id))?;
        active.name = Set(name);
    }
    if let Some(color) = input.color {
        active.color = Set(parse_color(&color, "input.color")?);
    }
    let is_won = input.is_won.unwrap_or(stage.is_won);
    let is_lost = input.is_lost.unwrap_or(stage.is_lost);
    if is_won && is_lost {
        let field = if input.is_lost == Some(true) {
            "input.isLost"
        } else {
            "input.isWon"
        };
        return Err(AppError::invalid(
            field,
            "a stage cannot be both won and lost",
        ));
    }
    active.is_won = Set(is_won);
    active.is_lost = Set(is_lost);
    match input.is_default {
        Some(true) if !stage.is_default => {
            clear_default(&txn, ctx).await?;
            active.is_default = Set(true);
        }
        Some(false) if stage.is_default => {
            return Err(AppError::invalid(
                "input.isDefault",
                "one stage must stay the default: make another stage the default instead",
            ));
        }
        _ => {}
    }
    active.updated_at = Set(Utc::now().fixed_offset());
    active
        .update(&txn)
        .await
        .map_err(|e| on_unique(e, Some("input.name"), DUPLICATE_NAME))?;
    if let Some(position) = input.position {
        let position = parse_position(position, "input.position")?;
        let mut order: Vec<Uuid> = stages.iter().map(|s| s.id).filter(|&s| s != id).collect();
        order.insert(position.min(order.len()), id);
        renumber(&txn, ctx, &stages, &order).await?;
    }
    let stage = reread(&txn, ctx, id).await?;
    txn.commit().await?;
    Ok(stage)
}

/// Puts the stages in the order of `ids`, which must name every stage of
/// the pipeline exactly once.
pub(super) async fn reorder(
    shared: &Shared,
    ctx: &RequestCtx,
    ids: Vec<Uuid>,
) -> AppResult<Vec<lead_stages::Model>> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let stages = pipeline_locked(&txn, ctx).await?;
    for (index, id) in ids.iter().enumerate() {
        if !stages.iter().any(|s| s.id == *id) {
            return Err(AppError::not_found("lead stage"));
        }
        if ids[..index].contains(id) {
            return Err(AppError::invalid(
                format!("ids.{index}"),
                "names a stage a second time",
            ));
        }
    }
    let missing: Vec<&str> = stages
        .iter()
        .filter(|s| !ids.contains(&s.id))
        .map(|s| s.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(AppError::invalid(
            "ids",
            format!(
                "must name every stage of the pipeline; missing: {}",
                missing.join(", ")
            ),
        ));
    }
    renumber(&txn, ctx, &stages, &ids).await?;
    let stages = in_order(ctx).all(&txn).await?;
    txn.commit().await?;
    Ok(stages)
}

/// Deletes a stage. Its leads (deleted ones too) move to `move_to` in one
/// UPDATE; a stage with leads cannot go without one. A deleted default
/// passes the role to `move_to`, or else to the first remaining stage.
pub(super) async fn delete(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
    move_to: Option<Uuid>,
) -> AppResult<lead_stages::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let stages = pipeline_locked(&txn, ctx).await?;
    let stage = stages
        .iter()
        .find(|s| s.id == id)
        .cloned()
        .ok_or(AppError::not_found("lead stage"))?;
    if stages.len() == 1 {
        return Err(AppError::conflict(
            "the last stage cannot be deleted: a pipeline needs at least one stage",
        ));
    }
    let target = match move_to {
        Some(target) if target == id => {
            return Err(AppError::invalid(
                "moveLeadsTo",
                "must be another stage than the one deleted",
            ));
        }
        Some(target) => Some(
            stages
                .iter()
                .find(|s| s.id == target)
                .cloned()
                .ok_or(AppError::not_found("lead stage"))?,
        ),
        None => None,
    };
    let in_stage = scoped::<leads::Entity>(ctx).filter(leads::Column::StageId.eq(id));
    let lead_count = in_stage.count(&txn).await?;
    let mut moved = Vec::new();
    if lead_count > 0 {
        let Some(target) = &target else {
            return Err(AppError::invalid(
                "moveLeadsTo",
                format!("{lead_count} lead(s) are in this stage: name the stage to move them to"),
            ));
        };
        let now = Utc::now().fixed_offset();
        let move_leads = tenant_update::<leads::Entity>(ctx.tenant_id)
            .col_expr(leads::Column::StageId, Expr::value(target.id))
            .col_expr(leads::Column::UpdatedAt, Expr::value(now))
            .col_expr(leads::Column::UpdatedBy, Expr::value(ctx.user_id()))
            .filter(leads::Column::StageId.eq(id));
        moved = update_returning_ids(&txn, move_leads).await?;
    }
    tenant_delete::<lead_stages::Entity>(ctx.tenant_id)
        .filter(lead_stages::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    let remaining: Vec<lead_stages::Model> =
        stages.iter().filter(|s| s.id != id).cloned().collect();
    if stage.is_default {
        let heir = target.as_ref().unwrap_or(&remaining[0]);
        tenant_update::<lead_stages::Entity>(ctx.tenant_id)
            .col_expr(lead_stages::Column::IsDefault, Expr::value(true))
            .col_expr(
                lead_stages::Column::UpdatedAt,
                Expr::value(Utc::now().fixed_offset()),
            )
            .filter(lead_stages::Column::Id.eq(heir.id))
            .exec(&txn)
            .await?;
    }
    let order: Vec<Uuid> = remaining.iter().map(|s| s.id).collect();
    renumber(&txn, ctx, &remaining, &order).await?;
    let written = moved
        .iter()
        .map(|lead| crate::crm::leads::events::fields_changed(*lead, &["stageId"]))
        .collect();
    commit_with(shared, txn, ctx, written).await?;
    Ok(stage)
}

/// Names are unique in a pipeline, ignoring case ("won" next to "Won"
/// would only confuse).
fn ensure_name_free(
    stages: &[lead_stages::Model],
    name: &str,
    except: Option<Uuid>,
) -> AppResult<()> {
    let taken = stages
        .iter()
        .filter(|s| Some(s.id) != except)
        .any(|s| s.name.to_lowercase() == name.to_lowercase());
    if taken {
        return Err(AppError::duplicate(
            "input.name",
            "another stage already has this name",
        ));
    }
    Ok(())
}

async fn clear_default(txn: &DatabaseTransaction, ctx: &RequestCtx) -> AppResult<()> {
    tenant_update::<lead_stages::Entity>(ctx.tenant_id)
        .col_expr(lead_stages::Column::IsDefault, Expr::value(false))
        .col_expr(
            lead_stages::Column::UpdatedAt,
            Expr::value(Utc::now().fixed_offset()),
        )
        .filter(lead_stages::Column::IsDefault.eq(true))
        .exec(txn)
        .await?;
    Ok(())
}

/// Gives the stages in `order` positions 0..n, writing only those that move.
async fn renumber(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    before: &[lead_stages::Model],
    order: &[Uuid],
) -> AppResult<()> {
    for (index, id) in order.iter().enumerate() {
        let position = to_position(index);
        if before.iter().any(|s| s.id == *id && s.position == position) {
            continue;
        }
        tenant_update::<lead_stages::Entity>(ctx.tenant_id)
            .col_expr(lead_stages::Column::Position, Expr::value(position))
            .col_expr(
                lead_stages::Column::UpdatedAt,
                Expr::value(Utc::now().fixed_offset()),
            )
            .filter(lead_stages::Column::Id.eq(*id))
            .exec(txn)
            .await?;
    }
    Ok(())
}

async fn reread(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<lead_stages::Model> {
    crate::tenancy::scoped::find_owned::<lead_stages::Entity>(txn, ctx, id, "lead stage").await
}

fn to_position(index: usize) -> i32 {
    i32::try_from(index).unwrap_or(i32::MAX)
}

fn parse_position(position: i32, field: &str) -> AppResult<usize> {
    usize::try_from(position).map_err(|_| AppError::invalid(field, "must not be negative"))
}

/// `#rrggbb`, stored lowercase.
fn parse_color(raw: &str, field: &str) -> AppResult<String> {
    let color = raw.trim().to_ascii_lowercase();
    let valid = color.len() == 7
        && color.starts_with('#')
        && color[1..].chars().all(|c| c.is_ascii_hexdigit());
    if valid {
        Ok(color)
    } else {
        Err(AppError::invalid(field, "must be a color written #rrggbb"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colors_are_six_hex_digits_stored_lowercase() {
        assert_eq!(parse_color(" #A1b2C3 ", "c").unwrap(), "#a1b2c3");
        for bad in ["a1b2c3", "#abc", "#a1b2c3d", "#ggg000", "", "#12345é"] {
            assert!(parse_color(bad, "c").is_err(), "accepted {bad}");
        }
    }

    #[test]
    fn the_default_pipeline_has_one_default_and_separate_won_and_lost() {
        assert_eq!(DEFAULT_PIPELINE.iter().filter(|s| s.2).count(), 1);
        assert!(DEFAULT_PIPELINE.iter().all(|s| !(s.3 && s.4)));
        assert!(
            DEFAULT_PIPELINE
                .iter()
                .all(|s| parse_color(s.1, "c").is_ok_and(|c| c == s.1))
        );
    }

    #[test]
    fn positions_are_not_negative() {
        assert_eq!(parse_position(3, "p").unwrap(), 3);
        assert!(parse_position(-1, "p").is_err());
    }
}
