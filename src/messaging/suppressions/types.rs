//! GraphQL shapes of suppressions.

use async_graphql::{Enum, ID, SimpleObject};
use chrono::{DateTime, Utc};

use entity::sea_orm_active_enums::SuppressionReason as SuppressionReasonModel;
use entity::suppressions;

use crate::graphql::to_id;

/// Why an address is suppressed.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuppressionReason {
    /// The recipient followed an unsubscribe link.
    Unsubscribed,
    /// The address does not exist or refuses mail for good.
    HardBounce,
    /// The recipient marked a message as spam.
    Complaint,
    /// Added by a person.
    Manual,
}

impl From<SuppressionReasonModel> for SuppressionReason {
    fn from(reason: SuppressionReasonModel) -> Self {
        match reason {
            SuppressionReasonModel::Unsubscribed => Self::Unsubscribed,
            SuppressionReasonModel::HardBounce => Self::HardBounce,
            SuppressionReasonModel::Complaint => Self::Complaint,
            SuppressionReasonModel::Manual => Self::Manual,
        }
    }
}

impl From<SuppressionReason> for SuppressionReasonModel {
    fn from(reason: SuppressionReason) -> Self {
        match reason {
            SuppressionReason::Unsubscribed => Self::Unsubscribed,
            SuppressionReason::HardBounce => Self::HardBounce,
            SuppressionReason::Complaint => Self::Complaint,
            SuppressionReason::Manual => Self::Manual,
        }
    }
}

/// An address your tenant never sends to.
#[derive(SimpleObject)]
pub struct Suppression {
    pub id: ID,
    /// Lowercased.
    pub email: String,
    pub reason: SuppressionReason,
    /// The message that caused it (an unsubscribe, a bounce, a complaint).
    pub message_id: Option<ID>,
    /// What the provider or the person said.
    pub detail: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<suppressions::Model> for Suppression {
    fn from(suppression: suppressions::Model) -> Self {
        Self {
            id: to_id(suppression.id),
            email: suppression.email,
            reason: suppression.reason.into(),
            message_id: suppression.message_id.map(to_id),
            detail: suppression.detail,
            created_at: suppression.created_at.to_utc(),
        }
    }
}
