//! GraphQL shapes of imports.

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, SimpleObject};
use chrono::{DateTime, Utc};

use entity::lead_batches;
use entity::sea_orm_active_enums::ImportStatus as ImportStatusModel;

use super::rows::{DuplicatePolicy, Outcome};
use super::service::{self, PreviewLine, StartOptions};
use crate::graphql::numbers::Count;
use crate::graphql::to_id;

/// Where an import stands.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "ImportStatusModel")]
pub enum ImportStatus {
    /// The file is still arriving.
    Uploading,
    /// Stored and looked at: ready for `previewImport` and `startImport`.
    Uploaded,
    Running,
    Completed,
    /// Stopped by `cancelImport`: what was done before stays.
    Cancelled,
    /// The upload or the import could not go on (`error` says why).
    Failed,
}

/// A column of the file and where it goes.
#[derive(SimpleObject, Clone)]
pub(crate) struct ImportColumn {
    /// The column's header.
    pub column: String,
    /// A lead field (`email`, `firstName`, …), `tags`, `status`,
    /// `companyName`, `companyWebsite` or `customFields.<key>`; null: the
    /// column is skipped.
    pub field: Option<String>,
}

/// Where one column of the file goes (see `ImportColumn.field`).
#[derive(InputObject, Clone)]
pub(crate) struct ImportColumnInput {
    pub column: String,
    pub field: Option<String>,
}

/// How an import treats the file's lines.
#[derive(InputObject, Clone, Default)]
pub(crate) struct ImportOptionsInput {
    /// A line whose email a live lead already has: skipped (the default),
    /// or that lead updated or merged.
    #[graphql(default_with = "DuplicatePolicy::Skip")]
    pub duplicate_policy: DuplicatePolicy,
    /// Tags every imported lead gets.
    pub tags: Option<Vec<String>>,
    /// Stage, source and project of the leads the import creates.
    pub stage_id: Option<ID>,
    pub source_id: Option<ID>,
    pub project_id: Option<ID>,
    /// A static segment every imported lead is put in.
    pub segment_id: Option<ID>,
}

impl From<Option<ImportOptionsInput>> for StartOptions {
    fn from(input: Option<ImportOptionsInput>) -> Self {
        let input = input.unwrap_or_default();
        Self {
            policy: input.duplicate_policy,
            tags: input.tags.unwrap_or_default(),
            stage_id: input.stage_id,
            source_id: input.source_id,
            project_id: input.project_id,
            segment_id: input.segment_id,
        }
    }
}

pub(crate) fn pairs(mapping: &[ImportColumnInput]) -> Vec<(String, Option<String>)> {
    mapping
        .iter()
        .map(|c| (c.column.clone(), c.field.clone()))
        .collect()
}

/// A stored tally (never negative) as a count.
fn count(n: i32) -> Count {
    Count::from(n.max(0) as u64)
}

/// An uploaded CSV file and its import into leads.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub(crate) struct Import {
    pub id: ID,
    pub file_name: String,
    pub status: ImportStatus,
    /// The file's size in bytes.
    pub byte_size: f64,
    /// `utf-8` or `windows-1252`, as detected.
    pub encoding: String,
    /// `,`, `;` or a tab, as detected.
    pub delimiter: String,
    /// The file's header row.
    pub headers: Vec<String>,
    /// What the import runs with, once started.
    pub mapping: Option<Vec<ImportColumn>>,
    pub duplicate_policy: Option<DuplicatePolicy>,
    /// Data rows in the file (the header row not counted).
    pub rows_total: Count,
    /// Rows worked through so far.
    pub rows_done: Count,
    pub created: Count,
    pub updated: Count,
    pub duplicates_skipped: Count,
    pub failed: Count,
    /// Why the upload or the import stopped, when it did.
    pub error: Option<String>,
    /// Whether `cancelImport` asked it to stop.
    pub cancel_requested: bool,
    /// The member who uploaded it (null for an API key).
    pub uploaded_by_id: Option<ID>,
    /// Where the rejected rows are, as CSV with an `error` column (GET with
    /// the same `Authorization` header).
    pub failed_rows_url: String,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    #[graphql(skip)]
    pub model: std::sync::Arc<lead_batches::Model>,
}

