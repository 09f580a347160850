//! Request spans and HTTP metrics.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

use crate::app::REQUEST_ID;

/// The span every log line of a request is written in: it carries the id.
pub(crate) fn request_span(request: &Request) -> tracing::Span {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %request.method(),
        path = %request.uri().path(),
    )
}

/// The GraphQL operation a response answered, for the access log: the
/// client's operation name (cut to `MAX_OPERATION_NAME` characters), else
/// the document's bounded label (`query:leads`).
#[derive(Clone)]
pub(crate) struct AnsweredOperation(String);

const MAX_OPERATION_NAME: usize = 100;

impl AnsweredOperation {
    pub(crate) fn named(client_name: Option<&str>, label: &str) -> Self {
        Self(match client_name {
            Some(name) => name.chars().take(MAX_OPERATION_NAME).collect(),
            None => label.to_owned(),
        })
    }
}

/// Counts requests and their latency by route and status class, and writes
/// the access log: one INFO line per request (target `promohub::access`;
/// `RUST_LOG=info,promohub::access=off` silences it), inside the request's
/// span, which carries the request id, method and path.
pub(crate) async fn record_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let operation = response
        .extensions()
        .get::<AnsweredOperation>()
        .map_or("-", |answered| answered.0.as_str());
    tracing::info!(
        target: "promohub::access",
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        operation,
        "answered"
    );
    metrics::counter!("promohub_http_requests_total", "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("promohub_http_request_duration_seconds", "route" => route)
        .record(elapsed.as_secs_f64());
    response
}

/// Records one GraphQL operation: `label` is bounded (`query:me`), never the
/// client's free-form operation name.
pub(crate) fn record_operation(label: &str, ok: bool, started: Instant) {
    let outcome = if ok { "ok" } else { "error" };
    metrics::counter!("promohub_graphql_operations_total", "operation" => label.to_owned(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!("promohub_graphql_operation_duration_seconds", "operation" => label.to_owned())
        .record(started.elapsed().as_secs_f64());
}
