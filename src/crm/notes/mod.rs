//! Versioned notes on leads and companies. Notes are what people know that
//! no field holds; an edit never destroys what was written before (the old
//! text goes to `note_versions`), and deletion is soft.

mod loader;
mod resolver;
pub mod service;
mod types;

use async_graphql::Context;
use async_graphql::dataloader::DataLoader;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::error::AppError;
use crate::graphql::loaders::loader_error;
use crate::graphql::pagination::{PageArgs, RelayConnection, connection, first_page, inline_limit};
use crate::tenancy::RequestCtx;

pub use loader::{LatestNotesLoader, NoteVersionsLoader, NotesOfCompany, NotesOfLead};
pub use resolver::{NoteMutation, NoteQuery};
pub use service::move_to_lead;
pub use types::{Note, NoteVersion};

/// Adds the notes loaders to a request of an authenticated caller (called by
/// `graphql::loaders::attach`).
pub fn attach_loaders(
    request: async_graphql::Request,
    db: &DatabaseConnection,
    ctx: &RequestCtx,
) -> async_graphql::Request {
    request
        .data(crate::graphql::loaders::cached(LatestNotesLoader::<
            NotesOfLead,
        >::new(
            db.clone(), ctx.clone()
        )))
        .data(crate::graphql::loaders::cached(LatestNotesLoader::<
            NotesOfCompany,
        >::new(
            db.clone(), ctx.clone()
        )))
        .data(DataLoader::new(
            NoteVersionsLoader::new(db.clone(), ctx.clone()),
            tokio::spawn,
        ))
}

/// A lead's or a company's notes as a connection: the first page through
/// the batched loader (one query for a whole page of leads or companies),
/// any other page through the notes list.
pub async fn notes_connection(
    ctx: &Context<'_>,
    subject: service::Subject,
    args: &PageArgs,
    default_first: u64,
) -> async_graphql::Result<RelayConnection<Note>> {
    let shared = crate::graphql::shared(ctx);
    let caller = crate::graphql::caller(ctx)?;
    if let Some(limit) = inline_limit(args, shared.config.limits.page_size, default_first) {
        let rows = match subject {
            service::Subject::Lead(id) => latest_notes::<NotesOfLead>(ctx, id, limit).await?,
            service::Subject::Company(id) => latest_notes::<NotesOfCompany>(ctx, id, limit).await?,
        };
        let totals = service::totals(shared, caller, subject);
        return Ok(connection(
            first_page(rows, limit),
            totals,
            |n| n.id,
            Note::from,
        ));
    }
    let (page, totals) = service::list(shared, caller, subject, args).await?;
    Ok(connection(page, totals, |n| n.id, Note::from))
}

async fn latest_notes<R>(
    ctx: &Context<'_>,
    parent: Uuid,
    limit: u64,
) -> async_graphql::Result<Vec<entity::notes::Model>>
where
    R: crate::graphql::loaders::ChildRelation<Entity = entity::notes::Entity>,
{
    let loader = ctx
        .data_opt::<crate::graphql::loaders::Cached<LatestNotesLoader<R>>>()
        .ok_or_else(|| AppError::unauthenticated("sign in or send an API key"))?;
    Ok(loader
        .load_one((parent, limit))
        .await
        .map_err(|e| loader_error(&e))?
        .unwrap_or_default())
}