#[ComplexObject]
impl Import {
    /// The target each column most likely means, to start from.
    async fn suggested_mapping(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<ImportColumn>> {
        let suggested = service::suggested_mapping(
            crate::graphql::shared(ctx),
            crate::graphql::caller(ctx)?,
            &self.model,
        )
        .await?;
        Ok(suggested
            .into_iter()
            .map(|(column, field)| ImportColumn { column, field })
            .collect())
    }
}

impl From<lead_batches::Model> for Import {
    fn from(model: lead_batches::Model) -> Self {
        let stored: Option<service::StoredOptions> = model
            .options
            .clone()
            .and_then(|options| serde_json::from_value(options).ok());
        Self {
            id: to_id(model.id),
            file_name: model.file_name.clone(),
            status: model.status.into(),
            byte_size: model.byte_size as f64,
            encoding: model.encoding.clone(),
            delimiter: model.delimiter.clone(),
            headers: service::headers(&model),
            mapping: model.mapping.as_ref().map(|json| {
                super::mapping::Mapping::pairs(json)
                    .into_iter()
                    .map(|(column, field)| ImportColumn { column, field })
                    .collect()
            }),
            duplicate_policy: stored.map(|s| s.policy),
            rows_total: count(model.rows_total),
            rows_done: count(model.rows_done),
            created: count(model.created),
            updated: count(model.updated),
            duplicates_skipped: count(model.duplicates_skipped),
            failed: count(model.failed),
            error: model.error.clone(),
            cancel_requested: model.cancel_requested_at.is_some(),
            uploaded_by_id: model.uploaded_by.map(to_id),
            failed_rows_url: format!("/imports/{}/failed.csv", model.id),
            created_at: model.created_at.to_utc(),
            started_at: model.started_at.map(|at| at.to_utc()),
            finished_at: model.finished_at.map(|at| at.to_utc()),
            model: std::sync::Arc::new(model),
        }
    }
}

/// What a line would do.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportLineOutcome {
    Create,
    Update,
    SkipDuplicate,
    Fail,
    /// A blank line: nothing to do.
    Blank,
}

/// One line of `previewImport`.
#[derive(SimpleObject)]
pub(crate) struct ImportPreviewLine {
    /// The line's row in the file (the header is row 1).
    pub row_number: i32,
    pub outcome: ImportLineOutcome,
    /// The lead it would update or skip.
    pub lead_id: Option<ID>,
    /// For `FAIL`: the column at fault (null when the whole line is) and
    /// why.
    pub column: Option<String>,
    pub message: Option<String>,
}

impl From<PreviewLine> for ImportPreviewLine {
    fn from(line: PreviewLine) -> Self {
        let (outcome, lead_id, error) = match line.outcome {
            Outcome::Created(_) => (ImportLineOutcome::Create, None, None),
            Outcome::Updated(id) => (ImportLineOutcome::Update, Some(to_id(id)), None),
            Outcome::Skipped(id) => (ImportLineOutcome::SkipDuplicate, Some(to_id(id)), None),
            Outcome::Failed(error) => (ImportLineOutcome::Fail, None, Some(error)),
            Outcome::Blank => (ImportLineOutcome::Blank, None, None),
        };
        Self {
            row_number: line.row_number,
            outcome,
            lead_id,
            column: error.as_ref().and_then(|e| e.column.clone()),
            message: error.map(|e| e.message),
        }
    }
}

/// An import's progress, as `importProgress` sends it.
#[derive(SimpleObject)]
pub(crate) struct ImportProgress {
    pub status: ImportStatus,
    pub rows_total: Count,
    pub rows_done: Count,
    pub created: Count,
    pub updated: Count,
    pub duplicates_skipped: Count,
    pub failed: Count,
    /// Rows per second since the import started.
    pub rows_per_second: f64,
    /// At that rate, seconds until the last row (null when not running or
    /// not yet known).
    pub seconds_left: Option<f64>,
}

impl From<&lead_batches::Model> for ImportProgress {
    fn from(batch: &lead_batches::Model) -> Self {
        let elapsed = batch
            .started_at
            .map(|at| {
                batch
                    .finished_at
                    .unwrap_or_else(|| Utc::now().fixed_offset())
                    - at
            })
            .map_or(0.0, |d| d.num_milliseconds() as f64 / 1000.0);
        let rate = if elapsed > 0.0 {
            f64::from(batch.rows_done) / elapsed
        } else {
            0.0
        };
        let left = f64::from((batch.rows_total - batch.rows_done).max(0));
        Self {
            status: batch.status.into(),
            rows_total: count(batch.rows_total),
            rows_done: count(batch.rows_done),
            created: count(batch.created),
            updated: count(batch.updated),
            duplicates_skipped: count(batch.duplicates_skipped),
            failed: count(batch.failed),
            rows_per_second: (rate * 10.0).round() / 10.0,
            seconds_left: (batch.status == ImportStatusModel::Running && rate > 0.0)
                .then(|| (left / rate).round()),
        }
    }
}
