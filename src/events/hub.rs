//! The one hub: every stored event (engagement and domain) reaches this
//! process's subscribers through it.
//!
//! On SQLite (one process) the writer's caller publishes right after commit.
//! On PostgreSQL every process LISTENs on one channel: a writer NOTIFYs the
//! stream, tenant and sequence range inside its transaction, and each
//! process's listener reads that range back and publishes it, so
//! subscribers on every node see every event, including those written by
//! other nodes. A lost notification delays events but never drops them:
//! subscribers detect the gap in the sequence and read it from the table.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ColumnTrait, DbBackend};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, QueryFilter, QueryOrder, Statement,
};
use tokio::sync::broadcast;
use uuid::Uuid;

use entity::{domain_events, engagement_events};

use crate::db::is_postgres;
use crate::error::AppResult;
use crate::tenancy::scoped::{begin_for, end_read, tenant_rows};

/// The PostgreSQL channel that tells every server process "tenant T has
/// events of stream S from seq A to B".
const NOTIFY_CHANNEL: &str = "promohub_events";

/// Which log an event is in; each has its own sequence per tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// `engagement_events`: sends, opens, clicks, bounces…
    Engagement,
    /// `domain_events`: the outbox of lead, membership and tenant changes.
    Domain,
}

impl Stream {
    fn tag(self) -> &'static str {
        match self {
            Stream::Engagement => "engagement",
            Stream::Domain => "domain",
        }
    }

    /// The table that hands out the stream's sequence numbers.
    pub fn sequences(self) -> &'static str {
        match self {
            Stream::Engagement => "engagement_sequences",
            Stream::Domain => "domain_event_sequences",
        }
    }

    fn from_tag(tag: &str) -> Option<Self> {
        match tag {
            "engagement" => Some(Stream::Engagement),
            "domain" => Some(Stream::Domain),
            _ => None,
        }
    }
}

/// A stored event as subscribers receive it.
#[derive(Clone, Debug)]
pub enum HubEvent {
    Engagement(Arc<engagement_events::Model>),
    Domain(Arc<domain_events::Model>),
}

/// Stored events on their way to subscribers after a commit.
pub enum Committed {
    Engagement(Vec<engagement_events::Model>),
    Domain(Vec<domain_events::Model>),
}

#[derive(Clone)]
pub struct EventHub {
    sender: broadcast::Sender<HubEvent>,
}

impl EventHub {
    /// `capacity` is every subscription's buffer: a subscriber that falls
    /// that many events behind is told so (and can resume from its cursor),
    /// so memory stays flat however slow a consumer is.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(16));
        Self { sender }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<HubEvent> {
        self.sender.subscribe()
    }

    /// Hands committed events to this process's subscribers. Writers call
    /// [`EventHub::published_after_commit`]; the listener calls this.
    pub fn publish(&self, events: Committed) {
        // No subscribers is not an error.
        match events {
            Committed::Engagement(events) => {
                for event in events {
                    let _ = self.sender.send(HubEvent::Engagement(Arc::new(event)));
                }
            }
            Committed::Domain(events) => {
                for event in events {
                    let _ = self.sender.send(HubEvent::Domain(Arc::new(event)));
                }
            }
        }
    }

    /// After a commit: publishes directly on SQLite; on PostgreSQL the
    /// listener publishes what the NOTIFY announced, so doing it here too
    /// would deliver twice.
    pub fn published_after_commit(&self, db: &DatabaseConnection, events: Committed) {
        if !is_postgres(db) {
            self.publish(events);
        }
    }

    /// Starts the PostgreSQL listener (a no-op on SQLite). It reconnects on
    /// its own. `direct_url` is where LISTEN connects when the pool goes
    /// through a transaction-mode pooler (`DATABASE_LISTEN_URL`).
    pub fn listen(&self, db: DatabaseConnection, direct_url: Option<String>) {
        if !is_postgres(&db) {
            return;
        }
        let hub = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(error) = hub.listen_once(&db, direct_url.as_deref()).await {
                    tracing::warn!(%error, "event listener stopped; reconnecting");
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
        // connections are all for units of work that end. The announced
        // ranges are read on a second connection of that small pool too, so
        // relaying never waits behind (or holds up) requests.
        let options = match direct_url {
            Some(url) => url.parse()?,
            None => (*db.get_postgres_connection_pool().connect_options()).clone(),
        };
        let own = sea_orm::sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect_lazy_with(options);
        let reader = sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(own.clone());
        let mut listener = sea_orm::sqlx::postgres::PgListener::connect_with(&own).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        loop {
            let notification = listener.recv().await?;
            let Some(range) = Announced::parse(notification.payload()) else {
                tracing::warn!(payload = notification.payload(), "bad event notification");
                continue;
            };
            // Nobody listening on this node: nothing to read.
            if self.sender.receiver_count() == 0 {
                continue;
            }
            match read_range(&reader, range).await {
                Ok(events) => self.publish(events),
                Err(error) => tracing::warn!(%error, "reading announced events"),
            }
        }
    }
}

/// What one notification announces.
#[derive(Debug, PartialEq, Eq)]
struct Announced {
    stream: Stream,
    tenant_id: Uuid,
    from: i64,
    to: i64,
}

impl Announced {
    fn payload(&self) -> String {
        let Self {
            stream,
            tenant_id,
            from,
            to,
        } = self;
        format!("{}:{tenant_id}:{from}:{to}", stream.tag())
    }

