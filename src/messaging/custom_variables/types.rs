//! GraphQL shapes of custom variables.

use async_graphql::{Enum, ID, InputObject, MaybeUndefined, SimpleObject};
use chrono::{DateTime, Utc};

use entity::custom_variables;

use crate::graphql::to_id;

/// What a variable is about, for grouping in the editor.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CustomVariableCategory {
    Lead,
    Company,
    Link,
    Custom,
}

impl CustomVariableCategory {
    /// The stored spelling (the column is text).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lead => "lead",
            Self::Company => "company",
            Self::Link => "link",
            Self::Custom => "custom",
        }
    }

    /// Reads the stored spelling; anything unknown shows as `CUSTOM`.
    pub fn parse(stored: &str) -> Self {
        match stored {
            "lead" => Self::Lead,
            "company" => Self::Company,
            "link" => Self::Link,
            _ => Self::Custom,
        }
    }
}

/// A personalisation variable, used in templates as `{{ vars.<key> }}`.
#[derive(SimpleObject)]
pub struct CustomVariable {
    pub id: ID,
    /// The name templates use; unique in your tenant (ignoring case) and
    /// fixed once created.
    pub key: String,
    pub label: String,
    pub category: CustomVariableCategory,
    pub description: Option<String>,
    /// The value a message gets when nothing more specific is given.
    pub default_value: String,
    /// Inactive variables are not offered to templates.
    pub is_active: bool,
    /// How many rendered messages used it.
    pub usage_count: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<custom_variables::Model> for CustomVariable {
    fn from(variable: custom_variables::Model) -> Self {
        Self {
            id: to_id(variable.id),
            category: CustomVariableCategory::parse(&variable.category),
            key: variable.key,
            label: variable.label,
            description: variable.description,
            default_value: variable.default_value,
            is_active: variable.is_active,
            usage_count: variable.usage_count,
            created_at: variable.created_at.to_utc(),
            updated_at: variable.updated_at.to_utc(),
        }
    }
}

/// A new custom variable.
#[derive(InputObject)]
pub struct CreateCustomVariableInput {
    /// `[A-Za-z_][A-Za-z0-9_]{0,63}`, e.g. `companyRevenue`.
    pub key: String,
    pub label: String,
    /// `CUSTOM` when omitted.
    pub category: Option<CustomVariableCategory>,
    pub description: Option<String>,
    /// Empty when omitted.
    pub default_value: Option<String>,
    /// True by default.
    pub is_active: Option<bool>,
}

/// Changes to a custom variable. Absent fields stay as they are; `null`
/// clears the description. The key cannot change: templates refer to it.
#[derive(InputObject)]
pub struct UpdateCustomVariableInput {
    pub label: Option<String>,
    pub category: Option<CustomVariableCategory>,
    pub description: MaybeUndefined<String>,
    pub default_value: Option<String>,
    pub is_active: Option<bool>,
}
