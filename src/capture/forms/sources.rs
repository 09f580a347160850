//! The lead source of a submission whose form names none: the one for the
//! page's `utm_source`, made on first use, so leads from a newsletter link
//! and from an ad are told apart without setup.

use std::collections::BTreeMap;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use uuid::Uuid;

use entity::lead_sources;
use entity::sea_orm_active_enums::LeadSourceType;

use crate::error::AppResult;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::live;

/// The live source whose `utm_source` is `name` (the one with the same
/// medium and campaign first), else a new one named after it.
pub(crate) async fn for_utm(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    name: &str,
    utm: &BTreeMap<&'static str, String>,
) -> AppResult<Uuid> {
    if let Some(found) = find(txn, ctx, name, utm).await? {
        return Ok(found);
    }
    let now = Utc::now().fixed_offset();
    // Another submission may make it at the same moment: the unique name
    // refuses the second, which then reads the first's.
    let savepoint = txn.begin().await?;
    let made = lead_sources::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        id: Set(Uuid::now_v7()),
        name: Set(name.to_owned()),
        source_type: Set(LeadSourceType::Form),
        utm_source: Set(Some(name.to_owned())),
        utm_medium: Set(utm.get("medium").cloned()),
        utm_campaign: Set(utm.get("campaign").cloned()),
        utm_term: Set(None),
        utm_content: Set(None),
        is_active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        created_by: Set(None),
        updated_by: Set(None),
        deleted_at: Set(None),
        deleted_by: Set(None),
    }
    .insert(&savepoint)
    .await;
    match made {
        Ok(source) => {
            savepoint.commit().await?;
            Ok(source.id)
        }
        Err(error) => {
            savepoint.rollback().await?;
            let taken = matches!(
                error.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            );
            if taken && let Some(found) = find_named(txn, ctx, name).await? {
                return Ok(found);
            }
            Err(error.into())
        }
    }
}

async fn find(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    name: &str,
    utm: &BTreeMap<&'static str, String>,
) -> AppResult<Option<Uuid>> {
    let candidates = live::<lead_sources::Entity>(ctx)
        .filter(lead_sources::Column::UtmSource.eq(name))
        .order_by_asc(lead_sources::Column::Id)
        .all(txn)
        .await?;
    let same = |a: &Option<String>, b: Option<&String>| a.as_ref() == b;
    Ok(candidates
        .iter()
        .find(|s| {
            same(&s.utm_medium, utm.get("medium")) && same(&s.utm_campaign, utm.get("campaign"))
        })
        .or(candidates.first())
        .map(|s| s.id))
}

async fn find_named(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    name: &str,
) -> AppResult<Option<Uuid>> {
    Ok(live::<lead_sources::Entity>(ctx)
        .filter(lead_sources::Column::Name.eq(name))
        .one(txn)
        .await?
        .map(|s| s.id))
}
