//! The scoring engine: which rules a lead matches and what it scores. Pure
//! (no database), so the lead service, the bulk recompute and the
//! `scoreBreakdown` field all agree, and every condition is unit-tested.
//!
//! Semantics, chosen for how marketers write rules:
//! - text compares case-insensitively (`country EQUALS "de"` matches `DE`);
//!   `CONTAINS` is a substring test (`email CONTAINS "@acme.com"`);
//! - a missing value matches nothing except `NOT_EQUALS`;
//! - on `tags` (and on list-valued custom fields) `EQUALS`/`CONTAINS` mean
//!   "has this tag", `NOT_EQUALS` "lacks it", `IN` "has any of them",
//!   `EXISTS` "has at least one";
//! - the score is the sum of the matching active rules' points, clamped to
//!   0..=100;
//! - `websiteAnalysis.<signal>` reads the analysis of the lead's company's
//!   website; a lead without one has no value (as a missing field).

use entity::lead_scoring_rules;
use entity::leads;
use entity::sea_orm_active_enums::ScoringCondition;
use entity::website_analyses;

use crate::attributes::{Attribute, AttributeValue, ScoreKind, spelling, spellings};
use crate::capture::website_analysis::WEBSITE_SIGNALS;
use crate::crm::leads::attributes::LEAD_ATTRIBUTES;
use serde_json::Value;
use uuid::Uuid;

/// Lowest and highest score.
pub(super) const SCORE_RANGE: std::ops::RangeInclusive<i32> = 0..=100;

/// Most elements an `IN` list may hold.
pub(super) const MAX_IN_VALUES: usize = 500;

/// A lead's score and the rules that made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScoreOutcome {
    /// Sum of the points of the matching active rules, clamped to 0..=100.
    pub score: i32,
    /// Only the rules that matched, in rule order.
    pub contributions: Vec<Contribution>,
}

/// One matching rule's share of a score.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contribution {
    pub rule_id: Uuid,
    pub rule_name: String,
    pub points: i32,
}

/// What a rule looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Criterion {
    Status,
    StageId,
    SourceId,
    ProjectId,
    CompanyId,
    OwnerId,
    /// A scored attribute of the lead: its index in `LEAD_ATTRIBUTES`.
    Attribute(usize),
    /// `websiteAnalysis.<signal>`: a signal of the lead's company's website
    /// analysis, its index in `WEBSITE_SIGNALS`.
    Website(usize),
    LifetimeValueCents,
    BudgetCents,
    EmailsSent,
    EmailsOpened,
    EmailsClicked,
    Tags,
    /// `custom.<key>`: a key of the lead's custom fields.
    Custom(String),
}

/// The kind of value a criterion holds, which decides the conditions it takes.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Text,
    /// One of a fixed set of lowercase spellings.
    Choice(fn() -> Vec<String>),
    Id,
    Number,
    Bool,
    Tags,
    /// Any JSON a custom field holds.
    Custom,
}

/// The prefix of the criteria on the lead's company's website analysis.
const WEBSITE: &str = "websiteAnalysis.";

/// What a lead is scored on besides its own row.
#[derive(Clone, Copy, Debug, Default)]
pub struct LeadFacts<'a> {
    /// Its tags.
    pub tags: &'a [String],
    /// The website analysis of its company, when a rule reads one
    /// ([`reads_website`]).
    pub website: Option<&'a website_analyses::Model>,
}

impl<'a> LeadFacts<'a> {
    pub fn new(tags: &'a [String], website: Option<&'a website_analyses::Model>) -> Self {
        Self { tags, website }
    }
}

/// Whether an active rule reads the lead's company's website analysis: the
/// callers load it only then.
pub fn reads_website(rules: &[lead_scoring_rules::Model]) -> bool {
    compile(rules)
        .iter()
        .any(|rule| matches!(rule.criterion, Criterion::Website(_)))
}

/// A scored attribute's index in `table`.
fn scored<M>(table: &[Attribute<M>], name: &str) -> Option<usize> {
    table
        .iter()
        .position(|a| a.name == name && a.score.is_some())
}

/// The lowercase database spellings of `lead_status`.
pub fn lead_statuses() -> Vec<String> {
    spellings::<crate::crm::leads::types::LeadStatus>()
}

