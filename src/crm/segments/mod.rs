//! Segments: the lead lists campaigns address. A static segment holds the
//! leads put in it; a dynamic one is a saved `leads` filter, so its members
//! are whatever live leads match it at the moment they are read (`count`,
//! `leads`), and upkeep (`upkeep`) records when each lead entered and left
//! as leads change.

mod loader;
mod resolver;
pub(crate) mod service;
mod types;
pub(crate) mod upkeep;

pub(crate) use loader::{SegmentCountLoader, SegmentsOfLeadLoader};
pub(crate) use resolver::{SegmentMutation, SegmentQuery, SegmentSubscription};
pub(crate) use types::Segment;
