//! The lead filter language: typed operators (`eq, ne, in, lt, lte, gt, gte,
//! contains, startsWith, isNull`) combined with `and / or / not`, on an
//! allow-list of indexed fields plus tags and custom fields. It compiles to
//! one SQL condition. Segments reuse it, so it lives here on its own.

use crate::graphql::json::Json;
use async_graphql::InputObject;
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Query, SimpleExpr};
use sea_orm::{ColumnTrait, DbBackend};

use entity::leads::Column;
use entity::sea_orm_active_enums::EngagementType;

use crate::capture::website_analysis::WebsiteAnalysisFilter;
use crate::messaging::engagement::types::EngagementType as EngagementKind;
use entity::{engagement_events, lead_tags, leads};

use super::attributes::LeadAttributeFilter;
use super::types::LeadStatus;
use crate::error::{AppError, AppResult};
use crate::graphql::filters::{
    ColumnFilter, Combined, DateTimeFilter, IdFilter, IntFilter, StringFilter, checked_len,
    combine, days_ago, like_escape,
};

/// Conditions on leads. All given fields must hold (an implicit AND).
#[derive(InputObject, Clone, Default)]
pub(crate) struct LeadFilter {
    pub and: Option<Vec<LeadFilter>>,
    pub or: Option<Vec<LeadFilter>>,
    pub not: Option<Box<LeadFilter>>,
    pub status: Option<StatusFilter>,
    pub stage_id: Option<IdFilter>,
    pub source_id: Option<IdFilter>,
    pub owner_id: Option<IdFilter>,
    pub project_id: Option<IdFilter>,
    pub company_id: Option<IdFilter>,
    pub score: Option<IntFilter>,
    /// The filterable attributes (`leads::attributes`).
    #[graphql(flatten)]
    pub attributes: LeadAttributeFilter,
    pub tags: Option<TagFilter>,
    pub created_at: Option<DateTimeFilter>,
    pub updated_at: Option<DateTimeFilter>,
    pub converted_at: Option<DateTimeFilter>,
    pub last_contacted_at: Option<DateTimeFilter>,
    /// Conditions on custom field values, by key.
    pub custom_fields: Option<Vec<CustomFieldFilter>>,
    /// Opened, clicked or replied to a message lately (`not: { engaged: … }`
    /// for the leads that did not).
    pub engaged: Option<EngagedFilter>,
    /// `false`: never sent a message; `true`: sent at least one.
    pub contacted: Option<bool>,
    /// Leads in any of these segments (static: its members; dynamic: what
    /// its filter matches).
    pub in_segments: Option<Vec<async_graphql::ID>>,
    /// Leads in none of these segments.
    pub not_in_segments: Option<Vec<async_graphql::ID>>,
    /// The website analysis of the lead's company.
    // Boxed: a filter is held by value in many resolvers' futures, which
    // nest once per root type merged into the schema.
    pub website_analysis: Option<Box<WebsiteAnalysisFilter>>,
    /// `in_segments` and `not_in_segments` as read from the database
    /// (`segments::service::resolve_segments`), for `compile`.
    #[graphql(skip)]
    pub resolved: Option<ResolvedSegments>,
}

