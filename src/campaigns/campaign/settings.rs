//! A campaign's settings between the API and the columns: parsed once at
//! the edge (a bad value names its field), and read back for the API and the
//! scheduler.

use async_graphql::ID;
use chrono_tz::Tz;
use uuid::Uuid;

use entity::campaigns;

use super::types::{
    AbTest, Campaign, CampaignAudience, CampaignSchedule, Delay, DelayUnit, SendWindow,
    SendWindowInput, StopCondition, Weekday,
};
use crate::campaigns::schedule::{DAY_MINUTES, Window, parse_zone};
use crate::domain::{CurrencyCode, Money};
use crate::error::{AppError, AppResult};
use crate::graphql::json::Json;
use crate::graphql::{parse_id, to_id};

/// Most minutes a step may wait (a year).
const MAX_DELAY_MINUTES: i64 = 366 * DAY_MINUTES as i64;

/// `HH:MM` as minutes after midnight; `24:00` only where `end` allows it.
pub(crate) fn parse_time(text: &str, field: &str, end: bool) -> AppResult<u32> {
    let bad = || {
        AppError::invalid(
            field,
            format!("{text:?} is not a time as HH:MM (00:00–23:59)"),
        )
    };
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m > 59 || h > 24 || (h == 24 && (m != 0 || !end)) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

pub(crate) fn format_time(minute: i32) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

pub(crate) fn parse_zone_named(name: &str, field: &str) -> AppResult<String> {
    parse_zone(name)
        .map(|tz| tz.name().to_owned())
        .ok_or_else(|| {
            AppError::invalid(
                field,
                format!("{name:?} is not an IANA time zone (e.g. Europe/Berlin)"),
            )
        })
}

/// The window's columns: days as bits, start and end minutes.
pub(crate) fn parse_window(input: &SendWindowInput, field: &str) -> AppResult<(i32, i32, i32)> {
    if input.days.is_empty() {
        return Err(AppError::invalid(
            format!("{field}.days"),
            "name at least one day",
        ));
    }
    let days = input
        .days
        .iter()
        .fold(0u8, |bits, day| bits | (1 << (day.number() - 1)));
    let start = parse_time(&input.start, &format!("{field}.start"), false)?;
    let end = parse_time(&input.end, &format!("{field}.end"), true)?;
    if start >= end {
        return Err(AppError::invalid(
            format!("{field}.end"),
            "the window must end after it starts (windows across midnight are two days)",
        ));
    }
    Ok((i32::from(days), start as i32, end as i32))
}

/// A step's delay as minutes and the business-days flag.
pub(crate) fn parse_delay(delay: Option<&Delay>, field: &str) -> AppResult<(i32, bool)> {
    let Some(delay) = delay else {
        return Ok((0, false));
    };
    if delay.amount < 0 {
        return Err(AppError::invalid(
            format!("{field}.amount"),
            "a delay cannot be negative",
        ));
    }
    let per_unit: i64 = match delay.unit {
        DelayUnit::Minutes => 1,
        DelayUnit::Hours => 60,
        DelayUnit::Days | DelayUnit::BusinessDays => i64::from(DAY_MINUTES),
    };
    let minutes = i64::from(delay.amount) * per_unit;
    if minutes > MAX_DELAY_MINUTES {
        return Err(AppError::invalid(
            format!("{field}.amount"),
            "a delay is at most a year",
        ));
    }
    Ok((minutes as i32, delay.unit == DelayUnit::BusinessDays))
}

/// The delay as the API shows it: in the largest unit that divides it.
pub(crate) fn delay_of(minutes: i32, business_days: bool) -> Delay {
    let day = DAY_MINUTES as i32;
    if business_days {
        return Delay {
            amount: minutes / day,
            unit: DelayUnit::BusinessDays,
        };
    }
    if minutes > 0 && minutes % day == 0 {
        Delay {
            amount: minutes / day,
            unit: DelayUnit::Days,
        }
    } else if minutes > 0 && minutes % 60 == 0 {
        Delay {
            amount: minutes / 60,
            unit: DelayUnit::Hours,
        }
    } else {
        Delay {
            amount: minutes,
            unit: DelayUnit::Minutes,
        }
    }
}

/// Ids given in a list, parsed, each naming its position.
pub(crate) fn parse_ids(ids: Option<&Vec<ID>>, field: &str) -> AppResult<Vec<Uuid>> {
    let mut parsed = Vec::new();
    for (i, id) in ids.into_iter().flatten().enumerate() {
        let id = parse_id(id, &format!("{field}.{i}"))?;
        if !parsed.contains(&id) {
            parsed.push(id);
        }
    }
    Ok(parsed)
}

fn uuids(json: &serde_json::Value, key: &str) -> Vec<Uuid> {
    json.get(key)
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok()))
        .collect()
}

/// The saved audience: segment ids, filter, exclusions.
pub(crate) struct Audience {
    pub segment_ids: Vec<Uuid>,
    pub filter: Option<serde_json::Value>,
    pub exclude_segment_ids: Vec<Uuid>,
}

impl Audience {
    pub(crate) fn of(campaign: &campaigns::Model) -> Self {
        Self {
            segment_ids: uuids(&campaign.audience, "segmentIds"),
            filter: campaign
                .audience
                .get("filter")
                .filter(|f| !f.is_null())
                .cloned(),
            exclude_segment_ids: uuids(&campaign.audience, "excludeSegmentIds"),
        }
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "segmentIds": self.segment_ids,
            "filter": self.filter,
            "excludeSegmentIds": self.exclude_segment_ids,
        })
    }
}

