//! Capture (DOMAIN.md section 3): how leads reach PromoHub from the
//! tenant's own website: public forms and page-view tracking.

pub(crate) mod forms;
pub(crate) mod page_views;
pub(crate) mod public_ids;
