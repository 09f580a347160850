//! GraphQL shapes of notes.

use async_graphql::{ComplexObject, Context, ID, InputObject, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use entity::{note_versions, notes};

use super::loader::VersionsOfNote;
use crate::graphql::loaders::children_connection;
use crate::graphql::pagination::{DEFAULT_PAGE_SIZE, PageArgs, RelayConnection, cost};
use crate::graphql::to_id;
use crate::identity::auth::types::User;

/// A note on a lead or a company. Editing keeps the earlier text in
/// `versions`.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct Note {
    pub id: ID,
    pub body: String,
    /// Internal notes are for the team only, never shown to the lead.
    pub is_internal: bool,
    /// 1 when written, +1 with each edit.
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[graphql(skip)]
    pub note_id: Uuid,
    #[graphql(skip)]
    pub author_id: Option<Uuid>,
    #[graphql(skip)]
    pub lead_id: Option<Uuid>,
    #[graphql(skip)]
    pub company_id: Option<Uuid>,
}

#[ComplexObject]
impl Note {
    /// Who wrote the note; null when an API key wrote it or the person's
    /// account is gone.
    async fn author(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(author_id) = self.author_id else {
            return Ok(None);
        };
        Ok(crate::graphql::loaders::load_user(ctx, author_id)
            .await?
            .map(User::from))
    }

    /// Earlier versions, newest first; the current text is the note itself.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn versions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<RelayConnection<NoteVersion>> {
        let args = PageArgs::new(first, after, last, before);
        Box::pin(children_connection::<VersionsOfNote, _>(
            ctx,
            self.note_id,
            &args,
            DEFAULT_PAGE_SIZE,
            NoteVersion::from,
        ))
        .await
    }
}

impl From<notes::Model> for Note {
    fn from(note: notes::Model) -> Self {
        Self {
            id: to_id(note.id),
            body: note.body,
            is_internal: note.is_internal,
            version: note.version,
            created_at: note.created_at.to_utc(),
            updated_at: note.updated_at.to_utc(),
            note_id: note.id,
            author_id: note.author_id,
            lead_id: note.lead_id,
            company_id: note.company_id,
        }
    }
}

/// An earlier text of a note.
#[derive(SimpleObject, Clone, Debug)]
pub struct NoteVersion {
    pub id: ID,
    pub version: i32,
    pub body: String,
    pub is_internal: bool,
    /// The user who wrote this version.
    pub edited_by: Option<ID>,
    /// When this version was written.
    pub created_at: DateTime<Utc>,
}

impl From<note_versions::Model> for NoteVersion {
    fn from(row: note_versions::Model) -> Self {
        Self {
            id: to_id(row.id),
            version: row.version,
            body: row.body,
            is_internal: row.is_internal,
            edited_by: row.edited_by.map(to_id),
            created_at: row.created_at.to_utc(),
        }
    }
}

/// A new note: give exactly one of `leadId` and `companyId`.
#[derive(InputObject)]
pub(super) struct CreateNoteInput {
    pub lead_id: Option<ID>,
    pub company_id: Option<ID>,
    /// 1 to 10,000 characters.
    pub body: String,
    /// False by default.
    pub is_internal: Option<bool>,
}

/// Changes to a note; absent fields stay as they are.
#[derive(InputObject)]
pub(super) struct UpdateNoteInput {
    pub body: Option<String>,
    pub is_internal: Option<bool>,
}
