//! Changes to many leads at once (`bulkUpdateLeads`) and the pipeline's
//! numbers (`leadAnalytics`): set-based SQL, never a loop over leads.

use crate::graphql::numbers::Count;
use async_graphql::{ID, MaybeUndefined};
use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, PaginatorTrait, QueryFilter, QuerySelect, QueryTrait,
};
use uuid::Uuid;

use entity::sea_orm_active_enums::LeadStatus as LeadStatusModel;
use entity::{lead_tags, leads};

use super::events;
use super::fields;
use super::filter::{self, LeadFilter};
use super::types::{LeadAnalytics, LeadPatch, OwnerCount, SourceCount, StageCount, StatusCount};
use crate::error::{AppError, AppResult};
use crate::events::commit_with;
use crate::graphql::parse_id;
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{
    begin, begin_write, end_read, scoped, tenant_update, update_returning_ids,
};

/// Most ids in one `bulkUpdateLeads`.
pub(super) const MAX_BULK_IDS: usize = 1000;

/// Applies `patch` to the live leads named by `ids` or matched by `filter`
/// (exactly one). The column changes are one UPDATE statement; each added tag
/// is one INSERT … SELECT. Returns how many leads matched.
pub(super) async fn bulk_update(
    shared: &Shared,
    ctx: &RequestCtx,
    ids: Option<Vec<ID>>,
    filter: Option<LeadFilter>,
    patch: LeadPatch,
) -> AppResult<u64> {
    ctx.require_writer()?;
    let backend = shared.db.get_database_backend();
    let target = match (ids, filter) {
        (Some(ids), None) => {
            if ids.is_empty() || ids.len() > MAX_BULK_IDS {
                return Err(AppError::invalid(
                    "ids",
                    format!("give 1-{MAX_BULK_IDS} ids"),
                ));
            }
            let ids = ids
                .iter()
                .enumerate()
                .map(|(i, id)| parse_id(id, &format!("ids.{i}")))
                .collect::<AppResult<Vec<Uuid>>>()?;
            sea_orm::sea_query::Condition::all().add(leads::Column::Id.is_in(ids))
        }
        (None, Some(filter)) => {
            let mut filter = filter;
            let reader = begin(&shared.db, ctx).await?;
            let resolved = crate::crm::segments::service::resolve_segments(
                &*reader,
                ctx,
                &mut filter,
                "filter",
                &mut Vec::new(),
                crate::crm::segments::service::Missing::Refuse,
            )
            .await;
            end_read(reader).await?;
            resolved?;
            filter::compile(&filter, backend, "filter")?
        }
        _ => return Err(AppError::invalid("ids", "give either ids or a filter")),
    };
    let txn = begin_write(&shared.db, ctx).await?;
    let mut update = tenant_update::<leads::Entity>(ctx.tenant_id)
        .filter(leads::Column::DeletedAt.is_null())
        .filter(target.clone());
    // The fields this change sets, as the API names them (for the events).
    let mut changed: Vec<&str> = Vec::new();
    if let Some(stage) = &patch.stage_id {
        update = update.col_expr(
            leads::Column::StageId,
            Expr::value(fields::stage(&txn, ctx, stage, "patch.stageId").await?),
        );
        changed.push("stageId");
    }
    if let Some(status) = patch.status {
        let status: LeadStatusModel = status.into();
        update = update.col_expr(leads::Column::Status, Expr::value(status));
        if status == LeadStatusModel::Converted {
            update = update.col_expr(
                leads::Column::ConvertedAt,
                Expr::expr(sea_orm::sea_query::Func::coalesce([
                    Expr::col(leads::Column::ConvertedAt),
                    Expr::value(Utc::now().fixed_offset()),
                ])),
            );
            changed.push("convertedAt");
        }
        changed.push("status");
    }
    match &patch.owner_id {
        MaybeUndefined::Value(owner) => {
            let owner = fields::owner(&txn, ctx, owner, "patch.ownerId").await?;
            update = update.col_expr(leads::Column::OwnerId, Expr::value(owner));
            changed.push("ownerId");
        }
        MaybeUndefined::Null => {
            update = update.col_expr(leads::Column::OwnerId, Expr::value(Option::<Uuid>::None));
            changed.push("ownerId");
        }
        MaybeUndefined::Undefined => {}
    }
    match &patch.project_id {
        MaybeUndefined::Value(project) => {
            let project = fields::project(&txn, ctx, project, "patch.projectId").await?;
            update = update.col_expr(leads::Column::ProjectId, Expr::value(project));
            changed.push("projectId");
        }
        MaybeUndefined::Null => {
            update = update.col_expr(leads::Column::ProjectId, Expr::value(Option::<Uuid>::None));
            changed.push("projectId");
        }
        MaybeUndefined::Undefined => {}
    }
    let tags = fields::tags(patch.add_tags.unwrap_or_default(), "patch.addTags")?;
    if changed.is_empty() && tags.is_empty() {
        return Err(AppError::invalid("patch", "change at least one field"));
    }
    // The ids the change reached, from the statement that made it (so the
    // events name exactly those leads, also under concurrent writes).
    let matched: Vec<Uuid> = if !changed.is_empty() {
        let update = update
            .col_expr(
                leads::Column::UpdatedAt,
                Expr::value(Utc::now().fixed_offset()),
            )
            .col_expr(leads::Column::UpdatedBy, Expr::value(ctx.user_id()));
        update_returning_ids(&txn, update).await?
    } else {
        scoped::<leads::Entity>(ctx)
            .filter(leads::Column::DeletedAt.is_null())
            .filter(target.clone())
            .select_only()
            .column(leads::Column::Id)
            .into_tuple()
            .all(&txn)
            .await?
    };
    let mut tagged = HashSet::new();
    for tag in &tags {
        tagged.extend(add_tag_to_matching(&txn, ctx, &target, tag).await?);
    }
    // Rules may look at what changed: rescore the touched leads (only changed
    // scores are written).
    let rescored: HashSet<Uuid> = crate::crm::scoring::recompute_matching(&txn, ctx, target)
        .await?
        .into_iter()
        .collect();
    // Each lead names the columns set and, where they changed for it, its
    // tags (a tag it lacked) and its score.
    let written = matched
        .iter()
        .filter_map(|id| {
            let mut fields = changed.clone();
            if tagged.contains(id) {
                fields.push("tags");
            }
            if rescored.contains(id) {
                fields.push("score");
            }
            (!fields.is_empty()).then(|| events::fields_changed(*id, &fields))
        })
        .collect();
    commit_with(shared, txn, ctx, written).await?;
    Ok(matched.len() as u64)
}

