//! A lead's newest activities, batched across a page of leads.

use uuid::Uuid;

use entity::activities;

use crate::graphql::loaders::ChildRelation;

pub(crate) struct ActivitiesOfLead;

impl ChildRelation for ActivitiesOfLead {
    type Entity = activities::Entity;

    fn parent_column() -> activities::Column {
        activities::Column::LeadId
    }

    fn parent_of(child: &activities::Model) -> Uuid {
        child.lead_id
    }
}
