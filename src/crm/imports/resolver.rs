//! `imports`, `import`, `createImport`, `previewImport`, `startImport`,
//! `cancelImport`, and the `importProgress` subscription.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, ID, Object, Subscription, Upload};
use futures::Stream;

use super::service;
use super::types::{
    Import, ImportColumnInput, ImportOptionsInput, ImportPreviewLine, ImportProgress, pairs,
};
use crate::graphql::audit::touch;
use crate::graphql::pagination::{PageArgs, RelayConnection, connection, cost};
use crate::graphql::{caller, parse_id, shared};
use crate::state::Shared;

#[derive(Default)]
pub(crate) struct ImportQuery;

#[Object]
impl ImportQuery {
    /// Your tenant's imports, newest first: who uploaded which file, how it
    /// was mapped and what it did.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn imports(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<RelayConnection<Import>> {
        let args = PageArgs::new(first, after, last, before);
        let (page, totals) = service::list(shared(ctx), caller(ctx)?, &args).await?;
        Ok(connection(page, totals, |row| row.id, Import::from))
    }

    /// One import by id.
    async fn import(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Import> {
        let id = parse_id(&id, "id")?;
        Ok(service::get(shared(ctx), caller(ctx)?, id).await?.into())
    }
}

#[derive(Default)]
pub(crate) struct ImportMutation;

#[Object]
impl ImportMutation {
    /// Uploads a CSV file (GraphQL multipart request; large files stream
    /// better by `POST /imports`). Answers with what was detected (encoding,
    /// delimiter, headers) and a suggested mapping; nothing is imported
    /// until `startImport`.
    async fn create_import(
        &self,
        ctx: &Context<'_>,
        file: Upload,
    ) -> async_graphql::Result<Import> {
        let shared = shared(ctx);
        let caller = caller(ctx)?;
        caller.require_writer()?;
        let upload = file.value(ctx).map_err(|e| {
            crate::error::AppError::invalid("file", format!("the upload could not be read: {e}"))
        })?;
        let name = upload.filename.clone();
        let file = tokio::fs::File::from_std(upload.content);
        let batch =
            service::upload(shared, caller, &name, super::http::chunks(file), "file").await?;
        touch(ctx, "lead_batch", batch.id);
        Ok(batch.into())
    }

    /// Runs the import on its first 100 lines and reports what each would
    /// do (create, update, skip, fail and why); nothing is kept.
    async fn preview_import(
        &self,
        ctx: &Context<'_>,
        id: ID,
        mapping: Vec<ImportColumnInput>,
        options: Option<ImportOptionsInput>,
    ) -> async_graphql::Result<Vec<ImportPreviewLine>> {
        let id = parse_id(&id, "id")?;
        let lines = service::preview(
            shared(ctx),
            caller(ctx)?,
            id,
            &pairs(&mapping),
            options.into(),
        )
        .await?;
        Ok(lines.into_iter().map(Into::into).collect())
    }

    /// Starts the import in the background; follow it with
    /// `importProgress`. It resumes on its own after a restart.
    async fn start_import(
        &self,
        ctx: &Context<'_>,
        id: ID,
        mapping: Vec<ImportColumnInput>,
        options: Option<ImportOptionsInput>,
    ) -> async_graphql::Result<Import> {
        let id = parse_id(&id, "id")?;
        let batch = service::start(
            shared(ctx),
            caller(ctx)?,
            id,
            &pairs(&mapping),
            options.into(),
        )
        .await?;
        touch(ctx, "lead_batch", batch.id);
        Ok(batch.into())
    }

    /// Stops an import after the chunk of lines it is working on (what was
    /// imported stays); an import not started is cancelled at once.
    async fn cancel_import(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Import> {
        let id = parse_id(&id, "id")?;
        let batch = service::cancel(shared(ctx), caller(ctx)?, id).await?;
        touch(ctx, "lead_batch", batch.id);
        Ok(batch.into())
    }
}

#[derive(Default)]
pub(crate) struct ImportSubscription;

/// How often `importProgress` looks.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(500);

#[Subscription]
impl ImportSubscription {
    /// An import's progress: now, then whenever it moves (at most twice a
    /// second), in order, ending after the final state (completed,
    /// cancelled or failed).
    async fn import_progress(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<ImportProgress>>> {
        let caller = caller(ctx)?.clone();
        let shared = ctx.data_unchecked::<Arc<Shared>>().clone();
        let id = parse_id(&id, "id")?;
        let first = service::get(&shared, &caller, id).await?;
        Ok(async_stream::stream! {
            let mut last = first;
            yield Ok(ImportProgress::from(&last));
            let mut ticker = tokio::time::interval(PROGRESS_INTERVAL);
            ticker.tick().await;
            while !service::is_final(&last) {
                ticker.tick().await;
                match service::get(&shared, &caller, id).await {
                    Ok(now) => {
                        let moved = (now.rows_done, now.status, now.failed) != (last.rows_done, last.status, last.failed);
                        last = now;
                        if moved {
                            yield Ok(ImportProgress::from(&last));
                        }
                    }
                    Err(error) => { yield Err(error.into()); return; }
                }
            }
        })
    }
}
