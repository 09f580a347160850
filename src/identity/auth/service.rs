//! Sign-up, login, refresh rotation, logout and tenant switching.

use chrono::{Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set, Statement,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use entity::sea_orm_active_enums::{MemberRole, PlanTier};
use entity::{memberships, plans, refresh_tokens, tenants, user_logins, users};

use super::tokens::{self, TokenKind};
use super::types::{LoginInput, SignUpInput};
use crate::db::is_postgres;
use crate::domain::{EmailAddress, Password, Slug, required_text};
use crate::error::{AppError, AppResult, on_unique};
use crate::state::Shared;
use crate::tenancy::scoped::{
    as_system, begin_for_write, begin_global, begin_global_write, bind, scoped, tenant_rows,
    tenant_update,
};
use crate::tenancy::{RequestCtx, RequestMeta, Role};

/// The message for every failed login: it never says whether the email exists.
const INVALID_CREDENTIALS: &str = "invalid email or password";
/// `user_logins.failure_reason` values. An attempt is recorded as
/// `checking` before its password is verified and settled after; the
/// attempts that count toward the limit are the wrong ones and those still
/// being checked.
const REASON_INVALID: &str = "invalid_credentials";
const REASON_CHECKING: &str = "checking";
const REASON_RATE_LIMITED: &str = "rate_limited";
/// The password was right, but there was no tenant to sign in to (not a
/// member of the one named, or it is deactivated).
const REASON_NOT_ADMITTED: &str = "not_admitted";

/// A signed-in session: what `AuthPayload` shows.
pub struct Session {
    pub access_token: String,
    pub expires_at: i64,
    pub refresh_token: String,
    pub user: users::Model,
    pub tenant: tenants::Model,
    pub role: Role,
}

/// `lower(email) = <email>`: matches the case-insensitive unique index on
/// users (emails are stored lowercased too, so this is exact).
pub fn user_email_is(email: &str) -> Expr {
    use sea_orm::sea_query::{ExprTrait, Func};
    Expr::expr(Func::lower(Expr::col(users::Column::Email))).eq(email.to_lowercase())
}

/// A person's display name.
pub fn person_name(value: &str, field: &str) -> AppResult<String> {
    required_text(value, field, 200)
}

/// Creates the user, the tenant and an owner membership, and signs in.
pub async fn sign_up(
    shared: &Shared,
    meta: &RequestMeta,
    input: SignUpInput,
) -> AppResult<Session> {
    let email = EmailAddress::parse(&input.email, "input.email")?;
    let password = Password::parse(&input.password, "input.password")?;
    let name = person_name(&input.name, "input.name")?;
    let tenant_name = required_text(&input.tenant_name, "input.tenantName", 200)?;
    let slug = Slug::parse(&input.tenant_slug, "input.tenantSlug")?;
    let password_hash = shared.passwords.hash(password).await?;

    let (user_id, tenant_id) = (Uuid::now_v7(), Uuid::now_v7());
    let now = Utc::now().fixed_offset();
    let txn = begin_for_write(&shared.db, tenant_id, Some(user_id)).await?;
    if users::Entity::find()
        .filter(user_email_is(email.as_str()))
        .one(&txn)
        .await?
        .is_some()
    {
        return Err(AppError::duplicate(
            "input.email",
            "an account with this email already exists; sign in instead",
        ));
    }
    if tenants::Entity::find()
        .filter(tenants::Column::Slug.eq(slug.as_str()))
        .one(&txn)
        .await?
        .is_some()
    {
        return Err(AppError::duplicate("input.tenantSlug", "is already taken"));
    }
    let plan = plans::Entity::find()
        .filter(plans::Column::Tier.eq(PlanTier::Basic))
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the basic plan is missing")))?;
    let user = users::ActiveModel {
        id: Set(user_id),
        email: Set(email.into_inner()),
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
        on_unique(
            e,
            Some("input.email"),
            "an account with this email already exists",
        )
    })?;
    let tenant = tenants::ActiveModel {
        id: Set(tenant_id),
        name: Set(tenant_name),
        slug: Set(slug.into_inner()),
        plan_id: Set(plan.id),
        max_leads: Set(plan.max_leads),
        max_emails_per_day: Set(plan.max_emails_per_day),
        max_users: Set(plan.max_users),
        branding: Set(serde_json::json!({})),
        industry: Set(None),
        business_type: Set(None),
        settings: Set(serde_json::json!({})),
        features: Set(serde_json::json!([])),
        credit_balance: Set(plan.monthly_credits),
        is_active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(None),
    }
    .insert(&txn)
    .await
    .map_err(|e| on_unique(e, Some("input.tenantSlug"), "is already taken"))?;
    insert_membership(&txn, tenant_id, user_id, Role::Owner, true, None).await?;
    crate::crm::pipeline::seed_default(&txn, tenant_id).await?;
    let session = start_session(&txn, shared, meta, user, tenant, Role::Owner, None).await?;
    txn.commit().await?;
    Ok(session)
}

