//! The rules of imports: a file is stored as it streams in (parts of at
//! most 1 MiB, each in its own short transaction, so a slow upload never
//! holds the database) and looked at once (encoding, delimiter, headers,
//! a suggested mapping); `previewImport` dry-runs its first lines;
//! `startImport` checks the mapping and options and queues the durable
//! job; the job works through the file in chunks, each committed with
//! what its lines did and how far it got, so a crash resumes after the
//! last committed chunk and no line is done twice.

use axum::body::Bytes;
use chrono::Utc;
use futures::{Stream, StreamExt};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use entity::sea_orm_active_enums::{CustomFieldEntity, ImportStatus, SegmentKind};
use entity::{
    custom_field_definitions, lead_batch_errors, lead_batch_parts, lead_batches, segment_members,
    segment_memberships,
};

use super::csv::{Detected, Encoding, Records, detect};
use super::mapping::{Mapping, RowError, suggest};
use super::rows::{DuplicatePolicy, Extras, Lines, Outcome};
use crate::error::{AppError, AppResult};
use crate::events::commit_with;
use crate::graphql::pagination::{Order, Page, PageArgs, Totals, list_by_id};
use crate::jobs::{JobKind, JobOutcome, enqueue, new_job};
use crate::state::Shared;
use crate::tenancy::scoped::{
    begin, begin_for_write, begin_write, end_read, find_owned, scoped, tenant_rows, tenant_update,
};
use crate::tenancy::{Actor, RequestCtx, Role};

/// Bytes per stored part of a file.
const PART_BYTES: usize = 1 << 20;
/// Bytes of the start of a file looked at for its encoding, delimiter and
/// headers.
const HEAD_BYTES: usize = 64 * 1024;
/// Most lines per committed chunk.
pub(crate) const CHUNK_LINES: usize = 500;
/// The tables an import grows, the leads first (their size decides when
/// the statistics are refreshed, `db::GrowingTables`).
const GROWING_TABLES: &[&str] = &["leads", "lead_tags", "activities", "companies"];
/// Lines `previewImport` runs.
pub(crate) const PREVIEW_LINES: usize = 100;
/// Attempts of an import job: it resumes where it stopped, so a crash or a
/// lost connection costs one attempt.
const JOB_ATTEMPTS: i32 = 50;

