//! The development mail outbox: what sender accounts with the `OUTBOX`
//! transport "sent", stored whole instead of handed to an SMTP server, so a
//! newcomer can send on a bare machine and read what would have left it.
//! Production refuses the transport (`senders::service`), and delivery
//! refuses it there too (`messages::delivery`).

mod resolver;
mod service;
mod types;

pub(crate) use resolver::OutboxQuery;
pub(crate) use types::OutboxEmail;
