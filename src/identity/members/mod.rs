//! Members of a tenant: invites, roles, removal, and the last-owner rule.

mod loader;
mod resolver;
mod service;
mod types;

pub use loader::UserLoader;
pub use resolver::{MemberMutation, MemberQuery};
