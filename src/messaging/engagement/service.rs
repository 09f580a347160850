//! Reading engagement: replay after a cursor, a message's events, and the
//! statistics `messageStats` pushes.

use chrono::Utc;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};
use uuid::Uuid;

use entity::engagement_events;
use entity::sea_orm_active_enums::EngagementType as EngagementTypeModel;

use super::types::{EngagementFilter, EngagementType, MessageStats, MessageStatsFilter};
use crate::error::AppResult;
use crate::events::resume::REPLAY_BATCH;
use crate::graphql::numbers::Count;
use crate::graphql::parse_id;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin, scoped};

/// A filter with its ids parsed, checked once per subscription.
#[derive(Clone, Debug, Default)]
pub(crate) struct EventMatcher {
    campaign_id: Option<Uuid>,
    lead_id: Option<Uuid>,
    message_id: Option<Uuid>,
    template_id: Option<Uuid>,
    types: Option<Vec<EngagementType>>,
    include_machine: bool,
}

impl EventMatcher {
    pub(crate) fn parse(filter: Option<EngagementFilter>) -> AppResult<Self> {
        let filter = filter.unwrap_or_default();
        let id = |value: Option<async_graphql::ID>, field: &str| {
            value.map(|v| parse_id(&v, field)).transpose()
        };
        Ok(Self {
            campaign_id: id(filter.campaign_id, "filter.campaignId")?,
            lead_id: id(filter.lead_id, "filter.leadId")?,
            message_id: id(filter.message_id, "filter.messageId")?,
            template_id: id(filter.template_id, "filter.templateId")?,
            types: filter.types,
            include_machine: filter.include_machine.unwrap_or(true),
        })
    }

    pub(crate) fn matches(&self, event: &engagement_events::Model) -> bool {
        (self.campaign_id.is_none() || event.campaign_id == self.campaign_id)
            && self.lead_id.is_none_or(|id| event.lead_id == id)
            && self.message_id.is_none_or(|id| event.message_id == id)
            && (self.template_id.is_none() || event.template_id == self.template_id)
            && self
                .types
                .as_ref()
                .is_none_or(|types| types.contains(&event.event_type.into()))
            && (self.include_machine || !event.machine)
    }

    fn apply(
        &self,
        mut select: sea_orm::Select<engagement_events::Entity>,
    ) -> sea_orm::Select<engagement_events::Entity> {
        use engagement_events::Column as C;
        if let Some(id) = self.campaign_id {
            select = select.filter(C::CampaignId.eq(id));
        }
        if let Some(id) = self.lead_id {
            select = select.filter(C::LeadId.eq(id));
        }
        if let Some(id) = self.message_id {
            select = select.filter(C::MessageId.eq(id));
        }
        if let Some(id) = self.template_id {
            select = select.filter(C::TemplateId.eq(id));
        }
        if let Some(types) = &self.types {
            select = select
                .filter(C::EventType.is_in(types.iter().map(|t| EngagementTypeModel::from(*t))));
        }
        if !self.include_machine {
            select = select.filter(C::Machine.eq(false));
        }
        select
    }
}

/// Matching events with `after < seq <= up_to`, at most one batch, in order.
pub(crate) async fn replay_batch(
    db: &DatabaseConnection,
    ctx: &RequestCtx,
    matcher: &EventMatcher,
    after: i64,
    up_to: i64,
) -> AppResult<Vec<engagement_events::Model>> {
    let txn = begin(db, ctx).await?;
    let events = matcher
        .apply(scoped::<engagement_events::Entity>(ctx))
        .filter(engagement_events::Column::Seq.gt(after))
        .filter(engagement_events::Column::Seq.lte(up_to))
        .order_by_asc(engagement_events::Column::Seq)
        .limit(REPLAY_BATCH)
        .all(&txn)
        .await?;
    txn.commit().await?;
    Ok(events)
}

/// Which messages statistics cover.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct StatsScope {
    pub campaign_id: Option<Uuid>,
    pub template_id: Option<Uuid>,
}

impl StatsScope {
    pub(crate) fn parse(filter: Option<MessageStatsFilter>) -> AppResult<Self> {
        let filter = filter.unwrap_or_default();
        Ok(Self {
            campaign_id: filter
                .campaign_id
                .map(|id| parse_id(&id, "filter.campaignId"))
                .transpose()?,
            template_id: filter
                .template_id
                .map(|id| parse_id(&id, "filter.templateId"))
                .transpose()?,
        })
    }

    pub(crate) fn covers(&self, event: &engagement_events::Model) -> bool {
        (self.campaign_id.is_none() || event.campaign_id == self.campaign_id)
            && (self.template_id.is_none() || event.template_id == self.template_id)
    }

    /// `AND …` conditions and their values, numbered from `$2` on
    /// PostgreSQL (`$1` is the tenant).
    fn conditions(&self, backend: DbBackend) -> (String, Vec<sea_orm::Value>) {
        let mut sql = String::new();
        let mut values = Vec::new();
        for (column, value) in [
            ("campaign_id", self.campaign_id),
            ("template_id", self.template_id),
        ] {
            if let Some(id) = value {
                values.push(id.into());
                let placeholder = match backend {
                    DbBackend::Postgres => format!("${}", values.len() + 1),
                    _ => "?".to_owned(),
                };
                sql.push_str(&format!(" AND {column} = {placeholder}"));
            }
        }
        (sql, values)
    }
}

