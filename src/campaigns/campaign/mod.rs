//! Campaigns: what is sent, to whom and when, and the status machine.

pub(crate) mod launch;
pub(crate) mod loader;
pub(crate) mod resolver;
pub(crate) mod service;
pub(crate) mod settings;
pub(crate) mod types;

pub(crate) use resolver::{CampaignMutation, CampaignQuery, CampaignSubscription};
