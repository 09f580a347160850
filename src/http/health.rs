//! `/health` (process alive), `/ready` (database reachable), `/metrics`.

use ::http::{HeaderMap, StatusCode, header};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use sea_orm::ConnectionTrait;
use subtle::ConstantTimeEq;

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
///
/// Metrics describe the whole deployment (every tenant's traffic), so with
/// `PROMOHUB_METRICS_TOKEN` set a scraper must send it as a bearer token;
/// without one they are served in development only.
pub(crate) async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let config = &state.shared.config;
    match &config.metrics_token {
        Some(token) => {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default();
            if !bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer")],
                    "metrics need the metrics token",
                )
                    .into_response();
            }
        }
        None if config.is_production() => return StatusCode::NOT_FOUND.into_response(),
        None => {}
    }
    let (size, idle) = pool_usage(&state.shared.db);
    metrics::gauge!("promohub_db_pool_connections", "state" => "in_use")
        .set(size.saturating_sub(idle) as f64);
    metrics::gauge!("promohub_db_pool_connections", "state" => "idle").set(idle as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
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
