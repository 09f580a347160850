//! Relay's global object identification: the `Node` interface, `node(id:)`
//! and `nodes(ids:)`, so Relay can refetch any object (`@refetchable`) and
//! normalised caches can key on `id` alone.
//!
//! Ids stay UUIDs (v7, unique across tables), not type-prefixed strings:
//! one statement finds which of the tenant's tables holds an id, then the
//! object is read the way its own root field reads it (`lead(id:)`,
//! `company(id:)`…), with the same rules: another tenant's id, or a row in
//! the trash, is `null`.

use async_graphql::{Context, ID, Interface, Object};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement, UnionType};
use sea_orm::{ConnectionTrait, EntityName, StatementBuilder};
use uuid::Uuid;

use crate::crm::companies::Company;
use crate::crm::leads::Lead;
use crate::crm::notes::Note;
use crate::crm::projects::Project;
use crate::crm::scoring::ScoringRule;
use crate::crm::sources::LeadSource;
use crate::error::{AppError, AppResult};
use crate::graphql::{caller, parse_id, shared};
use crate::messaging::messages::types::Message;
use crate::messaging::senders::SenderAccount;
use crate::messaging::templates::types::MessageTemplate;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin, end_read, read_live};

/// Most ids `nodes(ids:)` takes at once.
const MAX_IDS: usize = 100;

/// An object with a globally unique `id`.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", method = "node_id"))]
pub(crate) enum Node {
    Lead(Lead),
    Company(Company),
    Project(Project),
    LeadSource(LeadSource),
    Note(Note),
    ScoringRule(ScoringRule),
    MessageTemplate(MessageTemplate),
    Message(Message),
    SenderAccount(SenderAccount),
}

/// What `Node`'s `id` field reads on each of its types.
pub(crate) trait NodeId {
    fn node_id(&self, ctx: &Context<'_>) -> std::future::Ready<async_graphql::Result<ID>>;
}

macro_rules! node_id_field {
    ($($type:ty),* $(,)?) => {$(
        impl NodeId for $type {
            fn node_id(&self, _: &Context<'_>) -> std::future::Ready<async_graphql::Result<ID>> {
                std::future::ready(Ok(self.id.clone()))
            }
        }
    )*};
}

node_id_field!(
    Project,
    LeadSource,
    Note,
    ScoringRule,
    MessageTemplate,
    Message,
    SenderAccount
);

/// The tables whose rows are nodes, by the kind the lookup answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Lead,
    Company,
    Project,
    LeadSource,
    Note,
    ScoringRule,
    MessageTemplate,
    Message,
    SenderAccount,
}

fn kinds() -> [(Kind, &'static str); 9] {
    [
        (Kind::Lead, entity::leads::Entity.table_name()),
        (Kind::Company, entity::companies::Entity.table_name()),
        (Kind::Project, entity::projects::Entity.table_name()),
        (Kind::LeadSource, entity::lead_sources::Entity.table_name()),
        (Kind::Note, entity::notes::Entity.table_name()),
        (
            Kind::ScoringRule,
            entity::lead_scoring_rules::Entity.table_name(),
        ),
        (
            Kind::MessageTemplate,
            entity::message_templates::Entity.table_name(),
        ),
        (Kind::Message, entity::messages::Entity.table_name()),
        (
            Kind::SenderAccount,
            entity::sender_accounts::Entity.table_name(),
        ),
    ]
}

#[derive(Default)]
pub(crate) struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Any object of your tenant by its id; `null` when there is none (or
    /// it is in the trash).
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        let id = parse_id(&id, "id")?;
        let mut found = fetch(ctx, &[id]).await?;
        Ok(found.pop().flatten())
    }

    /// Objects by id, in the order asked (at most 100); `null` for an id
    /// with no object.
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
    ) -> async_graphql::Result<Vec<Option<Node>>> {
        if ids.len() > MAX_IDS {
            return Err(AppError::invalid("ids", format!("at most {MAX_IDS} ids at once")).into());
        }
        let ids = ids
            .iter()
            .enumerate()
            .map(|(i, id)| parse_id(id, &format!("ids.{i}")))
            .collect::<Result<Vec<_>, _>>()?;
        fetch(ctx, &ids).await
    }
}

