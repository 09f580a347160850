//! Leads: the person the tenant markets to, with the list API (filters,
//! search, keyset pages), the timeline-writing changes, merging, importing,
//! bulk changes and analytics.

pub(crate) mod attributes;
mod bulk;
pub(crate) mod create;
pub(crate) mod events;
pub(crate) mod fields;
pub(crate) mod filter;
pub(crate) mod list;
mod loader;
pub(crate) mod merge;
mod resolver;
pub(crate) mod service;
pub(crate) mod types;

pub(crate) use list::LeadQuery;
pub(crate) use loader::{LeadsOfCompany, TagsLoader};
pub(crate) use resolver::{LeadMutation, LeadQueryRoot, leads_connection};
pub(crate) use types::Lead;
