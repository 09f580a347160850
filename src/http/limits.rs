//! The bound on request bodies: `limits.body_bytes` for every request but
//! a file to import (`POST /imports`, or a GraphQL multipart request
//! carrying one), which `import_max_mb` bounds instead. A body declared
//! larger is refused at once with 413; one that turns out larger fails
//! when read (the handlers answer 413 then).

use ::http::{StatusCode, header};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// Room for a multipart form's boundaries and other fields around the file.
const FORM_OVERHEAD: usize = 1 << 20;

pub(crate) async fn body_limit(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let config = &state.shared.config;
    let path = request.uri().path();
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let carries_file = path == "/imports" || (path == "/graphql" && multipart);
    let limit = if carries_file {
        usize::try_from(config.import_max_mb)
            .unwrap_or(usize::MAX)
            .saturating_mul(1 << 20)
            .saturating_add(FORM_OVERHEAD)
    } else if path.starts_with("/f/") {
        config.limits.form_body_bytes
    } else {
        config.limits.body_bytes
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body is too large").into_response();
    }
    let (parts, body) = request.into_parts();
    let body = Body::new(http_body_util::Limited::new(body, limit));
    next.run(Request::from_parts(parts, body)).await
}
