//! The rules of segments: names unique among a tenant's live segments
//! (ignoring case); a dynamic segment's filter is the `leads` filter input,
//! checked when saved and stored with the version of the filter language;
//! only static segments take members by hand, by ids (a result per id) or
//! by filter (one statement, whatever the count).

use std::collections::HashSet;

use async_graphql::{ID, InputType};
use chrono::Utc;
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, OnConflict, Query, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set,
};
use uuid::Uuid;

use entity::sea_orm_active_enums::SegmentKind as SegmentKindModel;
use entity::{leads, segment_members, segment_memberships, segments};

use super::types::{CreateSegmentInput, MembershipOutcome, SegmentKind, UpdateSegmentInput};
use super::upkeep::{self, why};
use crate::crm::leads::LeadQuery;
use crate::crm::leads::filter::{LeadFilter, ResolvedSegments, SegmentRef, compile};
use crate::crm::leads::list::matching;
use crate::domain::{optional_text, required_text};
use crate::error::{AppError, AppResult, on_unique};
use crate::events::{DomainEventKind, NewDomainEvent, commit_with};
use crate::graphql::pagination::{Order, Page, PageArgs, Totals, list_by_id};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{
    begin, begin_write, end_read, ensure_live_name_free, find_live, live, read_live, scoped,
    soft_delete,
};

/// The filter language a saved filter is written in. A release that
/// changes `LeadFilter` incompatibly bumps it and teaches [`saved_filter`]
/// to read the older version.
pub(crate) const FILTER_VERSION: i32 = 1;

/// Most ids `addToSegment` / `removeFromSegment` take at once.
pub(crate) const MAX_IDS: usize = 10_000;

const MAX_NAME_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 2_000;
const DUPLICATE_NAME: &str = "another segment already has this name";

/// Rows per INSERT when adding by ids: well under SQLite's limit on bound
/// parameters.
const INSERT_CHUNK: usize = 1_000;

/// A dynamic segment's saved filter, read back as the `leads` filter input.
pub(crate) fn saved_filter(segment: &segments::Model) -> AppResult<Option<LeadFilter>> {
    let Some(json) = &segment.filter else {
        return Ok(None);
    };
    if segment.filter_version != FILTER_VERSION {
        return Err(AppError::internal(anyhow::anyhow!(
            "segment {} has a filter of version {}, this release reads {FILTER_VERSION}",
            segment.id,
            segment.filter_version
        )));
    }
    let value = async_graphql::Value::from_json(json.clone())
        .map_err(|e| AppError::internal(anyhow::anyhow!("segment {}: {e}", segment.id)))?;
    LeadFilter::parse(Some(value)).map(Some).map_err(|e| {
        AppError::internal(anyhow::anyhow!(
            "segment {}: {}",
            segment.id,
            e.into_server_error(Default::default()).message
        ))
    })
}

/// Checks a filter as `leads` would, naming the field at `path` (the
/// segments it names must be the caller's, and must not lead back to the
/// segment being saved, `own`), and returns it as stored.
pub(crate) async fn storable(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    filter: &LeadFilter,
    path: &str,
    own: Option<Uuid>,
) -> AppResult<serde_json::Value> {
    let mut checked = filter.clone();
    let mut chain: Vec<Uuid> = own.into_iter().collect();
    resolve_segments(conn, ctx, &mut checked, path, &mut chain, Missing::Refuse).await?;
    compile(&checked, conn.get_database_backend(), path)?;
    let json = filter
        .to_value()
        .into_json()
        .map_err(|e| AppError::internal(anyhow::anyhow!("storing a filter: {e}")))?;
    Ok(without_nulls(json))
}

/// The filter as given: the input object spells out every field it does
/// not use as null, which says nothing.
fn without_nulls(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(fields) => fields
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k, without_nulls(v)))
            .collect(),
        serde_json::Value::Array(items) => items.into_iter().map(without_nulls).collect(),
        other => other,
    }
}

