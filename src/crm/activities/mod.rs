//! A lead's timeline: written by the system for every change that matters,
//! and by people for calls, meetings and other touches (`logActivity`).

mod loader;
mod resolver;
pub(crate) mod service;
mod types;

pub(crate) use loader::ActivitiesOfLead;
pub(crate) use resolver::ActivityMutation;
pub(crate) use service::{entry, record};
pub(crate) use types::Activity;
