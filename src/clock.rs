//! The one source of "now" for the services whose rules depend on time
//! (campaign schedules and send windows, sending limits, job run times).
//!
//! Production reads the system clock. Tests move it forward (or to a given
//! instant) with [`Clock::advance`] and [`Clock::set`] to walk through days,
//! send windows and DST changes without sleeping. The clock is the system
//! time plus an offset, not a frozen instant: real time keeps passing, so
//! code that also waits on tokio timers (leases, polls) behaves as it does
//! in production, only later in the calendar.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

/// System time, shifted by an offset that only tests change.
#[derive(Debug, Default)]
pub struct Clock {
    offset_us: AtomicI64,
}

impl Clock {
    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::microseconds(self.offset_us.load(Ordering::Relaxed))
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        self.offset_us
            .fetch_add(by.num_microseconds().unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// Moves the clock to `at`; it keeps running from there.
    pub fn set(&self, at: DateTime<Utc>) {
        // Rounded up to the next microsecond, so a read right after is
        // never before `at`.
        let offset = at - Utc::now() + Duration::microseconds(1);
        self.offset_us.store(
            offset.num_microseconds().unwrap_or(i64::MAX),
            Ordering::Relaxed,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moved_clock_keeps_running_from_where_it_was_put() {
        let clock = Clock::default();
        let target = DateTime::parse_from_rfc3339("2027-03-28T00:59:00Z")
            .unwrap()
            .with_timezone(&Utc);
        clock.set(target);
        let read = clock.now();
        assert!(read >= target && read - target < Duration::seconds(5));
        clock.advance(Duration::days(2));
        assert!(clock.now() - target >= Duration::days(2));
    }
}