impl Criterion {
    /// Parses a rule's `criteria`; `None` for anything not on the list.
    pub fn parse(criteria: &str) -> Option<Self> {
        Some(match criteria {
            "status" => Self::Status,
            "stageId" => Self::StageId,
            "sourceId" => Self::SourceId,
            "projectId" => Self::ProjectId,
            "companyId" => Self::CompanyId,
            "ownerId" => Self::OwnerId,
            "lifetimeValueCents" => Self::LifetimeValueCents,
            "budgetCents" => Self::BudgetCents,
            "emailsSent" => Self::EmailsSent,
            "emailsOpened" => Self::EmailsOpened,
            "emailsClicked" => Self::EmailsClicked,
            "tags" => Self::Tags,
            other => {
                if let Some(index) = scored(LEAD_ATTRIBUTES, other) {
                    return Some(Self::Attribute(index));
                }
                if let Some(signal) = other.strip_prefix(WEBSITE) {
                    return scored(WEBSITE_SIGNALS, signal).map(Self::Website);
                }
                let key = other.strip_prefix("custom.")?;
                let valid = !key.is_empty()
                    && key.len() <= 64
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
                return valid.then(|| Self::Custom(key.to_owned()));
            }
        })
    }

    fn kind(&self) -> Kind {
        match self {
            Self::Status => Kind::Choice(lead_statuses),
            Self::StageId | Self::SourceId | Self::ProjectId | Self::CompanyId | Self::OwnerId => {
                Kind::Id
            }
            Self::Attribute(index) => Kind::of(LEAD_ATTRIBUTES[*index].score),
            Self::Website(index) => Kind::of(WEBSITE_SIGNALS[*index].score),
            Self::LifetimeValueCents
            | Self::BudgetCents
            | Self::EmailsSent
            | Self::EmailsOpened
            | Self::EmailsClicked => Kind::Number,
            Self::Tags => Kind::Tags,
            Self::Custom(_) => Kind::Custom,
        }
    }
}

impl Kind {
    fn of(score: Option<ScoreKind>) -> Self {
        match score {
            Some(ScoreKind::Text) | None => Self::Text,
            Some(ScoreKind::Number) => Self::Number,
            Some(ScoreKind::Bool) => Self::Bool,
            Some(ScoreKind::Choice(spellings)) => Self::Choice(spellings),
        }
    }
}

/// Why a rule is not valid, naming the input field to fix (`criteria`,
/// `condition` or `value`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    pub field: &'static str,
    pub message: String,
}

impl RuleError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// The criteria a rule may use, for error messages.
pub(super) fn criteria_help() -> String {
    let mut names: Vec<&str> = vec![
        "status",
        "stageId",
        "sourceId",
        "projectId",
        "companyId",
        "ownerId",
    ];
    names.extend(
        LEAD_ATTRIBUTES
            .iter()
            .filter(|a| a.score.is_some())
            .map(|a| a.name),
    );
    names.extend([
        "lifetimeValueCents",
        "emailsSent",
        "emailsOpened",
        "emailsClicked",
        "tags",
    ]);
    let website: Vec<String> = WEBSITE_SIGNALS
        .iter()
        .filter(|a| a.score.is_some())
        .map(|a| format!("{WEBSITE}{}", a.name))
        .collect();
    names.extend(website.iter().map(String::as_str));
    format!("{} or custom.<key>", names.join(", "))
}

