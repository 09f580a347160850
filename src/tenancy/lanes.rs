//! Read lanes: the PostgreSQL connections query requests read on.
//!
//! A query request reads under row-level security bound to its tenant (see
//! `ReadScope`). Through the pool that binding lives in a transaction, which
//! costs four round trips besides the reads: `BEGIN`, the bind, and, when
//! the connection goes back, the `ROLLBACK` that goes out with the pool's
//! liveness check of every returned connection. On a loaded server those
//! were a good part of the work of a page of leads, on both sides of the
//! socket.
//!
//! A lane is a connection kept apart from the pool whose session runs as
//! `promohub_app` from the moment it connects. A request binds the session
//! itself to its tenant and user (`app_lane_enter`, migration
//! `m20261122_000008`), in the same round trip that checks its credential,
//! and then reads with no transaction around its statements (each one sees
//! a snapshot of its own, as it would in a read-committed transaction). So a
//! page of leads costs two round trips: the bind and the page.
//!
//! A lane is used only by the request that holds it, and only after that
//! request bound it: reading on a lane that is not bound (yet, or any more)
//! is refused. The binding of the previous request is overwritten by the
//! next bind, before any read, so no request reads under another's tenant.
//! Lanes are taken in arrival order (a fair semaphore), one per request, and
//! are not pool connections, so requests holding one never wait on each
//! other for the pool.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sea_orm::sqlx::{self, AssertSqlSafe, ConnectOptions};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, RuntimeErr, Statement,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use entity::sea_orm_active_enums::MemberRole;

use crate::db::StatementObserver;
use crate::error::{AppError, AppResult};

/// The `application_name` lane connections report to PostgreSQL.
pub const APPLICATION_NAME: &str = "promohub read lane";

/// The lanes of one server.
pub struct ReadLanes {
    /// One permit per lane; waiters are served in arrival order.
    slots: Arc<Semaphore>,
    /// Idle lanes, the most recently used last (and taken first: under load
    /// a lane goes straight from one request to the next, and the others
    /// stay idle).
    idle: Mutex<Vec<Lane>>,
    options: PgConnectOptions,
    /// The server's pool: once it is closed (the server is shutting down,
    /// or the database was taken away), lanes are refused too.
    pool: sea_orm::sqlx::PgPool,
    observer: StatementObserver,
}

/// One connection (opened on first use, and again after it broke).
#[derive(Default)]
struct Lane {
    conn: Option<PgConnection>,
    /// Bound by the request that holds the lane; reads are refused until
    /// then.
    bound: bool,
    /// A statement was under way: if its request was cancelled there, the
    /// connection may be mid-message and is not used again.
    busy: bool,
}

impl ReadLanes {
    /// `count` lanes to the database `db` connects to, or `None` on SQLite
    /// (whose transactions cost no round trips).
    pub fn new(
        db: &DatabaseConnection,
        count: usize,
        observer: StatementObserver,
    ) -> Option<Arc<Self>> {
        if !crate::db::is_postgres(db) {
            return None;
        }
        let pool = db.get_postgres_connection_pool().clone();
        // Named, so that `pg_stat_activity` tells lanes from the pool.
        let options = (*pool.connect_options())
            .clone()
            .application_name(APPLICATION_NAME);
        Some(Arc::new(Self {
            slots: Arc::new(Semaphore::new(count.max(1))),
            idle: Mutex::new((0..count.max(1)).map(|_| Lane::default()).collect()),
            options,
            pool,
            observer,
        }))
    }

