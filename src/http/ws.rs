//! GraphQL over WebSocket, `graphql-transport-ws` protocol
//! (github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md).
//!
//! Written here rather than taken from async-graphql, whose handler closes
//! with 1011/1002 where the protocol wants 4401/4403/4400, has no 4408 init
//! timeout and silently replaces a duplicate subscription id instead of 4409.
//! Close codes: 4400 bad message, 4401 subscribe before ack, 4403 rejected,
//! expired or revoked token or changed role, 4406 wrong subprotocol, 4408 no
//! init in time, 4409 duplicate subscription id, 4429 second init; 1009 for
//! an oversized message. A `subscribe` beyond `ws_max_operations` running
//! ones gets an `error` (`LIMIT_EXCEEDED`) and the socket stays: each
//! operation is a task and a copy of every event it follows.
//!
//! The token from `connection_init` is kept and checked again for every
//! `subscribe` (each operation runs with the role the credential has now)
//! and every `ws_reauth_secs` while operations run, so a removed member or a
//! revoked key loses the socket too, not only HTTP. A role that changed
//! under running subscriptions closes with 4403 as well: they were started
//! with the old role, and the client reconnects with the new one. A check
//! the database could not answer is not a revocation: that operation gets
//! an `error` (`INTERNAL`) and the socket stays.

use std::collections::HashMap;
use std::time::Duration;

use async_graphql::Variables;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::error::AppError;
use crate::graphql::limits::{check_document, request_error};
use crate::http::graphql::{prepare, request_meta};
use crate::state::AppState;
use crate::tenancy::{RequestCtx, RequestMeta};

pub(crate) const PROTOCOL: &str = "graphql-transport-ws";

/// Messages queued from subscriptions to the socket. Bounded: a subscription
/// whose client reads too slowly waits instead of growing memory.
const OUTGOING_BUFFER: usize = 256;

/// `/graphql/ws` (and WebSocket upgrades on `/graphql`).
pub(crate) async fn upgrade(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let client = crate::http::client::ClientAddr::of(&parts.extensions);
    match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => accept(upgrade, state, request_meta(&parts.headers, client)),
        Err(rejection) => rejection.into_response(),
    }
}

