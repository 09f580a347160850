//! `forms`, `form`, `formSubmissions`, `formSubmission`, `createForm`,
//! `updateForm`, `deleteForm`, and the `formSubmissions` subscription.

use std::sync::Arc;

use async_graphql::{Context, ID, Object, Subscription};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::service;
use super::types::{
    CreateFormInput, Form, FormStatus, FormSubmission, FormSubmissionFilter, UpdateFormInput,
};
use crate::events::{DomainEventKind, HubEvent};
use crate::graphql::audit::touch;
use crate::graphql::pagination::{PageArgs, RelayConnection, connection, cost};
use crate::graphql::{caller, parse_id, shared};
use crate::state::Shared;

#[derive(Default)]
pub(crate) struct FormQuery;

#[Object]
impl FormQuery {
    /// Your tenant's live forms, newest first (of one status when given).
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn forms(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        status: Option<FormStatus>,
    ) -> async_graphql::Result<RelayConnection<Form>> {
        let args = PageArgs::new(first, after, last, before);
        let (page, totals) = service::list(shared(ctx), caller(ctx)?, &args, status).await?;
        Ok(connection(page, totals, |row| row.id, Form::from))
    }

    /// One live form by id.
    async fn form(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Form> {
        let id = parse_id(&id, "id")?;
        Ok(service::get(shared(ctx), caller(ctx)?, id).await?.into())
    }

    /// Submissions of your forms, newest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn form_submissions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<FormSubmissionFilter>,
    ) -> async_graphql::Result<RelayConnection<FormSubmission>> {
        let args = PageArgs::new(first, after, last, before);
        let (page, totals) =
            service::submissions(shared(ctx), caller(ctx)?, &args, filter.unwrap_or_default())
                .await?;
        Ok(connection(page, totals, |row| row.id, FormSubmission::from))
    }

    async fn form_submission(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<FormSubmission> {
        let id = parse_id(&id, "id")?;
        Ok(service::submission(shared(ctx), caller(ctx)?, id)
            .await?
            .into())
    }
}

#[derive(Default)]
pub(crate) struct FormMutation;

#[Object]
impl FormMutation {
    /// Creates a form with its fields (checked against your lead fields and
    /// custom fields); a draft unless `status` says otherwise.
    async fn create_form(
        &self,
        ctx: &Context<'_>,
        input: CreateFormInput,
    ) -> async_graphql::Result<Form> {
        let form = service::create(shared(ctx), caller(ctx)?, input).await?;
        touch(ctx, "form", form.id);
        Ok(form.into())
    }

    /// Changes a form: its settings, its status (publish, archive) or its
    /// fields (all replaced when given).
    async fn update_form(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateFormInput,
    ) -> async_graphql::Result<Form> {
        let id = parse_id(&id, "id")?;
        let form = service::update(shared(ctx), caller(ctx)?, id, input).await?;
        touch(ctx, "form", form.id);
        Ok(form.into())
    }

    /// Moves a form to the trash; its public URLs answer 404 from then on.
    async fn delete_form(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Form> {
        let id = parse_id(&id, "id")?;
        let form = service::delete(shared(ctx), caller(ctx)?, id).await?;
        touch(ctx, "form", form.id);
        Ok(form.into())
    }
}

#[derive(Default)]
pub(crate) struct FormSubscription;

#[Subscription]
impl FormSubscription {
    /// A form's submissions as they are stored.
    async fn form_submissions(
        &self,
        ctx: &Context<'_>,
        form_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<FormSubmission>>> {
        let caller = caller(ctx)?.clone();
        let shared = ctx.data_unchecked::<Arc<Shared>>().clone();
        let id = parse_id(&form_id, "formId")?;
        let mut receiver = shared.hub.subscribe();
        // NOT_FOUND for a form that is not the caller's.
        service::get(&shared, &caller, id).await?;
        let wanted = crate::graphql::id_string(id);
        Ok(async_stream::stream! {
            loop {
                match receiver.recv().await {
                    Ok(HubEvent::Domain(event))
                        if event.tenant_id == caller.tenant_id
                            && DomainEventKind::parse(&event.kind) == Some(DomainEventKind::FormSubmitted)
                            && event.payload.get("formId").and_then(|v| v.as_str()) == Some(wanted.as_str()) =>
                    {
                        match service::submission(&shared, &caller, event.subject_id).await {
                            Ok(row) => yield Ok(row.into()),
                            Err(error) => { yield Err(error.into()); return; }
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "formSubmissions subscriber lagged");
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        })
    }
}
