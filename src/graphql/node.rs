//! Relay's global object identification: the `Node` interface, `node(id:)`
//! and `nodes(ids:)`, so Relay can refetch any object (`@refetchable`) and
//! normalised caches can key on `id` alone.
//!
//! Ids stay UUIDs (v7, unique across tables), not type-prefixed strings:
//! one statement finds which of the tenant's tables holds an id, then the
//! object is read with the rules of the field that lists it: another
//! tenant's id, or a row in the trash, is `null`; what only admins may list
//! (API keys, invites, the audit log) is `FORBIDDEN` to others.
//!
//! Every node type is one row of [`TABLES`]: where its ids live and how one
//! is read. Adding a type to `Node` means adding its row there.

use std::sync::Arc;

use async_graphql::{Context, ID, Interface, Object};
use futures::future::BoxFuture;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement, UnionType};
use sea_orm::{ConnectionTrait, EntityTrait, StatementBuilder};
use uuid::Uuid;

use crate::crm::activities::Activity;
use crate::crm::companies::Company;
use crate::crm::custom_fields::CustomFieldDefinition;
use crate::crm::leads::Lead;
use crate::crm::notes::{Note, NoteVersion};
use crate::crm::pipeline::LeadStage;
use crate::crm::projects::Project;
use crate::crm::scoring::ScoringRule;
use crate::crm::segments::Segment;
use crate::crm::sources::LeadSource;
use crate::error::{AppError, AppResult};
use crate::graphql::{caller, parse_id};
use crate::identity::api_keys::ApiKey;
use crate::identity::audit::types::AuditEntry;
use crate::identity::auth::types::User;
use crate::identity::members::{Invite, Member};
use crate::identity::settings::Setting;
use crate::identity::tenants::Tenant;
use crate::messaging::custom_variables::CustomVariable;
use crate::messaging::engagement::types::EngagementEventView;
use crate::messaging::messages::types::Message;
use crate::messaging::outbox::OutboxEmail;
use crate::messaging::senders::SenderAccount;
use crate::messaging::suppressions::Suppression;
use crate::messaging::templates::types::MessageTemplate;
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{TenantOwned, begin, end_read, find_owned, read_live};

/// Most ids `nodes(ids:)` takes at once.
const MAX_IDS: usize = 100;

/// An object with a globally unique `id`.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", method = "node_id"))]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Node {
    Lead(Lead),
    Company(Company),
    Project(Project),
    LeadSource(LeadSource),
    LeadStage(LeadStage),
    CustomFieldDefinition(CustomFieldDefinition),
    Note(Note),
    NoteVersion(NoteVersion),
    Activity(Activity),
    ScoringRule(ScoringRule),
    MessageTemplate(MessageTemplate),
    Message(Message),
    EngagementEvent(EngagementEventView),
    SenderAccount(SenderAccount),
    CustomVariable(CustomVariable),
    Suppression(Suppression),
    OutboxEmail(OutboxEmail),
    Member(Member),
    User(User),
    Invite(Invite),
    ApiKey(ApiKey),
    AuditEntry(AuditEntry),
    Setting(Setting),
    Segment(Segment),
    Tenant(Tenant),
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
    LeadStage,
    CustomFieldDefinition,
    Note,
    NoteVersion,
    Activity,
    ScoringRule,
    MessageTemplate,
    Message,
    EngagementEventView,
    SenderAccount,
    CustomVariable,
    Suppression,
    OutboxEmail,
    Member,
    User,
    Invite,
    ApiKey,
    AuditEntry,
    Setting,
    Segment,
    Tenant,
);

/// One kind of node: the statement that finds which of `ids` are its rows
/// in the tenant (selecting them as `id`), and how one is read.
struct NodeTable {
    lookup: fn(Uuid, &[Uuid]) -> SelectStatement,
    read: Read,
}

type Read = fn(Arc<Shared>, RequestCtx, Uuid) -> BoxFuture<'static, AppResult<Node>>;

