//! A form's fields: checked when the form is saved (each field's type,
//! options and rules, and what it maps to on the lead), and the values of a
//! submission read by them.
//!
//! Values have the kinds of custom field values (text, number, date,
//! boolean, select, multiselect), so one set of rules checks both
//! (`custom_fields::validate::check_typed_value`), and a value mapped to a
//! lead then passes `createLead`'s own rules as well.

use std::collections::{BTreeMap, HashSet};

use async_graphql::{Name, Value};
use entity::custom_field_definitions;
use entity::form_fields;
use entity::sea_orm_active_enums::{CustomFieldType, FormFieldType};
use serde_json::Value as Json;

use super::types::{FormFieldInput, FormFieldOption, options_of, rules_of};
use crate::attributes::ScoreKind;
use crate::crm::custom_fields::service::parse_rules;
use crate::crm::custom_fields::validate::{Rules, check_typed_value};
use crate::crm::imports::mapping::{attribute, typed, typed_custom};
use crate::domain::{EmailAddress, optional_text, required_text};
use crate::error::{AppError, AppResult};

/// Most fields a form has.
pub(crate) const MAX_FIELDS: usize = 50;
const MAX_OPTIONS: usize = 200;
const MAX_LABEL_CHARS: usize = 500;
const MAX_SHORT_CHARS: usize = 200;
const MAX_HELP_CHARS: usize = 1_000;
/// Longest value of a one-line field; a textarea takes the custom field
/// maximum.
const MAX_LINE_CHARS: usize = 1_000;
/// The prefix of a custom field target.
const CUSTOM: &str = "customFields.";

/// The kind of value a field of `field_type` holds.
pub(crate) fn value_kind(field_type: &FormFieldType) -> CustomFieldType {
    match field_type {
        FormFieldType::Text
        | FormFieldType::Email
        | FormFieldType::Phone
        | FormFieldType::Textarea
        | FormFieldType::Hidden => CustomFieldType::Text,
        FormFieldType::Number => CustomFieldType::Number,
        FormFieldType::Date => CustomFieldType::Date,
        FormFieldType::Checkbox | FormFieldType::Consent => CustomFieldType::Boolean,
        FormFieldType::Select => CustomFieldType::Select,
        FormFieldType::Multiselect => CustomFieldType::Multiselect,
    }
}

/// A field as it will be stored.
#[derive(Debug)]
pub(crate) struct CheckedField {
    pub key: String,
    pub field_type: FormFieldType,
    pub label: String,
    pub placeholder: Option<String>,
    pub help_text: Option<String>,
    pub required: bool,
    pub options: Vec<FormFieldOption>,
    pub rules: Rules,
    pub maps_to: Option<String>,
    pub default_value: Option<String>,
}

/// Checks a form's fields against each other and the lead's fields and
/// custom field `definitions` (of leads). Errors name `{path}.{index}.…`.
pub(crate) fn check_fields(
    inputs: Vec<FormFieldInput>,
    definitions: &[custom_field_definitions::Model],
    path: &str,
) -> AppResult<Vec<CheckedField>> {
    if inputs.len() > MAX_FIELDS {
        return Err(AppError::invalid(
            path,
            format!("at most {MAX_FIELDS} fields"),
        ));
    }
    let mut keys = HashSet::new();
    let mut targets = HashSet::new();
    let mut checked = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.into_iter().enumerate() {
        let at = |name: &str| format!("{path}.{index}.{name}");
        let field = check_field(input, definitions, &format!("{path}.{index}"))?;
        if !keys.insert(field.key.clone()) {
            return Err(AppError::invalid(at("key"), "another field has this key"));
        }
        if let Some(target) = &field.maps_to
            && !targets.insert(target.clone())
        {
            return Err(AppError::invalid(
                at("mapsTo"),
                "another field maps to this lead field",
            ));
        }
        checked.push(field);
    }
    // A submission finds its lead by email.
    let email = checked
        .iter()
        .position(|f| f.maps_to.as_deref() == Some("email"));
    match email {
        None => Err(AppError::invalid(
            path,
            "one field must map to email: a submission finds or creates its lead by email",
        )),
        Some(i) if !checked[i].required => Err(AppError::invalid(
            format!("{path}.{i}.required"),
            "the field mapped to email must be required",
        )),
        Some(_) => Ok(checked),
    }
}