/// Checks that `criteria`, `condition` and `value` make a rule, and returns
/// the value as stored: statuses in their lowercase spelling, ids in canonical
/// form, `null` for `EXISTS`.
pub fn validate_rule(
    criteria: &str,
    condition: ScoringCondition,
    value: Option<Value>,
) -> Result<Value, RuleError> {
    let criterion = Criterion::parse(criteria)
        .ok_or_else(|| RuleError::new("criteria", format!("must be one of {}", criteria_help())))?;
    let kind = criterion.kind();
    let fits = match condition {
        ScoringCondition::Equals
        | ScoringCondition::NotEquals
        | ScoringCondition::In
        | ScoringCondition::Exists => true,
        ScoringCondition::Contains => matches!(kind, Kind::Text | Kind::Tags | Kind::Custom),
        ScoringCondition::Gt | ScoringCondition::Lt => matches!(kind, Kind::Number | Kind::Custom),
    };
    if !fits {
        let allowed = match kind {
            Kind::Number => "EQUALS, NOT_EQUALS, GT, LT, IN or EXISTS",
            _ => "EQUALS, NOT_EQUALS, IN or EXISTS",
        };
        return Err(RuleError::new(
            "condition",
            format!("{criteria} takes {allowed}"),
        ));
    }
    let value = value.filter(|v| !v.is_null());
    match (condition, value) {
        (ScoringCondition::Exists, None) => Ok(Value::Null),
        (ScoringCondition::Exists, Some(_)) => Err(RuleError::new(
            "value",
            "EXISTS takes no value: leave it null",
        )),
        (_, None) => Err(RuleError::new("value", "is required for this condition")),
        (ScoringCondition::In, Some(Value::Array(items))) => {
            if items.is_empty() || items.len() > MAX_IN_VALUES {
                return Err(RuleError::new(
                    "value",
                    format!("IN needs a list of 1 to {MAX_IN_VALUES} values"),
                ));
            }
            items
                .into_iter()
                .map(|item| scalar_value(kind, item))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        (ScoringCondition::In, Some(_)) => {
            Err(RuleError::new("value", "IN needs a JSON array of values"))
        }
        (ScoringCondition::Gt | ScoringCondition::Lt, Some(value)) => {
            if value.is_number() {
                Ok(value)
            } else {
                Err(RuleError::new("value", "GT and LT need a number"))
            }
        }
        (_, Some(value)) => scalar_value(kind, value),
    }
}

/// One comparison value of the criterion's kind, normalised.
fn scalar_value(kind: Kind, value: Value) -> Result<Value, RuleError> {
    match (kind, value) {
        (Kind::Number, value @ Value::Number(_)) => Ok(value),
        (Kind::Number, _) => Err(RuleError::new("value", "must be a number")),
        (Kind::Text | Kind::Tags, Value::String(text)) if !text.trim().is_empty() => {
            Ok(Value::String(text.trim().to_owned()))
        }
        (Kind::Text | Kind::Tags, _) => Err(RuleError::new("value", "must be a non-empty string")),
        (Kind::Choice(choices), Value::String(text)) => {
            let lower = text.trim().to_ascii_lowercase();
            let choices = choices();
            if choices.contains(&lower) {
                Ok(Value::String(lower))
            } else {
                Err(RuleError::new(
                    "value",
                    format!("must be one of {}", choices.join(", ")),
                ))
            }
        }
        (Kind::Choice(choices), _) => Err(RuleError::new(
            "value",
            format!("must be one of {}", choices().join(", ")),
        )),
        (Kind::Bool, value @ Value::Bool(_)) => Ok(value),
        (Kind::Bool, _) => Err(RuleError::new("value", "must be true or false")),
        (Kind::Id, Value::String(text)) => Uuid::parse_str(text.trim())
            .map(|id| Value::String(id.to_string()))
            .map_err(|_| RuleError::new("value", "must be an id")),
        (Kind::Id, _) => Err(RuleError::new("value", "must be an id")),
        (Kind::Custom, value @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => Ok(value),
        (Kind::Custom, _) => Err(RuleError::new(
            "value",
            "must be a string, number or boolean",
        )),
    }
}

/// What a lead holds for a criterion.
enum Fact<'a> {
    Missing,
    Text(String),
    Number(f64),
    Bool(bool),
    Tags(&'a [String]),
    Json(&'a Value),
}

fn id(value: Option<Uuid>) -> Fact<'static> {
    value.map_or(Fact::Missing, |id| Fact::Text(id.to_string()))
}

fn number(value: Option<f64>) -> Fact<'static> {
    value.map_or(Fact::Missing, Fact::Number)
}

fn attribute(value: AttributeValue) -> Fact<'static> {
    match value {
        AttributeValue::Missing => Fact::Missing,
        AttributeValue::Text(text) => Fact::Text(text),
        // Amounts in cents stay below 2^53, where f64 is exact.
        AttributeValue::Int(n) => Fact::Number(n as f64),
        AttributeValue::Float(x) => Fact::Number(x),
        AttributeValue::Bool(b) => Fact::Bool(b),
    }
}

