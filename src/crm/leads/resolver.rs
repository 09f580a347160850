//! Leads: the list API, the lead itself, and every change to it.

use crate::graphql::filters::DateOrDateTime;
use async_graphql::{Context, ID, Object};

use super::filter::LeadFilter;
use super::list::{self, LeadQuery};
use super::types::{
    CreateLeadInput, FieldError, Lead, LeadAnalytics, LeadOrder, LeadPatch, UpdateLeadInput,
    UpsertLeadResult,
};
use super::{bulk, merge, service};
use crate::graphql::audit::touch;
use crate::graphql::joins::page_with_relations;
use crate::graphql::pagination::{PageArgs, RelayConnection, connection_with_cursors, cost};
use crate::graphql::read_scope;
use crate::graphql::{caller, parse_id, shared};
use crate::tenancy::scoped::end_read;

#[derive(Default)]
pub(crate) struct LeadQueryRoot;

#[Object]
impl LeadQueryRoot {
    /// Leads of your tenant: filtered, searched (name, email, company name)
    /// and ordered, a page at a time. `deleted: true` lists the trash.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    #[expect(
        clippy::too_many_arguments,
        reason = "the Relay arguments plus filter, order, search, trash"
    )]
    async fn leads(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<LeadFilter>,
        order_by: Option<LeadOrder>,
        search: Option<String>,
        #[graphql(default = false)] deleted: bool,
    ) -> async_graphql::Result<RelayConnection<Lead>> {
        let order = order_by.unwrap_or_default();
        let query = LeadQuery {
            page: PageArgs::new(first, after, last, before),
            filter,
            order,
            search,
            deleted,
            in_segment: None,
        };
        leads_connection(ctx, query).await
    }

    /// One live lead.
    async fn lead(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Lead> {
        Ok(
            service::get(shared(ctx), caller(ctx)?, parse_id(&id, "id")?)
                .await?
                .into(),
        )
    }

    /// Counts by status, stage, source and owner, the average score, and
    /// creations and conversions in a period (the last 30 days by default).
    /// `from` and `to` take instants or days (`to: "2026-12-31"` counts all
    /// of that day).
    async fn lead_analytics(
        &self,
        ctx: &Context<'_>,
        from: Option<DateOrDateTime>,
        to: Option<DateOrDateTime>,
    ) -> async_graphql::Result<LeadAnalytics> {
        let from = from.map(DateOrDateTime::start);
        // `[from, to)`: an instant `to` is excluded, a day `to` included.
        let to = to.map(|to| match to {
            DateOrDateTime::At(at) => at,
            day => day.end().0,
        });
        Ok(bulk::analytics(shared(ctx), caller(ctx)?, from, to).await?)
    }
}

#[derive(Default)]
pub(crate) struct LeadMutation;

#[Object]
impl LeadMutation {
    async fn create_lead(
        &self,
        ctx: &Context<'_>,
        input: CreateLeadInput,
    ) -> async_graphql::Result<Lead> {
        let lead = service::create(shared(ctx), caller(ctx)?, input).await?;
        touch(ctx, "lead", lead.id);
        Ok(lead.into())
    }

    /// Absent fields stay as they are; `null` clears a field.
    async fn update_lead(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateLeadInput,
    ) -> async_graphql::Result<Lead> {
        Ok(
            service::update(shared(ctx), caller(ctx)?, parse_id(&id, "id")?, input)
                .await?
                .into(),
        )
    }