/// The campaign's stop conditions.
pub(crate) fn stop_on(campaign: &campaigns::Model) -> Vec<StopCondition> {
    campaign
        .stop_on
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().and_then(StopCondition::parse))
        .collect()
}

/// The campaign's stop conditions, for quick questions.
#[derive(Clone, Debug, Default)]
pub(crate) struct StopSet(Vec<StopCondition>);

impl StopSet {
    pub(crate) fn of(campaign: &campaigns::Model) -> Self {
        Self(stop_on(campaign))
    }

    pub(crate) fn has(&self, condition: StopCondition) -> bool {
        self.0.contains(&condition)
    }
}

/// Everything the scheduler reads of a campaign's timing.
#[derive(Clone, Debug)]
pub(crate) struct Timing {
    pub zone: Tz,
    pub use_lead_zone: bool,
    pub window: Window,
}

impl Timing {
    pub(crate) fn of(campaign: &campaigns::Model) -> Self {
        Self {
            zone: parse_zone(&campaign.time_zone).unwrap_or(Tz::UTC),
            use_lead_zone: campaign.use_lead_time_zone,
            window: Window {
                days: (campaign.window_days & 0x7f) as u8,
                start_minute: campaign.window_start_minute.max(0) as u32,
                end_minute: campaign.window_end_minute.clamp(1, DAY_MINUTES as i32) as u32,
            },
        }
    }

    /// The zone a lead's times are in.
    pub(crate) fn zone_for(&self, lead_zone: Option<&str>) -> Tz {
        if self.use_lead_zone
            && let Some(zone) = lead_zone.and_then(parse_zone)
        {
            return zone;
        }
        self.zone
    }
}

fn currency(campaign: &campaigns::Model) -> CurrencyCode {
    CurrencyCode::parse(&campaign.currency).unwrap_or(CurrencyCode::USD)
}

impl From<campaigns::Model> for Campaign {
    fn from(model: campaigns::Model) -> Self {
        let audience = Audience::of(&model);
        let days: Vec<Weekday> = Weekday::ALL
            .into_iter()
            .filter(|d| model.window_days & (1 << (d.number() - 1)) != 0)
            .collect();
        let currency = currency(&model);
        Self {
            id: to_id(model.id),
            name: model.name.clone(),
            description: model.description.clone(),
            kind: model.kind.into(),
            status: model.status.into(),
            project_id: model.project_id.map(to_id),
            audience: CampaignAudience {
                segment_ids: audience.segment_ids.into_iter().map(to_id).collect(),
                filter: audience.filter.map(Json),
                exclude_segment_ids: audience
                    .exclude_segment_ids
                    .into_iter()
                    .map(to_id)
                    .collect(),
            },
            schedule: CampaignSchedule {
                kind: model.schedule_kind.into(),
                starts_at: model.starts_at.map(|at| at.to_utc()),
                ends_at: model.ends_at.map(|at| at.to_utc()),
                send_time: model.send_time_minute.map(format_time),
                weekday: model
                    .send_weekday
                    .and_then(|d| Weekday::from_number(d as u32)),
                time_zone: model.time_zone.clone(),
                use_lead_time_zone: model.use_lead_time_zone,
                window: SendWindow {
                    days,
                    start: format_time(model.window_start_minute),
                    end: format_time(model.window_end_minute),
                },
            },
            leads_per_day: model.leads_per_day,
            leads_per_hour: model.leads_per_hour,
            budget: model
                .budget_amount
                .map(|amount| Money::from_minor(amount, currency)),
            spent: Money::from_minor(model.spent_amount, currency),
            stop_on: stop_on(&model),
            ab_test: AbTest {
                metric: model.ab_metric.into(),
                min_sends_per_variant: model.ab_min_sends,
                decide_after_hours: model.ab_decide_after_hours,
                confidence_pct: model.ab_confidence_pct,
            },
            enroll_new_leads: model.enroll_new_leads,
            remove_leavers: model.remove_leavers,
            launched_at: model.launched_at.map(|at| at.to_utc()),
            paused_at: model.paused_at.map(|at| at.to_utc()),
            completed_at: model.completed_at.map(|at| at.to_utc()),
            archived_at: model.archived_at.map(|at| at.to_utc()),
            created_at: model.created_at.to_utc(),
            updated_at: model.updated_at.to_utc(),
            model: std::sync::Arc::new(model),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_hours_and_minutes_and_midnight_may_end_a_window() {
        assert_eq!(parse_time("09:30", "f", false).unwrap(), 570);
        assert_eq!(parse_time("24:00", "f", true).unwrap(), 1440);
        assert!(parse_time("24:00", "f", false).is_err());
        assert!(parse_time("9h", "f", false).is_err());
        assert!(parse_time("12:60", "f", false).is_err());
        assert_eq!(format_time(570), "09:30");
    }

    #[test]
    fn delays_read_back_in_the_unit_that_divides_them() {
        let days = Delay {
            amount: 3,
            unit: DelayUnit::Days,
        };
        let (minutes, business) = parse_delay(Some(&days), "d").unwrap();
        assert_eq!((minutes, business), (3 * 1440, false));
        assert_eq!(delay_of(minutes, business).unit, DelayUnit::Days);
        assert_eq!(delay_of(90, false).unit, DelayUnit::Minutes);
        assert_eq!(delay_of(120, false).amount, 2);
        let negative = Delay {
            amount: -1,
            unit: DelayUnit::Hours,
        };
        assert_eq!(
            parse_delay(Some(&negative), "steps.0.delay")
                .unwrap_err()
                .field(),
            Some("steps.0.delay.amount")
        );
    }
}
