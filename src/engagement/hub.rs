//! Fan-out of recorded engagement events to this process's subscribers.
//!
//! On SQLite (one process) the recorder's caller publishes right after
//! commit. On PostgreSQL every process LISTENs: the recorder NOTIFYs the
//! tenant and sequence range inside its transaction, and each process's
//! listener reads that range back and publishes it, so subscribers on every
//! node see every event, including those recorded by other nodes.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use tokio::sync::broadcast;
use uuid::Uuid;

use entity::engagement_events;

use super::recorder::NOTIFY_CHANNEL;
use crate::db::is_postgres;
use crate::tenancy::scoped::begin_for;

/// A stored event as subscribers receive it.
pub type SharedEvent = Arc<engagement_events::Model>;

#[derive(Clone)]
pub struct EngagementHub {
    sender: broadcast::Sender<SharedEvent>,
}

impl EngagementHub {
    /// `capacity` is every subscription's buffer: a subscriber that falls
    /// that many events behind is closed (it can resume from its cursor),
    /// so memory stays flat however slow a consumer is.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(16));
        Self { sender }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<SharedEvent> {
        self.sender.subscribe()
    }

    pub fn publish(&self, events: impl IntoIterator<Item = engagement_events::Model>) {
        for event in events {
            // No subscribers is not an error.
            let _ = self.sender.send(Arc::new(event));
        }
    }

    /// After a commit: publishes directly on SQLite; on PostgreSQL the
    /// listener publishes what the NOTIFY announced, so doing it here too
    /// would deliver twice.
    pub fn published_after_commit(
        &self,
        db: &DatabaseConnection,
        events: Vec<engagement_events::Model>,
    ) {
        if !is_postgres(db) {
            self.publish(events);
        }
    }

    /// Starts the PostgreSQL listener (a no-op on SQLite). It reconnects on
    /// its own; subscribers detect a gap in the sequence and fill it from
    /// the table, so a lost notification delays events but never drops them.
    /// `direct_url` is where LISTEN connects when the pool goes through a
    /// transaction-mode pooler (`DATABASE_LISTEN_URL`).
    pub fn listen(&self, db: DatabaseConnection, direct_url: Option<String>) {
        if !is_postgres(&db) {
            return;
        }
        let hub = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(error) = hub.listen_once(&db, direct_url.as_deref()).await {
                    tracing::warn!(%error, "engagement listener stopped; reconnecting");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    async fn listen_once(
        &self,
        db: &DatabaseConnection,
        direct_url: Option<&str>,
    ) -> anyhow::Result<()> {
        // The listener keeps its connection for as long as it runs, so it
        // gets one of its own, outside the request pool: the pool's
        // connections are all for units of work that end.
        let options = match direct_url {
            Some(url) => url.parse()?,
            None => (*db.get_postgres_connection_pool().connect_options()).clone(),
        };
        let own = sea_orm::sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(options);
        let mut listener = sea_orm::sqlx::postgres::PgListener::connect_with(&own).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        loop {
            let notification = listener.recv().await?;
            let Some((tenant_id, from, to)) = parse_range(notification.payload()) else {
                tracing::warn!(
                    payload = notification.payload(),
                    "bad engagement notification"
                );
                continue;
            };
            // Nobody listening on this node: nothing to read.
            if self.sender.receiver_count() == 0 {
                continue;
            }
            match read_range(db, tenant_id, from, to).await {
                Ok(events) => self.publish(events),
                Err(error) => tracing::warn!(%error, "reading announced engagement events"),
            }
        }
    }
}

fn parse_range(payload: &str) -> Option<(Uuid, i64, i64)> {
    let mut parts = payload.split(':');
    let tenant = Uuid::parse_str(parts.next()?).ok()?;
    let from = parts.next()?.parse().ok()?;
    let to = parts.next()?.parse().ok()?;
    Some((tenant, from, to))
}

/// The tenant's events with `from <= seq <= to`, in order.
pub async fn read_range(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    from: i64,
    to: i64,
) -> anyhow::Result<Vec<engagement_events::Model>> {
    let txn = begin_for(db, tenant_id, None)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let events = engagement_events::Entity::find()
        .filter(engagement_events::Column::TenantId.eq(tenant_id))
        .filter(engagement_events::Column::Seq.gte(from))
        .filter(engagement_events::Column::Seq.lte(to))
        .order_by_asc(engagement_events::Column::Seq)
        .all(&txn)
        .await?;
    txn.commit().await?;
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_payloads_parse() {
        let id = Uuid::now_v7();
        assert_eq!(parse_range(&format!("{id}:3:9")), Some((id, 3, 9)));
        assert_eq!(parse_range("nonsense"), None);
        assert_eq!(parse_range(&format!("{id}:x:9")), None);
    }
}
