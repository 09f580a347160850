//! Tracking sites: a tenant's website as the page-view tracker knows it,
//! with its public site key (what the snippet carries) and the URL patterns
//! of its funnel pages (demo, pricing, contact; seed 000 `is_demo_page`,
//! `is_contact_page`).

use std::time::{Duration, Instant};

use async_graphql::{ComplexObject, Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, IntoActiveModel, QueryFilter, Set};
use uuid::Uuid;

use entity::sea_orm_active_enums::PublicIdKind;
use entity::tracking_sites;

use crate::domain::required_text;
use crate::error::{AppError, AppResult, on_unique};
use crate::graphql::audit::touch;
use crate::graphql::pagination::{Order, PageArgs, RelayConnection, connection, cost, list_by_id};
use crate::graphql::{caller, parse_id, shared, to_id};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{
    begin_for, begin_write, end_read, ensure_live_name_free, find_live, live, read_live,
    soft_delete, tenant_rows,
};

const MAX_NAME_CHARS: usize = 200;
const MAX_PATTERNS: usize = 50;
const MAX_PATTERN_CHARS: usize = 500;
const DUPLICATE_NAME: &str = "another tracking site already has this name";

/// Which funnel pages a URL is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Funnel {
    pub demo: bool,
    pub pricing: bool,
    pub contact: bool,
}

/// `*` matches any run of characters; everything else itself, ignoring
/// case. A pattern without `*` matches anywhere in the URL.
pub(crate) fn matches(pattern: &str, url: &str) -> bool {
    let (pattern, url) = (pattern.to_lowercase(), url.to_lowercase());
    if !pattern.contains('*') {
        return url.contains(&pattern);
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = url.as_str();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        if i == 0 {
            let Some(after) = rest.strip_prefix(part) else {
                return false;
            };
            rest = after;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else {
                return false;
            };
            rest = &rest[at + part.len()..];
        }
    }
    true
}

fn patterns(value: &serde_json::Value) -> Vec<String> {
    serde_json::from_value(value.clone()).unwrap_or_default()
}

/// A site as the tracker needs it, cached by site key.
#[derive(Clone, Debug)]
pub(crate) struct Site {
    pub tenant_id: Uuid,
    pub id: Uuid,
    demo: Vec<String>,
    pricing: Vec<String>,
    contact: Vec<String>,
}

impl Site {
    fn of(row: &tracking_sites::Model) -> Self {
        Self {
            tenant_id: row.tenant_id,
            id: row.id,
            demo: patterns(&row.demo_patterns),
            pricing: patterns(&row.pricing_patterns),
            contact: patterns(&row.contact_patterns),
        }
    }

    pub(crate) fn funnel(&self, url: &str) -> Funnel {
        let any = |list: &[String]| list.iter().any(|p| matches(p, url));
        Funnel {
            demo: any(&self.demo),
            pricing: any(&self.pricing),
            contact: any(&self.contact),
        }
    }
}

/// How long a node trusts its copy of a site (another node's change shows
/// after at most this long; this node's at once).
const CACHE_FOR: Duration = Duration::from_secs(30);
const CACHE_ENTRIES: usize = 10_000;

/// Sites by site key, so a page view costs no lookup of its own; and each
/// tenant's tracked domains, so a click costs none either.
pub(crate) struct SiteCache {
    entries: std::sync::Mutex<lru::LruCache<String, (Instant, Option<Site>)>>,
    domains: std::sync::Mutex<lru::LruCache<Uuid, (Instant, Vec<String>)>>,
}

impl Default for SiteCache {
    fn default() -> Self {
        let size = std::num::NonZeroUsize::new(CACHE_ENTRIES).expect("not zero");
        Self {
            entries: std::sync::Mutex::new(lru::LruCache::new(size)),
            domains: std::sync::Mutex::new(lru::LruCache::new(size)),
        }
    }
}

