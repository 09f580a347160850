//! Reading page views: a filtered list, and aggregates over a period (top
//! pages, UTM sources and campaigns, devices, countries), crawlers left out
//! unless asked for.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait};
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect, Select};
use uuid::Uuid;

use entity::page_views::{self, Column};

use super::resolver::{Count as Counted, PageViewFilter, PageViewStats};
use crate::error::{AppError, AppResult};
use crate::graphql::pagination::{Order, Page, PageArgs, Totals, list_by_id};
use crate::graphql::parse_id;
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin, end_read, scoped};

/// Rows each aggregate lists at most.
const TOP: u64 = 10;

fn filtered(ctx: &RequestCtx, filter: &PageViewFilter) -> AppResult<Select<page_views::Entity>> {
    let mut select = scoped::<page_views::Entity>(ctx);
    if let Some(id) = &filter.site_id {
        select = select.filter(Column::SiteId.eq(parse_id(id, "filter.siteId")?));
    }
    if let Some(id) = &filter.lead_id {
        select = select.filter(Column::LeadId.eq(parse_id(id, "filter.leadId")?));
    }
    if let Some(visitor) = &filter.visitor_id {
        select = select.filter(Column::VisitorId.eq(visitor.as_str()));
    }
    if let Some(since) = filter.since {
        select = select.filter(Column::ViewedAt.gte(since.fixed_offset()));
    }
    if let Some(until) = filter.until {
        select = select.filter(Column::ViewedAt.lt(until.fixed_offset()));
    }
    if let Some(path) = &filter.path {
        select = select.filter(Column::Path.eq(path.as_str()));
    }
    if let Some(source) = &filter.utm_source {
        select = select.filter(Column::UtmSource.eq(source.as_str()));
    }
    if let Some(campaign) = &filter.utm_campaign {
        select = select.filter(Column::UtmCampaign.eq(campaign.as_str()));
    }
    if let Some(country) = &filter.country {
        select = select.filter(Column::Country.eq(country.to_uppercase()));
    }
    for (flag, column) in [
        (filter.demo_page, Column::IsDemoPage),
        (filter.pricing_page, Column::IsPricingPage),
        (filter.contact_page, Column::IsContactPage),
    ] {
        if let Some(flag) = flag {
            select = select.filter(column.eq(flag));
        }
    }
    // Crawlers only when asked for.
    select = select.filter(Column::IsBot.eq(filter.bots.unwrap_or(false)));
    Ok(select)
}

pub(super) async fn list(
    shared: &Shared,
    ctx: &RequestCtx,
    args: &PageArgs,
    filter: PageViewFilter,
) -> AppResult<(Page<page_views::Model>, Totals)> {
    let select = filtered(ctx, &filter)?;
    list_by_id(shared, ctx, select, Column::Id, args, Order::NewestFirst).await
}

/// `pageViewStats`: the period's views, visitors and leads, and what they
/// were (crawlers apart).
pub(super) async fn stats(
    shared: &Shared,
    ctx: &RequestCtx,
    site_id: Option<Uuid>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> AppResult<PageViewStats> {
    let to = to.unwrap_or_else(Utc::now);
    let from = from.unwrap_or(to - Duration::days(30));
    if from > to {
        return Err(AppError::invalid("from", "must not be after to"));
    }
    let period = |bots: bool| {
        let mut select = scoped::<page_views::Entity>(ctx)
            .filter(Column::ViewedAt.gte(from.fixed_offset()))
            .filter(Column::ViewedAt.lt(to.fixed_offset()))
            .filter(Column::IsBot.eq(bots));
        if let Some(site) = site_id {
            select = select.filter(Column::SiteId.eq(site));
        }
        select
    };
    let txn = begin(&shared.db, ctx).await?;
    let totals: Option<(i64, i64, i64)> = period(false)
        .select_only()
        .column_as(Expr::col(Column::Id).count(), "views")
        .column_as(Expr::cust("COUNT(DISTINCT visitor_id)"), "visitors")
        .column_as(Expr::cust("COUNT(DISTINCT lead_id)"), "leads")
        .into_tuple()
        .one(&*txn)
        .await?;
    let bots: i64 = period(true)
        .select_only()
        .column_as(Expr::col(Column::Id).count(), "n")
        .into_tuple()
        .one(&*txn)
        .await?
        .unwrap_or_default();
    let mut top = Vec::new();
    for column in [
        Column::Path,
        Column::UtmSource,
        Column::UtmCampaign,
        Column::DeviceType,
        Column::Country,
    ] {
        // Enum columns read back as text on both backends.
        let value = Expr::col(column).cast_as(Alias::new("text"));
        let rows: Vec<(Option<String>, i64)> = period(false)
            .select_only()
            .column_as(value.clone(), "value")
            .column_as(Expr::col(Column::Id).count(), "n")
            .filter(Expr::col(column).is_not_null())
            .group_by(value)
            .order_by_desc(Expr::col(Column::Id).count())
            .limit(TOP)
            .into_tuple()
            .all(&*txn)
            .await?;
        top.push(
            rows.into_iter()
                .filter_map(|(value, n)| {
                    value.map(|value| Counted {
                        value,
                        views: n.into(),
                    })
                })
                .collect::<Vec<_>>(),
        );
    }
    end_read(txn).await?;
    let (views, visitors, leads) = totals.unwrap_or_default();
    let mut top = top.into_iter();
    let mut next = || top.next().unwrap_or_default();
    Ok(PageViewStats {
        from,
        to,
        views: views.into(),
        visitors: visitors.into(),
        leads: leads.into(),
        bots: bots.into(),
        top_pages: next(),
        utm_sources: next(),
        utm_campaigns: next(),
        devices: next(),
        countries: next(),
    })
}