/// Most segments deep a filter reaches through `inSegments` (a segment
/// naming a segment naming another…).
const MAX_SEGMENT_DEPTH: usize = 5;

/// What a named segment that is not there (any more) means.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missing {
    /// A filter being given or saved: a mistake, named.
    Refuse,
    /// A saved filter read later: the segment was deleted since, so it has
    /// no members.
    Empty,
}

/// Reads the segments `filter` names (`inSegments`, `notInSegments`, at any
/// depth, and in turn those their filters name) into `filter.resolved`, so
/// that it compiles. A segment on `chain` (the one being saved, and the
/// ones on the way) is refused: a segment cannot contain itself.
pub(crate) async fn resolve_segments(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    filter: &mut LeadFilter,
    path: &str,
    chain: &mut Vec<Uuid>,
    missing: Missing,
) -> AppResult<()> {
    for (list, field) in [(&mut filter.and, "and"), (&mut filter.or, "or")] {
        for (i, child) in list.iter_mut().flatten().enumerate() {
            let at = format!("{path}.{field}.{i}");
            Box::pin(resolve_segments(conn, ctx, child, &at, chain, missing)).await?;
        }
    }
    if let Some(child) = filter.not.as_deref_mut() {
        let at = format!("{path}.not");
        Box::pin(resolve_segments(conn, ctx, child, &at, chain, missing)).await?;
    }
    if filter.resolved.is_some() {
        return Ok(());
    }
    let mut resolved = ResolvedSegments::default();
    for (named, refs, field) in [
        (&filter.in_segments, &mut resolved.in_segments, "inSegments"),
        (
            &filter.not_in_segments,
            &mut resolved.not_in_segments,
            "notInSegments",
        ),
    ] {
        for (i, id) in named.iter().flatten().enumerate() {
            let at = format!("{path}.{field}.{i}");
            let id = crate::graphql::parse_id(id, &at)?;
            if chain.contains(&id) {
                return Err(AppError::invalid(
                    at,
                    "names a segment that contains this one: a segment cannot contain itself",
                ));
            }
            if chain.len() >= MAX_SEGMENT_DEPTH {
                return Err(AppError::invalid(
                    at,
                    format!("segments name segments deeper than {MAX_SEGMENT_DEPTH}"),
                ));
            }
            let segment = match find_live::<segments::Entity>(conn, ctx, id).await {
                Ok(segment) => segment,
                Err(AppError::NotFound(_)) if missing == Missing::Empty => {
                    refs.push(SegmentRef::Gone);
                    continue;
                }
                Err(AppError::NotFound(_)) => {
                    return Err(AppError::invalid(at, "no segment of yours has this id"));
                }
                Err(error) => return Err(error),
            };
            refs.push(match saved_filter(&segment)? {
                None => SegmentRef::Static(id),
                Some(mut saved) => {
                    chain.push(id);
                    let done =
                        Box::pin(resolve_segments(conn, ctx, &mut saved, &at, chain, missing))
                            .await;
                    chain.pop();
                    // What is wrong lies in the named segment's own filter:
                    // the field to change is the one naming it.
                    done.map_err(|error| match error {
                        AppError::BadUserInput { message, .. } => AppError::invalid(
                            at.clone(),
                            format!("names segment \"{}\", whose filter {message}", segment.name),
                        ),
                        other => other,
                    })?;
                    SegmentRef::Dynamic(Box::new(saved))
                }
            });
        }
    }
    filter.resolved = Some(resolved);
    Ok(())
}

/// `leads.id` is a member row of static segment `segment_id`.
pub(crate) fn in_static_segment(segment_id: Uuid) -> SimpleExpr {
    use segment_members::Column;
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(segment_members::Entity)
            .and_where(
                Expr::col((segment_members::Entity, Column::TenantId))
                    .equals((leads::Entity, leads::Column::TenantId)),
            )
            .and_where(Expr::col((segment_members::Entity, Column::SegmentId)).eq(segment_id))
            .and_where(
                Expr::col((segment_members::Entity, Column::LeadId))
                    .equals((leads::Entity, leads::Column::Id)),
            )
            .to_owned(),
    )
}

