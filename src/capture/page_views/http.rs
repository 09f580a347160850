//! The tracker's public routes: `GET /t/p.js` (the script, cacheable),
//! `POST /t/pv` (a view, sent by the script as `text/plain` JSON so no
//! preflight is needed) and `GET /t/pv.gif` (the `<noscript>` pixel).
//! Every answered view is stored (the writer commits before the answer);
//! known crawlers are stored apart (`isBot`) and counted.

use std::net::IpAddr;

use axum::body::{Body, Bytes};
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use sea_orm::Set;
use serde::Deserialize;
use uuid::Uuid;

use entity::page_views;

use super::visitor::{agent, stored_ip};
use super::writer::{Outcome, View};
use crate::capture::forms::submit::utm_of;
use crate::http::client::{ClientAddr, ViaTrustedProxy};
use crate::secrets::{TokenKind, TrackingToken};
use crate::state::{AppState, Shared};

const SCRIPT: &str = include_str!("../../../assets/tracker.js");
const MAX_URL_CHARS: usize = 2_000;
const MAX_TITLE_CHARS: usize = 300;
/// The largest view body taken.
const MAX_BODY: usize = 8 * 1024;

/// A transparent 1×1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// The script's version, for `ETag`: it changes only with a release.
fn etag() -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(SCRIPT.as_bytes());
    format!("\"{}\"", hex::encode(&hash[..8]))
}

/// `GET /t/p.js`.
pub(crate) async fn script(headers: HeaderMap) -> Response {
    let tag = etag();
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == tag)
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::ETAG, tag.as_str()),
        ],
        SCRIPT,
    )
        .into_response()
}

/// A tracked link's landing URL with the signed lead token the tracker
/// reads (`ph_lid`), before any fragment.
pub(crate) fn with_lead_token(
    shared: &Shared,
    url: &str,
    tenant_id: Uuid,
    lead_id: Uuid,
) -> String {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return url.to_owned();
    }
    let token = shared.tracking.sign(
        TokenKind::VisitorLead,
        TrackingToken {
            tenant_id,
            message_id: lead_id,
            position: 0,
        },
    );
    let (base, fragment) = match url.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (url, None),
    };
    let separator = if base.contains('?') { '&' } else { '?' };
    match fragment {
        Some(fragment) => format!("{base}{separator}ph_lid={token}#{fragment}"),
        None => format!("{base}{separator}ph_lid={token}"),
    }
}

/// What the script sends.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Sent {
    /// The site key.
    k: Option<String>,
    /// The visitor id.
    v: Option<String>,
    /// The page URL.
    u: Option<String>,
    r: Option<String>,
    t: Option<String>,
    w: Option<i64>,
    h: Option<i64>,
    /// A tracked email's lead token (`ph_lid`).
    l: Option<String>,
}

fn clip(value: Option<String>, max: usize) -> Option<String> {
    value
        .map(|v| v.trim().chars().take(max).collect::<String>())
        .filter(|v| !v.is_empty())
}

/// The path of a URL (`/pricing`), or `/`.
fn path_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = rest.find('/').map_or("/", |at| &rest[at..]);
    path.split(['?', '#']).next().unwrap_or("/").to_owned()
}

/// The visitor id as given, or one derived from the request (the pixel
/// has no script to keep one): hex, at most 64 characters.
fn visitor_id(given: Option<String>, ip: Option<IpAddr>, user_agent: Option<&str>) -> String {
    if let Some(id) = given.filter(|v| {
        !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    }) {
        return id;
    }
    use sha2::Digest;
    let day = Utc::now().date_naive();
    let hash = sha2::Sha256::digest(format!("{ip:?}|{user_agent:?}|{day}").as_bytes());
    format!("nojs-{}", hex::encode(&hash[..12]))
}

