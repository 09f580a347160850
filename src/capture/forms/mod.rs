//! Public lead-capture forms: defined by members (`forms`, typed fields
//! mapped to the lead), drawn and submitted by visitors on the public
//! routes (`/f/{publicId}`), each submission upserting its lead by email.

mod embed;
pub(crate) mod fields;
pub(crate) mod http;
mod loader;
pub(crate) mod notify;
pub(crate) mod opt_in;
mod resolver;
pub(crate) mod service;
mod sources;
pub(crate) mod submit;
pub(crate) mod types;

pub(crate) use loader::FieldsOfFormLoader;
pub(crate) use resolver::{FormMutation, FormQuery, FormSubscription};
