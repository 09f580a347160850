//! Partner API keys: created once, stored as hashes, scoped, revocable.

mod resolver;
mod service;
mod types;

pub use resolver::{ApiKeyMutation, ApiKeyQuery};
