//! A public form's submission, from the values posted to the stored
//! submission: bots dropped silently, every field checked (all errors at
//! once), the lead found by email and created or updated under the form's
//! policy (never duplicated), the timeline, the `form.submitted` event, the
//! visitor's earlier page views, and the double opt-in email, all in one
//! transaction.

use std::collections::BTreeMap;

use async_graphql::{Name, Value};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};
use serde_json::json;
use uuid::Uuid;

use entity::sea_orm_active_enums::{
    ActivityType, FormStatus, FormUpdatePolicy, OptInStatus, SubmissionOutcome,
};
use entity::{
    form_daily_counts, form_fields, form_submissions, forms, leads, page_views, visitor_leads,
};

use super::fields::{LeadValues, lead_values, read_one, stored_view};
use crate::crm::leads::merge::{as_update, create_input, only_blanks};
use crate::crm::leads::service::{create_in, insert_tags, rules, update_in};
use crate::crm::leads::{events as lead_events, fields as lead_fields};
use crate::error::{AppError, AppResult};
use crate::events::{DomainEventKind, NewDomainEvent, commit_with};
use crate::secrets::{TokenKind, TrackingToken};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin_for_write, tenant_rows, tenant_update};

/// The honeypot: a field people never see and bots fill in.
pub(crate) const HONEYPOT: &str = "_website";
/// The signed time the form was drawn.
pub(crate) const DRAWN: &str = "_drawn";
/// The page-view tracker's visitor id, when the page has the tracker.
pub(crate) const VISITOR: &str = "_visitor";
/// The page the form was on (an embedded form's parent page).
pub(crate) const PAGE: &str = "_page";

/// What was posted, and where from.
#[derive(Debug, Default)]
pub(crate) struct Posted {
    /// Every value by name, in order (a multiselect posts several).
    pub values: BTreeMap<String, Vec<String>>,
    pub referrer: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Posted {
    fn one(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.first())
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }
}

/// A field's error, as the public routes report it.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

/// What became of a submission.
pub(crate) enum Submitted {
    Stored,
    /// Dropped as a bot; the sender is told it worked.
    Spam,
    Invalid(Vec<FieldError>),
}

/// A published form of `tenant_id` and its fields, or `NOT_FOUND`.
pub(crate) async fn published(
    txn: &DatabaseTransaction,
    tenant_id: Uuid,
    form_id: Uuid,
) -> AppResult<(forms::Model, Vec<form_fields::Model>)> {
    let form = tenant_rows::<forms::Entity>(tenant_id)
        .filter(forms::Column::Id.eq(form_id))
        .filter(forms::Column::DeletedAt.is_null())
        .filter(forms::Column::Status.eq(FormStatus::Published))
        .one(txn)
        .await?
        .ok_or(AppError::not_found("form"))?;
    let fields = super::service::fields_of(txn, tenant_id, form_id).await?;
    Ok((form, fields))
}

