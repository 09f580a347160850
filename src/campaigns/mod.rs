//! DOMAIN 5: campaigns, their sequences and enrollments, and the scheduler
//! that sends them.
//!
//! A campaign is a broadcast (one step) or a sequence (ordered steps with
//! delays and A/B variants) sent to an audience (segments or a lead filter,
//! minus exclusion segments) on a schedule inside a send window. Each lead
//! of the audience gets an enrollment that remembers its next step and when
//! it is due; the runner (`runner`) sends due steps in batches through the
//! one message path (`messaging::messages`), each step of an enrollment
//! exactly once.

pub(crate) mod ab;
pub(crate) mod campaign;
pub(crate) mod enrollments;
pub(crate) mod runner;
pub(crate) mod schedule;

pub(crate) use campaign::{CampaignMutation, CampaignQuery, CampaignSubscription};
pub(crate) use enrollments::{EnrollmentMutation, EnrollmentsOfCampaign, EnrollmentsOfLead};