fn check_field(
    input: FormFieldInput,
    definitions: &[custom_field_definitions::Model],
    path: &str,
) -> AppResult<CheckedField> {
    let at = |name: &str| format!("{path}.{name}");
    let key = input.key.trim().to_owned();
    let valid_key = key.len() <= 63
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid_key {
        return Err(AppError::invalid(
            at("key"),
            "must match ^[a-z][a-z0-9_]{0,62}$",
        ));
    }
    let field_type: FormFieldType = input.field_type.into();
    let kind = value_kind(&field_type);
    let options = check_options(input.options.unwrap_or_default(), kind, &at("options"))?;
    let rules = match input.validation {
        Some(validation) => parse_rules(kind, validation, &at("validation"))?,
        None => Rules::default(),
    };
    let field = CheckedField {
        label: required_text(&input.label, &at("label"), MAX_LABEL_CHARS)?,
        placeholder: optional_text(input.placeholder, &at("placeholder"), MAX_SHORT_CHARS)?,
        help_text: optional_text(input.help_text, &at("helpText"), MAX_HELP_CHARS)?,
        required: input.required.unwrap_or(false),
        default_value: optional_text(input.default_value, &at("defaultValue"), MAX_LINE_CHARS)?,
        maps_to: input
            .maps_to
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty()),
        key,
        field_type,
        options,
        rules,
    };
    if let Some(default) = &field.default_value {
        read_one(
            &field_view(&field),
            std::slice::from_ref(default),
            &at("defaultValue"),
        )?;
    }
    if field.field_type == FormFieldType::Hidden && field.required && field.default_value.is_none()
    {
        return Err(AppError::invalid(
            at("defaultValue"),
            "a required hidden field needs a default value",
        ));
    }
    if let Some(target) = &field.maps_to {
        check_target(&field, target, definitions, &at("mapsTo"))?;
    }
    Ok(field)
}

fn check_options(
    options: Vec<FormFieldOption>,
    kind: CustomFieldType,
    path: &str,
) -> AppResult<Vec<FormFieldOption>> {
    let choices = matches!(kind, CustomFieldType::Select | CustomFieldType::Multiselect);
    if !choices {
        return if options.is_empty() {
            Ok(options)
        } else {
            Err(AppError::invalid(
                path,
                "only SELECT and MULTISELECT fields have options",
            ))
        };
    }
    if options.is_empty() || options.len() > MAX_OPTIONS {
        return Err(AppError::invalid(
            path,
            format!("a choice field needs 1 to {MAX_OPTIONS} options"),
        ));
    }
    let mut seen = HashSet::new();
    options
        .into_iter()
        .enumerate()
        .map(|(i, option)| {
            let value =
                required_text(&option.value, &format!("{path}.{i}.value"), MAX_SHORT_CHARS)?;
            if !seen.insert(value.clone()) {
                return Err(AppError::invalid(
                    format!("{path}.{i}.value"),
                    "another option has this value",
                ));
            }
            Ok(FormFieldOption {
                label: required_text(&option.label, &format!("{path}.{i}.label"), MAX_SHORT_CHARS)?,
                value,
            })
        })
        .collect()
}

