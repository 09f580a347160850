//! `/health` (process alive), `/ready` (database reachable), `/metrics`.

use ::http::{StatusCode, header};
use axum::extract::State;
use axum::response::IntoResponse;
use sea_orm::ConnectionTrait;

use crate::state::AppState;

/// Alive, without touching the database: a slow database must not get a
/// healthy process restarted.
pub(crate) async fn health() -> impl IntoResponse {
    (StatusCode::OK, "ok")
}

/// Ready when the database answers.
pub(crate) async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let probe = sea_orm::Statement::from_string(state.shared.db.get_database_backend(), "SELECT 1");
    match state.shared.db.execute_raw(probe).await {
        Ok(_) => (StatusCode::OK, "ready"),
        Err(error) => {
            tracing::warn!(error = %error, "readiness probe failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
    }
}

/// Prometheus text format. Pool gauges are read at scrape time.
pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let (size, idle) = pool_usage(&state.shared.db);
    metrics::gauge!("promohub_db_pool_connections", "state" => "in_use")
        .set(size.saturating_sub(idle) as f64);
    metrics::gauge!("promohub_db_pool_connections", "state" => "idle").set(idle as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

fn pool_usage(db: &sea_orm::DatabaseConnection) -> (u32, u32) {
    match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle() as u32)
        }
        _ => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle() as u32)
        }
    }
}
