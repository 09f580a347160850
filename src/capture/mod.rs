//! DOMAIN 3, capture: where leads and what is known about them come from
//! (forms, page views, website analysis).

pub(crate) mod website_analysis;
