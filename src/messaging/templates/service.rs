//! Message templates: names unique per channel among live templates, one
//! default per channel and category, and content checked on every save (an
//! unknown variable is an error now, not a blank in someone's inbox later;
//! a template over its render limits for any lead is refused now, not at
//! every send).

use std::collections::BTreeSet;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, IntoActiveModel, QueryFilter, Set};
use uuid::Uuid;

use entity::message_templates;
use entity::sea_orm_active_enums::MessageChannel;

use super::render::{
    DeclaredVariable, TemplateParts, TemplateSource, check, sample_context, trial_verdict,
};
use super::types::{CreateMessageTemplateInput, TemplateCategory, UpdateMessageTemplateInput};
use crate::domain::{optional_text, required_text};
use crate::error::on_unique;
use crate::error::{AppError, AppResult};
use crate::graphql::pagination::{Order, Page, PageArgs, Totals, list_by_id};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin_write, find_live, live, read_live, soft_delete, tenant_update};

const DUPLICATE_NAME: &str = "a template with this name already exists for this channel";
const MAX_BODY_CHARS: usize = 200_000;

/// The variables a template declares.
pub(crate) fn declared(template: &message_templates::Model) -> Vec<DeclaredVariable> {
    serde_json::from_value(template.variables.clone()).unwrap_or_default()
}

pub(crate) fn parts(template: &message_templates::Model) -> TemplateParts<'_> {
    TemplateParts {
        subject: template.subject.as_deref(),
        text_body: template.text_body.as_deref(),
        html_body: template.html_body.as_deref(),
    }
}

/// What every saved (or inline) email must have, then the template check.
pub(crate) fn validate(
    channel: &MessageChannel,
    parts: &TemplateParts,
    declared: &[DeclaredVariable],
    custom_keys: &BTreeSet<String>,
    prefix: &str,
) -> AppResult<()> {
    let blank = |v: Option<&str>| v.is_none_or(|v| v.trim().is_empty());
    if *channel == MessageChannel::Email && blank(parts.subject) {
        return Err(AppError::invalid(
            format!("{prefix}subject"),
            "an email needs a subject",
        ));
    }
    if blank(parts.text_body) && blank(parts.html_body) {
        return Err(AppError::invalid(
            format!("{prefix}textBody"),
            "a message needs a text body or an HTML body",
        ));
    }
    for (value, field) in [
        (parts.subject, "subject"),
        (parts.text_body, "textBody"),
        (parts.html_body, "htmlBody"),
    ] {
        if value.is_some_and(|v| v.len() > MAX_BODY_CHARS) {
            return Err(AppError::invalid(
                format!("{prefix}{field}"),
                format!("must be at most {MAX_BODY_CHARS} characters"),
            ));
        }
    }
    check(parts, declared, custom_keys).map_err(|e| e.with_field_prefix(prefix))
}

/// Renders the template once against a sample in a render worker
/// (`render::sample_context`): nested loops that exceed the limits whatever
/// the lead are `LIMIT_EXCEEDED` when saving, not a failure at every send.
async fn trial_render(
    shared: &Shared,
    parts: &TemplateParts<'_>,
    declared: &[DeclaredVariable],
) -> AppResult<()> {
    let sample = std::iter::once(sample_context(declared));
    let outcome = shared
        .render_pool
        .render(&TemplateSource::of(parts), sample, 1)
        .await?
        .pop()
        .flatten()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the trial render gave no answer")))?;
    trial_verdict(outcome)
}

pub(crate) async fn list(
    shared: &Shared,
    ctx: &RequestCtx,
    args: &PageArgs,
    channel: Option<MessageChannel>,
    category: Option<TemplateCategory>,
) -> AppResult<(Page<message_templates::Model>, Totals)> {
    let mut select = live::<message_templates::Entity>(ctx);
    if let Some(channel) = channel {
        select = select.filter(message_templates::Column::Channel.eq(channel));
    }
    if let Some(category) = category {
        select = select.filter(message_templates::Column::Category.eq(
            entity::sea_orm_active_enums::TemplateCategory::from(category),
        ));
    }
    list_by_id(
        shared,
        ctx,
        select,
        message_templates::Column::Id,
        args,
        Order::NewestFirst,
    )
    .await
}

