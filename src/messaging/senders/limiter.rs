//! The one shared sending limiter: before a message is handed to a sender
//! account, [`reserve`] takes a slot for it in the database, so the
//! account's limits hold exactly across every worker task and every server
//! or worker process (a counter per worker would multiply the rate by the
//! number of workers; a check-then-send lets two workers take the last
//! slot).
//!
//! A reservation is one short transaction that serialises on the account:
//! a row lock on the account on PostgreSQL (`SELECT … FOR UPDATE`), SQLite's
//! single writer (`BEGIN IMMEDIATE`) otherwise. Inside it the account's
//! sends are counted in each of its windows and, when every window has room
//! and the pause since its last send is over, the message gets its
//! `transfer_started_at` marker and the account in the same `UPDATE`: the
//! reservation *is* the exactly-once marker the delivery already relied on,
//! so taking a slot costs no transaction of its own.
//!
//! What counts in a window, so that the provider (which counts the messages
//! it accepted) never sees more than the limit: a message recorded as sent
//! counts at its `sent_at` (stamped after the server's reply, so never
//! before the provider's own acceptance), and a message in flight (marker
//! set, not recorded yet) counts in every window, as it may be accepted at
//! any moment from now on. Any window of the provider's, then, holds at most
//! the limit: when the last message in it took its slot, every other one in
//! it was either in flight or sent within the window. A marker older than
//! the job lease belongs to a worker that died and no longer counts.
//!
//! A refused reservation answers "not before T": the earliest moment every
//! window has room again. When the account itself is full (not only one
//! recipient domain), T is kept on the account (`next_send_at`), so other
//! workers skip it without taking its lock until then.

use chrono::{DateTime, Duration, FixedOffset, Utc};
use rand::Rng;
use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, QueryFilter, QueryOrder, QuerySelect,
    Statement,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use entity::sea_orm_active_enums::MessageStatus;
use entity::{messages, sender_accounts};

use super::service::start_of_utc_day;
use crate::error::{AppError, AppResult};
use crate::state::Shared;
use crate::tenancy::scoped::{begin_for_write, tenant_rows, tenant_update};

/// Windows an account may have besides its hourly and daily caps.
pub(crate) const MAX_RATE_WINDOWS: usize = 10;
/// The longest window: a week (counting a longer one would read more sends
/// on every reservation than any provider's limit calls for).
pub(crate) const MAX_WINDOW_SECONDS: i32 = 7 * 86_400;
/// The largest limit in one window.
pub(crate) const MAX_WINDOW_LIMIT: i32 = 10_000_000;
/// The longest random pause between two sends: an hour.
pub(crate) const MAX_DELAY_MS: i32 = 3_600_000;

/// "At most `limit` messages in any `per_seconds` seconds", as stored in
/// `sender_accounts.rate_limits` and `domain_limit`/`domain_limit_seconds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RateWindow {
    pub limit: i32,
    pub per_seconds: i32,
}

impl RateWindow {
    /// A window from the API, checked; `field` names it in the refusal
    /// (`input.rateLimits[1]`).
    pub(crate) fn parse(limit: i32, per_seconds: i32, field: &str) -> AppResult<Self> {
        if !(1..=MAX_WINDOW_LIMIT).contains(&limit) {
            return Err(AppError::invalid(
                format!("{field}.limit"),
                format!("must be between 1 and {MAX_WINDOW_LIMIT}"),
            ));
        }
        if !(1..=MAX_WINDOW_SECONDS).contains(&per_seconds) {
            return Err(AppError::invalid(
                format!("{field}.perSeconds"),
                format!("must be between 1 and {MAX_WINDOW_SECONDS} (a week)"),
            ));
        }
        Ok(Self { limit, per_seconds })
    }

    /// An account's windows from the API: each checked, at most
    /// [`MAX_RATE_WINDOWS`], no two of the same length.
    pub(crate) fn parse_all(windows: &[(i32, i32)], field: &str) -> AppResult<Vec<Self>> {
        if windows.len() > MAX_RATE_WINDOWS {
            return Err(AppError::invalid(
                field,
                format!("at most {MAX_RATE_WINDOWS} windows"),
            ));
        }
        let mut parsed: Vec<Self> = Vec::with_capacity(windows.len());
        for (i, &(limit, per_seconds)) in windows.iter().enumerate() {
            let window = Self::parse(limit, per_seconds, &format!("{field}[{i}]"))?;
            if parsed.iter().any(|w| w.per_seconds == per_seconds) {
                return Err(AppError::invalid(
                    format!("{field}[{i}].perSeconds"),
                    "another window has this length; keep the lower limit",
                ));
            }
            parsed.push(window);
        }
        parsed.sort_by_key(|w| w.per_seconds);
        Ok(parsed)
    }

