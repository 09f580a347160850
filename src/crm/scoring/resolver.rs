//! `scoringRules`, `scoringRule`, `createScoringRule`, `updateScoringRule`,
//! `deleteScoringRule`.

use async_graphql::{Context, ID, Object};

use super::service::{self, NewRule, RuleChanges};
use super::types::{CreateScoringRuleInput, ScoringRule, UpdateScoringRuleInput};
use crate::graphql::audit::touch;
use crate::graphql::pagination::{PageArgs, RelayConnection, connection, cost};
use crate::graphql::{caller, parse_id, shared, to_id};

#[derive(Default)]
pub struct ScoringQuery;

#[Object]
impl ScoringQuery {
    /// Your tenant's scoring rules, oldest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn scoring_rules(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<RelayConnection<ScoringRule>> {
        let args = PageArgs::new(first, after, last, before);
        let (page, totals) = service::list(shared(ctx), caller(ctx)?, &args).await?;
        Ok(connection(page, totals, |row| row.id, ScoringRule::from))
    }

    /// One scoring rule.
    async fn scoring_rule(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ScoringRule> {
        let id = parse_id(&id, "id")?;
        Ok(service::get(shared(ctx), caller(ctx)?, id).await?.into())
    }
}

#[derive(Default)]
pub struct ScoringMutation;

#[Object]
impl ScoringMutation {
    /// Adds a scoring rule; every lead's score is recomputed at once.
    async fn create_scoring_rule(
        &self,
        ctx: &Context<'_>,
        input: CreateScoringRuleInput,
    ) -> async_graphql::Result<ScoringRule> {
        let input = NewRule {
            name: input.name,
            criteria: input.criteria,
            condition: input.condition.into(),
            value: input.value.map(|value| value.0),
            points: input.points,
            is_active: input.is_active.unwrap_or(true),
        };
        let rule = service::create(shared(ctx), caller(ctx)?, input).await?;
        touch(ctx, "scoring_rule", rule.id);
        Ok(rule.into())
    }

    /// Changes a scoring rule; scores are recomputed at once.
    async fn update_scoring_rule(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateScoringRuleInput,
    ) -> async_graphql::Result<ScoringRule> {
        let id = parse_id(&id, "id")?;
        let changes = RuleChanges {
            name: input.name,
            criteria: input.criteria,
            condition: input.condition.map(Into::into),
            value: Option::from(input.value.map_value(|value| value.0)),
            points: input.points,
            is_active: input.is_active,
        };
        let rule = service::update(shared(ctx), caller(ctx)?, id, changes).await?;
        touch(ctx, "scoring_rule", rule.id);
        Ok(rule.into())
    }

    /// Deletes a scoring rule for good; scores are recomputed at once.
    /// Returns the deleted rule's id.
    async fn delete_scoring_rule(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let id = parse_id(&id, "id")?;
        let id = service::delete(shared(ctx), caller(ctx)?, id).await?;
        touch(ctx, "scoring_rule", id);
        Ok(to_id(id))
    }
}