pub(crate) async fn get(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<message_templates::Model> {
    read_live::<message_templates::Entity>(&shared.db, ctx, id).await
}

fn declared_input(variables: Vec<super::types::TemplateVariable>) -> Vec<DeclaredVariable> {
    variables.into_iter().map(DeclaredVariable::from).collect()
}

async fn custom_keys(conn: &impl ConnectionTrait, ctx: &RequestCtx) -> AppResult<BTreeSet<String>> {
    crate::messaging::custom_variables::service::keys(conn, ctx.tenant_id).await
}

/// Clears the default flag of the channel and category's other templates.
async fn clear_other_defaults(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    template: &message_templates::Model,
) -> AppResult<()> {
    tenant_update::<message_templates::Entity>(ctx.tenant_id)
        .col_expr(message_templates::Column::IsDefault, Expr::value(false))
        .filter(message_templates::Column::Channel.eq(template.channel))
        .filter(message_templates::Column::Category.eq(template.category))
        .filter(message_templates::Column::Id.ne(template.id))
        .exec(conn)
        .await?;
    Ok(())
}

pub(crate) async fn create(
    shared: &Shared,
    ctx: &RequestCtx,
    input: CreateMessageTemplateInput,
) -> AppResult<message_templates::Model> {
    ctx.require_writer()?;
    let name = required_text(&input.name, "input.name", 200)?;
    let declared = declared_input(input.variables);
    let channel = MessageChannel::from(input.channel);
    let txn = begin_write(&shared.db, ctx).await?;
    let parts = TemplateParts {
        subject: input.subject.as_deref(),
        text_body: input.text_body.as_deref(),
        html_body: input.html_body.as_deref(),
    };
    validate(
        &channel,
        &parts,
        &declared,
        &custom_keys(&txn, ctx).await?,
        "input.",
    )?;
    trial_render(shared, &parts, &declared).await?;
    let now = Utc::now().fixed_offset();
    let template = message_templates::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        id: Set(Uuid::now_v7()),
        name: Set(name),
        description: Set(optional_text(input.description, "input.description", 2000)?),
        channel: Set(channel),
        category: Set(input.category.into()),
        subject: Set(input.subject),
        text_body: Set(input.text_body),
        html_body: Set(input.html_body),
        variables: Set(serde_json::to_value(&declared).map_err(AppError::internal)?),
        is_active: Set(input.is_active.unwrap_or(true)),
        is_default: Set(input.is_default.unwrap_or(false)),
        usage_count: Set(0),
        sent_count: Set(0),
        delivered_count: Set(0),
        opened_count: Set(0),
        clicked_count: Set(0),
        replied_count: Set(0),
        bounced_count: Set(0),
        complained_count: Set(0),
        unsubscribed_count: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        created_by: Set(ctx.user_id()),
        updated_by: Set(ctx.user_id()),
        deleted_at: Set(None),
        deleted_by: Set(None),
    }
    .insert(&txn)
    .await
    .map_err(|e| on_unique(e, Some("input.name"), DUPLICATE_NAME))?;
    if template.is_default {
        clear_other_defaults(&txn, ctx, &template).await?;
    }
    txn.commit().await?;
    Ok(template)
}

pub(crate) async fn update(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
    input: UpdateMessageTemplateInput,
) -> AppResult<message_templates::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let current = find_live::<message_templates::Entity>(&txn, ctx, id).await?;
    let mut template = current.clone().into_active_model();
    if let Some(name) = input.name {
        template.name = Set(required_text(&name, "input.name", 200)?);
    }
    if let Some(description) = Option::<Option<String>>::from(input.description) {
        template.description = Set(optional_text(description, "input.description", 2000)?);
    }
    if let Some(category) = input.category {
        template.category = Set(category.into());
    }
    for (value, column) in [
        (input.subject, &mut template.subject),
        (input.text_body, &mut template.text_body),
        (input.html_body, &mut template.html_body),
    ] {
        if let Some(value) = Option::<Option<String>>::from(value) {
            *column = Set(value);
        }
    }
    let declared = match input.variables {
        Some(variables) => declared_input(variables),
        None => declared(&current),
    };
    template.variables = Set(serde_json::to_value(&declared).map_err(AppError::internal)?);
    if let Some(active) = input.is_active {
        template.is_active = Set(active);
    }
    if let Some(default) = input.is_default {
        template.is_default = Set(default);
    }
    let parts = TemplateParts {
        subject: template.subject.as_ref().as_deref(),
        text_body: template.text_body.as_ref().as_deref(),
        html_body: template.html_body.as_ref().as_deref(),
    };
    validate(
        &current.channel,
        &parts,
        &declared,
        &custom_keys(&txn, ctx).await?,
        "input.",
    )?;
    trial_render(shared, &parts, &declared).await?;
    template.updated_at = Set(Utc::now().fixed_offset());
    template.updated_by = Set(ctx.user_id());
    let template = template
        .update(&txn)
        .await
        .map_err(|e| on_unique(e, Some("input.name"), DUPLICATE_NAME))?;
    if template.is_default {
        clear_other_defaults(&txn, ctx, &template).await?;
    }
    txn.commit().await?;
    Ok(template)
}

/// Soft-deletes: messages sent from it keep their link and its counters.
pub(crate) async fn delete(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<message_templates::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let template = soft_delete::<message_templates::Entity>(&txn, ctx, id).await?;
    txn.commit().await?;
    Ok(template)
}