impl LeadFilter {
    /// Every filter inside this one (`and`, `or`, `not`, and the filters of
    /// the dynamic segments it names, once resolved), this one first.
    fn walk<'a>(&'a self, seen: &mut Vec<&'a LeadFilter>) {
        seen.push(self);
        for child in self.and.iter().chain(&self.or).flatten() {
            child.walk(seen);
        }
        if let Some(child) = &self.not {
            child.walk(seen);
        }
        let resolved = self.resolved.iter();
        for named in resolved.flat_map(|r| r.in_segments.iter().chain(&r.not_in_segments)) {
            if let SegmentRef::Dynamic(saved) = named {
                saved.walk(seen);
            }
        }
    }

    fn any(&self, test: impl Fn(&LeadFilter) -> bool) -> bool {
        let mut all = Vec::new();
        self.walk(&mut all);
        all.into_iter().any(test)
    }

    /// Whether what the filter matches can change with no change to any
    /// lead, as time passes: a relative date ("in the last 30 days") or an
    /// engagement period. (Resolve it first to see into named segments.)
    pub(crate) fn depends_on_clock(&self) -> bool {
        let relative =
            |f: &Option<DateTimeFilter>| f.as_ref().is_some_and(DateTimeFilter::is_relative);
        self.any(|f| {
            f.engaged.is_some()
                || relative(&f.created_at)
                || relative(&f.updated_at)
                || relative(&f.converted_at)
                || relative(&f.last_contacted_at)
        })
    }

    /// Whether the filter names segment `id` (`inSegments`,
    /// `notInSegments`), itself or through the segments it names.
    pub(crate) fn names_segment(&self, id: uuid::Uuid) -> bool {
        self.any(|f| {
            f.in_segments
                .iter()
                .chain(&f.not_in_segments)
                .flatten()
                .any(|named| uuid::Uuid::parse_str(named).ok() == Some(id))
        })
    }

    /// Whether engagement moves what the filter matches: `engaged` reads
    /// engagement events, and a send sets the lead's last contact
    /// (`contacted`, `lastContactedAt`) outside the lead events.
    pub(crate) fn reads_engagement(&self) -> bool {
        self.any(|f| f.engaged.is_some() || f.contacted.is_some() || f.last_contacted_at.is_some())
    }
}

/// The segments a filter names, read and checked, with every dynamic
/// segment's own filter resolved in turn.
#[derive(Clone, Default)]
pub(crate) struct ResolvedSegments {
    pub in_segments: Vec<SegmentRef>,
    pub not_in_segments: Vec<SegmentRef>,
}

/// One segment a filter names.
#[derive(Clone)]
pub(crate) enum SegmentRef {
    /// A static segment: its member rows.
    Static(uuid::Uuid),
    /// A dynamic segment: its filter, resolved.
    Dynamic(Box<LeadFilter>),
    /// A segment deleted since the filter was saved: no members.
    Gone,
}

/// Engagement with the messages sent to a lead, of one of `kinds` (`OPENED`,
/// `CLICKED`, `REPLIED`; all three when omitted) within the last
/// `inLastDays` days, counted back from the moment the filter runs.
/// Scanners' and prefetchers' opens and clicks do not count.
#[derive(InputObject, Clone)]
pub(crate) struct EngagedFilter {
    pub kinds: Option<Vec<EngagementKind>>,
    pub in_last_days: i32,
}

/// What counts as engaging with a message.
const ENGAGING: [EngagementKind; 3] = [
    EngagementKind::Opened,
    EngagementKind::Clicked,
    EngagementKind::Replied,
];

#[derive(InputObject, Clone, Default)]
pub(crate) struct StatusFilter {
    pub eq: Option<LeadStatus>,
    pub ne: Option<LeadStatus>,
    #[graphql(name = "in")]
    pub in_: Option<Vec<LeadStatus>>,
}

/// Tag conditions.
#[derive(InputObject, Clone, Default)]
pub(crate) struct TagFilter {
    /// Has this tag.
    pub contains: Option<String>,
    /// Has at least one of these tags.
    #[graphql(name = "in")]
    pub in_: Option<Vec<String>>,
    /// Has every one of these tags.
    pub all: Option<Vec<String>>,
    /// `true`: has no tags at all; `false`: has at least one.
    pub is_null: Option<bool>,
}

/// A condition on one custom field. Numbers compare numerically, other
/// values as text (dates as `YYYY-MM-DD` text, which orders correctly).
#[derive(InputObject, Clone)]
pub(crate) struct CustomFieldFilter {
    pub key: String,
    pub eq: Option<Json<serde_json::Value>>,
    pub ne: Option<Json<serde_json::Value>>,
    #[graphql(name = "in")]
    pub in_: Option<Vec<Json<serde_json::Value>>>,
    pub lt: Option<Json<serde_json::Value>>,
    pub lte: Option<Json<serde_json::Value>>,
    pub gt: Option<Json<serde_json::Value>>,
    pub gte: Option<Json<serde_json::Value>>,
    pub contains: Option<String>,
    pub starts_with: Option<String>,
    pub is_null: Option<bool>,
}

