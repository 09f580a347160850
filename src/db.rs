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
        .max_connections(config.db_pool_size)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
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
    // Statements per request is the figure that shows an N+1 in production
    // (and the benchmark reports it from this counter).
    db.set_metric_callback(|info| {
        metrics::counter!("promohub_sql_statements_total").increment(1);
        metrics::histogram!("promohub_sql_statement_duration_seconds")
            .record(info.elapsed.as_secs_f64());
    });
    Ok(db)
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

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    migration::Migrator::up(db, None).await?;
    Ok(())
}

/// True on PostgreSQL, where row-level security and other fast paths apply.
pub fn is_postgres(db: &impl sea_orm::ConnectionTrait) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

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