/// Stores an uploaded file as a new batch of the caller's tenant and looks
/// at it. `body` yields the file's bytes as they arrive; more than
/// `max_bytes` is refused (naming `field`), as is a file with no header.
pub(crate) async fn upload<S, E>(
    shared: &Shared,
    ctx: &RequestCtx,
    file_name: &str,
    mut body: S,
    field: &str,
) -> AppResult<lead_batches::Model>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    ctx.require_writer()?;
    let max_bytes = shared.config.import_max_mb.saturating_mul(1 << 20);
    let file_name = file_name.trim();
    let file_name = if file_name.is_empty() {
        "import.csv"
    } else {
        file_name
    };
    let now = Utc::now().fixed_offset();
    let batch = lead_batches::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        id: Set(Uuid::now_v7()),
        file_name: Set(file_name.chars().take(255).collect()),
        uploaded_by: Set(ctx.user_id()),
        status: Set(ImportStatus::Uploading),
        byte_size: Set(0),
        encoding: Set(Encoding::Utf8.label().to_owned()),
        delimiter: Set(",".to_owned()),
        headers: Set(serde_json::json!([])),
        mapping: Set(None),
        options: Set(None),
        rows_total: Set(0),
        rows_done: Set(0),
        created: Set(0),
        updated: Set(0),
        duplicates_skipped: Set(0),
        failed: Set(0),
        error: Set(None),
        cancel_requested_at: Set(None),
        started_at: Set(None),
        finished_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let txn = begin_write(&shared.db, ctx).await?;
    let batch = batch.insert(&txn).await?;
    txn.commit().await?;

    let mut size: u64 = 0;
    let mut part = 0i32;
    let mut pending: Vec<u8> = Vec::with_capacity(PART_BYTES);
    let mut head: Vec<u8> = Vec::new();
    // What the start of the file says, and its records counted as they
    // arrive, once the start has been read.
    let mut reading: Option<(Detected, Records)> = None;
    let mut rows: i64 = 0;
    let look = |head: &[u8], whole: bool, rows: &mut i64| {
        let found = detect(head, whole).map_err(|m| AppError::invalid(field, m))?;
        let mut records = Records::new(found.encoding, found.delimiter);
        *rows += records.feed(head, whole).len() as i64;
        AppResult::Ok((found, records))
    };
    let failure = async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk
                .map_err(|e| AppError::invalid(field, format!("the upload broke off: {e}")))?;
            size += chunk.len() as u64;
            if size > max_bytes {
                return Err(AppError::invalid(
                    field,
                    format!("is larger than {} MB", shared.config.import_max_mb),
                ));
            }
            match reading.as_mut() {
                Some((_, records)) => rows += records.feed(&chunk, false).len() as i64,
                None => {
                    head.extend_from_slice(&chunk);
                    if head.len() >= HEAD_BYTES {
                        reading = Some(look(&head, false, &mut rows)?);
                    }
                }
            }
            pending.extend_from_slice(&chunk);
            while pending.len() >= PART_BYTES {
                let rest = pending.split_off(PART_BYTES);
                store_part(
                    shared,
                    ctx,
                    batch.id,
                    part,
                    std::mem::replace(&mut pending, rest),
                )
                .await?;
                part += 1;
            }
        }
        match reading.as_mut() {
            Some((_, records)) => rows += records.feed(&[], true).len() as i64,
            None => reading = Some(look(&head, true, &mut rows)?),
        }
        if !pending.is_empty() {
            store_part(shared, ctx, batch.id, part, std::mem::take(&mut pending)).await?;
        }
        AppResult::Ok(())
    }
    .await;
    let detected = reading.map(|(detected, _)| detected);
    let txn = begin_write(&shared.db, ctx).await?;
    let mut stored = batch.into_active_model();
    stored.byte_size = Set(size as i64);
    stored.updated_at = Set(Utc::now().fixed_offset());
    match (failure, detected) {
        (Ok(()), Some(detected)) => {
            stored.status = Set(ImportStatus::Uploaded);
            stored.encoding = Set(detected.encoding.label().to_owned());
            stored.delimiter = Set((detected.delimiter as char).to_string());
            stored.headers = Set(serde_json::json!(detected.headers));
            // The header is not a data row.
            stored.rows_total = Set(Ord::max(rows - 1, 0) as i32);
            let batch = stored.update(&txn).await?;
            txn.commit().await?;
            Ok(batch)
        }
        (outcome, _) => {
            // Nothing to import: the parts go, the batch stays as a record
            // of the failed upload.
            delete_file(&txn, ctx, *stored.id.as_ref()).await?;
            let error = match &outcome {
                Err(AppError::BadUserInput { message, .. }) => message.clone(),
                _ => "the upload failed".to_owned(),
            };
            stored.status = Set(ImportStatus::Failed);
            stored.error = Set(Some(error));
            stored.update(&txn).await?;
            txn.commit().await?;
            outcome?;
            Err(AppError::invalid(field, "the file is empty"))
        }
    }
}

async fn store_part(
    shared: &Shared,
    ctx: &RequestCtx,
    batch_id: Uuid,
    part: i32,
    data: Vec<u8>,
) -> AppResult<()> {
    let txn = begin_write(&shared.db, ctx).await?;
    lead_batch_parts::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        batch_id: Set(batch_id),
        part: Set(part),
        data: Set(data),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The tenant's lead custom field definitions (what `customFields.<key>`
/// may name).
async fn definitions(
    conn: &impl sea_orm::ConnectionTrait,
    ctx: &RequestCtx,
) -> AppResult<Vec<custom_field_definitions::Model>> {
    Ok(scoped::<custom_field_definitions::Entity>(ctx)
        .filter(custom_field_definitions::Column::Entity.eq(CustomFieldEntity::Lead))
        .order_by_asc(custom_field_definitions::Column::Position)
        .all(conn)
        .await?)
}

pub(crate) fn headers(batch: &lead_batches::Model) -> Vec<String> {
    batch
        .headers
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h.as_str().map(str::to_owned))
        .collect()
}

/// The target each column most likely means.
pub(crate) async fn suggested_mapping(
    shared: &Shared,
    ctx: &RequestCtx,
    batch: &lead_batches::Model,
) -> AppResult<Vec<(String, Option<String>)>> {
    let txn = begin(&shared.db, ctx).await?;
    let definitions = definitions(&*txn, ctx).await;
    end_read(txn).await?;
    let headers = headers(batch);
    let suggested = suggest(&headers, &definitions?);
    Ok(headers.into_iter().zip(suggested).collect())
}

