//! GraphQL shapes of forms and their submissions.

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, MaybeUndefined, SimpleObject};
use chrono::{DateTime, Utc};

use entity::sea_orm_active_enums::{
    FormFieldType as FormFieldTypeModel, FormStatus as FormStatusModel,
    FormUpdatePolicy as FormUpdatePolicyModel, OptInStatus as OptInStatusModel,
    SubmissionOutcome as SubmissionOutcomeModel,
};
use entity::{form_fields, form_submissions, forms};

use crate::crm::custom_fields::types::{CustomFieldValidation, CustomFieldValidationInput};
use crate::crm::custom_fields::validate::Rules;
use crate::graphql::json::Json;
use crate::graphql::numbers::Count;
use crate::graphql::pagination::{PageArgs, RelayConnection, connection, cost};
use crate::graphql::{caller, mirror_enum, shared, to_id};

/// Where a form stands: only a published form is shown and takes
/// submissions.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormStatus {
    Draft,
    Published,
    Archived,
}
mirror_enum!(FormStatus <=> FormStatusModel { Draft, Published, Archived });

/// What a form field asks for, and so which value it takes: TEXT,
/// TEXTAREA, EMAIL, PHONE and HIDDEN a string, NUMBER a number, DATE a
/// `YYYY-MM-DD` date, SELECT one of its options, MULTISELECT some of them,
/// CHECKBOX a yes/no, CONSENT a box that must be ticked when required (its
/// label is kept as the text agreed to).
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormFieldType {
    Text,
    Email,
    Phone,
    Number,
    Textarea,
    Select,
    Multiselect,
    Checkbox,
    Date,
    Hidden,
    Consent,
}
mirror_enum!(FormFieldType <=> FormFieldTypeModel {
    Text, Email, Phone, Number, Textarea, Select, Multiselect, Checkbox, Date, Hidden, Consent
});

/// What a submission does to the lead that already has its email.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormUpdatePolicy {
    /// Sets only what the lead does not have yet.
    FillBlanks,
    /// Replaces what the lead has with what was submitted.
    Overwrite,
}
mirror_enum!(FormUpdatePolicy <=> FormUpdatePolicyModel { FillBlanks, Overwrite });

/// Whether a submission made a lead or changed one.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubmissionOutcome {
    Created,
    Updated,
}
mirror_enum!(SubmissionOutcome <=> SubmissionOutcomeModel { Created, Updated });

/// Double opt-in: NONE when the form does not ask for it, PENDING until the
/// link in the confirmation email is followed, then CONFIRMED.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptInStatus {
    None,
    Pending,
    Confirmed,
}
mirror_enum!(OptInStatus <=> OptInStatusModel { None, Pending, Confirmed });

/// A choice of a select or multiselect field.
#[derive(
    SimpleObject, InputObject, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize,
)]
#[graphql(input_name = "FormFieldOptionInput")]
pub(crate) struct FormFieldOption {
    /// What is submitted and stored.
    pub value: String,
    /// What the visitor sees.
    pub label: String,
}

/// One field of a form, in display order.
#[derive(SimpleObject, Clone)]
pub(crate) struct FormField {
    pub id: ID,
    /// The name the value is posted under: `^[a-z][a-z0-9_]{0,62}$`, unique
    /// in the form.
    pub key: String,
    #[graphql(name = "type")]
    pub field_type: FormFieldType,
    pub label: String,
    pub placeholder: Option<String>,
    pub help_text: Option<String>,
    pub required: bool,
    pub options: Vec<FormFieldOption>,
    pub validation: CustomFieldValidation,
    /// The lead field the value goes to: a lead attribute (`email`,
    /// `firstName`, …) or `customFields.<key>`; null keeps the value on the
    /// submission only.
    pub maps_to: Option<String>,
    /// A hidden field's value, and a visible one's initial value.
    pub default_value: Option<String>,
    pub position: i32,
}

/// The stored options of a field.
pub(crate) fn options_of(field: &form_fields::Model) -> Vec<FormFieldOption> {
    serde_json::from_value(field.options.clone()).unwrap_or_default()
}

