//! GraphQL shapes of custom field definitions.

use async_graphql::{Enum, ID, InputObject, MaybeUndefined, SimpleObject};

use entity::custom_field_definitions;
use entity::sea_orm_active_enums::{
    CustomFieldEntity as CustomFieldEntityModel, CustomFieldType as CustomFieldTypeModel,
};

use super::validate::{Rules, options_of};
use crate::graphql::to_id;

/// The kind of record a custom field extends.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CustomFieldEntity {
    Lead,
    Company,
}

impl From<CustomFieldEntityModel> for CustomFieldEntity {
    fn from(entity: CustomFieldEntityModel) -> Self {
        match entity {
            CustomFieldEntityModel::Lead => Self::Lead,
            CustomFieldEntityModel::Company => Self::Company,
        }
    }
}

impl From<CustomFieldEntity> for CustomFieldEntityModel {
    fn from(entity: CustomFieldEntity) -> Self {
        match entity {
            CustomFieldEntity::Lead => Self::Lead,
            CustomFieldEntity::Company => Self::Company,
        }
    }
}

/// What a custom field holds, and so which JSON value it accepts: TEXT a
/// string, NUMBER a number, DATE a `YYYY-MM-DD` string, BOOLEAN true/false,
/// SELECT one of its options, MULTISELECT a list of distinct options.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CustomFieldType {
    Text,
    Number,
    Date,
    Boolean,
    Select,
    Multiselect,
}

impl From<CustomFieldTypeModel> for CustomFieldType {
    fn from(kind: CustomFieldTypeModel) -> Self {
        match kind {
            CustomFieldTypeModel::Text => Self::Text,
            CustomFieldTypeModel::Number => Self::Number,
            CustomFieldTypeModel::Date => Self::Date,
            CustomFieldTypeModel::Boolean => Self::Boolean,
            CustomFieldTypeModel::Select => Self::Select,
            CustomFieldTypeModel::Multiselect => Self::Multiselect,
        }
    }
}

impl From<CustomFieldType> for CustomFieldTypeModel {
    fn from(kind: CustomFieldType) -> Self {
        match kind {
            CustomFieldType::Text => Self::Text,
            CustomFieldType::Number => Self::Number,
            CustomFieldType::Date => Self::Date,
            CustomFieldType::Boolean => Self::Boolean,
            CustomFieldType::Select => Self::Select,
            CustomFieldType::Multiselect => Self::Multiselect,
        }
    }
}

/// Constraints on a field's values: `min`/`max` for NUMBER fields,
/// `minLength`/`maxLength` (characters) and `regex` for TEXT fields.
#[derive(SimpleObject, Clone, Debug, Default)]
pub(crate) struct CustomFieldValidation {
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub min_length: Option<i32>,
    pub max_length: Option<i32>,
    /// A regular expression the text must match somewhere; anchor it
    /// (`^…$`) to constrain the whole value.
    pub regex: Option<String>,
}

impl From<Rules> for CustomFieldValidation {
    fn from(rules: Rules) -> Self {
        let length = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        Self {
            min: rules.min,
            max: rules.max,
            min_length: rules.min_length.map(length),
            max_length: rules.max_length.map(length),
            regex: rules.regex,
        }
    }
}

/// A field your tenant added to leads or companies. Values are set through
/// the record's `customFields` JSON object, keyed by `key`.
#[derive(SimpleObject)]
pub(crate) struct CustomFieldDefinition {
    pub id: ID,
    pub entity: CustomFieldEntity,
    /// The JSON key of the value, e.g. `annualRevenue`. Never changes.
    pub key: String,
    /// What forms show.
    pub label: String,
    #[graphql(name = "type")]
    pub field_type: CustomFieldType,
    /// Every record of the entity must have a (non-blank) value.
    pub required: bool,
    /// The allowed values of SELECT and MULTISELECT fields; empty otherwise.
    pub options: Vec<String>,
    pub validation: CustomFieldValidation,
    /// 0-based display order among the entity's fields.
    pub position: i32,
}

impl From<custom_field_definitions::Model> for CustomFieldDefinition {
    fn from(definition: custom_field_definitions::Model) -> Self {
        Self {
            id: to_id(definition.id),
            options: options_of(&definition),
            validation: Rules::of(&definition).into(),
            entity: definition.entity.into(),
            key: definition.key,
            label: definition.label,
            field_type: definition.field_type.into(),
            required: definition.required,
            position: definition.position,
        }
    }
}

/// Constraints on a field's values (see `CustomFieldValidation`).
#[derive(InputObject, Clone, Debug, Default)]
pub(crate) struct CustomFieldValidationInput {
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub min_length: Option<i32>,
    pub max_length: Option<i32>,
    pub regex: Option<String>,
}

/// A new custom field. Admins only.
#[derive(InputObject)]
pub(super) struct CreateCustomFieldDefinitionInput {
    pub entity: CustomFieldEntity,
    /// `^[a-z][a-zA-Z0-9_]{0,62}$`, unique per entity.
    pub key: String,
    pub label: String,
    #[graphql(name = "type")]
    pub field_type: CustomFieldType,
    /// False by default.
    pub required: Option<bool>,
    /// Required (non-empty, distinct) for SELECT and MULTISELECT; refused otherwise.
    pub options: Option<Vec<String>>,
    pub validation: Option<CustomFieldValidationInput>,
    /// Where to insert it (0 = first; the others shift); after the entity's
    /// last field by default.
    pub position: Option<i32>,
}

/// Changes to a custom field. The entity, key and type never change (stored
/// values would stop meaning what they meant): delete and recreate instead.
/// New rules apply to the next write of each record.
#[derive(InputObject)]
pub(super) struct UpdateCustomFieldDefinitionInput {
    pub label: Option<String>,
    pub required: Option<bool>,
    /// Replaces the options of a SELECT or MULTISELECT field.
    pub options: Option<Vec<String>>,
    /// Replaces the rules; `null` removes them all.
    pub validation: MaybeUndefined<CustomFieldValidationInput>,
    /// Moves the field to this place (0 = first); the others close up.
    pub position: Option<i32>,
}
