//! Segments: the lead lists campaigns address. A static segment holds the
//! leads put in it; a dynamic one is a saved `leads` filter, so its members
//! are whatever live leads match it at the moment they are read.

mod loader;
mod resolver;
pub(crate) mod service;
mod types;

pub(crate) use loader::{SegmentCountLoader, SegmentsOfLeadLoader};
pub(crate) use resolver::{SegmentMutation, SegmentQuery, SegmentSubscription};
pub(crate) use types::Segment;
