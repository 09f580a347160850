//! Subscriptions that resume from a cursor, for every stored stream
//! (`engagementEvents`, `domainEvents`, `tenantEvents`): the stored events
//! after the cursor first, then live ones from the hub, so a subscriber
//! that reconnects misses nothing and sees nothing twice.

use std::future::Future;

use futures::Stream;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tokio::sync::broadcast::{self, error::RecvError};

use super::hub::{HubEvent, Stream as EventStream};
use crate::error::{AppError, AppResult};
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin, end_read};

/// Events read per round trip while replaying.
pub const REPLAY_BATCH: u64 = 500;

/// A cursor as clients pass it back (`after`).
pub fn parse_cursor(cursor: &str, field: &str) -> AppResult<i64> {
    cursor
        .parse::<i64>()
        .ok()
        .filter(|seq| *seq >= 0)
        .ok_or_else(|| AppError::invalid(field, "is not a cursor this API gave out"))
}

/// The caller's tenant's last committed sequence number of `stream` (0
/// before its first event), read from the table that hands them out.
pub async fn last_seq(
    db: &DatabaseConnection,
    ctx: &RequestCtx,
    stream: EventStream,
) -> AppResult<i64> {
    let txn = begin(db, ctx).await?;
    let query = Query::select()
        .column(Alias::new("last_seq"))
        .from(Alias::new(stream.sequences()))
        .and_where(Expr::col(Alias::new("tenant_id")).eq(ctx.tenant_id))
        .to_owned();
    let row = txn.query_one(&query).await?;
    end_read(txn).await?;
    Ok(match row {
        Some(row) => row.try_get_by_index(0)?,
        None => 0,
    })
}

/// The stream of a subscription that resumes.
///
/// - `receiver` was subscribed before `seen` (the last stored sequence
///   number) was read, so an event committed in between arrives live.
/// - `after`: replay the stored events with `after < seq <= seen` first.
/// - `read(after, up_to)`: at most [`REPLAY_BATCH`] stored events with
///   `after < seq <= up_to`, in order, each with its sequence number and
///   its item if it matches the subscription (`None` when it does not).
/// - `pick(event)`: for a live event of this stream and the caller's
///   tenant, its sequence number and its item if it matches; `None` for any
///   other event.
///
/// A gap in the live sequence (a notification lost while a listener
/// reconnected) is read from the table. A subscriber that falls too far
/// behind is ended with a `LIMIT_EXCEEDED` error naming its cursor.
pub fn resumable<T, R, RF, P>(
    mut receiver: broadcast::Receiver<HubEvent>,
    after: i64,
    mut seen: i64,
    read: R,
    pick: P,
) -> impl Stream<Item = AppResult<T>>
where
    R: Fn(i64, i64) -> RF,
    RF: Future<Output = AppResult<Vec<(i64, Option<T>)>>>,
    P: Fn(&HubEvent) -> Option<(i64, Option<T>)>,
{
    async_stream::stream! {
        let (mut from, mut up_to) = (std::cmp::min(after, seen), seen);
        loop {
            // Replay `from < seq <= up_to` from the table.
            while from < up_to {
                let batch = match read(from, up_to).await {
                    Ok(batch) => batch,
                    Err(error) => { yield Err(error); return; }
                };
                let full = batch.len() as u64 == REPLAY_BATCH;
                for (seq, item) in batch {
                    from = seq;
                    if let Some(item) = item {
                        yield Ok(item);
                    }
                }
                if !full {
                    break;
                }
            }
            let (seq, item) = loop {
                match receiver.recv().await {
                    Ok(event) => match pick(&event) {
                        Some((seq, item)) if seq > seen => break (seq, item),
                        _ => continue,
                    },
                    Err(RecvError::Lagged(_)) => {
                        yield Err(AppError::limit_exceeded(format!(
                            "this subscription fell too far behind and was closed; \
                             subscribe again with after: \"{seen}\" to resume"
                        )));
                        return;
                    }
                    Err(RecvError::Closed) => return,
                }
            };
            if seq > seen + 1 {
                // The table has what the hub did not bring, this one too.
                (from, up_to) = (seen, seq);
                seen = seq;
                continue;
            }
            seen = seq;
            if let Some(item) = item {
                yield Ok(item);
            }
        }
    }
}
