//! GraphQL shapes of the audit log.

use async_graphql::{Enum, ID, InputObject, SimpleObject};
use chrono::{DateTime, Utc};

use entity::audit_log;
use entity::sea_orm_active_enums::{ActorType, AuditOutcome};

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditActorType {
    User,
    ApiKey,
    System,
    Anonymous,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditOutcomeKind {
    Success,
    Failure,
}

impl From<AuditOutcomeKind> for AuditOutcome {
    fn from(outcome: AuditOutcomeKind) -> Self {
        match outcome {
            AuditOutcomeKind::Success => Self::Success,
            AuditOutcomeKind::Failure => Self::Failure,
        }
    }
}

/// One mutation attempt.
#[derive(SimpleObject)]
#[graphql(name = "AuditEntry")]
pub(crate) struct AuditEntry {
    pub id: ID,
    pub actor_type: AuditActorType,
    /// The user or API key that acted.
    pub actor_id: Option<ID>,
    /// The mutation, e.g. `inviteUser`.
    pub action: String,
    pub entity_type: Option<String>,
    pub entity_id: Option<ID>,
    /// The arguments given, with secrets redacted.
    pub changes: crate::graphql::json::Json<serde_json::Value>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub outcome: AuditOutcomeKind,
    /// The error code when the mutation was refused or failed.
    pub error_code: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<audit_log::Model> for AuditEntry {
    fn from(row: audit_log::Model) -> Self {
        Self {
            id: ID(row.id.to_string()),
            actor_type: match row.actor_type {
                ActorType::User => AuditActorType::User,
                ActorType::ApiKey => AuditActorType::ApiKey,
                ActorType::System => AuditActorType::System,
                ActorType::Anonymous => AuditActorType::Anonymous,
            },
            actor_id: row.actor_id.map(|id| ID(id.to_string())),
            action: row.action,
            entity_type: row.entity_type,
            entity_id: row.entity_id.map(|id| ID(id.to_string())),
            changes: crate::graphql::json::Json(row.changes),
            request_id: row.request_id,
            ip: row.ip,
            outcome: match row.outcome {
                AuditOutcome::Success => AuditOutcomeKind::Success,
                AuditOutcome::Failure => AuditOutcomeKind::Failure,
            },
            error_code: row.error_code,
            created_at: row.created_at.to_utc(),
        }
    }
}

/// Narrows the audit log. All given conditions must hold.
#[derive(InputObject, Default)]
pub(crate) struct AuditFilter {
    pub action: Option<String>,
    pub actor_id: Option<ID>,
    pub entity_type: Option<String>,
    pub entity_id: Option<ID>,
    pub outcome: Option<AuditOutcomeKind>,
    /// Entries at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Entries before this time.
    pub until: Option<DateTime<Utc>>,
}
