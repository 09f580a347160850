//! DOMAIN.md 2, CRM: leads and companies, the pipeline, lead sources,
//! projects, custom fields, notes, activities and scoring.

pub(crate) mod activities;
pub(crate) mod companies;
pub(crate) mod custom_fields;
pub(crate) mod imports;
pub(crate) mod leads;
pub mod notes;
pub(crate) mod pipeline;
pub(crate) mod projects;
pub mod scoring;
pub(crate) mod segments;
pub(crate) mod sources;