    /// The stored windows of an account (a value that does not parse,
    /// which only a hand edit could write, counts as none).
    pub(crate) fn of(account: &sender_accounts::Model) -> Vec<Self> {
        serde_json::from_value(account.rate_limits.clone()).unwrap_or_default()
    }

    /// The account's per-recipient-domain throttle.
    pub(crate) fn domain_of(account: &sender_accounts::Model) -> Option<Self> {
        Some(Self {
            limit: account.domain_limit?,
            per_seconds: account.domain_limit_seconds?,
        })
    }

    fn span(self) -> Duration {
        Duration::seconds(self.per_seconds.into())
    }
}

/// The random pause between two sends, in milliseconds: `min ≤ max`, both
/// within an hour. `None` when neither is set; a lone minimum is a fixed
/// pause, a lone maximum a pause of up to that.
pub(crate) fn delay_range(
    min: Option<i32>,
    max: Option<i32>,
    field_min: &str,
    field_max: &str,
) -> AppResult<Option<(i32, i32)>> {
    for (value, field) in [(min, field_min), (max, field_max)] {
        if value.is_some_and(|v| !(0..=MAX_DELAY_MS).contains(&v)) {
            return Err(AppError::invalid(
                field,
                format!("must be between 0 and {MAX_DELAY_MS} (an hour; null: no pause)"),
            ));
        }
    }
    match (min, max) {
        (None, None) => Ok(None),
        (Some(min), Some(max)) if max < min => {
            Err(AppError::invalid(field_max, "must be at least minDelayMs"))
        }
        (min, max) => {
            let min = min.unwrap_or(0);
            Ok(Some((min, max.unwrap_or(min))))
        }
    }
}

/// The recipient's domain, as the domain throttle groups it (lowercase).
pub(crate) fn recipient_domain(address: &str) -> String {
    address
        .rsplit_once('@')
        .map_or(address, |(_, domain)| domain)
        .trim()
        .to_ascii_lowercase()
}

/// What a reservation answered.
#[derive(Debug)]
pub(crate) enum Reservation {
    /// The slot is taken: the message carries the marker and the account.
    Granted,
    /// The account may not take this message before `at`.
    Wait { at: DateTime<Utc>, reason: String },
    /// The account can no longer be used (deactivated or deleted since).
    Unusable,
    /// The message is no longer waiting to be sent: another worker took it,
    /// or it was settled meanwhile.
    Gone,
}

/// A limit counted in one reservation.
struct Window {
    limit: i64,
    /// Counting from here (inclusive).
    start: DateTime<Utc>,
    span: Span,
    /// Only the message's recipient domain counts.
    domain: bool,
    /// The limit in words, for the message's `error` while it waits.
    label: String,
}

#[derive(Clone, Copy)]
enum Span {
    Sliding(Duration),
    /// The daily cap: since 00:00 UTC.
    UtcDay,
}

fn windows_of(account: &sender_accounts::Model, now: DateTime<Utc>) -> Vec<Window> {
    let sliding = |limit: i32, span: Duration, domain: bool, label: String| Window {
        limit: limit.into(),
        start: now - span,
        span: Span::Sliding(span),
        domain,
        label,
    };
    let mut windows: Vec<Window> = RateWindow::of(account)
        .into_iter()
        .map(|w| {
            sliding(
                w.limit,
                w.span(),
                false,
                format!("{} per {} s", w.limit, w.per_seconds),
            )
        })
        .collect();
    if let Some(limit) = account.hourly_limit {
        windows.push(sliding(
            limit,
            Duration::hours(1),
            false,
            format!("hourly limit of {limit}"),
        ));
    }
    if let Some(limit) = account.daily_limit {
        windows.push(Window {
            limit: limit.into(),
            start: start_of_utc_day(now),
            span: Span::UtcDay,
            domain: false,
            label: format!("daily limit of {limit}"),
        });
    }
    if let Some(w) = RateWindow::domain_of(account) {
        windows.push(sliding(
            w.limit,
            w.span(),
            true,
            format!(
                "{} per {} s to one recipient domain",
                w.limit, w.per_seconds
            ),
        ));
    }
    windows
}

/// Placeholders for raw SQL on either backend, numbered as values are added.
struct Sql {
    postgres: bool,
    values: Vec<sea_orm::Value>,
}

