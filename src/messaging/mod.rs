//! DOMAIN.md 4, messaging: templates and their variables, sender accounts,
//! messages and their delivery (SMTP today; more channels to come), open
//! and click tracking, provider webhooks, suppressions and engagement.

pub mod custom_variables;
pub(crate) mod engagement;
pub(crate) mod inbound_mail;
pub mod mailboxes;
pub(crate) mod messages;
pub(crate) mod outbox;
pub mod senders;
pub mod smtp;
pub mod suppressions;
pub(crate) mod templates;
pub(crate) mod tracking;
pub(crate) mod webhooks;
