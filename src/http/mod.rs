//! HTTP surface: the GraphQL endpoint (HTTP and WebSocket), health and metrics.

pub(crate) mod client;
pub(crate) mod graphiql;
pub(crate) mod graphql;
pub(crate) mod health;
pub(crate) mod limits;
pub(crate) mod observe;
pub(crate) mod ws;
