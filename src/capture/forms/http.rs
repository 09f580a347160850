//! The public form routes (no sign-in): `GET /f/{publicId}` (JSON),
//! `GET /f/{publicId}/embed` (HTML), `POST /f/{publicId}` (form-encoded,
//! multipart or JSON), `OPTIONS` for CORS, and `GET /f/confirm/{token}`
//! (double opt-in). An unknown, deleted or unpublished form is 404.
//!
//! CORS is the form's own: its allowed origins (any when it lists none), so
//! these routes sit outside the API's CORS layer.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;
use uuid::Uuid;

use entity::sea_orm_active_enums::PublicIdKind;
use entity::{form_fields, forms, tenants};

use super::embed;
use super::submit::{self, DRAWN, FieldError, HONEYPOT, Posted, Submitted};
use crate::config::Limits;
use crate::error::AppError;
use crate::http::client::ClientAddr;
use crate::state::{AppState, Shared};
use crate::tenancy::scoped::{begin_for_write, end_read};

/// Most keys a limiter remembers before it forgets the idle ones.
const MAX_KEYS: usize = 100_000;

/// The per-IP and per-form submission limits (GCRA, in this process).
pub(crate) struct FormLimits {
    per_ip: DefaultKeyedRateLimiter<String>,
    per_form: DefaultKeyedRateLimiter<Uuid>,
}

impl FormLimits {
    pub(crate) fn new(limits: &Limits) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).expect("at least 1"));
        Self {
            per_ip: RateLimiter::keyed(quota(limits.form_submissions_per_ip)),
            per_form: RateLimiter::keyed(quota(limits.form_submissions_per_form)),
        }
    }

    /// `Err(wait)` when the address or the form is over its limit.
    fn check(&self, ip: Option<&str>, form_id: Uuid) -> Result<(), Duration> {
        let now = DefaultClock::default().now();
        if self.per_ip.len() > MAX_KEYS {
            self.per_ip.retain_recent();
        }
        if self.per_form.len() > MAX_KEYS {
            self.per_form.retain_recent();
        }
        if let Some(ip) = ip {
            self.per_ip
                .check_key(&ip.to_owned())
                .map_err(|not_until| not_until.wait_time_from(now))?;
        }
        self.per_form
            .check_key(&form_id)
            .map_err(|not_until| not_until.wait_time_from(now))
    }
}

/// The published form a public id names, with its fields and the tenant's
/// branding; `None` answers 404.
async fn load(
    shared: &Shared,
    public_id: &str,
    count_view: bool,
) -> Result<Option<Loaded>, AppError> {
    let Some((tenant_id, form_id)) =
        crate::capture::public_ids::resolve(&shared.db, public_id, PublicIdKind::Form).await?
    else {
        return Ok(None);
    };
    let txn = begin_for_write(&shared.db, tenant_id, None).await?;
    let (form, fields) = match submit::published(&txn, tenant_id, form_id).await {
        Ok(found) => found,
        Err(AppError::NotFound(_)) => return Ok(None),
        Err(error) => return Err(error),
    };
    let branding = <tenants::Entity as sea_orm::EntityTrait>::find_by_id(tenant_id)
        .one(&txn)
        .await?
        .map(|t| t.branding)
        .unwrap_or_default();
    if count_view {
        submit::count(&txn, tenant_id, form_id, 1, 0).await?;
        txn.commit().await?;
    } else {
        end_read(txn).await?;
    }
    Ok(Some(Loaded {
        form,
        fields,
        branding,
    }))
}

struct Loaded {
    form: forms::Model,
    fields: Vec<form_fields::Model>,
    branding: serde_json::Value,
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such form").into_response()
}

fn internal(error: AppError) -> Response {
    tracing::error!(?error, "public form route failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "something went wrong; try again",
    )
        .into_response()
}

/// The origins the form allows (empty: any).
fn allowed_origins(form: &forms::Model) -> Vec<String> {
    serde_json::from_value(form.allowed_origins.clone()).unwrap_or_default()
}

/// The `Origin` header when it is one the form refuses.
fn refused_origin(form: &forms::Model, headers: &HeaderMap) -> Option<String> {
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?.to_lowercase();
    let allowed = allowed_origins(form);
    (!allowed.is_empty() && !allowed.contains(&origin)).then_some(origin)
}

/// The CORS answer headers for the request's origin.
fn cors(mut response: Response, form: &forms::Model, headers: &HeaderMap) -> Response {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return response;
    };
    if refused_origin(form, headers).is_some() {
        return response;
    }
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    response
}