pub(crate) fn accept(upgrade: WebSocketUpgrade, state: AppState, meta: RequestMeta) -> Response {
    let max = state.shared.config.limits.ws_message_bytes;
    let upgrade = upgrade
        .protocols([PROTOCOL])
        .max_message_size(max)
        // Subscriptions receive, they hardly send: tungstenite's default
        // 128 KiB read buffer per socket is most of a subscriber's memory.
        .read_buffer_size(8 * 1024)
        .max_frame_size(max);
    let protocol_ok = upgrade.selected_protocol().is_some();
    upgrade.on_upgrade(move |socket| async move {
        let mut session = Session::new(socket, state, meta);
        if protocol_ok {
            session.run().await;
        } else {
            session.close(4406, "Subprotocol not acceptable").await;
        }
    })
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<serde_json::Value>,
    },
    Ping {
        #[serde(default)]
        payload: Option<serde_json::Value>,
    },
    Pong {
        #[serde(default)]
        #[expect(
            dead_code,
            reason = "pongs need no answer; the payload is accepted and ignored"
        )]
        payload: Option<serde_json::Value>,
    },
    Subscribe {
        id: String,
        payload: SubscribePayload,
    },
    Complete {
        id: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscribePayload {
    query: String,
    operation_name: Option<String>,
    /// Parsed as GraphQL values, never as `serde_json::Value` (see
    /// `graphql::json`).
    #[serde(default)]
    variables: Option<Variables>,
}

/// What subscription tasks send back to the session.
enum Outgoing {
    Next {
        id: String,
        generation: u64,
        payload: serde_json::Value,
    },
    Error {
        id: String,
        generation: u64,
        errors: serde_json::Value,
    },
    Finished {
        id: String,
        generation: u64,
    },
}

struct Session {
    socket: WebSocket,
    state: AppState,
    meta: RequestMeta,
    /// The credential from `connection_init`, checked again before every
    /// operation and periodically while operations run.
    token: Option<String>,
    /// The credential as last checked.
    ctx: Option<RequestCtx>,
    /// When running operations next have their credential checked.
    next_check: Instant,
    init_received: bool,
    /// Active operations by client id, with a generation so a stale message
    /// from a completed operation is never delivered under a reused id.
    active: HashMap<String, (u64, AbortHandle)>,
    generation: u64,
    out_tx: mpsc::Sender<Outgoing>,
    out_rx: mpsc::Receiver<Outgoing>,
}

/// A second look at the session's credential.
enum Recheck {
    /// Still good: the context the next operation runs with.
    Valid(RequestCtx),
    /// Revoked, expired, or a role that changed under running operations:
    /// the reason to close with 4403.
    Refused(String),
    /// The database could not say (an internal error, already logged).
    Unknown,
}

enum Flow {
    Continue,
    /// Close the connection with this code and reason.
    Close(u16, String),
    /// The peer is gone: stop.
    Stop,
    /// The peer started the closing handshake: answer it, then stop.
    ClosedByPeer,
}

impl Session {
    fn new(socket: WebSocket, state: AppState, meta: RequestMeta) -> Self {
        let (out_tx, out_rx) = mpsc::channel(OUTGOING_BUFFER);
        Self {
            socket,
            state,
            meta,
            token: None,
            ctx: None,
            next_check: Instant::now(),
            init_received: false,
            active: HashMap::new(),
            generation: 0,
            out_tx,
            out_rx,
        }
    }

    async fn run(&mut self) {
        let init_deadline = Instant::now()
            + Duration::from_millis(self.state.shared.config.limits.ws_init_timeout_ms);
        loop {
            let expiry = self.expiry();
            // An idle socket is not checked: it can do nothing without a
            // `subscribe`, which checks the credential itself.
            let check_due = self.ctx.is_some() && !self.active.is_empty();
            let next_check = self.next_check;
            let flow = tokio::select! {
                incoming = self.socket.recv() => match incoming {
                    None => break,
                    Some(Err(error)) => {
                        let text = error.to_string();
                        if text.contains("too long") || text.contains("Space limit") || text.contains("size") {
                            Flow::Close(1009, "Message too big".to_owned())
                        } else {
                            break;
                        }
                    }
                    Some(Ok(message)) => self.on_message(message).await,
                },
                Some(outgoing) = self.out_rx.recv() => self.on_outgoing(outgoing).await,
                _ = tokio::time::sleep_until(init_deadline), if !self.init_received => {
                    Flow::Close(4408, "Connection initialisation timeout".to_owned())
                }
                _ = tokio::time::sleep_until(expiry.unwrap_or(init_deadline)), if expiry.is_some() => {
                    Flow::Close(4403, "Forbidden: the token has expired".to_owned())
                }
                _ = tokio::time::sleep_until(next_check), if check_due => match self.recheck().await {
                    Recheck::Valid(_) | Recheck::Unknown => Flow::Continue,
                    Recheck::Refused(reason) => Flow::Close(4403, reason),
                },
            };
            match flow {
                Flow::Continue => {}
                Flow::Close(code, reason) => {
                    self.close(code, &reason).await;
                    break;
                }
                Flow::Stop => break,
                Flow::ClosedByPeer => {
                    self.finish_closing_handshake().await;
                    break;
                }
            }
        }
        self.stop_all();
    }

    /// The peer sent a close frame. tungstenite has queued the reply RFC 6455
    /// §5.5.1 requires but writes it only when the socket is next driven:
    /// reading on until the connection ends sends it. Dropping the socket
    /// instead left clients with 1006 (closed abnormally).
    async fn finish_closing_handshake(&mut self) {
        self.stop_all();
        let drain = async { while let Some(Ok(_)) = self.socket.recv().await {} };
        let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
    }

    /// When the credential stops being valid, as an instant on the tokio clock.
    fn expiry(&self) -> Option<Instant> {
        let expires_at = self.ctx.as_ref()?.expires_at?;
        let remaining = expires_at - chrono::Utc::now().timestamp();
        Some(Instant::now() + Duration::from_secs(remaining.max(0) as u64))
    }

    async fn on_message(&mut self, message: Message) -> Flow {
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => {
                return Flow::Close(4400, "Binary messages are not supported".to_owned());
            }
            Message::Close(_) => return Flow::ClosedByPeer,
            Message::Ping(_) | Message::Pong(_) => return Flow::Continue,
        };
        let parsed: ClientMessage = match serde_json::from_str(text.as_str()) {
            Ok(message) => message,
            Err(error) => return Flow::Close(4400, format!("Invalid message received: {error}")),
        };
        match parsed {
            ClientMessage::ConnectionInit { payload } => self.on_init(payload).await,
            ClientMessage::Ping { payload } => {
                let mut pong = json!({ "type": "pong" });
                if let Some(payload) = payload {
                    pong["payload"] = payload;
                }
                self.send(pong).await
            }
            ClientMessage::Pong { .. } => Flow::Continue,
            ClientMessage::Subscribe { id, payload } => self.on_subscribe(id, payload).await,
            ClientMessage::Complete { id } => {
                if let Some((_, handle)) = self.active.remove(&id) {
                    handle.abort();
                }
                Flow::Continue
            }
        }
    }

    async fn on_init(&mut self, payload: Option<serde_json::Value>) -> Flow {
        if self.init_received {
            return Flow::Close(4429, "Too many initialisation requests".to_owned());
        }
        self.init_received = true;
        let Some(token) = payload.as_ref().and_then(token_from_payload) else {
            return Flow::Close(4403, "Forbidden: connection_init needs a token".to_owned());
        };
        // The first check of the credential is the one every later check
        // repeats.
        self.token = Some(token);
        match self.recheck().await {
            Recheck::Valid(_) => self.send(json!({ "type": "connection_ack" })).await,
            Recheck::Refused(reason) => Flow::Close(4403, reason),
            Recheck::Unknown => Flow::Close(
                4403,
                "Forbidden: the credential could not be checked just now".to_owned(),
            ),
        }
    }

    async fn on_subscribe(&mut self, id: String, payload: SubscribePayload) -> Flow {
        if self.ctx.is_none() {
            return Flow::Close(4401, "Unauthorized".to_owned());
        }
        if self.active.contains_key(&id) {
            return Flow::Close(4409, format!("Subscriber for {id} already exists"));
        }
        let max = self.state.shared.config.limits.ws_max_operations;
        if self.active.len() >= max {
            let error = request_error(
                format!(
                    "at most {max} operations may run at once on one connection \
                     (ws-max-operations); complete one first"
                ),
                "LIMIT_EXCEEDED",
            );
            return self
                .send(json!({ "type": "error", "id": id, "payload": [error] }))
                .await;
        }
        let ctx = match self.recheck().await {
            Recheck::Valid(ctx) => ctx,
            Recheck::Refused(reason) => return Flow::Close(4403, reason),
            Recheck::Unknown => {
                let error = request_error(
                    "the credential could not be checked just now; try again",
                    "INTERNAL",
                );
                return self
                    .send(json!({ "type": "error", "id": id, "payload": [error] }))
                    .await;
            }
        };
        let checked = match check_document(
            &payload.query,
            payload.operation_name.as_deref(),
            &self.state.shared.config.limits,
            &self.state.shared.documents,
        ) {
            Ok(checked) => checked,
            Err(error) => {
                return self
                    .send(json!({ "type": "error", "id": id, "payload": [error] }))
                    .await;
            }
        };
        let variables = payload.variables.unwrap_or_default();
        let mut request = async_graphql::Request::new(payload.query).variables(variables.clone());
        let document = checked.document.clone();
        let operation_name = payload.operation_name.clone();
        if let Some(name) = payload.operation_name {
            request = request.operation_name(name);
        }
        request.set_parsed_query(checked.document);
        // A subscription lives long: its reads take a transaction each.
        let scope =
            crate::tenancy::scoped::ReadScope::new(self.state.shared.db.clone(), ctx.clone());
        let (request, schema) = prepare(
            &self.state,
            request,
            checked.operation,
            Some(ctx),
            Some(&scope),
            self.meta.clone(),
            variables,
        );
        let mut stream = schema.execute_stream(request);
        self.generation += 1;
        let generation = self.generation;
        let tx = self.out_tx.clone();
        let task_id = id.clone();
        let max_page_size = self.state.shared.config.limits.page_size;
        let operation = async move {
            let mut first = true;
            while let Some(mut response) = stream.next().await {
                crate::graphql::limits::classify(&mut response.errors);
                crate::graphql::order::restore_order(
                    &mut response.data,
                    &document,
                    operation_name.as_deref(),
                );
                let request_error =
                    first && response.data == async_graphql::Value::Null && response.is_err();
                first = false;
                let message = if request_error {
                    Outgoing::Error {
                        id: task_id.clone(),
                        generation,
                        errors: serde_json::to_value(&response.errors).unwrap_or_default(),
                    }
                } else {
                    Outgoing::Next {
                        id: task_id.clone(),
                        generation,
                        payload: serde_json::to_value(&response).unwrap_or_default(),
                    }
                };
                if tx.send(message).await.is_err() || request_error {
                    return;
                }
            }
            let _ = tx
                .send(Outgoing::Finished {
                    id: task_id,
                    generation,
                })
                .await;
        };
        let task = tokio::spawn(crate::graphql::pagination::with_max_page_size(
            max_page_size,
            operation,
        ));
        self.active.insert(id, (generation, task.abort_handle()));
        Flow::Continue
    }

    /// Checks the kept token against the database (at `connection_init`,
    /// then before every operation and periodically) and schedules the next
    /// periodic check.
    async fn recheck(&mut self) -> Recheck {
        self.next_check = self.check_interval_from_now();
        let Some(token) = self.token.as_deref() else {
            return Recheck::Refused("Forbidden: no credential".to_owned());
        };
        let shared = &self.state.shared;
        let fresh =
            match crate::identity::auth::authenticate::from_token(&shared.db, &shared.jwt, token)
                .await
            {
                Ok(fresh) => fresh,
                Err(AppError::Internal(cause)) => {
                    tracing::error!(error = ?cause, "checking a WebSocket credential again failed");
                    return Recheck::Unknown;
                }
                Err(error) => {
                    return Recheck::Refused(format!("Forbidden: {}", error.public_message()));
                }
            };
        let changed = self.ctx.as_ref().is_some_and(|old| {
            old.tenant_id != fresh.tenant_id || old.role != fresh.role || old.actor != fresh.actor
        });
        if changed && !self.active.is_empty() {
            return Recheck::Refused(
                "Forbidden: the credential's role changed; reconnect to continue".to_owned(),
            );
        }
        self.ctx = Some(fresh.clone());
        Recheck::Valid(fresh)
    }

    fn check_interval_from_now(&self) -> Instant {
        Instant::now() + Duration::from_secs(self.state.shared.config.limits.ws_reauth_secs)
    }

    async fn on_outgoing(&mut self, outgoing: Outgoing) -> Flow {
        let current = |id: &str, generation: u64, active: &HashMap<String, (u64, AbortHandle)>| {
            active.get(id).is_some_and(|(g, _)| *g == generation)
        };
        match outgoing {
            Outgoing::Next {
                id,
                generation,
                payload,
            } => {
                if !current(&id, generation, &self.active) {
                    return Flow::Continue;
                }
                self.send(json!({ "type": "next", "id": id, "payload": payload }))
                    .await
            }
            Outgoing::Error {
                id,
                generation,
                errors,
            } => {
                if !current(&id, generation, &self.active) {
                    return Flow::Continue;
                }
                self.active.remove(&id);
                self.send(json!({ "type": "error", "id": id, "payload": errors }))
                    .await
            }
            Outgoing::Finished { id, generation } => {
                if !current(&id, generation, &self.active) {
                    return Flow::Continue;
                }
                self.active.remove(&id);
                self.send(json!({ "type": "complete", "id": id })).await
            }
        }
    }

    async fn send(&mut self, message: serde_json::Value) -> Flow {
        match self
            .socket
            .send(Message::Text(message.to_string().into()))
            .await
        {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Stop,
        }
    }

    async fn close(&mut self, code: u16, reason: &str) {
        self.stop_all();
        let frame = CloseFrame {
            code,
            reason: close_reason(reason).into(),
        };
        let _ = self.socket.send(Message::Close(Some(frame))).await;
    }

    fn stop_all(&mut self) {
        for (_, (_, handle)) in self.active.drain() {
            handle.abort();
        }
    }
}

/// A close frame's reason is at most 123 bytes (RFC 6455 §5.5): cut at a
/// character boundary.
fn close_reason(reason: &str) -> String {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

/// Accepts `{ "token": "…" }` or `{ "Authorization": "Bearer …" }` (any case).
fn token_from_payload(payload: &serde_json::Value) -> Option<String> {
    let object = payload.as_object()?;
    object.iter().find_map(|(key, value)| {
        let value = value.as_str()?;
        match key.to_ascii_lowercase().as_str() {
            "token" | "authtoken" | "accesstoken" => Some(value.to_owned()),
            "authorization" => Some(
                value
                    .strip_prefix("Bearer ")
                    .unwrap_or(value)
                    .trim()
                    .to_owned(),
            ),
            _ => None,
        }
    })
}
