//! Durable background jobs (ARCHITECTURE.md "Background work").

pub mod queue;
pub mod runner;

pub use queue::{JobKind, enqueue, new_job};
pub use runner::{JobOutcome, JobSignal};
