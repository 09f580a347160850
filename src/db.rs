//! Database connection for both backends.
//!
//! SQLite is the embedded default so `cargo run` works on a bare machine;
//! PostgreSQL is the production backend. sea-orm opens a single SQLite
//! connection unless told otherwise, so we set the pool size, WAL and a busy
//! timeout: otherwise concurrent resolvers would queue behind one another.

use std::time::Duration;

use migration::MigratorTrait;
use sea_orm::sqlx::postgres::PgSslMode;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};

use crate::config::Config;

/// Opens the pool described by the configuration.
pub async fn connect(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(config.database_url.clone());
    let sslmode_given = config.database_url.contains("sslmode=");
    options
        .max_connections(config.pool_size())
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        // sqlx pings every connection it gets back (a rollback of anything
        // left open goes with that ping), so a connection in use is known to
        // be live; pinging it again when it is handed out cost every request
        // one more round trip. Only one idle long enough for the server or a
        // proxy to have dropped it is checked first.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
        })
        .map_sqlx_postgres_opts(move |opts| {
            // The driver's default `prefer` negotiates TLS whenever the server
            // offers it, also over loopback, where it protects nothing and
            // costs both sides CPU on every round trip. A URL that names an
            // `sslmode` is taken at its word.
            if !sslmode_given && is_loopback(opts.get_host()) {
                opts.ssl_mode(PgSslMode::Disable)
            } else {
                opts
            }
        });
    let mut db = Database::connect(options).await?;
    db.set_metric_callback(count_statement);
    Ok(db)
}

/// Counts statements and their durations for `/metrics` (sea-orm's metric
/// callback sees every statement the server runs). Statements per request
/// is the figure that shows an N+1 in production (and the benchmark reports
/// it from this counter).
fn count_statement(info: &sea_orm::metric::Info<'_>) {
    metrics::counter!("promohub_sql_statements_total").increment(1);
    metrics::histogram!("promohub_sql_statement_duration_seconds")
        .record(info.elapsed.as_secs_f64());
}

/// A host that never leaves the machine: loopback or a Unix socket directory.
fn is_loopback(host: &str) -> bool {
    host.starts_with('/')
        || host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// True when `error` says the connection itself failed (closed, reset,
/// terminated by the server: `pg_terminate_backend`, a restart), not the
/// statement. sqlx drops such a connection when it comes back to the pool
/// (its check of a returned connection fails), so another attempt gets
/// another connection.
pub fn is_connection_error(error: &sea_orm::DbErr) -> bool {
    use sea_orm::sqlx::Error;
    use sea_orm::{DbErr, RuntimeErr};
    let (DbErr::Conn(RuntimeErr::SqlxError(error))
    | DbErr::Exec(RuntimeErr::SqlxError(error))
    | DbErr::Query(RuntimeErr::SqlxError(error))) = error
    else {
        return false;
    };
    match &**error {
        Error::Io(_) | Error::Tls(_) | Error::Protocol(_) | Error::WorkerCrashed => true,
        // 57P01 admin_shutdown (terminated, or the server shutting down),
        // 57P02 crash_shutdown, 57P03 cannot_connect_now, and class 08,
        // connection exceptions.
        Error::Database(error) => error.code().is_some_and(|code| {
            matches!(&*code, "57P01" | "57P02" | "57P03") || code.starts_with("08")
        }),
        _ => false,
    }
}

/// [`is_connection_error`] behind an [`crate::error::AppError`].
pub fn is_connection_failure(error: &crate::error::AppError) -> bool {
    match error {
        crate::error::AppError::Internal(cause) => cause
            .downcast_ref::<sea_orm::DbErr>()
            .is_some_and(is_connection_error),
        _ => false,
    }
}

/// How many connections the pool may hold: the most dead ones a caller
/// can meet in a row after the server dropped them all.
pub fn pool_size(db: &DatabaseConnection) -> u32 {
    if is_postgres(db) {
        db.get_postgres_connection_pool()
            .options()
            .get_max_connections()
    } else {
        1
    }
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    migration::Migrator::up(db, None).await?;
    Ok(())
}

/// True on PostgreSQL, where row-level security and other fast paths apply.
pub fn is_postgres(db: &impl sea_orm::ConnectionTrait) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

/// Builds `select` for `backend`; with `literal_limits`, its page size is
/// part of its text: `LIMIT 51`, not `LIMIT $2`.
///
/// PostgreSQL plans a prepared statement once and reuses that generic plan
/// only when it costs about what a plan for the actual values would. With the
/// limit a parameter, the generic plan has to assume a tenth of the table is
/// wanted, so it never measures up, and every execution of a list query was
/// planned afresh, which took longer than running it (bench/README.md,
/// "Costs behind the code"). Page sizes take few values, so the statement
/// cache holds a handful of variants. Only LIMIT and OFFSET are unsigned
/// 64-bit values in our queries, and digits need no quoting.
pub fn build_select(
    backend: DbBackend,
    select: &sea_orm::sea_query::SelectStatement,
    literal_limits: bool,
) -> sea_orm::Statement {
    if !literal_limits {
        return backend.build(select);
    }
    use sea_orm::sea_query::{
        PostgresQueryBuilder, QueryBuilder, SqlWriter, SqlWriterValues, SqliteQueryBuilder, Value,
    };

    struct LiteralLimits(SqlWriterValues);

    impl std::fmt::Write for LiteralLimits {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.write_str(s)
        }
    }

    impl std::fmt::Display for LiteralLimits {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            self.0.fmt(f)
        }
    }

    impl SqlWriter for LiteralLimits {
        fn push_param<T: QueryBuilder>(&mut self, value: Value, query_builder: &T) {
            match value {
                Value::BigUnsigned(Some(n)) => {
                    std::fmt::Write::write_fmt(&mut self.0, format_args!("{n}"))
                        .expect("writing to a String");
                }
                other => self.0.push_param(other, query_builder),
            }
        }

        fn as_writer(&mut self) -> &mut dyn std::fmt::Write {
            self as _
        }
    }

    fn build(
        select: &sea_orm::sea_query::SelectStatement,
        builder: &impl QueryBuilder,
    ) -> (String, sea_orm::sea_query::Values) {
        let (placeholder, numbered) = builder.placeholder();
        let mut writer = LiteralLimits(SqlWriterValues::new(placeholder, numbered));
        select.build_collect_any_into(builder, &mut writer);
        writer.0.into_parts()
    }

    let (sql, values) = match backend {
        DbBackend::Postgres => build(select, &PostgresQueryBuilder),
        _ => build(select, &SqliteQueryBuilder),
    };
    sea_orm::Statement::from_sql_and_values(backend, sql, values)
}