/// A dynamic segment's saved filter, with the segments it names read (a
/// segment deleted since counts as empty).
async fn resolved_filter(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    segment: &segments::Model,
) -> AppResult<Option<LeadFilter>> {
    let Some(mut filter) = saved_filter(segment)? else {
        return Ok(None);
    };
    let mut chain = vec![segment.id];
    resolve_segments(conn, ctx, &mut filter, "filter", &mut chain, Missing::Empty).await?;
    Ok(Some(filter))
}

/// What makes a lead a member of `segment`: a member row, or the filter.
pub(crate) async fn member_condition(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    segment: &segments::Model,
) -> AppResult<Condition> {
    Ok(match resolved_filter(conn, ctx, segment).await? {
        None => Condition::all().add(in_static_segment(segment.id)),
        Some(filter) => compile(&filter, conn.get_database_backend(), "filter")?,
    })
}

/// The `leads` query that lists a segment's members: a static segment's
/// member rows, or a dynamic segment's filter (and `filter` within either).
pub(crate) async fn members_query(
    shared: &Shared,
    ctx: &RequestCtx,
    segment: &segments::Model,
    page: PageArgs,
    filter: Option<LeadFilter>,
    search: Option<String>,
) -> AppResult<LeadQuery> {
    let query = LeadQuery {
        page,
        search,
        ..Default::default()
    };
    let txn = begin(&shared.db, ctx).await?;
    let saved = resolved_filter(&*txn, ctx, segment).await;
    end_read(txn).await?;
    Ok(match saved? {
        None => LeadQuery {
            filter,
            in_segment: Some(segment.id),
            ..query
        },
        Some(saved) => LeadQuery {
            filter: Some(match filter {
                None => saved,
                Some(filter) => LeadFilter {
                    and: Some(vec![saved, filter]),
                    ..Default::default()
                },
            }),
            ..query
        },
    })
}

/// Refuses a name another live segment has, ignoring case.
async fn ensure_name_free(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    name: &str,
    except: Option<Uuid>,
) -> AppResult<()> {
    ensure_live_name_free::<segments::Entity>(
        conn,
        ctx,
        segments::Column::Name,
        name,
        except,
        DUPLICATE_NAME,
    )
    .await
}

/// The project a segment belongs to: a live one of the caller's tenant, as
/// a lead's is; any other id is the wrong value of `input.projectId`.
async fn project(
    txn: &sea_orm::DatabaseTransaction,
    ctx: &RequestCtx,
    id: Option<&ID>,
) -> AppResult<Option<Uuid>> {
    let Some(id) = id else { return Ok(None) };
    crate::crm::leads::fields::project(txn, ctx, id, "input.projectId")
        .await
        .map(Some)
        .map_err(|error| match error {
            AppError::NotFound(_) => {
                AppError::invalid("input.projectId", "no project of yours has this id")
            }
            other => other,
        })
}

/// One page of live segments, newest first, of one kind or both.
pub(super) async fn list(
    shared: &Shared,
    ctx: &RequestCtx,
    args: &PageArgs,
    kind: Option<SegmentKind>,
) -> AppResult<(Page<segments::Model>, Totals)> {
    let mut select = live::<segments::Entity>(ctx);
    if let Some(kind) = kind {
        select = select.filter(segments::Column::Kind.eq(SegmentKindModel::from(kind)));
    }
    list_by_id(
        shared,
        ctx,
        select,
        segments::Column::Id,
        args,
        Order::NewestFirst,
    )
    .await
}

