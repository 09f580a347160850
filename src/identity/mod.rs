//! DOMAIN.md 1, identity and access: sign-up and sessions, members and
//! invites, API keys, tenants and their settings, the audit log.

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod members;
pub mod settings;
pub mod tenants;
