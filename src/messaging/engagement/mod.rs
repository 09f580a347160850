//! Engagement events (DOMAIN.md section 4): recorded with the message
//! status change they describe, counted into message statistics, and
//! streamed to subscribers on every node.

pub(crate) mod recorder;
mod resolver;
pub(crate) mod service;
pub(crate) mod types;

pub(crate) use resolver::{EngagementQuery, EngagementSubscription};
