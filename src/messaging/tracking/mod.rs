//! Engagement tracking: the open pixel, click redirects and one-click
//! unsubscribe (public routes), and the HTML rewriting that puts them into
//! outgoing email.

pub(crate) mod http;
pub(crate) mod links;
pub(crate) mod machine;
pub(crate) mod rewrite;
pub(crate) mod writer;

pub(crate) use writer::TrackingWriter;