/// `INSERT INTO lead_tags SELECT … FROM leads WHERE <target> ON CONFLICT DO
/// NOTHING RETURNING lead_id`: the leads that did not have the tag yet.
async fn add_tag_to_matching(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    target: &sea_orm::sea_query::Condition,
    tag: &str,
) -> AppResult<Vec<Uuid>> {
    let source = scoped::<leads::Entity>(ctx)
        .filter(leads::Column::DeletedAt.is_null())
        .filter(target.clone())
        .select_only()
        .column(leads::Column::TenantId)
        .column(leads::Column::Id)
        .expr(Expr::val(tag.to_owned()))
        .expr(Expr::val(Utc::now().fixed_offset()))
        .into_query();
    let insert = Query::insert()
        .into_table(lead_tags::Entity)
        .columns([
            lead_tags::Column::TenantId,
            lead_tags::Column::LeadId,
            lead_tags::Column::Tag,
            lead_tags::Column::CreatedAt,
        ])
        .select_from(source)
        .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))?
        .on_conflict(
            OnConflict::columns([
                lead_tags::Column::TenantId,
                lead_tags::Column::LeadId,
                lead_tags::Column::Tag,
            ])
            .do_nothing()
            .to_owned(),
        )
        .returning_col(lead_tags::Column::LeadId)
        .to_owned();
    let rows = conn.query_all(&insert).await?;
    Ok(rows
        .iter()
        .map(|row| row.try_get_by_index::<Uuid>(0))
        .collect::<Result<_, _>>()?)
}

