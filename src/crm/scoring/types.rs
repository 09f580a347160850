//! GraphQL shapes of scoring rules and score breakdowns.

use crate::graphql::json::Json;
use async_graphql::{Enum, ID, InputObject, MaybeUndefined, SimpleObject};
use chrono::{DateTime, Utc};

use entity::lead_scoring_rules;
use entity::sea_orm_active_enums::ScoringCondition as ScoringConditionModel;

use super::engine::Contribution;
use crate::graphql::to_id;

/// How a rule compares the lead's value with the rule's `value`.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoringCondition {
    /// Equal (text ignoring case); on `tags`: has this tag.
    Equals,
    /// Not equal; a missing value counts as not equal. On `tags`: lacks this tag.
    NotEquals,
    /// Substring of text (ignoring case); on `tags`: has this tag.
    Contains,
    /// Greater than (numbers only).
    Gt,
    /// Less than (numbers only).
    Lt,
    /// Equal to any value of the JSON array `value`.
    In,
    /// The lead has a value (non-blank; on `tags`: at least one tag). No `value`.
    Exists,
}

impl From<ScoringConditionModel> for ScoringCondition {
    fn from(condition: ScoringConditionModel) -> Self {
        match condition {
            ScoringConditionModel::Equals => Self::Equals,
            ScoringConditionModel::NotEquals => Self::NotEquals,
            ScoringConditionModel::Contains => Self::Contains,
            ScoringConditionModel::Gt => Self::Gt,
            ScoringConditionModel::Lt => Self::Lt,
            ScoringConditionModel::In => Self::In,
            ScoringConditionModel::Exists => Self::Exists,
        }
    }
}

impl From<ScoringCondition> for ScoringConditionModel {
    fn from(condition: ScoringCondition) -> Self {
        match condition {
            ScoringCondition::Equals => Self::Equals,
            ScoringCondition::NotEquals => Self::NotEquals,
            ScoringCondition::Contains => Self::Contains,
            ScoringCondition::Gt => Self::Gt,
            ScoringCondition::Lt => Self::Lt,
            ScoringCondition::In => Self::In,
            ScoringCondition::Exists => Self::Exists,
        }
    }
}

/// A rule adding (or taking away) points when a lead matches it. A lead's
/// score is the sum over matching active rules, clamped to 0..100.
#[derive(SimpleObject)]
pub struct ScoringRule {
    pub id: ID,
    pub name: String,
    /// The lead field: `status`, `stageId`, `sourceId`, `projectId`,
    /// `companyId`, `ownerId`, `country`, `city`, `jobTitle`, `email`,
    /// `verificationStatus`, `qualityScore`, `budgetCents`,
    /// `lifetimeValueCents`, `emailsSent`, `emailsOpened`, `emailsClicked`,
    /// `tags`, `custom.<key>`, or a signal of the website analysis of the
    /// lead's company, `websiteAnalysis.<signal>` (`bookingKeywordScore`,
    /// `bookingTool`, `hasOnlineBooking`, … as `WebsiteAnalysis` names them).
    pub criteria: String,
    pub condition: ScoringCondition,
    /// What to compare with; null for EXISTS, an array for IN. Statuses are
    /// stored in their lowercase spelling (`follow_up_1`).
    pub value: Option<Json<serde_json::Value>>,
    /// -100 to 100.
    pub points: i32,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<lead_scoring_rules::Model> for ScoringRule {
    fn from(rule: lead_scoring_rules::Model) -> Self {
        Self {
            id: to_id(rule.id),
            name: rule.name,
            criteria: rule.criteria,
            condition: rule.condition.into(),
            value: Some(rule.value).filter(|v| !v.is_null()).map(Json),
            points: rule.points,
            is_active: rule.is_active,
            created_at: rule.created_at.to_utc(),
            updated_at: rule.updated_at.to_utc(),
        }
    }
}

/// A new scoring rule.
#[derive(InputObject)]
pub(super) struct CreateScoringRuleInput {
    pub name: String,
    pub criteria: String,
    pub condition: ScoringCondition,
    /// Required except for EXISTS; a JSON array for IN.
    pub value: Option<Json<serde_json::Value>>,
    /// -100 to 100.
    pub points: i32,
    /// True by default.
    pub is_active: Option<bool>,
}

/// Changes to a scoring rule; absent fields stay as they are.
#[derive(InputObject)]
pub(super) struct UpdateScoringRuleInput {
    pub name: Option<String>,
    pub criteria: Option<String>,
    pub condition: Option<ScoringCondition>,
    /// Null clears the value (as EXISTS needs).
    pub value: MaybeUndefined<Json<serde_json::Value>>,
    pub points: Option<i32>,
    pub is_active: Option<bool>,
}

/// One rule's share of a lead's score.
#[derive(SimpleObject, Clone, Debug)]
pub struct ScoreContribution {
    pub rule_id: ID,
    pub rule_name: String,
    pub points: i32,
}

impl From<&Contribution> for ScoreContribution {
    fn from(contribution: &Contribution) -> Self {
        Self {
            rule_id: to_id(contribution.rule_id),
            rule_name: contribution.rule_name.clone(),
            points: contribution.points,
        }
    }
}
