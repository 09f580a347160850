//! A lead's timeline: written by the system for every change that matters,
//! and by people for calls, meetings and other touches (`logActivity`).

mod loader;
mod resolver;
pub mod service;
mod types;

pub use loader::{ActivitiesOfLead, LatestActivitiesLoader};
pub use resolver::ActivityMutation;
pub use service::record;
pub use types::{Activity, ActivityKind};
