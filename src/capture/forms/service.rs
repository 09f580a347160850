//! The rules of forms: names unique among a tenant's live forms (ignoring
//! case); fields checked against the lead's fields and the tenant's custom
//! fields when saved; every reference (project, stage, source, owners,
//! members to notify, confirmation template) the tenant's own; a public id
//! minted once and routed by `public_ids`.

use std::collections::BTreeSet;

use async_graphql::{ID, MaybeUndefined};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use entity::sea_orm_active_enums::{
    CustomFieldEntity, FormStatus as FormStatusModel, MessageChannel, PublicIdKind,
};
use entity::{form_daily_counts, form_fields, form_submissions, forms, message_templates};

use super::fields::{CheckedField, check_fields};
use super::types::{
    CreateFormInput, FormFieldInput, FormStats, FormStatus, FormSubmissionFilter, UpdateFormInput,
};
use crate::crm::leads::fields as lead_fields;
use crate::domain::{optional_text, required_text};
use crate::error::{AppError, AppResult, on_unique};
use crate::graphql::pagination::{Order, Page, PageArgs, Totals, list_by_id};
use crate::graphql::parse_id;
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{
    begin, begin_write, end_read, ensure_live_name_free, find_live, live, read_live, scoped,
    soft_delete, tenant_delete,
};

const MAX_NAME_CHARS: usize = 200;
const MAX_TITLE_CHARS: usize = 300;
const MAX_TEXT_CHARS: usize = 5_000;
const MAX_ORIGINS: usize = 50;
const MAX_MEMBERS: usize = 100;
const MAX_FILL_SECONDS: i32 = 3_600;
const DUPLICATE_NAME: &str = "another form already has this name";
/// `form.stats` without a period: the last 30 days.
const DEFAULT_PERIOD_DAYS: i64 = 30;

/// A live form's id as a reference (`NOT_FOUND` becomes the field's error).
fn not_yours(field: &str, what: &str) -> impl Fn(AppError) -> AppError {
    let (field, what) = (field.to_owned(), what.to_owned());
    move |error| match error {
        AppError::NotFound(_) => {
            AppError::invalid(field.clone(), format!("no {what} of yours has this id"))
        }
        other => other,
    }
}

/// An http(s) URL, or the field's error.
fn http_url(value: &str, field: &str) -> AppResult<String> {
    let value = value.trim();
    let ok = (value.starts_with("https://") || value.starts_with("http://"))
        && value.len() <= 2_000
        && url_has_host(value);
    if !ok {
        return Err(AppError::invalid(field, "must be an http or https URL"));
    }
    Ok(value.to_owned())
}