impl Sql {
    fn bind(&mut self, value: impl Into<sea_orm::Value>) -> String {
        self.values.push(value.into());
        if self.postgres {
            format!("${}", self.values.len())
        } else {
            "?".to_owned()
        }
    }
}

fn at(time: DateTime<Utc>) -> DateTime<FixedOffset> {
    time.fixed_offset()
}

/// The sends counted against each window (in the order given), in one
/// statement of index range counts: sent messages per window, and the
/// messages in flight (for the account, and to the recipient's domain).
async fn count(
    txn: &DatabaseTransaction,
    tenant_id: Uuid,
    sender_id: Uuid,
    domain: &str,
    windows: &[Window],
    in_flight_since: DateTime<Utc>,
) -> AppResult<Vec<(i64, i64)>> {
    let mut sql = Sql {
        postgres: crate::db::is_postgres(txn),
        values: Vec::new(),
    };
    let mut counts = Vec::with_capacity(windows.len() + 2);
    let scope = |sql: &mut Sql, domain_only: bool| {
        let mut text = format!(
            "FROM messages WHERE tenant_id = {} AND sender_id = {}",
            sql.bind(tenant_id),
            sql.bind(sender_id)
        );
        if domain_only {
            text.push_str(&format!(" AND recipient_domain = {}", sql.bind(domain)));
        }
        text
    };
    for window in windows {
        let from = scope(&mut sql, window.domain);
        counts.push(format!(
            "(SELECT COUNT(*) {from} AND sent_at >= {})",
            sql.bind(at(window.start))
        ));
    }
    for domain_only in [false, true] {
        let from = scope(&mut sql, domain_only);
        counts.push(format!(
            "(SELECT COUNT(*) {from} AND transfer_started_at IS NOT NULL AND transfer_started_at >= {})",
            sql.bind(at(in_flight_since))
        ));
    }
    let columns: Vec<String> = counts
        .iter()
        .enumerate()
        .map(|(i, count)| format!("{count} AS c{i}"))
        .collect();
    let statement = Statement::from_sql_and_values(
        txn.get_database_backend(),
        format!("SELECT {}", columns.join(", ")),
        sql.values,
    );
    let row = txn
        .query_one_raw(statement)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("a count returned no row")))?;
    let value = |i: usize| row.try_get_by_index::<i64>(i);
    let (all_in_flight, domain_in_flight) = (value(windows.len())?, value(windows.len() + 1)?);
    windows
        .iter()
        .enumerate()
        .map(|(i, window)| {
            let in_flight = if window.domain {
                domain_in_flight
            } else {
                all_in_flight
            };
            Ok((value(i)?, in_flight))
        })
        .collect()
}

/// When `window` (full: `sent + in_flight ≥ limit`) has room again: when
/// enough of its sent messages have left it. Messages in flight may still
/// be released, so only the sent ones are waited for; a window held full by
/// messages in flight is looked at again shortly. The flag says whether the
/// answer is firm (worth keeping on the account) or only a time to look
/// again.
async fn room_at(
    txn: &DatabaseTransaction,
    tenant_id: Uuid,
    sender_id: Uuid,
    domain: &str,
    window: &Window,
    sent: i64,
    now: DateTime<Utc>,
) -> AppResult<(DateTime<Utc>, bool)> {
    let soon = |span: Duration| now + Ord::min(span, Duration::seconds(1));
    if sent < window.limit {
        let again = match window.span {
            Span::Sliding(span) => soon(span),
            Span::UtcDay => soon(Duration::seconds(1)),
        };
        return Ok((again, false));
    }
    match window.span {
        Span::UtcDay => Ok((start_of_utc_day(now) + Duration::days(1), true)),
        Span::Sliding(span) => {
            // The oldest `sent - limit + 1` must leave the window.
            let mut oldest = tenant_rows::<messages::Entity>(tenant_id)
                .select_only()
                .column(messages::Column::SentAt)
                .filter(messages::Column::SenderId.eq(sender_id))
                .filter(messages::Column::SentAt.gte(at(window.start)));
            if window.domain {
                oldest = oldest.filter(messages::Column::RecipientDomain.eq(domain));
            }
            let leaving: Option<Option<DateTime<FixedOffset>>> = oldest
                .order_by_asc(messages::Column::SentAt)
                .offset(u64::try_from(sent - window.limit).unwrap_or(0))
                .limit(1)
                .into_tuple()
                .one(txn)
                .await?;
            Ok(match leaving.flatten() {
                Some(sent_at) => (Ord::max(sent_at.to_utc() + span, now), true),
                None => (soon(span), false),
            })
        }
    }
}

