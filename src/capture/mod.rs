//! Capture (DOMAIN.md section 3): how leads reach PromoHub from the
//! tenant's own website, and what is known about them: public forms,
//! page-view tracking and website analysis.

pub(crate) mod forms;
pub(crate) mod page_views;
pub(crate) mod public_ids;
pub(crate) mod website_analysis;