pub(crate) async fn get(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<lead_batches::Model> {
    let txn = begin(&shared.db, ctx).await?;
    let batch = find_owned::<lead_batches::Entity>(&*txn, ctx, id, "import").await;
    end_read(txn).await?;
    batch
}

/// The tenant's imports, newest first.
pub(crate) async fn list(
    shared: &Shared,
    ctx: &RequestCtx,
    args: &PageArgs,
) -> AppResult<(Page<lead_batches::Model>, Totals)> {
    list_by_id(
        shared,
        ctx,
        scoped::<lead_batches::Entity>(ctx),
        lead_batches::Column::Id,
        args,
        Order::NewestFirst,
    )
    .await
}

/// How an import runs, as `startImport` takes it.
pub(crate) struct StartOptions {
    pub policy: DuplicatePolicy,
    pub tags: Vec<String>,
    pub stage_id: Option<async_graphql::ID>,
    pub source_id: Option<async_graphql::ID>,
    pub project_id: Option<async_graphql::ID>,
    pub segment_id: Option<async_graphql::ID>,
}

/// The options as stored with the batch (ids checked).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct StoredOptions {
    pub policy: DuplicatePolicy,
    #[serde(flatten)]
    pub extras: Extras,
    pub segment_id: Option<Uuid>,
}

async fn checked_options(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    options: StartOptions,
) -> AppResult<StoredOptions> {
    use crate::crm::leads::fields;
    let tags = fields::tags(options.tags, "options.tags")?;
    let stage_id = match &options.stage_id {
        Some(id) => Some(fields::stage(txn, ctx, id, "options.stageId").await?),
        None => None,
    };
    let source_id = match &options.source_id {
        Some(id) => Some(fields::source(txn, ctx, id, "options.sourceId").await?),
        None => None,
    };
    let project_id = match &options.project_id {
        Some(id) => Some(fields::project(txn, ctx, id, "options.projectId").await?),
        None => None,
    };
    let segment_id = match &options.segment_id {
        None => None,
        Some(id) => {
            let id = crate::graphql::parse_id(id, "options.segmentId")?;
            let segment =
                crate::tenancy::scoped::find_live::<entity::segments::Entity>(txn, ctx, id)
                    .await
                    .map_err(|_| {
                        AppError::invalid("options.segmentId", "no segment of yours has this id")
                    })?;
            if segment.kind != SegmentKind::Static {
                return Err(AppError::invalid(
                    "options.segmentId",
                    "a dynamic segment takes the leads its filter matches: name a static one",
                ));
            }
            Some(id)
        }
    };
    Ok(StoredOptions {
        policy: options.policy,
        extras: Extras {
            tags,
            stage_id,
            source_id,
            project_id,
        },
        segment_id,
    })
}

/// An uploaded import with its mapping and options checked.
struct Checked {
    batch: lead_batches::Model,
    headers: Vec<String>,
    definitions: Vec<custom_field_definitions::Model>,
    mapping: Mapping,
    stored: StoredOptions,
}

/// Reads an import that can be previewed or started and checks the mapping
/// and options given for it.
async fn checked(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    id: Uuid,
    given: &[(String, Option<String>)],
    options: StartOptions,
) -> AppResult<Checked> {
    let batch = find_owned::<lead_batches::Entity>(txn, ctx, id, "import").await?;
    usable(&batch)?;
    let headers = headers(&batch);
    let definitions = definitions(txn, ctx).await?;
    let mapping = Mapping::check(&headers, given, &definitions, "mapping")?;
    let stored = checked_options(txn, ctx, options).await?;
    Ok(Checked {
        batch,
        headers,
        definitions,
        mapping,
        stored,
    })
}

/// What the first lines would do, as a line-by-line report; nothing is
/// kept.
pub(crate) struct PreviewLine {
    pub row_number: i32,
    pub outcome: Outcome,
}

pub(crate) async fn preview(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
    given: &[(String, Option<String>)],
    options: StartOptions,
) -> AppResult<Vec<PreviewLine>> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let Checked {
        batch,
        headers,
        definitions,
        mapping,
        stored,
    } = checked(&txn, ctx, id, given, options).await?;
    let mut lines = Lines::load(
        &txn,
        ctx,
        &headers,
        &mapping,
        &definitions,
        stored.policy,
        &stored.extras,
    )
    .await?;
    let records = FileReader::new(&batch)
        .take(&txn, ctx, PREVIEW_LINES)
        .await?;
    let (outcomes, _) = lines.run_chunk(&txn, &records).await?;
    let report = outcomes
        .into_iter()
        .enumerate()
        .map(|(i, outcome)| PreviewLine {
            // Line 1 is the header.
            row_number: i as i32 + 2,
            outcome,
        })
        .collect();
    // A dry run: whatever the lines did goes.
    txn.rollback().await?;
    Ok(report)
}