fn json_form(shared: &Shared, loaded: &Loaded, public_id: &str) -> serde_json::Value {
    let form = &loaded.form;
    json!({
        "id": public_id,
        "title": form.title.as_deref().unwrap_or(&form.name),
        "description": form.description,
        "submitUrl": format!("{}/f/{public_id}", shared.config.public_url()),
        "successMessage": form.success_message,
        "redirectUrl": form.redirect_url,
        // Send these back with the submission: the time the form was drawn
        // (signed), and an empty honeypot.
        "hidden": { DRAWN: submit::drawn_token(shared, form.tenant_id), HONEYPOT: "" },
        "fields": loaded.fields.iter().map(|f| json!({
            "key": f.key,
            "type": crate::attributes::spelling(super::types::FormFieldType::from(f.field_type)).to_uppercase(),
            "label": f.label,
            "placeholder": f.placeholder,
            "helpText": f.help_text,
            "required": f.required,
            "options": super::types::options_of(f),
            "validation": f.validation,
            "defaultValue": f.default_value,
        })).collect::<Vec<_>>(),
    })
}

/// `GET /f/{publicId}`: the form as JSON.
pub(crate) async fn show(
    State(state): State<AppState>,
    Path(public_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let shared = &state.shared;
    match load(shared, &public_id, true).await {
        Ok(Some(loaded)) => {
            let body = axum::Json(json_form(shared, &loaded, &public_id)).into_response();
            cors(body, &loaded.form, &headers)
        }
        Ok(None) => not_found(),
        Err(error) => internal(error),
    }
}

/// `GET /f/{publicId}/embed`: the form as an HTML page.
/// What the tracker adds to an embedded form's URL.
#[derive(serde::Deserialize)]
pub(crate) struct EmbedQuery {
    visitor: Option<String>,
    page: Option<String>,
}

pub(crate) async fn embed(
    State(state): State<AppState>,
    Path(public_id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<EmbedQuery>,
) -> Response {
    let shared = &state.shared;
    match load(shared, &public_id, true).await {
        Ok(Some(loaded)) => {
            let action = format!("{}/f/{public_id}", shared.config.public_url());
            let drawn = submit::drawn_token(shared, loaded.form.tenant_id);
            Html(embed::form_page(
                &loaded.form,
                &loaded.fields,
                &loaded.branding,
                &action,
                &drawn,
                &[
                    (submit::VISITOR.to_owned(), query.visitor),
                    (submit::PAGE.to_owned(), query.page),
                ]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, vec![v.chars().take(2_000).collect()])))
                .collect(),
                &[],
            ))
            .into_response()
        }
        Ok(None) => not_found(),
        Err(error) => internal(error),
    }
}

/// `OPTIONS /f/{publicId}`: the CORS preflight of a JSON submission.
pub(crate) async fn preflight(
    State(state): State<AppState>,
    Path(public_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match load(&state.shared, &public_id, false).await {
        Ok(Some(loaded)) => {
            if refused_origin(&loaded.form, &headers).is_some() {
                return StatusCode::FORBIDDEN.into_response();
            }
            let mut response = StatusCode::NO_CONTENT.into_response();
            let h = response.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("content-type, accept"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
            cors(response, &loaded.form, &headers)
        }
        Ok(None) => not_found(),
        Err(error) => internal(error),
    }
}

/// How the submission was sent, and so how to answer it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Html,
}

/// The posted values by name, from any of the three content types.
async fn read_body(
    headers: &HeaderMap,
    body: Bytes,
) -> Result<(Format, BTreeMap<String, Vec<String>>), Response> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_lowercase();
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if content_type.starts_with("application/json") {
        let parsed: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
            unprocessable_json(vec![FieldError {
                field: String::new(),
                code: "MALFORMED",
                message: "the body is not valid JSON".into(),
            }])
        })?;
        let Some(object) = parsed.as_object() else {
            return Err(unprocessable_json(vec![FieldError {
                field: String::new(),
                code: "MALFORMED",
                message: "the body must be a JSON object of field values".into(),
            }]));
        };
        for (key, value) in object {
            let texts = match value {
                serde_json::Value::Array(items) => items.iter().map(json_text).collect(),
                serde_json::Value::Null => Vec::new(),
                other => vec![json_text(other)],
            };
            values.insert(key.clone(), texts);
        }
        return Ok((Format::Json, values));
    }
    let format = if wants_json {
        Format::Json
    } else {
        Format::Html
    };
    if content_type.starts_with("application/x-www-form-urlencoded") {
        for (key, value) in form_urlencoded::parse(&body) {
            values
                .entry(key.into_owned())
                .or_default()
                .push(value.into_owned());
        }
        return Ok((format, values));
    }
    if content_type.starts_with("multipart/form-data") {
        let boundary = multer::parse_boundary(&content_type).map_err(|_| {
            (StatusCode::BAD_REQUEST, "multipart without a boundary").into_response()
        })?;
        let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
        let mut multipart = multer::Multipart::new(stream, boundary);
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|_| (StatusCode::BAD_REQUEST, "malformed multipart body").into_response())?
        {
            let Some(name) = field.name().map(str::to_owned) else {
                continue;
            };
            if field.file_name().is_some() {
                // Forms take no files.
                continue;
            }
            let text = field.text().await.map_err(|_| {
                (StatusCode::BAD_REQUEST, "malformed multipart body").into_response()
            })?;
            values.entry(name).or_default().push(text);
        }
        return Ok((format, values));
    }
    Err((
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "send application/x-www-form-urlencoded, multipart/form-data or application/json",
    )
        .into_response())
}

