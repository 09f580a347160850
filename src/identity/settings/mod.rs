//! Per-tenant settings: small JSON values under well-formed keys, read by any
//! member and written only by admins. A key/value table rather than columns
//! so features can add preferences without a migration.

mod resolver;
pub mod service;
mod types;

pub use resolver::{SettingMutation, SettingQuery};
pub use types::Setting;
