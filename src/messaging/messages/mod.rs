//! Messages: composing from templates, queuing with a durable delivery job,
//! sending over SMTP with failover between sender accounts, and the message
//! lifecycle.

pub mod compose;
pub mod delivery;
pub mod loader;
mod resolver;
pub mod service;
pub mod types;

pub use resolver::{MessageMutation, MessageQuery};
