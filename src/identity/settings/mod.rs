//! Per-tenant settings: small JSON values under well-formed keys, read by any
//! member and written only by admins. A key/value table rather than columns
//! so features can add preferences without a migration.

mod resolver;
pub(crate) mod service;
mod types;

pub(crate) use resolver::{SettingMutation, SettingQuery};
pub(crate) use types::Setting;
