//! Inviting, listing, re-roling and removing members.
//!
//! Rules: only admins and owners manage members; only an owner can make,
//! change or remove an owner; a tenant always keeps at least one owner; the
//! plan's `max_users` counts members plus pending invites.

use chrono::{Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QuerySelect, Set,
};
use uuid::Uuid;

use entity::sea_orm_active_enums::{InviteStatus, MemberRole};
use entity::{invites, leads, memberships, tenants, users};

use crate::db::is_postgres;
use crate::domain::{EmailAddress, Password};
use crate::error::{AppError, AppResult};
use crate::events::{DomainEventKind, NewDomainEvent, Origin, commit_with};
use crate::graphql::pagination::{Order, Page, PageArgs, Totals, list_by_id};
use crate::identity::auth::service::{
    Session, insert_membership, person_name, start_session, user_email_is,
};
use crate::identity::auth::tokens::{self, TokenKind};
use crate::state::Shared;
use crate::tenancy::scoped::{
    begin_for_write, begin_write, find_owned, scoped, tenant_delete, tenant_rows, tenant_update,
    update_returning_ids,
};
use crate::tenancy::{RequestCtx, RequestMeta, Role};

/// How long an invite stays valid.
const INVITE_TTL_DAYS: i64 = 7;

/// One page of the tenant's members, oldest first.
pub(super) async fn list(
    shared: &Shared,
    ctx: &RequestCtx,
    args: &PageArgs,
) -> AppResult<(Page<memberships::Model>, Totals)> {
    let select = scoped::<memberships::Entity>(ctx);
    list_by_id(
        shared,
        ctx,
        select,
        memberships::Column::Id,
        args,
        Order::OldestFirst,
    )
    .await
}

/// Pending invites (including expired ones not yet cleaned), newest first.
pub(super) async fn list_invites(
    shared: &Shared,
    ctx: &RequestCtx,
    args: &PageArgs,
) -> AppResult<(Page<invites::Model>, Totals)> {
    ctx.require_admin()?;
    let select =
        scoped::<invites::Entity>(ctx).filter(invites::Column::Status.eq(InviteStatus::Pending));
    list_by_id(
        shared,
        ctx,
        select,
        invites::Column::Id,
        args,
        Order::NewestFirst,
    )
    .await
}

/// Only an owner may grant, change or take away the owner role.
fn ensure_may_assign(ctx: &RequestCtx, role: Role) -> AppResult<()> {
    if role == Role::Owner {
        ctx.require_role(Role::Owner)?;
    }
    Ok(())
}

async fn seats_in_use(txn: &DatabaseTransaction, ctx: &RequestCtx) -> AppResult<u64> {
    let members = scoped::<memberships::Entity>(ctx).count(txn).await?;
    let pending = scoped::<invites::Entity>(ctx)
        .filter(invites::Column::Status.eq(InviteStatus::Pending))
        .filter(invites::Column::ExpiresAt.gt(Utc::now().fixed_offset()))
        .count(txn)
        .await?;
    Ok(members + pending)
}

async fn tenant_of(txn: &DatabaseTransaction, tenant_id: Uuid) -> AppResult<tenants::Model> {
    tenants::Entity::find_by_id(tenant_id)
        .one(txn)
        .await?
        .ok_or(AppError::not_found("tenant"))
}