static TABLES: &[NodeTable] = &[
    NodeTable {
        lookup: owned::<entity::leads::Entity>,
        read: |shared, caller, id| {
            Box::pin(async move {
                let lead = crate::crm::leads::service::get(&shared, &caller, id).await?;
                Ok(Node::Lead(lead.into()))
            })
        },
    },
    NodeTable {
        lookup: owned::<entity::companies::Entity>,
        read: |shared, caller, id| {
            Box::pin(async move {
                let row = read_live::<entity::companies::Entity>(&shared.db, &caller, id).await?;
                Ok(Node::Company(row.into()))
            })
        },
    },
    NodeTable {
        lookup: owned::<entity::projects::Entity>,
        read: |shared, caller, id| {
            Box::pin(async move {
                let row = read_live::<entity::projects::Entity>(&shared.db, &caller, id).await?;
                Ok(Node::Project(row.into()))
            })
        },
    },
    NodeTable {
        lookup: owned::<entity::lead_sources::Entity>,
        read: |shared, caller, id| {
            Box::pin(async move {
                let row =
                    read_live::<entity::lead_sources::Entity>(&shared.db, &caller, id).await?;
                Ok(Node::LeadSource(row.into()))
            })
        },
    },
    NodeTable {
        lookup: owned::<entity::lead_stages::Entity>,
        read: |shared, caller, id| {
            Box::pin(async move {
                let row = read_owned::<entity::lead_stages::Entity>(&shared, &caller, id).await?;
                Ok(Node::LeadStage(row.into()))
            })
        },
    },
    NodeTable {
        lookup: owned::<entity::custom_field_definitions::Entity>,
        read: |shared, caller, id| {
            Box::pin(async move {
                let row =
                    read_owned::<entity::custom_field_definitions::Entity>(&shared, &caller, id)
                        .await?;
                Ok(Node::CustomFieldDefinition(row.into()))
            })
        },
    },
    NodeTable {
        lookup: owned::<entity::notes::Entity>,
        read: |shared, caller, id| {
            Box::pin(async move {
                let note = crate::crm::notes::service::get(&shared, &caller, id).await?;
                Ok(Node::Note(note.into()))
            })
        },
    },
    NodeTable {
        lookup: owned::<entity::note_versions::Entity>,
        read: |shared, caller, id| {
            Box::pin(async move {
                let row = read_owned::<entity::note_versions::Entity>(&shared, &caller, id).await?;
                // A version is read as its note is: not once the note is in the trash.
                crate::crm::notes::service::get(&shared, &caller, row.note_id).await?;
                Ok(Node::NoteVersion(row.into()))
            })
        },
    },
    NodeTable {
        lookup: owned::<entity::activities::Entity>,
        read: |shared, caller, id| {
            Box::pin(async move {
                let row = read_owned::<entity::activities::Entity>(&shared, &caller, id).await?;
                Ok(Node::Activity(row.into()))
            })
        },
    },
    NodeTable {
        lookup: owned::<entity::lead_scoring_rules::Entity>,
        read: |shared, caller, id| {
            Box::pin(async move {
                let rule = crate::crm::scoring::service::get(&shared, &caller, id).await?;
                Ok(Node::ScoringRule(rule.into()))
            })
        },
    },
    NodeTable {
        lookup: owned::<entity::message_templates::Entity>,
        read: |shared, caller, id| {
            Box::pin(async move {
                let row = crate::messaging::templates::service::get(&shared, &caller, id).await?;
                Ok(Node::MessageTemplate(row.into()))
            })
        },
    },
    NodeTable {
        lookup: owned::<entity::messages::Entity>,
        read: |shared, caller, id| {
            Box::pin(async move {
                let row = crate::messaging::messages::service::get(&shared, &caller, id).await?;
                Ok(Node::Message(row.into()))
            })
        },
    },
    NodeTable {
        lookup: owned::<entity::engagement_events::Entity>,
        read: |shared, caller, id| {
            Box::pin(async move {
                let row =
                    read_owned::<entity::engagement_events::Entity>(&shared, &caller, id).await?;
                Ok(Node::EngagementEvent(EngagementEventView::from(&row)))
            })
        },
    },
    NodeTable {
        lookup: owned::<entity::sender_accounts::Entity>,
        read: |shared, caller, id| {
            Box::pin(async move {
                let row = crate::messaging::senders::service::get(&shared, &caller, id).await?;
                Ok(Node::SenderAccount(row.into()))
            })
        },
    },
    NodeTable {
        lookup: owned::<entity::custom_variables::Entity>,
        read: |shared, caller, id| {
            Box::pin(async move {
                let row =
                    read_owned::<entity::custom_variables::Entity>(&shared, &caller, id).await?;
                Ok(Node::CustomVariable(row.into()))
            })
        },
    },
    NodeTable {
        lookup: owned::<entity::suppressions::Entity>,
        read: |shared, caller, id| {
            Box::pin(async move {
                let row = read_owned::<entity::suppressions::Entity>(&shared, &caller, id).await?;
                Ok(Node::Suppression(row.into()))
            })
        },
    },
    NodeTable {
        lookup: owned::<entity::outbox_emails::Entity>,
        read: |shared, caller, id| {
            Box::pin(async move {
                let row = read_owned::<entity::outbox_emails::Entity>(&shared, &caller, id).await?;
                Ok(Node::OutboxEmail(row.into()))
            })
        },
    },
    NodeTable {
        lookup: owned::<entity::memberships::Entity>,
        read: |shared, caller, id| {
            Box::pin(async move {
                let row = read_owned::<entity::memberships::Entity>(&shared, &caller, id).await?;
                Ok(Node::Member(row.into()))
            })
        },
    },
    NodeTable {
        lookup: members_users,
        read: |shared, caller, id| {
            Box::pin(async move {
                let txn = begin(&shared.db, &caller).await?;
                let user = entity::users::Entity::find_by_id(id).one(&*txn).await?;
                end_read(txn).await?;
                Ok(Node::User(user.ok_or(AppError::not_found("user"))?.into()))
            })
        },
    },
    NodeTable {
        lookup: owned::<entity::invites::Entity>,
        read: |shared, caller, id| {
            Box::pin(async move {
                caller.require_admin()?;
                let row = read_owned::<entity::invites::Entity>(&shared, &caller, id).await?;
                Ok(Node::Invite(row.into()))
            })
        },
    },
    NodeTable {
        lookup: owned::<entity::api_keys::Entity>,
        read: |shared, caller, id| {
            Box::pin(async move {
                caller.require_admin()?;
                let row = read_owned::<entity::api_keys::Entity>(&shared, &caller, id).await?;
                Ok(Node::ApiKey(row.into()))
            })
        },
    },
    NodeTable {
        lookup: owned::<entity::audit_log::Entity>,
        read: |shared, caller, id| {
            Box::pin(async move {
                caller.require_admin()?;
                let row = read_owned::<entity::audit_log::Entity>(&shared, &caller, id).await?;
                Ok(Node::AuditEntry(row.into()))
            })
        },
    },
    NodeTable {
        lookup: owned::<entity::settings::Entity>,
        read: |shared, caller, id| {
            Box::pin(async move {
                let row = read_owned::<entity::settings::Entity>(&shared, &caller, id).await?;
                Ok(Node::Setting(row.into()))
            })
        },
    },
    NodeTable {
        lookup: owned::<entity::segments::Entity>,
        read: |shared, caller, id| {
            Box::pin(async move {
                let row = crate::crm::segments::service::get(&shared, &caller, id).await?;
                Ok(Node::Segment(row.into()))
            })
        },
    },
    NodeTable {
        lookup: own_tenant,
        read: |shared, caller, _| {
            Box::pin(async move {
                let tenant = crate::identity::tenants::service::get(&shared, &caller).await?;
                Ok(Node::Tenant(tenant.into()))
            })
        },
    },
];