/// Adds to today's view or spam count of a form.
pub(crate) async fn count(
    txn: &DatabaseTransaction,
    tenant_id: Uuid,
    form_id: Uuid,
    views: i64,
    spam: i64,
) -> AppResult<()> {
    use form_daily_counts::Column;
    form_daily_counts::Entity::insert(form_daily_counts::ActiveModel {
        tenant_id: Set(tenant_id),
        form_id: Set(form_id),
        day: Set(Utc::now().date_naive()),
        views: Set(views),
        spam: Set(spam),
    })
    .on_conflict(
        OnConflict::columns([Column::TenantId, Column::FormId, Column::Day])
            .value(
                Column::Views,
                Expr::col((form_daily_counts::Entity, Column::Views)).add(views),
            )
            .value(
                Column::Spam,
                Expr::col((form_daily_counts::Entity, Column::Spam)).add(spam),
            )
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// The token a drawn form carries, so a submission shows how long its
/// filling took.
pub(crate) fn drawn_token(shared: &Shared, tenant_id: Uuid) -> String {
    shared.tracking.sign(
        TokenKind::FormDrawn,
        TrackingToken {
            tenant_id,
            message_id: Uuid::now_v7(),
            position: 0,
        },
    )
}

/// When the form was drawn, from a genuine token of this tenant.
fn drawn_at(shared: &Shared, tenant_id: Uuid, token: &str) -> Option<DateTime<Utc>> {
    let token = shared.tracking.verify(TokenKind::FormDrawn, token)?;
    if token.tenant_id != tenant_id {
        return None;
    }
    let (seconds, nanos) = token.message_id.get_timestamp()?.to_unix();
    DateTime::from_timestamp(seconds as i64, nanos)
}

/// The UTM parameters of a URL's query.
pub(crate) fn utm_of(url: Option<&str>) -> BTreeMap<&'static str, String> {
    let mut found = BTreeMap::new();
    let Some(query) = url.and_then(|u| u.split_once('?')).map(|(_, q)| q) else {
        return found;
    };
    let query = query.split('#').next().unwrap_or_default();
    for (key, value) in form_urlencoded_pairs(query) {
        let name = match key.as_str() {
            "utm_source" => "source",
            "utm_medium" => "medium",
            "utm_campaign" => "campaign",
            "utm_term" => "term",
            "utm_content" => "content",
            _ => continue,
        };
        let value: String = value.trim().chars().take(200).collect();
        if !value.is_empty() {
            found.entry(name).or_insert(value);
        }
    }
    found
}

/// `a=1&b=2` decoded (`+` is a space, `%xx` a byte).
pub(crate) fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Stores a submission to form `form_id` of `tenant_id` (already resolved
/// from its public id).
pub(crate) async fn submit(
    shared: &Shared,
    tenant_id: Uuid,
    form_id: Uuid,
    posted: Posted,
) -> AppResult<Submitted> {
    // Two first submissions of one new email at the same moment: the
    // second meets the unique index and, run again, updates the lead the
    // first made.
    match submit_once(shared, tenant_id, form_id, &posted).await {
        Err(AppError::Conflict { .. }) => submit_once(shared, tenant_id, form_id, &posted).await,
        other => other,
    }
}

async fn submit_once(
    shared: &Shared,
    tenant_id: Uuid,
    form_id: Uuid,
    posted: &Posted,
) -> AppResult<Submitted> {
    let ctx = RequestCtx::system(tenant_id);
    let txn = begin_for_write(&shared.db, tenant_id, None).await?;
    let (form, fields) = published(&txn, tenant_id, form_id).await?;
    let now = Utc::now();
    let too_fast = posted
        .one(DRAWN)
        .and_then(|token| drawn_at(shared, tenant_id, token))
        .is_none_or(|drawn| {
            (now - drawn).num_milliseconds() < i64::from(form.min_fill_seconds) * 1_000
        });
    if posted.one(HONEYPOT).is_some() || too_fast {
        count(&txn, tenant_id, form_id, 0, 1).await?;
        txn.commit().await?;
        metrics::counter!("promohub_form_spam_total").increment(1);
        return Ok(Submitted::Spam);
    }

    // Every field's value, every error at once.
    let mut values = BTreeMap::new();
    let mut errors = Vec::new();
    for field in &fields {
        let given: Vec<String> = posted
            .values
            .get(&field.key)
            .cloned()
            .or_else(|| field.default_value.clone().map(|v| vec![v]))
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.trim().to_owned())
            .collect();
        match read_one(&stored_view(field), &given, &field.key) {
            Ok(value) => {
                values.insert(field.key.clone(), value);
            }
            Err(error) => errors.push(field_error(error, &field.key)),
        }
    }
    if !errors.is_empty() {
        return Ok(Submitted::Invalid(errors));
    }
    let lead_values = match lead_values(&fields, &values) {
        Ok(v) => v,
        Err(error) => return Ok(Submitted::Invalid(vec![field_error(error, "")])),
    };
    let page_url = posted
        .one(PAGE)
        .or(posted.referrer.as_deref())
        .map(|u| u.chars().take(2_000).collect::<String>());
    let utm = utm_of(page_url.as_deref());

    let rules = rules(&txn, &ctx).await?;
    let email = lead_values
        .attributes
        .get("email")
        .and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            _ => None,
        })
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("form {form_id} has no email value")))?;
    let existing = lead_fields::live_with_email(&ctx, &email).one(&txn).await?;
    let sources = lead_values.sources.clone();
    let upserted = match existing {
        Some(current) => update_lead(&txn, &ctx, &form, lead_values, current, &rules).await,
        None => create_lead(&txn, &ctx, &form, lead_values, &utm, &rules).await,
    };
    let (mut lead, outcome, mut events) = match upserted {
        Ok(done) => done,
        // Another submission took the email meanwhile: run again.
        Err(error @ AppError::Conflict { .. })
            if error.field().is_some_and(|f| f.ends_with("email")) =>
        {
            return Err(error);
        }
        Err(error @ (AppError::BadUserInput { .. } | AppError::Conflict { .. })) => {
            return Ok(Submitted::Invalid(vec![lead_error(error, &sources)]));
        }
        Err(error) => return Err(error),
    };

    let consent: Vec<serde_json::Value> = fields
        .iter()
        .filter(|f| f.field_type == entity::sea_orm_active_enums::FormFieldType::Consent)
        .map(|f| {
            json!({
                "field": f.key,
                "text": f.label,
                "agreed": values.get(&f.key).and_then(serde_json::Value::as_bool).unwrap_or(false),
            })
        })
        .collect();
    let opt_in = if !form.double_opt_in || lead.opt_in_status == OptInStatus::Confirmed {
        OptInStatus::None
    } else {
        OptInStatus::Pending
    };
    if opt_in == OptInStatus::Pending && lead.opt_in_status != OptInStatus::Pending {
        let before = lead.clone();
        lead = set_opt_in(&txn, &ctx, lead.id, OptInStatus::Pending, None).await?;
        events.extend(lead_events::changed(&before, &lead, false));
    }
    let visitor_id = posted
        .one(VISITOR)
        .filter(|v| v.len() <= 64)
        .map(str::to_owned);
    let submission_id = Uuid::now_v7();
    let confirmation_message_id = if opt_in == OptInStatus::Pending {
        super::opt_in::queue_confirmation(shared, &txn, &ctx, &form, &lead, submission_id).await
    } else {
        None
    };
    form_submissions::ActiveModel {
        tenant_id: Set(tenant_id),
        id: Set(submission_id),
        form_id: Set(form_id),
        lead_id: Set(lead.id),
        outcome: Set(outcome),
        data: Set(serde_json::Value::Object(values.into_iter().collect())),
        page_url: Set(page_url),
        referrer: Set(posted.referrer.clone()),
        utm_source: Set(utm.get("source").cloned()),
        utm_medium: Set(utm.get("medium").cloned()),
        utm_campaign: Set(utm.get("campaign").cloned()),
        utm_term: Set(utm.get("term").cloned()),
        utm_content: Set(utm.get("content").cloned()),
        ip: Set(posted.ip.clone()),
        user_agent: Set(posted.user_agent.clone()),
        visitor_id: Set(visitor_id.clone()),
        opt_in: Set(opt_in),
        consent: Set(
            (!consent.is_empty()).then(|| json!({ "fields": consent, "at": now, "ip": posted.ip }))
        ),
        confirmed_at: Set(None),
        confirmed_ip: Set(None),
        confirmation_message_id: Set(confirmation_message_id),
        created_at: Set(now.fixed_offset()),
    }
    .insert(&txn)
    .await?;
    crate::crm::activities::record(
        &txn,
        &ctx,
        lead.id,
        ActivityType::FormSubmitted,
        format!("Submitted form \"{}\"", form.name),
        json!({ "formId": crate::graphql::id_string(form_id), "submissionId": crate::graphql::id_string(submission_id) }),
    )
    .await?;
    if let Some(visitor) = &visitor_id {
        identify_visitor(&txn, tenant_id, visitor, lead.id, "form").await?;
    }
    events.push(
        NewDomainEvent::new(DomainEventKind::FormSubmitted, submission_id).with_payload(json!({
            "formId": crate::graphql::id_string(form_id),
            "submissionId": crate::graphql::id_string(submission_id),
            "leadId": crate::graphql::id_string(lead.id),
            "outcome": match outcome { SubmissionOutcome::Created => "created", SubmissionOutcome::Updated => "updated" },
        })),
    );
    let notified = super::notify::enqueue(&txn, &form, submission_id).await?;
    commit_with(shared, txn, &ctx, events).await?;
    if confirmation_message_id.is_some() || notified {
        shared.jobs.wake();
    }
    metrics::counter!("promohub_form_submissions_total").increment(1);
    Ok(Submitted::Stored)
}

