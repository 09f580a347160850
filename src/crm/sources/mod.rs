//! Lead sources: where leads come from (a form, an import, LinkedIn, paid
//! ads…) with the UTM tags that identify the channel, so reports can say
//! which channels bring leads worth having.

mod resolver;
mod service;
mod types;

pub use resolver::{LeadSourceMutation, LeadSourceQuery};
pub use types::{LeadSource, LeadSourceType};