/// Compiles `filter` to a condition on `leads`. `path` names the argument in
/// errors (e.g. `filter`).
pub(crate) fn compile(filter: &LeadFilter, backend: DbBackend, path: &str) -> AppResult<Condition> {
    combine(filter, backend, path)
}

impl Combined for LeadFilter {
    fn and(&self) -> Option<&[Self]> {
        self.and.as_deref()
    }
    fn or(&self) -> Option<&[Self]> {
        self.or.as_deref()
    }
    fn not(&self) -> Option<&Self> {
        self.not.as_deref()
    }
    fn own(&self, backend: DbBackend, path: &str) -> AppResult<Condition> {
        own(self, backend, path)
    }
}

/// The filter's own conditions (besides and/or/not).
fn own(filter: &LeadFilter, backend: DbBackend, path: &str) -> AppResult<Condition> {
    let mut all = Condition::all();
    if let Some(f) = &filter.status {
        all = all.add(status(f));
    }
    let col = |column: Column| Expr::col((leads::Entity, column));
    for (f, column, name) in [
        (&filter.stage_id, Column::StageId, "stageId"),
        (&filter.source_id, Column::SourceId, "sourceId"),
        (&filter.owner_id, Column::OwnerId, "ownerId"),
        (&filter.project_id, Column::ProjectId, "projectId"),
        (&filter.company_id, Column::CompanyId, "companyId"),
    ] {
        if let Some(f) = f {
            all = all.add(f.condition(col(column), &format!("{path}.{name}"))?);
        }
    }
    if let Some(f) = &filter.score {
        all = all.add(f.condition(col(Column::Score), &format!("{path}.score"))?);
    }
    all = all.add(filter.attributes.condition(path)?);
    for (f, column, name) in [
        (&filter.created_at, Column::CreatedAt, "createdAt"),
        (&filter.updated_at, Column::UpdatedAt, "updatedAt"),
        (&filter.converted_at, Column::ConvertedAt, "convertedAt"),
        (
            &filter.last_contacted_at,
            Column::LastContactedAt,
            "lastContactedAt",
        ),
    ] {
        if let Some(f) = f {
            all = all.add(f.condition(col(column), &format!("{path}.{name}"))?);
        }
    }
    if let Some(f) = &filter.tags {
        all = all.add(tags(f, &format!("{path}.tags"))?);
    }
    if let Some(list) = &filter.custom_fields {
        for (i, f) in list.iter().enumerate() {
            all = all.add(custom_field(
                f,
                backend,
                &format!("{path}.customFields.{i}"),
            )?);
        }
    }
    if let Some(f) = &filter.engaged {
        all = all.add(engaged(f, &format!("{path}.engaged"))?);
    }
    if let Some(f) = &filter.website_analysis {
        all = all.add(crate::capture::website_analysis::service::lead_condition(
            f,
            &format!("{path}.websiteAnalysis"),
        )?);
    }
    if let Some(contacted) = filter.contacted {
        let never = Expr::col((leads::Entity, Column::LastContactedAt)).is_null();
        all = all.add(if contacted { never.not() } else { never });
    }
    let resolved = filter.resolved.clone().unwrap_or_default();
    for (named, refs, field, negate) in [
        (
            &filter.in_segments,
            &resolved.in_segments,
            "inSegments",
            false,
        ),
        (
            &filter.not_in_segments,
            &resolved.not_in_segments,
            "notInSegments",
            true,
        ),
    ] {
        let Some(named) = named else { continue };
        let path = format!("{path}.{field}");
        if named.is_empty() {
            return Err(AppError::invalid(path, "name at least one segment"));
        }
        checked_len(named, &path)?;
        if refs.len() != named.len() {
            return Err(AppError::internal(anyhow::anyhow!(
                "{path}: the segments were not read before compiling"
            )));
        }
        let mut any = Condition::any();
        for (i, segment) in refs.iter().enumerate() {
            any = any.add(match segment {
                SegmentRef::Static(id) => {
                    Condition::all().add(crate::crm::segments::service::in_static_segment(*id))
                }
                SegmentRef::Dynamic(saved) => {
                    combine(saved.as_ref(), backend, &format!("{path}.{i}"))?
                }
                SegmentRef::Gone => Condition::all().add(Expr::val(1).eq(0)),
            });
        }
        all = all.add(if negate { any.not() } else { any });
    }
    Ok(all)
}