/// The stored rules of a field.
pub(crate) fn rules_of(field: &form_fields::Model) -> Rules {
    serde_json::from_value(field.validation.clone()).unwrap_or_default()
}

impl From<form_fields::Model> for FormField {
    fn from(field: form_fields::Model) -> Self {
        Self {
            id: to_id(field.id),
            options: options_of(&field),
            validation: rules_of(&field).into(),
            key: field.key,
            field_type: field.field_type.into(),
            label: field.label,
            placeholder: field.placeholder,
            help_text: field.help_text,
            required: field.required,
            maps_to: field.maps_to,
            default_value: field.default_value,
            position: field.position,
        }
    }
}

/// Where a published form is reached, with no sign-in.
#[derive(SimpleObject)]
pub(crate) struct FormUrls {
    /// `GET`: the form as JSON, for a page that draws its own.
    pub json: String,
    /// `GET`: the form as an HTML page (works without JavaScript), to link
    /// to or embed in an iframe.
    pub embed: String,
    /// `POST`: submissions (form-encoded, multipart or JSON).
    pub submit: String,
}

/// A public lead-capture form.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub(crate) struct Form {
    pub id: ID,
    /// Unique among your live forms, ignoring case.
    pub name: String,
    /// The heading shown above the fields.
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: FormStatus,
    /// The unguessable id in the form's public URLs.
    pub public_id: String,
    pub project_id: Option<ID>,
    /// Shown after a submission (unless `redirectUrl` is set).
    pub success_message: Option<String>,
    /// Where the visitor goes after a submission (http or https).
    pub redirect_url: Option<String>,
    /// Origins (`https://example.com`) whose pages may post the form from a
    /// browser; empty allows any.
    pub allowed_origins: Vec<String>,
    /// New submissions must confirm their address through a link emailed
    /// with `confirmationTemplateId` before the lead counts as opted in.
    pub double_opt_in: bool,
    pub confirmation_template_id: Option<ID>,
    /// The stage a new lead starts in (else the pipeline's default).
    pub stage_id: Option<ID>,
    /// The lead source of new leads (else one named after the page's
    /// `utm_source`, made on first use).
    pub source_id: Option<ID>,
    /// Tags every submission's lead gets.
    pub tags: Vec<String>,
    /// The owner of new leads; else they go round robin over
    /// `roundRobinOwnerIds`.
    pub owner_id: Option<ID>,
    pub round_robin_owner_ids: Vec<ID>,
    /// Members emailed about each submission.
    pub notify_user_ids: Vec<ID>,
    pub update_policy: FormUpdatePolicy,
    /// Submissions sent sooner after the form was drawn are dropped as
    /// bots (silently: the sender sees success).
    pub min_fill_seconds: i32,
    pub published_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[graphql(skip)]
    pub model: Arc<forms::Model>,
}

