//! Sender accounts (seed 001 `smtpConfig`): the SMTP servers a tenant sends
//! through, with their limits and a priority order for failover. The
//! delivery worker asks [`service::candidates`] which accounts to try, takes
//! a slot on one with [`limiter::reserve`] (the limits, exact across
//! processes) and reports back with [`service::record_use`].

mod host;
pub(crate) mod limiter;
mod resolver;
pub mod service;
mod types;

pub use resolver::{SenderAccountMutation, SenderAccountQuery};
pub(crate) use service::allowed_host;
pub use service::{SenderCandidate, candidates, record_use};
pub use types::{SenderAccount, SmtpTlsMode};
