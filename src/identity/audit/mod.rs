//! The audit log: who did what, to what, from where, and whether it worked.

mod resolver;
mod service;
pub mod types;

pub use resolver::AuditQuery;
pub use service::{AuditRecord, Outcome, record};
pub use types::AuditActorType;