/// Counts over the tenant's messages in scope: two aggregate queries (the
/// messages' own timestamps for human figures, the events for raw ones).
pub(crate) async fn stats(
    db: &DatabaseConnection,
    ctx: &RequestCtx,
    scope: StatsScope,
) -> AppResult<MessageStats> {
    let txn = begin(db, ctx).await?;
    let mut grouped = aggregate(&*txn, ctx.tenant_id, scope, None).await?;
    txn.commit().await?;
    Ok(grouped.remove(&None).unwrap_or_else(|| MessageStats {
        at: Utc::now(),
        ..Default::default()
    }))
}

/// [`stats`] for each of many campaigns at once (the same two queries,
/// grouped by campaign): a page of campaigns shows its figures without a
/// query per campaign. Campaigns that sent nothing are absent.
pub(crate) async fn stats_by_campaign(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    campaign_ids: &[Uuid],
) -> AppResult<std::collections::HashMap<Uuid, MessageStats>> {
    if campaign_ids.is_empty() {
        return Ok(Default::default());
    }
    let grouped = aggregate(conn, tenant_id, StatsScope::default(), Some(campaign_ids)).await?;
    Ok(grouped
        .into_iter()
        .filter_map(|(campaign, stats)| Some((campaign?, stats)))
        .collect())
}

/// The statistics SQL: over `scope`, or per campaign of `campaigns`.
async fn aggregate(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    scope: StatsScope,
    campaigns: Option<&[Uuid]>,
) -> AppResult<std::collections::HashMap<Option<Uuid>, MessageStats>> {
    let backend = conn.get_database_backend();
    let placeholder = |n: usize| match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    };
    let (mut conditions, extra) = scope.conditions(backend);
    let mut values: Vec<sea_orm::Value> = vec![tenant_id.into()];
    values.extend(extra);
    let (key, group) = match campaigns {
        Some(ids) => {
            let list: Vec<String> = ids
                .iter()
                .enumerate()
                .map(|(i, _)| placeholder(values.len() + i + 1))
                .collect();
            values.extend(ids.iter().map(|id| sea_orm::Value::from(*id)));
            conditions.push_str(&format!(" AND campaign_id IN ({})", list.join(", ")));
            ("campaign_id AS grouped_by, ", " GROUP BY campaign_id")
        }
        None => ("", ""),
    };
    let tenant = placeholder(1);
    let count = |column: &str| {
        format!("COALESCE(SUM(CASE WHEN {column} IS NOT NULL THEN 1 ELSE 0 END), 0)")
    };
    let messages_sql = format!(
        "SELECT {key}COALESCE(SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END), 0) AS queued, \
         {} AS sent, {} AS delivered, {} AS opened, {} AS clicked, {} AS replied, \
         {} AS bounced, {} AS complained, {} AS unsubscribed, \
         COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0) AS failed, \
         COALESCE(SUM(CASE WHEN status = 'unknown' THEN 1 ELSE 0 END), 0) AS unknown \
         FROM messages WHERE tenant_id = {tenant}{conditions}{group}",
        count("sent_at"),
        count("delivered_at"),
        count("opened_at"),
        count("clicked_at"),
        count("replied_at"),
        count("bounced_at"),
        count("complained_at"),
        count("unsubscribed_at"),
    );
    let events_sql = format!(
        "SELECT {key}COUNT(DISTINCT CASE WHEN event_type = 'opened' THEN message_id END) AS opened_raw, \
         COUNT(DISTINCT CASE WHEN event_type = 'clicked' THEN message_id END) AS clicked_raw \
         FROM engagement_events WHERE tenant_id = {tenant} \
         AND event_type IN ('opened', 'clicked'){conditions}{group}"
    );
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            messages_sql,
            values.clone(),
        ))
        .await?;
    let raw_rows = conn
        .query_all_raw(Statement::from_sql_and_values(backend, events_sql, values))
        .await?;
    let grouped_by = |row: &sea_orm::QueryResult| -> AppResult<Option<Uuid>> {
        Ok(if campaigns.is_some() {
            row.try_get::<Option<Uuid>>("", "grouped_by")?
        } else {
            None
        })
    };
    let get = |row: &sea_orm::QueryResult, column: &str| -> AppResult<Count> {
        Ok(Count(row.try_get::<i64>("", column)?))
    };
    let mut raw = std::collections::HashMap::new();
    for row in &raw_rows {
        raw.insert(
            grouped_by(row)?,
            (get(row, "opened_raw")?, get(row, "clicked_raw")?),
        );
    }
    let mut found = std::collections::HashMap::new();
    for row in &rows {
        let key = grouped_by(row)?;
        let (opened_raw, clicked_raw) = raw.get(&key).copied().unwrap_or_default();
        let mut stats = MessageStats {
            queued: get(row, "queued")?,
            sent: get(row, "sent")?,
            delivered: get(row, "delivered")?,
            opened: get(row, "opened")?,
            clicked: get(row, "clicked")?,
            replied: get(row, "replied")?,
            bounced: get(row, "bounced")?,
            complained: get(row, "complained")?,
            unsubscribed: get(row, "unsubscribed")?,
            failed: get(row, "failed")?,
            unknown: get(row, "unknown")?,
            opened_raw,
            clicked_raw,
            at: Utc::now(),
            ..Default::default()
        };
        stats.fill_rates();
        found.insert(key, stats);
    }
    Ok(found)
}
