//! Lead sources: where leads come from (a form, an import, LinkedIn, paid
//! ads…) with the UTM tags that identify the channel, so reports can say
//! which channels bring leads worth having.

mod resolver;
mod service;
mod types;

pub(crate) use resolver::{LeadSourceMutation, LeadSourceQuery};
pub(crate) use types::LeadSource;
