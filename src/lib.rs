//! PromoHub: a multi-tenant marketing platform API (GraphQL over HTTP and
//! WebSocket), on SQLite by default and PostgreSQL in production.

// The merged GraphQL roots nest deeply enough to need more than the default.
#![recursion_limit = "256"]
// Items are `pub(crate)` unless the binary, the tests or the bench use them.
#![warn(unreachable_pub)]

pub(crate) mod app;
pub(crate) mod attributes;
pub(crate) mod blocking;
pub(crate) mod campaigns;
pub(crate) mod capture;
pub mod clock;
pub mod config;
pub mod crm;
pub mod db;
pub mod demo;
pub(crate) mod domain;
pub mod error;
pub mod events;
pub mod graphql;
pub(crate) mod http;
pub mod identity;
pub mod jobs;
pub mod messaging;
pub(crate) mod outbound;
pub mod secrets;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod tenancy;

/// Checks the capture configuration (the geo database opens) before serving.
pub fn capture_check(config: &config::Config) -> anyhow::Result<()> {
    capture::page_views::visitor::Geo::new(&config.capture).map(|_| ())
}

/// `promohub render-worker`: see `messaging::templates::worker`.
pub use messaging::templates::worker::run as run_render_worker;
