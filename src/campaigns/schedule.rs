//! Campaign time: send windows, step delays (plain or in business days) and
//! daily or weekly batch times, in an IANA time zone (the campaign's or the
//! lead's own).
//!
//! Pure functions of an instant, so that the scheduler and its tests agree
//! and DST is handled in one place. Windows are local wall-clock times: a
//! window of 09:00–17:00 in Europe/Berlin is 08:00–16:00 UTC in winter and
//! 07:00–15:00 UTC in summer. A local time that does not exist (the hour
//! skipped when clocks go forward) moves to the first instant after the gap;
//! one that happens twice (clocks going back) is its first occurrence.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Minutes in a day: a window's end may be 1440 (midnight at its end).
pub(crate) const DAY_MINUTES: u32 = 1_440;

/// When a campaign may send: ISO weekdays and a daily span of local time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    /// Bit `n - 1` for ISO weekday `n` (Monday = 1 … Sunday = 7).
    pub days: u8,
    /// Minutes after local midnight, `start < end <= 1440`.
    pub start_minute: u32,
    pub end_minute: u32,
}

impl Window {
    /// Every day, all day.
    #[cfg(test)]
    pub(crate) const ALWAYS: Self = Self {
        days: 0x7f,
        start_minute: 0,
        end_minute: DAY_MINUTES,
    };

    fn allows_day(&self, date: NaiveDate) -> bool {
        self.days & (1 << (date.weekday().number_from_monday() - 1)) != 0
    }
}

/// The local date-time `minute` minutes after midnight of `date`, as an
/// instant in `tz` (see the module note on gaps and repeats).
fn local_instant(tz: Tz, date: NaiveDate, minute: u32) -> DateTime<Utc> {
    let naive: NaiveDateTime =
        date.and_hms_opt(0, 0, 0).expect("midnight exists") + Duration::minutes(minute.into());
    resolve(tz, naive)
}

fn resolve(tz: Tz, naive: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(at) => at.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            // In a gap: the first local minute after it exists (gaps are
            // whole hours or half hours in every zone in use).
            let mut probe = naive;
            for _ in 0..240 {
                probe += Duration::minutes(1);
                if let Some(at) = tz.from_local_datetime(&probe).earliest() {
                    return at.with_timezone(&Utc);
                }
            }
            Utc.from_utc_datetime(&naive)
        }
    }
}

/// The earliest instant at or after `at` inside `window` in `tz`; `None`
/// when the window allows no day at all.
pub(crate) fn next_open(at: DateTime<Utc>, tz: Tz, window: &Window) -> Option<DateTime<Utc>> {
    if window.days & 0x7f == 0 || window.start_minute >= window.end_minute {
        return None;
    }
    let local_date = at.with_timezone(&tz).date_naive();
    // Start the day before: in zones far from UTC a window of the previous
    // local day may still be open.
    let mut date = local_date.pred_opt()?;
    for _ in 0..10 {
        if window.allows_day(date) {
            let opens = local_instant(tz, date, window.start_minute);
            let closes = local_instant(tz, date, window.end_minute);
            if at < closes {
                return Some(Ord::max(opens, at));
            }
        }
        date = date.succ_opt()?;
    }
    None
}

/// `delay_minutes` after `from`. With `business_days` the whole days of the
/// delay count Monday to Friday in `tz` (a Friday plus one business day is
/// the Monday, at the same local time); the minutes left over are added as
/// they are.
pub(crate) fn after_delay(
    from: DateTime<Utc>,
    delay_minutes: u32,
    business_days: bool,
    tz: Tz,
) -> DateTime<Utc> {
    if !business_days {
        return from + Duration::minutes(delay_minutes.into());
    }
    let days = delay_minutes / DAY_MINUTES;
    let rest = delay_minutes % DAY_MINUTES;
    let local = from.with_timezone(&tz).naive_local();
    let mut date = local.date();
    let mut left = days;
    while left > 0 {
        date = date.succ_opt().unwrap_or(date);
        if date.weekday().number_from_monday() <= 5 {
            left -= 1;
        }
    }
    resolve(tz, date.and_time(local.time())) + Duration::minutes(rest.into())
}

/// The next batch time at or after `at`: `minute` after local midnight on a
/// day the window allows (daily), or on ISO `weekday` only (weekly).
pub(crate) fn next_batch(
    at: DateTime<Utc>,
    tz: Tz,
    minute: u32,
    weekday: Option<u32>,
    window: &Window,
) -> Option<DateTime<Utc>> {
    let mut date = at.with_timezone(&tz).date_naive().pred_opt()?;
    for _ in 0..16 {
        let day_ok = match weekday {
            Some(w) => date.weekday().number_from_monday() == w,
            None => window.allows_day(date),
        };
        if day_ok {
            let batch = local_instant(tz, date, minute);
            if batch >= at {
                return Some(batch);
            }
        }
        date = date.succ_opt()?;
    }
    None
}

/// Local midnight that starts `at`'s day in `tz`, and the next one: the
/// leads-per-day cap counts within them.
pub(crate) fn local_day(at: DateTime<Utc>, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let date = at.with_timezone(&tz).date_naive();
    let next = date.succ_opt().unwrap_or(date);
    (local_instant(tz, date, 0), local_instant(tz, next, 0))
}

