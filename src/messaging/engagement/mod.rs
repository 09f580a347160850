//! Engagement events (DOMAIN.md section 4): recorded with the message
//! status change they describe, counted into message statistics, and
//! streamed to subscribers on every node.

pub mod recorder;
mod resolver;
pub mod service;
pub mod types;

pub use resolver::{EngagementQuery, EngagementSubscription};
