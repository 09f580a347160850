//! Companies: the organisations leads work for, with their website (and
//! the domain derived from it, unique per tenant so an import or a form
//! cannot create the same company twice), address, enrichment data and
//! custom fields.

pub(crate) mod attributes;
mod country;
mod domain;
mod resolver;
pub(crate) mod service;
mod types;

pub(crate) use country::CountryCode;
pub(crate) use domain::normalize_domain;
pub(crate) use resolver::{CompanyMutation, CompanyQuery};
pub(crate) use types::Company;
