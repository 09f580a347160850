//! The only doors to tenant data.
//!
//! `begin(db, ctx)` opens a transaction that, on PostgreSQL, first switches to
//! the non-superuser `promohub_app` role and sets `app.tenant_id` /
//! `app.user_id` in one round trip, so row-level security holds even if a query
//! forgot its filter. `scoped::<E>(ctx)` and `find_owned` add the tenant filter
//! explicitly as well, so SQLite (no RLS) gets the same isolation.
//!
//! Each unit of work that changes something (a service call) gets its own
//! short transaction. A query request reads in one transaction, opened and
//! bound in the round trip that checks its credential ([`RequestTxn`]):
//! every read of the request ([`begin`], the loaders, the totals) runs in it.

use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, DeleteMany, EntityTrait, JoinType,
    QueryFilter, QuerySelect, QueryTrait, RelationTrait, Select, Statement, TransactionTrait,
    UpdateMany,
};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, ExecResult, QueryResult};
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use entity::sea_orm_active_enums::MemberRole;
use entity::{memberships, refresh_tokens, tenants, users};

use super::RequestCtx;
use crate::db::is_postgres;
use crate::error::{AppError, AppResult};

/// An entity whose rows belong to one tenant: a `tenant_id` column that
/// every read, update and delete outside this module reaches through
/// [`scoped`], [`tenant_rows`], [`tenant_update`] or [`tenant_delete`].
pub trait TenantScoped: EntityTrait {
    fn tenant_column() -> Self::Column;
}

/// A tenant's row with an id of its own (primary key `(tenant_id, id)`).
pub trait TenantOwned: TenantScoped {
    fn id_column() -> Self::Column;
    fn id_of(model: &Self::Model) -> Uuid;
}

macro_rules! tenant_scoped {
    ($($module:ident),* $(,)?) => {$(
        impl TenantScoped for entity::$module::Entity {
            fn tenant_column() -> Self::Column {
                entity::$module::Column::TenantId
            }
        }
    )*};
}

// Tables keyed by tenant and something other than an id of their own.
tenant_scoped!(
    campaign_senders,
    lead_tags,
    engagement_sequences,
    domain_event_sequences,
    segment_members,
    segment_memberships,
    segment_upkeep,
    lead_batch_parts,
    lead_batch_errors,
    form_daily_counts,
    visitor_leads,
    sender_mailboxes
);

macro_rules! tenant_owned {
    ($($module:ident),* $(,)?) => {$(
        tenant_scoped!($module);
        impl TenantOwned for entity::$module::Entity {
            fn id_column() -> Self::Column {
                entity::$module::Column::Id
            }
            fn id_of(model: &Self::Model) -> Uuid {
                model.id
            }
        }
    )*};
}

tenant_owned!(
    memberships,
    api_keys,
    invites,
    refresh_tokens,
    settings,
    audit_log,
    projects,
    companies,
    lead_stages,
    lead_sources,
    leads,
    custom_field_definitions,
    notes,
    note_versions,
    activities,
    lead_scoring_rules,
    message_templates,
    messages,
    message_links,
    engagement_events,
    domain_events,
    sender_accounts,
    custom_variables,
    suppressions,
    outbox_emails,
    segments,
    lead_batches,
    forms,
    form_fields,
    form_submissions,
    tracking_sites,
    page_views,
    campaigns,
    campaign_steps,
    campaign_step_variants,
    campaign_enrollments,
);

/// A tenant-owned entity with soft deletion: a `deleted_at` column, and
/// `updated_at` stamped when it is deleted; who deleted and last changed it
/// where the table records that (`deleted_by`, `updated_by`).
pub trait SoftDeletable: TenantOwned {
    /// What the entity is called in `NOT_FOUND` errors.
    const NAME: &'static str;
    fn deleted_at_column() -> Self::Column;
    fn updated_at_column() -> Self::Column;
    /// `None` for tables that do not record who changed a row.
    fn deleted_by_column() -> Option<Self::Column>;
    fn updated_by_column() -> Option<Self::Column>;
}

