//! The suppression list (DOMAIN.md section 4): addresses a tenant never
//! sends to again, because they unsubscribed, bounced hard or complained,
//! or because someone put them there. Delivery checks
//! [`service::is_suppressed`]; unsubscribe and bounce handling call
//! [`service::suppress`].

mod resolver;
pub mod service;
mod types;

pub use resolver::{SuppressionMutation, SuppressionQuery};
pub use service::{is_suppressed, suppress};
pub use types::{Suppression, SuppressionReason};
