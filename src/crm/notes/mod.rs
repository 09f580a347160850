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
        .data(DataLoader::new(
            LatestNotesLoader::<NotesOfLead>::new(db.clone(), ctx.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            LatestNotesLoader::<NotesOfCompany>::new(db.clone(), ctx.clone()),
            tokio::spawn,
        ))
        .data(DataLoader::new(
            NoteVersionsLoader::new(db.clone(), ctx.clone()),
            tokio::spawn,
        ))
}

async fn latest_notes<R>(
    ctx: &Context<'_>,
    parent: Uuid,
    limit: u64,
) -> async_graphql::Result<Vec<Note>>
where
    R: crate::graphql::loaders::ChildRelation<Entity = entity::notes::Entity>,
{
    let loader = ctx
        .data_opt::<DataLoader<LatestNotesLoader<R>>>()
        .ok_or_else(|| AppError::unauthenticated("sign in or send an API key"))?;
    let rows = loader
        .load_one((parent, limit))
        .await
        .map_err(|e| loader_error(&e))?
        .unwrap_or_default();
    Ok(rows.into_iter().map(Note::from).collect())
}

/// The newest `limit` live notes of a lead, newest first, batched across a
/// page of leads (one query for the whole page).
pub async fn latest_notes_of_lead(
    ctx: &Context<'_>,
    lead_id: Uuid,
    limit: u64,
) -> async_graphql::Result<Vec<Note>> {
    latest_notes::<NotesOfLead>(ctx, lead_id, limit).await
}

/// The newest `limit` live notes of a company, newest first, batched across
/// a page of companies.
pub async fn latest_notes_of_company(
    ctx: &Context<'_>,
    company_id: Uuid,
    limit: u64,
) -> async_graphql::Result<Vec<Note>> {
    latest_notes::<NotesOfCompany>(ctx, company_id, limit).await
}