pub(crate) async fn get(shared: &Shared, ctx: &RequestCtx, id: Uuid) -> AppResult<segments::Model> {
    read_live::<segments::Entity>(&shared.db, ctx, id).await
}

pub(super) async fn create(
    shared: &Shared,
    ctx: &RequestCtx,
    input: CreateSegmentInput,
) -> AppResult<segments::Model> {
    ctx.require_writer()?;
    let name = required_text(&input.name, "input.name", MAX_NAME_CHARS)?;
    let description = optional_text(
        input.description,
        "input.description",
        MAX_DESCRIPTION_CHARS,
    )?;
    match (input.kind, &input.filter) {
        (SegmentKind::Dynamic, Some(_)) | (SegmentKind::Static, None) => {}
        (SegmentKind::Dynamic, None) => {
            return Err(AppError::invalid(
                "input.filter",
                "a dynamic segment needs a filter",
            ));
        }
        (SegmentKind::Static, Some(_)) => {
            return Err(AppError::invalid(
                "input.filter",
                "a static segment has no filter: add leads with addToSegment",
            ));
        }
    }
    let now = Utc::now().fixed_offset();
    let txn = begin_write(&shared.db, ctx).await?;
    ensure_name_free(&txn, ctx, &name, None).await?;
    let filter = match &input.filter {
        Some(given) => Some(storable(&txn, ctx, given, "input.filter", None).await?),
        None => None,
    };
    let segment = segments::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        id: Set(Uuid::now_v7()),
        name: Set(name),
        description: Set(description),
        project_id: Set(project(&txn, ctx, input.project_id.as_ref()).await?),
        kind: Set(input.kind.into()),
        filter: Set(filter),
        filter_version: Set(FILTER_VERSION),
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
    let created = NewDomainEvent::new(DomainEventKind::SegmentCreated, segment.id);
    commit_with(shared, txn, ctx, vec![created]).await?;
    Ok(segment)
}

pub(super) async fn update(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
    input: UpdateSegmentInput,
) -> AppResult<segments::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let current = find_live::<segments::Entity>(&txn, ctx, id).await?;
    let kind = current.kind;
    let mut segment = current.into_active_model();
    let mut fields = Vec::new();
    if let Some(name) = input.name {
        let name = required_text(&name, "input.name", MAX_NAME_CHARS)?;
        ensure_name_free(&txn, ctx, &name, Some(id)).await?;
        segment.name = Set(name);
        fields.push("name");
    }
    if let Some(description) = Option::<Option<String>>::from(input.description) {
        segment.description = Set(optional_text(
            description,
            "input.description",
            MAX_DESCRIPTION_CHARS,
        )?);
        fields.push("description");
    }
    if let Some(project_id) = Option::<Option<ID>>::from(input.project_id) {
        segment.project_id = Set(project(&txn, ctx, project_id.as_ref()).await?);
        fields.push("projectId");
    }
    if let Some(filter) = &input.filter {
        fields.push("filter");
        if kind == SegmentKindModel::Static {
            return Err(AppError::invalid(
                "input.filter",
                "a static segment has no filter: add leads with addToSegment",
            ));
        }
        segment.filter = Set(Some(
            storable(&txn, ctx, filter, "input.filter", Some(id)).await?,
        ));
        segment.filter_version = Set(FILTER_VERSION);
    }
    segment.updated_at = Set(Utc::now().fixed_offset());
    segment.updated_by = Set(ctx.user_id());
    let segment = segment
        .update(&txn)
        .await
        .map_err(|e| on_unique(e, Some("input.name"), DUPLICATE_NAME))?;
    let changed = NewDomainEvent::new(DomainEventKind::SegmentChanged, segment.id)
        .with_payload(serde_json::json!({ "fields": fields }));
    commit_with(shared, txn, ctx, vec![changed]).await?;
    Ok(segment)
}