/// Adds `user_id` to `tenant_id` with `role`.
pub async fn insert_membership(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
    role: Role,
    is_primary: bool,
    created_by: Option<Uuid>,
) -> AppResult<memberships::Model> {
    let now = Utc::now().fixed_offset();
    memberships::ActiveModel {
        tenant_id: Set(tenant_id),
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        role: Set(MemberRole::from(role)),
        is_primary: Set(is_primary),
        permissions: Set(serde_json::json!([])),
        created_at: Set(now),
        updated_at: Set(now),
        created_by: Set(created_by),
        updated_by: Set(created_by),
    }
    .insert(conn)
    .await
    .map_err(|e| on_unique(e, None, "already a member of this tenant"))
}

/// Mints a refresh token (in `family`, or a new one) and an access token.
/// Runs inside the caller's transaction, which must be bound to `tenant`.
pub async fn start_session(
    txn: &DatabaseTransaction,
    shared: &Shared,
    meta: &RequestMeta,
    user: users::Model,
    tenant: tenants::Model,
    role: Role,
    family: Option<Uuid>,
) -> AppResult<Session> {
    let now = Utc::now();
    let minted = tokens::mint(TokenKind::Refresh, tenant.id);
    // The family is the session: its access tokens name it, and work
    // while one of its refresh tokens is unrevoked.
    let family = family.unwrap_or_else(Uuid::now_v7);
    refresh_tokens::ActiveModel {
        tenant_id: Set(tenant.id),
        id: Set(Uuid::now_v7()),
        user_id: Set(user.id),
        family_id: Set(family),
        token_hash: Set(minted.hash),
        expires_at: Set((now + Duration::days(shared.config.refresh_token_ttl_days)).fixed_offset()),
        revoked_at: Set(None),
        replaced_by: Set(None),
        ip: Set(meta.ip.clone()),
        user_agent: Set(meta.user_agent.clone()),
        created_at: Set(now.fixed_offset()),
    }
    .insert(txn)
    .await?;
    let (access_token, expires_at) = shared
        .jwt
        .issue(user.id, tenant.id, family, role)
        .map_err(AppError::internal)?;
    Ok(Session {
        access_token,
        expires_at,
        refresh_token: minted.token,
        user,
        tenant,
        role,
    })
}

/// Records an attempt for `email`; returns its id.
async fn record_login(
    conn: &impl ConnectionTrait,
    email: &str,
    meta: &RequestMeta,
    failure: &str,
) -> AppResult<Uuid> {
    // Login attempts are shared by every tenant: only `promohub_system`
    // may read or write them.
    let id = Uuid::now_v7();
    let attempt = user_logins::ActiveModel {
        id: Set(id),
        user_id: Set(None),
        tenant_id: Set(None),
        email: Set(email.to_owned()),
        ip: Set(meta.ip.clone()),
        user_agent: Set(meta.user_agent.clone()),
        success: Set(false),
        failure_reason: Set(Some(failure.to_owned())),
        created_at: Set(Utc::now().fixed_offset()),
    };
    as_system(conn, async {
        user_logins::Entity::insert(attempt)
            .exec_without_returning(conn)
            .await?;
        Ok(())
    })
    .await?;
    Ok(id)
}

