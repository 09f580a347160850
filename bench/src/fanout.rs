//! Fan-out latency: how long a tracked event takes to reach many live
//! GraphQL subscribers.
//!
//! N WebSocket clients (`graphql-transport-ws`) each subscribe to
//! `engagementEvents`. Open-pixel hits for distinct messages are then sent
//! at a steady rate; the send time of each hit is recorded just before its
//! request is written, and every `next` a subscriber receives for that
//! message is one latency sample: arrival minus send time. So a sample is
//! the whole path: pixel request, group commit, notification (LISTEN/NOTIFY
//! on PostgreSQL), broadcast, GraphQL execution and the WebSocket frame.
//!
//! Before the measurement a canary hit checks that every subscription is
//! live: a subscriber that never sees the canary is counted as not ready.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::header::{HOST, HeaderValue, USER_AGENT};
use hyper::{Method, Request, StatusCode, Uri};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::{Sender, Target, connect, exchange, percentile_ms, round3};

pub const PROTOCOL: &str = "graphql-transport-ws";

/// What the subscribers connect to and ask for.
pub struct Subscription {
    pub addr: SocketAddr,
    /// `ws://host:port/graphql/ws`
    pub url: String,
    pub token: String,
    pub query: String,
}

/// One tracked hit per message: `(message id as the API shows it, GET path
/// of its open pixel)`. The first one is the canary.
pub struct FanoutPlan {
    pub subscribers: usize,
    /// Subscribers connecting at the same time.
    pub parallel_connects: usize,
    pub hits: Vec<(String, Uri)>,
    pub rate_per_s: f64,
    /// After the last hit, how long to wait for missing deliveries.
    pub drain: Duration,
    pub user_agent: HeaderValue,
    /// Server process whose VmRSS is sampled, if known.
    pub server_pid: Option<u32>,
}

/// Shared between the subscriber tasks and the hit sender.
struct Board {
    base: Instant,
    /// Message id -> hit index (0 is the canary).
    index: HashMap<String, u32>,
    /// Send time of each hit, in ns after `base` (0: not sent).
    sent_ns: Vec<AtomicU64>,
    /// Subscribers that completed connection_init, ack and subscribe.
    connected: AtomicUsize,
    /// Subscribers whose connection attempt has ended (either way).
    settled: AtomicUsize,
    /// Subscribers that received the canary.
    canary_seen: AtomicUsize,
    /// Latency samples received so far (canary excluded).
    samples: AtomicU64,
}

impl Board {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

#[derive(Default)]
struct SubscriberOutcome {
    connected: bool,
    connect_error: Option<String>,
    /// (hit index, arrival in ns after `base`), canary excluded.
    samples: Vec<(u32, u64)>,
    /// Events for messages other than the hits (e.g. `sent`, earlier opens).
    other_events: u64,
    /// Why the subscription ended before the run did, if it did.
    ended_early: Option<String>,
}

/// `VmRSS` of `pid` in kB.
pub fn vm_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
}

/// The soft limit on open files of this process, from /proc/self/limits.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()
        .and_then(|soft| soft.parse().ok())
}

/// The `messageId` and `type` of a `next` message for subscription "1";
/// `Err` with the text for `error`/`complete`; `Ok(None)` for anything else.
fn parse_server_message(text: &str) -> Result<Option<(String, String)>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e}): {text}"))?;
    match value.get("type").and_then(Value::as_str) {
        Some("next") => {
            if let Some(errors) = value.pointer("/payload/errors") {
                return Err(format!("next with errors: {errors}"));
            }
            let event = value.pointer("/payload/data/engagementEvents");
            let field = |name: &str| {
                event
                    .and_then(|e| e.get(name))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            match (field("messageId"), field("type")) {
                (Some(id), Some(kind)) => Ok(Some((id, kind))),
                _ => Err(format!(
                    "next without engagementEvents.messageId/type: {text}"
                )),
            }
        }
        Some("error") => Err(format!(
            "error: {}",
            value.get("payload").unwrap_or(&Value::Null)
        )),
        Some("complete") => Err("complete: the server ended the subscription".to_owned()),
        _ => Ok(None),
    }
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// Small buffers: the default 128 KiB read buffer per connection would make
/// 1,000 idle clients cost 128 MiB. Messages here are a few hundred bytes.
fn client_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
}

