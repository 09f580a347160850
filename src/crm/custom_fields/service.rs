//! Defining, changing and removing custom fields. Admins only: a definition
//! changes what every member may write. An entity's fields keep positions
//! 0..n: inserting or moving one shifts the others, deleting one closes up.

use chrono::Utc;
use sea_orm::sea_query::{Alias, Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, IntoActiveModel, QueryFilter, Set,
};
use uuid::Uuid;

use entity::custom_field_definitions;
use entity::sea_orm_active_enums::{CustomFieldEntity, CustomFieldType};

use super::types::{
    CreateCustomFieldDefinitionInput, CustomFieldDefinition, CustomFieldValidationInput,
    UpdateCustomFieldDefinitionInput,
};
use super::validate::{REGEX_SIZE_LIMIT, Rules, definitions, options_of};
use crate::domain::required_text;
use crate::error::on_unique;
use crate::error::{AppError, AppResult};
use crate::graphql::keyset::{KeyOrder, KeyValue, SortKey, connection_by_keys};
use crate::graphql::pagination::{PageArgs, RelayConnection};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin_write, find_owned, scoped, tenant_delete, tenant_update};

const MAX_OPTIONS: usize = 200;
const MAX_OPTION_CHARS: usize = 200;
const MAX_REGEX_CHARS: usize = 1_000;
const DUPLICATE_KEY: &str = "a custom field with this key already exists";

/// Display order: lead fields before company fields (as text, so both
/// backends agree), then by position, then id.
fn order() -> KeyOrder<custom_field_definitions::Model> {
    use custom_field_definitions::Column;
    KeyOrder(vec![
        SortKey::ascending(
            Expr::col(Column::Entity).cast_as(Alias::new("text")),
            KeyValue::Text(String::new()),
            |field| {
                KeyValue::Text(
                    match field.entity {
                        CustomFieldEntity::Lead => "lead",
                        CustomFieldEntity::Company => "company",
                    }
                    .to_owned(),
                )
            },
        ),
        SortKey::ascending(Expr::col(Column::Position), KeyValue::Int(0), |field| {
            KeyValue::Int(field.position.into())
        }),
        SortKey::ascending(Expr::col(Column::Id), KeyValue::Id(Uuid::nil()), |field| {
            KeyValue::Id(field.id)
        }),
    ])
}

/// One page of the tenant's definitions, for one entity or all, in display
/// order. Any member.
pub(super) async fn list(
    shared: &Shared,
    ctx: &RequestCtx,
    entity: Option<CustomFieldEntity>,
    args: &PageArgs,
) -> AppResult<RelayConnection<CustomFieldDefinition>> {
    let mut select = scoped::<custom_field_definitions::Entity>(ctx);
    if let Some(entity) = entity {
        select = select.filter(custom_field_definitions::Column::Entity.eq(entity));
    }
    connection_by_keys(
        shared,
        ctx,
        select,
        order(),
        args,
        CustomFieldDefinition::from,
    )
    .await
}

