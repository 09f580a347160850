//! Sender mailboxes (issue 18): the IMAP mailbox of an SMTP sender
//! account, where replies and bounce reports to the mail it sends arrive.
//! Its settings are written with the account (`service`), shown on it
//! (`types`), and watched by one process at a time (`watcher`) over IMAP
//! (`imap`); what each mail means is decided by
//! [`crate::messaging::inbound_mail`].

mod imap;
pub(crate) mod service;
pub(crate) mod types;
pub mod watcher;
