//! The directory of public ids: the one place a public route (a form, a
//! tracking site key) learns which tenant it belongs to, since it has no
//! caller. The table is shared by every tenant, so it is read and written
//! as the system role (`migration::SHARED_TABLES`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use entity::public_ids;
use entity::sea_orm_active_enums::PublicIdKind;

use crate::error::AppResult;
use crate::tenancy::scoped::{as_system, begin_system_write, end_read};

/// 128 random bits, URL-safe: unguessable, and short enough for a snippet.
pub(crate) fn mint() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Records `public_id` for `target_id` in the caller's transaction (which
/// is bound to `tenant_id`).
pub(crate) async fn register(
    conn: &impl ConnectionTrait,
    public_id: &str,
    kind: PublicIdKind,
    tenant_id: Uuid,
    target_id: Uuid,
) -> AppResult<()> {
    as_system(conn, async {
        public_ids::ActiveModel {
            public_id: Set(public_id.to_owned()),
            kind: Set(kind),
            tenant_id: Set(tenant_id),
            target_id: Set(target_id),
            created_at: Set(chrono::Utc::now().fixed_offset()),
        }
        .insert(conn)
        .await?;
        Ok(())
    })
    .await
}

/// Forgets `public_id` (its form or site was deleted): the public routes
/// answer 404 for it from then on.
pub(crate) async fn unregister(conn: &impl ConnectionTrait, public_id: &str) -> AppResult<()> {
    as_system(conn, async {
        public_ids::Entity::delete_by_id(public_id.to_owned())
            .exec(conn)
            .await?;
        Ok(())
    })
    .await
}

/// The tenant and target of a public id of `kind`, if there is one.
pub(crate) async fn resolve(
    db: &sea_orm::DatabaseConnection,
    public_id: &str,
    kind: PublicIdKind,
) -> AppResult<Option<(Uuid, Uuid)>> {
    // Longer than any id minted here: not worth a query.
    if public_id.len() > 64 {
        return Ok(None);
    }
    let txn = begin_system_write(db).await?;
    let found = public_ids::Entity::find_by_id(public_id.to_owned())
        .filter(public_ids::Column::Kind.eq(kind))
        .one(&txn)
        .await?;
    end_read(txn).await?;
    Ok(found.map(|row| (row.tenant_id, row.target_id)))
}
