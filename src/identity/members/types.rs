//! GraphQL shapes of members and invites.

use async_graphql::{ComplexObject, Context, Enum, ID, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use entity::sea_orm_active_enums::InviteStatus as InviteStatusModel;
use entity::{invites, memberships};

use crate::error::AppError;
use crate::graphql::to_id;
use crate::identity::auth::types::User;
use crate::tenancy::Role;

/// A person's membership in your tenant.
#[derive(SimpleObject)]
#[graphql(complex)]
pub(crate) struct Member {
    /// The membership id (use it with `updateMemberRole` / `removeMember`).
    pub id: ID,
    pub role: Role,
    pub is_primary: bool,
    pub joined_at: DateTime<Utc>,
    #[graphql(skip)]
    pub user_id: Uuid,
}

#[ComplexObject]
impl Member {
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        let user = crate::graphql::loaders::load_user(ctx, self.user_id)
            .await?
            .ok_or(AppError::not_found("user"))?;
        Ok(user.into())
    }
}

impl From<memberships::Model> for Member {
    fn from(membership: memberships::Model) -> Self {
        Self {
            id: to_id(membership.id),
            role: membership.role.into(),
            is_primary: membership.is_primary,
            joined_at: membership.created_at.to_utc(),
            user_id: membership.user_id,
        }
    }
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InviteStatus {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

/// An invitation to join your tenant.
#[derive(SimpleObject)]
pub(crate) struct Invite {
    pub id: ID,
    pub email: String,
    pub role: Role,
    pub status: InviteStatus,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<invites::Model> for Invite {
    fn from(invite: invites::Model) -> Self {
        let expired = invite.expires_at.to_utc() <= Utc::now();
        Self {
            id: to_id(invite.id),
            email: invite.email,
            role: invite.role.into(),
            status: match invite.status {
                InviteStatusModel::Pending if expired => InviteStatus::Expired,
                InviteStatusModel::Pending => InviteStatus::Pending,
                InviteStatusModel::Accepted => InviteStatus::Accepted,
                InviteStatusModel::Revoked => InviteStatus::Revoked,
                InviteStatusModel::Expired => InviteStatus::Expired,
            },
            expires_at: invite.expires_at.to_utc(),
            accepted_at: invite.accepted_at.map(|at| at.to_utc()),
            created_at: invite.created_at.to_utc(),
        }
    }
}

/// A new invite and its token, shown this once.
#[derive(SimpleObject)]
pub(super) struct CreatedInvite {
    pub invite: Invite,
    /// Give this to the invitee; it is stored only as a hash.
    pub token: String,
}
