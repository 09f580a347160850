//! Page-view tracking: a first-party script on the tenant's site sends each
//! view (`http`), stored in batches (`writer`) with what the request says
//! about the visitor (`visitor`) and the site's funnel flags (`sites`);
//! a visitor who submits a form or clicks a tracked email link becomes a
//! lead, with the views before. `pageViews`, `lead.pageViews` and
//! `pageViewStats` read them (`service`).

pub(crate) mod http;
mod resolver;
mod service;
pub(crate) mod sites;
pub(crate) mod visitor;
pub(crate) mod writer;

pub(crate) use resolver::{PageViewQuery, PageViewType, PageViewsOfLead};
pub(crate) use sites::{SiteCache, TrackingSiteMutation, TrackingSiteQuery};
