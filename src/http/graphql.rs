//! GraphQL over HTTP, by the spec (graphql.github.io/graphql-over-http).
//!
//! async-graphql's own axum integration deviates from the spec in ways that
//! matter (it executes mutations sent by GET, parses any content type as JSON,
//! always answers `application/graphql-response+json` with 200, and reads the
//! body without a size limit), so this endpoint replaces it:
//! - POST with `Content-Type: application/json`, else 415;
//! - GET for queries only: a mutation by GET is 405 with `Allow: POST` and
//!   never executes;
//! - `Accept` negotiation between `application/graphql-response+json` and
//!   `application/json` (406 when neither is acceptable); with the former a
//!   request error (nothing executed) is 400, with the latter 200;
//! - no batching: a JSON array body is 400.

use std::sync::Arc;
use std::time::Instant;

use ::http::{HeaderMap, HeaderValue, StatusCode, header};
use async_graphql::parser::types::OperationType;
use async_graphql::{ServerError, Variables};
use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::app::REQUEST_ID;
use crate::graphql::audit::AuditTrail;
use crate::graphql::is_admin;
use crate::graphql::limits::{check_document, request_error};
use crate::http::client::ClientAddr;
use crate::http::observe::{AnsweredOperation, record_operation};
use crate::state::AppState;
use crate::tenancy::scoped::ReadScope;
use crate::tenancy::{RequestCtx, RequestMeta};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const APPLICATION_JSON: &str = "application/json";

/// The response media type the client accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ResponseFormat {
    GraphqlResponseJson,
    Json,
}

impl ResponseFormat {
    fn content_type(self) -> &'static str {
        match self {
            Self::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        }
    }

    /// Picks by `q` weight; a tie prefers `application/graphql-response+json`.
    /// No `Accept` at all means `application/json`, as the spec advises for
    /// legacy clients.
    pub(crate) fn negotiate(headers: &HeaderMap) -> Option<Self> {
        let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
            return Some(Self::Json);
        };
        let mut best: Option<(f32, Self)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let format = match media.as_str() {
                GRAPHQL_RESPONSE_JSON => Self::GraphqlResponseJson,
                // GraphQL over HTTP: a client that takes anything gets
                // application/json, which every client reads.
                APPLICATION_JSON | "application/*" | "*/*" => Self::Json,
                _ => continue,
            };
            if q <= 0.0 {
                continue;
            }
            let better = match best {
                None => true,
                Some((best_q, best_format)) => {
                    q > best_q
                        || (q == best_q
                            && format == Self::GraphqlResponseJson
                            && best_format == Self::Json)
                }
            };
            if better {
                best = Some((q, format));
            }
        }
        best.map(|(_, format)| format)
    }
}

/// The GraphQL request parameters, from a JSON body or a query string.
/// Variables are parsed as GraphQL values, never as `serde_json::Value`
/// (see `graphql::json`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Params {
    query: Option<String>,
    operation_name: Option<String>,
    #[serde(default, deserialize_with = "variables_object")]
    variables: Option<Variables>,
}

/// `variables`: a JSON object or null.
fn variables_object<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Variables>, D::Error> {
    Option::<Variables>::deserialize(deserializer)
        .map_err(|_| serde::de::Error::custom("variables must be a JSON object"))
}

/// GET query string: `variables` arrives JSON-encoded.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GetParams {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
}

fn errors_body(errors: &[ServerError]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "errors": errors })).unwrap_or_default()
}

