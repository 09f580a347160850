//! `logActivity`. Reading the timeline is `lead.activities`.

use async_graphql::{Context, Object};

use super::service::{self, LogActivity};
use super::types::{Activity, LogActivityInput};
use crate::graphql::audit::touch;
use crate::graphql::{caller, parse_id, shared};

#[derive(Default)]
pub(crate) struct ActivityMutation;

#[Object]
impl ActivityMutation {
    /// Logs a call, meeting, email, task or other touch on a lead.
    async fn log_activity(
        &self,
        ctx: &Context<'_>,
        input: LogActivityInput,
    ) -> async_graphql::Result<Activity> {
        let input = LogActivity {
            lead_id: parse_id(&input.lead_id, "input.leadId")?,
            kind: input.kind.into(),
            summary: input.summary,
            detail: input.detail,
            occurred_at: input.occurred_at,
        };
        let activity = service::log(shared(ctx), caller(ctx)?, input).await?;
        touch(ctx, "activity", activity.id);
        Ok(activity.into())
    }
}
