//! The tenant itself: its profile, plan, limits and branding.

mod loader;
mod resolver;
pub(crate) mod service;
mod types;

pub(crate) use loader::PlanLoader;
pub(crate) use resolver::{TenantMutation, TenantQuery};
pub(crate) use types::Tenant;