pub(super) async fn create(
    shared: &Shared,
    ctx: &RequestCtx,
    input: CreateCustomFieldDefinitionInput,
) -> AppResult<custom_field_definitions::Model> {
    ctx.require_admin()?;
    let entity = CustomFieldEntity::from(input.entity);
    let field_type = CustomFieldType::from(input.field_type);
    let key = parse_key(&input.key, "input.key")?;
    let label = required_text(&input.label, "input.label", 200)?;
    let options = parse_options(field_type, input.options, "input.options")?;
    let rules = parse_rules(
        field_type,
        input.validation.unwrap_or_default(),
        "input.validation",
    )?;
    let position = input
        .position
        .map(|p| parse_position(p, "input.position"))
        .transpose()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let siblings = definitions(&txn, ctx, entity).await?;
    if siblings.iter().any(|d| d.key == key) {
        return Err(AppError::invalid(
            "input.key",
            format!("is already used by another {} field", entity_name(entity)),
        ));
    }
    let id = Uuid::now_v7();
    let mut order: Vec<Uuid> = siblings.iter().map(|d| d.id).collect();
    let index = position.map_or(order.len(), |p| p.min(order.len()));
    order.insert(index, id);
    let now = Utc::now().fixed_offset();
    let definition = custom_field_definitions::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        id: Set(id),
        entity: Set(entity),
        key: Set(key),
        label: Set(label),
        field_type: Set(field_type),
        required: Set(input.required.unwrap_or(false)),
        options: Set(serde_json::json!(options)),
        validation: Set(rules_json(&rules)),
        position: Set(to_position(index)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(|e| on_unique(e, Some("input.key"), DUPLICATE_KEY))?;
    renumber(&txn, ctx, &siblings, &order).await?;
    txn.commit().await?;
    Ok(definition)
}

pub(super) async fn update(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
    input: UpdateCustomFieldDefinitionInput,
) -> AppResult<custom_field_definitions::Model> {
    ctx.require_admin()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let current =
        find_owned::<custom_field_definitions::Entity>(&txn, ctx, id, "custom field").await?;
    let field_type = current.field_type;
    let mut definition = current.clone().into_active_model();
    if let Some(label) = input.label {
        definition.label = Set(required_text(&label, "input.label", 200)?);
    }
    if let Some(required) = input.required {
        definition.required = Set(required);
    }
    if let Some(options) = input.options {
        let options = parse_options(field_type, Some(options), "input.options")?;
        definition.options = Set(serde_json::json!(options));
    } else if is_select(field_type) && options_of(&current).is_empty() {
        return Err(AppError::invalid(
            "input.options",
            "give at least one option",
        ));
    }
    match Option::<Option<CustomFieldValidationInput>>::from(input.validation) {
        Some(Some(validation)) => {
            let rules = parse_rules(field_type, validation, "input.validation")?;
            definition.validation = Set(rules_json(&rules));
        }
        Some(None) => definition.validation = Set(serde_json::json!({})),
        None => {}
    }
    let mut moved = None;
    if let Some(position) = input.position {
        let position = parse_position(position, "input.position")?;
        let siblings = definitions(&txn, ctx, current.entity).await?;
        let mut order: Vec<Uuid> = siblings.iter().map(|d| d.id).filter(|&d| d != id).collect();
        let index = position.min(order.len());
        order.insert(index, id);
        definition.position = Set(to_position(index));
        moved = Some((siblings, order));
    }
    definition.updated_at = Set(Utc::now().fixed_offset());
    let definition = definition.update(&txn).await?;
    if let Some((siblings, order)) = moved {
        renumber(&txn, ctx, &siblings, &order).await?;
    }
    txn.commit().await?;
    Ok(definition)
}

/// Removes a definition. Values already stored under its key are dropped
/// the next time their record is written (see `validate`).
pub(super) async fn delete(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<custom_field_definitions::Model> {
    ctx.require_admin()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let definition =
        find_owned::<custom_field_definitions::Entity>(&txn, ctx, id, "custom field").await?;
    tenant_delete::<custom_field_definitions::Entity>(ctx.tenant_id)
        .filter(custom_field_definitions::Column::Id.eq(definition.id))
        .exec(&txn)
        .await?;
    let remaining = definitions(&txn, ctx, definition.entity).await?;
    let order: Vec<Uuid> = remaining.iter().map(|d| d.id).collect();
    renumber(&txn, ctx, &remaining, &order).await?;
    txn.commit().await?;
    Ok(definition)
}

/// Gives the fields in `order` positions 0..n, writing only those that move.
async fn renumber(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    before: &[custom_field_definitions::Model],
    order: &[Uuid],
) -> AppResult<()> {
    for (index, id) in order.iter().enumerate() {
        let position = to_position(index);
        if before.iter().any(|d| d.id == *id && d.position == position) {
            continue;
        }
        tenant_update::<custom_field_definitions::Entity>(ctx.tenant_id)
            .col_expr(
                custom_field_definitions::Column::Position,
                Expr::value(position),
            )
            .filter(custom_field_definitions::Column::Id.eq(*id))
            .exec(txn)
            .await?;
    }
    Ok(())
}

fn to_position(index: usize) -> i32 {
    i32::try_from(index).unwrap_or(i32::MAX)
}

fn entity_name(entity: CustomFieldEntity) -> &'static str {
    match entity {
        CustomFieldEntity::Lead => "LEAD",
        CustomFieldEntity::Company => "COMPANY",
    }
}

fn is_select(field_type: CustomFieldType) -> bool {
    matches!(
        field_type,
        CustomFieldType::Select | CustomFieldType::Multiselect
    )
}

/// `^[a-z][a-zA-Z0-9_]{0,62}$`: a safe JSON key in every client language.
fn parse_key(raw: &str, field: &str) -> AppResult<String> {
    let key = raw.trim();
    let mut chars = key.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && key.len() <= 63;
    if valid {
        Ok(key.to_owned())
    } else {
        Err(AppError::invalid(
            field,
            "must start with a lowercase letter and have only letters, digits and \
             underscores, at most 63 characters",
        ))
    }
}

fn parse_position(position: i32, field: &str) -> AppResult<usize> {
    usize::try_from(position).map_err(|_| AppError::invalid(field, "must not be negative"))
}

/// Options are trimmed, non-blank and distinct; only SELECT and MULTISELECT
/// fields have them, and those need at least one.
fn parse_options(
    field_type: CustomFieldType,
    options: Option<Vec<String>>,
    field: &str,
) -> AppResult<Vec<String>> {
    let options = options.unwrap_or_default();
    if !is_select(field_type) {
        if !options.is_empty() {
            return Err(AppError::invalid(
                field,
                "only SELECT and MULTISELECT fields have options",
            ));
        }
        return Ok(options);
    }
    if options.is_empty() {
        return Err(AppError::invalid(field, "give at least one option"));
    }
    if options.len() > MAX_OPTIONS {
        return Err(AppError::invalid(
            field,
            format!("at most {MAX_OPTIONS} options"),
        ));
    }
    let mut parsed: Vec<String> = Vec::with_capacity(options.len());
    for option in options {
        let option = required_text(&option, field, MAX_OPTION_CHARS)?;
        if parsed.contains(&option) {
            return Err(AppError::invalid(field, format!("lists {option} twice")));
        }
        parsed.push(option);
    }
    Ok(parsed)
}

/// Rules that fit the field's type and are consistent (min ≤ max, a
/// pattern that compiles).
pub(crate) fn parse_rules(
    field_type: CustomFieldType,
    input: CustomFieldValidationInput,
    field: &str,
) -> AppResult<Rules> {
    let path = |name: &str| format!("{field}.{name}");
    let (number, text) = (CustomFieldType::Number, CustomFieldType::Text);
    for (name, given, owner, owner_name) in [
        ("min", input.min.is_some(), number, "NUMBER"),
        ("max", input.max.is_some(), number, "NUMBER"),
        ("minLength", input.min_length.is_some(), text, "TEXT"),
        ("maxLength", input.max_length.is_some(), text, "TEXT"),
        ("regex", input.regex.is_some(), text, "TEXT"),
    ] {
        if given && field_type != owner {
            return Err(AppError::invalid(
                path(name),
                format!("applies only to {owner_name} fields"),
            ));
        }
    }
    for (name, value) in [("min", input.min), ("max", input.max)] {
        if value.is_some_and(|v| !v.is_finite()) {
            return Err(AppError::invalid(path(name), "must be a finite number"));
        }
    }
    if let (Some(min), Some(max)) = (input.min, input.max)
        && min > max
    {
        return Err(AppError::invalid(path("max"), "must not be less than min"));
    }
    let length = |value: Option<i32>, name: &str| -> AppResult<Option<u32>> {
        value
            .map(|v| {
                u32::try_from(v).map_err(|_| AppError::invalid(path(name), "must not be negative"))
            })
            .transpose()
    };
    let min_length = length(input.min_length, "minLength")?;
    let max_length = length(input.max_length, "maxLength")?;
    if let (Some(min), Some(max)) = (min_length, max_length)
        && min > max
    {
        return Err(AppError::invalid(
            path("maxLength"),
            "must not be less than minLength",
        ));
    }
    let regex = match input.regex {
        Some(pattern) if pattern.chars().count() > MAX_REGEX_CHARS => {
            return Err(AppError::invalid(
                path("regex"),
                format!("must be at most {MAX_REGEX_CHARS} characters"),
            ));
        }
        Some(pattern) => {
            regex::RegexBuilder::new(&pattern)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| {
                    AppError::invalid(
                        path("regex"),
                        format!("is not a valid regular expression: {}", first_line(&e)),
                    )
                })?;
            Some(pattern)
        }
        None => None,
    };
    Ok(Rules {
        min: input.min,
        max: input.max,
        min_length,
        max_length,
        regex,
    })
}

