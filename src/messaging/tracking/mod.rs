//! Engagement tracking: the open pixel, click redirects and one-click
//! unsubscribe (public routes), and the HTML rewriting that puts them into
//! outgoing email.

pub mod http;
pub mod links;
pub mod machine;
pub mod rewrite;
pub mod writer;

pub use writer::TrackingWriter;
