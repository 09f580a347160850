//! CSV imports of leads (seed 001 `leadBatches`): an uploaded file is
//! stored and looked at (`csv`), its columns mapped to lead fields
//! (`mapping`), and its lines imported by a durable job, chunk by chunk,
//! each line through the lead rules the API uses (`rows`), with every
//! rejected line kept with its row, column and message (`service`).

pub(crate) mod csv;
pub(crate) mod http;
pub(crate) mod mapping;
mod resolver;
mod rows;
pub(crate) mod service;
mod types;

pub(crate) use resolver::{ImportMutation, ImportQuery, ImportSubscription};
