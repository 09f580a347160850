//! Workers: claim due jobs, run them with bounded concurrency, and record
//! the outcome. `promohub serve` runs them beside the HTTP server;
//! `promohub worker` runs them alone. Jobs queued by this process wake the
//! workers at once; others are found by polling.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};

use entity::jobs;

use super::queue::{self, JobKind};
use crate::state::Shared;

/// How a job ended this time.
#[derive(Debug)]
pub enum JobOutcome {
    Done,
    /// Try again later (a transient failure).
    RetryAfter(chrono::Duration, String),
    /// Never try again.
    Failed(String),
    /// Run again at the given instant without using up an attempt: the
    /// job is not failing, it has to wait (a sender's rate limit, a
    /// provider's throttling, the next due step of a recurring job).
    RunAgainAt(chrono::DateTime<chrono::Utc>, String),
    /// Park the job until its group (`group_key`) is released: a paused
    /// campaign's delivery.
    Held,
}

/// Wakes the workers of this process when a job is queued.
#[derive(Clone, Default)]
pub struct JobSignal(Arc<Notify>);

impl JobSignal {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Starts the worker loop, segment upkeep and the sender mailbox watchers;
/// they run until the process ends (the watchers until
/// `mailbox_watchers.stop()`, which lets their mailboxes go at once).
pub fn start(shared: Arc<Shared>) {
    crate::crm::segments::upkeep::start(shared.clone());
    crate::messaging::mailboxes::watcher::start(shared.clone());
    tokio::spawn(async move { run(shared).await });
}

async fn run(shared: Arc<Shared>) {
    let settings = &shared.config.messaging;
    let worker = format!("{}-{}", hostname(), uuid::Uuid::now_v7());
    let slots = Arc::new(Semaphore::new(settings.worker_concurrency.max(1)));
    let poll = Duration::from_millis(settings.worker_poll_ms.max(10));
    let lease = chrono::Duration::seconds(settings.job_lease_secs.max(5) as i64);
    loop {
        let free = slots.available_permits() as u64;
        let claimed = if free == 0 {
            Vec::new()
        } else {
            match queue::claim(&shared.db, &worker, free, lease, shared.clock.now()).await {
                Ok(jobs) => jobs,
                Err(error) => {
                    tracing::warn!(?error, "claiming jobs failed");
                    Vec::new()
                }
            }
        };
        let idle = claimed.is_empty();
        for job in claimed {
            let permit = slots
                .clone()
                .acquire_owned()
                .await
                .expect("semaphore never closes");
            let shared = shared.clone();
            tokio::spawn(async move {
                execute(&shared, job).await;
                drop(permit);
                // A slot is free: look for more work now, not at the next poll.
                shared.jobs.wake();
            });
        }
        if idle {
            tokio::select! {
                _ = shared.jobs.0.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }
}

/// Runs the jobs due now, one after another, in this task: for work that
/// must be done before going on (the demo seed delivers its emails so it
/// can give them a history). Returns how many ran.
pub async fn run_due(shared: &Shared, worker: &str) -> crate::error::AppResult<usize> {
    let lease = chrono::Duration::seconds(shared.config.messaging.job_lease_secs.max(5) as i64);
    let claimed = queue::claim(&shared.db, worker, 100, lease, shared.clock.now()).await?;
    let count = claimed.len();
    for job in claimed {
        execute(shared, job).await;
    }
    Ok(count)
}

async fn execute(shared: &Shared, job: jobs::Model) {
    let outcome = match JobKind::parse(&job.kind) {
        Some(JobKind::SendMessage) => crate::messaging::messages::delivery::run(shared, &job).await,
        Some(JobKind::ImportLeads) => crate::crm::imports::service::run_job(shared, &job).await,
        Some(JobKind::NotifyFormSubmission) => {
            crate::capture::forms::notify::run(shared, &job).await
        }
        Some(JobKind::AnalyzeWebsite) => {
            crate::capture::website_analysis::service::analyze_job(shared, &job).await
        }
        Some(JobKind::ApplyWebsiteAnalysis) => {
            crate::capture::website_analysis::service::apply_job(shared, &job).await
        }
        Some(JobKind::RunCampaign) => crate::campaigns::runner::run(shared, &job).await,
        None => JobOutcome::Failed(format!("unknown job kind {:?}", job.kind)),
    };
    let recorded = match &outcome {
        JobOutcome::Done => queue::complete(&shared.db, job.id).await,
        JobOutcome::RetryAfter(delay, error) if job.attempts < job.max_attempts => {
            queue::retry(&shared.db, job.id, shared.clock.now() + *delay, error).await
        }
        JobOutcome::RunAgainAt(at, note) => queue::run_again_at(&shared.db, &job, *at, note).await,
        JobOutcome::Held => queue::hold(&shared.db, &job).await,
        JobOutcome::RetryAfter(_, error) | JobOutcome::Failed(error) => {
            queue::bury(&shared.db, job.id, error).await
        }
    };
    if let Err(error) = recorded {
        // The lease runs out and another worker takes the job again; the
        // job itself is idempotent.
        tracing::error!(?error, job = %job.id, "recording a job outcome failed");
    }
    metrics::counter!("promohub_jobs_total", "kind" => job.kind.clone(), "outcome" => match outcome {
        JobOutcome::Done => "done",
        JobOutcome::RetryAfter(..) => "retry",
        JobOutcome::RunAgainAt(..) => "deferred",
        JobOutcome::Held => "held",
        JobOutcome::Failed(_) => "failed",
    })
    .increment(1);
}

fn hostname() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".to_owned())
}