/// Whether `url`'s host is one of `domains` or below one.
pub(crate) fn on_domains(url: &str, domains: &[String]) -> bool {
    let rest = url.split_once("://").map_or("", |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
        .split(':')
        .next()
        .unwrap_or_default()
        .to_lowercase();
    !host.is_empty()
        && domains
            .iter()
            .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

impl SiteCache {
    /// The live site a key names (`None`: no such site, also cached).
    pub(crate) async fn get(&self, shared: &Shared, key: &str) -> AppResult<Option<Site>> {
        if let Some((at, site)) = self.entries.lock().expect("site cache").get(key)
            && at.elapsed() < CACHE_FOR
        {
            return Ok(site.clone());
        }
        let site =
            match crate::capture::public_ids::resolve(&shared.db, key, PublicIdKind::TrackingSite)
                .await?
            {
                None => None,
                Some((tenant_id, site_id)) => {
                    let txn = begin_for(&shared.db, tenant_id, None).await?;
                    let row = tenant_rows::<tracking_sites::Entity>(tenant_id)
                        .filter(tracking_sites::Column::Id.eq(site_id))
                        .filter(tracking_sites::Column::DeletedAt.is_null())
                        .one(&txn)
                        .await?;
                    end_read(txn).await?;
                    row.as_ref().map(Site::of)
                }
            };
        self.entries
            .lock()
            .expect("site cache")
            .put(key.to_owned(), (Instant::now(), site.clone()));
        Ok(site)
    }

    /// The domains of the tenant's live tracking sites.
    pub(crate) async fn domains(&self, shared: &Shared, tenant_id: Uuid) -> AppResult<Vec<String>> {
        if let Some((at, domains)) = self.domains.lock().expect("site cache").get(&tenant_id)
            && at.elapsed() < CACHE_FOR
        {
            return Ok(domains.clone());
        }
        let txn = begin_for(&shared.db, tenant_id, None).await?;
        let rows = tenant_rows::<tracking_sites::Entity>(tenant_id)
            .filter(tracking_sites::Column::DeletedAt.is_null())
            .all(&txn)
            .await?;
        end_read(txn).await?;
        let domains: Vec<String> = rows.iter().flat_map(|row| patterns(&row.domains)).collect();
        self.domains
            .lock()
            .expect("site cache")
            .put(tenant_id, (Instant::now(), domains.clone()));
        Ok(domains)
    }

    fn forget(&self, key: &str, tenant_id: Uuid) {
        self.entries.lock().expect("site cache").pop(key);
        self.domains.lock().expect("site cache").pop(&tenant_id);
    }
}

fn checked_patterns(values: Vec<String>, field: &str) -> AppResult<serde_json::Value> {
    if values.len() > MAX_PATTERNS {
        return Err(AppError::invalid(
            field,
            format!("at most {MAX_PATTERNS} patterns"),
        ));
    }
    let mut out = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        out.push(required_text(
            &value,
            &format!("{field}.{i}"),
            MAX_PATTERN_CHARS,
        )?);
    }
    Ok(serde_json::json!(out))
}

const MAX_DOMAINS: usize = 50;

/// Host names, lowercase, without scheme, port or path.
fn checked_domains(values: Vec<String>, field: &str) -> AppResult<serde_json::Value> {
    if values.len() > MAX_DOMAINS {
        return Err(AppError::invalid(
            field,
            format!("at most {MAX_DOMAINS} domains"),
        ));
    }
    let mut out = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        let domain = value.trim().trim_end_matches('.').to_lowercase();
        let valid = !domain.is_empty()
            && domain.len() <= 253
            && domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !valid {
            return Err(AppError::invalid(
                format!("{field}.{i}"),
                "must be a host name such as acme.example (no scheme, port or path)",
            ));
        }
        if !out.contains(&domain) {
            out.push(domain);
        }
    }
    Ok(serde_json::json!(out))
}