fn fact<'a>(criterion: &Criterion, lead: &'a leads::Model, facts: LeadFacts<'a>) -> Fact<'a> {
    match criterion {
        Criterion::Status => Fact::Text(spelling(crate::crm::leads::types::LeadStatus::from(
            lead.status,
        ))),
        Criterion::Attribute(index) => attribute((LEAD_ATTRIBUTES[*index].value)(lead)),
        Criterion::Website(index) => facts.website.map_or(Fact::Missing, |analysis| {
            attribute((WEBSITE_SIGNALS[*index].value)(analysis))
        }),
        Criterion::StageId => id(lead.stage_id),
        Criterion::SourceId => id(lead.source_id),
        Criterion::ProjectId => id(lead.project_id),
        Criterion::CompanyId => id(lead.company_id),
        Criterion::OwnerId => id(lead.owner_id),
        Criterion::LifetimeValueCents => number(Some(lead.lifetime_value_cents as f64)),
        Criterion::BudgetCents => number(lead.budget_cents.map(|cents| cents as f64)),
        Criterion::EmailsSent => number(Some(f64::from(lead.emails_sent))),
        Criterion::EmailsOpened => number(Some(f64::from(lead.emails_opened))),
        Criterion::EmailsClicked => number(Some(f64::from(lead.emails_clicked))),
        Criterion::Tags => Fact::Tags(facts.tags),
        Criterion::Custom(key) => match lead.custom_fields.get(key) {
            None | Some(Value::Null) => Fact::Missing,
            Some(value) => Fact::Json(value),
        },
    }
}

/// Two JSON scalars are equal: strings ignoring case, numbers by value.
fn json_eq(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::String(a), Value::String(b)) => a.trim().eq_ignore_ascii_case(b.trim()),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

fn equals(fact: &Fact<'_>, value: &Value) -> bool {
    match fact {
        Fact::Missing => false,
        Fact::Text(text) => value
            .as_str()
            .is_some_and(|v| text.eq_ignore_ascii_case(v.trim())),
        Fact::Number(n) => value.as_f64() == Some(*n),
        Fact::Bool(b) => value.as_bool() == Some(*b),
        Fact::Tags(tags) => value
            .as_str()
            .is_some_and(|v| tags.iter().any(|t| t.trim().eq_ignore_ascii_case(v.trim()))),
        Fact::Json(Value::Array(items)) => items.iter().any(|item| json_eq(item, value)),
        Fact::Json(json) => json_eq(json, value),
    }
}

fn contains(fact: &Fact<'_>, value: &Value) -> bool {
    match (fact, value) {
        (Fact::Text(text), Value::String(needle)) => {
            text.to_lowercase().contains(&needle.trim().to_lowercase())
        }
        (Fact::Json(Value::String(text)), Value::String(needle)) => {
            text.to_lowercase().contains(&needle.trim().to_lowercase())
        }
        (Fact::Tags(_) | Fact::Json(Value::Array(_)), _) => equals(fact, value),
        _ => false,
    }
}

fn compare(fact: &Fact<'_>, value: &Value) -> Option<std::cmp::Ordering> {
    let left = match fact {
        Fact::Number(n) => *n,
        Fact::Json(Value::Number(n)) => n.as_f64()?,
        _ => return None,
    };
    left.partial_cmp(&value.as_f64()?)
}

fn exists(fact: &Fact<'_>) -> bool {
    match fact {
        Fact::Missing => false,
        Fact::Text(_) | Fact::Number(_) | Fact::Bool(_) => true,
        Fact::Tags(tags) => !tags.is_empty(),
        Fact::Json(Value::String(s)) => !s.trim().is_empty(),
        Fact::Json(Value::Array(items)) => !items.is_empty(),
        Fact::Json(_) => true,
    }
}

/// A rule parsed once, for scoring many leads.
pub(crate) struct CompiledRule<'r> {
    rule: &'r lead_scoring_rules::Model,
    criterion: Criterion,
}

/// The active rules whose criteria parse, in the given order. Rules stored
/// before a criterion was retired are skipped rather than failing a score.
pub(crate) fn compile(rules: &[lead_scoring_rules::Model]) -> Vec<CompiledRule<'_>> {
    rules
        .iter()
        .filter(|rule| rule.is_active)
        .filter_map(|rule| {
            Criterion::parse(&rule.criteria).map(|criterion| CompiledRule { rule, criterion })
        })
        .collect()
}

impl CompiledRule<'_> {
    pub(crate) fn criterion(&self) -> &Criterion {
        &self.criterion
    }

    fn matches(&self, lead: &leads::Model, facts: LeadFacts<'_>) -> bool {
        let fact = fact(&self.criterion, lead, facts);
        let value = &self.rule.value;
        match self.rule.condition {
            ScoringCondition::Equals => equals(&fact, value),
            ScoringCondition::NotEquals => !equals(&fact, value),
            ScoringCondition::Contains => contains(&fact, value),
            ScoringCondition::Gt => compare(&fact, value) == Some(std::cmp::Ordering::Greater),
            ScoringCondition::Lt => compare(&fact, value) == Some(std::cmp::Ordering::Less),
            ScoringCondition::In => value
                .as_array()
                .is_some_and(|items| items.iter().any(|item| equals(&fact, item))),
            ScoringCondition::Exists => exists(&fact),
        }
    }
}

