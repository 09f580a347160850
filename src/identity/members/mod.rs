//! Members of a tenant: invites, roles, removal, and the last-owner rule.

mod loader;
mod resolver;
mod service;
mod types;

pub(crate) use loader::UserLoader;
pub(crate) use resolver::{MemberMutation, MemberQuery};
pub(crate) use types::{Invite, Member};