fn json_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn unprocessable_json(errors: Vec<FieldError>) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(json!({ "errors": errors })),
    )
        .into_response()
}

/// `POST /f/{publicId}`: a submission.
pub(crate) async fn submit(
    State(state): State<AppState>,
    Path(public_id): Path<String>,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let shared = &state.shared;
    let loaded = match load(shared, &public_id, false).await {
        Ok(Some(loaded)) => loaded,
        Ok(None) => return not_found(),
        Err(error) => return internal(error),
    };
    let form = &loaded.form;
    if let Some(origin) = refused_origin(form, &headers) {
        tracing::info!(form_id = %form.id, origin, "a form submission from an origin it does not allow");
        return (
            StatusCode::FORBIDDEN,
            "this form does not take submissions from this site",
        )
            .into_response();
    }
    let ip = client.0.map(|ip| ip.to_string());
    if let Err(wait) = shared.form_limits.check(ip.as_deref(), form.id) {
        let seconds = wait.as_secs().max(1);
        metrics::counter!("promohub_form_rate_limited_total").increment(1);
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            "too many submissions; try again shortly",
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return cors(response, form, &headers);
    }
    let (format, values) = match read_body(&headers, body).await {
        Ok(read) => read,
        Err(response) => return cors(response, form, &headers),
    };
    let text_header = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(2_000).collect::<String>())
    };
    let posted = Posted {
        values: values.clone(),
        referrer: text_header(header::REFERER),
        ip,
        user_agent: text_header(header::USER_AGENT),
    };
    let outcome = submit::submit(shared, form.tenant_id, form.id, posted).await;
    let response = match (outcome, format) {
        (Err(AppError::NotFound(_)), _) => not_found(),
        (Err(error), _) => internal(error),
        (Ok(Submitted::Invalid(errors)), Format::Json) => unprocessable_json(errors),
        (Ok(Submitted::Invalid(errors)), Format::Html) => {
            let action = format!("{}/f/{public_id}", shared.config.public_url());
            let drawn = values
                .get(DRAWN)
                .and_then(|v| v.first().cloned())
                .unwrap_or_else(|| submit::drawn_token(shared, form.tenant_id));
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Html(embed::form_page(
                    form,
                    &loaded.fields,
                    &loaded.branding,
                    &action,
                    &drawn,
                    &values,
                    &errors,
                )),
            )
                .into_response()
        }
        // A bot sees what a person sees.
        (Ok(Submitted::Stored | Submitted::Spam), Format::Json) => axum::Json(json!({
            "ok": true,
            "message": form.success_message,
            "redirectUrl": form.redirect_url,
        }))
        .into_response(),
        (Ok(Submitted::Stored | Submitted::Spam), Format::Html) => match &form.redirect_url {
            Some(url) => Redirect::to(url).into_response(),
            None => Html(embed::page(
                "Thank you",
                &loaded.branding,
                &format!(
                    "<h1>Thank you</h1><p role=\"status\">{}</p>",
                    embed::escape(
                        form.success_message
                            .as_deref()
                            .unwrap_or("Your submission was received.")
                    )
                ),
            ))
            .into_response(),
        },
    };
    cors(response, form, &headers)
}

/// `GET /f/confirm/{token}`: the double opt-in link.
pub(crate) async fn confirm(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Extension(client): Extension<ClientAddr>,
) -> Response {
    let ip = client.0.map(|ip| ip.to_string());
    let none = serde_json::Value::Null;
    match super::opt_in::confirm(&state.shared, &token, ip).await {
        Ok(Some(_)) => Html(embed::page(
            "Subscription confirmed",
            &none,
            "<h1>Subscription confirmed</h1><p role=\"status\">Thank you: your address is confirmed.</p>",
        ))
        .into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Html(embed::page(
                "Link not valid",
                &none,
                "<h1>Link not valid</h1><p>This confirmation link is not valid.</p>",
            )),
        )
            .into_response(),
        Err(error) => internal(error),
    }
}
