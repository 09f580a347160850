//! DOMAIN.md 4, messaging: templates and their variables, sender accounts,
//! messages and their delivery (SMTP today; more channels to come), open
//! and click tracking, provider webhooks, suppressions and engagement.

pub mod custom_variables;
pub mod engagement;
pub mod messages;
pub mod senders;
pub mod smtp;
pub mod suppressions;
pub mod templates;
pub mod tracking;
pub mod webhooks;