/// Moves a segment to the trash; its member rows stay, for a restore.
pub(super) async fn delete(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<segments::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let segment = soft_delete::<segments::Entity>(&txn, ctx, id).await?;
    let deleted = NewDomainEvent::new(DomainEventKind::SegmentDeleted, segment.id);
    commit_with(shared, txn, ctx, vec![deleted]).await?;
    Ok(segment)
}

/// Which leads a membership change is about: ids (a result per id) or a
/// filter (every live lead it matches).
pub(super) enum Chosen {
    Ids(Vec<ID>),
    Filter(Box<LeadFilter>),
}

impl Chosen {
    pub(super) fn of(lead_ids: Option<Vec<ID>>, filter: Option<LeadFilter>) -> AppResult<Self> {
        match (lead_ids, filter) {
            (Some(ids), None) => {
                if ids.len() > MAX_IDS {
                    return Err(AppError::invalid(
                        "leadIds",
                        format!("at most {MAX_IDS} ids at once"),
                    ));
                }
                Ok(Self::Ids(ids))
            }
            (None, Some(filter)) => Ok(Self::Filter(Box::new(filter))),
            _ => Err(AppError::invalid(
                "leadIds",
                "give either leadIds or filter",
            )),
        }
    }
}

/// What a membership change did.
pub(super) struct Changed {
    pub changed: u64,
    pub results: Vec<(ID, MembershipOutcome)>,
    pub segment: segments::Model,
}

/// Commits a membership change, with its event when leads joined or left.
async fn commit_members(
    shared: &Shared,
    txn: sea_orm::DatabaseTransaction,
    ctx: &RequestCtx,
    segment_id: Uuid,
    added: u64,
    removed: u64,
) -> AppResult<()> {
    let events = if added + removed > 0 {
        vec![
            NewDomainEvent::new(DomainEventKind::SegmentChanged, segment_id)
                .with_payload(serde_json::json!({ "added": added, "removed": removed })),
        ]
    } else {
        Vec::new()
    };
    commit_with(shared, txn, ctx, events).await
}

/// How many live leads are in a segment of the caller's tenant now.
pub(crate) async fn count(shared: &Shared, ctx: &RequestCtx, id: Uuid) -> AppResult<u64> {
    let txn = begin(&shared.db, ctx).await?;
    let segment = find_live::<segments::Entity>(&*txn, ctx, id).await?;
    let condition = member_condition(&*txn, ctx, &segment).await?;
    let count = live::<leads::Entity>(ctx)
        .filter(condition)
        .count(&*txn)
        .await?;
    end_read(txn).await?;
    Ok(count)
}

/// A static segment of the caller's tenant, for a membership change.
async fn static_segment(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<segments::Model> {
    let segment = find_live::<segments::Entity>(conn, ctx, id).await?;
    if segment.kind == SegmentKindModel::Dynamic {
        return Err(AppError::invalid(
            "segmentId",
            "a dynamic segment's members are the leads its filter matches: change the filter",
        ));
    }
    Ok(segment)
}

fn parse_ids(ids: &[ID]) -> AppResult<Vec<Uuid>> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| crate::graphql::parse_id(id, &format!("leadIds.{i}")))
        .collect()
}

