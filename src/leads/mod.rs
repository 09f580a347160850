//! Leads: the person the tenant markets to, with the list API (filters,
//! search, keyset pages), the timeline-writing changes, merging, importing,
//! bulk changes and analytics.

mod bulk;
mod columns;
mod connection;
pub mod fields;
pub mod filter;
pub(crate) mod joined;
pub mod list;
mod loader;
mod merge;
mod prefetch;
pub mod render;
mod resolver;
pub mod service;
pub mod types;

pub use connection::LeadConnection;
pub use list::LeadQuery;
pub use loader::TagsLoader;
pub use resolver::{LeadMutation, LeadQueryRoot, leads_connection};
pub use types::Lead;