/// `select.all(conn)` with its LIMIT and OFFSET written into the SQL (see
/// [`build_select`]): for list pages, which PostgreSQL would
/// otherwise plan afresh on every execution.
pub async fn all_with_literal_limits<E: sea_orm::EntityTrait>(
    conn: &impl sea_orm::ConnectionTrait,
    select: sea_orm::Select<E>,
) -> Result<Vec<E::Model>, sea_orm::DbErr> {
    use sea_orm::QueryTrait;
    let statement = build_select(conn.get_database_backend(), &select.into_query(), true);
    E::find().from_raw_sql(statement).all(conn).await
}

/// Between the write transactions of a long task (an import, a segment
/// re-check) on SQLite: a short pause, so that a writer waiting for the
/// one write lock (its busy handler sleeps and retries) gets its turn
/// instead of meeting the next transaction. PostgreSQL needs none.
pub async fn let_writers_in(db: &DatabaseConnection) {
    if !is_postgres(db) {
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
}

/// Keeps PostgreSQL's statistics in step with tables that a bulk write
/// (an import) grows.
///
/// PostgreSQL plans a prepared statement, and each foreign-key check, once
/// per connection and keeps the plan until the statistics of a table it
/// reads change. A plan made while a tenant's first import had barely begun
/// (the table nearly empty) looks rows up by the tenant alone and filters
/// the rest, which costs nothing then and a scan of all the tenant's rows
/// per lookup later: an import of 100,000 lines ran at 1,200 lines/s for
/// its first 10,000 and 100 lines/s at the end. Autovacuum refreshes the
/// statistics at its own pace (every minute at best, and never where it is
/// off), so the writer refreshes them itself each time the first table has
/// grown by as many rows as the statistics say it holds: a handful of
/// `ANALYZE`s over a whole import (each one samples at most 30,000 rows),
/// and every connection's plans are made again after each.
pub struct GrowingTables {
    tables: &'static [&'static str],
    written: u64,
}

impl GrowingTables {
    /// `tables`: the first is the one whose size decides.
    pub fn new(tables: &'static [&'static str]) -> Self {
        Self { tables, written: 0 }
    }

    /// Counts `rows` written (and committed) to the tables, and refreshes
    /// their statistics when they have grown enough. A failure (a role that
    /// may not analyze) is logged, never the writer's.
    pub async fn wrote(&mut self, db: &DatabaseConnection, rows: u64) {
        if !is_postgres(db) {
            return;
        }
        self.written += rows;
        if let Err(error) = self.refresh(db).await {
            tracing::warn!(?error, tables = ?self.tables, "could not refresh statistics");
            // Not again at every chunk.
            self.written = 0;
        }
    }

    async fn refresh(&mut self, db: &DatabaseConnection) -> anyhow::Result<()> {
        use sea_orm::ConnectionTrait;
        // Read by the server's own connection user, outside any tenant's
        // transaction: `pg_class` is readable by everyone and ANALYZE
        // needs the tables' owner, which that user is.
        let row = db
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass($1)",
                [self.tables[0].into()],
            ))
            .await?;
        // -1: never analyzed.
        let known: i64 = match row {
            Some(row) => row.try_get_by_index(0)?,
            None => return Ok(()),
        };
        if self.written < Ord::max(known, 500) as u64 {
            return Ok(());
        }
        db.execute_unprepared(&format!("ANALYZE {}", self.tables.join(", ")))
            .await?;
        metrics::counter!("promohub_statistics_refreshes_total").increment(1);
        self.written = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{build_select, is_loopback};
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};

    #[test]
    fn page_sizes_are_written_into_the_sql_and_filters_stay_parameters() {
        let mut select = Query::select();
        select
            .column(Alias::new("id"))
            .from(Alias::new("leads"))
            .and_where(Expr::col(Alias::new("score")).gt(40))
            .and_where(Expr::col(Alias::new("city")).eq("Lyon"))
            .limit(51)
            .offset(100);
        let pg = build_select(sea_orm::DbBackend::Postgres, &select, true);
        assert_eq!(
            pg.sql,
            r#"SELECT "id" FROM "leads" WHERE "score" > $1 AND "city" = $2 LIMIT 51 OFFSET 100"#
        );
        assert_eq!(pg.values.map(|v| v.0.len()), Some(2));
        let sqlite = build_select(sea_orm::DbBackend::Sqlite, &select, true);
        assert_eq!(
            sqlite.sql,
            r#"SELECT "id" FROM "leads" WHERE "score" > ? AND "city" = ? LIMIT 51 OFFSET 100"#
        );
    }

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "/var/run/postgresql",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["db.internal", "10.0.0.5", "2001:db8::1", ""] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
