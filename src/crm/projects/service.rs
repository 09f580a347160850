//! Creating, listing, changing and (softly) deleting projects. Any writer
//! manages projects; viewers and read-only keys only read them.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, IntoActiveModel, QueryFilter, Set};
use uuid::Uuid;

use entity::projects;
use entity::sea_orm_active_enums::ProjectStatus;

use super::types::{CreateProjectInput, UpdateProjectInput};
use crate::domain::{optional_text, required_text};
use crate::error::{AppError, AppResult};
use crate::graphql::pagination::{Order, Page, PageArgs, Totals, list_by_id};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin_write, find_live, live, read_live, soft_delete};

const MAX_TOPICS: usize = 50;
const MAX_TOPIC_CHARS: usize = 100;

/// The tenant's live projects: deleted ones are gone for every reader.
/// One page of live projects, newest first, optionally of one status.
pub(super) async fn list(
    shared: &Shared,
    ctx: &RequestCtx,
    args: &PageArgs,
    status: Option<ProjectStatus>,
) -> AppResult<(Page<projects::Model>, Totals)> {
    let mut select = live::<projects::Entity>(ctx);
    if let Some(status) = status {
        select = select.filter(projects::Column::Status.eq(status));
    }
    list_by_id(
        shared,
        ctx,
        select,
        projects::Column::Id,
        args,
        Order::NewestFirst,
    )
    .await
}

pub(super) async fn get(shared: &Shared, ctx: &RequestCtx, id: Uuid) -> AppResult<projects::Model> {
    read_live::<projects::Entity>(&shared.db, ctx, id).await
}

pub(super) async fn create(
    shared: &Shared,
    ctx: &RequestCtx,
    input: CreateProjectInput,
) -> AppResult<projects::Model> {
    ctx.require_writer()?;
    let name = required_text(&input.name, "input.name", 200)?;
    let description = optional_text(input.description, "input.description", 5_000)?;
    let target_audience = optional_text(input.target_audience, "input.targetAudience", 2_000)?;
    let brand_voice = optional_text(input.brand_voice, "input.brandVoice", 2_000)?;
    let topics = topics(
        input.content_topics.unwrap_or_default(),
        "input.contentTopics",
    )?;
    let goal = input
        .monthly_lead_goal
        .map(|goal| lead_goal(goal, "input.monthlyLeadGoal"))
        .transpose()?;
    let now = Utc::now().fixed_offset();
    let txn = begin_write(&shared.db, ctx).await?;
    let project = projects::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        id: Set(Uuid::now_v7()),
        name: Set(name),
        description: Set(description),
        target_audience: Set(target_audience),
        content_topics: Set(serde_json::json!(topics)),
        brand_voice: Set(brand_voice),
        monthly_lead_goal: Set(goal),
        status: Set(input.status.map_or(ProjectStatus::Active, Into::into)),
        created_at: Set(now),
        updated_at: Set(now),
        created_by: Set(ctx.user_id()),
        updated_by: Set(ctx.user_id()),
        deleted_at: Set(None),
        deleted_by: Set(None),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(project)
}

pub(super) async fn update(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
    input: UpdateProjectInput,
) -> AppResult<projects::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let mut project = find_live::<projects::Entity>(&txn, ctx, id)
        .await?
        .into_active_model();
    if let Some(name) = input.name {
        project.name = Set(required_text(&name, "input.name", 200)?);
    }
    // Absent leaves a field alone; null clears it.
    if let Some(text) = Option::<Option<String>>::from(input.description) {
        project.description = Set(optional_text(text, "input.description", 5_000)?);
    }
    if let Some(text) = Option::<Option<String>>::from(input.target_audience) {
        project.target_audience = Set(optional_text(text, "input.targetAudience", 2_000)?);
    }
    if let Some(text) = Option::<Option<String>>::from(input.brand_voice) {
        project.brand_voice = Set(optional_text(text, "input.brandVoice", 2_000)?);
    }
    if let Some(list) = input.content_topics {
        project.content_topics = Set(serde_json::json!(topics(list, "input.contentTopics")?));
    }
    if let Some(goal) = Option::<Option<i32>>::from(input.monthly_lead_goal) {
        project.monthly_lead_goal = Set(goal
            .map(|goal| lead_goal(goal, "input.monthlyLeadGoal"))
            .transpose()?);
    }
    if let Some(status) = input.status {
        project.status = Set(status.into());
    }
    project.updated_at = Set(Utc::now().fixed_offset());
    project.updated_by = Set(ctx.user_id());
    let project = project.update(&txn).await?;
    txn.commit().await?;
    Ok(project)
}

/// Soft-deletes a project: it leaves every list and its id becomes
/// NOT_FOUND, while leads that point at it keep their history.
pub(super) async fn delete(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<projects::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let project = soft_delete::<projects::Entity>(&txn, ctx, id).await?;
    txn.commit().await?;
    Ok(project)
}

/// Topics trimmed, non-blank and distinct (ignoring case), in the given order.
fn topics(raw: Vec<String>, field: &str) -> AppResult<Vec<String>> {
    if raw.len() > MAX_TOPICS {
        return Err(AppError::invalid(
            field,
            format!("at most {MAX_TOPICS} topics"),
        ));
    }
    let mut topics: Vec<String> = Vec::with_capacity(raw.len());
    for topic in raw {
        let topic = required_text(&topic, field, MAX_TOPIC_CHARS)?;
        if topics
            .iter()
            .any(|t| t.to_lowercase() == topic.to_lowercase())
        {
            return Err(AppError::invalid(field, format!("lists {topic} twice")));
        }
        topics.push(topic);
    }
    Ok(topics)
}

fn lead_goal(goal: i32, field: &str) -> AppResult<i32> {
    if goal < 0 {
        return Err(AppError::invalid(field, "must not be negative"));
    }
    Ok(goal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_trimmed_distinct_and_bounded() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            topics(list(&[" SEO ", "email"]), "f").unwrap(),
            vec!["SEO", "email"]
        );
        assert!(topics(list(&["SEO", "seo"]), "f").is_err());
        assert!(topics(list(&[" "]), "f").is_err());
        assert!(topics(list(&[&"x".repeat(101)]), "f").is_err());
        assert!(topics(vec!["t".to_owned(); 51], "f").is_err());
    }

    #[test]
    fn lead_goals_are_not_negative() {
        assert_eq!(lead_goal(0, "f").unwrap(), 0);
        assert!(lead_goal(-1, "f").is_err());
    }
}
