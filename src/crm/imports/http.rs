//! `POST /imports`: a CSV file streamed in, as the raw body (`Content-Type:
//! text/csv`, the file's name in `?name=`) or as the `file` field of a
//! `multipart/form-data` form; answers `201` with the new import's id (the
//! rest is `import(id)` in GraphQL). `GET /imports/{id}/failed.csv`: the
//! rejected rows with an `error` column. Both take the `Authorization`
//! header GraphQL takes.

use ::http::{HeaderMap, StatusCode, header};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde::Deserialize;

use super::service;
use crate::error::AppError;
use crate::state::AppState;
use crate::tenancy::RequestCtx;

/// Bytes read from an uploaded temporary file at a time.
const READ_BYTES: usize = 64 * 1024;

/// A file's bytes as a stream, a buffer at a time.
pub(crate) fn chunks(
    mut file: tokio::fs::File,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
    Box::pin(async_stream::try_stream! {
        use tokio::io::AsyncReadExt;
        loop {
            let mut buffer = vec![0u8; READ_BYTES];
            let read = file.read(&mut buffer).await?;
            if read == 0 {
                break;
            }
            buffer.truncate(read);
            yield Bytes::from(buffer);
        }
    })
}

#[derive(Deserialize)]
pub(crate) struct UploadQuery {
    name: Option<String>,
}

pub(crate) async fn upload(
    State(state): State<AppState>,
    Query(query): Query<UploadQuery>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let ctx = match caller(&state, &parts.headers).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let shared = &state.shared;
    let stored = if content_type.starts_with("multipart/form-data") {
        let Ok(boundary) = multer::parse_boundary(&content_type) else {
            return error(AppError::invalid(
                "body",
                "a multipart body needs its boundary",
            ));
        };
        let mut form = multer::Multipart::new(body.into_data_stream(), boundary);
        loop {
            match form.next_field().await {
                Ok(Some(field)) if field.name() == Some("file") => {
                    let name = field
                        .file_name()
                        .map(str::to_owned)
                        .or_else(|| query.name.clone())
                        .unwrap_or_default();
                    break service::upload(shared, &ctx, &name, field, "file").await;
                }
                Ok(Some(_)) => continue,
                Ok(None) => break Err(AppError::invalid("file", "the form has no file field")),
                Err(e) => {
                    break Err(AppError::invalid(
                        "file",
                        format!("the form could not be read: {e}"),
                    ));
                }
            }
        }
    } else {
        let name = query.name.clone().unwrap_or_default();
        service::upload(shared, &ctx, &name, body.into_data_stream(), "body").await
    };
    match stored {
        Ok(batch) => (
            StatusCode::CREATED,
            axum::Json(serde_json::json!({ "id": batch.id.to_string() })),
        )
            .into_response(),
        Err(AppError::BadUserInput { field, message }) if message.starts_with("is larger than") => {
            json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                Some(field),
                "LIMIT_EXCEEDED",
                message,
            )
        }
        Err(e) => error(e),
    }
}

pub(crate) async fn failed_rows(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let ctx = match caller(&state, &headers).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return error(AppError::NotFound("import"));
    };
    let batch = match service::get(&state.shared, &ctx, id).await {
        Ok(batch) => batch,
        Err(e) => return error(e),
    };
    let name = batch.file_name.trim_end_matches(".csv").replace('"', "");
    let stream = service::failed_rows_csv(state.shared.clone(), ctx, batch)
        .map(|chunk| chunk.map_err(|e| std::io::Error::other(e.public_message())));
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}-failed-rows.csv\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn caller(state: &AppState, headers: &HeaderMap) -> Result<RequestCtx, Response> {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(error(AppError::unauthenticated(
            "sign in: send Authorization: Bearer …",
        )));
    };
    crate::identity::auth::authenticate::from_header(
        &state.shared.db,
        &state.shared.jwt,
        value,
        false,
    )
    .await
    .map_err(error)
}

/// An error as JSON with the status that fits it; the field when one is at
/// fault.
fn error(error: AppError) -> Response {
    let status = match &error {
        AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::BadUserInput { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        AppError::Conflict { .. } => StatusCode::CONFLICT,
        AppError::LimitExceeded(_) => StatusCode::PAYLOAD_TOO_LARGE,
        AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        AppError::Internal(cause) => {
            tracing::error!(?cause, "import request failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    let message = error.public_message();
    json_error(
        status,
        error.field().map(str::to_owned),
        error.code(),
        message,
    )
}

/// `{"errors": [{"field", "code", "message"}]}` with `status`.
fn json_error(status: StatusCode, field: Option<String>, code: &str, message: String) -> Response {
    let body = axum::Json(serde_json::json!({
        "errors": [{ "field": field, "code": code, "message": message }]
    }));
    let mut response = (status, body).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            ::http::HeaderValue::from_static("Bearer"),
        );
    }
    response
}
