//! PromoHub: a multi-tenant marketing platform API (GraphQL over HTTP and
//! WebSocket), on SQLite by default and PostgreSQL in production.

// The merged GraphQL roots nest deeply enough to need more than the default.
#![recursion_limit = "256"]

pub mod activities;
pub mod api_keys;
pub mod app;
pub mod attributes;
pub mod audit;
pub mod auth;
pub mod companies;
pub mod config;
pub mod custom_fields;
pub mod custom_variables;
pub mod db;
pub mod demo;
pub mod domain;
pub mod engagement;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod jobs;
pub mod leads;
pub mod members;
pub mod messaging;
pub mod notes;
pub mod pipeline;
pub mod projects;
pub mod scoring;
pub mod secrets;
pub mod senders;
pub mod server;
pub mod settings;
pub mod sources;
pub mod suppressions;
pub mod telemetry;
pub mod templates;
pub mod tenancy;
pub mod tenants;
pub mod tracking;
pub mod webhooks;