/// Connects, initialises with the token, waits for the ack and subscribes.
async fn open_subscription(sub: &Subscription) -> Result<Ws> {
    let stream = TcpStream::connect(sub.addr).await?;
    stream.set_nodelay(true)?;
    let mut request = sub.url.as_str().into_client_request()?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(PROTOCOL));
    let (mut ws, response) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(client_config())).await?;
    let protocol = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok());
    ensure!(
        protocol == Some(PROTOCOL),
        "the server chose subprotocol {protocol:?}"
    );
    let init = json!({ "type": "connection_init", "payload": { "token": sub.token } });
    ws.send(Message::text(init.to_string())).await?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(text.as_str())?;
                match value.get("type").and_then(Value::as_str) {
                    Some("connection_ack") => break,
                    Some("ping") => {
                        ws.send(Message::text(json!({ "type": "pong" }).to_string()))
                            .await?
                    }
                    _ => bail!("expected connection_ack, got {text}"),
                }
            }
            Some(Ok(Message::Close(frame))) => bail!("closed before the ack: {frame:?}"),
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error.into()),
            None => bail!("closed before the ack"),
        }
    }
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": sub.query } });
    ws.send(Message::text(subscribe.to_string())).await?;
    Ok(ws)
}

async fn subscriber(
    sub: Arc<Subscription>,
    board: Arc<Board>,
    gate: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) -> SubscriberOutcome {
    let mut outcome = SubscriberOutcome::default();
    let opened = {
        let _permit = gate.acquire().await;
        tokio::time::timeout(Duration::from_secs(60), open_subscription(&sub)).await
    };
    let mut ws = match opened {
        Ok(Ok(ws)) => ws,
        Ok(Err(error)) => {
            outcome.connect_error = Some(format!("{error:#}"));
            board.settled.fetch_add(1, Ordering::SeqCst);
            return outcome;
        }
        Err(_) => {
            outcome.connect_error = Some("no connection_ack within 60 s".to_owned());
            board.settled.fetch_add(1, Ordering::SeqCst);
            return outcome;
        }
    };
    outcome.connected = true;
    board.connected.fetch_add(1, Ordering::SeqCst);
    board.settled.fetch_add(1, Ordering::SeqCst);
    let mut canary = false;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            message = ws.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    let arrived = board.now_ns();
                    match parse_server_message(text.as_str()) {
                        Ok(Some((message_id, kind))) => {
                            match board.index.get(&message_id) {
                                Some(&0) if kind == "OPENED" => {
                                    if !canary {
                                        canary = true;
                                        board.canary_seen.fetch_add(1, Ordering::SeqCst);
                                    }
                                }
                                Some(&i) if kind == "OPENED" => {
                                    outcome.samples.push((i, arrived));
                                    board.samples.fetch_add(1, Ordering::Relaxed);
                                }
                                _ => outcome.other_events += 1,
                            }
                        }
                        Ok(None) => {
                            if text.as_str().contains("\"ping\"") {
                                let pong = Message::text(json!({ "type": "pong" }).to_string());
                                if ws.send(pong).await.is_err() {
                                    outcome.ended_early = Some("pong failed".to_owned());
                                    break;
                                }
                            }
                        }
                        Err(why) => {
                            outcome.ended_early = Some(why);
                            break;
                        }
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    outcome.ended_early = Some(format!("closed by the server: {frame:?}"));
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    outcome.ended_early = Some(format!("{error}"));
                    break;
                }
                None => {
                    outcome.ended_early = Some("connection closed".to_owned());
                    break;
                }
            }
        }
    }
    if outcome.ended_early.is_none() {
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    }
    outcome
}

/// Keep-alive connections for the hits, so that connecting is never part of
/// a sample.
struct HitPool {
    target: Target,
    idle: Mutex<Vec<Sender>>,
}

impl HitPool {
    async fn take(&self) -> Result<Sender> {
        while let Some(sender) = self.idle.lock().await.pop() {
            if !sender.is_closed() {
                return Ok(sender);
            }
        }
        connect(&self.target).await
    }
}

/// Sends hit `i` (records its send time) and returns (status, response ms).
async fn send_hit(
    pool: &HitPool,
    board: &Board,
    i: usize,
    path: Uri,
    agent: HeaderValue,
) -> Result<(StatusCode, f64)> {
    let mut sender = pool.take().await?;
    sender.ready().await?;
    let request = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(HOST, pool.target.host.clone())
        .header(USER_AGENT, agent)
        .body(Full::new(Bytes::new()))?;
    let started = Instant::now();
    board.sent_ns[i].store(board.now_ns().max(1), Ordering::SeqCst);
    let (status, _) = exchange(&mut sender, request).await?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    pool.idle.lock().await.push(sender);
    Ok((status, ms))
}

/// Waits until `done()` or `limit` has passed; returns whether `done()`.
async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

fn rss(pid: Option<u32>) -> Value {
    pid.and_then(vm_rss_kb).map_or(Value::Null, Value::from)
}

