//! The website analysis cache and the rules around it.
//!
//! One row per domain serves every tenant. A request for a domain whose
//! analysis is fresh returns it; otherwise one request claims the row
//! (`claimed_until`, in a transaction: one claimer on any number of nodes)
//! and fetches while every other request for the domain, from any tenant,
//! waits for its result instead of fetching again. A claimer that dies
//! leaves a claim that lapses, and the next request fetches.
//!
//! An analysis lasts [`FRESH_FOR`] (a failed or blocked one [`RETRY_AFTER`]:
//! a site that is down today should not be marked down for a month).
//! When a new one is stored, every tenant with a live company on the
//! domain gets a durable job ([`apply`]) that rescores those companies'
//! leads and records a lead change naming `websiteAnalysis`, so stored
//! scores and dynamic segments follow the new signals like any other
//! change.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::{Condition, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter,
    QuerySelect, Set,
};
use serde_json::json;
use uuid::Uuid;

use entity::sea_orm_active_enums::WebsiteAnalysisStatus as Status;
use entity::{companies, jobs, leads, settings, website_analyses};

use super::fetch::{FetchError, Site};
use super::parse::{self, PageFacts, Signals};
use super::types::{AnalyzedPage, PageKind, WebsiteAnalysisFilter};
use crate::crm::companies::normalize_domain;
use crate::error::{AppError, AppResult};
use crate::events::commit_with;
use crate::jobs::{JobKind, JobOutcome, new_job};
use crate::outbound::Policy;
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin_for_write, begin_system_write, live, scoped};

/// How long an analysis is used before the site is read again.
pub(crate) const FRESH_FOR: chrono::Duration = chrono::Duration::days(30);
/// How long a failed or blocked analysis stands.
pub(crate) const RETRY_AFTER: chrono::Duration = chrono::Duration::days(1);
/// The tenant setting (`true`) that analyses a company's website when the
/// company is created with one, or its website changes.
pub(crate) const ANALYZE_NEW_COMPANIES: &str = "website_analysis.on_company_create";
/// Attempts of the background jobs (their failures are the database's:
/// a site that cannot be read is a result, not a failure).
const JOB_ATTEMPTS: i32 = 5;

/// A domain as the cache keys it, `companies.domain`'s form: lowercase,
/// without scheme, port, path or `www.`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Domain(String);

impl Domain {
    /// Parses a domain or a website address; `field` names it in errors.
    pub(crate) fn parse(raw: &str, field: &str) -> AppResult<Self> {
        normalize_domain(raw).map(Self).ok_or_else(|| {
            AppError::invalid(field, "is not a domain or website such as example.com")
        })
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// `analyzeWebsite`: the domain's analysis, read now unless a fresh one
/// exists. Members and above.
pub(crate) async fn analyze(
    shared: &Shared,
    ctx: &RequestCtx,
    domain: &str,
) -> AppResult<website_analyses::Model> {
    ctx.require_writer()?;
    let domain = Domain::parse(domain, "domain")?;
    analysis(shared, &domain).await
}

/// The fresh analysis of `domain`: the cached one, or the one this call
/// makes, or the one another call (here or on another node) is making.
pub(crate) async fn analysis(
    shared: &Shared,
    domain: &Domain,
) -> AppResult<website_analyses::Model> {
    let mut wait = Duration::from_millis(25);
    loop {
        match claim(shared, domain).await? {
            Claim::Fresh(analysis) => return Ok(*analysis),
            // Boxed: reading a site is a large future, and the job runner
            // (and the demo seed through it) awaits it inline.
            Claim::Mine => return Box::pin(run(shared, domain)).await,
            Claim::Taken => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_millis(500));
            }
        }
    }
}

/// What a request for a domain finds.
enum Claim {
    Fresh(Box<website_analyses::Model>),
    /// This request reads the site.
    Mine,
    /// Another request is reading it.
    Taken,
}

fn timeout(shared: &Shared) -> Duration {
    Duration::from_millis(Ord::max(shared.config.website_analysis_timeout_ms, 1))
}

