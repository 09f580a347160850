//! Notes' relations for the batched loaders (`graphql::loaders`): the live
//! notes of a lead or a company, and the earlier versions of a note.

use sea_orm::{ColumnTrait, Condition};
use uuid::Uuid;

use entity::{note_versions, notes};

use crate::graphql::loaders::ChildRelation;

/// Live notes on a lead (`notes.lead_id`).
pub struct NotesOfLead;

impl ChildRelation for NotesOfLead {
    type Entity = notes::Entity;

    fn parent_column() -> notes::Column {
        notes::Column::LeadId
    }

    fn parent_of(child: &notes::Model) -> Uuid {
        child.lead_id.unwrap_or_default()
    }

    fn condition() -> Condition {
        Condition::all().add(notes::Column::DeletedAt.is_null())
    }
}

/// Live notes on a company (`notes.company_id`).
pub struct NotesOfCompany;

impl ChildRelation for NotesOfCompany {
    type Entity = notes::Entity;

    fn parent_column() -> notes::Column {
        notes::Column::CompanyId
    }

    fn parent_of(child: &notes::Model) -> Uuid {
        child.company_id.unwrap_or_default()
    }

    fn condition() -> Condition {
        Condition::all().add(notes::Column::DeletedAt.is_null())
    }
}

/// Earlier versions of a note (`note_versions.note_id`).
pub struct VersionsOfNote;

impl ChildRelation for VersionsOfNote {
    type Entity = note_versions::Entity;

    fn parent_column() -> note_versions::Column {
        note_versions::Column::NoteId
    }

    fn parent_of(child: &note_versions::Model) -> Uuid {
        child.note_id
    }
}