/// A field's error from the form's own checks (`path` is its key).
fn field_error(error: AppError, key: &str) -> FieldError {
    let field = error.field().map_or_else(|| key.to_owned(), str::to_owned);
    match error {
        AppError::BadUserInput { message, .. } => FieldError {
            field,
            code: "INVALID",
            message,
        },
        other => FieldError {
            field,
            code: "INVALID",
            message: other.public_message(),
        },
    }
}

/// An error of the lead's rules, named by the form field that gave the
/// value (`lead.customFields.size` → the field mapped to it).
fn lead_error(error: AppError, sources: &BTreeMap<String, String>) -> FieldError {
    let path = error.field().unwrap_or_default();
    let target = path.strip_prefix("lead.").unwrap_or(path);
    let field = sources
        .iter()
        .find(|(lead_field, _)| {
            target == lead_field.as_str() || target.starts_with(&format!("{lead_field}."))
        })
        .map_or_else(String::new, |(_, key)| key.clone());
    let message = match error {
        AppError::BadUserInput { message, .. } | AppError::Conflict { message, .. } => message,
        other => other.public_message(),
    };
    FieldError {
        field,
        code: "INVALID",
        message,
    }
}

/// Settings of the form a new lead takes: stage, source, project, owner.
async fn create_lead(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    form: &forms::Model,
    values: LeadValues,
    utm: &BTreeMap<&'static str, String>,
    rules: &[entity::lead_scoring_rules::Model],
) -> AppResult<(leads::Model, SubmissionOutcome, Vec<NewDomainEvent>)> {
    let mut attributes = values.attributes;
    let source = match form.source_id {
        Some(id) => Some(id),
        None => match utm.get("source") {
            Some(name) => Some(super::sources::for_utm(txn, ctx, name, utm).await?),
            None => None,
        },
    };
    let owner = match form.owner_id {
        Some(owner) => Some(owner),
        None => next_owner(txn, form).await?,
    };
    let id = |v: Option<Uuid>| v.map(|id| Value::String(id.to_string()));
    for (key, value) in [
        ("stageId", id(form.stage_id)),
        ("sourceId", id(source)),
        ("projectId", id(form.project_id)),
        ("ownerId", id(owner)),
    ] {
        if let Some(value) = value {
            attributes.insert(Name::new(key), value);
        }
    }
    let input = create_input(attributes, tags_of(form), values.custom_fields, "lead")?;
    let lead = create_in(txn, ctx, input, "lead", rules).await?;
    let events = vec![lead_events::created(&lead)];
    Ok((lead, SubmissionOutcome::Created, events))
}