/// A response that carries GraphQL errors without executing anything.
fn refuse(status: StatusCode, format: ResponseFormat, errors: &[ServerError]) -> Response {
    let mut response = (status, errors_body(errors)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    response
}

fn not_acceptable() -> Response {
    refuse(
        StatusCode::NOT_ACCEPTABLE,
        ResponseFormat::Json,
        &[request_error(
            "Accept must allow application/graphql-response+json or application/json",
            "NOT_ACCEPTABLE",
        )],
    )
}

/// Request facts for logs and the audit log.
pub(crate) fn request_meta(headers: &HeaderMap, client: ClientAddr) -> RequestMeta {
    let header = |name: &http::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    RequestMeta {
        request_id: header(&REQUEST_ID).unwrap_or_default(),
        ip: client.0.map(|ip| ip.to_string()),
        user_agent: header(&header::USER_AGENT),
    }
}

/// `POST /graphql`.
pub(crate) async fn post(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Some(format) = ResponseFormat::negotiate(&parts.headers) else {
        return not_acceptable();
    };
    let media = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|media| media.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let meta = request_meta(&parts.headers, ClientAddr::of(&parts.extensions));
    if media == "multipart/form-data" {
        return post_multipart(&state, &parts.headers, meta, body, format).await;
    }
    if media != APPLICATION_JSON {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format,
            &[request_error(
                "Content-Type must be application/json (or multipart/form-data to upload a file)",
                "UNSUPPORTED_MEDIA_TYPE",
            )],
        );
    }
    // The body limit layer turns an oversized body into an error here.
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(_) => return too_large(format),
    };
    let params = match parse_body(&bytes) {
        Ok(params) => params,
        Err(message) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format,
                &[request_error(message, "BAD_REQUEST")],
            );
        }
    };
    execute(
        &state,
        &parts.headers,
        meta,
        params,
        Vec::new(),
        false,
        format,
    )
    .await
}

/// 401 with the challenge a bearer-token API answers.
fn unauthorized(format: ResponseFormat, error: ServerError) -> Response {
    let mut response = refuse(StatusCode::UNAUTHORIZED, format, &[error]);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn too_large(format: ResponseFormat) -> Response {
    refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        format,
        &[request_error("request body is too large", "LIMIT_EXCEEDED")],
    )
}

/// The GraphQL multipart request (github.com/jaydenseric/graphql-multipart-request-spec):
/// `operations` and `map` fields, then the files, each written to a
/// temporary file as it arrives. Only a file to import is expected: at
/// most one, as large as an import may be. (A cross-site form cannot send
/// the `Authorization` header, so such a request is never a signed-in one.)
async fn post_multipart(
    state: &AppState,
    headers: &HeaderMap,
    meta: RequestMeta,
    body: axum::body::Body,
    format: ResponseFormat,
) -> Response {
    use futures::TryStreamExt;
    // A file is read to disk only for a caller who may send one.
    match authenticate(state, headers, false).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            let error = request_error("sign in to upload a file", "UNAUTHENTICATED");
            return unauthorized(format, error);
        }
        Err(error) => return unauthorized(format, error),
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let max_file = usize::try_from(state.shared.config.import_max_mb)
        .unwrap_or(usize::MAX)
        .saturating_mul(1 << 20);
    let reader = body
        .into_data_stream()
        .map_err(std::io::Error::other)
        .into_async_read();
    let options = async_graphql::http::MultipartOptions::default()
        .max_file_size(max_file)
        .max_num_files(1);
    let request = match async_graphql::http::receive_body(content_type, reader, options).await {
        Ok(request) => request,
        Err(async_graphql::ParseRequestError::PayloadTooLarge) => return too_large(format),
        Err(error) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format,
                &[request_error(
                    format!("the multipart request could not be read: {error}"),
                    "BAD_REQUEST",
                )],
            );
        }
    };
    let params = Params {
        query: Some(request.query),
        operation_name: request.operation_name,
        variables: Some(request.variables),
    };
    execute(state, headers, meta, params, request.uploads, false, format).await
}

fn parse_body(bytes: &Bytes) -> Result<Params, String> {
    let not_json = |e: serde_json::Error| format!("request body is not valid JSON: {e}");
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        // The usual request: one pass, and a syntax error is told apart
        // from a parameter of the wrong shape.
        return serde_json::from_slice(bytes).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => format!("invalid request parameters: {e}"),
            _ => not_json(e),
        });
    }
    // Not an object: say why, what is wrong with the JSON first.
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(not_json)?;
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(
            "batched requests are not supported: send one operation per request".to_owned(),
        );
    }
    Err("request body must be a JSON object".to_owned())
}