/// The domain's row (created pending if new), locked while deciding.
async fn claim(shared: &Shared, domain: &Domain) -> AppResult<Claim> {
    let now = Utc::now().fixed_offset();
    let txn = begin_system_write(&shared.db).await?;
    website_analyses::Entity::insert(website_analyses::ActiveModel {
        domain: Set(domain.as_str().to_owned()),
        status: Set(Status::Pending),
        booking_keywords: Set(json!([])),
        languages: Set(json!([])),
        pages: Set(json!([])),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(website_analyses::Column::Domain)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    // PostgreSQL locks the row; SQLite's write transaction holds the lock.
    let row = website_analyses::Entity::find_by_id(domain.as_str().to_owned())
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("{} vanished", domain.as_str())))?;
    let claim = if row.analyzed_at.is_some() && row.expires_at.is_some_and(|at| at > now) {
        Claim::Fresh(Box::new(row))
    } else if row.claimed_until.is_some_and(|until| until > now) {
        Claim::Taken
    } else {
        // The fetch's own bound, and room to store what it found.
        let lease = chrono::Duration::from_std(timeout(shared) + Duration::from_secs(15))
            .map_err(AppError::internal)?;
        let mut row: website_analyses::ActiveModel = row.into();
        row.claimed_until = Set(Some(now + lease));
        row.update(&txn).await?;
        Claim::Mine
    };
    txn.commit().await?;
    Ok(claim)
}

/// What reading a site came to.
struct Report {
    status: Status,
    error: Option<String>,
    signals: Option<Signals>,
    pages: Vec<AnalyzedPage>,
}

impl Report {
    fn failed(error: &FetchError, pages: Vec<AnalyzedPage>) -> Self {
        Self {
            status: match error {
                FetchError::Blocked(_) => Status::Blocked,
                _ => Status::Failed,
            },
            error: Some(error.to_string()),
            signals: None,
            pages,
        }
    }
}

/// Reads and analyses the site, stores the result and hands it on.
async fn run(shared: &Shared, domain: &Domain) -> AppResult<website_analyses::Model> {
    let limit = timeout(shared);
    let policy = shared.config.outbound_policy();
    let report = match tokio::time::timeout(limit, read_site(domain, policy, limit)).await {
        Ok(report) => report,
        Err(_) => Report::failed(
            &FetchError::TimedOut(format!(
                "reading {} took longer than {} ms",
                domain.as_str(),
                limit.as_millis()
            )),
            Vec::new(),
        ),
    };
    store(shared, domain, report).await
}

/// The home page, then the booking or contact page it links to.
async fn read_site(domain: &Domain, policy: Policy, limit: Duration) -> Report {
    let site = match Site::new(policy, limit) {
        Ok(site) => site,
        Err(error) => return Report::failed(&error, Vec::new()),
    };
    let home = match site.home(domain.as_str()).await {
        Ok(home) => home,
        Err(error) => {
            let page = failed_page(PageKind::Home, &format!("{}/", domain.as_str()), &error);
            return Report::failed(&error, vec![page]);
        }
    };
    let mut pages = vec![read_page(PageKind::Home, &home)];
    let mut facts = vec![parse_page(home).await];
    if let Some((kind, url)) = facts[0].next.clone() {
        match site.page(url.clone()).await {
            Ok(page) => {
                pages.push(read_page(kind, &page));
                facts.push(parse_page(page).await);
            }
            // The home page's signals stand without it.
            Err(error) => pages.push(failed_page(kind, url.as_str(), &error)),
        }
    }
    Report {
        status: Status::Complete,
        error: None,
        signals: Some(Signals::of(&facts)),
        pages,
    }
}

/// Parses off the async workers: a 2 MB page is milliseconds of CPU.
async fn parse_page(page: super::fetch::Page) -> PageFacts {
    tokio::task::spawn_blocking(move || parse::parse(&page.html, &page.url))
        .await
        .unwrap_or_default()
}

fn read_page(kind: PageKind, page: &super::fetch::Page) -> AnalyzedPage {
    AnalyzedPage {
        kind,
        url: page.url.to_string(),
        status: Some(i32::from(page.status)),
        bytes: Some(i32::try_from(page.bytes).unwrap_or(i32::MAX)),
        error: None,
    }
}

