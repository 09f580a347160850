//! The durable job table: enqueue inside the caller's transaction (so a job
//! exists exactly when the change that needs it committed), claim with
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL (under SQLite's write lock
//! otherwise), and finish, reschedule or bury.

use chrono::{Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use entity::jobs;
use entity::sea_orm_active_enums::JobStatus;

use crate::error::AppResult;
use crate::tenancy::scoped::{as_system, begin_system_write};

/// What a job does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    /// Deliver one queued message: payload `{"message_id": …}`.
    SendMessage,
    /// Work through an uploaded CSV file: payload `{"batch_id": …}`.
    ImportLeads,
    /// Email a member about a form submission: payload `{"submission_id":
    /// …, "user_id": …}`.
    NotifyFormSubmission,
    /// Make a domain's website analysis fresh: payload `{"domain": …}`.
    AnalyzeWebsite,
    /// Bring a tenant's leads up to date with a website analysis: payload
    /// `{"domain": …}` or `{"company_id": …}`.
    ApplyWebsiteAnalysis,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendMessage => "send_message",
            Self::ImportLeads => "import_leads",
            Self::NotifyFormSubmission => "notify_form_submission",
            Self::AnalyzeWebsite => "analyze_website",
            Self::ApplyWebsiteAnalysis => "apply_website_analysis",
        }
    }

    pub fn parse(kind: &str) -> Option<Self> {
        match kind {
            "send_message" => Some(Self::SendMessage),
            "import_leads" => Some(Self::ImportLeads),
            "notify_form_submission" => Some(Self::NotifyFormSubmission),
            "analyze_website" => Some(Self::AnalyzeWebsite),
            "apply_website_analysis" => Some(Self::ApplyWebsiteAnalysis),
            _ => None,
        }
    }
}