/// Invites `email` with `role`; returns the invite and its one-time token.
/// A previous pending invite for the same email is revoked.
pub(super) async fn invite(
    shared: &Shared,
    ctx: &RequestCtx,
    email: &str,
    role: Role,
) -> AppResult<(invites::Model, String)> {
    ctx.require_admin()?;
    ensure_may_assign(ctx, role)?;
    let email = EmailAddress::parse(email, "email")?;
    let txn = begin_write(&shared.db, ctx).await?;
    let existing_user = users::Entity::find()
        .filter(user_email_is(email.as_str()))
        .one(&txn)
        .await?;
    if let Some(user) = existing_user {
        let already = scoped::<memberships::Entity>(ctx)
            .filter(memberships::Column::UserId.eq(user.id))
            .one(&txn)
            .await?;
        if already.is_some() {
            return Err(AppError::conflict("that person is already a member"));
        }
    }
    let now = Utc::now();
    tenant_update::<invites::Entity>(ctx.tenant_id)
        .col_expr(invites::Column::Status, Expr::value(InviteStatus::Revoked))
        .col_expr(invites::Column::UpdatedAt, Expr::value(now.fixed_offset()))
        .filter(invites::Column::Email.eq(email.as_str()))
        .filter(invites::Column::Status.eq(InviteStatus::Pending))
        .exec(&txn)
        .await?;
    let tenant = tenant_of(&txn, ctx.tenant_id).await?;
    if seats_in_use(&txn, ctx).await? >= tenant.max_users.max(0) as u64 {
        return Err(AppError::limit_exceeded(format!(
            "the plan allows {} users, counting pending invites",
            tenant.max_users
        )));
    }
    let minted = tokens::mint(TokenKind::Invite, ctx.tenant_id);
    let invite = invites::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        id: Set(Uuid::now_v7()),
        email: Set(email.into_inner()),
        role: Set(MemberRole::from(role)),
        token_hash: Set(minted.hash),
        invited_by: Set(ctx.user_id()),
        status: Set(InviteStatus::Pending),
        expires_at: Set((now + Duration::days(INVITE_TTL_DAYS)).fixed_offset()),
        accepted_at: Set(None),
        accepted_by: Set(None),
        created_at: Set(now.fixed_offset()),
        updated_at: Set(now.fixed_offset()),
    }
    .insert(&txn)
    .await?;
    commit_with(
        shared,
        txn,
        ctx,
        vec![NewDomainEvent::new(
            DomainEventKind::MemberInvited,
            invite.id,
        )],
    )
    .await?;
    Ok((invite, minted.token))
}