/// The ids among `ids` of rows of `E` in the tenant.
fn owned<E: TenantOwned>(tenant_id: Uuid, ids: &[Uuid]) -> SelectStatement {
    Query::select()
        .expr_as(Expr::col(E::id_column()), Alias::new("id"))
        .from(E::default())
        .and_where(Expr::col(E::tenant_column()).eq(tenant_id))
        .and_where(Expr::col(E::id_column()).is_in(ids.iter().copied()))
        .to_owned()
}

/// The ids among `ids` of people who are members of the tenant.
fn members_users(tenant_id: Uuid, ids: &[Uuid]) -> SelectStatement {
    use entity::memberships::{Column, Entity};
    Query::select()
        .expr_as(Expr::col(Column::UserId), Alias::new("id"))
        .from(Entity)
        .and_where(Expr::col(Column::TenantId).eq(tenant_id))
        .and_where(Expr::col(Column::UserId).is_in(ids.iter().copied()))
        .to_owned()
}

/// The tenant's own id, if it is among `ids`.
fn own_tenant(tenant_id: Uuid, ids: &[Uuid]) -> SelectStatement {
    use entity::tenants::{Column, Entity};
    Query::select()
        .expr_as(Expr::col(Column::Id), Alias::new("id"))
        .from(Entity)
        .and_where(Expr::col(Column::Id).eq(tenant_id))
        .and_where(Expr::col(Column::Id).is_in(ids.iter().copied()))
        .to_owned()
}

/// A row of the tenant by id, in a read transaction of its own.
async fn read_owned<E: TenantOwned>(
    shared: &Shared,
    caller: &RequestCtx,
    id: Uuid,
) -> AppResult<E::Model> {
    let txn = begin(&shared.db, caller).await?;
    let row = find_owned::<E>(&*txn, caller, id, "node").await?;
    end_read(txn).await?;
    Ok(row)
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
    let shared = ctx.data_unchecked::<Arc<Shared>>();
    let tables = tables_of(shared, caller, ids).await?;
    let mut nodes = Vec::with_capacity(ids.len());
    for id in ids {
        let node = match tables.iter().find(|(found, _)| found == id) {
            Some((_, table)) => match (table.read)(shared.clone(), caller.clone(), *id).await {
                Ok(node) => Some(node),
                Err(AppError::NotFound(_)) => None,
                Err(error) => return Err(error.into()),
            },
            None => None,
        };
        nodes.push(node);
    }
    Ok(nodes)
}

/// One statement: which of the node tables holds each id, in the tenant.
async fn tables_of(
    shared: &Shared,
    caller: &RequestCtx,
    ids: &[Uuid],
) -> AppResult<Vec<(Uuid, &'static NodeTable)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let lookup = |index: usize| -> SelectStatement {
        (TABLES[index].lookup)(caller.tenant_id, ids)
            .expr_as(Expr::val(index as i32), Alias::new("kind"))
            .to_owned()
    };
    let mut statement = lookup(0);
    for index in 1..TABLES.len() {
        statement.union(UnionType::All, lookup(index));
    }
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
            Ok((id, &TABLES[index as usize]))
        })
        .collect()
}