/// The live leads of the caller's tenant among `ids`.
async fn live_leads(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    ids: &[Uuid],
) -> AppResult<HashSet<Uuid>> {
    let mut found = HashSet::new();
    for chunk in ids.chunks(INSERT_CHUNK) {
        let rows: Vec<Uuid> = live::<leads::Entity>(ctx)
            .filter(leads::Column::Id.is_in(chunk.iter().copied()))
            .select_only()
            .column(leads::Column::Id)
            .into_tuple()
            .all(conn)
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

/// The members of `segment` among `ids`.
async fn members_among(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    segment: Uuid,
    ids: &[Uuid],
) -> AppResult<HashSet<Uuid>> {
    let mut found = HashSet::new();
    for chunk in ids.chunks(INSERT_CHUNK) {
        let rows: Vec<Uuid> = scoped::<segment_members::Entity>(ctx)
            .filter(segment_members::Column::SegmentId.eq(segment))
            .filter(segment_members::Column::LeadId.is_in(chunk.iter().copied()))
            .select_only()
            .column(segment_members::Column::LeadId)
            .into_tuple()
            .all(conn)
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

/// The ids of the live leads `filter` matches, as a subquery.
async fn matched_ids(
    conn: &impl ConnectionTrait,
    shared: &Shared,
    ctx: &RequestCtx,
    filter: LeadFilter,
) -> AppResult<sea_orm::sea_query::SelectStatement> {
    let query = LeadQuery {
        filter: Some(filter),
        ..Default::default()
    };
    let mut select = matching(conn, shared, ctx, &query)
        .await?
        .select_only()
        .column(leads::Column::Id)
        .into_query();
    Ok(std::mem::take(&mut select))
}

pub(super) async fn add(
    shared: &Shared,
    ctx: &RequestCtx,
    segment_id: Uuid,
    chosen: Chosen,
) -> AppResult<Changed> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let segment = static_segment(&txn, ctx, segment_id).await?;
    let now = Utc::now().fixed_offset();
    let member = |lead_id: Uuid| segment_members::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        segment_id: Set(segment_id),
        lead_id: Set(lead_id),
        added_by: Set(ctx.user_id()),
        created_at: Set(now),
    };
    let period = |lead_id: Uuid| segment_memberships::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        segment_id: Set(segment_id),
        lead_id: Set(lead_id),
        entered_at: Set(now),
        entered_why: Set(why::ADDED.to_owned()),
        left_at: Set(None),
        left_why: Set(None),
    };
    let on_conflict = || {
        OnConflict::columns([
            segment_members::Column::TenantId,
            segment_members::Column::SegmentId,
            segment_members::Column::LeadId,
        ])
        .do_nothing()
        .to_owned()
    };
    let (changed, results) = match chosen {
        Chosen::Ids(given) => {
            let ids = parse_ids(&given)?;
            let live = live_leads(&txn, ctx, &ids).await?;
            let mut members = members_among(&txn, ctx, segment_id, &ids).await?;
            let mut results = Vec::with_capacity(ids.len());
            let mut joining = Vec::new();
            for (id, given) in ids.iter().zip(given) {
                let outcome = if !live.contains(id) {
                    MembershipOutcome::NotFound
                } else if members.insert(*id) {
                    joining.push(*id);
                    MembershipOutcome::Added
                } else {
                    MembershipOutcome::AlreadyMember
                };
                results.push((given, outcome));
            }
            for chunk in joining.chunks(INSERT_CHUNK) {
                segment_members::Entity::insert_many(chunk.iter().map(|id| member(*id)))
                    .on_conflict(on_conflict())
                    .exec_without_returning(&txn)
                    .await?;
                segment_memberships::Entity::insert_many(chunk.iter().map(|id| period(*id)))
                    .on_conflict(OnConflict::new().do_nothing().to_owned())
                    .exec_without_returning(&txn)
                    .await?;
            }
            (joining.len() as u64, results)
        }
        Chosen::Filter(filter) => {
            let matched = matched_ids(&txn, shared, ctx, *filter).await?;
            let rows = |extra: Vec<SimpleExpr>| {
                let mut rows = Query::select();
                rows.expr(Expr::val(ctx.tenant_id))
                    .expr(Expr::val(segment_id))
                    .column(Alias::new("id"));
                for expr in extra {
                    rows.expr(expr);
                }
                rows.from_subquery(matched.clone(), Alias::new("matched"))
                    // SQLite needs a WHERE between `SELECT` and `ON CONFLICT`.
                    .and_where(Expr::val(true).eq(true))
                    .to_owned()
            };
            let members = Query::insert()
                .into_table(segment_members::Entity)
                .columns([
                    segment_members::Column::TenantId,
                    segment_members::Column::SegmentId,
                    segment_members::Column::LeadId,
                    segment_members::Column::AddedBy,
                    segment_members::Column::CreatedAt,
                ])
                .select_from(rows(vec![Expr::val(ctx.user_id()), Expr::val(now)]))
                .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))?
                .on_conflict(on_conflict())
                .to_owned();
            let periods = Query::insert()
                .into_table(segment_memberships::Entity)
                .columns([
                    segment_memberships::Column::TenantId,
                    segment_memberships::Column::SegmentId,
                    segment_memberships::Column::LeadId,
                    segment_memberships::Column::EnteredAt,
                    segment_memberships::Column::EnteredWhy,
                ])
                .select_from(rows(vec![Expr::val(now), Expr::val(why::ADDED)]))
                .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))?
                // A lead already in the segment keeps its open period.
                .on_conflict(OnConflict::new().do_nothing().to_owned())
                .to_owned();
            let backend = txn.get_database_backend();
            let done = txn.execute_raw(backend.build(&members)).await?;
            txn.execute_raw(backend.build(&periods)).await?;
            (done.rows_affected(), Vec::new())
        }
    };
    commit_members(shared, txn, ctx, segment_id, changed, 0).await?;
    Ok(Changed {
        changed,
        results,
        segment,
    })
}