/// Whether the field's values fit the lead field it maps to.
fn check_target(
    field: &CheckedField,
    target: &str,
    definitions: &[custom_field_definitions::Model],
    path: &str,
) -> AppResult<()> {
    let kind = value_kind(&field.field_type);
    let values: Vec<&str> = field.options.iter().map(|o| o.value.as_str()).collect();
    if let Some(key) = target.strip_prefix(CUSTOM) {
        let definition = definitions.iter().find(|d| d.key == key).ok_or_else(|| {
            AppError::invalid(path, format!("no custom field of leads has the key {key}"))
        })?;
        let fits = kind == definition.field_type
            || (kind == CustomFieldType::Select && definition.field_type == CustomFieldType::Text);
        if !fits {
            return Err(AppError::invalid(
                path,
                format!(
                    "custom field {key} holds {:?} values; a {:?} field cannot fill it",
                    definition.field_type, field.field_type
                ),
            ));
        }
        let allowed = crate::crm::custom_fields::validate::options_of(definition);
        if matches!(
            definition.field_type,
            CustomFieldType::Select | CustomFieldType::Multiselect
        ) && let Some(bad) = values.iter().find(|v| !allowed.iter().any(|a| a == *v))
        {
            return Err(AppError::invalid(
                path,
                format!(
                    "option {bad} is not an option of custom field {key} ({})",
                    allowed.join(", ")
                ),
            ));
        }
        return Ok(());
    }
    let Some(attribute) = attribute(target) else {
        return Err(AppError::invalid(
            path,
            format!(
                "{target} is not a lead field (use a lead attribute such as email or firstName, or customFields.<key>)"
            ),
        ));
    };
    let fits = match attribute.kind {
        ScoreKind::Text => matches!(kind, CustomFieldType::Text | CustomFieldType::Select),
        ScoreKind::Number => kind == CustomFieldType::Number,
        ScoreKind::Bool => kind == CustomFieldType::Boolean,
        ScoreKind::Choice(spellings) => {
            let spellings = spellings();
            if kind != CustomFieldType::Select {
                false
            } else if let Some(bad) = values.iter().find(|v| typed(attribute.kind, v).is_err()) {
                return Err(AppError::invalid(
                    path,
                    format!(
                        "option {bad} is not a value of {target} ({})",
                        spellings.join(", ")
                    ),
                ));
            } else {
                true
            }
        }
    };
    let email_only = target == "email" && field.field_type != FormFieldType::Email;
    if !fits || email_only {
        return Err(AppError::invalid(
            path,
            format!(
                "a {:?} field cannot fill the lead's {target}",
                field.field_type
            ),
        ));
    }
    Ok(())
}

/// The parts of a field that reading a value needs (stored or being saved).
pub(crate) struct FieldView<'a> {
    pub field_type: &'a FormFieldType,
    pub required: bool,
    pub options: Vec<String>,
    pub rules: Rules,
}

fn field_view(field: &CheckedField) -> FieldView<'_> {
    FieldView {
        field_type: &field.field_type,
        required: field.required,
        options: field.options.iter().map(|o| o.value.clone()).collect(),
        rules: field.rules.clone(),
    }
}

pub(crate) fn stored_view(field: &form_fields::Model) -> FieldView<'_> {
    FieldView {
        field_type: &field.field_type,
        required: field.required,
        options: options_of(field).into_iter().map(|o| o.value).collect(),
        rules: rules_of(field),
    }
}

