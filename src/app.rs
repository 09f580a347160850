//! Router assembly and shared state.

use std::sync::Arc;
use std::time::Duration;

use ::http::{HeaderName, Method, StatusCode, header};
use axum::Router;
use axum::routing::get;
use sea_orm::DatabaseConnection;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::jwt::JwtKeys;
use crate::config::Config;
use crate::engagement::EngagementHub;
use crate::events::EventHub;
use crate::graphql::Schemas;
use crate::http;
use crate::secrets::{SecretBox, TrackingSigner};

/// How many tenant events a slow subscriber may fall behind before it skips.
const EVENT_BUFFER: usize = 1024;

/// Process-wide services, reachable from every resolver.
pub struct Shared {
    pub db: DatabaseConnection,
    pub config: Config,
    pub jwt: JwtKeys,
    pub hub: EventHub,
    /// Engagement events for live subscribers.
    pub engagement: EngagementHub,
    /// Wakes this process's job workers.
    pub jobs: crate::jobs::JobSignal,
    /// Seals SMTP passwords at rest.
    pub secrets: SecretBox,
    /// Signs open, click and unsubscribe tokens.
    pub tracking: TrackingSigner,
    /// Authenticates provider webhooks (and caches SNS certificates).
    pub webhooks: crate::webhooks::providers::WebhookVerifier,
    /// Query requests holding a read transaction, at most
    /// `Config::read_slots` at once, taken in arrival order.
    pub read_slots: tokio::sync::Semaphore,
    /// Records opens and clicks in batches.
    pub tracker: crate::tracking::TrackingWriter,
    /// Parsed GraphQL documents by their text.
    pub documents: crate::graphql::limits::DocumentCache,
}

/// What the HTTP handlers hold.
#[derive(Clone)]
pub struct AppState {
    pub shared: Arc<Shared>,
    pub schemas: Schemas,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
}

impl AppState {
    pub fn new(db: DatabaseConnection, config: Config) -> Self {
        let engagement = EngagementHub::new(config.messaging.subscription_buffer);
        engagement.listen(db.clone(), config.database_listen_url.clone());
        let shared = Arc::new(Shared {
            jwt: JwtKeys::new(&config),
            hub: EventHub::new(EVENT_BUFFER),
            jobs: crate::jobs::JobSignal::default(),
            engagement: engagement.clone(),
            secrets: SecretBox::new(&config.messaging.secrets_key)
                .expect("PROMOHUB_SECRETS_KEY is checked at startup"),
            tracking: TrackingSigner::new(&config.messaging.tracking_secret),
            webhooks: crate::webhooks::providers::WebhookVerifier::new(
                crate::webhooks::http::settings(&config.messaging),
            ),
            read_slots: tokio::sync::Semaphore::new(config.read_slots()),
            tracker: crate::tracking::TrackingWriter::start(
                db.clone(),
                engagement.clone(),
                config.messaging.machine_window_ms,
                // SQLite has one writer anyway. On PostgreSQL batches are
                // round trips more than CPU: while one writer waits for its
                // commit the others prepare theirs (they queue only for the
                // tenant's sequence row, taken last).
                if config.is_sqlite() {
                    1
                } else {
                    // Never more than a third of the pool.
                    TRACKING_WRITERS_POSTGRES.min((config.pool_size() as usize / 3).max(1))
                },
            ),
            documents: Default::default(),
            db,
            config,
        });
        Self {
            schemas: Schemas::build(shared.clone()),
            shared,
            metrics: crate::telemetry::metrics_handle(),
        }
    }
}

/// Concurrent tracking writers on PostgreSQL, each with a pooled connection.
const TRACKING_WRITERS_POSTGRES: usize = 4;

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The production router, used as-is by the tests.
pub fn router(state: AppState) -> Router {
    let limits = &state.shared.config.limits;
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .max_age(Duration::from_secs(600));
    Router::new()
        .route(
            "/graphql",
            get(http::graphql::get_or_upgrade).post(http::graphql::post),
        )
        .route("/graphql/ws", get(http::ws::upgrade))
        .route("/t/o/{token}", get(crate::tracking::http::open))
        .route("/t/c/{token}", get(crate::tracking::http::click))
        .route(
            "/u/{token}",
            get(crate::tracking::http::unsubscribe_page).post(crate::tracking::http::unsubscribe),
        )
        .route(
            "/webhooks/email/{provider}",
            axum::routing::post(crate::webhooks::http::receive),
        )
        .route("/health", get(http::health::health))
        .route("/ready", get(http::health::ready))
        .route("/metrics", get(http::health::metrics))
        .layer(axum::middleware::from_fn(http::observe::record_request))
        .layer(CompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(limits.request_timeout_secs),
        ))
        // The GraphQL extractor would read any body size: bound it here.
        .layer(RequestBodyLimitLayer::new(limits.body_bytes))
        .layer(cors)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(http::observe::request_span))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
        .with_state(state)
}