/// The lead with the submission's email, updated under the form's policy;
/// its stage, source and owner stay.
async fn update_lead(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    form: &forms::Model,
    values: LeadValues,
    current: leads::Model,
    rules: &[entity::lead_scoring_rules::Model],
) -> AppResult<(leads::Model, SubmissionOutcome, Vec<NewDomainEvent>)> {
    let (mut attributes, mut custom_fields) = (values.attributes, values.custom_fields);
    if form.update_policy == FormUpdatePolicy::FillBlanks {
        only_blanks(&mut attributes, &mut custom_fields, &current);
    }
    if current.project_id.is_none()
        && let Some(project) = form.project_id
    {
        attributes.insert(Name::new("projectId"), Value::String(project.to_string()));
    }
    let input = create_input(attributes, Vec::new(), custom_fields, "lead")?;
    let (update, _) = as_update(input);
    let tags = lead_fields::tags(tags_of(form), "lead.tags")?;
    let before = current.clone();
    let tags_added = insert_tags(txn, ctx, current.id, &tags).await?;
    let updated = update_in(txn, ctx, current, update, "lead", rules).await?;
    let events = lead_events::changed(&before, &updated, tags_added > 0);
    Ok((updated, SubmissionOutcome::Updated, events))
}

fn tags_of(form: &forms::Model) -> Vec<String> {
    serde_json::from_value(form.tags.clone()).unwrap_or_default()
}

