//! Checking custom field values against the tenant's definitions.
//!
//! `check` is pure (definitions in, verdict out) so every rule is unit
//! tested; `validate` loads the definitions and merges a patch onto the
//! stored values first. Errors name the failing value's input path
//! (`input.customFields.budget`), so a client can point at the form field.

use chrono::NaiveDate;
use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use entity::custom_field_definitions;
use entity::sea_orm_active_enums::{CustomFieldEntity, CustomFieldType};

use crate::error::{AppError, AppResult};
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::scoped;

/// Longest text value, whatever the definition allows: custom fields are for
/// short facts, not documents (notes are for those).
pub(crate) const MAX_TEXT_CHARS: usize = 10_000;

/// Size limit of a compiled pattern: a definition cannot make every write
/// slow (matching itself is linear time with the `regex` crate).
pub(crate) const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The stored `validation` object of a definition.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Rules {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

impl Rules {
    /// Reads a definition's stored rules; anything unreadable counts as none.
    pub(crate) fn of(definition: &custom_field_definitions::Model) -> Self {
        serde_json::from_value(definition.validation.clone()).unwrap_or_default()
    }
}

/// The allowed values of a select or multiselect definition.
pub(crate) fn options_of(definition: &custom_field_definitions::Model) -> Vec<String> {
    definition
        .options
        .as_array()
        .map(|values| {
            values
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The tenant's definitions for `entity`, in display order.
pub(crate) async fn definitions(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    entity: CustomFieldEntity,
) -> AppResult<Vec<custom_field_definitions::Model>> {
    Ok(scoped::<custom_field_definitions::Entity>(ctx)
        .filter(custom_field_definitions::Column::Entity.eq(entity))
        .order_by_asc(custom_field_definitions::Column::Position)
        .order_by_asc(custom_field_definitions::Column::Id)
        .all(conn)
        .await?)
}

/// Checks `patch` (a JSON object; `null` removes a key) overlaid on
/// `previous` against the tenant's `entity` definitions, and returns the
/// merged object to store. Errors name `"{field_prefix}.{key}"`.
///
/// Stored keys whose definition has since been deleted are dropped rather
/// than reported: the client could not fix them.
pub(crate) async fn validate(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    entity: CustomFieldEntity,
    patch: &Value,
    previous: Option<&Value>,
    field_prefix: &str,
) -> AppResult<Value> {
    let Some(patch) = patch.as_object() else {
        return Err(AppError::invalid(field_prefix, "must be a JSON object"));
    };
    let definitions = definitions(conn, ctx, entity).await?;
    validate_with(&definitions, patch, previous, field_prefix)
}

/// [`validate`] against definitions already read (a batch reads them once).
pub(crate) fn validate_with(
    definitions: &[custom_field_definitions::Model],
    patch: &Map<String, Value>,
    previous: Option<&Value>,
    field_prefix: &str,
) -> AppResult<Value> {
    let merged = merge(definitions, patch, previous);
    check(definitions, &merged, field_prefix)?;
    Ok(Value::Object(merged))
}

fn merge(
    definitions: &[custom_field_definitions::Model],
    patch: &Map<String, Value>,
    previous: Option<&Value>,
) -> Map<String, Value> {
    let mut merged: Map<String, Value> = previous
        .and_then(Value::as_object)
        .map(|stored| {
            stored
                .iter()
                .filter(|(key, _)| definitions.iter().any(|d| &d.key == *key))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect()
        })
        .unwrap_or_default();
    for (key, value) in patch {
        if value.is_null() {
            merged.remove(key);
        } else {
            merged.insert(key.clone(), value.clone());
        }
    }
    merged
}

/// Checks `merged` (the values as they would be stored) against
/// `definitions` (of one entity): every key is defined, every value has its
/// definition's type and passes its rules, and required fields are present.
pub(crate) fn check(
    definitions: &[custom_field_definitions::Model],
    merged: &Map<String, Value>,
    field_prefix: &str,
) -> AppResult<()> {
    let path = |key: &str| format!("{field_prefix}.{key}");
    for (key, value) in merged {
        let definition = definitions
            .iter()
            .find(|d| &d.key == key)
            .ok_or_else(|| AppError::invalid(path(key), "is not a defined custom field"))?;
        if !value.is_null() {
            check_value(definition, value, &path(key))?;
        }
    }
    for definition in definitions.iter().filter(|d| d.required) {
        if merged.get(&definition.key).is_none_or(is_blank) {
            return Err(AppError::invalid(path(&definition.key), "is required"));
        }
    }
    Ok(())
}

/// Absent for the purpose of `required`: null, an empty string, an empty list.
fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

fn check_value(
    definition: &custom_field_definitions::Model,
    value: &Value,
    field: &str,
) -> AppResult<()> {
    check_typed_value(
        definition.field_type,
        &Rules::of(definition),
        &options_of(definition),
        value,
        field,
    )
}

/// Checks one value of type `field_type` against `rules` and, for select
/// and multiselect, `options`: the rules of a custom field, and of a public
/// form's field (which has the same kinds of value).
pub(crate) fn check_typed_value(
    field_type: CustomFieldType,
    rules: &Rules,
    options: &[String],
    value: &Value,
    field: &str,
) -> AppResult<()> {
    let invalid = |message: String| Err(AppError::invalid(field, message));
    match field_type {
        CustomFieldType::Text => {
            let Some(text) = value.as_str() else {
                return invalid("must be text".into());
            };
            let length = text.chars().count();
            let max = rules
                .max_length
                .map_or(MAX_TEXT_CHARS, |m| (m as usize).min(MAX_TEXT_CHARS));
            if let Some(min) = rules.min_length
                && length < min as usize
            {
                return invalid(format!("must be at least {min} characters"));
            }
            if length > max {
                return invalid(format!("must be at most {max} characters"));
            }
            if let Some(pattern) = &rules.regex {
                let regex = regex::RegexBuilder::new(pattern)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| AppError::internal(anyhow::anyhow!("stored pattern: {e}")))?;
                if !regex.is_match(text) {
                    return invalid(format!("must match the pattern {pattern}"));
                }
            }
        }
        CustomFieldType::Number => {
            let Some(number) = value.as_f64().filter(|_| value.is_number()) else {
                return invalid("must be a number".into());
            };
            if let Some(min) = rules.min
                && number < min
            {
                return invalid(format!("must be at least {min}"));
            }
            if let Some(max) = rules.max
                && number > max
            {
                return invalid(format!("must be at most {max}"));
            }
        }
        CustomFieldType::Date => {
            if !value.as_str().is_some_and(is_iso_date) {
                return invalid("must be a date written YYYY-MM-DD".into());
            }
        }
        CustomFieldType::Boolean => {
            if !value.is_boolean() {
                return invalid("must be true or false".into());
            }
        }
        CustomFieldType::Select => {
            if !value
                .as_str()
                .is_some_and(|v| options.iter().any(|o| o == v))
            {
                return invalid(format!("must be one of: {}", options.join(", ")));
            }
        }
        CustomFieldType::Multiselect => {
            let Some(items) = value.as_array() else {
                return invalid("must be a list of options".into());
            };
            let mut seen: Vec<&str> = Vec::with_capacity(items.len());
            for item in items {
                let Some(item) = item.as_str().filter(|v| options.iter().any(|o| o == v)) else {
                    return invalid(format!(
                        "must list only these options: {}",
                        options.join(", ")
                    ));
                };
                if seen.contains(&item) {
                    return invalid(format!("lists {item} twice"));
                }
                seen.push(item);
            }
        }
    }
    Ok(())
}

/// `YYYY-MM-DD` and a day that exists (no 2023-02-29).
fn is_iso_date(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit())
        && NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use uuid::Uuid;

    use super::*;

    fn definition(key: &str, field_type: CustomFieldType) -> custom_field_definitions::Model {
        let now = chrono::Utc::now().fixed_offset();
        custom_field_definitions::Model {
            tenant_id: Uuid::nil(),
            id: Uuid::now_v7(),
            entity: CustomFieldEntity::Company,
            key: key.to_owned(),
            label: key.to_owned(),
            field_type,
            required: false,
            options: json!([]),
            validation: json!({}),
            position: 0,
            created_at: now,
            updated_at: now,
        }
    }

    fn with_rules(
        mut definition: custom_field_definitions::Model,
        rules: Value,
    ) -> custom_field_definitions::Model {
        definition.validation = rules;
        definition
    }

    fn with_options(
        mut definition: custom_field_definitions::Model,
        options: &[&str],
    ) -> custom_field_definitions::Model {
        definition.options = json!(options);
        definition
    }

    fn required(
        mut definition: custom_field_definitions::Model,
    ) -> custom_field_definitions::Model {
        definition.required = true;
        definition
    }

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().expect("an object").clone()
    }

    /// The field the error names, or None when the values pass.
    fn failing_field(defs: &[custom_field_definitions::Model], values: Value) -> Option<String> {
        match check(defs, &object(values), "input.customFields") {
            Ok(()) => None,
            Err(AppError::BadUserInput { field, .. }) => Some(field),
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn unknown_keys_are_refused_naming_the_key() {
        let defs = [definition("tier", CustomFieldType::Text)];
        assert_eq!(
            failing_field(&defs, json!({ "tier": "gold", "colour": "red" })).as_deref(),
            Some("input.customFields.colour")
        );
        assert_eq!(failing_field(&[], json!({})), None);
    }

    #[test]
    fn text_checks_type_lengths_and_pattern() {
        let defs = [with_rules(
            definition("code", CustomFieldType::Text),
            json!({ "minLength": 2, "maxLength": 4, "regex": "^[A-Z]+$" }),
        )];
        assert_eq!(failing_field(&defs, json!({ "code": "ABC" })), None);
        for bad in [
            json!("A"),
            json!("ABCDE"),
            json!("abc"),
            json!(12),
            json!(true),
        ] {
            assert_eq!(
                failing_field(&defs, json!({ "code": bad })).as_deref(),
                Some("input.customFields.code"),
                "accepted {bad}"
            );
        }
    }

    #[test]
    fn text_lengths_count_characters_not_bytes() {
        let defs = [with_rules(
            definition("name", CustomFieldType::Text),
            json!({ "maxLength": 3 }),
        )];
        assert_eq!(failing_field(&defs, json!({ "name": "äöü" })), None);
        assert!(failing_field(&defs, json!({ "name": "äöüß" })).is_some());
    }

    #[test]
    fn text_has_an_overall_cap() {
        let defs = [definition("bio", CustomFieldType::Text)];
        let long = "x".repeat(MAX_TEXT_CHARS + 1);
        assert!(failing_field(&defs, json!({ "bio": long })).is_some());
        let fits = "x".repeat(MAX_TEXT_CHARS);
        assert_eq!(failing_field(&defs, json!({ "bio": fits })), None);
    }

    #[test]
    fn numbers_must_be_json_numbers_within_bounds() {
        let defs = [with_rules(
            definition("employees", CustomFieldType::Number),
            json!({ "min": 1, "max": 10.5 }),
        )];
        for ok in [json!(1), json!(10.5), json!(3.25)] {
            assert_eq!(failing_field(&defs, json!({ "employees": ok })), None);
        }
        for bad in [json!(0), json!(10.6), json!("5"), json!(false), json!([1])] {
            assert!(
                failing_field(&defs, json!({ "employees": bad })).is_some(),
                "accepted {bad}"
            );
        }
    }

    #[test]
    fn dates_are_real_iso_days() {
        let defs = [definition("founded", CustomFieldType::Date)];
        for ok in ["2024-02-29", "1999-12-31"] {
            assert_eq!(failing_field(&defs, json!({ "founded": ok })), None);
        }
        for bad in [
            json!("2023-02-29"),
            json!("2024-13-01"),
            json!("2024-1-05"),
            json!("05/01/2024"),
            json!("2024-01-05T00:00:00Z"),
            json!(20240105),
        ] {
            assert!(
                failing_field(&defs, json!({ "founded": bad })).is_some(),
                "accepted {bad}"
            );
        }
    }

    #[test]
    fn booleans_are_json_booleans() {
        let defs = [definition("partner", CustomFieldType::Boolean)];
        assert_eq!(failing_field(&defs, json!({ "partner": false })), None);
        for bad in [json!("true"), json!(1)] {
            assert!(failing_field(&defs, json!({ "partner": bad })).is_some());
        }
    }

    #[test]
    fn select_takes_one_of_its_options() {
        let defs = [with_options(
            definition("tier", CustomFieldType::Select),
            &["gold", "silver"],
        )];
        assert_eq!(failing_field(&defs, json!({ "tier": "gold" })), None);
        for bad in [json!("bronze"), json!("Gold"), json!(["gold"])] {
            assert!(failing_field(&defs, json!({ "tier": bad })).is_some());
        }
    }

    #[test]
    fn multiselect_takes_distinct_options() {
        let defs = [with_options(
            definition("channels", CustomFieldType::Multiselect),
            &["email", "phone", "sms"],
        )];
        for ok in [json!([]), json!(["sms", "email"])] {
            assert_eq!(failing_field(&defs, json!({ "channels": ok })), None);
        }
        for bad in [
            json!("email"),
            json!(["email", "email"]),
            json!(["fax"]),
            json!([1]),
        ] {
            assert_eq!(
                failing_field(&defs, json!({ "channels": bad })).as_deref(),
                Some("input.customFields.channels"),
                "accepted {bad}"
            );
        }
    }

    #[test]
    fn required_fields_must_be_present_and_not_blank() {
        let defs = [
            required(definition("owner", CustomFieldType::Text)),
            required(with_options(
                definition("tags", CustomFieldType::Multiselect),
                &["a"],
            )),
            definition("note", CustomFieldType::Text),
        ];
        assert_eq!(
            failing_field(&defs, json!({ "tags": ["a"] })).as_deref(),
            Some("input.customFields.owner")
        );
        assert_eq!(
            failing_field(&defs, json!({ "owner": " ", "tags": ["a"] })).as_deref(),
            Some("input.customFields.owner")
        );
        assert_eq!(
            failing_field(&defs, json!({ "owner": "Ada", "tags": [] })).as_deref(),
            Some("input.customFields.tags")
        );
        assert_eq!(
            failing_field(&defs, json!({ "owner": "Ada", "tags": ["a"] })),
            None
        );
    }

    #[test]
    fn merge_overlays_the_patch_removes_nulls_and_drops_undefined_keys() {
        let defs = [
            definition("a", CustomFieldType::Text),
            definition("b", CustomFieldType::Text),
            definition("c", CustomFieldType::Text),
        ];
        let previous = json!({ "a": "old", "b": "keep", "gone": "stale" });
        let patch = object(json!({ "a": "new", "b": null, "c": "added", "x": null }));

        let merged = merge(&defs, &patch, Some(&previous));

        assert_eq!(Value::Object(merged), json!({ "a": "new", "c": "added" }));
    }

    #[test]
    fn merge_starts_empty_without_previous_values() {
        let defs = [definition("a", CustomFieldType::Text)];
        let merged = merge(&defs, &object(json!({ "a": "x" })), None);
        assert_eq!(Value::Object(merged), json!({ "a": "x" }));
    }

    #[test]
    fn rules_read_back_what_was_stored() {
        let rules = Rules {
            min: Some(1.0),
            max_length: Some(3),
            ..Rules::default()
        };
        let stored = serde_json::to_value(&rules).unwrap();
        assert_eq!(stored, json!({ "min": 1.0, "maxLength": 3 }));
        let def = with_rules(definition("x", CustomFieldType::Text), stored);
        assert_eq!(Rules::of(&def), rules);
    }
}