/// A website whose page views PromoHub records.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub(crate) struct TrackingSite {
    pub id: ID,
    pub name: String,
    /// Public: it is in the page's source.
    pub site_key: String,
    /// The site's hosts: tracked email links to them tell the landing page
    /// who the visitor is.
    pub domains: Vec<String>,
    /// URL patterns (`*` for any characters; without one, a part of the
    /// URL) of demo-request pages.
    pub demo_patterns: Vec<String>,
    pub pricing_patterns: Vec<String>,
    pub contact_patterns: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<tracking_sites::Model> for TrackingSite {
    fn from(row: tracking_sites::Model) -> Self {
        Self {
            id: to_id(row.id),
            name: row.name,
            site_key: row.site_key,
            domains: patterns(&row.domains),
            demo_patterns: patterns(&row.demo_patterns),
            pricing_patterns: patterns(&row.pricing_patterns),
            contact_patterns: patterns(&row.contact_patterns),
            created_at: row.created_at.to_utc(),
            updated_at: row.updated_at.to_utc(),
        }
    }
}

#[ComplexObject]
impl TrackingSite {
    /// The HTML to put on every page of the site, before `</body>`.
    async fn snippet(&self, ctx: &Context<'_>) -> String {
        let base = shared(ctx).config.public_url();
        let key = &self.site_key;
        format!(
            "<script async src=\"{base}/t/p.js\" data-site=\"{key}\"></script>\
             <noscript><img src=\"{base}/t/pv.gif?k={key}\" alt=\"\" width=\"1\" height=\"1\" style=\"position:absolute\"></noscript>"
        )
    }
}

#[derive(InputObject)]
pub(crate) struct TrackingSiteInput {
    pub name: Option<String>,
    pub domains: Option<Vec<String>>,
    pub demo_patterns: Option<Vec<String>>,
    pub pricing_patterns: Option<Vec<String>>,
    pub contact_patterns: Option<Vec<String>>,
}

async fn create(
    shared: &Shared,
    ctx: &RequestCtx,
    input: TrackingSiteInput,
) -> AppResult<tracking_sites::Model> {
    ctx.require_writer()?;
    let name = required_text(
        input.name.as_deref().unwrap_or_default(),
        "input.name",
        MAX_NAME_CHARS,
    )?;
    let now = Utc::now().fixed_offset();
    let txn = begin_write(&shared.db, ctx).await?;
    ensure_live_name_free::<tracking_sites::Entity>(
        &txn,
        ctx,
        tracking_sites::Column::Name,
        &name,
        None,
        DUPLICATE_NAME,
    )
    .await?;
    let key = crate::capture::public_ids::mint();
    let id = Uuid::now_v7();
    let site = tracking_sites::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        id: Set(id),
        name: Set(name),
        site_key: Set(key.clone()),
        domains: Set(checked_domains(
            input.domains.unwrap_or_default(),
            "input.domains",
        )?),
        demo_patterns: Set(checked_patterns(
            input.demo_patterns.unwrap_or_default(),
            "input.demoPatterns",
        )?),
        pricing_patterns: Set(checked_patterns(
            input.pricing_patterns.unwrap_or_default(),
            "input.pricingPatterns",
        )?),
        contact_patterns: Set(checked_patterns(
            input.contact_patterns.unwrap_or_default(),
            "input.contactPatterns",
        )?),
        created_at: Set(now),
        updated_at: Set(now),
        created_by: Set(ctx.user_id()),
        updated_by: Set(ctx.user_id()),
        deleted_at: Set(None),
        deleted_by: Set(None),
    }
    .insert(&txn)
    .await
    .map_err(|e| on_unique(e, Some("input.name"), DUPLICATE_NAME))?;
    crate::capture::public_ids::register(&txn, &key, PublicIdKind::TrackingSite, ctx.tenant_id, id)
        .await?;
    txn.commit().await?;
    Ok(site)
}

