//! DOMAIN.md 1, identity and access: sign-up and sessions, members and
//! invites, API keys, tenants and their settings, the audit log.

pub(crate) mod api_keys;
pub(crate) mod audit;
pub mod auth;
pub(crate) mod members;
pub(crate) mod settings;
pub(crate) mod tenants;
