//! `leadStages`, `createLeadStage`, `updateLeadStage`, `reorderLeadStages`,
//! `deleteLeadStage`.

use async_graphql::{Context, ID, Object};

use super::service;
use super::types::{CreateLeadStageInput, LeadStage, UpdateLeadStageInput};
use crate::graphql::audit::touch;
use crate::graphql::pagination::{PageArgs, RelayConnection, cost};
use crate::graphql::{caller, parse_id, shared};

#[derive(Default)]
pub(crate) struct PipelineQuery;

#[Object]
impl PipelineQuery {
    /// Your pipeline's stages in order.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn lead_stages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<RelayConnection<LeadStage>> {
        let args = PageArgs::new(first, after, last, before);
        Ok(service::list(shared(ctx), caller(ctx)?, &args).await?)
    }
}

#[derive(Default)]
pub(crate) struct PipelineMutation;

#[Object]
impl PipelineMutation {
    /// Adds a stage to the pipeline.
    async fn create_lead_stage(
        &self,
        ctx: &Context<'_>,
        input: CreateLeadStageInput,
    ) -> async_graphql::Result<LeadStage> {
        let stage = service::create(shared(ctx), caller(ctx)?, input).await?;
        touch(ctx, "lead_stage", stage.id);
        Ok(stage.into())
    }

    /// Changes a stage: name, color, place, default, won or lost.
    async fn update_lead_stage(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateLeadStageInput,
    ) -> async_graphql::Result<LeadStage> {
        let id = parse_id(&id, "id")?;
        touch(ctx, "lead_stage", id);
        Ok(service::update(shared(ctx), caller(ctx)?, id, input)
            .await?
            .into())
    }

    /// Puts the stages in this order. `ids` must name every stage exactly
    /// once. Returns the pipeline in its new order.
    async fn reorder_lead_stages(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
    ) -> async_graphql::Result<Vec<LeadStage>> {
        let ids = ids
            .iter()
            .enumerate()
            .map(|(index, id)| parse_id(id, &format!("ids.{index}")))
            .collect::<Result<Vec<_>, _>>()?;
        let stages = service::reorder(shared(ctx), caller(ctx)?, ids).await?;
        Ok(stages.into_iter().map(LeadStage::from).collect())
    }

    /// Deletes a stage. If leads are in it (deleted leads included), name
    /// the stage they move to with `moveLeadsTo`. The last stage cannot be
    /// deleted; deleting the default stage makes `moveLeadsTo` (or else the
    /// first stage) the default. Returns the stage as it was.
    async fn delete_lead_stage(
        &self,
        ctx: &Context<'_>,
        id: ID,
        move_leads_to: Option<ID>,
    ) -> async_graphql::Result<LeadStage> {
        let id = parse_id(&id, "id")?;
        let move_leads_to = move_leads_to
            .map(|target| parse_id(&target, "moveLeadsTo"))
            .transpose()?;
        touch(ctx, "lead_stage", id);
        Ok(
            service::delete(shared(ctx), caller(ctx)?, id, move_leads_to)
                .await?
                .into(),
        )
    }
}