fn failed_page(kind: PageKind, url: &str, error: &FetchError) -> AnalyzedPage {
    AnalyzedPage {
        kind,
        url: url.to_owned(),
        status: None,
        bytes: None,
        error: Some(error.to_string()),
    }
}

/// Writes the report over the domain's row (a failure clears what an
/// earlier analysis found: the site says nothing now) and queues a job for
/// every tenant with a live company on the domain.
async fn store(
    shared: &Shared,
    domain: &Domain,
    report: Report,
) -> AppResult<website_analyses::Model> {
    let now = Utc::now().fixed_offset();
    let fresh_for = match report.status {
        Status::Complete => FRESH_FOR,
        _ => RETRY_AFTER,
    };
    let s = report.signals.unwrap_or_default();
    let known = report.status == Status::Complete;
    let flag = |value: bool| Set(known.then_some(value));
    let row = website_analyses::ActiveModel {
        domain: Set(domain.as_str().to_owned()),
        status: Set(report.status),
        error: Set(report.error),
        has_booking_keywords: flag(!s.booking_keywords.is_empty()),
        booking_keyword_score: Set(known.then_some(s.booking_keyword_score)),
        booking_keywords: Set(json!(s.booking_keywords)),
        booking_tool: Set(s.booking_tool),
        has_online_booking: flag(s.has_online_booking),
        has_appointment_form: flag(s.has_appointment_form),
        has_calendar: flag(s.has_calendar),
        has_pricing: flag(s.has_pricing),
        has_gallery: flag(s.has_gallery),
        has_reviews: flag(s.has_reviews),
        has_contact_form: flag(s.has_contact_form),
        has_phone_only: flag(s.has_phone_only),
        has_multiple_locations: flag(s.has_multiple_locations),
        services_count: Set(known.then_some(s.services_count)),
        languages: Set(json!(s.languages)),
        pages: Set(serde_json::to_value(&report.pages).map_err(AppError::internal)?),
        analyzed_at: Set(Some(now)),
        expires_at: Set(Some(now + fresh_for)),
        claimed_until: Set(None),
        updated_at: Set(now),
        created_at: sea_orm::ActiveValue::NotSet,
    };
    let txn = begin_system_write(&shared.db).await?;
    let analysis = row.update(&txn).await?;
    let jobs: Vec<jobs::ActiveModel> = tenants_with_domain(&txn, domain)
        .await?
        .into_iter()
        .map(|tenant_id| {
            new_job(
                tenant_id,
                JobKind::ApplyWebsiteAnalysis,
                json!({ "domain": domain.as_str() }),
                JOB_ATTEMPTS,
            )
        })
        .collect();
    let any = !jobs.is_empty();
    crate::jobs::queue::insert(&txn, jobs).await?;
    txn.commit().await?;
    if any {
        shared.jobs.wake();
    }
    Ok(analysis)
}

/// The tenants with a live company on `domain`: the one read across
/// tenants, by `promohub_system` in its own transaction, of three columns
/// it is granted for exactly this (`m20261207_000021_website_analyses`).
async fn tenants_with_domain(conn: &impl ConnectionTrait, domain: &Domain) -> AppResult<Vec<Uuid>> {
    Ok(companies::Entity::find()
        .select_only()
        .column(companies::Column::TenantId)
        .distinct()
        .filter(companies::Column::Domain.eq(domain.as_str()))
        .filter(companies::Column::DeletedAt.is_null())
        .into_tuple()
        .all(conn)
        .await?)
}

/// What an apply job brings up to date.
enum Target {
    /// The tenant's live companies on a domain just analysed.
    Domain(String),
    /// A company whose website changed.
    Company(Uuid),
}