/// Takes a sending slot on account `sender_id` for `message`, or says when
/// to ask again (see the module docs). `attempts` is stored on the message
/// with the marker, as the delivery's attempt count.
pub(crate) async fn reserve(
    shared: &Shared,
    message: &messages::Model,
    sender_id: Uuid,
    attempts: i32,
) -> AppResult<Reservation> {
    let tenant_id = message.tenant_id;
    let txn = begin_for_write(&shared.db, tenant_id, None).await?;
    // The lock first, the clock after it: a reservation that waited for
    // the lock counts from when it got it.
    let account = tenant_rows::<sender_accounts::Entity>(tenant_id)
        .filter(sender_accounts::Column::Id.eq(sender_id))
        .lock(LockType::Update)
        .one(&txn)
        .await?;
    let now = shared.clock.now();
    let Some(account) = account.filter(|a| a.is_active && a.deleted_at.is_none()) else {
        txn.rollback().await?;
        return Ok(Reservation::Unusable);
    };
    if let Some(until) = account
        .throttled_until
        .map(|t| t.to_utc())
        .filter(|t| *t > now)
    {
        txn.rollback().await?;
        return Ok(Reservation::Wait {
            at: until,
            reason: format!(
                "sender account {:?} was throttled by its provider; resting until then",
                account.name
            ),
        });
    }
    if let Some(next) = account
        .next_send_at
        .map(|t| t.to_utc())
        .filter(|t| *t > now)
    {
        txn.rollback().await?;
        return Ok(Reservation::Wait {
            at: next,
            reason: resting_reason(&account),
        });
    }

    let domain = recipient_domain(&message.recipient);
    let windows = windows_of(&account, now);
    if !windows.is_empty() {
        let flight = Duration::seconds(shared.config.messaging.job_lease_secs.max(5) as i64);
        let counts = count(&txn, tenant_id, sender_id, &domain, &windows, now - flight).await?;
        // Every window must have room: the latest of their "room at" wins.
        let mut wait: Option<(DateTime<Utc>, &Window)> = None;
        let mut account_full: Option<(DateTime<Utc>, &Window)> = None;
        for (window, &(sent, in_flight)) in windows.iter().zip(&counts) {
            if sent + in_flight < window.limit {
                continue;
            }
            let (room, firm) =
                room_at(&txn, tenant_id, sender_id, &domain, window, sent, now).await?;
            if firm && !window.domain && account_full.is_none_or(|(later, _)| room > later) {
                account_full = Some((room, window));
            }
            if wait.is_none_or(|(later, _)| room > later) {
                wait = Some((room, window));
            }
        }
        if let Some((room, window)) = wait {
            let reason = |window: &Window| {
                let whom = if window.domain {
                    format!(" for {domain}")
                } else {
                    String::new()
                };
                format!(
                    "sender account {:?} reached its {}{whom}",
                    account.name, window.label
                )
            };
            if let Some((until, full)) = account_full {
                // Other workers skip the account without its lock until then
                // (a full domain window holds back only its own domain).
                rest_until(&txn, tenant_id, sender_id, until, reason(full)).await?;
            }
            txn.commit().await?;
            return Ok(Reservation::Wait {
                at: room,
                reason: reason(window),
            });
        }
    }

    let taken = tenant_update::<messages::Entity>(tenant_id)
        .col_expr(messages::Column::TransferStartedAt, Expr::val(at(now)))
        .col_expr(messages::Column::SenderId, Expr::val(sender_id))
        .col_expr(messages::Column::RecipientDomain, Expr::val(domain))
        // The job counts its attempts, including those that failed before
        // reaching the transfer.
        .col_expr(messages::Column::Attempts, Expr::val(attempts))
        .col_expr(
            messages::Column::NextAttemptAt,
            Expr::val(None::<DateTime<FixedOffset>>),
        )
        .col_expr(messages::Column::UpdatedAt, Expr::val(at(now)))
        .filter(messages::Column::Id.eq(message.id))
        .filter(messages::Column::Status.eq(MessageStatus::Queued))
        .filter(messages::Column::TransferStartedAt.is_null())
        .exec(&txn)
        .await?;
    if taken.rows_affected != 1 {
        txn.rollback().await?;
        return Ok(Reservation::Gone);
    }
    if let Some((min, max)) = delay_range(account.min_delay_ms, account.max_delay_ms, "", "")
        .ok()
        .flatten()
    {
        let pause = rand::thread_rng().gen_range(min..=max);
        let reason = format!(
            "sender account {:?} pauses {pause} ms between two sends",
            account.name
        );
        let until = now + Duration::milliseconds(pause.into());
        rest_until(&txn, tenant_id, sender_id, until, reason).await?;
    }
    txn.commit().await?;
    Ok(Reservation::Granted)
}

