//! Messages: composing from templates, queuing with a durable delivery job,
//! sending over SMTP with failover between sender accounts, and the message
//! lifecycle.

pub(crate) mod compose;
pub(crate) mod delivery;
pub(crate) mod loader;
mod resolver;
pub(crate) mod service;
pub(crate) mod types;

pub(crate) use resolver::{MessageMutation, MessageQuery};