/// `GET /graphql`: GraphiQL for browsers, queries by URL, or a WebSocket upgrade.
pub(crate) async fn get_or_upgrade(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let is_upgrade = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if is_upgrade {
        return match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
            Ok(upgrade) => {
                let meta = request_meta(&parts.headers, ClientAddr::of(&parts.extensions));
                crate::http::ws::accept(upgrade, state, meta)
            }
            Err(rejection) => rejection.into_response(),
        };
    }
    let Query(get) = match Query::<GetParams>::from_request_parts(&mut parts, &state).await {
        Ok(query) => query,
        Err(rejection) => return rejection.into_response(),
    };
    let wants_html = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if get.query.is_none() && wants_html {
        return crate::http::graphiql::page();
    }
    let Some(format) = ResponseFormat::negotiate(&parts.headers) else {
        return not_acceptable();
    };
    let variables = match get
        .variables
        .as_deref()
        .map(serde_json::from_str::<Variables>)
    {
        None => None,
        Some(Ok(value)) => Some(value),
        Some(Err(_)) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format,
                &[request_error(
                    "variables must be a JSON object",
                    "BAD_REQUEST",
                )],
            );
        }
    };
    let params = Params {
        query: get.query,
        operation_name: get.operation_name,
        variables,
    };
    let meta = request_meta(&parts.headers, ClientAddr::of(&parts.extensions));
    execute(
        &state,
        &parts.headers,
        meta,
        params,
        Vec::new(),
        true,
        format,
    )
    .await
}

/// Authenticates the caller from the `Authorization` header, if any; with
/// `keep_txn`, the caller keeps the transaction its credential was checked
/// in for the request's reads.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    keep_txn: bool,
) -> Result<Option<RequestCtx>, ServerError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().unwrap_or_default();
    crate::identity::auth::authenticate::from_header(
        &state.shared.db,
        &state.shared.jwt,
        value,
        keep_txn,
    )
    .await
    .map(Some)
    .map_err(|error| {
        let code = error.code();
        request_error(error.public_message(), code)
    })
}