/// Scores one lead against compiled rules.
pub(crate) fn score(
    rules: &[CompiledRule<'_>],
    lead: &leads::Model,
    facts: LeadFacts<'_>,
) -> ScoreOutcome {
    let contributions: Vec<Contribution> = rules
        .iter()
        .filter(|rule| rule.matches(lead, facts))
        .map(|rule| Contribution {
            rule_id: rule.rule.id,
            rule_name: rule.rule.name.clone(),
            points: rule.rule.points,
        })
        .collect();
    let total: i64 = contributions.iter().map(|c| i64::from(c.points)).sum();
    let score = total.clamp(
        i64::from(*SCORE_RANGE.start()),
        i64::from(*SCORE_RANGE.end()),
    ) as i32;
    ScoreOutcome {
        score,
        contributions,
    }
}

/// Scores `lead` (with its tags and company's website analysis) against
/// `rules`: the sum of the points of every matching active rule, clamped to
/// 0..=100, and which rules matched.
pub fn evaluate(
    rules: &[lead_scoring_rules::Model],
    lead: &leads::Model,
    facts: LeadFacts<'_>,
) -> ScoreOutcome {
    score(&compile(rules), lead, facts)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use entity::sea_orm_active_enums::{BookingPotential, LeadStatus, VerificationStatus};
    use serde_json::json;

    use super::*;

    fn lead() -> leads::Model {
        let now = Utc::now().fixed_offset();
        leads::Model {
            tenant_id: Uuid::nil(),
            id: Uuid::now_v7(),
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            email: Some("ada@Acme.com".into()),
            phone: None,
            job_title: Some("Head of Marketing".into()),
            country: Some("DE".into()),
            city: None,
            project_id: None,
            company_id: None,
            stage_id: None,
            source_id: None,
            owner_id: None,
            status: LeadStatus::FollowUp1,
            score: 0,
            quality_score: Some(70),
            verification_status: VerificationStatus::Valid,
            budget_cents: None,
            authority: None,
            need: None,
            timeline: None,
            linkedin_url: None,
            is_decision_maker: Some(true),
            booking_potential: Some(BookingPotential::Medium),
            digital_maturity_score: Some(35),
            follow_up_stage: None,
            lifetime_value_cents: 50_000,
            currency: "EUR".into(),
            emails_sent: 4,
            emails_opened: 2,
            emails_clicked: 0,
            last_contacted_at: None,
            last_responded_at: None,
            custom_fields: json!({ "plan": "Pro", "seats": 12, "regions": ["eu", "us"], "trial": true, "empty": null }),
            enrichment: json!({}),
            search_text: String::new(),
            sort_name: String::new(),
            converted_at: None,
            opt_in_status: entity::sea_orm_active_enums::OptInStatus::None,
            opt_in_confirmed_at: None,
            time_zone: None,
            created_at: now,
            updated_at: now,
            created_by: None,
            updated_by: None,
            deleted_at: None,
            deleted_by: None,
        }
    }

    fn rule(
        criteria: &str,
        condition: ScoringCondition,
        value: Value,
        points: i32,
    ) -> lead_scoring_rules::Model {
        let now = Utc::now().fixed_offset();
        lead_scoring_rules::Model {
            tenant_id: Uuid::nil(),
            id: Uuid::now_v7(),
            name: format!("{criteria} {condition:?}"),
            criteria: criteria.into(),
            condition,
            value,
            points,
            is_active: true,
            created_at: now,
            updated_at: now,
        }
    }

    fn matches(criteria: &str, condition: ScoringCondition, value: Value) -> bool {
        matches_with_tags(criteria, condition, value, &[])
    }

    fn matches_with_tags(
        criteria: &str,
        condition: ScoringCondition,
        value: Value,
        tags: &[&str],
    ) -> bool {
        let tags: Vec<String> = tags.iter().map(|t| (*t).to_owned()).collect();
        let outcome = evaluate(
            &[rule(criteria, condition, value, 10)],
            &lead(),
            LeadFacts::new(&tags, None),
        );
        outcome.score == 10
    }

    use ScoringCondition::{Contains, Equals, Exists, Gt, In, Lt, NotEquals};

    #[test]
    fn equals_compares_text_ignoring_case_and_numbers_by_value() {
        assert!(matches("country", Equals, json!("de")));
        assert!(!matches("country", Equals, json!("fr")));
        assert!(matches("status", Equals, json!("follow_up_1")));
        assert!(matches("verificationStatus", Equals, json!("valid")));
        assert!(matches("emailsSent", Equals, json!(4)));
        assert!(matches("emailsSent", Equals, json!(4.0)));
        assert!(
            !matches("city", Equals, json!("Berlin")),
            "missing never equals"
        );
    }

    #[test]
    fn not_equals_is_the_negation_and_matches_missing_values() {
        assert!(matches("country", NotEquals, json!("fr")));
        assert!(!matches("country", NotEquals, json!("DE")));
        assert!(matches("city", NotEquals, json!("Berlin")));
    }

    #[test]
    fn contains_is_a_case_insensitive_substring_on_text() {
        assert!(matches("email", Contains, json!("@acme.com")));
        assert!(!matches("email", Contains, json!("@other.com")));
        assert!(matches("jobTitle", Contains, json!("marketing")));
        assert!(!matches("city", Contains, json!("x")));
    }

    #[test]
    fn gt_and_lt_compare_numbers_and_a_missing_number_matches_neither() {
        assert!(matches("qualityScore", Gt, json!(50)));
        assert!(!matches("qualityScore", Gt, json!(70)));
        assert!(matches("qualityScore", Lt, json!(71)));
        assert!(!matches("qualityScore", Lt, json!(70)));
        assert!(matches("lifetimeValueCents", Gt, json!(10_000)));
        assert!(!matches("budgetCents", Gt, json!(0)));
        assert!(!matches("budgetCents", Lt, json!(1_000_000)));
    }

    #[test]
    fn in_matches_any_listed_value() {
        assert!(matches("country", In, json!(["fr", "de"])));
        assert!(!matches("country", In, json!(["fr", "es"])));
        assert!(matches("status", In, json!(["new", "follow_up_1"])));
        assert!(matches("emailsOpened", In, json!([1, 2, 3])));
    }

    #[test]
    fn exists_means_set_and_not_blank() {
        assert!(matches("country", Exists, Value::Null));
        assert!(!matches("city", Exists, Value::Null));
        assert!(matches("qualityScore", Exists, Value::Null));
        assert!(!matches("budgetCents", Exists, Value::Null));
        assert!(!matches("stageId", Exists, Value::Null));
    }

    #[test]
    fn ids_compare_in_canonical_form() {
        let stage = Uuid::now_v7();
        let mut lead = lead();
        lead.stage_id = Some(stage);
        let upper = stage.to_string().to_uppercase();
        let value = validate_rule("stageId", Equals, Some(json!(upper))).unwrap();
        let outcome = evaluate(
            &[rule("stageId", Equals, value, 5)],
            &lead,
            LeadFacts::default(),
        );
        assert_eq!(outcome.score, 5);
    }

    #[test]
    fn tags_mean_has_tag_lacks_tag_has_any_and_has_some() {
        let tags = &["VIP", "webinar"];
        assert!(matches_with_tags("tags", Contains, json!("vip"), tags));
        assert!(matches_with_tags("tags", Equals, json!("webinar"), tags));
        assert!(!matches_with_tags("tags", Contains, json!("churned"), tags));
        assert!(matches_with_tags("tags", NotEquals, json!("churned"), tags));
        assert!(!matches_with_tags("tags", NotEquals, json!("vip"), tags));
        assert!(matches_with_tags(
            "tags",
            In,
            json!(["churned", "webinar"]),
            tags
        ));
        assert!(matches_with_tags("tags", Exists, Value::Null, tags));
        assert!(!matches_with_tags("tags", Exists, Value::Null, &[]));
    }

    #[test]
    fn custom_fields_compare_scalars_and_lists() {
        assert!(matches("custom.plan", Equals, json!("pro")));
        assert!(matches("custom.plan", Contains, json!("PR")));
        assert!(matches("custom.seats", Gt, json!(10)));
        assert!(!matches("custom.seats", Lt, json!(10)));
        assert!(
            !matches("custom.plan", Gt, json!(1)),
            "text is not a number"
        );
        assert!(matches("custom.trial", Equals, json!(true)));
        assert!(matches("custom.regions", Contains, json!("EU")));
        assert!(matches("custom.regions", Equals, json!("us")));
        assert!(matches("custom.regions", In, json!(["apac", "us"])));
        assert!(matches("custom.plan", Exists, Value::Null));
        assert!(!matches("custom.empty", Exists, Value::Null));
        assert!(!matches("custom.missing", Exists, Value::Null));
        assert!(matches("custom.missing", NotEquals, json!("x")));
    }

    #[test]
    fn the_score_is_the_sum_of_matching_rules_clamped_to_0_100() {
        let lead = lead();
        let high = [
            rule("country", Equals, json!("DE"), 80),
            rule("emailsOpened", Gt, json!(1), 70),
            rule("city", Exists, Value::Null, 50),
        ];
        let low = [
            rule("country", Equals, json!("DE"), -80),
            rule("emailsOpened", Gt, json!(1), 30),
        ];
        let mixed = [
            rule("country", Equals, json!("DE"), 40),
            rule("emailsOpened", Gt, json!(1), -15),
        ];

        let high = evaluate(&high, &lead, LeadFacts::default());
        let low = evaluate(&low, &lead, LeadFacts::default());
        let mixed = evaluate(&mixed, &lead, LeadFacts::default());

        assert_eq!(high.score, 100);
        assert_eq!(
            high.contributions.len(),
            2,
            "only matching rules contribute"
        );
        assert_eq!(low.score, 0);
        assert_eq!(mixed.score, 25);
        assert_eq!(
            mixed
                .contributions
                .iter()
                .map(|c| c.points)
                .collect::<Vec<_>>(),
            vec![40, -15]
        );
    }

    #[test]
    fn inactive_rules_and_unknown_criteria_are_ignored() {
        let mut inactive = rule("country", Equals, json!("DE"), 30);
        inactive.is_active = false;
        let unknown = rule("shoeSize", Equals, json!(42), 30);
        let active = rule("country", Equals, json!("DE"), 10);

        let outcome = evaluate(
            &[inactive, unknown, active.clone()],
            &lead(),
            LeadFacts::default(),
        );

        assert_eq!(outcome.score, 10);
        assert_eq!(
            outcome.contributions,
            vec![Contribution {
                rule_id: active.id,
                rule_name: active.name,
                points: 10
            }]
        );
    }

    #[test]
    fn no_rules_score_zero() {
        assert_eq!(
            evaluate(&[], &lead(), LeadFacts::default()),
            ScoreOutcome {
                score: 0,
                contributions: vec![]
            }
        );
    }

    fn field_of(result: Result<Value, RuleError>) -> &'static str {
        result.expect_err("should be refused").field
    }

    #[test]
    fn validation_refuses_unknown_criteria() {
        assert_eq!(
            field_of(validate_rule("shoeSize", Equals, Some(json!(1)))),
            "criteria"
        );
        assert_eq!(field_of(validate_rule("custom.", Exists, None)), "criteria");
        assert_eq!(
            field_of(validate_rule("custom.a b", Exists, None)),
            "criteria"
        );
        assert_eq!(
            field_of(validate_rule("Status", Equals, Some(json!("new")))),
            "criteria"
        );
        assert!(validate_rule("custom.plan_tier", Exists, None).is_ok());
    }

    #[test]
    fn validation_fits_conditions_to_criteria() {
        assert_eq!(
            field_of(validate_rule("country", Gt, Some(json!(1)))),
            "condition"
        );
        assert_eq!(
            field_of(validate_rule("status", Contains, Some(json!("new")))),
            "condition"
        );
        assert_eq!(
            field_of(validate_rule("emailsSent", Contains, Some(json!(1)))),
            "condition"
        );
        assert_eq!(
            field_of(validate_rule("ownerId", Lt, Some(json!(1)))),
            "condition"
        );
        assert!(validate_rule("emailsSent", Gt, Some(json!(3))).is_ok());
        assert!(validate_rule("custom.seats", Lt, Some(json!(3))).is_ok());
        assert!(validate_rule("tags", Contains, Some(json!("vip"))).is_ok());
    }

    #[test]
    fn validation_checks_values() {
        assert_eq!(
            field_of(validate_rule("emailsSent", Gt, Some(json!("3")))),
            "value"
        );
        assert_eq!(
            field_of(validate_rule("country", In, Some(json!("de")))),
            "value"
        );
        assert_eq!(
            field_of(validate_rule("country", In, Some(json!([])))),
            "value"
        );
        assert_eq!(
            field_of(validate_rule("country", In, Some(json!(["de", 1])))),
            "value"
        );
        assert_eq!(
            field_of(validate_rule("country", Exists, Some(json!("de")))),
            "value"
        );
        assert_eq!(field_of(validate_rule("country", Equals, None)), "value");
        assert_eq!(
            field_of(validate_rule("country", Equals, Some(json!("  ")))),
            "value"
        );
        assert_eq!(
            field_of(validate_rule("status", Equals, Some(json!("hot")))),
            "value"
        );
        assert_eq!(
            field_of(validate_rule("stageId", Equals, Some(json!("nope")))),
            "value"
        );
        assert_eq!(
            field_of(validate_rule("custom.x", Equals, Some(json!({"a": 1})))),
            "value"
        );
        assert_eq!(
            validate_rule("country", Exists, Some(Value::Null)),
            Ok(Value::Null)
        );
    }

    #[test]
    fn status_values_accept_the_graphql_spelling() {
        assert_eq!(
            validate_rule("status", Equals, Some(json!("FOLLOW_UP_1"))),
            Ok(json!("follow_up_1"))
        );
        assert_eq!(
            validate_rule("verificationStatus", In, Some(json!(["VALID", "Risky"]))),
            Ok(json!(["valid", "risky"]))
        );
    }

    fn analysis() -> website_analyses::Model {
        let now = Utc::now().fixed_offset();
        website_analyses::Model {
            domain: "salon.example".into(),
            status: entity::sea_orm_active_enums::WebsiteAnalysisStatus::Complete,
            error: None,
            has_booking_keywords: Some(true),
            booking_keyword_score: Some(7),
            booking_keywords: json!(["book now"]),
            booking_tool: Some(entity::sea_orm_active_enums::BookingTool::Calendly),
            has_online_booking: Some(true),
            has_appointment_form: Some(false),
            has_calendar: None,
            has_pricing: Some(true),
            has_gallery: Some(false),
            has_reviews: Some(true),
            has_contact_form: Some(false),
            has_phone_only: Some(false),
            has_multiple_locations: Some(false),
            services_count: Some(5),
            languages: json!(["en"]),
            pages: json!([]),
            analyzed_at: Some(now),
            expires_at: Some(now),
            claimed_until: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn website_criteria_read_the_company_analysis_and_match_nothing_without_one() {
        let site = analysis();
        let with = |criteria: &str, condition, value: Value| {
            let rules = [rule(criteria, condition, value, 10)];
            evaluate(&rules, &lead(), LeadFacts::new(&[], Some(&site))).score == 10
        };
        assert!(with("websiteAnalysis.bookingKeywordScore", Gt, json!(5)));
        assert!(!with("websiteAnalysis.bookingKeywordScore", Lt, json!(5)));
        assert!(with(
            "websiteAnalysis.bookingTool",
            Equals,
            json!("calendly")
        ));
        assert!(with(
            "websiteAnalysis.bookingTool",
            In,
            json!(["acuity", "calendly"])
        ));
        assert!(with(
            "websiteAnalysis.hasOnlineBooking",
            Equals,
            json!(true)
        ));
        assert!(!with("websiteAnalysis.hasCalendar", Exists, Value::Null));
        assert!(with("websiteAnalysis.servicesCount", Gt, json!(3)));

        let rules = [rule(
            "websiteAnalysis.hasOnlineBooking",
            Equals,
            json!(true),
            10,
        )];
        assert_eq!(evaluate(&rules, &lead(), LeadFacts::default()).score, 0);
        assert!(reads_website(&rules));
        assert!(!reads_website(&[rule("country", Exists, Value::Null, 1)]));
    }

    #[test]
    fn website_criteria_are_validated_like_attributes() {
        assert_eq!(
            validate_rule(
                "websiteAnalysis.bookingTool",
                Equals,
                Some(json!("CALENDLY"))
            ),
            Ok(json!("calendly"))
        );
        assert_eq!(
            field_of(validate_rule(
                "websiteAnalysis.bookingTool",
                Equals,
                Some(json!("wix"))
            )),
            "value"
        );
        assert_eq!(
            field_of(validate_rule(
                "websiteAnalysis.hasPricing",
                Gt,
                Some(json!(1))
            )),
            "condition"
        );
        assert_eq!(
            field_of(validate_rule("websiteAnalysis.domain", Exists, None)),
            "criteria"
        );
        assert!(criteria_help().contains("websiteAnalysis.bookingKeywordScore"));
    }
}