/// Runs the fan-out measurement and returns its flat JSON result.
pub async fn run(sub: Subscription, target: Target, plan: FanoutPlan) -> Result<Value> {
    ensure!(
        plan.hits.len() >= 2,
        "the fan-out needs at least two messages"
    );
    ensure!(plan.subscribers >= 1, "--subscribers must be at least 1");
    ensure!(
        plan.rate_per_s > 0.0 && plan.rate_per_s <= 10_000.0,
        "--hit-rate must be in (0, 10000]"
    );
    if let Some(limit) = open_files_limit() {
        ensure!(
            limit >= plan.subscribers as u64 + 64,
            "{} subscribers need more open files than the limit of {limit}; raise it (ulimit -n)",
            plan.subscribers
        );
    }
    let board = Arc::new(Board {
        base: Instant::now(),
        index: plan
            .hits
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (id.clone(), i as u32))
            .collect(),
        sent_ns: (0..plan.hits.len()).map(|_| AtomicU64::new(0)).collect(),
        connected: AtomicUsize::new(0),
        settled: AtomicUsize::new(0),
        canary_seen: AtomicUsize::new(0),
        samples: AtomicU64::new(0),
    });
    ensure!(
        board.index.len() == plan.hits.len(),
        "the fan-out hits must be for distinct messages"
    );
    let pool = Arc::new(HitPool {
        target,
        idle: Mutex::new(Vec::new()),
    });
    // One warm connection for the canary and the first hits.
    let warm = pool.take().await?;
    pool.idle.lock().await.push(warm);

    let rss_before = rss(plan.server_pid);
    let sub = Arc::new(sub);
    let gate = Arc::new(Semaphore::new(plan.parallel_connects.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let connect_started = Instant::now();
    let tasks: Vec<_> = (0..plan.subscribers)
        .map(|_| {
            tokio::spawn(subscriber(
                Arc::clone(&sub),
                Arc::clone(&board),
                Arc::clone(&gate),
                stop_rx.clone(),
            ))
        })
        .collect();
    wait_until(Duration::from_secs(600), || {
        board.settled.load(Ordering::SeqCst) >= plan.subscribers
    })
    .await;
    let connect_s = connect_started.elapsed().as_secs_f64();
    let connected = board.connected.load(Ordering::SeqCst);
    eprintln!(
        "fanout: {connected} of {} subscribers connected in {connect_s:.1} s",
        plan.subscribers
    );

    // The canary: every live subscription should see it.
    let agent = plan.user_agent.clone();
    let canary = send_hit(&pool, &board, 0, plan.hits[0].1.clone(), agent.clone())
        .await
        .context("canary hit")?;
    ensure!(
        canary.0 == StatusCode::OK,
        "canary hit answered HTTP {}",
        canary.0
    );
    let all_ready = wait_until(Duration::from_secs(30), || {
        board.canary_seen.load(Ordering::SeqCst) >= connected
    })
    .await;
    let ready = board.canary_seen.load(Ordering::SeqCst);
    if !all_ready {
        eprintln!(
            "fanout: only {ready} of {connected} subscribers received the canary within 30 s"
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_connected = rss(plan.server_pid);

    // The hits, at a steady rate, each on its own task so a slow one does
    // not delay the schedule.
    let period = Duration::from_secs_f64(1.0 / plan.rate_per_s);
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let hits_started = Instant::now();
    let mut hit_tasks = Vec::with_capacity(plan.hits.len() - 1);
    for (i, (_, path)) in plan.hits.iter().enumerate().skip(1) {
        ticker.tick().await;
        let (pool, board, path, agent) = (
            Arc::clone(&pool),
            Arc::clone(&board),
            path.clone(),
            agent.clone(),
        );
        hit_tasks.push(tokio::spawn(async move {
            send_hit(&pool, &board, i, path, agent).await
        }));
    }
    let mut hit_ms = Vec::new();
    let mut hit_errors = 0u64;
    let mut first_hit_error = None;
    for task in hit_tasks {
        match task
            .await
            .map_err(|e| anyhow!("hit task: {e}"))
            .and_then(|r| r)
        {
            Ok((StatusCode::OK, ms)) => hit_ms.push((ms * 1000.0) as u32),
            Ok((status, _)) => {
                hit_errors += 1;
                first_hit_error.get_or_insert(format!("HTTP {status}"));
            }
            Err(error) => {
                hit_errors += 1;
                first_hit_error.get_or_insert(format!("{error:#}"));
            }
        }
    }
    let hits_s = hits_started.elapsed().as_secs_f64();
    let hits = (plan.hits.len() - 1) as u64;
    let expected = connected as u64 * hits;
    let drained = wait_until(plan.drain, || {
        board.samples.load(Ordering::Relaxed) >= expected
    })
    .await;
    let rss_after = rss(plan.server_pid);

    stop_tx.send(true).ok();
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await.context("subscriber task panicked")?);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_closed = rss(plan.server_pid);

    // Latencies: arrival minus send time of the hit.
    let mut latencies: Vec<u32> = Vec::with_capacity(expected as usize);
    let mut last_arrival: Vec<u64> = vec![0; plan.hits.len()];
    let mut arrivals: Vec<u32> = vec![0; plan.hits.len()];
    let mut duplicates = 0u64;
    let mut other_events = 0u64;
    let mut ended_early = 0u64;
    let mut first_end = None;
    let mut first_connect_error = None;
    for outcome in &outcomes {
        other_events += outcome.other_events;
        if let Some(why) = &outcome.ended_early {
            ended_early += 1;
            first_end.get_or_insert_with(|| why.clone());
        }
        if let Some(why) = &outcome.connect_error {
            first_connect_error.get_or_insert_with(|| why.clone());
        }
        let mut seen = vec![false; plan.hits.len()];
        for &(i, arrived) in &outcome.samples {
            let i = i as usize;
            if std::mem::replace(&mut seen[i], true) {
                duplicates += 1;
                continue;
            }
            let sent = board.sent_ns[i].load(Ordering::SeqCst);
            let us = arrived.saturating_sub(sent) / 1000;
            latencies.push(u32::try_from(us).unwrap_or(u32::MAX));
            last_arrival[i] = last_arrival[i].max(arrived);
            arrivals[i] += 1;
        }
    }
    latencies.sort_unstable();
    // Per hit, the time until the last connected subscriber had it (only
    // hits every connected subscriber received).
    let mut until_all: Vec<u32> = (1..plan.hits.len())
        .filter(|&i| arrivals[i] as usize == connected && connected > 0)
        .map(|i| {
            let us = last_arrival[i].saturating_sub(board.sent_ns[i].load(Ordering::SeqCst)) / 1000;
            u32::try_from(us).unwrap_or(u32::MAX)
        })
        .collect();
    until_all.sort_unstable();
    hit_ms.sort_unstable();
    let received = latencies.len() as u64;
    let mut result = json!({
        "kind": "fanout",
        "subscribers": plan.subscribers,
        "connected": connected,
        "ready": ready,
        "connect_s": round3(connect_s),
        "hits": hits,
        "hit_rate": plan.rate_per_s,
        "hits_s": round3(hits_s),
        "hit_errors": hit_errors,
        "hit_p50_ms": percentile_ms(&hit_ms, 50.0),
        "hit_p99_ms": percentile_ms(&hit_ms, 99.0),
        "expected": expected,
        "received": received,
        "missing": expected.saturating_sub(received),
        "duplicates": duplicates,
        "drained": u8::from(drained),
        "p50_ms": percentile_ms(&latencies, 50.0),
        "p90_ms": percentile_ms(&latencies, 90.0),
        "p99_ms": percentile_ms(&latencies, 99.0),
        "max_ms": percentile_ms(&latencies, 100.0),
        "all_hits": until_all.len(),
        "all_p50_ms": percentile_ms(&until_all, 50.0),
        "all_p99_ms": percentile_ms(&until_all, 99.0),
        "all_max_ms": percentile_ms(&until_all, 100.0),
        "other_events": other_events,
        "ended_early": ended_early,
        "rss_before_kb": rss_before,
        "rss_connected_kb": rss_connected,
        "rss_after_kb": rss_after,
        "rss_closed_kb": rss_closed,
    });
    let notes = [
        ("first_hit_error", first_hit_error),
        ("first_connect_error", first_connect_error),
        ("first_early_end", first_end),
    ];
    for (key, note) in notes {
        if let Some(note) = note {
            let shown: String = note.chars().take(300).collect();
            result[key] = Value::from(shown);
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_messages() {
        let next = r#"{"id":"1","type":"next","payload":{"data":{"engagementEvents":{"cursor":"7","type":"OPENED","messageId":"m-1"}}}}"#;
        assert_eq!(
            parse_server_message(next),
            Ok(Some(("m-1".to_owned(), "OPENED".to_owned())))
        );
        assert_eq!(parse_server_message(r#"{"type":"ping"}"#), Ok(None));
        assert!(
            parse_server_message(r#"{"id":"1","type":"error","payload":[{"message":"no"}]}"#)
                .unwrap_err()
                .contains("no")
        );
        assert!(parse_server_message(r#"{"id":"1","type":"complete"}"#).is_err());
        assert!(
            parse_server_message(
                r#"{"id":"1","type":"next","payload":{"errors":[{"message":"x"}]}}"#
            )
            .is_err()
        );
        assert!(parse_server_message("nope").is_err());
    }

    #[test]
    fn proc_readings() {
        assert!(vm_rss_kb(std::process::id()).is_some_and(|kb| kb > 0));
        assert!(open_files_limit().is_some_and(|n| n > 0));
    }
}