async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    meta: RequestMeta,
    params: Params,
    uploads: Vec<async_graphql::UploadValue>,
    by_get: bool,
    format: ResponseFormat,
) -> Response {
    let started = Instant::now();
    // Parsed before authenticating so that a query can read in the
    // transaction that checks its credential; its errors still come after
    // an authentication failure.
    let checked = params.query.as_deref().map(|query| {
        check_document(
            query,
            params.operation_name.as_deref(),
            &state.shared.config.limits,
            &state.shared.documents,
        )
    });
    // A query reads in one transaction, opened and bound in the round trip
    // that checks its credential. It holds a pooled connection until the
    // response is built, so such requests take a read slot first (in
    // arrival order): a connection stays free for what they do besides.
    let is_query = matches!(&checked, Some(Ok(c)) if c.operation == Some(OperationType::Query))
        && headers.contains_key(header::AUTHORIZATION);
    let _slot = if is_query {
        state.shared.read_slots.acquire().await.ok()
    } else {
        None
    };
    let ctx = match authenticate(state, headers, is_query).await {
        Ok(ctx) => ctx,
        // A credential we could not check (the database failed) is a server
        // error, not a bad credential: no 401, so clients do not sign out.
        Err(error) if crate::error::code_of(&error) == "INTERNAL" => {
            return refuse(StatusCode::SERVICE_UNAVAILABLE, format, &[error]);
        }
        Err(error) => return unauthorized(format, error),
    };
    let Some(query) = params.query else {
        return refuse(
            StatusCode::BAD_REQUEST,
            format,
            &[request_error("the request has no query", "BAD_REQUEST")],
        );
    };
    let variables = params.variables.unwrap_or_default();
    let checked = match checked {
        Some(Ok(checked)) => checked,
        Some(Err(error)) => {
            record_operation("invalid", false, started);
            return request_error_response(format, error);
        }
        None => unreachable!("a request without a query was refused above"),
    };
    if by_get
        && matches!(
            checked.operation,
            Some(OperationType::Mutation | OperationType::Subscription)
        )
    {
        let mut response = refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            format,
            &[request_error(
                "mutations and subscriptions must be sent by POST",
                "METHOD_NOT_ALLOWED",
            )],
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    // The access log names the operation: the client's name for it when it
    // gave one, else the bounded label.
    let answered = AnsweredOperation::named(params.operation_name.as_deref(), &checked.label);
    let mut request = async_graphql::Request::new(query).variables(variables.clone());
    // The request consumes its document and the key-order pass needs one
    // after execution: a copy per request (a few microseconds for a page
    // query; bench/README.md, session 14, found no measurable cost).
    let document = checked.document.clone();
    if let Some(name) = &params.operation_name {
        request = request.operation_name(name);
    }
    request.set_parsed_query(checked.document);
    request.uploads = uploads;
    let mut response = run(state, request, checked.operation, ctx, meta, variables).await;
    crate::graphql::order::restore_order(
        &mut response.data,
        &document,
        params.operation_name.as_deref(),
    );
    let is_request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    // The label names the document's first root field: only a document the
    // schema validated has one from a bounded set.
    let label = if is_request_error {
        "invalid"
    } else {
        &checked.label
    };
    record_operation(label, response.errors.is_empty(), started);
    let status = if is_request_error && format == ResponseFormat::GraphqlResponseJson {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = serde_json::to_vec(&response).unwrap_or_default();
    let mut http_response = (status, body).into_response();
    http_response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    http_response.extensions_mut().insert(answered);
    http_response
}

fn request_error_response(format: ResponseFormat, error: ServerError) -> Response {
    let status = match format {
        ResponseFormat::GraphqlResponseJson => StatusCode::BAD_REQUEST,
        ResponseFormat::Json => StatusCode::OK,
    };
    refuse(status, format, &[error])
}

/// Executes with the per-request data every resolver may need. Shared by the
/// HTTP and WebSocket transports.
pub(crate) fn prepare<'a>(
    state: &'a AppState,
    mut request: async_graphql::Request,
    operation: Option<OperationType>,
    ctx: Option<RequestCtx>,
    scope: Option<&ReadScope>,
    meta: RequestMeta,
    variables: Variables,
) -> (async_graphql::Request, &'a crate::graphql::AppSchema) {
    let admin = ctx.as_ref().is_some_and(is_admin);
    if state.shared.config.is_production() && !admin {
        request = request.disable_introspection();
    }
    // Only mutations need the audited schema; an unknown operation gets it
    // too, to be safe.
    let writes = !matches!(
        operation,
        Some(OperationType::Query | OperationType::Subscription)
    );
    let schema = state.schemas.for_caller(ctx.as_ref(), writes);
    request = crate::graphql::loaders::attach(request, &state.shared, ctx.as_ref(), scope)
        .data(meta)
        .data(Arc::new(AuditTrail::new(variables)));
    if let Some(ctx) = ctx {
        request = request.data(ctx);
    }
    (request, schema)
}

async fn run(
    state: &AppState,
    request: async_graphql::Request,
    operation: Option<OperationType>,
    ctx: Option<RequestCtx>,
    meta: RequestMeta,
    variables: Variables,
) -> async_graphql::Response {
    let scope = ctx
        .as_ref()
        .map(|ctx| ReadScope::new(state.shared.db.clone(), ctx.clone()));
    let txn = ctx.as_ref().map(|ctx| ctx.txn.clone());
    let (request, schema) = prepare(
        state,
        request,
        operation,
        ctx,
        scope.as_ref(),
        meta,
        variables,
    );
    let max_page_size = state.shared.config.limits.page_size;
    let mut response =
        crate::graphql::pagination::with_max_page_size(max_page_size, schema.execute(request))
            .await;
    crate::graphql::limits::classify(&mut response.errors);
    if let Some(txn) = txn
        && let Err(error) = txn.finish().await
    {
        // The data was read; only ending the transaction failed.
        tracing::warn!(error = ?error, "ending a request's read transaction");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Option<ResponseFormat> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        ResponseFormat::negotiate(&headers)
    }

    #[test]
    fn negotiates_by_weight_and_prefers_the_graphql_media_type() {
        assert_eq!(accept("application/json"), Some(ResponseFormat::Json));
        assert_eq!(
            accept("application/graphql-response+json"),
            Some(ResponseFormat::GraphqlResponseJson)
        );
        assert_eq!(
            accept("application/json;q=0.9, application/graphql-response+json"),
            Some(ResponseFormat::GraphqlResponseJson)
        );
        assert_eq!(
            accept("application/json, application/graphql-response+json;q=0.5"),
            Some(ResponseFormat::Json)
        );
        assert_eq!(accept("*/*"), Some(ResponseFormat::Json));
        assert_eq!(accept("application/*"), Some(ResponseFormat::Json));
        assert_eq!(
            accept("*/*;q=0.8, application/graphql-response+json"),
            Some(ResponseFormat::GraphqlResponseJson)
        );
        assert_eq!(accept("text/html"), None);
        assert_eq!(
            ResponseFormat::negotiate(&HeaderMap::new()),
            Some(ResponseFormat::Json)
        );
    }
}