/// A job row ready to insert.
pub fn new_job(
    tenant_id: Uuid,
    kind: JobKind,
    payload: serde_json::Value,
    max_attempts: i32,
) -> jobs::ActiveModel {
    let now = Utc::now().fixed_offset();
    jobs::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(Some(tenant_id)),
        kind: Set(kind.as_str().to_owned()),
        payload: Set(payload),
        status: Set(JobStatus::Pending),
        attempts: Set(0),
        max_attempts: Set(Ord::max(max_attempts, 1)),
        run_at: Set(now),
        locked_until: Set(None),
        locked_by: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// Inserts jobs in the caller's transaction (as `promohub_system`: the
/// tenant role has no grant on the shared job table).
pub async fn enqueue(conn: &impl ConnectionTrait, jobs: Vec<jobs::ActiveModel>) -> AppResult<()> {
    as_system(conn, async move { insert(conn, jobs).await }).await
}

/// Inserts jobs in a transaction already running as `promohub_system`
/// (inside [`as_system`]).
pub async fn insert(conn: &impl ConnectionTrait, jobs: Vec<jobs::ActiveModel>) -> AppResult<()> {
    for chunk in jobs.chunks(500) {
        jobs::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

/// Claims up to `limit` due jobs for `worker`, holding them for `lease`.
/// A running job whose lease has run out belonged to a worker that died:
/// it is due again.
pub async fn claim(
    db: &DatabaseConnection,
    worker: &str,
    limit: u64,
    lease: Duration,
    now: chrono::DateTime<Utc>,
) -> AppResult<Vec<jobs::Model>> {
    let now = now.fixed_offset();
    let txn = begin_system_write(db).await?;
    let due = jobs::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(
                    jobs::Column::Status
                        .eq(JobStatus::Pending)
                        .and(jobs::Column::RunAt.lte(now)),
                )
                .add(
                    jobs::Column::Status
                        .eq(JobStatus::Running)
                        .and(jobs::Column::LockedUntil.lt(now)),
                ),
        )
        .order_by_asc(jobs::Column::RunAt)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(&txn)
        .await?;
    let mut claimed = Vec::with_capacity(due.len());
    for job in due {
        let mut active: jobs::ActiveModel = job.into();
        active.status = Set(JobStatus::Running);
        active.attempts = Set(active.attempts.as_ref() + 1);
        active.locked_until = Set(Some(now + lease));
        active.locked_by = Set(Some(worker.to_owned()));
        active.updated_at = Set(now);
        claimed.push(active.update(&txn).await?);
    }
    txn.commit().await?;
    Ok(claimed)
}

/// The job is finished.
pub async fn complete(db: &DatabaseConnection, id: Uuid) -> AppResult<()> {
    Finish::new(JobStatus::Done, None, None).write(db, id).await
}

/// Runs the job again at `at` (after a failed attempt).
pub async fn retry(
    db: &DatabaseConnection,
    id: Uuid,
    at: chrono::DateTime<Utc>,
    error: &str,
) -> AppResult<()> {
    Finish::new(JobStatus::Pending, Some(at), Some(error))
        .write(db, id)
        .await
}

/// Runs the job again at `at` and gives back the attempt this run took:
/// waiting is not failing.
pub async fn run_again_at(
    db: &DatabaseConnection,
    job: &jobs::Model,
    at: chrono::DateTime<Utc>,
    note: &str,
) -> AppResult<()> {
    let note = (!note.is_empty()).then_some(note);
    Finish {
        attempts: Some(Ord::max(job.attempts - 1, 0)),
        ..Finish::new(JobStatus::Pending, Some(at), note)
    }
    .write(db, job.id)
    .await
}

/// Gives up on the job for good.
pub async fn bury(db: &DatabaseConnection, id: Uuid, error: &str) -> AppResult<()> {
    Finish::new(JobStatus::Dead, None, Some(error))
        .write(db, id)
        .await
}

/// How a run of a job ends: its new status, when it runs next, the error
/// to keep and (for a deferral) the attempt count to restore.
struct Finish<'a> {
    status: JobStatus,
    run_at: Option<chrono::DateTime<Utc>>,
    error: Option<&'a str>,
    attempts: Option<i32>,
}

impl<'a> Finish<'a> {
    fn new(
        status: JobStatus,
        run_at: Option<chrono::DateTime<Utc>>,
        error: Option<&'a str>,
    ) -> Self {
        Self {
            status,
            run_at,
            error,
            attempts: None,
        }
    }

    async fn write(self, db: &DatabaseConnection, id: Uuid) -> AppResult<()> {
        finish(db, id, self).await
    }
}

async fn finish(db: &DatabaseConnection, id: Uuid, end: Finish<'_>) -> AppResult<()> {
    let Finish {
        status,
        run_at,
        error,
        attempts,
    } = end;
    let now = Utc::now().fixed_offset();
    let txn = begin_system_write(db).await?;
    let mut update = jobs::Entity::update_many()
        .col_expr(jobs::Column::Status, Expr::val(status))
        .col_expr(
            jobs::Column::LockedUntil,
            Expr::val(None::<chrono::DateTime<chrono::FixedOffset>>),
        )
        .col_expr(jobs::Column::LockedBy, Expr::val(None::<String>))
        .col_expr(jobs::Column::UpdatedAt, Expr::val(now))
        .filter(jobs::Column::Id.eq(id));
    if let Some(at) = run_at {
        update = update.col_expr(jobs::Column::RunAt, Expr::val(at.fixed_offset()));
    }
    if let Some(error) = error {
        update = update.col_expr(jobs::Column::LastError, Expr::val(error.to_owned()));
    }
    if let Some(attempts) = attempts {
        update = update.col_expr(jobs::Column::Attempts, Expr::val(attempts));
    }
    update.exec(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// Exponential backoff from `base`, doubling per attempt, capped at an hour.
pub fn backoff(base: Duration, attempt: i32) -> Duration {
    let factor = 2i32.saturating_pow(attempt.clamp(1, 20) as u32 - 1);
    (base * factor).min(Duration::hours(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let base = Duration::seconds(30);
        assert_eq!(backoff(base, 1), Duration::seconds(30));
        assert_eq!(backoff(base, 2), Duration::seconds(60));
        assert_eq!(backoff(base, 4), Duration::seconds(240));
        assert_eq!(backoff(base, 30), Duration::hours(1));
    }
}
