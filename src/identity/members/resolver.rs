//! Members and invites.

use async_graphql::{Context, ID, Object};

use super::service;
use super::types::{CreatedInvite, Invite, Member};
use crate::graphql::audit::{identify, touch};
use crate::graphql::pagination::{PageArgs, RelayConnection, connection, cost};
use crate::graphql::{caller, meta, parse_id, shared};
use crate::identity::auth::types::AuthPayload;
use crate::tenancy::Role;

#[derive(Default)]
pub(crate) struct MemberQuery;

#[Object]
impl MemberQuery {
    /// The people in your tenant, oldest member first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn tenant_members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<RelayConnection<Member>> {
        let args = PageArgs::new(first, after, last, before);
        let (page, totals) = service::list(shared(ctx), caller(ctx)?, &args).await?;
        Ok(connection(page, totals, |row| row.id, Member::from))
    }

    /// Pending invites, newest first. Admins only.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn invites(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<RelayConnection<Invite>> {
        let args = PageArgs::new(first, after, last, before);
        let (page, totals) = service::list_invites(shared(ctx), caller(ctx)?, &args).await?;
        Ok(connection(page, totals, |row| row.id, Invite::from))
    }
}

#[derive(Default)]
pub(crate) struct MemberMutation;

#[Object]
impl MemberMutation {
    /// Invites someone by email. The token is returned once; it expires in 7
    /// days. Admins only; only owners can invite owners.
    async fn invite_user(
        &self,
        ctx: &Context<'_>,
        email: String,
        role: Role,
    ) -> async_graphql::Result<CreatedInvite> {
        let (invite, token) = service::invite(shared(ctx), caller(ctx)?, &email, role).await?;
        touch(ctx, "invite", invite.id);
        Ok(CreatedInvite {
            invite: invite.into(),
            token,
        })
    }

    /// Withdraws a pending invite. Admins only.
    async fn revoke_invite(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Invite> {
        let id = parse_id(&id, "id")?;
        Ok(service::revoke_invite(shared(ctx), caller(ctx)?, id)
            .await?
            .into())
    }

    /// Joins the inviting tenant. A new person gives a name and password; an
    /// existing account proves itself with its password (the name is ignored).
    async fn accept_invite(
        &self,
        ctx: &Context<'_>,
        token: String,
        name: String,
        password: String,
    ) -> async_graphql::Result<AuthPayload> {
        let session =
            service::accept_invite(shared(ctx), meta(ctx), &token, &name, &password).await?;
        identify(ctx, session.tenant.id, Some(session.user.id));
        Ok(session.into())
    }

    /// Changes a member's role. Admins only; only owners touch the owner role;
    /// the last owner cannot be demoted.
    async fn update_member_role(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        role: Role,
    ) -> async_graphql::Result<Member> {
        let member_id = parse_id(&member_id, "memberId")?;
        Ok(
            service::update_role(shared(ctx), caller(ctx)?, member_id, role)
                .await?
                .into(),
        )
    }

    /// Removes a member. Admins only; only owners remove owners; the last
    /// owner cannot be removed.
    async fn remove_member(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
    ) -> async_graphql::Result<Member> {
        let member_id = parse_id(&member_id, "memberId")?;
        Ok(service::remove(shared(ctx), caller(ctx)?, member_id)
            .await?
            .into())
    }
}