/// Whether the import has come to its end (nothing will change it).
pub(crate) fn is_final(batch: &lead_batches::Model) -> bool {
    matches!(
        batch.status,
        ImportStatus::Completed | ImportStatus::Cancelled | ImportStatus::Failed
    )
}

/// Whether the batch can be previewed or started.
fn usable(batch: &lead_batches::Model) -> AppResult<()> {
    match batch.status {
        ImportStatus::Uploaded => Ok(()),
        other => Err(AppError::conflict(format!(
            "this import is {}: only an uploaded file that has not started can be previewed or started",
            status_word(other)
        ))),
    }
}

fn status_word(status: ImportStatus) -> &'static str {
    match status {
        ImportStatus::Uploading => "still uploading",
        ImportStatus::Uploaded => "uploaded",
        ImportStatus::Running => "running",
        ImportStatus::Completed => "completed",
        ImportStatus::Cancelled => "cancelled",
        ImportStatus::Failed => "failed",
    }
}

/// Checks the mapping and options, stores them and queues the job.
pub(crate) async fn start(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
    given: &[(String, Option<String>)],
    options: StartOptions,
) -> AppResult<lead_batches::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let Checked {
        batch,
        headers,
        mapping,
        stored,
        ..
    } = checked(&txn, ctx, id, given, options).await?;
    let now = Utc::now().fixed_offset();
    let mut active = batch.into_active_model();
    active.mapping = Set(Some(mapping.to_json(&headers)));
    active.options = Set(Some(
        serde_json::to_value(&stored).map_err(|e| AppError::internal(anyhow::anyhow!(e)))?,
    ));
    active.status = Set(ImportStatus::Running);
    active.started_at = Set(Some(now));
    active.updated_at = Set(now);
    let batch = active.update(&txn).await?;
    enqueue(
        &txn,
        vec![new_job(
            ctx.tenant_id,
            JobKind::ImportLeads,
            serde_json::json!({ "batch_id": batch.id }),
            JOB_ATTEMPTS,
        )],
    )
    .await?;
    txn.commit().await?;
    shared.jobs.wake();
    Ok(batch)
}

/// Asks a running import to stop after the chunk it is in; an import not
/// started yet is cancelled at once.
pub(crate) async fn cancel(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<lead_batches::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let batch = find_owned::<lead_batches::Entity>(&txn, ctx, id, "import").await?;
    let now = Utc::now().fixed_offset();
    let status = batch.status;
    let mut active = batch.into_active_model();
    match status {
        ImportStatus::Running => active.cancel_requested_at = Set(Some(now)),
        ImportStatus::Uploaded | ImportStatus::Uploading => {
            active.status = Set(ImportStatus::Cancelled);
            active.cancel_requested_at = Set(Some(now));
            active.finished_at = Set(Some(now));
        }
        other => {
            return Err(AppError::conflict(format!(
                "this import is {} already",
                status_word(other)
            )));
        }
    }
    active.updated_at = Set(now);
    let batch = active.update(&txn).await?;
    txn.commit().await?;
    Ok(batch)
}

/// The file's records, read part by part from the database.
struct FileReader {
    batch_id: Uuid,
    records: Records,
    ready: std::collections::VecDeque<Vec<String>>,
    next_part: i32,
    ended: bool,
    header_skipped: bool,
}

impl FileReader {
    fn new(batch: &lead_batches::Model) -> Self {
        let encoding = Encoding::parse(&batch.encoding).unwrap_or(Encoding::Utf8);
        let delimiter = batch.delimiter.bytes().next().unwrap_or(b',');
        Self {
            batch_id: batch.id,
            records: Records::new(encoding, delimiter),
            ready: Default::default(),
            next_part: 0,
            ended: false,
            header_skipped: false,
        }
    }

