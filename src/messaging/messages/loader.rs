//! Batched relations of messages.

use uuid::Uuid;

use entity::{engagement_events, messages};

use crate::graphql::loaders::ChildRelation;

/// `message.events` on a page of messages: one query for the page.
pub(crate) struct EventsOfMessage;

impl ChildRelation for EventsOfMessage {
    type Entity = engagement_events::Entity;

    fn parent_column() -> engagement_events::Column {
        engagement_events::Column::MessageId
    }

    fn parent_of(child: &engagement_events::Model) -> Uuid {
        child.message_id
    }
}

/// `lead.messages` on a page of leads.
pub(crate) struct MessagesOfLead;

impl ChildRelation for MessagesOfLead {
    type Entity = messages::Entity;

    fn parent_column() -> messages::Column {
        messages::Column::LeadId
    }

    fn parent_of(child: &messages::Model) -> Uuid {
        child.lead_id
    }
}
