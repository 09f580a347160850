//! HTTP surface: the GraphQL endpoint (HTTP and WebSocket), health and metrics.

pub mod graphql;
pub mod health;
pub mod observe;
pub mod ws;