    /// Waits (in arrival order) for a lane.
    pub async fn take(self: &Arc<Self>) -> AppResult<LaneGuard> {
        let closed = || AppError::internal(anyhow::anyhow!("the database pool is closed"));
        if self.pool.is_closed() {
            return Err(closed());
        }
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| closed())?;
        let lane = self
            .idle
            .lock()
            .expect("read lanes")
            .pop()
            .expect("a permit always has an idle lane");
        Ok(LaneGuard {
            lanes: self.clone(),
            lane: Some(lane),
            _permit: permit,
        })
    }

    /// A new lane connection, its session running as `promohub_app` (so
    /// row-level security applies to everything it reads).
    async fn connect(&self) -> AppResult<PgConnection> {
        let mut conn = self
            .options
            .connect()
            .await
            .map_err(|e| AppError::from(DbErr::Conn(runtime(e))))?;
        let role = format!("SET ROLE {}", migration::rls::APP_ROLE);
        sqlx::raw_sql(AssertSqlSafe(role))
            .execute(&mut conn)
            .await
            .map_err(|e| AppError::from(DbErr::Conn(runtime(e))))?;
        Ok(conn)
    }

    fn observe(&self, statement: &Statement, started: Instant, failed: bool) {
        (self.observer)(&sea_orm::metric::Info {
            elapsed: started.elapsed(),
            statement,
            failed,
        });
    }
}

/// A lane held by one request; given back when dropped.
pub struct LaneGuard {
    lanes: Arc<ReadLanes>,
    /// `None` only while being given back.
    lane: Option<Lane>,
    /// Released after the lane is back among the idle ones (fields drop
    /// after `Drop::drop`).
    _permit: OwnedSemaphorePermit,
}

impl Drop for LaneGuard {
    fn drop(&mut self) {
        if let Some(mut lane) = self.lane.take() {
            if lane.busy {
                lane.conn = None;
                lane.busy = false;
            }
            lane.bound = false;
            self.lanes.idle.lock().expect("read lanes").push(lane);
        }
    }
}

impl LaneGuard {
    /// Binds the lane to `tenant` as `user` and reads the user's role there
    /// (`None` unless the membership, the user and the tenant are all
    /// active), as `scoped::begin_as_member` does on the pool. The lane
    /// stays unbound for a user who is not a member.
    pub async fn bind_as_member(
        &mut self,
        tenant: Uuid,
        user: Uuid,
    ) -> AppResult<Option<MemberRole>> {
        let row = self.enter(tenant, Some(user)).await?;
        // Decoded as the pool's path decodes it (sea-orm reads the text).
        let role: Option<MemberRole> = QueryResult::from(row).try_get_by_index(0)?;
        self.lane_mut().bound = role.is_some();
        Ok(role)
    }

    /// Binds the lane to `tenant` with no user (an API key), as
    /// `scoped::begin_for` does on the pool.
    pub async fn bind_tenant(&mut self, tenant: Uuid) -> AppResult<()> {
        self.enter(tenant, None).await?;
        self.lane_mut().bound = true;
        Ok(())
    }

    fn lane_mut(&mut self) -> &mut Lane {
        self.lane.as_mut().expect("held until dropped")
    }

    /// Runs `app_lane_enter` on the lane. A lane whose connection turns out
    /// to be gone is reconnected once, since nothing has run yet.
    async fn enter(&mut self, tenant: Uuid, user: Option<Uuid>) -> AppResult<PgRow> {
        const ENTER: &str = "SELECT app_lane_enter($1, $2)";
        let lanes = self.lanes.clone();
        let lane = self.lane_mut();
        lane.bound = false;
        for attempt in 0..2 {
            if lane.conn.is_none() {
                lane.conn = Some(lanes.connect().await?);
            }
            let conn = lane.conn.as_mut().expect("connected above");
            let started = Instant::now();
            lane.busy = true;
            let result = sqlx::query(ENTER)
                .bind(tenant)
                .bind(user)
                .fetch_one(conn)
                .await;
            lane.busy = false;
            lanes.observe(
                &Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    ENTER,
                    [tenant.into(), user.into()],
                ),
                started,
                result.is_err(),
            );
            match result {
                Ok(row) => return Ok(row),
                Err(error) if !broke_connection(&error) => {
                    return Err(DbErr::Query(runtime(error)).into());
                }
                Err(error) if attempt == 0 => {
                    tracing::warn!(%error, "a read lane's connection broke; reconnecting");
                    lane.conn = None;
                }
                Err(error) => {
                    lane.conn = None;
                    return Err(DbErr::Conn(runtime(error)).into());
                }
            }
        }
        unreachable!("the second attempt returns")
    }

    /// The bound lane as a connection for sea-orm.
    pub fn conn(&mut self) -> LaneConn<'_> {
        LaneConn {
            observer: &self.lanes,
            lane: tokio::sync::Mutex::new(self.lane.as_mut().expect("held until dropped")),
        }
    }
}

