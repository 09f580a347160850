//! Reading the outbox: newest first, optionally one message's copy.

use sea_orm::{ColumnTrait, QueryFilter};
use uuid::Uuid;

use entity::outbox_emails::{self, Column};

use crate::error::AppResult;
use crate::graphql::pagination::{Order, Page, PageArgs, Totals, list_by_id};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::scoped;

pub(super) async fn list(
    shared: &Shared,
    ctx: &RequestCtx,
    args: &PageArgs,
    message_id: Option<Uuid>,
) -> AppResult<(Page<outbox_emails::Model>, Totals)> {
    let mut select = scoped::<outbox_emails::Entity>(ctx);
    if let Some(message_id) = message_id {
        select = select.filter(Column::MessageId.eq(message_id));
    }
    list_by_id(shared, ctx, select, Column::Id, args, Order::NewestFirst).await
}