    /// The next data record, or none at the end of the file.
    async fn next(
        &mut self,
        conn: &impl sea_orm::ConnectionTrait,
        ctx: &RequestCtx,
    ) -> AppResult<Option<Vec<String>>> {
        loop {
            if let Some(record) = self.ready.pop_front() {
                if !self.header_skipped {
                    self.header_skipped = true;
                    continue;
                }
                return Ok(Some(record));
            }
            if self.ended {
                return Ok(None);
            }
            let part = scoped::<lead_batch_parts::Entity>(ctx)
                .filter(lead_batch_parts::Column::BatchId.eq(self.batch_id))
                .filter(lead_batch_parts::Column::Part.eq(self.next_part))
                .one(conn)
                .await?;
            self.next_part += 1;
            let fed = match part {
                Some(part) => self.records.feed(&part.data, false),
                None => {
                    self.ended = true;
                    self.records.feed(&[], true)
                }
            };
            self.ready.extend(fed);
        }
    }

    /// Up to `most` next data records; fewer only at the end of the file.
    async fn take(
        &mut self,
        conn: &impl sea_orm::ConnectionTrait,
        ctx: &RequestCtx,
        most: usize,
    ) -> AppResult<Vec<Vec<String>>> {
        let mut records = Vec::with_capacity(most);
        while records.len() < most {
            let Some(record) = self.next(conn, ctx).await? else {
                break;
            };
            records.push(record);
        }
        Ok(records)
    }
}

/// Runs an import job: chunk after chunk from where the batch stands.
pub(crate) async fn run_job(shared: &Shared, job: &entity::jobs::Model) -> JobOutcome {
    let Some(tenant_id) = job.tenant_id else {
        return JobOutcome::Failed("an import job without a tenant".into());
    };
    let Some(batch_id) = job.payload["batch_id"]
        .as_str()
        .and_then(|id| Uuid::parse_str(id).ok())
    else {
        return JobOutcome::Failed("an import job without a batch".into());
    };
    match run(shared, tenant_id, batch_id).await {
        Ok(()) => JobOutcome::Done,
        Err(error) => {
            tracing::warn!(?error, %batch_id, "import stopped; it resumes from its last chunk");
            JobOutcome::RetryAfter(chrono::Duration::seconds(2), format!("{error:?}"))
        }
    }
}

/// Who an import acts as: the member who uploaded it (what they may do
/// then, they may do now: the job checks nothing more than they could),
/// or the system for an API key's upload.
fn uploader(batch: &lead_batches::Model) -> RequestCtx {
    let mut ctx = RequestCtx::system(batch.tenant_id);
    if let Some(user_id) = batch.uploaded_by {
        ctx.actor = Actor::User { user_id };
        ctx.role = Role::Member;
    }
    ctx
}

