//! Reading and updating the caller's tenant.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};

use entity::tenants;

use super::types::UpdateTenantInput;
use crate::domain::{optional_text, required_text};
use crate::error::{AppError, AppResult};
use crate::events::{DomainEventKind, NewDomainEvent, commit_with};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin, begin_write};

/// Largest branding or settings object, serialised.
const MAX_JSON_BYTES: usize = 16 * 1024;

pub(crate) async fn get(shared: &Shared, ctx: &RequestCtx) -> AppResult<tenants::Model> {
    let txn = begin(&shared.db, ctx).await?;
    let tenant = tenants::Entity::find_by_id(ctx.tenant_id)
        .one(&txn)
        .await?
        .ok_or(AppError::not_found("tenant"))?;
    txn.commit().await?;
    Ok(tenant)
}

fn json_object(value: serde_json::Value, field: &str) -> AppResult<serde_json::Value> {
    if !value.is_object() {
        return Err(AppError::invalid(field, "must be a JSON object"));
    }
    if value.to_string().len() > MAX_JSON_BYTES {
        return Err(AppError::invalid(
            field,
            format!("must be at most {MAX_JSON_BYTES} bytes"),
        ));
    }
    Ok(value)
}

/// Admins change the tenant's profile, branding and settings.
pub(super) async fn update(
    shared: &Shared,
    ctx: &RequestCtx,
    input: UpdateTenantInput,
) -> AppResult<tenants::Model> {
    ctx.require_admin()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let current = tenants::Entity::find_by_id(ctx.tenant_id)
        .one(&txn)
        .await?
        .ok_or(AppError::not_found("tenant"))?;
    let mut tenant = current.into_active_model();
    if let Some(name) = input.name {
        tenant.name = Set(required_text(&name, "input.name", 200)?);
    }
    if let Some(branding) = input.branding {
        tenant.branding = Set(json_object(branding.0, "input.branding")?);
    }
    if let Some(settings) = input.settings {
        tenant.settings = Set(json_object(settings.0, "input.settings")?);
    }
    // Absent leaves the field alone; null clears it.
    if let Some(industry) = Option::<Option<String>>::from(input.industry) {
        tenant.industry = Set(optional_text(industry, "input.industry", 200)?);
    }
    if let Some(kind) = Option::<Option<String>>::from(input.business_type) {
        tenant.business_type = Set(optional_text(kind, "input.businessType", 200)?);
    }
    tenant.updated_at = Set(Utc::now().fixed_offset());
    let updated = tenant.update(&txn).await?;
    commit_with(
        shared,
        txn,
        ctx,
        vec![NewDomainEvent::new(
            DomainEventKind::TenantUpdated,
            ctx.tenant_id,
        )],
    )
    .await?;
    Ok(updated)
}