/// Average as a float on both backends (PostgreSQL's AVG of an integer is
/// `numeric`, which does not decode as f64).
fn average_score(backend: DbBackend) -> Expr {
    match backend {
        DbBackend::Postgres => Expr::cust("CAST(AVG(\"leads\".\"score\") AS DOUBLE PRECISION)"),
        _ => Expr::cust("AVG(\"leads\".\"score\")"),
    }
}

/// Counts of live leads by status, stage, source and owner, the average
/// score, and creations and conversions in `[from, to)` (last 30 days by default).
pub(super) async fn analytics(
    shared: &Shared,
    ctx: &RequestCtx,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> AppResult<LeadAnalytics> {
    let to = to.unwrap_or_else(Utc::now);
    let from = from.unwrap_or(to - Duration::days(30));
    if from >= to {
        return Err(AppError::invalid("from", "must be before to"));
    }
    let live = || scoped::<leads::Entity>(ctx).filter(leads::Column::DeletedAt.is_null());
    let txn = begin(&shared.db, ctx).await?;
    let backend = txn.get_database_backend();
    let count = || Expr::col((leads::Entity, leads::Column::Id)).count();
    let by_status: Vec<(LeadStatusModel, i64)> = live()
        .select_only()
        .column(leads::Column::Status)
        .expr(count())
        .group_by(leads::Column::Status)
        .into_tuple()
        .all(&txn)
        .await?;
    let grouped = |column: leads::Column| {
        live()
            .select_only()
            .column(column)
            .expr(count())
            .group_by(column)
            .into_tuple::<(Option<Uuid>, i64)>()
    };
    let by_stage = grouped(leads::Column::StageId).all(&txn).await?;
    let by_source = grouped(leads::Column::SourceId).all(&txn).await?;
    let by_owner = grouped(leads::Column::OwnerId).all(&txn).await?;
    let (total, average): (i64, Option<f64>) = live()
        .select_only()
        .expr(count())
        .expr(average_score(backend))
        .into_tuple()
        .one(&txn)
        .await?
        .unwrap_or((0, None));
    let (from_at, to_at) = (from.fixed_offset(), to.fixed_offset());
    let created_in_period = live()
        .filter(leads::Column::CreatedAt.gte(from_at))
        .filter(leads::Column::CreatedAt.lt(to_at))
        .count(&txn)
        .await? as i64;
    let conversions = live()
        .filter(leads::Column::ConvertedAt.gte(from_at))
        .filter(leads::Column::ConvertedAt.lt(to_at))
        .count(&txn)
        .await? as i64;
    txn.commit().await?;
    let mut by_status: Vec<StatusCount> = by_status
        .into_iter()
        .map(|(status, count)| StatusCount {
            status: status.into(),
            count: Count(count),
        })
        .collect();
    by_status.sort_by_key(|group| std::cmp::Reverse(group.count));
    let sorted = |mut rows: Vec<(Option<Uuid>, i64)>| {
        rows.sort_by_key(|group| std::cmp::Reverse(group.1));
        rows
    };
    Ok(LeadAnalytics {
        total: Count(total),
        by_status,
        by_stage: sorted(by_stage)
            .into_iter()
            .map(|(stage_id, count)| StageCount {
                count: Count(count),
                stage_id,
            })
            .collect(),
        by_source: sorted(by_source)
            .into_iter()
            .map(|(source_id, count)| SourceCount {
                count: Count(count),
                source_id,
            })
            .collect(),
        by_owner: sorted(by_owner)
            .into_iter()
            .map(|(owner_id, count)| OwnerCount {
                count: Count(count),
                owner_id,
            })
            .collect(),
        average_score: average.unwrap_or(0.0),
        created_in_period: Count(created_in_period),
        conversions: Count(conversions),
        conversion_rate: if created_in_period > 0 {
            conversions as f64 / created_in_period as f64
        } else {
            0.0
        },
    })
}