fn first_line(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines().last().unwrap_or_default().trim().to_owned()
}

fn rules_json(rules: &Rules) -> serde_json::Value {
    serde_json::to_value(rules).unwrap_or_else(|_| serde_json::json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of<T: std::fmt::Debug>(result: AppResult<T>) -> String {
        match result {
            Err(AppError::BadUserInput { field, .. }) => field,
            other => panic!("expected BAD_USER_INPUT, got {other:?}"),
        }
    }

    #[test]
    fn keys_follow_the_pattern() {
        for ok in [
            "a",
            "annualRevenue",
            "vat_id",
            "x9",
            &format!("a{}", "b".repeat(62)),
        ] {
            assert!(parse_key(ok, "input.key").is_ok(), "refused {ok}");
        }
        for bad in [
            "",
            "Revenue",
            "9lives",
            "_x",
            "has space",
            "dash-ed",
            "é",
            &"a".repeat(64),
        ] {
            assert_eq!(
                field_of(parse_key(bad, "input.key")),
                "input.key",
                "accepted {bad}"
            );
        }
    }

    #[test]
    fn select_fields_need_distinct_options_and_others_none() {
        let opts = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            parse_options(CustomFieldType::Select, opts(&[" a ", "b"]), "f").unwrap(),
            vec!["a", "b"]
        );
        assert!(parse_options(CustomFieldType::Multiselect, None, "f").is_err());
        assert!(parse_options(CustomFieldType::Select, opts(&[]), "f").is_err());
        assert!(parse_options(CustomFieldType::Select, opts(&["a", "a "]), "f").is_err());
        assert!(parse_options(CustomFieldType::Select, opts(&[" "]), "f").is_err());
        assert!(parse_options(CustomFieldType::Text, opts(&["a"]), "f").is_err());
        assert!(
            parse_options(CustomFieldType::Text, None, "f")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn rules_must_fit_the_type_and_be_consistent() {
        let v = CustomFieldValidationInput::default;
        let number = CustomFieldType::Number;
        let text = CustomFieldType::Text;
        assert!(
            parse_rules(
                number,
                CustomFieldValidationInput {
                    min: Some(1.0),
                    max: Some(1.0),
                    ..v()
                },
                "v"
            )
            .is_ok()
        );
        assert_eq!(
            field_of(parse_rules(
                number,
                CustomFieldValidationInput {
                    min: Some(2.0),
                    max: Some(1.0),
                    ..v()
                },
                "v"
            )),
            "v.max"
        );
        assert_eq!(
            field_of(parse_rules(
                text,
                CustomFieldValidationInput {
                    min: Some(1.0),
                    ..v()
                },
                "v"
            )),
            "v.min"
        );
        assert_eq!(
            field_of(parse_rules(
                number,
                CustomFieldValidationInput {
                    regex: Some("x".into()),
                    ..v()
                },
                "v"
            )),
            "v.regex"
        );
        assert_eq!(
            field_of(parse_rules(
                text,
                CustomFieldValidationInput {
                    min_length: Some(3),
                    max_length: Some(2),
                    ..v()
                },
                "v"
            )),
            "v.maxLength"
        );
        assert_eq!(
            field_of(parse_rules(
                text,
                CustomFieldValidationInput {
                    min_length: Some(-1),
                    ..v()
                },
                "v"
            )),
            "v.minLength"
        );
        assert_eq!(
            field_of(parse_rules(
                text,
                CustomFieldValidationInput {
                    regex: Some("(".into()),
                    ..v()
                },
                "v"
            )),
            "v.regex"
        );
        assert!(parse_rules(CustomFieldType::Date, v(), "v").is_ok());
        let rules = parse_rules(
            text,
            CustomFieldValidationInput {
                regex: Some("^[A-Z]{2}$".into()),
                max_length: Some(2),
                ..v()
            },
            "v",
        )
        .unwrap();
        assert_eq!(
            rules_json(&rules),
            serde_json::json!({ "maxLength": 2, "regex": "^[A-Z]{2}$" })
        );
    }
}