pub(super) async fn remove(
    shared: &Shared,
    ctx: &RequestCtx,
    segment_id: Uuid,
    chosen: Chosen,
) -> AppResult<Changed> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let segment = static_segment(&txn, ctx, segment_id).await?;
    let of_segment = || {
        segment_members::Entity::delete_many()
            .filter(segment_members::Column::TenantId.eq(ctx.tenant_id))
            .filter(segment_members::Column::SegmentId.eq(segment_id))
    };
    let (changed, results) = match chosen {
        Chosen::Ids(given) => {
            let ids = parse_ids(&given)?;
            let mut members = members_among(&txn, ctx, segment_id, &ids).await?;
            let live = live_leads(&txn, ctx, &ids).await?;
            let mut results = Vec::with_capacity(ids.len());
            let mut leaving = Vec::new();
            for (id, given) in ids.iter().zip(given) {
                let outcome = if members.remove(id) {
                    leaving.push(*id);
                    MembershipOutcome::Removed
                } else if live.contains(id) {
                    MembershipOutcome::NotMember
                } else {
                    MembershipOutcome::NotFound
                };
                results.push((given, outcome));
            }
            for chunk in leaving.chunks(INSERT_CHUNK) {
                of_segment()
                    .filter(segment_members::Column::LeadId.is_in(chunk.iter().copied()))
                    .exec(&txn)
                    .await?;
            }
            upkeep::close(&txn, ctx, segment_id, &leaving, why::REMOVED).await?;
            (leaving.len() as u64, results)
        }
        Chosen::Filter(filter) => {
            let matched = matched_ids(&txn, shared, ctx, *filter).await?;
            let done = of_segment()
                .filter(Expr::col(segment_members::Column::LeadId).in_subquery(matched.clone()))
                .exec(&txn)
                .await?;
            upkeep::closing(ctx, segment_id, why::REMOVED)
                .filter(Expr::col(segment_memberships::Column::LeadId).in_subquery(matched))
                .exec(&txn)
                .await?;
            (done.rows_affected, Vec::new())
        }
    };
    commit_members(shared, txn, ctx, segment_id, 0, changed).await?;
    Ok(Changed {
        changed,
        results,
        segment,
    })
}

/// One clause of a dynamic segment's filter (a top-level field of it) and
/// whether a lead meets it now.
pub(crate) struct ClauseOutcome {
    pub field: String,
    pub condition: serde_json::Value,
    pub matched: bool,
}

