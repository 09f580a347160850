//! Notes batched across a page: the newest live notes of many leads or
//! companies in one query, and the earlier versions of many notes in one.
//!
//! The generic `LatestChildrenLoader` cannot be used for notes because it
//! would count soft-deleted notes towards the limit; this one filters
//! `deleted_at IS NULL` before ranking.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IdenStatic, QueryFilter,
    QueryOrder,
};
use uuid::Uuid;

use entity::{note_versions, notes};

use crate::error::{AppError, AppResult};
use crate::graphql::loaders::ChildRelation;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin, scoped};

/// Notes on a lead (`notes.lead_id`).
pub struct NotesOfLead;

impl ChildRelation for NotesOfLead {
    type Entity = notes::Entity;

    fn parent_column() -> notes::Column {
        notes::Column::LeadId
    }

    fn parent_of(child: &notes::Model) -> Uuid {
        child.lead_id.unwrap_or_default()
    }
}

/// Notes on a company (`notes.company_id`).
pub struct NotesOfCompany;

impl ChildRelation for NotesOfCompany {
    type Entity = notes::Entity;

    fn parent_column() -> notes::Column {
        notes::Column::CompanyId
    }

    fn parent_of(child: &notes::Model) -> Uuid {
        child.company_id.unwrap_or_default()
    }
}

/// The newest `limit` live notes of many parents, keyed by `(parent, limit)`:
/// one query per distinct limit, ranked with
/// `ROW_NUMBER() OVER (PARTITION BY parent ORDER BY id DESC)`.
pub struct LatestNotesLoader<R> {
    db: DatabaseConnection,
    ctx: RequestCtx,
    relation: PhantomData<fn() -> R>,
}

impl<R> LatestNotesLoader<R> {
    pub fn new(db: DatabaseConnection, ctx: RequestCtx) -> Self {
        Self {
            db,
            ctx,
            relation: PhantomData,
        }
    }
}

impl<R> Loader<(Uuid, u64)> for LatestNotesLoader<R>
where
    R: ChildRelation<Entity = notes::Entity>,
{
    type Value = Vec<notes::Model>;
    type Error = Arc<AppError>;

    async fn load(
        &self,
        keys: &[(Uuid, u64)],
    ) -> Result<HashMap<(Uuid, u64), Self::Value>, Self::Error> {
        let run = async {
            let mut by_limit: HashMap<u64, Vec<Uuid>> = HashMap::new();
            for (parent, limit) in keys {
                by_limit.entry(*limit).or_default().push(*parent);
            }
            let parent = R::parent_column();
            let txn = begin(&self.db, &self.ctx).await?;
            let backend = txn.get_database_backend();
            let mut found = HashMap::new();
            for (limit, parents) in by_limit {
                let inner = Query::select()
                    .column(Asterisk)
                    .expr_as(
                        Expr::cust(format!(
                            "ROW_NUMBER() OVER (PARTITION BY \"{}\" ORDER BY \"id\" DESC)",
                            parent.as_str()
                        )),
                        Alias::new("row_in_parent"),
                    )
                    .from(notes::Entity)
                    .and_where(Expr::col(notes::Column::TenantId).eq(self.ctx.tenant_id))
                    .and_where(Expr::col(parent).is_in(parents.iter().copied()))
                    .and_where(Expr::col(notes::Column::DeletedAt).is_null())
                    .to_owned();
                let outer = Query::select()
                    .column(Asterisk)
                    .from_subquery(inner, Alias::new("ranked"))
                    .and_where(Expr::col(Alias::new("row_in_parent")).lte(limit))
                    .order_by(Alias::new("id"), sea_orm::Order::Desc)
                    .to_owned();
                let rows = notes::Entity::find()
                    .from_raw_sql(backend.build(&outer))
                    .all(&txn)
                    .await?;
                for parent_id in &parents {
                    found.insert((*parent_id, limit), Vec::new());
                }
                for row in rows {
                    if let Some(children) = found.get_mut(&(R::parent_of(&row), limit)) {
                        children.push(row);
                    }
                }
            }
            txn.commit().await?;
            AppResult::Ok(found)
        };
        run.await.map_err(Arc::new)
    }
}

/// Earlier versions of many notes, oldest first, keyed by note id.
pub struct NoteVersionsLoader {
    db: DatabaseConnection,
    ctx: RequestCtx,
}

impl NoteVersionsLoader {
    pub fn new(db: DatabaseConnection, ctx: RequestCtx) -> Self {
        Self { db, ctx }
    }
}

impl Loader<Uuid> for NoteVersionsLoader {
    type Value = Vec<note_versions::Model>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let run = async {
            let txn = begin(&self.db, &self.ctx).await?;
            let rows = scoped::<note_versions::Entity>(&self.ctx)
                .filter(note_versions::Column::NoteId.is_in(keys.iter().copied()))
                .order_by_asc(note_versions::Column::NoteId)
                .order_by_asc(note_versions::Column::Version)
                .all(&txn)
                .await?;
            txn.commit().await?;
            let mut found: HashMap<Uuid, Vec<note_versions::Model>> =
                keys.iter().map(|key| (*key, Vec::new())).collect();
            for row in rows {
                found.entry(row.note_id).or_default().push(row);
            }
            AppResult::Ok(found)
        };
        run.await.map_err(Arc::new)
    }
}
