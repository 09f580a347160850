//! The tenant itself: its profile, plan, limits and branding.

mod loader;
mod resolver;
mod service;
mod types;

pub use loader::PlanLoader;
pub use resolver::{TenantMutation, TenantQuery};
pub use types::Tenant;