macro_rules! soft_deletable {
    ($($module:ident => $name:literal),* $(,)?) => {$(
        impl SoftDeletable for entity::$module::Entity {
            const NAME: &'static str = $name;
            fn deleted_at_column() -> Self::Column {
                entity::$module::Column::DeletedAt
            }
            fn updated_at_column() -> Self::Column {
                entity::$module::Column::UpdatedAt
            }
            fn deleted_by_column() -> Option<Self::Column> {
                Some(entity::$module::Column::DeletedBy)
            }
            fn updated_by_column() -> Option<Self::Column> {
                Some(entity::$module::Column::UpdatedBy)
            }
        }
    )*};
}

soft_deletable!(projects => "project", companies => "company", lead_sources => "lead source", leads => "lead", message_templates => "message template", segments => "segment", forms => "form", tracking_sites => "tracking site", campaigns => "campaign");

impl SoftDeletable for entity::sender_accounts::Entity {
    const NAME: &'static str = "sender account";
    fn deleted_at_column() -> Self::Column {
        entity::sender_accounts::Column::DeletedAt
    }
    fn updated_at_column() -> Self::Column {
        entity::sender_accounts::Column::UpdatedAt
    }
    fn deleted_by_column() -> Option<Self::Column> {
        Some(entity::sender_accounts::Column::DeletedBy)
    }
    fn updated_by_column() -> Option<Self::Column> {
        Some(entity::sender_accounts::Column::UpdatedBy)
    }
}

/// The caller's tenant's rows that are not in the trash.
pub fn live<E: SoftDeletable>(ctx: &RequestCtx) -> Select<E> {
    scoped::<E>(ctx).filter(E::deleted_at_column().is_null())
}

/// Refuses `name` when another live row of the caller's tenant has it in
/// `column`, ignoring case (two "LinkedIn" entries in one picker only
/// confuse); `except` is the row being renamed. The conflict names
/// `input.name`.
pub async fn ensure_live_name_free<E: SoftDeletable>(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    column: E::Column,
    name: &str,
    except: Option<Uuid>,
    message: &str,
) -> AppResult<()> {
    use sea_orm::sea_query::{Expr, ExprTrait, Func};
    let mut select =
        live::<E>(ctx).filter(Expr::expr(Func::lower(Expr::col(column))).eq(name.to_lowercase()));
    if let Some(id) = except {
        select = select.filter(E::id_column().ne(id));
    }
    if select.one(conn).await?.is_some() {
        return Err(AppError::duplicate("input.name", message));
    }
    Ok(())
}

