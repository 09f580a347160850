//! GraphQL shapes of authentication.

use async_graphql::{ID, InputObject, SimpleObject};
use chrono::{DateTime, TimeZone, Utc};

use entity::{memberships, tenants, users};

use super::service::{Me as MeModel, Session};
use crate::graphql::to_id;
use crate::identity::tenants::Tenant;
use crate::tenancy::Role;

/// A person. Users are global; they join tenants through memberships.
#[derive(SimpleObject, Clone)]
pub struct User {
    pub id: ID,
    pub email: String,
    pub name: String,
    pub locale: String,
}

impl From<users::Model> for User {
    fn from(user: users::Model) -> Self {
        Self {
            id: to_id(user.id),
            email: user.email,
            name: user.name,
            locale: user.locale,
        }
    }
}

/// A signed-in session.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// Send as `Authorization: Bearer <accessToken>`. Short-lived.
    pub access_token: String,
    /// Exchange with `refreshToken` for a new pair. Single use.
    pub refresh_token: String,
    /// When `accessToken` stops working.
    pub expires_at: DateTime<Utc>,
    pub user: User,
    pub tenant: Tenant,
    pub role: Role,
}

impl From<Session> for AuthPayload {
    fn from(session: Session) -> Self {
        Self {
            access_token: session.access_token,
            refresh_token: session.refresh_token,
            expires_at: Utc
                .timestamp_opt(session.expires_at, 0)
                .single()
                .unwrap_or_else(Utc::now),
            user: session.user.into(),
            tenant: session.tenant.into(),
            role: session.role,
        }
    }
}

/// One tenant the signed-in user belongs to.
#[derive(SimpleObject)]
pub struct MyMembership {
    pub tenant: Tenant,
    pub role: Role,
    /// The tenant login picks when none is named.
    pub is_primary: bool,
}

/// The caller.
#[derive(SimpleObject)]
pub struct Me {
    /// The signed-in person; null for an API key.
    pub user: Option<User>,
    /// Every tenant the person belongs to.
    pub memberships: Vec<MyMembership>,
    /// The tenant this credential acts in.
    pub tenant: Tenant,
    /// The role in that tenant.
    pub role: Role,
}

impl From<MeModel> for Me {
    fn from(me: MeModel) -> Self {
        Self {
            user: me.user.map(User::from),
            memberships: me
                .memberships
                .into_iter()
                .map(
                    |(membership, tenant): (memberships::Model, tenants::Model)| MyMembership {
                        tenant: tenant.into(),
                        role: membership.role.into(),
                        is_primary: membership.is_primary,
                    },
                )
                .collect(),
            tenant: me.tenant.into(),
            role: me.role,
        }
    }
}

#[derive(InputObject)]
pub struct SignUpInput {
    pub email: String,
    /// At least 10 characters.
    pub password: String,
    pub name: String,
    /// The company's display name.
    pub tenant_name: String,
    /// The company's subdomain: 3-63 of a-z, 0-9 and '-'.
    pub tenant_slug: String,
}

#[derive(InputObject)]
pub struct LoginInput {
    pub email: String,
    pub password: String,
    /// Sign in to this tenant; by default the primary one.
    pub tenant_slug: Option<String>,
}