/// The lead has a human engagement event of the kinds asked for within the
/// period (the index on kind and time serves a whole tenant's count).
fn engaged(f: &EngagedFilter, path: &str) -> AppResult<Condition> {
    use engagement_events::Column as E;
    let since = days_ago(f.in_last_days, &format!("{path}.inLastDays"))?;
    let kinds = f.kinds.clone().unwrap_or_else(|| ENGAGING.to_vec());
    if kinds.is_empty() {
        return Err(AppError::invalid(
            format!("{path}.kinds"),
            "name at least one kind, or leave kinds out for all",
        ));
    }
    if let Some(i) = kinds.iter().position(|kind| !ENGAGING.contains(kind)) {
        return Err(AppError::invalid(
            format!("{path}.kinds.{i}"),
            "engagement is OPENED, CLICKED or REPLIED (for sends, filter on lastContactedAt)",
        ));
    }
    let kinds: Vec<EngagementType> = kinds.into_iter().map(Into::into).collect();
    let events = Query::select()
        .expr(Expr::val(1))
        .from(engagement_events::Entity)
        .and_where(
            Expr::col((engagement_events::Entity, E::TenantId))
                .equals((leads::Entity, Column::TenantId)),
        )
        .and_where(
            Expr::col((engagement_events::Entity, E::LeadId)).equals((leads::Entity, Column::Id)),
        )
        .and_where(Expr::col((engagement_events::Entity, E::EventType)).is_in(kinds))
        .and_where(Expr::col((engagement_events::Entity, E::Machine)).eq(false))
        .and_where(Expr::col((engagement_events::Entity, E::OccurredAt)).gte(since.fixed_offset()))
        .to_owned();
    Ok(Condition::all().add(Expr::exists(events)))
}

fn status(f: &StatusFilter) -> Condition {
    let mut c = Condition::all();
    if let Some(v) = f.eq {
        c = c.add(Column::Status.eq(entity::sea_orm_active_enums::LeadStatus::from(v)));
    }
    if let Some(v) = f.ne {
        c = c.add(Column::Status.ne(entity::sea_orm_active_enums::LeadStatus::from(v)));
    }
    if let Some(list) = &f.in_ {
        c = c.add(
            Column::Status.is_in(
                list.iter()
                    .map(|s| entity::sea_orm_active_enums::LeadStatus::from(*s)),
            ),
        );
    }
    c
}

/// `EXISTS (SELECT 1 FROM lead_tags WHERE <this lead> AND tag IN (…))`.
fn has_tag(tags: Vec<String>) -> SimpleExpr {
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(lead_tags::Entity)
            .and_where(
                Expr::col((lead_tags::Entity, lead_tags::Column::TenantId))
                    .equals((leads::Entity, Column::TenantId)),
            )
            .and_where(
                Expr::col((lead_tags::Entity, lead_tags::Column::LeadId))
                    .equals((leads::Entity, Column::Id)),
            )
            .and_where(Expr::col((lead_tags::Entity, lead_tags::Column::Tag)).is_in(tags))
            .to_owned(),
    )
}

