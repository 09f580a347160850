//! Segments batched across a page: how many leads each segment of a page
//! has, and which segments each lead of a page is in, one statement each.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement, UnionType};
use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use entity::{leads, segments};

use super::service::member_condition;
use crate::error::{AppError, AppResult};
use crate::tenancy::scoped::{ReadScope, ReadTxn, end_read, live};

/// `segment.count` for a page of segments: one `UNION ALL` of counts.
pub(crate) struct SegmentCountLoader {
    pub(crate) scope: ReadScope,
}

impl Loader<Uuid> for SegmentCountLoader {
    type Value = u64;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, u64>, Self::Error> {
        let run = async {
            let reader = self.scope.read().await?;
            let found = live::<segments::Entity>(self.scope.ctx())
                .filter(segments::Column::Id.is_in(keys.iter().copied()))
                .all(&reader)
                .await?;
            let counts = union_rows(&reader, self.scope.ctx(), &found, |segment, condition| {
                Query::select()
                    .expr_as(
                        Expr::col((leads::Entity, leads::Column::Id)).count(),
                        Alias::new("n"),
                    )
                    .from(leads::Entity)
                    .and_where(
                        Expr::col((leads::Entity, leads::Column::TenantId)).eq(segment.tenant_id),
                    )
                    .and_where(Expr::col((leads::Entity, leads::Column::DeletedAt)).is_null())
                    .cond_where(condition)
                    .to_owned()
            })
            .await?;
            end_read(reader).await?;
            let mut result = HashMap::new();
            for (segment, row) in counts {
                let n: i64 = row.try_get("", "n")?;
                result.insert(segment.id, u64::try_from(n).unwrap_or_default());
            }
            AppResult::Ok(result)
        };
        run.await.map_err(Arc::new)
    }
}

/// `lead.segments` for a page of leads: the tenant's live segments, then
/// one `UNION ALL` of which of the page's leads each one holds.
pub(crate) struct SegmentsOfLeadLoader {
    pub(crate) scope: ReadScope,
}

impl Loader<Uuid> for SegmentsOfLeadLoader {
    type Value = Vec<segments::Model>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let run = async {
            let reader = self.scope.read().await?;
            let all = live::<segments::Entity>(self.scope.ctx())
                .order_by_desc(segments::Column::Id)
                .all(&reader)
                .await?;
            let rows = union_rows(&reader, self.scope.ctx(), &all, |segment, condition| {
                Query::select()
                    .expr_as(
                        Expr::col((leads::Entity, leads::Column::Id)),
                        Alias::new("lead_id"),
                    )
                    .from(leads::Entity)
                    .and_where(
                        Expr::col((leads::Entity, leads::Column::TenantId)).eq(segment.tenant_id),
                    )
                    .and_where(
                        Expr::col((leads::Entity, leads::Column::Id)).is_in(keys.iter().copied()),
                    )
                    .cond_where(condition)
                    .to_owned()
            })
            .await?;
            end_read(reader).await?;
            let mut result: HashMap<Uuid, Vec<segments::Model>> =
                keys.iter().map(|key| (*key, Vec::new())).collect();
            for (segment, row) in rows {
                let lead: Uuid = row.try_get("", "lead_id")?;
                result.entry(lead).or_default().push(segment.clone());
            }
            // Newest segment first, as the segments were read.
            for segments in result.values_mut() {
                segments.sort_by_key(|segment| std::cmp::Reverse(segment.id));
            }
            AppResult::Ok(result)
        };
        run.await.map_err(Arc::new)
    }
}

/// Runs `select` for every segment as one `UNION ALL`, each part tagged
/// with its segment; returns each row with the segment it came from.
async fn union_rows<'s>(
    reader: &ReadTxn,
    ctx: &crate::tenancy::RequestCtx,
    segments: &'s [segments::Model],
    select: impl Fn(&segments::Model, sea_orm::Condition) -> SelectStatement,
) -> AppResult<Vec<(&'s segments::Model, sea_orm::QueryResult)>> {
    let backend = reader.get_database_backend();
    let mut parts = Vec::with_capacity(segments.len());
    for (index, segment) in segments.iter().enumerate() {
        let mut part = select(segment, member_condition(&**reader, ctx, segment).await?);
        part.expr_as(Expr::val(index as i32), Alias::new("segment_index"));
        parts.push(part);
    }
    let mut parts = parts.into_iter();
    let Some(mut statement) = parts.next() else {
        return Ok(Vec::new());
    };
    for part in parts {
        statement.union(UnionType::All, part);
    }
    let rows = reader.query_all_raw(backend.build(&statement)).await?;
    rows.into_iter()
        .map(|row| {
            let index: i32 = row.try_get("", "segment_index")?;
            Ok((&segments[index as usize], row))
        })
        .collect()
}
