//! `pageViews`, `pageViewStats`, and the `PageView` type (`lead.pageViews`
//! batches through `PageViewsOfLead`).

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use entity::page_views;
use entity::sea_orm_active_enums::DeviceType as DeviceTypeModel;

use super::service;
use crate::capture::forms::types::Utm;
use crate::graphql::loaders::ChildRelation;
use crate::graphql::numbers;
use crate::graphql::pagination::{PageArgs, RelayConnection, connection, cost};
use crate::graphql::{caller, mirror_enum, parse_id, shared, to_id};

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceType {
    Desktop,
    Mobile,
    Tablet,
    Other,
}
mirror_enum!(DeviceType <=> DeviceTypeModel { Desktop, Mobile, Tablet, Other });

/// One page view of a tracked site.
#[derive(SimpleObject, Clone)]
#[graphql(name = "PageView")]
pub(crate) struct PageViewType {
    pub id: ID,
    pub site_id: ID,
    /// The first-party visitor id the tracker keeps in the browser.
    pub visitor_id: String,
    /// The lead the visitor turned out to be (a form, a tracked email link).
    pub lead_id: Option<ID>,
    pub url: String,
    pub path: String,
    pub referrer: Option<String>,
    pub title: Option<String>,
    pub utm: Utm,
    /// ISO 3166 alpha-2.
    pub country: Option<String>,
    pub city: Option<String>,
    pub device_type: DeviceType,
    pub browser: Option<String>,
    pub os: Option<String>,
    pub screen_width: Option<i32>,
    pub screen_height: Option<i32>,
    /// A known crawler: kept apart from the numbers.
    pub is_bot: bool,
    pub is_demo_page: bool,
    pub is_pricing_page: bool,
    pub is_contact_page: bool,
    /// Truncated unless the server keeps full addresses.
    pub ip: Option<String>,
    pub viewed_at: DateTime<Utc>,
}

impl From<page_views::Model> for PageViewType {
    fn from(row: page_views::Model) -> Self {
        Self {
            id: to_id(row.id),
            site_id: to_id(row.site_id),
            visitor_id: row.visitor_id,
            lead_id: row.lead_id.map(to_id),
            url: row.url,
            path: row.path,
            referrer: row.referrer,
            title: row.title,
            utm: Utm {
                source: row.utm_source,
                medium: row.utm_medium,
                campaign: row.utm_campaign,
                term: row.utm_term,
                content: row.utm_content,
            },
            country: row.country,
            city: row.city,
            device_type: row.device_type.into(),
            browser: row.browser,
            os: row.os,
            screen_width: row.screen_width,
            screen_height: row.screen_height,
            is_bot: row.is_bot,
            is_demo_page: row.is_demo_page,
            is_pricing_page: row.is_pricing_page,
            is_contact_page: row.is_contact_page,
            ip: row.ip,
            viewed_at: row.viewed_at.to_utc(),
        }
    }
}

/// `lead.pageViews`: the newest views of each lead of a page, one statement.
pub(crate) struct PageViewsOfLead;

impl ChildRelation for PageViewsOfLead {
    type Entity = page_views::Entity;

    fn parent_column() -> page_views::Column {
        page_views::Column::LeadId
    }

    fn parent_of(child: &page_views::Model) -> Uuid {
        child.lead_id.unwrap_or_default()
    }
}

/// Which page views to list; every field narrows. Crawlers are left out
/// unless `bots` is true (then only they are listed).
#[derive(InputObject, Default)]
pub(crate) struct PageViewFilter {
    pub site_id: Option<ID>,
    pub lead_id: Option<ID>,
    pub visitor_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// The URL's path, e.g. `/pricing`.
    pub path: Option<String>,
    pub utm_source: Option<String>,
    pub utm_campaign: Option<String>,
    pub country: Option<String>,
    pub demo_page: Option<bool>,
    pub pricing_page: Option<bool>,
    pub contact_page: Option<bool>,
    pub bots: Option<bool>,
}

/// A value and how many views had it.
#[derive(SimpleObject, Clone, Default)]
pub(crate) struct Count {
    pub value: String,
    pub views: numbers::Count,
}

/// Page views over a period (crawlers counted apart).
#[derive(SimpleObject)]
pub(crate) struct PageViewStats {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub views: numbers::Count,
    /// Distinct visitor ids.
    pub visitors: numbers::Count,
    /// Distinct leads the visitors turned out to be.
    pub leads: numbers::Count,
    /// Views by known crawlers (not in the other numbers).
    pub bots: numbers::Count,
    /// The most viewed paths, at most 10.
    pub top_pages: Vec<Count>,
    pub utm_sources: Vec<Count>,
    pub utm_campaigns: Vec<Count>,
    /// `desktop`, `mobile`, `tablet`, `other`.
    pub devices: Vec<Count>,
    pub countries: Vec<Count>,
}

#[derive(Default)]
pub(crate) struct PageViewQuery;

#[Object]
impl PageViewQuery {
    /// Page views of your tracked sites, newest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn page_views(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<PageViewFilter>,
    ) -> async_graphql::Result<RelayConnection<PageViewType>> {
        let args = PageArgs::new(first, after, last, before);
        let (page, totals) =
            service::list(shared(ctx), caller(ctx)?, &args, filter.unwrap_or_default()).await?;
        Ok(connection(page, totals, |row| row.id, PageViewType::from))
    }

    /// Views, visitors and what they looked at over a period (the last 30
    /// days by default), for one site or all.
    async fn page_view_stats(
        &self,
        ctx: &Context<'_>,
        site_id: Option<ID>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<PageViewStats> {
        let site_id = site_id.map(|id| parse_id(&id, "siteId")).transpose()?;
        Ok(service::stats(shared(ctx), caller(ctx)?, site_id, from, to).await?)
    }
}