fn tags(f: &TagFilter, path: &str) -> AppResult<Condition> {
    let mut c = Condition::all();
    if let Some(tag) = &f.contains {
        c = c.add(has_tag(vec![tag.trim().to_owned()]));
    }
    if let Some(list) = &f.in_ {
        checked_len(list, &format!("{path}.in"))?;
        c = c.add(has_tag(list.iter().map(|t| t.trim().to_owned()).collect()));
    }
    if let Some(list) = &f.all {
        checked_len(list, &format!("{path}.all"))?;
        for tag in list {
            c = c.add(has_tag(vec![tag.trim().to_owned()]));
        }
    }
    if let Some(null) = f.is_null {
        let any = Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(lead_tags::Entity)
                .and_where(
                    Expr::col((lead_tags::Entity, lead_tags::Column::TenantId))
                        .equals((leads::Entity, Column::TenantId)),
                )
                .and_where(
                    Expr::col((lead_tags::Entity, lead_tags::Column::LeadId))
                        .equals((leads::Entity, Column::Id)),
                )
                .to_owned(),
        );
        c = c.add(if null { any.not() } else { any });
    }
    Ok(c)
}

/// Custom field keys are spliced into the JSON path, so only plain keys pass.
fn valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && key.len() <= 63
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The value of custom field `key`: as text, or as a number. The one place
/// that knows each backend's JSON operators.
fn custom_value(backend: DbBackend, key: &str, numeric: bool) -> Expr {
    let column = "\"leads\".\"custom_fields\"";
    match (backend, numeric) {
        (DbBackend::Postgres, false) => Expr::cust(format!("({column} ->> '{key}')")),
        (DbBackend::Postgres, true) => Expr::cust(format!(
            "(CASE WHEN jsonb_typeof({column} -> '{key}') = 'number' THEN ({column} ->> '{key}')::numeric END)"
        )),
        (_, false) => Expr::cust(format!("CAST(json_extract({column}, '$.{key}') AS TEXT)")),
        (_, true) => Expr::cust(format!(
            "(CASE WHEN json_type({column}, '$.{key}') IN ('integer', 'real') THEN json_extract({column}, '$.{key}') END)"
        )),
    }
}

/// A JSON scalar as a comparable SQL value: numbers numerically, booleans as
/// `true`/`false` text, strings as text.
fn scalar(value: &serde_json::Value, path: &str) -> AppResult<(bool, sea_orm::Value)> {
    match value {
        serde_json::Value::Number(n) => Ok((true, n.as_f64().unwrap_or_default().into())),
        serde_json::Value::String(s) => Ok((false, s.clone().into())),
        serde_json::Value::Bool(b) => Ok((false, b.to_string().into())),
        _ => Err(AppError::invalid(
            path,
            "compare with a string, number or boolean",
        )),
    }
}

fn custom_field(f: &CustomFieldFilter, backend: DbBackend, path: &str) -> AppResult<Condition> {
    if !valid_key(&f.key) {
        return Err(AppError::invalid(
            format!("{path}.key"),
            "is not a custom field key",
        ));
    }
    let key = f.key.as_str();
    let mut c = Condition::all();
    let compare = |value: &Json<serde_json::Value>, op: &str| -> AppResult<SimpleExpr> {
        let (numeric, v) = scalar(&value.0, &format!("{path}.{op}"))?;
        let e = custom_value(backend, key, numeric);
        Ok(match op {
            "eq" => e.eq(v),
            "ne" => e.ne(v),
            "lt" => e.lt(v),
            "lte" => e.lte(v),
            "gt" => e.gt(v),
            _ => e.gte(v),
        })
    };
    for (value, op) in [
        (&f.eq, "eq"),
        (&f.lt, "lt"),
        (&f.lte, "lte"),
        (&f.gt, "gt"),
        (&f.gte, "gte"),
    ] {
        if let Some(value) = value {
            c = c.add(compare(value, op)?);
        }
    }
    if let Some(value) = &f.ne {
        c = c.add(
            Condition::any()
                .add(compare(value, "ne")?)
                .add(custom_value(backend, key, false).is_null()),
        );
    }
    if let Some(list) = &f.in_ {
        checked_len(list, &format!("{path}.in"))?;
        let mut any = Condition::any();
        for value in list {
            any = any.add(compare(value, "eq")?);
        }
        c = c.add(any);
    }
    let text = StringFilter {
        contains: f.contains.clone(),
        starts_with: f.starts_with.clone(),
        is_null: f.is_null,
        ..Default::default()
    };
    c = c.add(text.condition(custom_value(backend, key, false), path)?);
    Ok(c)
}