/// Why a lead is in a segment or not: now, clause by clause, and its
/// periods in the segment so far, newest first.
pub(crate) struct Explanation {
    pub member: bool,
    pub clauses: Vec<ClauseOutcome>,
    pub periods: Vec<segment_memberships::Model>,
}

/// Most periods `explain` lists.
const MAX_PERIODS: u64 = 100;

/// Explains `lead_id`'s membership of a segment of the caller's tenant.
/// The lead must be the caller's (live or in the trash): another tenant's
/// id is as unknown as one never used.
pub(crate) async fn explain(
    shared: &Shared,
    ctx: &RequestCtx,
    segment_id: Uuid,
    lead_id: Uuid,
) -> AppResult<Explanation> {
    let txn = begin(&shared.db, ctx).await?;
    let segment = find_live::<segments::Entity>(&*txn, ctx, segment_id).await?;
    let backend = txn.get_database_backend();
    let mut conditions = vec![member_condition(&*txn, ctx, &segment).await?];
    let mut clauses = Vec::new();
    if saved_filter(&segment)?.is_some()
        && let Some(fields) = segment.filter.as_ref().and_then(|f| f.as_object())
    {
        // In field-name order (PostgreSQL's jsonb keeps no other); a filter
        // saved before nulls were dropped spells out unused fields as null.
        let mut fields: Vec<_> = fields.iter().filter(|(_, c)| !c.is_null()).collect();
        fields.sort_by_key(|(field, _)| field.as_str());
        for (field, condition) in fields {
            let one = serde_json::json!({ field.clone(): condition.clone() });
            let mut clause = LeadFilter::parse(Some(
                async_graphql::Value::from_json(one)
                    .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))?,
            ))
            .map_err(|e| {
                AppError::internal(anyhow::anyhow!(
                    "segment {segment_id}, clause {field}: {}",
                    e.into_server_error(Default::default()).message
                ))
            })?;
            let mut chain = vec![segment.id];
            resolve_segments(
                &*txn,
                ctx,
                &mut clause,
                "filter",
                &mut chain,
                Missing::Empty,
            )
            .await?;
            conditions.push(compile(&clause, backend, &format!("filter.{field}"))?);
            clauses.push((field.clone(), without_nulls(condition.clone())));
        }
    }
    let mut select = Query::select();
    select
        .expr(Expr::val(1))
        .from(leads::Entity)
        .and_where(Expr::col((leads::Entity, leads::Column::TenantId)).eq(ctx.tenant_id))
        .and_where(Expr::col((leads::Entity, leads::Column::Id)).eq(lead_id));
    for (i, condition) in conditions.into_iter().enumerate() {
        // Membership needs a live lead; a clause is about the lead's data.
        let condition = if i == 0 {
            condition.add(Expr::col((leads::Entity, leads::Column::DeletedAt)).is_null())
        } else {
            condition
        };
        select.expr(Expr::case(condition, 1).finally(0));
    }
    let Some(row) = txn.query_one_raw(backend.build(&select)).await? else {
        return Err(AppError::invalid("leadId", "no lead of yours has this id"));
    };
    let flag = |i: usize| row.try_get_by_index::<i32>(i).map(|v| v == 1);
    let member = flag(1)?;
    let clauses = clauses
        .into_iter()
        .enumerate()
        .map(|(i, (field, condition))| {
            Ok(ClauseOutcome {
                field,
                condition,
                matched: flag(i + 2)?,
            })
        })
        .collect::<Result<Vec<_>, sea_orm::DbErr>>()?;
    let periods = scoped::<segment_memberships::Entity>(ctx)
        .filter(segment_memberships::Column::SegmentId.eq(segment_id))
        .filter(segment_memberships::Column::LeadId.eq(lead_id))
        .order_by_desc(segment_memberships::Column::EnteredAt)
        .limit(MAX_PERIODS)
        .all(&*txn)
        .await?;
    end_read(txn).await?;
    Ok(Explanation {
        member,
        clauses,
        periods,
    })
}