/// Runs an `analyze_website` job: the domain's analysis made fresh.
pub(crate) async fn analyze_job(shared: &Shared, job: &jobs::Model) -> JobOutcome {
    let Some(domain) = job.payload["domain"]
        .as_str()
        .and_then(|d| Domain::parse(d, "domain").ok())
    else {
        return JobOutcome::Failed(format!("no domain in {}", job.payload));
    };
    match analysis(shared, &domain).await {
        Ok(_) => JobOutcome::Done,
        Err(error) => JobOutcome::RetryAfter(chrono::Duration::seconds(30), format!("{error:?}")),
    }
}

/// Runs an `apply_website_analysis` job for its tenant.
pub(crate) async fn apply_job(shared: &Shared, job: &jobs::Model) -> JobOutcome {
    let Some(tenant_id) = job.tenant_id else {
        return JobOutcome::Failed("an apply job without a tenant".into());
    };
    let target = match (
        job.payload["domain"].as_str(),
        job.payload["company_id"]
            .as_str()
            .and_then(|id| Uuid::parse_str(id).ok()),
    ) {
        (Some(domain), _) => Target::Domain(domain.to_owned()),
        (None, Some(id)) => Target::Company(id),
        (None, None) => return JobOutcome::Failed(format!("no target in {}", job.payload)),
    };
    match Box::pin(apply(shared, tenant_id, target)).await {
        Ok(()) => JobOutcome::Done,
        Err(error) => JobOutcome::RetryAfter(chrono::Duration::seconds(10), format!("{error:?}")),
    }
}

/// Rescores the target companies' live leads and records that each one's
/// company analysis changed (`LEAD_CHANGED` naming `websiteAnalysis`, and
/// `score` where it moved): segment upkeep re-checks them from the events.
async fn apply(shared: &Shared, tenant_id: Uuid, target: Target) -> AppResult<()> {
    let ctx = RequestCtx::system(tenant_id);
    let txn = begin_for_write(&shared.db, tenant_id, None).await?;
    let companies: Vec<Uuid> = match target {
        Target::Domain(domain) => {
            live::<companies::Entity>(&ctx)
                .select_only()
                .column(companies::Column::Id)
                .filter(companies::Column::Domain.eq(domain))
                .into_tuple()
                .all(&txn)
                .await?
        }
        Target::Company(id) => vec![id],
    };
    let of_companies = Condition::all().add(leads::Column::CompanyId.is_in(companies));
    let rescored =
        crate::crm::scoring::recompute_matching(&txn, &ctx, of_companies.clone()).await?;
    let affected: Vec<Uuid> = live::<leads::Entity>(&ctx)
        .select_only()
        .column(leads::Column::Id)
        .filter(of_companies)
        .into_tuple()
        .all(&txn)
        .await?;
    let events = affected
        .into_iter()
        .map(|id| {
            let fields: &[&str] = if rescored.contains(&id) {
                &["websiteAnalysis", "score"]
            } else {
                &["websiteAnalysis"]
            };
            crate::crm::leads::events::fields_changed(id, fields)
        })
        .collect();
    commit_with(shared, txn, &ctx, events).await
}

/// Whether the tenant has [`ANALYZE_NEW_COMPANIES`] on.
async fn analyzes_new_companies(conn: &impl ConnectionTrait, ctx: &RequestCtx) -> AppResult<bool> {
    Ok(scoped::<settings::Entity>(ctx)
        .filter(settings::Column::Key.eq(ANALYZE_NEW_COMPANIES))
        .one(conn)
        .await?
        .is_some_and(|setting| setting.value == json!(true)))
}

/// A company was created with a website (in `conn`'s transaction): when the
/// tenant asks for it, its domain is analysed by a durable job, so the
/// creation does not wait for a website.
pub(crate) async fn company_created(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    domain: &str,
) -> AppResult<()> {
    Box::pin(async move {
        if !analyzes_new_companies(conn, ctx).await? {
            return Ok(());
        }
        let job = new_job(
            ctx.tenant_id,
            JobKind::AnalyzeWebsite,
            json!({ "domain": domain }),
            JOB_ATTEMPTS,
        );
        crate::jobs::enqueue(conn, vec![job]).await
    })
    .await
}

