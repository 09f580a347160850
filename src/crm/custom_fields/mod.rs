//! Custom field definitions: tenant-defined, typed extra fields on leads and
//! companies.
//!
//! Values live in each record's `custom_fields` JSON (no schema change per
//! tenant), so the definitions are the schema: every write of a lead or a
//! company goes through `validate`, which is the one place the types,
//! options, bounds and required flags are enforced.

mod resolver;
pub(crate) mod service;
pub(crate) mod types;
pub(crate) mod validate;

pub(crate) use resolver::{CustomFieldMutation, CustomFieldQuery};
pub(crate) use types::CustomFieldDefinition;
pub(crate) use validate::{definitions, validate, validate_with};