    /// Moves the lead to the trash (`restoreLead` brings it back).
    async fn delete_lead(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Lead> {
        Ok(
            service::delete(shared(ctx), caller(ctx)?, parse_id(&id, "id")?)
                .await?
                .into(),
        )
    }

    async fn restore_lead(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Lead> {
        Ok(
            service::restore(shared(ctx), caller(ctx)?, parse_id(&id, "id")?)
                .await?
                .into(),
        )
    }

    /// Marks the lead converted and moves it to the won stage.
    async fn convert_lead(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Lead> {
        Ok(
            service::convert(shared(ctx), caller(ctx)?, parse_id(&id, "id")?)
                .await?
                .into(),
        )
    }

    /// Assigns the lead to a member of the tenant; `null` unassigns.
    async fn assign_lead(
        &self,
        ctx: &Context<'_>,
        id: ID,
        owner_id: Option<ID>,
    ) -> async_graphql::Result<Lead> {
        Ok(
            service::assign(shared(ctx), caller(ctx)?, parse_id(&id, "id")?, owner_id)
                .await?
                .into(),
        )
    }

    async fn move_lead_to_stage(
        &self,
        ctx: &Context<'_>,
        id: ID,
        stage_id: ID,
    ) -> async_graphql::Result<Lead> {
        Ok(
            service::move_to_stage(shared(ctx), caller(ctx)?, parse_id(&id, "id")?, stage_id)
                .await?
                .into(),
        )
    }

    async fn add_tags(
        &self,
        ctx: &Context<'_>,
        id: ID,
        tags: Vec<String>,
    ) -> async_graphql::Result<Lead> {
        Ok(
            service::change_tags(shared(ctx), caller(ctx)?, parse_id(&id, "id")?, tags, true)
                .await?
                .into(),
        )
    }

    async fn remove_tags(
        &self,
        ctx: &Context<'_>,
        id: ID,
        tags: Vec<String>,
    ) -> async_graphql::Result<Lead> {
        Ok(
            service::change_tags(shared(ctx), caller(ctx)?, parse_id(&id, "id")?, tags, false)
                .await?
                .into(),
        )
    }

    /// Folds duplicates into the primary lead: empty fields are filled, tags
    /// united, notes and activities moved; the duplicates go to the trash.
    async fn merge_leads(
        &self,
        ctx: &Context<'_>,
        primary_id: ID,
        duplicate_ids: Vec<ID>,
    ) -> async_graphql::Result<Lead> {
        let primary = parse_id(&primary_id, "primaryId")?;
        let duplicates = duplicate_ids
            .iter()
            .map(|id| parse_id(id, "duplicateIds"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(merge::merge(shared(ctx), caller(ctx)?, primary, duplicates)
            .await?
            .into())
    }

    /// Creates or updates up to 500 leads keyed by email. Each item reports
    /// its own result; a rejected item never drops the others.
    async fn upsert_leads(
        &self,
        ctx: &Context<'_>,
        inputs: Vec<CreateLeadInput>,
    ) -> async_graphql::Result<Vec<UpsertLeadResult>> {
        let outcomes = merge::upsert(shared(ctx), caller(ctx)?, inputs).await?;
        Ok(outcomes
            .into_iter()
            .enumerate()
            .map(|(index, outcome)| UpsertLeadResult {
                index: index as i32,
                created: outcome.created,
                lead: outcome.lead.map(Lead::from),
                errors: outcome
                    .error
                    .map(|e| FieldError {
                        field: e.field().unwrap_or_default().to_owned(),
                        message: e.public_message(),
                        code: e.code().to_owned(),
                    })
                    .into_iter()
                    .collect(),
            })
            .collect())
    }

    /// Changes stage, status, owner, project or tags of many leads at once
    /// (by `ids` or by `filter`); returns how many leads matched.
    async fn bulk_update_leads(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<ID>>,
        filter: Option<LeadFilter>,
        patch: LeadPatch,
    ) -> async_graphql::Result<crate::graphql::numbers::Count> {
        Ok(
            bulk::bulk_update(shared(ctx), caller(ctx)?, ids, filter, patch)
                .await?
                .into(),
        )
    }
}

/// A page of leads as a connection, in one statement with the to-one
/// relations the selection asks for. Also serves `company.leads`.
pub(crate) async fn leads_connection(
    ctx: &Context<'_>,
    query: LeadQuery,
) -> async_graphql::Result<RelayConnection<Lead>> {
    let field = query.order.field;
    let scope = read_scope(ctx)?;
    let txn = scope.read().await?;
    let (plan, totals) = list::plan(&txn, shared(ctx), scope.ctx(), &query).await?;
    let rows = page_with_relations(
        ctx,
        &txn,
        plan.select.clone(),
        &|table| plan.order_on(table),
        &Lead::LOADS,
        plan.literal_limit,
    )
    .await?;
    end_read(txn).await?;
    Ok(connection_with_cursors(
        plan.page(rows),
        totals,
        |lead| list::cursor(lead, field),
        Lead::from,
    ))
}