async fn run(shared: &Shared, tenant_id: Uuid, batch_id: Uuid) -> AppResult<()> {
    let read = begin_for_write(&shared.db, tenant_id, None).await?;
    let batch = tenant_rows::<lead_batches::Entity>(tenant_id)
        .filter(lead_batches::Column::Id.eq(batch_id))
        .one(&read)
        .await?;
    read.commit().await?;
    let Some(batch) = batch else {
        return Ok(());
    };
    if batch.status != ImportStatus::Running {
        return Ok(());
    }
    let ctx = uploader(&batch);
    let headers = headers(&batch);
    let stored: StoredOptions =
        serde_json::from_value(batch.options.clone().unwrap_or_default())
            .map_err(|e| AppError::internal(anyhow::anyhow!("import {batch_id} options: {e}")))?;
    let given = Mapping::pairs(batch.mapping.as_ref().unwrap_or(&serde_json::Value::Null));
    let mut file = FileReader::new(&batch);
    // Lines committed before a crash are passed over, not done again.
    let mut row_number = 1;
    let mut done = batch.rows_done;
    {
        let txn = crate::tenancy::scoped::begin_for(&shared.db, tenant_id, ctx.user_id()).await?;
        for _ in 0..done {
            if file.next(&txn, &ctx).await?.is_none() {
                break;
            }
            row_number += 1;
        }
        txn.commit().await?;
    }
    let started = std::time::Instant::now();
    let mut growing = crate::db::GrowingTables::new(GROWING_TABLES);
    loop {
        let txn = begin_for_write(&shared.db, tenant_id, ctx.user_id()).await?;
        // One chunk at a time per batch, whichever worker runs it: the row
        // lock (SQLite: the write lock) and the position check make sure.
        let current = tenant_rows::<lead_batches::Entity>(tenant_id)
            .filter(lead_batches::Column::Id.eq(batch_id))
            .lock_exclusive()
            .one(&txn)
            .await?
            .ok_or(AppError::NotFound("import"))?;
        if current.rows_done != done || current.status != ImportStatus::Running {
            txn.rollback().await?;
            return Ok(());
        }
        if current.cancel_requested_at.is_some() {
            finish(&txn, &ctx, batch_id, ImportStatus::Cancelled).await?;
            txn.commit().await?;
            return Ok(());
        }
        let definitions = definitions(&txn, &ctx).await?;
        let mapping = match Mapping::check(&headers, &given, &definitions, "mapping") {
            Ok(mapping) => mapping,
            Err(error) => {
                // A custom field deleted since the start: the import cannot go on.
                let mut stopped = current.into_active_model();
                stopped.error = Set(Some(format!("the mapping no longer holds: {error:?}")));
                stopped.update(&txn).await?;
                finish(&txn, &ctx, batch_id, ImportStatus::Failed).await?;
                txn.commit().await?;
                return Ok(());
            }
        };
        let mut lines = Lines::load(
            &txn,
            &ctx,
            &headers,
            &mapping,
            &definitions,
            stored.policy,
            &stored.extras,
        )
        .await?;
        let mut totals = ChunkTotals::default();
        let mut errors = Vec::new();
        let mut members = Vec::new();
        let records = file.take(&txn, &ctx, CHUNK_LINES).await?;
        // A short chunk is the file's last.
        let ended = records.len() < CHUNK_LINES;
        let (outcomes, events) = lines.run_chunk(&txn, &records).await?;
        for (outcome, record) in outcomes.into_iter().zip(&records) {
            row_number += 1;
            totals.lines += 1;
            match outcome {
                Outcome::Created(id) => {
                    totals.created += 1;
                    members.push(id);
                }
                Outcome::Updated(id) => {
                    totals.updated += 1;
                    members.push(id);
                }
                Outcome::Skipped(_) => totals.skipped += 1,
                Outcome::Failed(error) => {
                    totals.failed += 1;
                    errors.push(error_row(&ctx, batch_id, row_number, record, error));
                }
                Outcome::Blank => {}
            }
        }
        if let Some(segment_id) = stored.segment_id {
            add_to_segment(&txn, &ctx, segment_id, &members).await?;
        }
        for chunk in errors.chunks(200) {
            lead_batch_errors::Entity::insert_many(chunk.to_vec())
                .on_conflict(OnConflict::new().do_nothing().to_owned())
                .exec_without_returning(&txn)
                .await?;
        }
        done += totals.lines as i32;
        let now = Utc::now().fixed_offset();
        tenant_update::<lead_batches::Entity>(tenant_id)
            .filter(lead_batches::Column::Id.eq(batch_id))
            .col_expr(lead_batches::Column::RowsDone, Expr::val(done))
            .col_expr(
                lead_batches::Column::Created,
                Expr::col(lead_batches::Column::Created).add(totals.created),
            )
            .col_expr(
                lead_batches::Column::Updated,
                Expr::col(lead_batches::Column::Updated).add(totals.updated),
            )
            .col_expr(
                lead_batches::Column::DuplicatesSkipped,
                Expr::col(lead_batches::Column::DuplicatesSkipped).add(totals.skipped),
            )
            .col_expr(
                lead_batches::Column::Failed,
                Expr::col(lead_batches::Column::Failed).add(totals.failed),
            )
            .col_expr(lead_batches::Column::UpdatedAt, Expr::val(now))
            .exec(&txn)
            .await?;
        if ended {
            finish(&txn, &ctx, batch_id, ImportStatus::Completed).await?;
        }
        commit_with(shared, txn, &ctx, events).await?;
        metrics::counter!("promohub_import_rows_total").increment(totals.lines as u64);
        growing.wrote(&shared.db, totals.created as u64).await;
        crate::db::let_writers_in(&shared.db).await;
        if ended {
            tracing::info!(%batch_id, rows = done, secs = started.elapsed().as_secs_f64(), "import completed");
            return Ok(());
        }
    }
}

/// What one chunk's lines did.
#[derive(Default)]
struct ChunkTotals {
    lines: usize,
    created: i32,
    updated: i32,
    skipped: i32,
    failed: i32,
}