async fn fetch(ctx: &Context<'_>, ids: &[Uuid]) -> async_graphql::Result<Vec<Option<Node>>> {
    let caller = caller(ctx)?;
    let kinds = kinds_of(ctx, caller, ids).await?;
    let mut nodes = Vec::with_capacity(ids.len());
    for id in ids {
        let node = match kinds.iter().find(|(found, _)| found == id) {
            Some((_, kind)) => read(ctx, caller, *kind, *id).await?,
            None => None,
        };
        nodes.push(node);
    }
    Ok(nodes)
}

/// One statement: which of the tenant's node tables holds each id.
async fn kinds_of(
    ctx: &Context<'_>,
    caller: &RequestCtx,
    ids: &[Uuid],
) -> AppResult<Vec<(Uuid, Kind)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let lookup = |(index, table): (usize, &str)| -> SelectStatement {
        Query::select()
            .expr_as(Expr::val(index as i32), Alias::new("kind"))
            .column(Alias::new("id"))
            .from(Alias::new(table))
            .and_where(Expr::col(Alias::new("tenant_id")).eq(caller.tenant_id))
            .and_where(Expr::col(Alias::new("id")).is_in(ids.iter().copied()))
            .to_owned()
    };
    let kinds = kinds();
    let mut tables = kinds.iter().enumerate().map(|(i, (_, table))| (i, *table));
    let mut statement = lookup(tables.next().expect("node tables"));
    for table in tables {
        statement.union(UnionType::All, lookup(table));
    }
    let shared = shared(ctx);
    let txn = begin(&shared.db, caller).await?;
    let rows = txn
        .query_all_raw(StatementBuilder::build(
            &statement,
            &txn.get_database_backend(),
        ))
        .await?;
    end_read(txn).await?;
    rows.iter()
        .map(|row| {
            let index: i32 = row.try_get("", "kind")?;
            let id: Uuid = row.try_get("", "id")?;
            Ok((id, kinds[index as usize].0))
        })
        .collect()
}

/// Reads the object as its own root field does; `None` when that field
/// would say NOT_FOUND (in the trash).
async fn read(
    ctx: &Context<'_>,
    caller: &RequestCtx,
    kind: Kind,
    id: Uuid,
) -> async_graphql::Result<Option<Node>> {
    let shared = shared(ctx);
    let db = &shared.db;
    let node = match kind {
        Kind::Lead => crate::crm::leads::service::get(shared, caller, id)
            .await
            .map(|m| Node::Lead(m.into())),
        Kind::Company => read_live::<entity::companies::Entity>(db, caller, id)
            .await
            .map(|m| Node::Company(m.into())),
        Kind::Project => read_live::<entity::projects::Entity>(db, caller, id)
            .await
            .map(|m| Node::Project(m.into())),
        Kind::LeadSource => read_live::<entity::lead_sources::Entity>(db, caller, id)
            .await
            .map(|m| Node::LeadSource(m.into())),
        Kind::Note => crate::crm::notes::service::get(shared, caller, id)
            .await
            .map(|m| Node::Note(m.into())),
        Kind::ScoringRule => crate::crm::scoring::service::get(shared, caller, id)
            .await
            .map(|m| Node::ScoringRule(m.into())),
        Kind::MessageTemplate => crate::messaging::templates::service::get(shared, caller, id)
            .await
            .map(|m| Node::MessageTemplate(m.into())),
        Kind::Message => crate::messaging::messages::service::get(shared, caller, id)
            .await
            .map(|m| Node::Message(m.into())),
        Kind::SenderAccount => crate::messaging::senders::service::get(shared, caller, id)
            .await
            .map(|row| Node::SenderAccount(row.into())),
    };
    match node {
        Ok(node) => Ok(Some(node)),
        Err(AppError::NotFound(_)) => Ok(None),
        Err(error) => Err(error.into()),
    }
}
