//! Companies: the organisations leads work for, with their website (and
//! the domain derived from it, unique per tenant so an import or a form
//! cannot create the same company twice), address, enrichment data and
//! custom fields.

pub mod attributes;
mod country;
mod domain;
mod resolver;
mod service;
mod types;

pub use country::CountryCode;
pub use domain::normalize_domain;
pub use resolver::{CompanyMutation, CompanyQuery};
pub use types::{Company, CompanyAddress, CompanyFilter, CompanySize};