/// Settles a reserved attempt: a success (`failure` is `None`) or why not.
async fn settle_login(
    conn: &impl ConnectionTrait,
    attempt_id: Uuid,
    user_id: Option<Uuid>,
    tenant_id: Option<Uuid>,
    failure: Option<&str>,
) -> AppResult<()> {
    let update = user_logins::Entity::update_many()
        .col_expr(user_logins::Column::Success, Expr::value(failure.is_none()))
        .col_expr(
            user_logins::Column::FailureReason,
            Expr::value(failure.map(str::to_owned)),
        )
        .col_expr(user_logins::Column::UserId, Expr::value(user_id))
        .col_expr(user_logins::Column::TenantId, Expr::value(tenant_id))
        .filter(user_logins::Column::Id.eq(attempt_id));
    as_system(conn, async {
        update.exec(conn).await?;
        Ok(())
    })
    .await
}

/// [`settle_login`] for an attempt that failed, in a transaction of its own.
async fn settle_failed_login(
    shared: &Shared,
    attempt_id: Uuid,
    user_id: Option<Uuid>,
    failure: &str,
) -> AppResult<()> {
    let txn = begin_global_write(&shared.db, None).await?;
    settle_login(&txn, attempt_id, user_id, None, Some(failure)).await?;
    txn.commit().await?;
    Ok(())
}

/// Holds, until `txn` ends, the lock on the login attempts of `email`: whoever
/// holds it counts the attempts in the window and reserves one as a single
/// step, so concurrent attempts cannot all see room under the limit.
///
/// On PostgreSQL it is a transaction-scoped advisory lock on a hash of the
/// email, which every server process on the database shares (an in-process
/// lock would leave one window per process); two emails whose hashes
/// collide only wait for each other. On SQLite a write transaction begins
/// `IMMEDIATE` and so already holds the database's single write lock.
async fn lock_login_attempts(txn: &DatabaseTransaction, email: &str) -> AppResult<()> {
    if !is_postgres(txn) {
        return Ok(());
    }
    let digest = Sha256::digest(format!("promohub.login:{email}").as_bytes());
    let key = i64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 has 8 bytes"));
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [key.into()],
    ))
    .await?;
    Ok(())
}

/// Refuses the attempt if this email had too many wrong passwords in the
/// window, counting the attempts whose password is still being checked.
async fn check_login_rate(
    conn: &impl ConnectionTrait,
    shared: &Shared,
    email: &str,
) -> AppResult<()> {
    let limits = &shared.config.limits;
    let window_start = Utc::now() - Duration::seconds(limits.login_window_secs);
    let failures = user_logins::Entity::find()
        .filter(user_logins::Column::Email.eq(email))
        .filter(user_logins::Column::Success.eq(false))
        .filter(user_logins::Column::FailureReason.is_in([REASON_INVALID, REASON_CHECKING]))
        .filter(user_logins::Column::CreatedAt.gt(window_start.fixed_offset()))
        .order_by_asc(user_logins::Column::CreatedAt);
    let (count, oldest) = as_system(conn, async {
        let count = failures.clone().count(conn).await?;
        let oldest = if count < limits.login_max_failures {
            None
        } else {
            failures.one(conn).await?
        };
        Ok((count, oldest))
    })
    .await?;
    if count < limits.login_max_failures {
        return Ok(());
    }
    let oldest = oldest
        .map(|row| row.created_at.to_utc())
        .unwrap_or_else(Utc::now);
    let retry_after = (oldest + Duration::seconds(limits.login_window_secs) - Utc::now())
        .num_seconds()
        .max(1);
    Err(AppError::RateLimited {
        message: "too many failed sign-in attempts; try again later".to_owned(),
        retry_after_secs: retry_after as u64,
    })
}

