//! GraphQL shapes of the timeline.

use async_graphql::{Enum, ID, InputObject, SimpleObject};
use chrono::{DateTime, Utc};

use entity::activities;
use entity::sea_orm_active_enums::{ActivityType, ActorType};

use crate::graphql::to_id;
use crate::identity::audit::AuditActorType;

/// What happened. The first group is written by the system; CALL, MEETING,
/// EMAIL, TASK and OTHER are logged by people.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActivityKind {
    LeadCreated,
    LeadUpdated,
    StageChanged,
    StatusChanged,
    Assigned,
    TagsChanged,
    NoteAdded,
    Merged,
    Converted,
    Deleted,
    Restored,
    /// A public form was submitted for the lead.
    FormSubmitted,
    /// The lead followed the double opt-in link.
    OptInConfirmed,
    Call,
    Meeting,
    Email,
    Task,
    Other,
}

crate::graphql::mirror_enum!(ActivityKind <=> ActivityType {
    LeadCreated, LeadUpdated, StageChanged, StatusChanged, Assigned, TagsChanged, NoteAdded,
    Merged, Converted, Deleted, Restored, FormSubmitted, OptInConfirmed, Call, Meeting, Email,
    Task, Other
});

/// One entry of a lead's timeline.
#[derive(SimpleObject)]
pub(crate) struct Activity {
    pub id: ID,
    pub lead_id: ID,
    pub kind: ActivityKind,
    pub actor_type: AuditActorType,
    /// The user or API key that acted.
    pub actor_id: Option<ID>,
    pub summary: String,
    /// Structured detail: changed fields, old and new values, merged ids…
    pub detail: crate::graphql::json::Json<serde_json::Value>,
    pub occurred_at: DateTime<Utc>,
}

impl From<activities::Model> for Activity {
    fn from(row: activities::Model) -> Self {
        Self {
            id: to_id(row.id),
            lead_id: to_id(row.lead_id),
            kind: row.activity_type.into(),
            actor_type: match row.actor_type {
                ActorType::User => AuditActorType::User,
                ActorType::ApiKey => AuditActorType::ApiKey,
                ActorType::System => AuditActorType::System,
                ActorType::Anonymous => AuditActorType::Anonymous,
            },
            actor_id: row.actor_id.map(to_id),
            summary: row.summary,
            detail: crate::graphql::json::Json(row.detail),
            occurred_at: row.occurred_at.to_utc(),
        }
    }
}

/// A call, meeting or other touch to put on a lead's timeline.
#[derive(InputObject)]
pub(super) struct LogActivityInput {
    pub lead_id: ID,
    /// CALL, MEETING, EMAIL, TASK or OTHER.
    pub kind: ActivityKind,
    pub summary: String,
    pub detail: Option<String>,
    /// When it happened; now by default.
    pub occurred_at: Option<DateTime<Utc>>,
}
