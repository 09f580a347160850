//! The domain events a lead change writes to the outbox (see `events`):
//! created, changed (naming the fields that differ), deleted, restored and
//! merged. Which fields changed is read off the rows themselves, so a
//! column added to leads is reported without a list to keep.

use sea_orm::{IdenStatic, Iterable, ModelTrait};
use serde_json::json;
use uuid::Uuid;

use entity::leads;

use crate::events::{DomainEventKind, NewDomainEvent};

/// Bookkeeping the server keeps up by itself; a change to them alone is no
/// change to report.
fn is_bookkeeping(column: leads::Column) -> bool {
    use leads::Column::*;
    matches!(column, UpdatedAt | UpdatedBy | SearchText | SortName)
}

pub(crate) fn created(lead: &leads::Model) -> NewDomainEvent {
    NewDomainEvent::new(DomainEventKind::LeadCreated, lead.id)
}

/// `LEAD_CHANGED` naming every field (as the API spells it) whose value
/// differs between `before` and `after`, and `tags` when the lead's tags
/// (kept outside the row) changed too; no event when nothing changed.
pub(crate) fn changed(
    before: &leads::Model,
    after: &leads::Model,
    tags_changed: bool,
) -> Vec<NewDomainEvent> {
    let mut fields: Vec<String> = leads::Column::iter()
        .filter(|column| !is_bookkeeping(*column))
        .filter(|column| before.get(*column) != after.get(*column))
        .map(|column| api_name(column.as_str()))
        .collect();
    if tags_changed {
        fields.push("tags".to_owned());
    }
    if fields.is_empty() {
        return Vec::new();
    }
    vec![fields_changed(after.id, &fields)]
}

/// `LEAD_CHANGED` for a set-based change whose fields are known up front.
pub(crate) fn fields_changed(lead_id: Uuid, fields: &[impl AsRef<str>]) -> NewDomainEvent {
    let fields: Vec<&str> = fields.iter().map(AsRef::as_ref).collect();
    NewDomainEvent::new(DomainEventKind::LeadChanged, lead_id)
        .with_payload(json!({ "fields": fields }))
}

pub(crate) fn deleted(lead_id: Uuid) -> NewDomainEvent {
    NewDomainEvent::new(DomainEventKind::LeadDeleted, lead_id)
}

pub(crate) fn restored(lead_id: Uuid) -> NewDomainEvent {
    NewDomainEvent::new(DomainEventKind::LeadRestored, lead_id)
}

/// `duplicate` was merged into `into` (and is in the trash).
pub(crate) fn merged(duplicate: Uuid, into: Uuid) -> NewDomainEvent {
    NewDomainEvent::new(DomainEventKind::LeadMerged, duplicate)
        .with_payload(json!({ "into": crate::graphql::id_string(into) }))
}

/// `stage_id` → `stageId`: columns are named as the API names the fields.
fn api_name(column: &str) -> String {
    let mut name = String::with_capacity(column.len());
    let mut upper = false;
    for c in column.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            name.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            name.push(c);
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_named_as_the_api_names_fields() {
        assert_eq!(api_name("stage_id"), "stageId");
        assert_eq!(api_name("lifetime_value_cents"), "lifetimeValueCents");
        assert_eq!(api_name("email"), "email");
    }
}
