//! The audit log: who did what, to what, from where, and whether it worked.

mod resolver;
mod service;
pub(crate) mod types;

pub(crate) use resolver::AuditQuery;
pub(crate) use service::{AuditRecord, Outcome, record};
pub(crate) use types::AuditActorType;
