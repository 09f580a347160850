//! Messages: sending over SMTP with failover between sender accounts,
//! durable delivery jobs, and the message lifecycle.

pub mod smtp;