/// A field's value from what was posted (`given`: every value posted under
/// its key, trimmed by the caller); `Json::Null` when none was given.
/// Errors name `path`.
pub(crate) fn read_one(field: &FieldView, given: &[String], path: &str) -> AppResult<Json> {
    let kind = value_kind(field.field_type);
    let present: Vec<&String> = given.iter().filter(|v| !v.is_empty()).collect();
    let value = match kind {
        CustomFieldType::Multiselect => Json::Array(
            present
                .iter()
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| Json::String(v.to_owned()))
                .collect(),
        ),
        CustomFieldType::Boolean => match present.first() {
            // An unticked box is not posted at all.
            None => Json::Bool(false),
            Some(text) => match text.to_lowercase().as_str() {
                "on" | "true" | "yes" | "1" => Json::Bool(true),
                "off" | "false" | "no" | "0" => Json::Bool(false),
                _ => return Err(AppError::invalid(path, "must be ticked or not")),
            },
        },
        _ => match present.as_slice() {
            [] => Json::Null,
            [one] => typed_custom(kind, one).map_err(|message| AppError::invalid(path, message))?,
            _ => return Err(AppError::invalid(path, "takes one value")),
        },
    };
    let blank = match &value {
        Json::Null => true,
        Json::Bool(ticked) => !ticked,
        Json::Array(items) => items.is_empty(),
        _ => false,
    };
    if blank {
        return if field.required {
            Err(AppError::invalid(
                path,
                if kind == CustomFieldType::Boolean {
                    "must be ticked"
                } else {
                    "is required"
                },
            ))
        } else {
            Ok(if kind == CustomFieldType::Boolean {
                value
            } else {
                Json::Null
            })
        };
    }
    if let Json::String(text) = &value {
        let max = if *field.field_type == FormFieldType::Textarea {
            crate::crm::custom_fields::validate::MAX_TEXT_CHARS
        } else {
            MAX_LINE_CHARS
        };
        if text.chars().count() > max {
            return Err(AppError::invalid(
                path,
                format!("must be at most {max} characters"),
            ));
        }
        match field.field_type {
            FormFieldType::Email => {
                let email = EmailAddress::parse(text, path)?;
                return Ok(Json::String(email.into_inner()));
            }
            FormFieldType::Phone if !plausible_phone(text) => {
                return Err(AppError::invalid(path, "is not a phone number"));
            }
            _ => {}
        }
    }
    check_typed_value(kind, &field.rules, &field.options, &value, path)?;
    Ok(value)
}

/// Digits with the usual separators, 5 to 20 of them.
fn plausible_phone(text: &str) -> bool {
    let digits = text.chars().filter(char::is_ascii_digit).count();
    (5..=20).contains(&digits)
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().\u{a0}/".contains(c))
}

/// What a submission's values do to the lead: attributes for `createLead`
/// (GraphQL input values) and custom field values, and which form field
/// each lead field came from (to name it in errors).
#[derive(Default)]
pub(crate) struct LeadValues {
    pub attributes: async_graphql::indexmap::IndexMap<Name, Value>,
    pub custom_fields: serde_json::Map<String, Json>,
    /// Lead field (`email`, `customFields.size`) → form field key.
    pub sources: BTreeMap<String, String>,
}

/// The mapped values of a submission as lead fields. `values` are the
/// fields' values read by [`read_one`].
pub(crate) fn lead_values(
    fields: &[form_fields::Model],
    values: &BTreeMap<String, Json>,
) -> AppResult<LeadValues> {
    let mut lead = LeadValues::default();
    for field in fields {
        let (Some(target), Some(value)) = (&field.maps_to, values.get(&field.key)) else {
            continue;
        };
        if value.is_null() {
            continue;
        }
        let path = format!("fields.{}", field.key);
        lead.sources.insert(target.clone(), field.key.clone());
        if let Some(key) = target.strip_prefix(CUSTOM) {
            lead.custom_fields.insert(key.to_owned(), value.clone());
            continue;
        }
        let attribute = attribute(target).ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("form field {} maps to {target}", field.key))
        })?;
        let text = match value {
            Json::String(s) => s.clone(),
            Json::Bool(b) => b.to_string(),
            // Whole numbers as integers (`3`, not `3.0`): lead numbers are.
            Json::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .map_or_else(|| n.to_string(), |i| i.to_string()),
            other => other.to_string(),
        };
        let typed =
            typed(attribute.kind, &text).map_err(|message| AppError::invalid(&path, message))?;
        lead.attributes.insert(Name::new(target), typed);
    }
    Ok(lead)
}
