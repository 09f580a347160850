//! Turns a bearer credential into a `RequestCtx`, or refuses it.
//!
//! Both kinds of credential are checked against the live database on every
//! request: a removed member, a revoked key or a deactivated tenant stops
//! working at once, not when the token expires.

use chrono::Utc;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};

use entity::{api_keys, tenants};

use super::jwt::JwtKeys;
use super::tokens::{self, TokenKind};
use crate::error::{AppError, AppResult};
use crate::tenancy::scoped::{begin_as_member, begin_for, begin_for_write, end_read};
use crate::tenancy::{Actor, RequestCtx, Role, Scope};

/// How often `api_keys.last_used_at` is refreshed: a write per request would
/// turn every partner read into a write.
const LAST_USED_GRANULARITY_SECS: i64 = 60;

/// Authenticates an `Authorization` header value (`Bearer <token>`). With
/// `keep_open`, the transaction the credential was checked in (bound to its
/// tenant and user) comes back still open, for the request's reads to
/// continue in: a query request then pays for one transaction, not two.
pub async fn from_header(
    db: &sea_orm::DatabaseConnection,
    jwt: &JwtKeys,
    header: &str,
    keep_open: bool,
) -> AppResult<(RequestCtx, Option<DatabaseTransaction>)> {
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            AppError::unauthenticated("expected an Authorization: Bearer <token> header")
        })?;
    check(db, jwt, token, keep_open).await
}

/// Authenticates a bare token (the WebSocket `connection_init` payload).
pub async fn from_token(
    db: &sea_orm::DatabaseConnection,
    jwt: &JwtKeys,
    token: &str,
) -> AppResult<RequestCtx> {
    Ok(check(db, jwt, token, false).await?.0)
}

async fn check(
    db: &sea_orm::DatabaseConnection,
    jwt: &JwtKeys,
    token: &str,
    keep_open: bool,
) -> AppResult<(RequestCtx, Option<DatabaseTransaction>)> {
    if tokens::is_api_key(token) {
        api_key(db, token, keep_open).await
    } else {
        access_token(db, jwt, token, keep_open).await
    }
}

/// Ends `txn` (it only read), or hands it back when the caller keeps
/// reading in it.
async fn keep_or_end(
    txn: DatabaseTransaction,
    keep_open: bool,
) -> AppResult<Option<DatabaseTransaction>> {
    if keep_open {
        return Ok(Some(txn));
    }
    end_read(txn).await?;
    Ok(None)
}

async fn access_token(
    db: &sea_orm::DatabaseConnection,
    jwt: &JwtKeys,
    token: &str,
    keep_open: bool,
) -> AppResult<(RequestCtx, Option<DatabaseTransaction>)> {
    let claims = jwt.verify(token).map_err(|e| {
        tracing::debug!(error = %e, "access token refused");
        AppError::unauthenticated("invalid or expired access token")
    })?;
    let (txn, role) = begin_as_member(db, claims.tid, claims.sub).await?;
    let role = match role {
        Some(role) => role,
        None => {
            end_read(txn).await?;
            return Err(AppError::unauthenticated(
                "the membership, user or tenant of this token is no longer active",
            ));
        }
    };
    let ctx = RequestCtx {
        tenant_id: claims.tid,
        role: Role::from(role),
        actor: Actor::User {
            user_id: claims.sub,
        },
        expires_at: Some(claims.exp),
    };
    Ok((ctx, keep_or_end(txn, keep_open).await?))
}

async fn api_key(
    db: &sea_orm::DatabaseConnection,
    token: &str,
    keep_open: bool,
) -> AppResult<(RequestCtx, Option<DatabaseTransaction>)> {
    let refused = || AppError::unauthenticated("invalid, expired or revoked API key");
    let presented = tokens::parse(TokenKind::ApiKey, token).ok_or_else(refused)?;
    let txn = begin_for(db, presented.tenant_id, None).await?;
    let key = api_keys::Entity::find()
        .filter(api_keys::Column::TenantId.eq(presented.tenant_id))
        .filter(api_keys::Column::KeyHash.eq(presented.hash))
        .one(&txn)
        .await?
        .ok_or_else(refused)?;
    let tenant = tenants::Entity::find_by_id(key.tenant_id).one(&txn).await?;
    let now = Utc::now();
    let refusal = if key.revoked_at.is_some() || key.expires_at.is_some_and(|at| at <= now) {
        Some(refused())
    } else {
        ensure_tenant_active(tenant).err()
    };
    if let Some(refusal) = refusal {
        end_read(txn).await?;
        return Err(refusal);
    }
    let stale = key
        .last_used_at
        .is_none_or(|at| (now - at.to_utc()).num_seconds() >= LAST_USED_GRANULARITY_SECS);
    // A read transaction kept open across that write would hold two
    // connections at once; then the caller reads in a fresh one instead.
    let reads = keep_or_end(txn, keep_open && !stale).await?;
    if stale {
        // A write only once a minute per key, in its own short transaction.
        let txn = begin_for_write(db, key.tenant_id, None).await?;
        api_keys::Entity::update_many()
            .col_expr(
                api_keys::Column::LastUsedAt,
                sea_orm::sea_query::Expr::value(now.fixed_offset()),
            )
            .filter(api_keys::Column::TenantId.eq(key.tenant_id))
            .filter(api_keys::Column::Id.eq(key.id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
    }
    let scopes = parse_scopes(&key.scopes);
    let role = scopes
        .iter()
        .map(|scope| scope.acting_role())
        .max()
        .ok_or_else(refused)?;
    let ctx = RequestCtx {
        tenant_id: key.tenant_id,
        role,
        actor: Actor::ApiKey {
            key_id: key.id,
            scopes,
        },
        expires_at: key.expires_at.map(|at| at.timestamp()),
    };
    Ok((ctx, reads))
}

fn ensure_tenant_active(tenant: Option<tenants::Model>) -> AppResult<()> {
    match tenant {
        Some(tenant) if tenant.is_active && tenant.deleted_at.is_none() => Ok(()),
        _ => Err(AppError::unauthenticated("tenant is deactivated")),
    }
}

/// Scopes stored as a JSON array of strings; unknown entries are ignored.
pub fn parse_scopes(value: &serde_json::Value) -> Vec<Scope> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|s| s.as_str().and_then(Scope::parse))
                .collect()
        })
        .unwrap_or_default()
}
