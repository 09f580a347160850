//! DOMAIN.md 2, CRM: leads and companies, the pipeline, lead sources,
//! projects, custom fields, notes, activities and scoring.

pub mod activities;
pub mod companies;
pub mod custom_fields;
pub mod leads;
pub mod notes;
pub mod pipeline;
pub mod projects;
pub mod scoring;
pub mod sources;
