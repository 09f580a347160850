//! The public tracking routes. None of them needs a credential; each token
//! is HMAC-signed and names its tenant and message, so a forged or altered
//! token is refused before the database is touched, and a bad click token
//! never redirects (no open redirect).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;

use entity::sea_orm_active_enums::EngagementType;

use super::writer::{Hit, HitKind, HitResult};
use crate::http::client::ClientAddr;
use crate::messaging::engagement::recorder::{NewEvent, load_messages, record_now};
use crate::secrets::{TokenKind, TrackingToken};
use crate::state::{AppState, Shared};
use crate::tenancy::scoped::begin_for;

/// A transparent 1×1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

fn client_facts(headers: &HeaderMap, client: ClientAddr) -> (Option<String>, Option<String>) {
    let ip = client.0.map(|ip| ip.to_string());
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (ip, agent)
}

fn hit(
    at: chrono::DateTime<Utc>,
    kind: HitKind,
    token: TrackingToken,
    method: &Method,
    headers: &HeaderMap,
    client: ClientAddr,
) -> Hit {
    let (ip, user_agent) = client_facts(headers, client);
    Hit {
        kind,
        token,
        head: method == Method::HEAD,
        ip,
        user_agent,
        at,
    }
}

/// `GET|HEAD /t/o/{token}`: always the same pixel, valid token or not, so
/// the response tells a prober nothing.
pub(crate) async fn open(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Extension(client): Extension<ClientAddr>,
    Path(token): Path<String>,
) -> Response {
    let shared = &state.shared;
    if let Some(token) = shared.tracking.verify(TokenKind::Open, &token) {
        let result = shared
            .tracker
            .submit(hit(
                state.shared.clock.now(),
                HitKind::Open,
                token,
                &method,
                &headers,
                client,
            ))
            .await;
        if result == HitResult::Failed {
            tracing::warn!("an open could not be recorded");
        }
    }
    (
        [
            (header::CONTENT_TYPE, "image/gif"),
            (
                header::CACHE_CONTROL,
                "no-store, no-cache, must-revalidate, max-age=0",
            ),
            (header::PRAGMA, "no-cache"),
        ],
        PIXEL,
    )
        .into_response()
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CACHE_CONTROL, "no-store")],
        "This link is not valid.",
    )
        .into_response()
}

/// `GET|HEAD /t/c/{token}`: 302 to the stored URL for a genuine token; 404
/// without a `Location` for anything else.
pub(crate) async fn click(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Extension(client): Extension<ClientAddr>,
    Path(token): Path<String>,
) -> Response {
    let shared = &state.shared;
    let Some(token) = shared.tracking.verify(TokenKind::Click, &token) else {
        return not_found();
    };
    match shared
        .tracker
        .submit(hit(
            state.shared.clock.now(),
            HitKind::Click,
            token,
            &method,
            &headers,
            client,
        ))
        .await
    {
        HitResult::Recorded {
            url: Some(url),
            lead_id,
        } => {
            // A link to one of the tenant's tracked sites tells its page
            // who the visitor is; other links are left exactly as written.
            let url = match lead_id {
                Some(lead_id) => match shared.sites.domains(shared, token.tenant_id).await {
                    Ok(domains)
                        if crate::capture::page_views::sites::on_domains(&url, &domains) =>
                    {
                        crate::capture::page_views::http::with_lead_token(
                            shared,
                            &url,
                            token.tenant_id,
                            lead_id,
                        )
                    }
                    Ok(_) => url,
                    Err(error) => {
                        tracing::warn!(
                            ?error,
                            "reading tracked domains failed; redirecting as written"
                        );
                        url
                    }
                },
                None => url,
            };
            Response::builder()
                .status(StatusCode::FOUND)
                .header(header::LOCATION, url)
                .header(header::CACHE_CONTROL, "no-store")
                .body(Body::empty())
                .unwrap_or_else(|_| not_found())
        }
        HitResult::Recorded { url: None, .. } | HitResult::Unknown => not_found(),
        HitResult::Failed | HitResult::Queued => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            "Please try again in a moment.",
        )
            .into_response(),
    }
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title}</title></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem\">\
         <h1>{title}</h1>{body}</body></html>"
    )
}

fn invalid_unsubscribe_link() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(page(
            "Link not valid",
            "<p>This unsubscribe link is not valid.</p>",
        )),
    )
        .into_response()
}

/// `GET /u/{token}`: asks for confirmation. Unsubscribing on GET would let
/// every link scanner unsubscribe people; the button POSTs.
pub(crate) async fn unsubscribe_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Response {
    if state
        .shared
        .tracking
        .verify(TokenKind::Unsubscribe, &token)
        .is_none()
    {
        return invalid_unsubscribe_link();
    }
    (
        [(header::CACHE_CONTROL, "no-store")],
        Html(page(
            "Unsubscribe",
            "<p>Stop receiving these emails?</p>\
             <form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
             <button type=\"submit\">Unsubscribe</button></form>",
        )),
    )
        .into_response()
}

/// `POST /u/{token}`: unsubscribes in one click (RFC 8058 `List-Unsubscribe=One-Click`
/// from a mail client, or the confirmation button). Idempotent.
pub(crate) async fn unsubscribe(
    State(state): State<AppState>,
    headers: HeaderMap,
    Extension(client): Extension<ClientAddr>,
    Path(token): Path<String>,
) -> Response {
    let shared = &state.shared;
    let Some(token) = shared.tracking.verify(TokenKind::Unsubscribe, &token) else {
        return invalid_unsubscribe_link();
    };
    match unsubscribe_once(shared, token, &headers, client).await {
        Ok(true) => (
            [(header::CACHE_CONTROL, "no-store")],
            Html(page(
                "You are unsubscribed",
                "<p>You will not receive these emails any more.</p>",
            )),
        )
            .into_response(),
        Ok(false) => invalid_unsubscribe_link(),
        Err(error) => {
            tracing::error!(?error, "unsubscribe failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "5")],
                Html(page(
                    "Please try again",
                    "<p>We could not record this just now.</p>",
                )),
            )
                .into_response()
        }
    }
}

/// Records the unsubscribe (suppression included) unless the message was
/// already unsubscribed. `false` when the message does not exist.
async fn unsubscribe_once(
    shared: &Arc<Shared>,
    token: TrackingToken,
    headers: &HeaderMap,
    client: ClientAddr,
) -> crate::error::AppResult<bool> {
    let txn = begin_for(&shared.db, token.tenant_id, None).await?;
    let message = load_messages(&txn, token.tenant_id, [token.message_id])
        .await?
        .remove(&token.message_id);
    txn.commit().await?;
    let Some(message) = message else {
        return Ok(false);
    };
    if message.unsubscribed_at.is_none() {
        let (ip, user_agent) = client_facts(headers, client);
        let event = NewEvent {
            ip,
            user_agent,
            ..NewEvent::new(EngagementType::Unsubscribed, message.id, "tracker")
        };
        record_now(shared, token.tenant_id, vec![event]).await?;
    }
    Ok(true)
}
