//! Partner API keys: created once, stored as hashes, scoped, revocable.

mod resolver;
mod service;
mod types;

pub(crate) use resolver::{ApiKeyMutation, ApiKeyQuery};
pub(crate) use types::ApiKey;