/// The next owner of the round robin, taken atomically (concurrent
/// submissions each get the next one).
async fn next_owner(txn: &DatabaseTransaction, form: &forms::Model) -> AppResult<Option<Uuid>> {
    let owners: Vec<Uuid> =
        serde_json::from_value(form.round_robin_owner_ids.clone()).unwrap_or_default();
    if owners.is_empty() {
        return Ok(None);
    }
    let turn: Option<i32> = tenant_update::<forms::Entity>(form.tenant_id)
        .col_expr(
            forms::Column::RoundRobinNext,
            Expr::col(forms::Column::RoundRobinNext).add(1),
        )
        .filter(forms::Column::Id.eq(form.id))
        .exec_with_returning(txn)
        .await?
        .first()
        .map(|f| f.round_robin_next - 1);
    let turn = turn.unwrap_or_default().rem_euclid(owners.len() as i32) as usize;
    Ok(Some(owners[turn]))
}

/// Sets a lead's opt-in status (and when it was confirmed).
pub(crate) async fn set_opt_in(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    lead_id: Uuid,
    status: OptInStatus,
    confirmed_at: Option<DateTime<Utc>>,
) -> AppResult<leads::Model> {
    let mut rows = tenant_update::<leads::Entity>(ctx.tenant_id)
        .col_expr(leads::Column::OptInStatus, Expr::val(status))
        .col_expr(
            leads::Column::UpdatedAt,
            Expr::val(Utc::now().fixed_offset()),
        )
        .filter(leads::Column::Id.eq(lead_id));
    if let Some(at) = confirmed_at {
        rows = rows.col_expr(
            leads::Column::OptInConfirmedAt,
            Expr::val(at.fixed_offset()),
        );
    }
    rows.exec_with_returning(txn)
        .await?
        .pop()
        .ok_or(AppError::not_found("lead"))
}

/// The visitor is this lead: remembered for the visitor's later page views,
/// and its earlier ones (not yet anyone's) attached to the lead.
pub(crate) async fn identify_visitor(
    txn: &DatabaseTransaction,
    tenant_id: Uuid,
    visitor_id: &str,
    lead_id: Uuid,
    by: &str,
) -> AppResult<()> {
    use visitor_leads::Column;
    let now = Utc::now().fixed_offset();
    visitor_leads::Entity::insert(visitor_leads::ActiveModel {
        tenant_id: Set(tenant_id),
        visitor_id: Set(visitor_id.to_owned()),
        lead_id: Set(lead_id),
        identified_by: Set(by.to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([Column::TenantId, Column::VisitorId])
            .update_columns([Column::LeadId, Column::IdentifiedBy, Column::UpdatedAt])
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    tenant_update::<page_views::Entity>(tenant_id)
        .col_expr(page_views::Column::LeadId, Expr::val(lead_id))
        .filter(page_views::Column::VisitorId.eq(visitor_id))
        .filter(page_views::Column::LeadId.is_null())
        .exec(txn)
        .await?;
    Ok(())
}