/// Revokes a pending invite.
pub(super) async fn revoke_invite(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<invites::Model> {
    ctx.require_admin()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let invite = find_owned::<invites::Entity>(&txn, ctx, id, "invite").await?;
    if invite.status != InviteStatus::Pending {
        return Err(AppError::conflict("only a pending invite can be revoked"));
    }
    let mut active = invite.into_active_model();
    active.status = Set(InviteStatus::Revoked);
    active.updated_at = Set(Utc::now().fixed_offset());
    let invite = active.update(&txn).await?;
    txn.commit().await?;
    Ok(invite)
}

/// Accepts an invite: creates the account, or, for an existing account,
/// checks its password. Signs in to the inviting tenant.
pub(super) async fn accept_invite(
    shared: &Shared,
    meta: &RequestMeta,
    token: &str,
    name: &str,
    password: &str,
) -> AppResult<Session> {
    let refused = || AppError::invalid("token", "this invite is invalid, used, revoked or expired");
    let presented = tokens::parse(TokenKind::Invite, token).ok_or_else(refused)?;
    let txn = begin_for_write(&shared.db, presented.tenant_id, None).await?;
    let invite = tenant_rows::<invites::Entity>(presented.tenant_id)
        .filter(invites::Column::TokenHash.eq(presented.hash))
        .one(&txn)
        .await?
        .filter(|invite| {
            invite.status == InviteStatus::Pending && invite.expires_at.to_utc() > Utc::now()
        })
        .ok_or_else(refused)?;
    let existing = users::Entity::find()
        .filter(user_email_is(&invite.email))
        .one(&txn)
        .await?;
    let user = match existing {
        Some(user) => {
            let ok = shared
                .passwords
                .verify(password.to_owned(), Some(user.password_hash.clone()))
                .await;
            if !ok || !user.is_active {
                return Err(AppError::unauthenticated("invalid email or password"));
            }
            user
        }
        None => {
            let name = person_name(name, "name")?;
            let password_hash = shared
                .passwords
                .hash(Password::parse(password, "password")?)
                .await?;
            let now = Utc::now().fixed_offset();
            users::ActiveModel {
                id: Set(Uuid::now_v7()),
                email: Set(invite.email.clone()),
                password_hash: Set(password_hash),
                name: Set(name),
                locale: Set("en".to_owned()),
                is_active: Set(true),
                last_login_at: Set(Some(now)),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await
            .map_err(|e| {
                crate::error::on_unique(e, None, "an account with this email already exists")
            })?
        }
    };
    crate::tenancy::scoped::bind(&txn, Some(invite.tenant_id), Some(user.id)).await?;
    let tenant = tenant_of(&txn, invite.tenant_id).await?;
    if !tenant.is_active {
        return Err(AppError::forbidden("this tenant is deactivated"));
    }
    let role = Role::from(invite.role);
    let membership = insert_membership(
        &txn,
        invite.tenant_id,
        user.id,
        role,
        false,
        invite.invited_by,
    )
    .await?;
    let mut accepted = invite.into_active_model();
    accepted.status = Set(InviteStatus::Accepted);
    accepted.accepted_at = Set(Some(Utc::now().fixed_offset()));
    accepted.accepted_by = Set(Some(user.id));
    accepted.updated_at = Set(Utc::now().fixed_offset());
    accepted.update(&txn).await?;
    let session = start_session(&txn, shared, meta, user, tenant, role, None).await?;
    commit_with(
        shared,
        txn,
        Origin {
            tenant_id: membership.tenant_id,
            actor_id: Some(membership.user_id),
        },
        vec![NewDomainEvent::new(
            DomainEventKind::MemberJoined,
            membership.id,
        )],
    )
    .await?;
    Ok(session)
}

/// Locks the tenant's owner rows (PostgreSQL) so two concurrent demotions
/// cannot both see "another owner remains" and leave none. SQLite serialises
/// writers already.
async fn owners_locked(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
) -> AppResult<Vec<memberships::Model>> {
    let mut select =
        scoped::<memberships::Entity>(ctx).filter(memberships::Column::Role.eq(MemberRole::Owner));
    if is_postgres(txn) {
        select = select.lock_exclusive();
    }
    Ok(select.all(txn).await?)
}

fn ensure_owner_remains(owners: &[memberships::Model], leaving: Uuid) -> AppResult<()> {
    if owners.iter().all(|owner| owner.id == leaving) {
        return Err(AppError::conflict(
            "a tenant must keep at least one owner: make someone else owner first",
        ));
    }
    Ok(())
}

/// Changes a member's role.
pub(super) async fn update_role(
    shared: &Shared,
    ctx: &RequestCtx,
    member_id: Uuid,
    role: Role,
) -> AppResult<memberships::Model> {
    ctx.require_admin()?;
    ensure_may_assign(ctx, role)?;
    let txn = begin_write(&shared.db, ctx).await?;
    let owners = owners_locked(&txn, ctx).await?;
    let member = find_owned::<memberships::Entity>(&txn, ctx, member_id, "member").await?;
    let current = Role::from(member.role);
    if current == Role::Owner {
        ctx.require_role(Role::Owner)?;
        if role != Role::Owner {
            ensure_owner_remains(&owners, member.id)?;
        }
    }
    let mut active = member.into_active_model();
    active.role = Set(MemberRole::from(role));
    active.updated_at = Set(Utc::now().fixed_offset());
    active.updated_by = Set(ctx.user_id());
    let updated = active.update(&txn).await?;
    commit_with(
        shared,
        txn,
        ctx,
        vec![NewDomainEvent::new(
            DomainEventKind::MemberRoleChanged,
            updated.id,
        )],
    )
    .await?;
    Ok(updated)
}

/// Removes a member; their sessions in this tenant end with the membership
/// (refresh tokens cascade, access tokens are checked against it per request).
pub(super) async fn remove(
    shared: &Shared,
    ctx: &RequestCtx,
    member_id: Uuid,
) -> AppResult<memberships::Model> {
    ctx.require_admin()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let owners = owners_locked(&txn, ctx).await?;
    let member = find_owned::<memberships::Entity>(&txn, ctx, member_id, "member").await?;
    if Role::from(member.role) == Role::Owner {
        ctx.require_role(Role::Owner)?;
        ensure_owner_remains(&owners, member.id)?;
    }
    let unassigned = delete_membership(&txn, &member).await?;
    let mut written = vec![NewDomainEvent::new(
        DomainEventKind::MemberRemoved,
        member.id,
    )];
    written.extend(
        unassigned
            .iter()
            .map(|lead| crate::crm::leads::events::fields_changed(*lead, &["ownerId"])),
    );
    commit_with(shared, txn, ctx, written).await?;
    Ok(member)
}

/// Deletes the membership; returns the leads it owned, now unassigned.
async fn delete_membership(
    conn: &impl ConnectionTrait,
    member: &memberships::Model,
) -> AppResult<Vec<Uuid>> {
    // Leads reference their owner's membership; a departing member's leads
    // become unassigned rather than blocking the removal.
    let unassign = tenant_update::<leads::Entity>(member.tenant_id)
        .col_expr(leads::Column::OwnerId, Expr::value(Option::<Uuid>::None))
        .filter(leads::Column::OwnerId.eq(member.user_id));
    let unassigned = update_returning_ids(conn, unassign).await?;
    tenant_delete::<memberships::Entity>(member.tenant_id)
        .filter(memberships::Column::Id.eq(member.id))
        .exec(conn)
        .await?;
    Ok(unassigned)
}
