//! `notes`, `note`, `createNote`, `updateNote`, `deleteNote`.

use async_graphql::{Context, ID, Object};

use super::service::{self, NewNote, NoteChanges, Subject};
use super::types::{CreateNoteInput, Note, UpdateNoteInput};
use crate::graphql::audit::touch;
use crate::graphql::pagination::{PageArgs, RelayConnection, connection, cost};
use crate::graphql::{caller, parse_id, shared, to_id};

#[derive(Default)]
pub struct NoteQuery;

#[Object]
impl NoteQuery {
    /// The live notes of one lead or one company (give exactly one id),
    /// newest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    #[expect(
        clippy::too_many_arguments,
        reason = "the Relay arguments plus the subject"
    )]
    async fn notes(
        &self,
        ctx: &Context<'_>,
        lead_id: Option<ID>,
        company_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<RelayConnection<Note>> {
        let lead_id = lead_id.map(|id| parse_id(&id, "leadId")).transpose()?;
        let company_id = company_id
            .map(|id| parse_id(&id, "companyId"))
            .transpose()?;
        let subject = Subject::from_pair(lead_id, company_id, "")?;
        let args = PageArgs::new(first, after, last, before);
        let (page, totals) = service::list(shared(ctx), caller(ctx)?, subject, &args).await?;
        Ok(connection(page, totals, |row| row.id, Note::from))
    }

    /// One note.
    async fn note(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Note> {
        let id = parse_id(&id, "id")?;
        Ok(service::get(shared(ctx), caller(ctx)?, id).await?.into())
    }
}

#[derive(Default)]
pub struct NoteMutation;

#[Object]
impl NoteMutation {
    /// Writes a note on a lead or a company. A note on a lead also goes on
    /// its timeline.
    async fn create_note(
        &self,
        ctx: &Context<'_>,
        input: CreateNoteInput,
    ) -> async_graphql::Result<Note> {
        let lead_id = input
            .lead_id
            .map(|id| parse_id(&id, "input.leadId"))
            .transpose()?;
        let company_id = input
            .company_id
            .map(|id| parse_id(&id, "input.companyId"))
            .transpose()?;
        let input = NewNote {
            subject: Subject::from_pair(lead_id, company_id, "input")?,
            body: input.body,
            is_internal: input.is_internal.unwrap_or(false),
        };
        let note = service::create(shared(ctx), caller(ctx)?, input).await?;
        touch(ctx, "note", note.id);
        Ok(note.into())
    }

    /// Edits a note; the replaced text is kept in `versions`. Only the author
    /// or an admin.
    async fn update_note(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateNoteInput,
    ) -> async_graphql::Result<Note> {
        let id = parse_id(&id, "id")?;
        let changes = NoteChanges {
            body: input.body,
            is_internal: input.is_internal,
        };
        let note = service::update(shared(ctx), caller(ctx)?, id, changes).await?;
        touch(ctx, "note", note.id);
        Ok(note.into())
    }

    /// Deletes a note (it can no longer be read). Only the author or an
    /// admin. Returns the deleted note's id.
    async fn delete_note(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let id = parse_id(&id, "id")?;
        let note = service::delete(shared(ctx), caller(ctx)?, id).await?;
        touch(ctx, "note", note.id);
        Ok(to_id(note.id))
    }
}
