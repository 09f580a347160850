//! Versioned notes on leads and companies. Notes are what people know that
//! no field holds; an edit never destroys what was written before (the old
//! text goes to `note_versions`), and deletion is soft.

mod loader;
mod resolver;
pub mod service;
mod types;

use async_graphql::Context;

use crate::graphql::loaders::children_connection;
use crate::graphql::pagination::{PageArgs, RelayConnection};

pub use loader::{NotesOfCompany, NotesOfLead, VersionsOfNote};
pub use resolver::{NoteMutation, NoteQuery};
pub use service::move_to_lead;
pub use types::{Note, NoteVersion};

/// A lead's or a company's live notes as a connection, newest first.
pub async fn notes_connection(
    ctx: &Context<'_>,
    subject: service::Subject,
    args: &PageArgs,
    default_first: u64,
) -> async_graphql::Result<RelayConnection<Note>> {
    match subject {
        service::Subject::Lead(id) => {
            children_connection::<NotesOfLead, _>(ctx, id, args, default_first, Note::from).await
        }
        service::Subject::Company(id) => {
            children_connection::<NotesOfCompany, _>(ctx, id, args, default_first, Note::from).await
        }
    }
}
