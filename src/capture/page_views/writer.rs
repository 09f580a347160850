//! Group commit for page views, as the open/click tracker does it: a
//! request hands its view to a writer task and waits for the commit; the
//! writer takes every view that arrived meanwhile and stores them in one
//! transaction, one multi-row insert per tenant. No request is answered
//! before its view is stored.
//!
//! A view carries its own id, minted when it arrived, and is inserted with
//! `ON CONFLICT DO NOTHING`: a batch whose commit got no answer is simply
//! stored again when the database is back, and a view that did land is
//! not stored twice. While the database is out of reach the writer retries
//! with backoff and views wait in a bounded queue.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, Set};
use tokio::sync::mpsc::error::SendTimeoutError;
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

use entity::{leads, page_views, visitor_leads};

use crate::db::is_connection_failure;
use crate::error::{AppError, AppResult};
use crate::tenancy::scoped::{begin_global_write, bind, tenant_rows};

/// Views stored per transaction at most.
const MAX_BATCH: usize = 2_000;
/// Views waiting for a writer at most.
const QUEUE: usize = MAX_BATCH * 8;
/// How long a request waits for room in a full queue.
const ENQUEUE_WAIT: Duration = Duration::from_secs(5);
/// How long a request waits for its view to be stored before it is
/// answered anyway (the view stays queued).
const ANSWER_WAIT: Duration = Duration::from_secs(20);
const BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(2));
const ATTEMPTS_ON_OTHER_ERRORS: u32 = 3;
/// Rows per INSERT: under SQLite's bound-parameter limit (27 columns).
const ROWS_PER_INSERT: usize = 1_000;

/// A page view as it will be stored, and the lead its request proved the
/// visitor to be (a signed link from a tracked email).
pub(crate) struct View {
    pub row: page_views::ActiveModel,
    pub tenant_id: Uuid,
    pub visitor_id: String,
    pub identified_lead: Option<Uuid>,
}

/// What became of a view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Stored,
    /// Queued, not stored yet when the request stopped waiting.
    Queued,
    Lost,
}

type Pending = (View, oneshot::Sender<Outcome>);

#[derive(Clone)]
pub(crate) struct PageViewWriter {
    sender: mpsc::Sender<Pending>,
}