    fn parse(payload: &str) -> Option<Self> {
        let mut parts = payload.split(':');
        let stream = Stream::from_tag(parts.next()?)?;
        let tenant_id = Uuid::parse_str(parts.next()?).ok()?;
        let from = parts.next()?.parse().ok()?;
        let to = parts.next()?.parse().ok()?;
        Some(Self {
            stream,
            tenant_id,
            from,
            to,
        })
    }
}

/// On PostgreSQL, tells every process's listener (this one's too) that the
/// tenant has new events `from..=to` in `stream`; delivered at commit, never
/// for a rolled-back transaction. Only the range travels: the payload limit
/// is 8000 bytes.
pub async fn notify(
    txn: &DatabaseTransaction,
    stream: Stream,
    tenant_id: Uuid,
    from: i64,
    to: i64,
) -> AppResult<()> {
    if is_postgres(txn) {
        let payload = Announced {
            stream,
            tenant_id,
            from,
            to,
        }
        .payload();
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [NOTIFY_CHANNEL.into(), payload.into()],
        ))
        .await?;
    }
    Ok(())
}

/// Reserves `count` sequence numbers of `stream` for the tenant and returns
/// the first. The upsert holds the tenant's sequence row until commit, so
/// numbers are handed out in commit order, which is what lets a reader
/// resume "after N" without gaps; callers make it their transaction's last
/// step before the insert, so the lock is held as briefly as possible.
pub async fn allocate(
    txn: &DatabaseTransaction,
    stream: Stream,
    tenant_id: Uuid,
    count: i64,
) -> AppResult<i64> {
    let table = Alias::new(stream.sequences());
    let statement = Query::insert()
        .into_table(table.clone())
        .columns([Alias::new("tenant_id"), Alias::new("last_seq")])
        .values_panic([tenant_id.into(), count.into()])
        .on_conflict(
            OnConflict::column(Alias::new("tenant_id"))
                .value(
                    Alias::new("last_seq"),
                    Expr::col((table, Alias::new("last_seq"))).add(count),
                )
                .to_owned(),
        )
        .returning_col(Alias::new("last_seq"))
        .to_owned();
    let row = txn
        .query_one(&statement)
        .await?
        .ok_or_else(|| sea_orm::DbErr::RecordNotInserted)?;
    let last: i64 = row.try_get_by_index(0)?;
    Ok(last - count + 1)
}

/// The announced events, in order.
async fn read_range(db: &DatabaseConnection, range: Announced) -> anyhow::Result<Committed> {
    let Announced {
        stream,
        tenant_id,
        from,
        to,
    } = range;
    let txn = begin_for(db, tenant_id, None)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let events = match stream {
        Stream::Engagement => Committed::Engagement(
            tenant_rows::<engagement_events::Entity>(tenant_id)
                .filter(engagement_events::Column::Seq.between(from, to))
                .order_by_asc(engagement_events::Column::Seq)
                .all(&txn)
                .await?,
        ),
        Stream::Domain => Committed::Domain(
            tenant_rows::<domain_events::Entity>(tenant_id)
                .filter(domain_events::Column::Seq.between(from, to))
                .order_by_asc(domain_events::Column::Seq)
                .all(&txn)
                .await?,
        ),
    };
    end_read(txn).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_payloads_round_trip() {
        let announced = Announced {
            stream: Stream::Domain,
            tenant_id: Uuid::now_v7(),
            from: 3,
            to: 9,
        };
        assert_eq!(Announced::parse(&announced.payload()), Some(announced));
        let id = Uuid::now_v7();
        assert_eq!(
            Announced::parse(&format!("engagement:{id}:1:2")).map(|a| a.stream),
            Some(Stream::Engagement)
        );
        assert_eq!(Announced::parse("nonsense"), None);
        assert_eq!(Announced::parse(&format!("domain:{id}:x:9")), None);
        assert_eq!(Announced::parse(&format!("other:{id}:1:9")), None);
    }
}
