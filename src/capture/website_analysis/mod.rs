//! Website analysis: what a company's website says about how the business
//! takes bookings (booking words and a 0–10 score, the booking tool,
//! appointment and contact forms, calendar, prices, gallery, reviews,
//! phone-only, locations, services, languages).
//!
//! One analysis per domain serves every tenant (`website_analyses`, kept
//! 30 days): however many tenants ask, and however many at once, a domain
//! is fetched once (`service`). `analyzeWebsite` asks for it; a company
//! created with a website is analysed in the background when its tenant
//! enables `website_analysis.on_company_create`. The results show on
//! `company.websiteAnalysis`, and lead filters (`websiteAnalysis`) and
//! scoring rules (`websiteAnalysis.<signal>`) read them like any other
//! attribute (`signals`).
//!
//! `fetch` reads the pages (SSRF-safe, robots.txt, bounded); `parse` reads
//! the HTML.

mod fetch;
mod loader;
mod parse;
mod resolver;
pub(crate) mod service;
#[expect(
    dead_code,
    reason = "the analysis writes the signals, no input does: the declaration's create input goes unused"
)]
mod signals;
mod types;

pub(crate) use loader::{WebsiteAnalysisLoader, of_company_in_request};
pub(crate) use resolver::WebsiteAnalysisMutation;
pub(crate) use signals::WEBSITE_SIGNALS;
pub(crate) use types::{BookingTool, CompanyWebsite, WebsiteAnalysisFilter, WebsiteAnalysisStatus};
