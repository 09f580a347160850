//! Enrollments: a lead's place in a campaign.

pub(crate) mod resolver;
pub(crate) mod service;
pub(crate) mod types;

pub(crate) use resolver::{EnrollmentMutation, EnrollmentsOfCampaign, EnrollmentsOfLead};
