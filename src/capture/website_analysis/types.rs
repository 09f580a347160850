//! GraphQL shapes of website analyses.

use async_graphql::{Context, Enum, InputObject, MergedObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use serde::{Deserialize, Serialize};

use entity::sea_orm_active_enums::{
    BookingTool as BookingToolModel, WebsiteAnalysisStatus as StatusModel,
};
use entity::website_analyses;

use super::loader::WebsiteAnalysisLoader;
use super::signals::{WebsiteSignalFilter, WebsiteSignals};
use crate::error::AppResult;
use crate::graphql::filters::EnumFilter;
use crate::graphql::loaders::load_one;

/// Where a domain's analysis stands.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WebsiteAnalysisStatus {
    /// The first analysis of the domain is running.
    Pending,
    /// The site was read and analysed.
    Complete,
    /// The site's robots.txt keeps crawlers out: nothing was read.
    Blocked,
    /// The site could not be read (see `error`).
    Failed,
}

impl From<StatusModel> for WebsiteAnalysisStatus {
    fn from(status: StatusModel) -> Self {
        match status {
            StatusModel::Pending => Self::Pending,
            StatusModel::Complete => Self::Complete,
            StatusModel::Blocked => Self::Blocked,
            StatusModel::Failed => Self::Failed,
        }
    }
}

impl From<WebsiteAnalysisStatus> for StatusModel {
    fn from(status: WebsiteAnalysisStatus) -> Self {
        match status {
            WebsiteAnalysisStatus::Pending => Self::Pending,
            WebsiteAnalysisStatus::Complete => Self::Complete,
            WebsiteAnalysisStatus::Blocked => Self::Blocked,
            WebsiteAnalysisStatus::Failed => Self::Failed,
        }
    }
}

/// The API's enum of the booking tools and the conversions both ways, from
/// one list of variants (the database's enum has the same ones).
macro_rules! booking_tools {
    ($($variant:ident),* $(,)?) => {
        /// An online booking tool the analysis recognises.
        #[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum BookingTool {
            $($variant,)*
        }

        impl From<BookingToolModel> for BookingTool {
            fn from(tool: BookingToolModel) -> Self {
                match tool {
                    $(BookingToolModel::$variant => Self::$variant,)*
                }
            }
        }

        impl From<BookingTool> for BookingToolModel {
            fn from(tool: BookingTool) -> Self {
                match tool {
                    $(BookingTool::$variant => Self::$variant,)*
                }
            }
        }
    };
}

booking_tools!(
    Calendly,
    Acuity,
    Square,
    Simplybook,
    Setmore,
    Booksy,
    Fresha,
    Vagaro,
    Mindbody,
    Schedulicity,
    Youcanbookme,
    HubspotMeetings,
    GoogleCalendar,
    MicrosoftBookings,
    Zocdoc,
    Doctolib,
    Opentable,
    Resy,
    Treatwell,
    Timely,
    Appointy,
    CalCom,
    Tidycal,
    Savvycal,
    Bookeo,
    Picktime,
    Setster,
);

/// What a page read was to the analysis.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[graphql(name = "AnalyzedPageKind")]
#[serde(rename_all = "lowercase")]
pub(crate) enum PageKind {
    /// The home page.
    Home,
    /// A booking or appointment page the home page links to.
    Booking,
    /// A contact page the home page links to.
    Contact,
}

/// One page the analysis read, or tried to (stored as JSON in this shape).
#[derive(SimpleObject, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AnalyzedPage {
    pub kind: PageKind,
    /// Where the page was read, after redirects (or where reading failed).
    pub url: String,
    /// The HTTP status; null when there was no answer.
    pub status: Option<i32>,
    /// The size of the page read.
    pub bytes: Option<i32>,
    /// Why the page could not be read.
    pub error: Option<String>,
}

/// What a company's website says about how the business takes bookings.
/// One analysis per domain serves every tenant; it is read again once it
/// expires (30 days, a day after a failure).
#[derive(MergedObject)]
pub(crate) struct WebsiteAnalysis(WebsiteAnalysisRecord, WebsiteSignals);

/// A website analysis's fields besides its signals (`signals`).
#[derive(SimpleObject)]
pub(crate) struct WebsiteAnalysisRecord {
    /// The domain analysed: lowercase, without `www.`.
    pub domain: String,
    pub status: WebsiteAnalysisStatus,
    /// Why the analysis failed or was blocked.
    pub error: Option<String>,
    /// The booking words and phrases found ("book now", "appointment").
    pub booking_keywords: Vec<String>,
    /// The languages the site declares, as codes (`en`, `de`).
    pub languages: Vec<String>,
    /// The pages read: the home page and a booking or contact page.
    pub pages: Vec<AnalyzedPage>,
    /// When the site was read; null while the first analysis runs.
    pub analyzed_at: Option<DateTime<Utc>>,
    /// When the analysis expires: the next request reads the site again.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A JSON array of strings, as stored.
fn strings(json: &serde_json::Value) -> Vec<String> {
    json.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl From<website_analyses::Model> for WebsiteAnalysis {
    fn from(analysis: website_analyses::Model) -> Self {
        let record = WebsiteAnalysisRecord {
            domain: analysis.domain.clone(),
            status: analysis.status.into(),
            error: analysis.error.clone(),
            booking_keywords: strings(&analysis.booking_keywords),
            languages: strings(&analysis.languages),
            pages: serde_json::from_value(analysis.pages.clone()).unwrap_or_default(),
            analyzed_at: analysis.analyzed_at.map(|at| at.to_utc()),
            expires_at: analysis.expires_at.map(|at| at.to_utc()),
        };
        Self(record, WebsiteSignals(std::sync::Arc::new(analysis)))
    }
}

/// Conditions on a website analysis (one that has run). All given fields
/// must hold.
#[derive(InputObject, Clone, Default)]
pub(crate) struct WebsiteAnalysisFilter {
    pub status: Option<EnumFilter<WebsiteAnalysisStatus>>,
    /// The signals (`websiteAnalysis` signals).
    #[graphql(flatten)]
    pub signals: WebsiteSignalFilter,
}

impl WebsiteAnalysisFilter {
    /// The condition on `website_analyses`; `path` names the filter in
    /// errors.
    pub(crate) fn condition(&self, path: &str) -> AppResult<Condition> {
        let col = |column| Expr::col((website_analyses::Entity, column));
        let mut all = Condition::all().add(col(website_analyses::Column::AnalyzedAt).is_not_null());
        if let Some(f) = &self.status {
            all = all.add(f.condition(
                col(website_analyses::Column::Status),
                &format!("{path}.status"),
                StatusModel::from,
            )?);
        }
        Ok(all.add(self.signals.condition(path)?))
    }
}

/// `Company.websiteAnalysis` (merged into `Company`).
pub(crate) struct CompanyWebsite {
    pub domain: Option<String>,
}

#[Object]
impl CompanyWebsite {
    /// What the company's website says about how it takes bookings: the
    /// analysis of its domain (which every tenant with a company there
    /// shares). Null until the domain is analysed (`analyzeWebsite`, or on
    /// creation when `website_analysis.on_company_create` is on).
    async fn website_analysis(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<WebsiteAnalysis>> {
        let Some(domain) = &self.domain else {
            return Ok(None);
        };
        // Boxed: a field's future sizes every field of `Company`.
        let analysis = Box::pin(load_one::<WebsiteAnalysisLoader, _>(ctx, domain.clone())).await?;
        Ok(analysis.map(WebsiteAnalysis::from))
    }
}