/// One live row of the caller's tenant; a trashed or foreign one is `NOT_FOUND`.
pub async fn find_live<E: SoftDeletable>(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<E::Model> {
    live::<E>(ctx)
        .filter(E::id_column().eq(id))
        .one(conn)
        .await?
        .ok_or(AppError::not_found(E::NAME))
}

/// [`find_live`] in a read transaction of its own (the request's, for a
/// query): what every feature's `get` is.
pub async fn read_live<E: SoftDeletable>(
    db: &DatabaseConnection,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<E::Model> {
    let txn = begin(db, ctx).await?;
    let row = find_live::<E>(&*txn, ctx, id).await?;
    end_read(txn).await?;
    Ok(row)
}

/// Moves a live row to the trash (stamping who and when) and returns it as
/// it now is.
pub async fn soft_delete<E: SoftDeletable>(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<E::Model> {
    find_live::<E>(conn, ctx, id).await?;
    let now = chrono::Utc::now().fixed_offset();
    let mut update = tenant_update::<E>(ctx.tenant_id)
        .col_expr(E::deleted_at_column(), sea_orm::sea_query::Expr::value(now))
        .col_expr(E::updated_at_column(), sea_orm::sea_query::Expr::value(now));
    for column in [E::deleted_by_column(), E::updated_by_column()]
        .into_iter()
        .flatten()
    {
        update = update.col_expr(column, sea_orm::sea_query::Expr::value(ctx.user_id()));
    }
    update.filter(E::id_column().eq(id)).exec(conn).await?;
    find_owned::<E>(conn, ctx, id, E::NAME).await
}

/// A transaction bound to the caller's tenant, for reading: the request's
/// own when it has one (a query request), else a new one.
pub async fn begin(db: &DatabaseConnection, ctx: &RequestCtx) -> AppResult<ReadTxn> {
    if let Some(txn) = ctx.txn.current() {
        return Ok(ReadTxn::Request(txn));
    }
    Ok(ReadTxn::Own(
        begin_for(db, ctx.tenant_id, ctx.user_id()).await?,
    ))
}

/// Opens a transaction bound to the caller's tenant, for a change.
///
/// On SQLite a plain (deferred) transaction that reads and then writes
/// cannot wait for the write lock: when another connection wrote in the
/// meantime it fails at once with "database is locked". `BEGIN IMMEDIATE`
/// takes the write lock up front and waits its turn (busy timeout), so
/// concurrent changes queue instead of failing. Reads stay deferred and run
/// concurrently under WAL. PostgreSQL needs neither.
pub async fn begin_write(
    db: &DatabaseConnection,
    ctx: &RequestCtx,
) -> AppResult<DatabaseTransaction> {
    begin_for_write(db, ctx.tenant_id, ctx.user_id()).await
}

async fn open(db: &DatabaseConnection, write: bool) -> Result<DatabaseTransaction, DbErr> {
    if write && db.get_database_backend() == sea_orm::DbBackend::Sqlite {
        let options = sea_orm::TransactionOptions {
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        return db.begin_with_options(options).await;
    }
    db.begin().await
}

/// Runs `attempt` (open a transaction and run its first statement) again
/// while it fails because the pooled connection it got was dead: killed
/// by `pg_terminate_backend`, or left over from before a database restart.
///
/// Retrying is safe exactly here: nothing has run in the transaction yet,
/// so another attempt cannot do anything twice. (A failure later in a
/// transaction is not retried: a write may or may not have happened.)
/// Each failed attempt retires its connection (sqlx drops a connection
/// whose check on return fails), so after the server dropped every
/// connection at most the pool's size of attempts meet a dead one; the
/// next opens a fresh connection. Checking every connection before handing
/// it out (`test_before_acquire`) would cost every request a round trip to
/// spare the few that meet a dead one (see `db::connect`).
async fn on_live_connection<T, F>(
    db: &DatabaseConnection,
    mut attempt: impl FnMut() -> F,
) -> AppResult<T>
where
    F: std::future::Future<Output = Result<T, DbErr>>,
{
    let mut retries = crate::db::pool_size(db);
    loop {
        match attempt().await {
            Ok(opened) => return Ok(opened),
            Err(error) if retries > 0 && crate::db::is_connection_error(&error) => {
                retries -= 1;
                metrics::counter!("promohub_db_dead_connections_total").increment(1);
                tracing::info!(%error, "a pooled connection was dead; beginning on another");
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Opens a transaction bound as [`bind_as`] binds, on a live connection.
async fn open_bound(
    db: &DatabaseConnection,
    write: bool,
    role: &'static str,
    tenant_id: Option<Uuid>,
    user_id: Option<Uuid>,
) -> AppResult<DatabaseTransaction> {
    on_live_connection(db, || async move {
        let txn = open(db, write).await?;
        bind_statement(&txn, role, tenant_id, user_id).await?;
        Ok(txn)
    })
    .await
}

/// Opens a transaction bound to a tenant that authentication has just proven
/// (a token that names its tenant, sign-up, invite acceptance), before a
/// `RequestCtx` exists.
pub async fn begin_for(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    user_id: Option<Uuid>,
) -> AppResult<DatabaseTransaction> {
    open_bound(db, false, migration::APP_ROLE, Some(tenant_id), user_id).await
}

/// Opens a read transaction for `user_id` in `tenant_id` (bound as
/// [`begin_for`] binds) and reads the user's role there: `None` unless the
/// membership, the user and the tenant are all active and the session
/// `session_id` (a refresh token family) is not revoked.
///
/// Authentication does this on every request. On PostgreSQL it is one
/// statement (`app_enter_as_member`, migrations `m20261122_000006` and
/// `m20261206_000013`) where binding and then reading were two round trips.
/// SQLite reads the same membership with the same conditions.
pub async fn begin_as_member(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    user_id: Uuid,
    session_id: Uuid,
) -> AppResult<(DatabaseTransaction, Option<MemberRole>)> {
    on_live_connection(db, || enter_as_member(db, tenant_id, user_id, session_id)).await
}

async fn enter_as_member(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    user_id: Uuid,
    session_id: Uuid,
) -> Result<(DatabaseTransaction, Option<MemberRole>), DbErr> {
    let txn = open(db, false).await?;
    if !is_postgres(&txn) {
        use sea_orm::sea_query::{Expr, Query};
        // The session lives while one of its refresh tokens is unrevoked.
        let live_session = Query::select()
            .expr(Expr::val(1))
            .from(refresh_tokens::Entity)
            .and_where(refresh_tokens::Column::TenantId.eq(tenant_id))
            .and_where(refresh_tokens::Column::FamilyId.eq(session_id))
            .and_where(refresh_tokens::Column::UserId.eq(user_id))
            .and_where(refresh_tokens::Column::RevokedAt.is_null())
            .to_owned();
        let role = memberships::Entity::find()
            .select_only()
            .column(memberships::Column::Role)
            .filter(memberships::Column::TenantId.eq(tenant_id))
            .filter(memberships::Column::UserId.eq(user_id))
            .join(JoinType::InnerJoin, memberships::Relation::Tenants.def())
            .join(JoinType::InnerJoin, memberships::Relation::Users.def())
            .filter(tenants::Column::IsActive.eq(true))
            .filter(tenants::Column::DeletedAt.is_null())
            .filter(users::Column::IsActive.eq(true))
            .filter(Expr::exists(live_session))
            .into_tuple()
            .one(&txn)
            .await?;
        return Ok((txn, role));
    }
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT app_enter_as_member($1, $2, $3)",
            [tenant_id.into(), user_id.into(), session_id.into()],
        ))
        .await?;
    let role: Option<MemberRole> = match row {
        Some(row) => row.try_get_by_index(0)?,
        None => None,
    };
    Ok((txn, role))
}

/// [`begin_for`], for a change (see [`begin_write`]).
pub async fn begin_for_write(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    user_id: Option<Uuid>,
) -> AppResult<DatabaseTransaction> {
    open_bound(db, true, migration::APP_ROLE, Some(tenant_id), user_id).await
}

/// Opens a transaction in no tenant: only global tables (users, tenants,
/// plans, login attempts) and, given a user, that user's own memberships are
/// visible. Used by login and tenant switching.
pub async fn begin_global(
    db: &DatabaseConnection,
    user_id: Option<Uuid>,
) -> AppResult<DatabaseTransaction> {
    open_bound(db, false, migration::APP_ROLE, None, user_id).await
}

/// Opens a transaction as `promohub_system`, for a change to the tables
/// every tenant shares (`migration::SHARED_TABLES`: jobs, the message
/// directory, webhook receipts, login attempts), which the tenant role may
/// not read. No tenant is bound, so every tenant-owned row stays hidden.
pub async fn begin_system_write(db: &DatabaseConnection) -> AppResult<DatabaseTransaction> {
    open_bound(db, true, migration::SYSTEM_ROLE, None, None).await
}

/// [`begin_system_write`], for reading only: on SQLite it does not take the
/// write lock (the mailbox watchers' rescan reads every few seconds in
/// every process).
pub async fn begin_system(db: &DatabaseConnection) -> AppResult<DatabaseTransaction> {
    open_bound(db, false, migration::SYSTEM_ROLE, None, None).await
}

/// Runs `work` (statements on the shared tables, in `conn`'s transaction,
/// not yet started) as `promohub_system` on PostgreSQL; then the transaction
/// is back to `promohub_app` with its tenant and user still bound. (SQLite
/// has no roles.)
pub async fn as_system<C, T>(
    conn: &C,
    work: impl std::future::Future<Output = AppResult<T>>,
) -> AppResult<T>
where
    C: ConnectionTrait,
{
    if !is_postgres(conn) {
        return work.await;
    }
    set_role(conn, migration::SYSTEM_ROLE).await?;
    let result = work.await;
    // A failed statement aborts the transaction: its error is the one to
    // report, and nothing more runs in it.
    if result.is_ok() {
        set_role(conn, migration::APP_ROLE).await?;
    }
    result
}

async fn set_role(conn: &impl ConnectionTrait, role: &str) -> AppResult<()> {
    conn.execute_raw(Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        "SELECT set_config('role', $1, true)",
        [role.into()],
    ))
    .await?;
    Ok(())
}

/// [`begin_global`], for a change (see [`begin_write`]).
pub async fn begin_global_write(
    db: &DatabaseConnection,
    user_id: Option<Uuid>,
) -> AppResult<DatabaseTransaction> {
    open_bound(db, true, migration::APP_ROLE, None, user_id).await
}

/// (Re)binds an open transaction to a tenant and user, e.g. once login has
/// picked the tenant. On PostgreSQL this is the one round trip that sets the
/// role and the row-level security settings; on SQLite there is nothing to do.
pub async fn bind(
    txn: &DatabaseTransaction,
    tenant_id: Option<Uuid>,
    user_id: Option<Uuid>,
) -> AppResult<()> {
    bind_as(txn, migration::APP_ROLE, tenant_id, user_id).await
}

/// Binds the transaction to `role`, a tenant and a user, transaction-locally
/// (one round trip; nothing outlives the transaction).
async fn bind_as(
    txn: &DatabaseTransaction,
    role: &str,
    tenant_id: Option<Uuid>,
    user_id: Option<Uuid>,
) -> AppResult<()> {
    Ok(bind_statement(txn, role, tenant_id, user_id).await?)
}

async fn bind_statement(
    txn: &DatabaseTransaction,
    role: &str,
    tenant_id: Option<Uuid>,
    user_id: Option<Uuid>,
) -> Result<(), DbErr> {
    if is_postgres(txn) {
        txn.execute_raw(Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT set_config('role', $1, true), \
                    set_config('app.tenant_id', $2, true), \
                    set_config('app.user_id', $3, true)",
            [
                role.into(),
                tenant_id
                    .map(|id| id.to_string())
                    .unwrap_or_default()
                    .into(),
                user_id.map(|id| id.to_string()).unwrap_or_default().into(),
            ],
        ))
        .await?;
    }
    Ok(())
}

/// Ends a transaction that only read.
///
/// On PostgreSQL it is dropped, not committed: the drop queues a `ROLLBACK`
/// that goes out with the pool's check of the returned connection, one round
/// trip where `COMMIT` costs two (the commit, then that check). A transaction
/// that changed nothing ends the same either way. SQLite commits (no round
/// trips there, and the snapshot is let go at once).
/// A read on the request's transaction ends with the request.
pub async fn end_read(txn: impl Into<ReadTxn>) -> AppResult<()> {
    let txn = match txn.into() {
        ReadTxn::Own(txn) => txn,
        ReadTxn::Request(_) => return Ok(()),
    };
    if is_postgres(&txn) {
        drop(txn);
        return Ok(());
    }
    Ok(txn.commit().await?)
}

/// `SELECT … WHERE tenant_id = <caller's tenant>`: the start of every query.
pub fn scoped<E: TenantScoped>(ctx: &RequestCtx) -> Select<E> {
    tenant_rows::<E>(ctx.tenant_id)
}

/// [`scoped`] for work that holds a tenant id rather than a caller: workers,
/// the tracker, webhooks, authentication before its `RequestCtx` exists.
pub fn tenant_rows<E: TenantScoped>(tenant_id: Uuid) -> Select<E> {
    E::find().filter(E::tenant_column().eq(tenant_id))
}

/// `UPDATE … WHERE tenant_id = <tenant>`: the start of every bulk update,
/// so a forgotten filter cannot reach another tenant's rows on SQLite
/// (where there is no row-level security behind it).
pub fn tenant_update<E: TenantScoped>(tenant_id: Uuid) -> UpdateMany<E> {
    E::update_many().filter(E::tenant_column().eq(tenant_id))
}

/// Runs a bulk update (from [`tenant_update`]) as one `UPDATE … RETURNING
/// id` and returns the ids of the rows it changed: what the events of a
/// set-based change name.
pub(crate) async fn update_returning_ids<E: TenantOwned>(
    conn: &impl ConnectionTrait,
    update: UpdateMany<E>,
) -> AppResult<Vec<Uuid>> {
    let mut statement = update.into_query();
    statement.returning_col(E::id_column());
    let rows = conn.query_all(&statement).await?;
    Ok(rows
        .iter()
        .map(|row| row.try_get_by_index::<Uuid>(0))
        .collect::<Result<_, _>>()?)
}

/// `DELETE … WHERE tenant_id = <tenant>`, as [`tenant_update`].
pub fn tenant_delete<E: TenantScoped>(tenant_id: Uuid) -> DeleteMany<E> {
    E::delete_many().filter(E::tenant_column().eq(tenant_id))
}

/// One row of the caller's tenant; another tenant's id is `NOT_FOUND`.
pub async fn find_owned<E: TenantOwned>(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    id: Uuid,
    what: &'static str,
) -> AppResult<E::Model> {
    scoped::<E>(ctx)
        .filter(E::id_column().eq(id))
        .one(conn)
        .await?
        .ok_or(AppError::not_found(what))
}

/// The one transaction a query request reads in, shared by its resolvers,
/// services and loaders (sea-orm runs one statement at a time on it).
/// Authentication opens it, bound to the caller in the round trip that
/// checks the credential; [`RequestTxn::finish`] ends it when the request
/// has executed. Empty for mutations (each change is a transaction of its
/// own), subscriptions and WebSocket operations.
#[derive(Clone, Default)]
pub struct RequestTxn(Option<Arc<Mutex<Option<Arc<DatabaseTransaction>>>>>);

impl RequestTxn {
    pub fn holding(txn: DatabaseTransaction) -> Self {
        Self(Some(Arc::new(Mutex::new(Some(Arc::new(txn))))))
    }

    fn current(&self) -> Option<Arc<DatabaseTransaction>> {
        let slot = self.0.as_ref()?;
        slot.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Ends the transaction (it only read). Reads after this open
    /// transactions of their own.
    pub async fn finish(&self) -> AppResult<()> {
        let Some(slot) = &self.0 else {
            return Ok(());
        };
        let taken = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        match taken.map(Arc::try_unwrap) {
            Some(Ok(txn)) => end_read(txn).await,
            // Still held by a reader that outlived the request: it ends
            // (rolled back) when that reader lets go.
            Some(Err(_)) | None => Ok(()),
        }
    }
}

impl std::fmt::Debug for RequestTxn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.current().is_some() {
            "RequestTxn(open)"
        } else {
            "RequestTxn(none)"
        })
    }
}

/// A transaction to read in: the request's, or one of this read's own.
pub enum ReadTxn {
    Request(Arc<DatabaseTransaction>),
    Own(DatabaseTransaction),
}

impl From<DatabaseTransaction> for ReadTxn {
    fn from(txn: DatabaseTransaction) -> Self {
        Self::Own(txn)
    }
}

impl std::ops::Deref for ReadTxn {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        match self {
            Self::Request(txn) => txn,
            Self::Own(txn) => txn,
        }
    }
}

impl ReadTxn {
    /// Ends the read ([`end_read`]).
    pub async fn commit(self) -> AppResult<()> {
        end_read(self).await
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for ReadTxn {
    fn get_database_backend(&self) -> DbBackend {
        (**self).get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        (**self).execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        (**self).execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        (**self).query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        (**self).query_all_raw(stmt).await
    }
}

/// How loaders and lists reach the database: the caller's reads, through
/// [`begin`] (the request's transaction when it has one).
#[derive(Clone)]
pub struct ReadScope {
    db: DatabaseConnection,
    ctx: RequestCtx,
}

impl ReadScope {
    pub fn new(db: DatabaseConnection, ctx: RequestCtx) -> Self {
        Self { db, ctx }
    }

    pub fn ctx(&self) -> &RequestCtx {
        &self.ctx
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub async fn read(&self) -> AppResult<ReadTxn> {
        begin(&self.db, &self.ctx).await
    }
}