fn url_has_host(value: &str) -> bool {
    let rest = value.split_once("://").map_or("", |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    !host.is_empty() && !host.contains(char::is_whitespace)
}

/// An origin as browsers send it: `scheme://host[:port]`, nothing after.
fn origins(values: Vec<String>, field: &str) -> AppResult<Vec<String>> {
    if values.len() > MAX_ORIGINS {
        return Err(AppError::invalid(
            field,
            format!("at most {MAX_ORIGINS} origins"),
        ));
    }
    values
        .into_iter()
        .enumerate()
        .map(|(i, origin)| {
            let at = format!("{field}.{i}");
            let origin = http_url(&origin, &at)?.trim_end_matches('/').to_lowercase();
            let rest = origin.split_once("://").map_or("", |(_, rest)| rest);
            if rest.contains(['/', '?', '#']) {
                return Err(AppError::invalid(
                    at,
                    "an origin is scheme://host[:port], without a path",
                ));
            }
            Ok(origin)
        })
        .collect()
}

/// Members of the tenant, as ids.
async fn members(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    ids: Vec<ID>,
    field: &str,
) -> AppResult<serde_json::Value> {
    if ids.len() > MAX_MEMBERS {
        return Err(AppError::invalid(
            field,
            format!("at most {MAX_MEMBERS} members"),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let at = format!("{field}.{i}");
        let user = lead_fields::owner(txn, ctx, id, &at)
            .await
            .map_err(not_yours(&at, "member"))?;
        if seen.insert(user) {
            out.push(serde_json::Value::String(user.to_string()));
        }
    }
    Ok(serde_json::Value::Array(out))
}

/// An active email template of the tenant.
async fn confirmation_template(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    id: &ID,
    field: &str,
) -> AppResult<Uuid> {
    let id = parse_id(id, field)?;
    let template = find_live::<message_templates::Entity>(txn, ctx, id)
        .await
        .map_err(not_yours(field, "message template"))?;
    if template.channel != MessageChannel::Email || !template.is_active {
        return Err(AppError::invalid(field, "must be an active email template"));
    }
    let declared = crate::messaging::templates::service::declared(&template);
    if !declared
        .iter()
        .any(|v| v.name == super::opt_in::LINK_VARIABLE)
    {
        return Err(AppError::invalid(
            field,
            format!(
                "the template must declare the variable {} (the link that confirms)",
                super::opt_in::LINK_VARIABLE
            ),
        ));
    }
    Ok(id)
}

/// The checks that span fields: a published form is complete; double
/// opt-in has its confirmation email.
fn check_consistency(form: &forms::ActiveModel) -> AppResult<()> {
    if *form.double_opt_in.as_ref() && form.confirmation_template_id.as_ref().is_none() {
        return Err(AppError::invalid(
            "input.confirmationTemplateId",
            "double opt-in needs the template of its confirmation email",
        ));
    }
    if form.success_message.as_ref().is_some() && form.redirect_url.as_ref().is_some() {
        return Err(AppError::invalid(
            "input.redirectUrl",
            "give a success message or a redirect URL, not both",
        ));
    }
    Ok(())
}

fn fill_seconds(value: i32, field: &str) -> AppResult<i32> {
    if !(0..=MAX_FILL_SECONDS).contains(&value) {
        return Err(AppError::invalid(
            field,
            format!("must be 0 to {MAX_FILL_SECONDS}"),
        ));
    }
    Ok(value)
}

async fn write_fields(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    form_id: Uuid,
    fields: Vec<CheckedField>,
) -> AppResult<()> {
    tenant_delete::<form_fields::Entity>(ctx.tenant_id)
        .filter(form_fields::Column::FormId.eq(form_id))
        .exec(txn)
        .await?;
    if fields.is_empty() {
        return Ok(());
    }
    let rows = fields
        .into_iter()
        .enumerate()
        .map(|(position, field)| form_fields::ActiveModel {
            tenant_id: Set(ctx.tenant_id),
            id: Set(Uuid::now_v7()),
            form_id: Set(form_id),
            position: Set(position as i32),
            key: Set(field.key),
            field_type: Set(field.field_type),
            label: Set(field.label),
            placeholder: Set(field.placeholder),
            help_text: Set(field.help_text),
            required: Set(field.required),
            options: Set(serde_json::json!(field.options)),
            validation: Set(serde_json::to_value(field.rules).unwrap_or_default()),
            maps_to: Set(field.maps_to),
            default_value: Set(field.default_value),
        });
    form_fields::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

async fn checked_fields(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    inputs: Vec<FormFieldInput>,
) -> AppResult<Vec<CheckedField>> {
    let definitions =
        crate::crm::custom_fields::definitions(txn, ctx, CustomFieldEntity::Lead).await?;
    check_fields(inputs, &definitions, "input.fields")
}

/// The fields of a form, in display order.
pub(crate) async fn fields_of(
    conn: &impl sea_orm::ConnectionTrait,
    tenant_id: Uuid,
    form_id: Uuid,
) -> AppResult<Vec<form_fields::Model>> {
    Ok(
        crate::tenancy::scoped::tenant_rows::<form_fields::Entity>(tenant_id)
            .filter(form_fields::Column::FormId.eq(form_id))
            .order_by_asc(form_fields::Column::Position)
            .all(conn)
            .await?,
    )
}

pub(super) async fn list(
    shared: &Shared,
    ctx: &RequestCtx,
    args: &PageArgs,
    status: Option<FormStatus>,
) -> AppResult<(Page<forms::Model>, Totals)> {
    let mut select = live::<forms::Entity>(ctx);
    if let Some(status) = status {
        select = select.filter(forms::Column::Status.eq(FormStatusModel::from(status)));
    }
    list_by_id(
        shared,
        ctx,
        select,
        forms::Column::Id,
        args,
        Order::NewestFirst,
    )
    .await
}

pub(super) async fn get(shared: &Shared, ctx: &RequestCtx, id: Uuid) -> AppResult<forms::Model> {
    read_live::<forms::Entity>(&shared.db, ctx, id).await
}

pub(super) async fn create(
    shared: &Shared,
    ctx: &RequestCtx,
    input: CreateFormInput,
) -> AppResult<forms::Model> {
    ctx.require_writer()?;
    let name = required_text(&input.name, "input.name", MAX_NAME_CHARS)?;
    let now = Utc::now().fixed_offset();
    let status: FormStatusModel = input.status.unwrap_or(FormStatus::Draft).into();
    let txn = begin_write(&shared.db, ctx).await?;
    ensure_live_name_free::<forms::Entity>(
        &txn,
        ctx,
        forms::Column::Name,
        &name,
        None,
        DUPLICATE_NAME,
    )
    .await?;
    let fields = checked_fields(&txn, ctx, input.fields).await?;
    let id = Uuid::now_v7();
    let public_id = crate::capture::public_ids::mint();
    let mut form = forms::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        id: Set(id),
        name: Set(name),
        title: Set(optional_text(input.title, "input.title", MAX_TITLE_CHARS)?),
        description: Set(optional_text(
            input.description,
            "input.description",
            MAX_TEXT_CHARS,
        )?),
        project_id: Set(None),
        published_at: Set((status == FormStatusModel::Published).then_some(now)),
        status: Set(status),
        public_id: Set(public_id.clone()),
        success_message: Set(optional_text(
            input.success_message,
            "input.successMessage",
            MAX_TEXT_CHARS,
        )?),
        redirect_url: Set(input
            .redirect_url
            .map(|u| http_url(&u, "input.redirectUrl"))
            .transpose()?),
        allowed_origins: Set(serde_json::json!(origins(
            input.allowed_origins.unwrap_or_default(),
            "input.allowedOrigins"
        )?)),
        double_opt_in: Set(input.double_opt_in.unwrap_or(false)),
        confirmation_template_id: Set(None),
        stage_id: Set(None),
        source_id: Set(None),
        tags: Set(serde_json::json!(lead_fields::tags(
            input.tags.unwrap_or_default(),
            "input.tags"
        )?)),
        owner_id: Set(None),
        round_robin_owner_ids: Set(serde_json::json!([])),
        round_robin_next: Set(0),
        notify_user_ids: Set(serde_json::json!([])),
        update_policy: Set(input
            .update_policy
            .map(Into::into)
            .unwrap_or(entity::sea_orm_active_enums::FormUpdatePolicy::FillBlanks)),
        min_fill_seconds: Set(fill_seconds(
            input.min_fill_seconds.unwrap_or(3),
            "input.minFillSeconds",
        )?),
        created_at: Set(now),
        updated_at: Set(now),
        created_by: Set(ctx.user_id()),
        updated_by: Set(ctx.user_id()),
        deleted_at: Set(None),
        deleted_by: Set(None),
    };
    let refs = References {
        project_id: given(input.project_id),
        stage_id: given(input.stage_id),
        source_id: given(input.source_id),
        owner_id: given(input.owner_id),
        confirmation_template_id: given(input.confirmation_template_id),
        round_robin_owner_ids: input.round_robin_owner_ids,
        notify_user_ids: input.notify_user_ids,
    };
    refs.apply(&txn, ctx, &mut form).await?;
    check_consistency(&form)?;
    let form = form
        .insert(&txn)
        .await
        .map_err(|e| on_unique(e, Some("input.name"), DUPLICATE_NAME))?;
    write_fields(&txn, ctx, id, fields).await?;
    crate::capture::public_ids::register(&txn, &public_id, PublicIdKind::Form, ctx.tenant_id, id)
        .await?;
    txn.commit().await?;
    Ok(form)
}

/// A create input's optional reference as an update's.
fn given(id: Option<ID>) -> MaybeUndefined<ID> {
    id.map_or(MaybeUndefined::Undefined, MaybeUndefined::Value)
}

/// The references of a form input; each checked as the tenant's own.
struct References {
    project_id: MaybeUndefined<ID>,
    stage_id: MaybeUndefined<ID>,
    source_id: MaybeUndefined<ID>,
    owner_id: MaybeUndefined<ID>,
    confirmation_template_id: MaybeUndefined<ID>,
    round_robin_owner_ids: Option<Vec<ID>>,
    notify_user_ids: Option<Vec<ID>>,
}

impl References {
    async fn apply(
        self,
        txn: &DatabaseTransaction,
        ctx: &RequestCtx,
        form: &mut forms::ActiveModel,
    ) -> AppResult<()> {
        macro_rules! reference {
            ($given:expr, $column:ident, $field:literal, $what:literal, $check:expr) => {
                match $given {
                    MaybeUndefined::Undefined => {}
                    MaybeUndefined::Null => form.$column = Set(None),
                    MaybeUndefined::Value(id) => {
                        let id = $check(txn, ctx, &id, $field)
                            .await
                            .map_err(not_yours($field, $what))?;
                        form.$column = Set(Some(id));
                    }
                }
            };
        }
        reference!(
            self.project_id,
            project_id,
            "input.projectId",
            "project",
            lead_fields::project
        );
        reference!(
            self.stage_id,
            stage_id,
            "input.stageId",
            "lead stage",
            lead_fields::stage
        );
        reference!(
            self.source_id,
            source_id,
            "input.sourceId",
            "lead source",
            lead_fields::source
        );
        reference!(
            self.owner_id,
            owner_id,
            "input.ownerId",
            "member",
            lead_fields::owner
        );
        reference!(
            self.confirmation_template_id,
            confirmation_template_id,
            "input.confirmationTemplateId",
            "message template",
            confirmation_template
        );
        if let Some(ids) = self.round_robin_owner_ids {
            form.round_robin_owner_ids =
                Set(members(txn, ctx, ids, "input.roundRobinOwnerIds").await?);
        }
        if let Some(ids) = self.notify_user_ids {
            form.notify_user_ids = Set(members(txn, ctx, ids, "input.notifyUserIds").await?);
        }
        Ok(())
    }
}

pub(super) async fn update(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
    input: UpdateFormInput,
) -> AppResult<forms::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let current = find_live::<forms::Entity>(&txn, ctx, id).await?;
    let was_published = current.status == FormStatusModel::Published;
    let mut form = current.into_active_model();
    if let Some(name) = &input.name {
        let name = required_text(name, "input.name", MAX_NAME_CHARS)?;
        ensure_live_name_free::<forms::Entity>(
            &txn,
            ctx,
            forms::Column::Name,
            &name,
            Some(id),
            DUPLICATE_NAME,
        )
        .await?;
        form.name = Set(name);
    }
    let text = |value: MaybeUndefined<String>,
                field: &str,
                max: usize|
     -> AppResult<Option<Option<String>>> {
        Ok(match value {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(v) => Some(optional_text(Some(v), field, max)?),
        })
    };
    if let Some(v) = text(input.title, "input.title", MAX_TITLE_CHARS)? {
        form.title = Set(v);
    }
    if let Some(v) = text(input.description, "input.description", MAX_TEXT_CHARS)? {
        form.description = Set(v);
    }
    if let Some(v) = text(
        input.success_message,
        "input.successMessage",
        MAX_TEXT_CHARS,
    )? {
        form.success_message = Set(v);
    }
    match input.redirect_url {
        MaybeUndefined::Undefined => {}
        MaybeUndefined::Null => form.redirect_url = Set(None),
        MaybeUndefined::Value(url) => {
            form.redirect_url = Set(Some(http_url(&url, "input.redirectUrl")?));
        }
    }
    if let Some(values) = input.allowed_origins {
        form.allowed_origins = Set(serde_json::json!(origins(values, "input.allowedOrigins")?));
    }
    if let Some(v) = input.double_opt_in {
        form.double_opt_in = Set(v);
    }
    if let Some(tags) = input.tags {
        form.tags = Set(serde_json::json!(lead_fields::tags(tags, "input.tags")?));
    }
    if let Some(policy) = input.update_policy {
        form.update_policy = Set(policy.into());
    }
    if let Some(seconds) = input.min_fill_seconds {
        form.min_fill_seconds = Set(fill_seconds(seconds, "input.minFillSeconds")?);
    }
    if let Some(status) = input.status {
        let status: FormStatusModel = status.into();
        if status == FormStatusModel::Published && !was_published {
            form.published_at = Set(Some(Utc::now().fixed_offset()));
        }
        form.status = Set(status);
    }
    References {
        project_id: input.project_id,
        stage_id: input.stage_id,
        source_id: input.source_id,
        owner_id: input.owner_id,
        confirmation_template_id: input.confirmation_template_id,
        round_robin_owner_ids: input.round_robin_owner_ids,
        notify_user_ids: input.notify_user_ids,
    }
    .apply(&txn, ctx, &mut form)
    .await?;
    check_consistency(&form)?;
    if let Some(inputs) = input.fields {
        let fields = checked_fields(&txn, ctx, inputs).await?;
        write_fields(&txn, ctx, id, fields).await?;
    }
    form.updated_at = Set(Utc::now().fixed_offset());
    form.updated_by = Set(ctx.user_id());
    let form = form
        .update(&txn)
        .await
        .map_err(|e| on_unique(e, Some("input.name"), DUPLICATE_NAME))?;
    txn.commit().await?;
    Ok(form)
}

/// Moves a form to the trash; its public URLs answer 404 from then on.
pub(super) async fn delete(shared: &Shared, ctx: &RequestCtx, id: Uuid) -> AppResult<forms::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let form = soft_delete::<forms::Entity>(&txn, ctx, id).await?;
    crate::capture::public_ids::unregister(&txn, &form.public_id).await?;
    txn.commit().await?;
    Ok(form)
}

pub(super) async fn submissions(
    shared: &Shared,
    ctx: &RequestCtx,
    args: &PageArgs,
    filter: FormSubmissionFilter,
) -> AppResult<(Page<form_submissions::Model>, Totals)> {
    use form_submissions::Column;
    let mut select = scoped::<form_submissions::Entity>(ctx);
    if let Some(id) = &filter.form_id {
        select = select.filter(Column::FormId.eq(parse_id(id, "filter.formId")?));
    }
    if let Some(id) = &filter.lead_id {
        select = select.filter(Column::LeadId.eq(parse_id(id, "filter.leadId")?));
    }
    if let Some(outcome) = filter.outcome {
        select = select.filter(Column::Outcome.eq(
            entity::sea_orm_active_enums::SubmissionOutcome::from(outcome),
        ));
    }
    if let Some(opt_in) = filter.opt_in {
        select = select
            .filter(Column::OptIn.eq(entity::sea_orm_active_enums::OptInStatus::from(opt_in)));
    }
    if let Some(since) = filter.since {
        select = select.filter(Column::CreatedAt.gte(since.fixed_offset()));
    }
    if let Some(until) = filter.until {
        select = select.filter(Column::CreatedAt.lt(until.fixed_offset()));
    }
    if let Some(visitor) = filter.visitor_id {
        select = select.filter(Column::VisitorId.eq(visitor));
    }
    list_by_id(shared, ctx, select, Column::Id, args, Order::NewestFirst).await
}

pub(super) async fn submission(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<form_submissions::Model> {
    let txn = begin(&shared.db, ctx).await?;
    let found = crate::tenancy::scoped::find_owned::<form_submissions::Entity>(
        &*txn,
        ctx,
        id,
        "form submission",
    )
    .await;
    end_read(txn).await?;
    found
}

/// `form.stats`: views and spam from the daily counts, submissions counted.
pub(super) async fn stats(
    shared: &Shared,
    ctx: &RequestCtx,
    form_id: Uuid,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> AppResult<FormStats> {
    let to = to.unwrap_or_else(Utc::now);
    let from = from.unwrap_or(to - Duration::days(DEFAULT_PERIOD_DAYS));
    if from > to {
        return Err(AppError::invalid("from", "must not be after to"));
    }
    let (first_day, last_day): (NaiveDate, NaiveDate) = (from.date_naive(), to.date_naive());
    let txn = begin(&shared.db, ctx).await?;
    let counts: Option<(Option<i64>, Option<i64>)> = scoped::<form_daily_counts::Entity>(ctx)
        .select_only()
        // SUM of a bigint is numeric on PostgreSQL: back to bigint.
        .column_as(Expr::cust("CAST(SUM(views) AS BIGINT)"), "views")
        .column_as(Expr::cust("CAST(SUM(spam) AS BIGINT)"), "spam")
        .filter(form_daily_counts::Column::FormId.eq(form_id))
        .filter(form_daily_counts::Column::Day.gte(first_day))
        .filter(form_daily_counts::Column::Day.lte(last_day))
        .into_tuple()
        .one(&*txn)
        .await?;
    let submissions = sea_orm::PaginatorTrait::count(
        scoped::<form_submissions::Entity>(ctx)
            .filter(form_submissions::Column::FormId.eq(form_id))
            .filter(form_submissions::Column::CreatedAt.gte(from.fixed_offset()))
            .filter(form_submissions::Column::CreatedAt.lt(to.fixed_offset())),
        &*txn,
    )
    .await?;
    end_read(txn).await?;
    let (views, spam) = counts.unwrap_or_default();
    let views = views.unwrap_or_default().max(0);
    Ok(FormStats {
        from,
        to,
        views: views.into(),
        submissions: submissions.into(),
        conversion_rate: if views > 0 {
            (submissions as f64 / views as f64).min(1.0)
        } else {
            0.0
        },
        spam_dropped: spam.unwrap_or_default().into(),
    })
}
