//! Managing scoring rules and keeping every lead's score in step with them.
//!
//! A rule change rescores the tenant's live leads in the same transaction, so
//! nobody ever sees a score computed from rules that no longer exist. Writers
//! (not viewers) manage rules.

use std::collections::{BTreeMap, HashMap};

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use entity::sea_orm_active_enums::ScoringCondition;
use entity::{lead_scoring_rules, lead_tags, leads};

use super::engine::{self, LeadFacts, RuleError};
use crate::domain::required_text;
use crate::error::{AppError, AppResult};
use crate::events::{NewDomainEvent, commit_with};
use crate::graphql::pagination::{Order, Page, PageArgs, Totals, list_by_id};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{
    begin, begin_write, find_owned, scoped, tenant_delete, tenant_update, update_returning_ids,
};

/// Leads rescored per round trip by `recompute_all`.
pub const RECOMPUTE_BATCH: u64 = 500;

/// Lowest and highest points a rule may give.
const POINTS: std::ops::RangeInclusive<i32> = -100..=100;

/// `createScoringRule`.
pub struct NewRule {
    pub name: String,
    pub criteria: String,
    pub condition: ScoringCondition,
    pub value: Option<serde_json::Value>,
    pub points: i32,
    pub is_active: bool,
}

/// `updateScoringRule`: `None` leaves a field as it is; `value: Some(None)`
/// clears it.
pub struct RuleChanges {
    pub name: Option<String>,
    pub criteria: Option<String>,
    pub condition: Option<ScoringCondition>,
    pub value: Option<Option<serde_json::Value>>,
    pub points: Option<i32>,
    pub is_active: Option<bool>,
}

fn invalid(error: RuleError) -> AppError {
    AppError::invalid(format!("input.{}", error.field), error.message)
}

fn check_points(points: i32) -> AppResult<i32> {
    if POINTS.contains(&points) {
        Ok(points)
    } else {
        Err(AppError::invalid(
            "input.points",
            "must be between -100 and 100",
        ))
    }
}

/// The caller's active rules, oldest first (the order contributions are
/// listed in).
pub async fn active_rules(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
) -> AppResult<Vec<lead_scoring_rules::Model>> {
    Ok(scoped::<lead_scoring_rules::Entity>(ctx)
        .filter(lead_scoring_rules::Column::IsActive.eq(true))
        .order_by_asc(lead_scoring_rules::Column::Id)
        .all(conn)
        .await?)
}

/// Rescores every live lead of the caller's tenant against the active rules,
/// `RECOMPUTE_BATCH` leads at a time (keyset on id), writing only the scores
/// that changed. Runs in the caller's transaction; returns the leads whose
/// score changed.
pub async fn recompute_all(conn: &impl ConnectionTrait, ctx: &RequestCtx) -> AppResult<Vec<Uuid>> {
    recompute_matching(conn, ctx, sea_orm::sea_query::Condition::all()).await
}

/// The website analysis of the company `company_id` when an active rule
/// reads one (no query otherwise): what a lead's score needs besides its
/// row and tags.
pub(crate) async fn website_of(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    rules: &[lead_scoring_rules::Model],
    company_id: Option<Uuid>,
) -> AppResult<Option<entity::website_analyses::Model>> {
    match company_id {
        Some(id) if engine::reads_website(rules) => Ok(
            crate::capture::website_analysis::service::of_companies(conn, ctx, &[id])
                .await?
                .remove(&id),
        ),
        _ => Ok(None),
    }
}

/// `LEAD_CHANGED` (`score`) for each rescored lead.
fn score_changed(rescored: &[Uuid]) -> Vec<NewDomainEvent> {
    rescored
        .iter()
        .map(|id| crate::crm::leads::events::fields_changed(*id, &["score"]))
        .collect()
}

/// [`recompute_all`] restricted to the live leads matching `target` (a bulk
/// change rescores only what it touched).
pub async fn recompute_matching(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    target: sea_orm::sea_query::Condition,
) -> AppResult<Vec<Uuid>> {
    let rules = active_rules(conn, ctx).await?;
    if rules.is_empty() {
        // Without rules every score is 0: one statement, no scan.
        let reset = tenant_update::<leads::Entity>(ctx.tenant_id)
            .col_expr(leads::Column::Score, Expr::value(0))
            .filter(leads::Column::DeletedAt.is_null())
            .filter(leads::Column::Score.ne(0))
            .filter(target);
        return update_returning_ids(conn, reset).await;
    }
    let compiled = engine::compile(&rules);
    let mut changed = Vec::new();
    let mut cursor: Option<Uuid> = None;
    loop {
        let mut batch = scoped::<leads::Entity>(ctx)
            .filter(leads::Column::DeletedAt.is_null())
            .filter(target.clone())
            .order_by_asc(leads::Column::Id)
            .limit(RECOMPUTE_BATCH);
        if let Some(after) = cursor {
            batch = batch.filter(leads::Column::Id.gt(after));
        }
        let batch = batch.all(conn).await?;
        let Some(last) = batch.last() else {
            break;
        };
        cursor = Some(last.id);
        let mut tags: HashMap<Uuid, Vec<String>> = HashMap::new();
        if compiled
            .iter()
            .any(|rule| rule.criterion() == &engine::Criterion::Tags)
        {
            let rows = scoped::<lead_tags::Entity>(ctx)
                .filter(lead_tags::Column::LeadId.is_in(batch.iter().map(|lead| lead.id)))
                .all(conn)
                .await?;
            for row in rows {
                tags.entry(row.lead_id).or_default().push(row.tag);
            }
        }
        let websites = if compiled
            .iter()
            .any(|rule| matches!(rule.criterion(), engine::Criterion::Website(_)))
        {
            let companies: Vec<Uuid> = batch
                .iter()
                .filter_map(|lead| lead.company_id)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            crate::capture::website_analysis::service::of_companies(conn, ctx, &companies).await?
        } else {
            HashMap::new()
        };
        // One UPDATE per distinct new score (at most 101), not one per lead.
        let mut by_score: BTreeMap<i32, Vec<Uuid>> = BTreeMap::new();
        for lead in &batch {
            let lead_tags = tags.get(&lead.id).map_or(&[][..], Vec::as_slice);
            let website = lead.company_id.and_then(|id| websites.get(&id));
            let outcome = engine::score(&compiled, lead, LeadFacts::new(lead_tags, website));
            if outcome.score != lead.score {
                by_score.entry(outcome.score).or_default().push(lead.id);
            }
        }
        for (score, ids) in by_score {
            tenant_update::<leads::Entity>(ctx.tenant_id)
                .col_expr(leads::Column::Score, Expr::value(score))
                .filter(leads::Column::Id.is_in(ids.iter().copied()))
                .exec(conn)
                .await?;
            changed.extend(ids);
        }
        if (batch.len() as u64) < RECOMPUTE_BATCH {
            break;
        }
    }
    Ok(changed)
}