/// Keeps "nothing before `until`, because `reason`" on the account.
async fn rest_until(
    txn: &DatabaseTransaction,
    tenant_id: Uuid,
    sender_id: Uuid,
    until: DateTime<Utc>,
    reason: String,
) -> AppResult<()> {
    tenant_update::<sender_accounts::Entity>(tenant_id)
        .col_expr(sender_accounts::Column::NextSendAt, Expr::val(at(until)))
        .col_expr(sender_accounts::Column::NextSendReason, Expr::val(reason))
        .filter(sender_accounts::Column::Id.eq(sender_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Why the account sends nothing before its `next_send_at`.
pub(crate) fn resting_reason(account: &sender_accounts::Model) -> String {
    account.next_send_reason.clone().unwrap_or_else(|| {
        format!(
            "sender account {:?} is pausing between sends or its sending limit is reached",
            account.name
        )
    })
}

/// The provider answered account `account` with a throttling reply: the
/// account rests for `base` doubled per strike in a row (capped at an
/// hour), and says until when.
pub(crate) async fn note_throttled(
    shared: &Shared,
    account: &sender_accounts::Model,
) -> AppResult<DateTime<Utc>> {
    let base = Duration::milliseconds(shared.config.messaging.throttle_backoff_ms as i64);
    let strikes = account.throttle_strikes.saturating_add(1);
    let until = shared.clock.now() + crate::jobs::queue::backoff(base, strikes);
    let txn = begin_for_write(&shared.db, account.tenant_id, None).await?;
    tenant_update::<sender_accounts::Entity>(account.tenant_id)
        .col_expr(
            sender_accounts::Column::ThrottledUntil,
            Expr::val(at(until)),
        )
        .col_expr(sender_accounts::Column::ThrottleStrikes, Expr::val(strikes))
        .filter(sender_accounts::Column::Id.eq(account.id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(until)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(result: AppResult<impl std::fmt::Debug>) -> String {
        match result {
            Err(AppError::BadUserInput { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn windows_are_bounded_distinct_and_named_by_their_place() {
        let parsed = RateWindow::parse_all(&[(30, 60), (14, 1)], "input.rateLimits").unwrap();
        assert_eq!(
            parsed,
            [
                RateWindow {
                    limit: 14,
                    per_seconds: 1
                },
                RateWindow {
                    limit: 30,
                    per_seconds: 60
                }
            ]
        );
        let refused =
            |windows: &[(i32, i32)]| field(RateWindow::parse_all(windows, "input.rateLimits"));
        assert_eq!(refused(&[(14, 1), (0, 60)]), "input.rateLimits[1].limit");
        assert_eq!(refused(&[(14, 0)]), "input.rateLimits[0].perSeconds");
        assert_eq!(
            refused(&[(14, MAX_WINDOW_SECONDS + 1)]),
            "input.rateLimits[0].perSeconds"
        );
        assert_eq!(
            refused(&[(14, 1), (10, 1)]),
            "input.rateLimits[1].perSeconds"
        );
        assert_eq!(refused(&[(1, 1); MAX_RATE_WINDOWS + 1]), "input.rateLimits");
    }

    #[test]
    fn a_pause_needs_min_at_most_max_and_a_lone_bound_is_read_sensibly() {
        let range = |min, max| delay_range(min, max, "input.minDelayMs", "input.maxDelayMs");
        assert_eq!(range(None, None).unwrap(), None);
        assert_eq!(range(Some(100), Some(200)).unwrap(), Some((100, 200)));
        assert_eq!(range(Some(100), None).unwrap(), Some((100, 100)));
        assert_eq!(range(None, Some(200)).unwrap(), Some((0, 200)));
        assert_eq!(field(range(Some(300), Some(200))), "input.maxDelayMs");
        assert_eq!(field(range(Some(-1), None)), "input.minDelayMs");
        assert_eq!(
            field(range(None, Some(MAX_DELAY_MS + 1))),
            "input.maxDelayMs"
        );
    }

    #[test]
    fn the_recipient_domain_is_the_lowercased_part_after_the_last_at() {
        assert_eq!(recipient_domain("Ada@GMail.com"), "gmail.com");
        assert_eq!(recipient_domain("\"a@b\"@example.org"), "example.org");
    }
}
