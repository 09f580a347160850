//! Router assembly: the routes and the tower layers around them.

use std::time::Duration;

use ::http::{HeaderName, Method, StatusCode, header};
use axum::Router;
use axum::routing::get;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::http;
use crate::state::AppState;

pub(crate) static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The production router, used as-is by the tests.
pub(crate) fn router(state: AppState) -> Router {
    let limits = &state.shared.config.limits;
    let origins = &state.shared.config.cors_origins;
    let cors = CorsLayer::new()
        .allow_origin(if origins.is_empty() {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(origins.iter().cloned())
        })
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            REQUEST_ID.clone(),
        ])
        // Browser code may read the id to quote it in a bug report.
        .expose_headers([REQUEST_ID.clone()])
        .max_age(Duration::from_secs(600));
    Router::new()
        .route(
            "/graphql",
            get(http::graphql::get_or_upgrade).post(http::graphql::post),
        )
        .route("/graphql/ws", get(http::ws::upgrade))
        .route("/graphql/assets/{name}", get(http::graphiql::asset))
        .route("/t/o/{token}", get(crate::messaging::tracking::http::open))
        .route("/t/c/{token}", get(crate::messaging::tracking::http::click))
        .route(
            "/u/{token}",
            get(crate::messaging::tracking::http::unsubscribe_page)
                .post(crate::messaging::tracking::http::unsubscribe),
        )
        .route(
            "/webhooks/email/{provider}",
            axum::routing::post(crate::messaging::webhooks::http::receive),
        )
        .route(
            "/imports",
            axum::routing::post(crate::crm::imports::http::upload),
        )
        .route(
            "/imports/{id}/failed.csv",
            get(crate::crm::imports::http::failed_rows),
        )
        .route("/health", get(http::health::health))
        .route("/ready", get(http::health::ready))
        .route("/metrics", get(http::health::metrics))
        .layer(cors)
        // Public forms answer CORS by each form's own allowed origins.
        .route(
            "/f/{public_id}",
            get(crate::capture::forms::http::show)
                .post(crate::capture::forms::http::submit)
                .options(crate::capture::forms::http::preflight),
        )
        .route(
            "/f/{public_id}/embed",
            get(crate::capture::forms::http::embed),
        )
        .route(
            "/f/confirm/{token}",
            get(crate::capture::forms::http::confirm),
        )
        // The tracker: any site may send views (open CORS, answered by the
        // handlers).
        .route("/t/p.js", get(crate::capture::page_views::http::script))
        .route(
            "/t/pv",
            axum::routing::post(crate::capture::page_views::http::view),
        )
        .route("/t/pv.gif", get(crate::capture::page_views::http::pixel))
        .layer(axum::middleware::from_fn(http::observe::record_request))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http::client::resolve,
        ))
        .layer(CompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(limits.request_timeout_secs),
        ))
        // The GraphQL extractor would read any body size: bound it here
        // (files to import have their own, larger bound).
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http::limits::body_limit,
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(http::observe::request_span))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
        .with_state(state)
}