impl PageViewWriter {
    pub(crate) fn start(db: DatabaseConnection, writers: usize) -> Self {
        let (sender, receiver) = mpsc::channel::<Pending>(QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..writers.max(1) {
            let receiver = receiver.clone();
            let db = db.clone();
            tokio::spawn(async move {
                loop {
                    let batch = {
                        let mut receiver = receiver.lock().await;
                        let Some(first) = receiver.recv().await else {
                            return;
                        };
                        let mut batch = vec![first];
                        while batch.len() < MAX_BATCH {
                            match receiver.try_recv() {
                                Ok(view) => batch.push(view),
                                Err(_) => break,
                            }
                        }
                        batch
                    };
                    write_batch(&db, batch).await;
                }
            });
        }
        Self { sender }
    }

    /// Stores the view, waiting for the commit.
    pub(crate) async fn submit(&self, view: View) -> Outcome {
        let (reply, answer) = oneshot::channel();
        match self.sender.send_timeout((view, reply), ENQUEUE_WAIT).await {
            Ok(()) => {}
            Err(SendTimeoutError::Timeout(_)) => {
                metrics::counter!("promohub_page_views_lost_total").increment(1);
                tracing::error!(
                    queued = QUEUE,
                    "the page-view queue stayed full; a view was not stored"
                );
                return Outcome::Lost;
            }
            Err(SendTimeoutError::Closed(_)) => return Outcome::Lost,
        }
        match tokio::time::timeout(ANSWER_WAIT, answer).await {
            Ok(result) => result.unwrap_or(Outcome::Lost),
            Err(_) => Outcome::Queued,
        }
    }
}

async fn write_batch(db: &DatabaseConnection, batch: Vec<Pending>) {
    let (views, replies): (Vec<View>, Vec<oneshot::Sender<Outcome>>) = batch.into_iter().unzip();
    // Tenants in order, so concurrent writers lock rows in one order.
    let mut by_tenant: BTreeMap<Uuid, Vec<&View>> = BTreeMap::new();
    for view in &views {
        by_tenant.entry(view.tenant_id).or_default().push(view);
    }
    let mut pause = BACKOFF.0;
    let mut other_errors = 0;
    let outcome = loop {
        let error = match store(db, &by_tenant).await {
            Ok(()) => break Outcome::Stored,
            Err(error) => error,
        };
        if !is_connection_failure(&error)
            && !matches!(&error, AppError::Internal(cause)
                if matches!(cause.downcast_ref::<sea_orm::DbErr>(), Some(sea_orm::DbErr::ConnectionAcquire(_))))
        {
            other_errors += 1;
            if other_errors >= ATTEMPTS_ON_OTHER_ERRORS {
                metrics::counter!("promohub_page_views_lost_total").increment(views.len() as u64);
                tracing::error!(?error, lost = views.len(), "storing page views failed");
                break Outcome::Lost;
            }
        }
        metrics::counter!("promohub_page_view_write_retries_total").increment(1);
        tracing::warn!(?error, retry_in = ?pause, "storing page views failed; retrying");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(BACKOFF.1);
    };
    if outcome == Outcome::Stored {
        metrics::counter!("promohub_page_views_total").increment(views.len() as u64);
    }
    for reply in replies {
        let _ = reply.send(outcome);
    }
}

async fn store(db: &DatabaseConnection, by_tenant: &BTreeMap<Uuid, Vec<&View>>) -> AppResult<()> {
    let txn = begin_global_write(db, None).await?;
    for (tenant_id, views) in by_tenant {
        bind(&txn, Some(*tenant_id), None).await?;
        // Leads a signed email link proved, that exist.
        let proven: HashSet<Uuid> = views.iter().filter_map(|v| v.identified_lead).collect();
        let live: HashSet<Uuid> = if proven.is_empty() {
            HashSet::new()
        } else {
            tenant_rows::<leads::Entity>(*tenant_id)
                .select_only()
                .column(leads::Column::Id)
                .filter(leads::Column::Id.is_in(proven))
                .filter(leads::Column::DeletedAt.is_null())
                .into_tuple::<Uuid>()
                .all(&txn)
                .await?
                .into_iter()
                .collect()
        };
        let mut identified: HashMap<&str, Uuid> = HashMap::new();
        for view in views {
            if let Some(lead) = view.identified_lead.filter(|l| live.contains(l)) {
                identified.insert(view.visitor_id.as_str(), lead);
            }
        }
        for (visitor, lead) in &identified {
            crate::capture::forms::submit::identify_visitor(
                &txn,
                *tenant_id,
                visitor,
                *lead,
                "email_click",
            )
            .await?;
        }
        // Visitors known before.
        let visitors: Vec<&str> = views
            .iter()
            .map(|v| v.visitor_id.as_str())
            .filter(|v| !identified.contains_key(v))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut known: HashMap<String, Uuid> = HashMap::new();
        for chunk in visitors.chunks(500) {
            known.extend(
                tenant_rows::<visitor_leads::Entity>(*tenant_id)
                    .filter(visitor_leads::Column::VisitorId.is_in(chunk.iter().copied()))
                    .all(&txn)
                    .await?
                    .into_iter()
                    .map(|row| (row.visitor_id, row.lead_id)),
            );
        }
        let rows: Vec<page_views::ActiveModel> = views
            .iter()
            .map(|view| {
                let mut row = view.row.clone();
                let lead = identified
                    .get(view.visitor_id.as_str())
                    .copied()
                    .or_else(|| known.get(&view.visitor_id).copied());
                row.lead_id = Set(lead);
                row
            })
            .collect();
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            page_views::Entity::insert_many(chunk.to_vec())
                .on_conflict_do_nothing_on([page_views::Column::TenantId, page_views::Column::Id])
                .exec_without_returning(&txn)
                .await?;
        }
    }
    txn.commit().await?;
    Ok(())
}
