//! PromoHub: a multi-tenant marketing platform API (GraphQL over HTTP and
//! WebSocket), on SQLite by default and PostgreSQL in production.

pub mod activities;
pub mod api_keys;
pub mod app;
pub mod audit;
pub mod auth;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod members;
pub mod server;
pub mod telemetry;
pub mod tenancy;
pub mod tenants;
