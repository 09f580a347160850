//! `projects`, `project`, `createProject`, `updateProject`, `deleteProject`.

use async_graphql::{Context, ID, Object};

use super::service;
use super::types::{CreateProjectInput, Project, ProjectStatus, UpdateProjectInput};
use crate::graphql::audit::touch;
use crate::graphql::pagination::{PageArgs, RelayConnection, connection, cost};
use crate::graphql::{caller, parse_id, shared};

#[derive(Default)]
pub(crate) struct ProjectQuery;

#[Object]
impl ProjectQuery {
    /// Your tenant's projects, newest first, optionally of one status.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn projects(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        status: Option<ProjectStatus>,
    ) -> async_graphql::Result<RelayConnection<Project>> {
        let args = PageArgs::new(first, after, last, before);
        let (page, totals) =
            service::list(shared(ctx), caller(ctx)?, &args, status.map(Into::into)).await?;
        Ok(connection(page, totals, |row| row.id, Project::from))
    }

    /// One project by id.
    async fn project(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Project> {
        let id = parse_id(&id, "id")?;
        Ok(service::get(shared(ctx), caller(ctx)?, id).await?.into())
    }
}

#[derive(Default)]
pub(crate) struct ProjectMutation;

#[Object]
impl ProjectMutation {
    /// Creates a project.
    async fn create_project(
        &self,
        ctx: &Context<'_>,
        input: CreateProjectInput,
    ) -> async_graphql::Result<Project> {
        let project = service::create(shared(ctx), caller(ctx)?, input).await?;
        touch(ctx, "project", project.id);
        Ok(project.into())
    }

    /// Changes a project.
    async fn update_project(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateProjectInput,
    ) -> async_graphql::Result<Project> {
        let id = parse_id(&id, "id")?;
        touch(ctx, "project", id);
        Ok(service::update(shared(ctx), caller(ctx)?, id, input)
            .await?
            .into())
    }

    /// Deletes a project (softly: leads keep pointing at it). Returns the
    /// project as it was.
    async fn delete_project(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Project> {
        let id = parse_id(&id, "id")?;
        touch(ctx, "project", id);
        Ok(service::delete(shared(ctx), caller(ctx)?, id).await?.into())
    }
}