/// A company's website changed (in `conn`'s transaction): its leads follow
/// the new domain's analysis (a job, as for a new analysis), and the new
/// domain is analysed as for a new company.
pub(crate) async fn company_website_changed(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    company_id: Uuid,
    domain: Option<&str>,
) -> AppResult<()> {
    let apply = new_job(
        ctx.tenant_id,
        JobKind::ApplyWebsiteAnalysis,
        json!({ "company_id": company_id.to_string() }),
        JOB_ATTEMPTS,
    );
    Box::pin(crate::jobs::enqueue(conn, vec![apply])).await?;
    match domain {
        Some(domain) => company_created(conn, ctx, domain).await,
        None => Ok(()),
    }
}

/// The analyses of the caller's companies `ids` that have one, by company
/// (one statement).
pub(crate) async fn of_companies(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    ids: &[Uuid],
) -> AppResult<HashMap<Uuid, website_analyses::Model>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    // Boxed, as the hooks below: the lead and company write paths await
    // this inside futures that are deep already, and a query's future is
    // large (the demo seed ran out of a test thread's stack).
    Box::pin(async move {
        let mut found = HashMap::new();
        for chunk in ids.chunks(crate::crm::leads::fields::IDS_PER_LOOKUP) {
            let rows = website_analyses::Entity::find()
                .join(JoinType::InnerJoin, on_company_domain())
                .select_also(companies::Entity)
                .filter(companies::Column::TenantId.eq(ctx.tenant_id))
                .filter(companies::Column::Id.is_in(chunk.iter().copied()))
                .all(conn)
                .await?;
            for (analysis, company) in rows {
                if let Some(company) = company {
                    found.insert(company.id, analysis);
                }
            }
        }
        Ok(found)
    })
    .await
}

/// `website_analyses.domain = companies.domain`.
fn on_company_domain() -> sea_orm::RelationDef {
    website_analyses::Entity::belongs_to(companies::Entity)
        .from(website_analyses::Column::Domain)
        .to(companies::Column::Domain)
        .into()
}

/// The lead filter's `websiteAnalysis`: the lead's company's analysis
/// matches `filter`.
pub(crate) fn lead_condition(filter: &WebsiteAnalysisFilter, path: &str) -> AppResult<Condition> {
    let analyses = Query::select()
        .expr(Expr::val(1))
        .from(companies::Entity)
        .join(
            JoinType::InnerJoin,
            website_analyses::Entity,
            Expr::col((website_analyses::Entity, website_analyses::Column::Domain))
                .equals((companies::Entity, companies::Column::Domain)),
        )
        .and_where(
            Expr::col((companies::Entity, companies::Column::TenantId))
                .equals((leads::Entity, leads::Column::TenantId)),
        )
        .and_where(
            Expr::col((companies::Entity, companies::Column::Id))
                .equals((leads::Entity, leads::Column::CompanyId)),
        )
        .cond_where(filter.condition(path)?)
        .to_owned();
    Ok(Condition::all().add(Expr::exists(analyses)))
}

/// The company filter's `websiteAnalysis`: the company's analysis matches
/// `filter`.
pub(crate) fn company_condition(
    filter: &WebsiteAnalysisFilter,
    path: &str,
) -> AppResult<Condition> {
    let analyses = Query::select()
        .expr(Expr::val(1))
        .from(website_analyses::Entity)
        .and_where(
            Expr::col((website_analyses::Entity, website_analyses::Column::Domain))
                .equals((companies::Entity, companies::Column::Domain)),
        )
        .cond_where(filter.condition(path)?)
        .to_owned();
    Ok(Condition::all().add(Expr::exists(analyses)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_parsed_from_websites_and_refused_when_they_are_none() {
        assert_eq!(
            Domain::parse(" https://www.Salon.example/book ", "domain")
                .unwrap()
                .as_str(),
            "salon.example"
        );
        for bad in [
            "",
            "salon",
            "127.0.0.1",
            "ftp://salon.example",
            "a@salon.example",
        ] {
            match Domain::parse(bad, "domain") {
                Err(AppError::BadUserInput { field, .. }) => assert_eq!(field, "domain"),
                other => panic!("accepted {bad:?}: {other:?}"),
            }
        }
    }
}