async fn finish(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    batch_id: Uuid,
    status: ImportStatus,
) -> AppResult<()> {
    let now = Utc::now().fixed_offset();
    tenant_update::<lead_batches::Entity>(ctx.tenant_id)
        .filter(lead_batches::Column::Id.eq(batch_id))
        .col_expr(lead_batches::Column::Status, Expr::val(status))
        .col_expr(lead_batches::Column::FinishedAt, Expr::val(now))
        .col_expr(lead_batches::Column::UpdatedAt, Expr::val(now))
        .exec(txn)
        .await?;
    // The file is no longer needed; its failed lines are kept.
    delete_file(txn, ctx, batch_id).await
}

/// Deletes a batch's stored file.
async fn delete_file(txn: &DatabaseTransaction, ctx: &RequestCtx, batch_id: Uuid) -> AppResult<()> {
    lead_batch_parts::Entity::delete_many()
        .filter(lead_batch_parts::Column::TenantId.eq(ctx.tenant_id))
        .filter(lead_batch_parts::Column::BatchId.eq(batch_id))
        .exec(txn)
        .await?;
    Ok(())
}

fn error_row(
    ctx: &RequestCtx,
    batch_id: Uuid,
    row_number: i32,
    record: &[String],
    error: RowError,
) -> lead_batch_errors::ActiveModel {
    lead_batch_errors::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        batch_id: Set(batch_id),
        row_number: Set(row_number),
        field: Set(error.column),
        message: Set(error.message),
        record: Set(serde_json::json!(record)),
    }
}

/// Puts the chunk's leads in the import's static segment.
async fn add_to_segment(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    segment_id: Uuid,
    leads: &[Uuid],
) -> AppResult<()> {
    if leads.is_empty() {
        return Ok(());
    }
    let now = Utc::now().fixed_offset();
    segment_members::Entity::insert_many(leads.iter().map(|lead_id| {
        segment_members::ActiveModel {
            tenant_id: Set(ctx.tenant_id),
            segment_id: Set(segment_id),
            lead_id: Set(*lead_id),
            added_by: Set(ctx.user_id()),
            created_at: Set(now),
        }
    }))
    .on_conflict(OnConflict::new().do_nothing().to_owned())
    .exec_without_returning(txn)
    .await?;
    segment_memberships::Entity::insert_many(leads.iter().map(|lead_id| {
        segment_memberships::ActiveModel {
            tenant_id: Set(ctx.tenant_id),
            segment_id: Set(segment_id),
            lead_id: Set(*lead_id),
            entered_at: Set(now),
            entered_why: Set(crate::crm::segments::upkeep::why::ADDED.to_owned()),
            left_at: Set(None),
            left_why: Set(None),
        }
    }))
    .on_conflict(OnConflict::new().do_nothing().to_owned())
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// The import's rejected lines as CSV: the file's columns and an `error`
/// column (`row N, column: message`), read a page at a time.
pub(crate) fn failed_rows_csv(
    shared: std::sync::Arc<Shared>,
    ctx: RequestCtx,
    batch: lead_batches::Model,
) -> impl Stream<Item = AppResult<Bytes>> {
    async_stream::try_stream! {
        let mut header = headers(&batch);
        header.push("error".to_owned());
        yield csv_line(&header);
        let mut after = 0;
        loop {
            let txn = begin(&shared.db, &ctx).await?;
            let page = scoped::<lead_batch_errors::Entity>(&ctx)
                .filter(lead_batch_errors::Column::BatchId.eq(batch.id))
                .filter(lead_batch_errors::Column::RowNumber.gt(after))
                .order_by_asc(lead_batch_errors::Column::RowNumber)
                .limit(1_000)
                .all(&*txn)
                .await;
            end_read(txn).await?;
            let page = page?;
            let Some(last) = page.last() else { break };
            after = last.row_number;
            let mut out = Vec::new();
            for error in &page {
                let mut cells: Vec<String> = error
                    .record
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|cell| cell.as_str().unwrap_or_default().to_owned())
                    .collect();
                cells.resize(header.len() - 1, String::new());
                cells.push(match &error.field {
                    Some(column) => format!("row {}, {column}: {}", error.row_number, error.message),
                    None => format!("row {}: {}", error.row_number, error.message),
                });
                out.extend_from_slice(&csv_line(&cells));
            }
            yield Bytes::from(out);
        }
    }
}

fn csv_line(cells: &[String]) -> Bytes {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = writer.write_record(cells);
    Bytes::from(writer.into_inner().unwrap_or_default())
}
