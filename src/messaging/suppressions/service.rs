//! Reading and changing the suppression list. Addresses are stored
//! lowercased and are unique per tenant; adding one twice keeps the first
//! entry (its reason is the one that matters: an unsubscribe stays an
//! unsubscribe even if a bounce follows). Writers add, admins remove.

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TryInsertResult};
use uuid::Uuid;

use entity::sea_orm_active_enums::SuppressionReason;
use entity::suppressions::{self, Column};

use crate::crm::leads::filter::search_pattern;
use crate::domain::{EmailAddress, optional_text};
use crate::error::{AppError, AppResult};
use crate::graphql::pagination::{Order, Page, PageArgs, Totals, list_by_id};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin, begin_write, scoped, tenant_delete, tenant_rows};

const MAX_DETAIL_CHARS: usize = 1_000;
const MAX_SEARCH_CHARS: usize = 254;

/// The entry for `email` compared as `EmailAddress` stores it, without
/// refusing an address it would not accept (a bounce may name an odd one).
fn by_email(tenant_id: Uuid, email: &str) -> sea_orm::Select<suppressions::Entity> {
    tenant_rows::<suppressions::Entity>(tenant_id)
        .filter(Column::Email.eq(EmailAddress::normalize(email)))
}

/// The entry that keeps `email` from being sent to, if any. Call it inside
/// a transaction bound to `tenant_id`.
pub async fn is_suppressed(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    email: &str,
) -> AppResult<Option<suppressions::Model>> {
    Ok(by_email(tenant_id, email).one(conn).await?)
}

/// Which of `emails` (lowercased) are on the tenant's list: one query per
/// 500 addresses, for bulk sends.
pub async fn suppressed_among(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    emails: impl IntoIterator<Item = String>,
) -> AppResult<std::collections::HashSet<String>> {
    let emails: Vec<String> = emails.into_iter().map(|e| e.to_lowercase()).collect();
    let mut found = std::collections::HashSet::new();
    for chunk in emails.chunks(500) {
        for row in tenant_rows::<suppressions::Entity>(tenant_id)
            .filter(suppressions::Column::Email.is_in(chunk.iter().cloned()))
            .all(conn)
            .await?
        {
            found.insert(row.email);
        }
    }
    Ok(found)
}

/// Adds `email` unless it is already there; true when newly added. Made
/// for unsubscribe and bounce handling inside their open transaction: an
/// existing entry is not an error (`ON CONFLICT DO NOTHING`, which does not
/// abort a PostgreSQL transaction the way a failed insert would).
pub async fn suppress(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    email: &str,
    reason: SuppressionReason,
    message_id: Option<Uuid>,
    detail: Option<String>,
) -> AppResult<bool> {
    let detail = detail.map(|d| d.chars().take(MAX_DETAIL_CHARS).collect());
    insert_if_absent(conn, tenant_id, email, reason, message_id, detail, None).await
}

async fn insert_if_absent(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    email: &str,
    reason: SuppressionReason,
    message_id: Option<Uuid>,
    detail: Option<String>,
    created_by: Option<Uuid>,
) -> AppResult<bool> {
    // Not parsed: a bounce may name an address `parse` would refuse.
    let email = EmailAddress::normalize(email);
    if email.is_empty() {
        return Err(AppError::invalid("email", "must not be empty"));
    }
    let row = suppressions::ActiveModel {
        tenant_id: Set(tenant_id),
        id: Set(Uuid::now_v7()),
        email: Set(email),
        reason: Set(reason),
        message_id: Set(message_id),
        detail: Set(detail),
        created_at: Set(Utc::now().fixed_offset()),
        created_by: Set(created_by),
    };
    let result = suppressions::Entity::insert(row)
        .on_conflict_do_nothing_on([Column::TenantId, Column::Email])
        .exec_without_returning(conn)
        .await?;
    Ok(matches!(result, TryInsertResult::Inserted(n) if n > 0))
}

/// One page of the list, newest first, optionally only addresses containing
/// `search`.
pub async fn list(
    shared: &Shared,
    ctx: &RequestCtx,
    args: &PageArgs,
    search: Option<&str>,
) -> AppResult<(Page<suppressions::Model>, Totals)> {
    let mut select = scoped::<suppressions::Entity>(ctx);
    if let Some(text) = search.map(str::trim).filter(|t| !t.is_empty()) {
        if text.chars().count() > MAX_SEARCH_CHARS {
            return Err(AppError::invalid(
                "search",
                format!("must be at most {MAX_SEARCH_CHARS} characters"),
            ));
        }
        // Addresses are stored lowercased; the pattern is lowercased too.
        select = select.filter(
            Expr::col(Column::Email).like(LikeExpr::new(search_pattern(text)).escape('\\')),
        );
    }
    list_by_id(shared, ctx, select, Column::Id, args, Order::NewestFirst).await
}

/// The caller's entry for `email`; `NOT_FOUND` when it is not suppressed.
pub async fn get(shared: &Shared, ctx: &RequestCtx, email: &str) -> AppResult<suppressions::Model> {
    let email = EmailAddress::parse(email, "email")?;
    let txn = begin(&shared.db, ctx).await?;
    let found = is_suppressed(&txn, ctx.tenant_id, email.as_str()).await?;
    txn.commit().await?;
    found.ok_or(AppError::not_found("suppression"))
}

/// Adds `email` (or finds it already there) and returns the entry.
pub async fn add(
    shared: &Shared,
    ctx: &RequestCtx,
    email: &str,
    reason: SuppressionReason,
    detail: Option<String>,
) -> AppResult<suppressions::Model> {
    ctx.require_writer()?;
    let email = EmailAddress::parse(email, "email")?;
    let detail = optional_text(detail, "detail", MAX_DETAIL_CHARS)?;
    let txn = begin_write(&shared.db, ctx).await?;
    insert_if_absent(
        &txn,
        ctx.tenant_id,
        email.as_str(),
        reason,
        None,
        detail,
        ctx.user_id(),
    )
    .await?;
    let entry = is_suppressed(&txn, ctx.tenant_id, email.as_str())
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("suppression vanished after insert")))?;
    txn.commit().await?;
    Ok(entry)
}

/// Removes the caller's entry for `email` and returns its id; `NOT_FOUND`
/// when the address is not on the list. Admins only.
pub async fn remove(shared: &Shared, ctx: &RequestCtx, email: &str) -> AppResult<Uuid> {
    ctx.require_admin()?;
    let email = EmailAddress::parse(email, "email")?;
    let txn = begin_write(&shared.db, ctx).await?;
    let entry = is_suppressed(&txn, ctx.tenant_id, email.as_str())
        .await?
        .ok_or(AppError::not_found("suppression"))?;
    tenant_delete::<suppressions::Entity>(ctx.tenant_id)
        .filter(Column::Id.eq(entry.id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(entry.id)
}