/// A time zone by its IANA name.
pub(crate) fn parse_zone(name: &str) -> Option<Tz> {
    name.parse::<Tz>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const WEEKDAYS_9_TO_17: Window = Window {
        days: 0b001_1111,
        start_minute: 9 * 60,
        end_minute: 17 * 60,
    };

    #[test]
    fn a_time_inside_the_window_is_its_own_next_open() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // Wednesday 2027-01-13 10:00 UTC is 11:00 in Berlin (winter, +1).
        let at = utc("2027-01-13T10:00:00Z");
        assert_eq!(next_open(at, berlin, &WEEKDAYS_9_TO_17), Some(at));
    }

    #[test]
    fn after_hours_wait_for_the_next_morning_and_weekends_for_monday() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // Wednesday 18:30 Berlin: Thursday 09:00 Berlin = 08:00 UTC.
        assert_eq!(
            next_open(utc("2027-01-13T17:30:00Z"), berlin, &WEEKDAYS_9_TO_17),
            Some(utc("2027-01-14T08:00:00Z"))
        );
        // Friday 17:00 Berlin (the end is open): Monday 09:00.
        assert_eq!(
            next_open(utc("2027-01-15T16:00:00Z"), berlin, &WEEKDAYS_9_TO_17),
            Some(utc("2027-01-18T08:00:00Z"))
        );
    }

    #[test]
    fn the_window_follows_local_time_across_a_dst_change() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // Clocks go forward on Sunday 2027-03-28. Friday 26th opens at
        // 08:00 UTC (+1); Monday 29th at 07:00 UTC (+2).
        assert_eq!(
            next_open(utc("2027-03-26T05:00:00Z"), berlin, &WEEKDAYS_9_TO_17),
            Some(utc("2027-03-26T08:00:00Z"))
        );
        assert_eq!(
            next_open(utc("2027-03-26T18:00:00Z"), berlin, &WEEKDAYS_9_TO_17),
            Some(utc("2027-03-29T07:00:00Z"))
        );
        let new_york: Tz = "America/New_York".parse().unwrap();
        // Clocks go back on Sunday 2027-11-07: 09:00 is 13:00 UTC on
        // Friday 5th (-4) and 14:00 UTC on Monday 8th (-5).
        assert_eq!(
            next_open(utc("2027-11-05T12:00:00Z"), new_york, &WEEKDAYS_9_TO_17),
            Some(utc("2027-11-05T13:00:00Z"))
        );
        assert_eq!(
            next_open(utc("2027-11-05T22:00:00Z"), new_york, &WEEKDAYS_9_TO_17),
            Some(utc("2027-11-08T14:00:00Z"))
        );
    }

    #[test]
    fn a_window_starting_in_the_skipped_hour_opens_when_the_gap_ends() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let window = Window {
            days: 0x7f,
            start_minute: 2 * 60 + 30,
            end_minute: 4 * 60,
        };
        // 02:30 does not exist on 2027-03-28; 03:00 CEST = 01:00 UTC.
        assert_eq!(
            next_open(utc("2027-03-27T23:00:00Z"), berlin, &window),
            Some(utc("2027-03-28T01:00:00Z"))
        );
    }

    #[test]
    fn a_window_of_the_previous_local_day_counts_in_zones_behind_utc() {
        let la: Tz = "America/Los_Angeles".parse().unwrap();
        // Tuesday 2027-01-12 01:00 UTC is Monday 17:00 in Los Angeles:
        // Monday's 09:00-18:00 window is still open.
        let window = Window {
            end_minute: 18 * 60,
            ..WEEKDAYS_9_TO_17
        };
        let at = utc("2027-01-12T01:00:00Z");
        assert_eq!(next_open(at, la, &window), Some(at));
    }

    #[test]
    fn a_window_with_no_day_never_opens() {
        let window = Window {
            days: 0,
            ..Window::ALWAYS
        };
        assert_eq!(next_open(Utc::now(), Tz::UTC, &window), None);
    }

    #[test]
    fn business_days_skip_the_weekend_at_the_same_local_time() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // Friday 2027-03-26 10:00 Berlin (+1) plus 1 business day: Monday
        // 29th 10:00 Berlin, now +2 = 08:00 UTC.
        assert_eq!(
            after_delay(utc("2027-03-26T09:00:00Z"), DAY_MINUTES, true, berlin),
            utc("2027-03-29T08:00:00Z")
        );
        // Three plain days are 72 hours.
        assert_eq!(
            after_delay(utc("2027-03-26T09:00:00Z"), 3 * DAY_MINUTES, false, berlin),
            utc("2027-03-29T09:00:00Z")
        );
        // Seed 001's follow-ups: 3 then 5 business days from a Monday.
        let monday = utc("2027-01-11T10:00:00Z");
        let first = after_delay(monday, 3 * DAY_MINUTES, true, Tz::UTC);
        assert_eq!(first, utc("2027-01-14T10:00:00Z"));
        assert_eq!(
            after_delay(first, 5 * DAY_MINUTES, true, Tz::UTC),
            utc("2027-01-21T10:00:00Z")
        );
    }

    #[test]
    fn daily_and_weekly_batches_start_at_their_local_time() {
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        // 08:00 Tokyo = 23:00 UTC the day before.
        assert_eq!(
            next_batch(
                utc("2027-01-13T00:00:00Z"),
                tokyo,
                8 * 60,
                None,
                &Window::ALWAYS
            ),
            Some(utc("2027-01-13T23:00:00Z"))
        );
        // Weekly on Mondays at 09:00 UTC, asked on Wednesday 13th.
        assert_eq!(
            next_batch(
                utc("2027-01-13T12:00:00Z"),
                Tz::UTC,
                9 * 60,
                Some(1),
                &Window::ALWAYS
            ),
            Some(utc("2027-01-18T09:00:00Z"))
        );
    }

    #[test]
    fn a_local_day_is_23_hours_when_clocks_go_forward() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let (start, end) = local_day(utc("2027-03-28T12:00:00Z"), berlin);
        assert_eq!(start, utc("2027-03-27T23:00:00Z"));
        assert_eq!(end - start, Duration::hours(23));
    }
}
