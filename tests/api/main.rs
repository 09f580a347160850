//! The integration test binary: the production router served on a real
//! port, a fresh database per test, real HTTP and WebSocket clients.
//!
//! SQLite by default; set `TEST_DATABASE_URL` to a PostgreSQL admin URL
//! (e.g. `postgres://postgres@127.0.0.1/postgres`) to run on PostgreSQL.

mod helpers;

mod abuse;
mod api_keys;
mod attributes;
mod audit;
mod auth;
mod auth_hardening;
mod campaign_runner;
mod campaigns;
mod companies;
mod custom_fields;
mod custom_variables;
mod domain_events;
mod dovecot;
mod error_codes;
mod faults;
mod first_run;
mod forms;
mod fuzz;
mod http_protocol;
mod imports;
mod json_values;
mod leads;
mod leads_list;
mod limits;
mod mailboxes;
mod members;
mod messaging;
mod money;
mod notes;
mod observability;
mod page_views;
mod pipeline;
mod projects;
mod relay;
mod rls;
mod schema;
mod scoring;
mod segment_upkeep;
mod segments;
mod senders;
mod sending_limits;
mod settings;
mod smtp_server;
mod smtp_transport;
mod sources;
mod suppressions;
mod template_limits;
mod tenant;
mod tenant_isolation;
mod token_attacks;
mod webhook_errors;
mod website_analysis;
mod ws_hardening;
mod ws_protocol;