/// Reserves an attempt for `email` before its password is checked (or
/// refuses it when the limit is reached), and finds the user.
///
/// The reservation is what bounds password checks: an attempt counts from
/// the moment it is reserved, so of any number sent at once at most
/// `login_max_failures` are verified per email and window, and none once
/// the limit is reached, a right password included. An attempt whose
/// server died mid-check stays `checking` and counts as a failure until the
/// window passes it.
async fn reserve_login(
    shared: &Shared,
    meta: &RequestMeta,
    email: &str,
) -> AppResult<(Uuid, Option<users::Model>)> {
    let txn = begin_global_write(&shared.db, None).await?;
    lock_login_attempts(&txn, email).await?;
    if let Err(refusal) = check_login_rate(&txn, shared, email).await {
        record_login(&txn, email, meta, REASON_RATE_LIMITED).await?;
        txn.commit().await?;
        return Err(refusal);
    }
    let attempt_id = record_login(&txn, email, meta, REASON_CHECKING).await?;
    let user = users::Entity::find()
        .filter(user_email_is(email))
        .one(&txn)
        .await?;
    txn.commit().await?;
    Ok((attempt_id, user))
}

/// Email and password, optionally into a named tenant (else the primary one).
pub async fn login(shared: &Shared, meta: &RequestMeta, input: LoginInput) -> AppResult<Session> {
    let email = input.email.trim().to_lowercase();
    let (attempt_id, user) = reserve_login(shared, meta, &email).await?;
    // Verify outside any transaction: hashing takes tens of milliseconds and
    // must not hold a pooled connection.
    let password_ok = shared
        .passwords
        .verify(
            input.password,
            user.as_ref().map(|u| u.password_hash.clone()),
        )
        .await;
    let user = match user {
        Some(user) if password_ok && user.is_active => user,
        user => {
            settle_failed_login(shared, attempt_id, user.map(|u| u.id), REASON_INVALID).await?;
            return Err(AppError::unauthenticated(INVALID_CREDENTIALS));
        }
    };
    let user_id = user.id;
    match admit(shared, meta, input.tenant_slug.as_deref(), user, attempt_id).await {
        Ok(session) => Ok(session),
        Err(refusal) => {
            // Settled apart: the refused transaction took its settling along.
            settle_failed_login(shared, attempt_id, Some(user_id), REASON_NOT_ADMITTED).await?;
            Err(refusal)
        }
    }
}

/// Signs a user whose password was right in to the tenant named by
/// `tenant_slug` (else their primary one) and settles the attempt.
async fn admit(
    shared: &Shared,
    meta: &RequestMeta,
    tenant_slug: Option<&str>,
    user: users::Model,
    attempt_id: Uuid,
) -> AppResult<Session> {
    let txn = begin_global_write(&shared.db, Some(user.id)).await?;
    // The user's memberships in every tenant, or in the one asked for.
    let mut candidates = memberships::Entity::find();
    if let Some(slug) = tenant_slug {
        let tenant = tenants::Entity::find()
            .filter(tenants::Column::Slug.eq(slug.trim().to_lowercase()))
            .one(&txn)
            .await?;
        let Some(tenant) = tenant else {
            return Err(AppError::invalid(
                "input.tenantSlug",
                "you are not a member of that tenant",
            ));
        };
        candidates = tenant_rows::<memberships::Entity>(tenant.id);
    }
    let candidates = candidates
        .filter(memberships::Column::UserId.eq(user.id))
        .order_by_desc(memberships::Column::IsPrimary)
        .order_by_asc(memberships::Column::CreatedAt);
    let Some(membership) = candidates.one(&txn).await? else {
        return Err(match tenant_slug {
            Some(_) => AppError::invalid("input.tenantSlug", "you are not a member of that tenant"),
            None => AppError::forbidden("this account is not a member of any tenant"),
        });
    };
    let tenant = active_tenant(&txn, membership.tenant_id).await?;
    bind(&txn, Some(tenant.id), Some(user.id)).await?;
    settle_login(&txn, attempt_id, Some(user.id), Some(tenant.id), None).await?;
    users::Entity::update_many()
        .col_expr(
            users::Column::LastLoginAt,
            Expr::value(Utc::now().fixed_offset()),
        )
        .filter(users::Column::Id.eq(user.id))
        .exec(&txn)
        .await?;
    let session = start_session(
        &txn,
        shared,
        meta,
        user,
        tenant,
        Role::from(membership.role),
        None,
    )
    .await?;
    txn.commit().await?;
    Ok(session)
}