/// The error is the connection's, not the statement's: the lane must not
/// use that connection again. PostgreSQL reports a backend terminated by an
/// administrator (or shutting down) as an error message (SQLSTATE class 57P)
/// before it closes the socket; class 08 is a connection exception.
fn broke_connection(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(error) => error
            .code()
            .is_some_and(|code| code.starts_with("57P") || code.starts_with("08")),
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => true,
        _ => false,
    }
}

fn runtime(error: sqlx::Error) -> RuntimeErr {
    RuntimeErr::SqlxError(Arc::new(error))
}

/// A held lane, borrowed for sea-orm's queries. Statements run one at a time
/// (a connection runs one at a time anyway).
pub struct LaneConn<'a> {
    observer: &'a ReadLanes,
    lane: tokio::sync::Mutex<&'a mut Lane>,
}

impl LaneConn<'_> {
    async fn run<T>(
        &self,
        statement: Statement,
        to_err: fn(RuntimeErr) -> DbErr,
        run: impl AsyncFnOnce(
            sqlx::query::Query<'_, sqlx::Postgres, SqlxValues>,
            &mut PgConnection,
        ) -> Result<T, sqlx::Error>,
    ) -> Result<T, DbErr> {
        let mut lane = self.lane.lock().await;
        let lane = &mut **lane;
        if !lane.bound {
            return Err(DbErr::Conn(RuntimeErr::Internal(
                "a read lane is read on only once its request bound it".to_owned(),
            )));
        }
        let Some(conn) = lane.conn.as_mut() else {
            return Err(DbErr::Conn(RuntimeErr::Internal(
                "the read lane's connection broke earlier in this request".to_owned(),
            )));
        };
        let values = statement
            .values
            .clone()
            .unwrap_or(sea_orm::Values(Vec::new()));
        let started = Instant::now();
        lane.busy = true;
        let result = run(
            sqlx::query_with(AssertSqlSafe(statement.sql.as_str()), SqlxValues(values)),
            conn,
        )
        .await;
        lane.busy = false;
        self.observer.observe(&statement, started, result.is_err());
        match result {
            Ok(value) => Ok(value),
            Err(error) => {
                if broke_connection(&error) {
                    lane.conn = None;
                }
                Err(to_err(runtime(error)))
            }
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for LaneConn<'_> {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.run(stmt, DbErr::Exec, async |query, conn| {
            query.execute(conn).await.map(ExecResult::from)
        })
        .await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let statement = Statement::from_string(DbBackend::Postgres, sql);
        self.run(statement, DbErr::Exec, async |_, conn| {
            sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                .execute(conn)
                .await
                .map(ExecResult::from)
        })
        .await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.run(stmt, DbErr::Query, async |query, conn| {
            query
                .fetch_optional(conn)
                .await
                .map(|row| row.map(QueryResult::from))
        })
        .await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.run(stmt, DbErr::Query, async |query, conn| {
            query
                .fetch_all(conn)
                .await
                .map(|rows| rows.into_iter().map(QueryResult::from).collect())
        })
        .await
    }
}

/// A connection a request reads on: its lane, or a transaction of its own.
pub enum ReadConn<'a> {
    Lane(LaneConn<'a>),
    Txn(&'a DatabaseTransaction),
}

#[async_trait::async_trait]
impl ConnectionTrait for ReadConn<'_> {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            Self::Lane(lane) => lane.get_database_backend(),
            Self::Txn(txn) => txn.get_database_backend(),
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            Self::Lane(lane) => lane.execute_raw(stmt).await,
            Self::Txn(txn) => txn.execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            Self::Lane(lane) => lane.execute_unprepared(sql).await,
            Self::Txn(txn) => txn.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            Self::Lane(lane) => lane.query_one_raw(stmt).await,
            Self::Txn(txn) => txn.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            Self::Lane(lane) => lane.query_all_raw(stmt).await,
            Self::Txn(txn) => txn.query_all_raw(stmt).await,
        }
    }
}
