//! The pipeline: the ordered stages a lead moves through (New → … → Won or
//! Lost). Every tenant starts with a sensible default pipeline and exactly
//! one default stage, where new leads land, at all times.

mod resolver;
mod service;
mod types;

pub(crate) use resolver::{PipelineMutation, PipelineQuery};
pub(crate) use service::{default_stage, seed_default};
pub(crate) use types::LeadStage;
