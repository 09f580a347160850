//! Database connection for both backends.
//!
//! SQLite is the embedded default so `cargo run` works on a bare machine;
//! PostgreSQL is the production backend. sea-orm opens a single SQLite
//! connection unless told otherwise, so we set the pool size, WAL and a busy
//! timeout: otherwise concurrent resolvers would queue behind one another.

use std::time::Duration;

use migration::MigratorTrait;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};

use crate::config::Config;

/// Opens the pool described by the configuration.
pub async fn connect(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(config.database_url.clone());
    options
        .max_connections(config.db_pool_size)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
        });
    let mut db = Database::connect(options).await?;
    // Statements per request is the figure that shows an N+1 in production
    // (and the benchmark reports it from this counter).
    db.set_metric_callback(|info| {
        metrics::counter!("promohub_sql_statements_total").increment(1);
        metrics::histogram!("promohub_sql_statement_duration_seconds")
            .record(info.elapsed.as_secs_f64());
    });
    Ok(db)
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
