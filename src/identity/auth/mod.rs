//! Authentication: passwords, access tokens, opaque tokens, and the
//! sign-up / login / refresh / logout / switch-tenant flows.

pub mod authenticate;
pub mod jwt;
pub mod passwords;
mod resolver;
pub mod service;
pub mod tokens;
pub mod types;

pub use resolver::{AuthMutation, AuthQuery};