fn ids(value: &serde_json::Value) -> Vec<ID> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(|s| ID(s.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    serde_json::from_value(value.clone()).unwrap_or_default()
}

impl From<forms::Model> for Form {
    fn from(model: forms::Model) -> Self {
        Self {
            id: to_id(model.id),
            name: model.name.clone(),
            title: model.title.clone(),
            description: model.description.clone(),
            status: model.status.into(),
            public_id: model.public_id.clone(),
            project_id: model.project_id.map(to_id),
            success_message: model.success_message.clone(),
            redirect_url: model.redirect_url.clone(),
            allowed_origins: strings(&model.allowed_origins),
            double_opt_in: model.double_opt_in,
            confirmation_template_id: model.confirmation_template_id.map(to_id),
            stage_id: model.stage_id.map(to_id),
            source_id: model.source_id.map(to_id),
            tags: strings(&model.tags),
            owner_id: model.owner_id.map(to_id),
            round_robin_owner_ids: ids(&model.round_robin_owner_ids),
            notify_user_ids: ids(&model.notify_user_ids),
            update_policy: model.update_policy.into(),
            min_fill_seconds: model.min_fill_seconds,
            published_at: model.published_at.map(|at| at.to_utc()),
            created_at: model.created_at.to_utc(),
            updated_at: model.updated_at.to_utc(),
            model: Arc::new(model),
        }
    }
}

#[ComplexObject]
impl Form {
    /// The fields, in display order.
    async fn fields(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<FormField>> {
        let fields =
            crate::graphql::loaders::load_one::<super::FieldsOfFormLoader, _>(ctx, self.model.id)
                .await?
                .unwrap_or_default();
        Ok(fields.into_iter().map(FormField::from).collect())
    }

    async fn urls(&self, ctx: &Context<'_>) -> FormUrls {
        let base = format!(
            "{}/f/{}",
            shared(ctx).config.public_url(),
            self.model.public_id
        );
        FormUrls {
            json: base.clone(),
            embed: format!("{base}/embed"),
            submit: base,
        }
    }

    /// Views, submissions, conversion and spam dropped over a period
    /// (UTC days; the last 30 days by default).
    async fn stats(
        &self,
        ctx: &Context<'_>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<FormStats> {
        Ok(super::service::stats(shared(ctx), caller(ctx)?, self.model.id, from, to).await?)
    }

    /// The form's submissions, newest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn submissions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<RelayConnection<FormSubmission>> {
        let args = PageArgs::new(first, after, last, before);
        let filter = FormSubmissionFilter {
            form_id: Some(self.id.clone()),
            ..Default::default()
        };
        let (page, totals) =
            super::service::submissions(shared(ctx), caller(ctx)?, &args, filter).await?;
        Ok(connection(page, totals, |row| row.id, FormSubmission::from))
    }
}

/// A form's numbers over a period.
#[derive(SimpleObject)]
pub(crate) struct FormStats {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Times the form was drawn (its JSON or HTML fetched).
    pub views: Count,
    /// Submissions stored.
    pub submissions: Count,
    /// Submissions per view, 0–1 (0 with no views).
    pub conversion_rate: f64,
    /// Submissions dropped as bots (honeypot filled, sent too fast).
    pub spam_dropped: Count,
}

/// The UTM parameters of the page a submission came from.
#[derive(SimpleObject, Clone, Default)]
pub(crate) struct Utm {
    pub source: Option<String>,
    pub medium: Option<String>,
    pub campaign: Option<String>,
    pub term: Option<String>,
    pub content: Option<String>,
}

/// A submission of a public form.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub(crate) struct FormSubmission {
    pub id: ID,
    pub form_id: ID,
    pub lead_id: ID,
    pub outcome: SubmissionOutcome,
    /// The values as validated, by field key.
    pub data: Json<serde_json::Value>,
    pub page_url: Option<String>,
    pub referrer: Option<String>,
    pub utm: Utm,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The first-party visitor id of the page-view tracker, when sent.
    pub visitor_id: Option<String>,
    pub opt_in: OptInStatus,
    /// The consent proof: each consent field's text as shown, whether it
    /// was ticked, with the time and address of the submission.
    pub consent: Option<Json<serde_json::Value>>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub confirmed_ip: Option<String>,
    /// The double opt-in confirmation email.
    pub confirmation_message_id: Option<ID>,
    pub created_at: DateTime<Utc>,
}

impl From<form_submissions::Model> for FormSubmission {
    fn from(row: form_submissions::Model) -> Self {
        Self {
            id: to_id(row.id),
            form_id: to_id(row.form_id),
            lead_id: to_id(row.lead_id),
            outcome: row.outcome.into(),
            data: Json(row.data),
            page_url: row.page_url,
            referrer: row.referrer,
            utm: Utm {
                source: row.utm_source,
                medium: row.utm_medium,
                campaign: row.utm_campaign,
                term: row.utm_term,
                content: row.utm_content,
            },
            ip: row.ip,
            user_agent: row.user_agent,
            visitor_id: row.visitor_id,
            opt_in: row.opt_in.into(),
            consent: row.consent.map(Json),
            confirmed_at: row.confirmed_at.map(|at| at.to_utc()),
            confirmed_ip: row.confirmed_ip,
            confirmation_message_id: row.confirmation_message_id.map(to_id),
            created_at: row.created_at.to_utc(),
        }
    }
}