/// Records one view; `None` when the site key names no site.
async fn record(
    state: &AppState,
    sent: Sent,
    headers: &HeaderMap,
    client: ClientAddr,
    via_proxy: bool,
) -> Result<Option<Outcome>, crate::error::AppError> {
    let shared = &state.shared;
    let Some(key) = sent.k.filter(|k| k.len() <= 64) else {
        return Ok(None);
    };
    let Some(site) = shared.sites.get(shared, &key).await? else {
        return Ok(None);
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(1_000).collect::<String>());
    let url = clip(sent.u, MAX_URL_CHARS)
        .or_else(|| {
            clip(
                headers
                    .get(header::REFERER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                MAX_URL_CHARS,
            )
        })
        .unwrap_or_default();
    let read = agent(user_agent.as_deref());
    let place = shared.geo.locate(headers, via_proxy, client.0);
    let utm = utm_of(Some(&url));
    let funnel = site.funnel(&url);
    let lead = sent
        .l
        .and_then(|token| shared.tracking.verify(TokenKind::VisitorLead, &token))
        .filter(|token| token.tenant_id == site.tenant_id)
        .map(|token| token.message_id);
    let visitor = visitor_id(sent.v, client.0, user_agent.as_deref());
    let screen = |v: Option<i64>| v.filter(|n| (1..=100_000).contains(n)).map(|n| n as i32);
    let now = Utc::now().fixed_offset();
    let row = page_views::ActiveModel {
        tenant_id: Set(site.tenant_id),
        id: Set(Uuid::now_v7()),
        site_id: Set(site.id),
        visitor_id: Set(visitor.clone()),
        lead_id: Set(None),
        path: Set(path_of(&url)),
        url: Set(url),
        referrer: Set(clip(sent.r, MAX_URL_CHARS)),
        title: Set(clip(sent.t, MAX_TITLE_CHARS)),
        utm_source: Set(utm.get("source").cloned()),
        utm_medium: Set(utm.get("medium").cloned()),
        utm_campaign: Set(utm.get("campaign").cloned()),
        utm_term: Set(utm.get("term").cloned()),
        utm_content: Set(utm.get("content").cloned()),
        country: Set(place.country),
        city: Set(place.city),
        device_type: Set(read.device),
        browser: Set(read.browser),
        os: Set(read.os),
        screen_width: Set(screen(sent.w)),
        screen_height: Set(screen(sent.h)),
        is_bot: Set(read.bot),
        is_demo_page: Set(funnel.demo),
        is_pricing_page: Set(funnel.pricing),
        is_contact_page: Set(funnel.contact),
        ip: Set(stored_ip(client.0, shared.config.capture.keep_full_ip)),
        user_agent: Set(user_agent),
        viewed_at: Set(now),
    };
    if read.bot {
        metrics::counter!("promohub_page_view_bots_total").increment(1);
    }
    Ok(Some(
        shared
            .page_views
            .submit(View {
                row,
                tenant_id: site.tenant_id,
                visitor_id: visitor,
                identified_lead: lead,
            })
            .await,
    ))
}

fn answered(stored: Result<Option<Outcome>, crate::error::AppError>, body: Response) -> Response {
    match stored {
        Ok(Some(Outcome::Stored)) => body,
        Ok(None) => (StatusCode::NOT_FOUND, "no such site").into_response(),
        Ok(Some(Outcome::Queued | Outcome::Lost)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            "try again in a moment",
        )
            .into_response(),
        Err(error) => {
            tracing::error!(?error, "recording a page view failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn open_cors(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// `POST /t/pv`: a view from the script (JSON, sent as `text/plain` or
/// `application/json`).
pub(crate) async fn view(
    State(state): State<AppState>,
    Extension(client): Extension<ClientAddr>,
    Extension(via): Extension<ViaTrustedProxy>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > MAX_BODY {
        return open_cors((StatusCode::PAYLOAD_TOO_LARGE, "too large").into_response());
    }
    let Ok(sent) = serde_json::from_slice::<Sent>(&body) else {
        return open_cors(
            (StatusCode::BAD_REQUEST, "send the view as a JSON object").into_response(),
        );
    };
    let stored = record(&state, sent, &headers, client, via.0).await;
    open_cors(answered(stored, StatusCode::NO_CONTENT.into_response()))
}

#[derive(Deserialize)]
pub(crate) struct PixelQuery {
    k: Option<String>,
}

/// `GET /t/pv.gif?k=<site key>`: the `<noscript>` pixel (the page is its
/// `Referer`).
pub(crate) async fn pixel(
    State(state): State<AppState>,
    Extension(client): Extension<ClientAddr>,
    Extension(via): Extension<ViaTrustedProxy>,
    Query(query): Query<PixelQuery>,
    headers: HeaderMap,
) -> Response {
    let sent = Sent {
        k: query.k,
        ..Default::default()
    };
    let stored = record(&state, sent, &headers, client, via.0).await;
    let gif = Response::builder()
        .header(header::CONTENT_TYPE, "image/gif")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(PIXEL))
        .unwrap_or_default();
    answered(stored, gif)
}