async fn active_tenant(conn: &impl ConnectionTrait, tenant_id: Uuid) -> AppResult<tenants::Model> {
    match tenants::Entity::find_by_id(tenant_id).one(conn).await? {
        Some(tenant) if tenant.is_active && tenant.deleted_at.is_none() => Ok(tenant),
        Some(_) => Err(AppError::forbidden("this tenant is deactivated")),
        None => Err(AppError::not_found("tenant")),
    }
}

/// Rotates a refresh token. Presenting a token that was already rotated (or
/// revoked) means it leaked: the whole family is revoked.
pub async fn refresh(shared: &Shared, meta: &RequestMeta, token: &str) -> AppResult<Session> {
    let refused = || AppError::unauthenticated("invalid or expired refresh token");
    let presented = tokens::parse(TokenKind::Refresh, token).ok_or_else(refused)?;
    let txn = begin_for_write(&shared.db, presented.tenant_id, None).await?;
    let current = tenant_rows::<refresh_tokens::Entity>(presented.tenant_id)
        .filter(refresh_tokens::Column::TokenHash.eq(presented.hash))
        .one(&txn)
        .await?
        .ok_or_else(refused)?;
    let now = Utc::now();
    if current.revoked_at.is_some() {
        revoke_family(&txn, current.tenant_id, current.family_id).await?;
        txn.commit().await?;
        return Err(AppError::unauthenticated(
            "this refresh token was already used; every session from that sign-in is now revoked",
        ));
    }
    if current.expires_at.to_utc() <= now {
        return Err(refused());
    }
    // Claim the token atomically: of two concurrent refreshes only one wins,
    // and the loser is treated as reuse.
    let claimed = tenant_update::<refresh_tokens::Entity>(current.tenant_id)
        .col_expr(
            refresh_tokens::Column::RevokedAt,
            Expr::value(now.fixed_offset()),
        )
        .filter(refresh_tokens::Column::Id.eq(current.id))
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        revoke_family(&txn, current.tenant_id, current.family_id).await?;
        txn.commit().await?;
        return Err(refused());
    }
    bind(&txn, Some(current.tenant_id), Some(current.user_id)).await?;
    let membership = tenant_rows::<memberships::Entity>(current.tenant_id)
        .filter(memberships::Column::UserId.eq(current.user_id))
        .one(&txn)
        .await?
        .ok_or_else(refused)?;
    let user = users::Entity::find_by_id(current.user_id)
        .one(&txn)
        .await?
        .filter(|user| user.is_active)
        .ok_or_else(refused)?;
    let tenant = active_tenant(&txn, current.tenant_id).await?;
    let session = start_session(
        &txn,
        shared,
        meta,
        user,
        tenant,
        Role::from(membership.role),
        Some(current.family_id),
    )
    .await?;
    txn.commit().await?;
    Ok(session)
}

async fn revoke_family(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    family_id: Uuid,
) -> AppResult<u64> {
    let result = tenant_update::<refresh_tokens::Entity>(tenant_id)
        .col_expr(
            refresh_tokens::Column::RevokedAt,
            Expr::value(Utc::now().fixed_offset()),
        )
        .filter(refresh_tokens::Column::FamilyId.eq(family_id))
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}