#[ComplexObject]
impl FormSubmission {
    async fn form(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Form>> {
        let id = crate::graphql::parse_id(&self.form_id, "formId")?;
        Ok(
            crate::graphql::loaders::load_by_id::<forms::Entity>(ctx, id)
                .await?
                .map(Form::from),
        )
    }

    /// The lead the submission created or updated (null once deleted).
    async fn lead(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<crate::crm::leads::Lead>> {
        let id = crate::graphql::parse_id(&self.lead_id, "leadId")?;
        Ok(
            crate::graphql::loaders::load_by_id::<entity::leads::Entity>(ctx, id)
                .await?
                .map(crate::crm::leads::Lead::from),
        )
    }
}

/// Which submissions to list; every field narrows.
#[derive(InputObject, Default)]
pub(crate) struct FormSubmissionFilter {
    pub form_id: Option<ID>,
    pub lead_id: Option<ID>,
    pub outcome: Option<SubmissionOutcome>,
    pub opt_in: Option<OptInStatus>,
    /// Submitted at or after.
    pub since: Option<DateTime<Utc>>,
    /// Submitted before.
    pub until: Option<DateTime<Utc>>,
    pub visitor_id: Option<String>,
}

/// A form field as given: its place is its place in the list.
#[derive(InputObject, Clone)]
pub(crate) struct FormFieldInput {
    pub key: String,
    #[graphql(name = "type")]
    pub field_type: FormFieldType,
    pub label: String,
    pub placeholder: Option<String>,
    pub help_text: Option<String>,
    pub required: Option<bool>,
    pub options: Option<Vec<FormFieldOption>>,
    pub validation: Option<CustomFieldValidationInput>,
    pub maps_to: Option<String>,
    pub default_value: Option<String>,
}

/// A new form (a draft unless `status` says otherwise).
#[derive(InputObject)]
pub(crate) struct CreateFormInput {
    /// 1 to 200 characters.
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: Option<FormStatus>,
    pub project_id: Option<ID>,
    /// At most 50; one must map to `email`.
    pub fields: Vec<FormFieldInput>,
    pub success_message: Option<String>,
    pub redirect_url: Option<String>,
    pub allowed_origins: Option<Vec<String>>,
    pub double_opt_in: Option<bool>,
    pub confirmation_template_id: Option<ID>,
    pub stage_id: Option<ID>,
    pub source_id: Option<ID>,
    pub tags: Option<Vec<String>>,
    pub owner_id: Option<ID>,
    pub round_robin_owner_ids: Option<Vec<ID>>,
    pub notify_user_ids: Option<Vec<ID>>,
    pub update_policy: Option<FormUpdatePolicy>,
    /// 0 to 3600; 3 by default.
    pub min_fill_seconds: Option<i32>,
}

/// Changes to a form; absent fields stay, `null` clears. `fields`, when
/// given, replaces every field.
#[derive(InputObject, Default)]
pub(crate) struct UpdateFormInput {
    pub name: Option<String>,
    pub title: MaybeUndefined<String>,
    pub description: MaybeUndefined<String>,
    pub status: Option<FormStatus>,
    pub project_id: MaybeUndefined<ID>,
    pub fields: Option<Vec<FormFieldInput>>,
    pub success_message: MaybeUndefined<String>,
    pub redirect_url: MaybeUndefined<String>,
    pub allowed_origins: Option<Vec<String>>,
    pub double_opt_in: Option<bool>,
    pub confirmation_template_id: MaybeUndefined<ID>,
    pub stage_id: MaybeUndefined<ID>,
    pub source_id: MaybeUndefined<ID>,
    pub tags: Option<Vec<String>>,
    pub owner_id: MaybeUndefined<ID>,
    pub round_robin_owner_ids: Option<Vec<ID>>,
    pub notify_user_ids: Option<Vec<ID>>,
    pub update_policy: Option<FormUpdatePolicy>,
    pub min_fill_seconds: Option<i32>,
}
