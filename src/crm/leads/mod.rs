//! Leads: the person the tenant markets to, with the list API (filters,
//! search, keyset pages), the timeline-writing changes, merging, importing,
//! bulk changes and analytics.

pub mod attributes;
mod bulk;
pub mod events;
pub mod fields;
pub mod filter;
pub mod list;
mod loader;
mod merge;
mod resolver;
pub mod service;
pub mod types;

pub use list::LeadQuery;
pub use loader::TagsLoader;
pub use resolver::{LeadMutation, LeadQueryRoot, leads_connection};
pub use types::Lead;