/// Ends sessions: the one the refresh token belongs to, or every session of
/// the caller in this tenant when no token is given. Revoking a session's
/// refresh tokens also ends its access tokens: authentication checks the
/// session they name (`authenticate`).
pub async fn logout(
    shared: &Shared,
    ctx: &RequestCtx,
    refresh_token: Option<&str>,
) -> AppResult<u64> {
    let user_id = ctx.require_user()?;
    let txn = crate::tenancy::scoped::begin_write(&shared.db, ctx).await?;
    let revoked = match refresh_token {
        Some(token) => {
            let presented = tokens::parse(TokenKind::Refresh, token)
                .filter(|p| p.tenant_id == ctx.tenant_id)
                .ok_or_else(|| {
                    AppError::invalid("refreshToken", "is not a refresh token of this session")
                })?;
            let row = scoped::<refresh_tokens::Entity>(ctx)
                .filter(refresh_tokens::Column::UserId.eq(user_id))
                .filter(refresh_tokens::Column::TokenHash.eq(presented.hash))
                .one(&txn)
                .await?
                .ok_or_else(|| {
                    AppError::invalid("refreshToken", "is not a refresh token of this session")
                })?;
            revoke_family(&txn, ctx.tenant_id, row.family_id).await?
        }
        None => {
            tenant_update::<refresh_tokens::Entity>(ctx.tenant_id)
                .col_expr(
                    refresh_tokens::Column::RevokedAt,
                    Expr::value(Utc::now().fixed_offset()),
                )
                .filter(refresh_tokens::Column::UserId.eq(user_id))
                .filter(refresh_tokens::Column::RevokedAt.is_null())
                .exec(&txn)
                .await?
                .rows_affected
        }
    };
    txn.commit().await?;
    Ok(revoked)
}

/// A new session in another tenant the caller belongs to.
pub async fn switch_tenant(
    shared: &Shared,
    ctx: &RequestCtx,
    meta: &RequestMeta,
    tenant_id: Uuid,
) -> AppResult<Session> {
    let user_id = ctx.require_user()?;
    let txn = begin_global_write(&shared.db, Some(user_id)).await?;
    let membership = tenant_rows::<memberships::Entity>(tenant_id)
        .filter(memberships::Column::UserId.eq(user_id))
        .one(&txn)
        .await?
        .ok_or(AppError::not_found("tenant"))?;
    let user = users::Entity::find_by_id(user_id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::unauthenticated("user no longer exists"))?;
    let tenant = active_tenant(&txn, tenant_id).await?;
    bind(&txn, Some(tenant_id), Some(user_id)).await?;
    let session = start_session(
        &txn,
        shared,
        meta,
        user,
        tenant,
        Role::from(membership.role),
        None,
    )
    .await?;
    txn.commit().await?;
    Ok(session)
}

/// What `me` shows: the person (none for an API key), every tenant they
/// belong to, and the current tenant and role.
pub struct Me {
    pub user: Option<users::Model>,
    pub memberships: Vec<(memberships::Model, tenants::Model)>,
    pub tenant: tenants::Model,
    pub role: Role,
}

pub async fn me(shared: &Shared, ctx: &RequestCtx) -> AppResult<Me> {
    let txn = begin_global(&shared.db, ctx.user_id()).await?;
    let tenant = tenants::Entity::find_by_id(ctx.tenant_id)
        .one(&txn)
        .await?
        .ok_or(AppError::not_found("tenant"))?;
    let (user, memberships) = match ctx.user_id() {
        Some(user_id) => {
            let user = users::Entity::find_by_id(user_id).one(&txn).await?;
            let rows = memberships::Entity::find()
                .filter(memberships::Column::UserId.eq(user_id))
                .order_by_asc(memberships::Column::CreatedAt)
                .all(&txn)
                .await?;
            let tenant_ids: Vec<Uuid> = rows.iter().map(|m| m.tenant_id).collect();
            let tenants = tenants::Entity::find()
                .filter(tenants::Column::Id.is_in(tenant_ids))
                .all(&txn)
                .await?;
            let joined = rows
                .into_iter()
                .filter_map(|m| {
                    let tenant = tenants.iter().find(|t| t.id == m.tenant_id)?.clone();
                    Some((m, tenant))
                })
                .collect();
            (user, joined)
        }
        None => (None, Vec::new()),
    };
    txn.commit().await?;
    Ok(Me {
        user,
        memberships,
        tenant,
        role: ctx.role,
    })
}
