//! Email provider webhooks: delivery, bounce, complaint and reply events from
//! Amazon SES (via SNS), SendGrid and the generic Standard Webhooks format.

pub(crate) mod http;
pub(crate) mod providers;
