//! Turns a bearer credential into a `RequestCtx`, or refuses it.
//!
//! Both kinds of credential are checked against the live database on every
//! request: a removed member, a revoked key, a signed-out session or a
//! deactivated tenant stops working at once, not when the token expires.
//!
//! The check runs in a transaction bound to the credential's tenant (and
//! user), in the round trip that checks it. A query request keeps that
//! transaction and reads everything in it (`RequestCtx::txn`).

use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use entity::{api_keys, tenants};

use super::jwt::JwtKeys;
use super::tokens::{self, TokenKind};
use crate::error::{AppError, AppResult};
use crate::tenancy::scoped::{
    RequestTxn, begin_as_member, begin_for, begin_for_write, end_read, tenant_rows, tenant_update,
};
use crate::tenancy::{Actor, RequestCtx, Role, Scope};

/// How often `api_keys.last_used_at` is refreshed: a write per request would
/// turn every partner read into a write.
const LAST_USED_GRANULARITY_SECS: i64 = 60;

/// Authenticates an `Authorization` header value (`Bearer <token>`). With
/// `keep_txn`, the caller's context keeps the transaction the credential
/// was checked in, for the request's reads.
pub async fn from_header(
    db: &sea_orm::DatabaseConnection,
    jwt: &JwtKeys,
    header: &str,
    keep_txn: bool,
) -> AppResult<RequestCtx> {
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            AppError::unauthenticated("expected an Authorization: Bearer <token> header")
        })?;
    check(db, jwt, token, keep_txn).await
}

/// Authenticates a bare token (the WebSocket `connection_init` payload).
pub async fn from_token(
    db: &sea_orm::DatabaseConnection,
    jwt: &JwtKeys,
    token: &str,
) -> AppResult<RequestCtx> {
    check(db, jwt, token, false).await
}

async fn check(
    db: &sea_orm::DatabaseConnection,
    jwt: &JwtKeys,
    token: &str,
    keep_txn: bool,
) -> AppResult<RequestCtx> {
    if tokens::is_api_key(token) {
        api_key(db, token, keep_txn).await
    } else {
        access_token(db, jwt, token, keep_txn).await
    }
}

/// The checked credential's transaction: kept for the request's reads, or
/// ended.
async fn keep_or_end(txn: sea_orm::DatabaseTransaction, keep: bool) -> AppResult<RequestTxn> {
    if keep {
        return Ok(RequestTxn::holding(txn));
    }
    end_read(txn).await?;
    Ok(RequestTxn::default())
}

async fn access_token(
    db: &sea_orm::DatabaseConnection,
    jwt: &JwtKeys,
    token: &str,
    keep_txn: bool,
) -> AppResult<RequestCtx> {
    let grant = jwt.grant(token).map_err(|e| {
        tracing::debug!(error = %e, "access token refused");
        AppError::unauthenticated("invalid or expired access token")
    })?;
    let (txn, role) = begin_as_member(db, grant.tenant_id, grant.user_id, grant.session_id).await?;
    let role = role.ok_or_else(|| {
        AppError::unauthenticated(
            "the session of this token has ended (signed out), or its membership, user or \
             tenant is no longer active",
        )
    })?;
    let txn = keep_or_end(txn, keep_txn).await?;
    Ok(RequestCtx {
        tenant_id: grant.tenant_id,
        role: Role::from(role),
        actor: Actor::User {
            user_id: grant.user_id,
        },
        expires_at: Some(grant.expires_at),
        txn,
    })
}

async fn api_key(
    db: &sea_orm::DatabaseConnection,
    token: &str,
    keep_txn: bool,
) -> AppResult<RequestCtx> {
    let refused = || AppError::unauthenticated("invalid, expired or revoked API key");
    let presented = tokens::parse(TokenKind::ApiKey, token).ok_or_else(refused)?;
    let txn = begin_for(db, presented.tenant_id, None).await?;
    let (key, tenant) = find_key(&txn, &presented).await?;
    let key = key.ok_or_else(refused)?;
    let now = Utc::now();
    if key.revoked_at.is_some() || key.expires_at.is_some_and(|at| at <= now) {
        return Err(refused());
    }
    ensure_tenant_active(tenant)?;
    let stale = key
        .last_used_at
        .is_none_or(|at| (now - at.to_utc()).num_seconds() >= LAST_USED_GRANULARITY_SECS);
    if stale {
        // A write only once a minute per key, in its own short transaction
        // (the request's transaction only reads). A query request holds a
        // read slot, so a connection is left for it (`Shared::read_slots`).
        let txn = begin_for_write(db, key.tenant_id, None).await?;
        tenant_update::<api_keys::Entity>(key.tenant_id)
            .col_expr(
                api_keys::Column::LastUsedAt,
                sea_orm::sea_query::Expr::value(now.fixed_offset()),
            )
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
    let txn = keep_or_end(txn, keep_txn).await?;
    Ok(RequestCtx {
        tenant_id: key.tenant_id,
        role,
        actor: Actor::ApiKey {
            key_id: key.id,
            scopes,
        },
        expires_at: key.expires_at.map(|at| at.timestamp()),
        txn,
    })
}

/// The presented key's row and its tenant, read bound to the tenant the key
/// names.
async fn find_key(
    conn: &impl ConnectionTrait,
    presented: &tokens::Presented,
) -> AppResult<(Option<api_keys::Model>, Option<tenants::Model>)> {
    let Some(key) = tenant_rows::<api_keys::Entity>(presented.tenant_id)
        .filter(api_keys::Column::KeyHash.eq(presented.hash.clone()))
        .one(conn)
        .await?
    else {
        return Ok((None, None));
    };
    let tenant = tenants::Entity::find_by_id(key.tenant_id).one(conn).await?;
    Ok((Some(key), tenant))
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