/// Most companies a search matches by name (their leads match too).
pub(crate) const MAX_SEARCH_COMPANIES: u64 = 500;

/// The LIKE pattern for a search text: lowercase, wildcards escaped.
pub(crate) fn search_pattern(text: &str) -> String {
    format!("%{}%", like_escape(&text.trim().to_lowercase()))
}

/// Matches name or email (case-insensitive substring), or a lead of one of
/// `companies` (the companies whose name matched, looked up first: a
/// correlated subquery here ran once per lead and took seconds on 100k
/// leads). On PostgreSQL the trigram index on `search_text` serves the text
/// part.
pub(crate) fn search(pattern: &str, companies: Vec<uuid::Uuid>) -> Condition {
    let like = sea_orm::sea_query::LikeExpr::new(pattern.to_owned()).escape('\\');
    let mut any = Condition::any().add(Expr::col((leads::Entity, Column::SearchText)).like(like));
    if !companies.is_empty() {
        any = any.add(Expr::col((leads::Entity, Column::CompanyId)).is_in(companies));
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{EntityTrait, QueryFilter, QueryTrait};

    fn sql(filter: &LeadFilter, backend: DbBackend) -> String {
        let condition = compile(filter, backend, "filter").unwrap();
        leads::Entity::find()
            .filter(condition)
            .build(backend)
            .to_string()
    }

    #[test]
    fn combines_fields_with_and_or_not() {
        let filter = LeadFilter {
            score: Some(IntFilter {
                gte: Some(50),
                ..Default::default()
            }),
            or: Some(vec![
                LeadFilter {
                    attributes: LeadAttributeFilter {
                        country: Some(crate::graphql::filters::StringFilter {
                            eq: Some("DE".into()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                    ..Default::default()
                },
                LeadFilter {
                    tags: Some(TagFilter {
                        contains: Some("vip".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ]),
            not: Some(Box::new(LeadFilter {
                status: Some(StatusFilter {
                    eq: Some(LeadStatus::Invalid),
                    ..Default::default()
                }),
                ..Default::default()
            })),
            ..Default::default()
        };
        let text = sql(&filter, DbBackend::Postgres);
        assert!(text.contains("\"score\" >= 50"), "{text}");
        assert!(text.contains("EXISTS"), "{text}");
        assert!(text.contains(" OR "), "{text}");
        assert!(text.contains("NOT"), "{text}");
    }

    #[test]
    fn custom_field_keys_are_checked_before_reaching_sql() {
        let filter = LeadFilter {
            custom_fields: Some(vec![CustomFieldFilter {
                key: "x'); DROP TABLE leads; --".into(),
                eq: Some(Json(serde_json::json!(1))),
                ne: None,
                in_: None,
                lt: None,
                lte: None,
                gt: None,
                gte: None,
                contains: None,
                starts_with: None,
                is_null: None,
            }]),
            ..Default::default()
        };
        match compile(&filter, DbBackend::Postgres, "filter") {
            Err(AppError::BadUserInput { field, .. }) => {
                assert_eq!(field, "filter.customFields.0.key")
            }
            _ => panic!("a hostile key was accepted"),
        }
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_escape("50%_off\\"), "50\\%\\_off\\\\");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut filter = LeadFilter::default();
        for _ in 0..10 {
            filter = LeadFilter {
                not: Some(Box::new(filter)),
                ..Default::default()
            };
        }
        assert!(compile(&filter, DbBackend::Sqlite, "filter").is_err());
    }
}