async fn update(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
    input: TrackingSiteInput,
) -> AppResult<tracking_sites::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let current = find_live::<tracking_sites::Entity>(&txn, ctx, id).await?;
    let key = current.site_key.clone();
    let mut site = current.into_active_model();
    if let Some(name) = &input.name {
        let name = required_text(name, "input.name", MAX_NAME_CHARS)?;
        ensure_live_name_free::<tracking_sites::Entity>(
            &txn,
            ctx,
            tracking_sites::Column::Name,
            &name,
            Some(id),
            DUPLICATE_NAME,
        )
        .await?;
        site.name = Set(name);
    }
    if let Some(d) = input.domains {
        site.domains = Set(checked_domains(d, "input.domains")?);
    }
    if let Some(p) = input.demo_patterns {
        site.demo_patterns = Set(checked_patterns(p, "input.demoPatterns")?);
    }
    if let Some(p) = input.pricing_patterns {
        site.pricing_patterns = Set(checked_patterns(p, "input.pricingPatterns")?);
    }
    if let Some(p) = input.contact_patterns {
        site.contact_patterns = Set(checked_patterns(p, "input.contactPatterns")?);
    }
    site.updated_at = Set(Utc::now().fixed_offset());
    site.updated_by = Set(ctx.user_id());
    let site = site
        .update(&txn)
        .await
        .map_err(|e| on_unique(e, Some("input.name"), DUPLICATE_NAME))?;
    txn.commit().await?;
    shared.sites.forget(&key, ctx.tenant_id);
    Ok(site)
}

async fn delete(shared: &Shared, ctx: &RequestCtx, id: Uuid) -> AppResult<tracking_sites::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let site = soft_delete::<tracking_sites::Entity>(&txn, ctx, id).await?;
    crate::capture::public_ids::unregister(&txn, &site.site_key).await?;
    txn.commit().await?;
    shared.sites.forget(&site.site_key, ctx.tenant_id);
    Ok(site)
}

#[derive(Default)]
pub(crate) struct TrackingSiteQuery;

#[Object]
impl TrackingSiteQuery {
    /// Your tenant's tracking sites, newest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn tracking_sites(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<RelayConnection<TrackingSite>> {
        let args = PageArgs::new(first, after, last, before);
        let ctx_ = caller(ctx)?;
        let (page, totals) = list_by_id(
            shared(ctx),
            ctx_,
            live::<tracking_sites::Entity>(ctx_),
            tracking_sites::Column::Id,
            &args,
            Order::NewestFirst,
        )
        .await?;
        Ok(connection(page, totals, |row| row.id, TrackingSite::from))
    }

    async fn tracking_site(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<TrackingSite> {
        let id = parse_id(&id, "id")?;
        Ok(
            read_live::<tracking_sites::Entity>(&shared(ctx).db, caller(ctx)?, id)
                .await?
                .into(),
        )
    }
}

#[derive(Default)]
pub(crate) struct TrackingSiteMutation;

#[Object]
impl TrackingSiteMutation {
    /// Adds a website to track; put its `snippet` on every page.
    async fn create_tracking_site(
        &self,
        ctx: &Context<'_>,
        input: TrackingSiteInput,
    ) -> async_graphql::Result<TrackingSite> {
        let site = create(shared(ctx), caller(ctx)?, input).await?;
        touch(ctx, "tracking_site", site.id);
        Ok(site.into())
    }

    /// Renames a site or changes its funnel patterns (absent fields stay).
    async fn update_tracking_site(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: TrackingSiteInput,
    ) -> async_graphql::Result<TrackingSite> {
        let id = parse_id(&id, "id")?;
        let site = update(shared(ctx), caller(ctx)?, id, input).await?;
        touch(ctx, "tracking_site", site.id);
        Ok(site.into())
    }

    /// Stops tracking a site: its key is refused from then on.
    async fn delete_tracking_site(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<TrackingSite> {
        let id = parse_id(&id, "id")?;
        let site = delete(shared(ctx), caller(ctx)?, id).await?;
        touch(ctx, "tracking_site", site.id);
        Ok(site.into())
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn patterns_match_with_stars_or_as_a_part() {
        assert!(matches("/pricing", "https://acme.example/pricing?x=1"));
        assert!(matches(
            "https://*.example/demo*",
            "https://www.acme.example/demo/book"
        ));
        assert!(!matches(
            "https://*.example/demo*",
            "https://acme.example/blog/demo"
        ));
        assert!(matches("*contact", "https://acme.example/Contact"));
        assert!(!matches("*contact", "https://acme.example/contact-us"));
    }
}
