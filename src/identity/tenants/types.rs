//! GraphQL shapes of a tenant.

use crate::graphql::json::Json;
use async_graphql::dataloader::DataLoader;
use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, MaybeUndefined, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use entity::sea_orm_active_enums::PlanTier as PlanTierModel;
use entity::{plans, tenants};

use super::PlanLoader;
use crate::domain::{CurrencyCode, Money};
use crate::error::AppError;
use crate::graphql::numbers::BigInt;
use crate::graphql::to_id;

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanTier {
    Basic,
    Pro,
    Enterprise,
}

/// A subscription plan: its limits and monthly credit grant.
#[derive(SimpleObject)]
#[graphql(complex)]
pub(super) struct Plan {
    pub tier: PlanTier,
    pub name: String,
    /// Credits granted every month.
    pub monthly_credits: BigInt,
    #[graphql(skip)]
    pub price_cents: i64,
    #[graphql(skip)]
    pub currency: String,
}

#[ComplexObject]
impl Plan {
    /// The monthly price.
    async fn price(&self) -> async_graphql::Result<Money> {
        let currency = CurrencyCode::stored(&self.currency)?;
        Ok(Money::from_minor(self.price_cents, currency))
    }
}

impl From<plans::Model> for Plan {
    fn from(plan: plans::Model) -> Self {
        Self {
            tier: match plan.tier {
                PlanTierModel::Basic => PlanTier::Basic,
                PlanTierModel::Pro => PlanTier::Pro,
                PlanTierModel::Enterprise => PlanTier::Enterprise,
            },
            name: plan.name,
            monthly_credits: BigInt(plan.monthly_credits),
            price_cents: plan.price_cents,
            currency: plan.currency,
        }
    }
}

/// What the tenant may use.
#[derive(SimpleObject)]
pub struct TenantLimits {
    pub max_leads: i32,
    pub max_emails_per_day: i32,
    pub max_users: i32,
}

/// A client company.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Tenant {
    pub id: ID,
    pub name: String,
    /// The white-label subdomain.
    pub slug: String,
    pub limits: TenantLimits,
    /// Logo, colors and other white-label settings.
    pub branding: Json<serde_json::Value>,
    pub settings: Json<serde_json::Value>,
    pub industry: Option<String>,
    pub business_type: Option<String>,
    /// Credits left (a `BigInt`: a string, as balances can pass 2^31).
    pub credit_balance: BigInt,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    #[graphql(skip)]
    pub plan_id: Uuid,
}

#[ComplexObject]
impl Tenant {
    async fn plan(&self, ctx: &Context<'_>) -> async_graphql::Result<Plan> {
        let plan = ctx
            .data_unchecked::<DataLoader<PlanLoader>>()
            .load_one(self.plan_id)
            .await
            .map_err(|e| AppError::internal(anyhow::anyhow!("loading a plan: {e}")))?
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("tenant without plan")))?;
        Ok(plan.into())
    }
}

impl From<tenants::Model> for Tenant {
    fn from(tenant: tenants::Model) -> Self {
        Self {
            id: to_id(tenant.id),
            name: tenant.name,
            slug: tenant.slug,
            limits: TenantLimits {
                max_leads: tenant.max_leads,
                max_emails_per_day: tenant.max_emails_per_day,
                max_users: tenant.max_users,
            },
            branding: Json(tenant.branding),
            settings: Json(tenant.settings),
            industry: tenant.industry,
            business_type: tenant.business_type,
            credit_balance: BigInt(tenant.credit_balance),
            is_active: tenant.is_active,
            created_at: tenant.created_at.to_utc(),
            plan_id: tenant.plan_id,
        }
    }
}

/// Changes to the tenant. Absent fields stay as they are; `null` clears a
/// nullable field.
#[derive(InputObject)]
pub(super) struct UpdateTenantInput {
    pub name: Option<String>,
    /// Replaces the branding object (logo URL, colors…).
    pub branding: Option<Json<serde_json::Value>>,
    /// Replaces the settings object.
    pub settings: Option<Json<serde_json::Value>>,
    pub industry: MaybeUndefined<String>,
    pub business_type: MaybeUndefined<String>,
}