/// One page of the caller's rules, oldest first. Any member.
pub async fn list(
    shared: &Shared,
    ctx: &RequestCtx,
    args: &PageArgs,
) -> AppResult<(Page<lead_scoring_rules::Model>, Totals)> {
    let select = scoped::<lead_scoring_rules::Entity>(ctx);
    list_by_id(
        shared,
        ctx,
        select,
        lead_scoring_rules::Column::Id,
        args,
        Order::OldestFirst,
    )
    .await
}

/// One rule. Any member.
pub async fn get(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<lead_scoring_rules::Model> {
    let txn = begin(&shared.db, ctx).await?;
    let rule = find_owned::<lead_scoring_rules::Entity>(&txn, ctx, id, "scoring rule").await?;
    txn.commit().await?;
    Ok(rule)
}

/// Adds a rule and rescores the tenant's leads.
pub async fn create(
    shared: &Shared,
    ctx: &RequestCtx,
    input: NewRule,
) -> AppResult<lead_scoring_rules::Model> {
    ctx.require_writer()?;
    let name = required_text(&input.name, "input.name", 100)?;
    let criteria = input.criteria.trim().to_owned();
    let value = engine::validate_rule(&criteria, input.condition, input.value).map_err(invalid)?;
    let points = check_points(input.points)?;
    let now = Utc::now().fixed_offset();
    let txn = begin_write(&shared.db, ctx).await?;
    let rule = lead_scoring_rules::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        id: Set(Uuid::now_v7()),
        name: Set(name),
        criteria: Set(criteria),
        condition: Set(input.condition),
        value: Set(value),
        points: Set(points),
        is_active: Set(input.is_active),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let rescored = recompute_all(&txn, ctx).await?;
    commit_with(shared, txn, ctx, score_changed(&rescored)).await?;
    Ok(rule)
}

/// Changes a rule and, unless only its name changed, rescores the tenant's
/// leads.
pub async fn update(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
    changes: RuleChanges,
) -> AppResult<lead_scoring_rules::Model> {
    ctx.require_writer()?;
    let name = changes
        .name
        .map(|name| required_text(&name, "input.name", 100))
        .transpose()?;
    let points = changes.points.map(check_points).transpose()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let rule = find_owned::<lead_scoring_rules::Entity>(&txn, ctx, id, "scoring rule").await?;
    let criteria = changes
        .criteria
        .map_or_else(|| rule.criteria.clone(), |c| c.trim().to_owned());
    let condition = changes.condition.unwrap_or(rule.condition);
    let value = changes.value.unwrap_or_else(|| Some(rule.value.clone()));
    let value = engine::validate_rule(&criteria, condition, value).map_err(invalid)?;
    let points = points.unwrap_or(rule.points);
    let is_active = changes.is_active.unwrap_or(rule.is_active);
    let rescore = criteria != rule.criteria
        || condition != rule.condition
        || value != rule.value
        || points != rule.points
        || is_active != rule.is_active;
    let mut active = rule.into_active_model();
    if let Some(name) = name {
        active.name = Set(name);
    }
    active.criteria = Set(criteria);
    active.condition = Set(condition);
    active.value = Set(value);
    active.points = Set(points);
    active.is_active = Set(is_active);
    active.updated_at = Set(Utc::now().fixed_offset());
    let rule = active.update(&txn).await?;
    let rescored = if rescore {
        recompute_all(&txn, ctx).await?
    } else {
        Vec::new()
    };
    commit_with(shared, txn, ctx, score_changed(&rescored)).await?;
    Ok(rule)
}

/// Deletes a rule for good and rescores the tenant's leads.
pub async fn delete(shared: &Shared, ctx: &RequestCtx, id: Uuid) -> AppResult<Uuid> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let rule = find_owned::<lead_scoring_rules::Entity>(&txn, ctx, id, "scoring rule").await?;
    tenant_delete::<lead_scoring_rules::Entity>(ctx.tenant_id)
        .filter(lead_scoring_rules::Column::Id.eq(rule.id))
        .exec(&txn)
        .await?;
    let rescored = recompute_all(&txn, ctx).await?;
    commit_with(shared, txn, ctx, score_changed(&rescored)).await?;
    Ok(rule.id)
}
