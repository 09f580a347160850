//! `promohub-bench messaging`: sending, tracking and live fan-out.
//!
//! Against a running server whose tenant has leads (`promohub-bench seed`),
//! in one process, because the SMTP sink that takes the deliveries has to
//! live through all of it:
//!
//! 1. **bulk**: starts an SMTP sink on 127.0.0.1, creates a sender account
//!    pointing at it and a template with links, then queues the template for
//!    the leads with `sendBulkMessages`, once per call size of
//!    `--bulk-sizes` (e.g. one call of 10,000, then ten of 1,000): messages
//!    rendered and queued per second = leads / wall time of the calls. After
//!    each round it waits until the sink has every message and no message
//!    is left unsent, so the next round starts on an idle server.
//! 2. **tracking**: reads the open-pixel and click tokens out of the stored
//!    HTML bodies, then runs the closed-loop generator (`GET /t/o/<token>`,
//!    `GET /t/c/<token>` expecting 302, browser User-Agent) at each
//!    connection count, and counts `engagement_events` rows of that type
//!    before and after: every successful response, warm-up included, must
//!    be one stored event.
//! 3. **fanout**: see `fanout.rs`.
//!
//! Each step prints one flat JSON line (`"kind"`: `setup`, `bulk`,
//! `tokens`, `tracking`, `fanout`) and a human-readable line.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail, ensure};
use bytes::Bytes;
use clap::ValueEnum;
use hyper::StatusCode;
use hyper::Uri;
use hyper::header::HeaderValue;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};

use crate::fanout::{self, FanoutPlan, Subscription};
use crate::smtp_sink::SmtpSink;
use crate::{Plan, Target, human_line, own_cpu_seconds, probe, round3, run_workers, summarize};

/// A current desktop browser: not a scanner or previewer, so the events are
/// stored as human ones.
const BROWSER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                             (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

const DEFAULT_SUBSCRIPTION: &str = "subscription { engagementEvents { cursor type messageId } }";

const CREATE_SENDER: &str = "mutation($name: String!, $port: Int!) { createSenderAccount(input: { \
     name: $name, host: \"127.0.0.1\", port: $port, tlsMode: NONE, \
     fromEmail: \"bench@promohub-bench.test\", fromName: \"PromoHub Bench\", priority: 1 }) { id } }";

const CREATE_TEMPLATE: &str = "mutation($name: String!, $subject: String!, $html: String!) { \
     createMessageTemplate(input: { name: $name, subject: $subject, htmlBody: $html }) { id } }";

const SUBJECT: &str = "Hi {{ lead.firstName }}";

/// Two tracked links, the unsubscribe link (left alone by the tracker) and
/// the pixel the server adds.
const HTML: &str = "<html><body><p>Hello {{ lead.firstName | default('there') }} from \
     {{ company.name | default('us') }}</p><a href=\"https://example.com/a\">A</a>\
     <a href=\"https://example.com/b?x=1\">B</a><a href=\"{{ unsubscribeUrl }}\">Unsubscribe</a>\
     </body></html>";

const SEND_BULK: &str = "mutation($template: ID!, $leads: [ID!]!) { sendBulkMessages(input: { \
     templateId: $template, leadIds: $leads }) { queued skipped { leadId code message } } }";

const LEADS_PAGE: &str = "query($after: String) { leads(first: 100, after: $after) { \
     pageInfo { hasNextPage endCursor } edges { node { id } } } }";

const MESSAGES_PAGE: &str = "query($after: String) { messages(first: 100, after: $after) { \
     pageInfo { hasNextPage endCursor } edges { node { id htmlBody } } } }";

/// The tracking routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Route {
    /// `GET /t/o/<token>`: the open pixel (200).
    Open,
    /// `GET /t/c/<token>`: a click redirect (302).
    Click,
}

impl Route {
    fn name(self) -> &'static str {
        match self {
            Route::Open => "open-pixel",
            Route::Click => "click",
        }
    }

    fn event_type(self) -> &'static str {
        match self {
            Route::Open => "opened",
            Route::Click => "clicked",
        }
    }

    fn expect(self) -> StatusCode {
        match self {
            Route::Open => StatusCode::OK,
            Route::Click => StatusCode::FOUND,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct MessagingArgs {
    /// GraphQL endpoint of the running server (loopback only).
    #[arg(
        long,
        env = "BENCH_URL",
        default_value = "http://127.0.0.1:8080/graphql"
    )]
    url: String,

    /// Access token of a writer of the tenant (e.g. `BENCH_TOKEN` from
    /// `promohub-bench seed --env-file`).
    #[arg(long, env = "BENCH_TOKEN", hide_env_values = true)]
    token: String,

    /// The server's database, for the daily cap and the event counts.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,

    /// The server's process id: its VmRSS is sampled around the fan-out.
    #[arg(long)]
    server_pid: Option<u32>,

    /// Leads to send to (the tenant's first N).
    #[arg(long, default_value_t = 10_000)]
    leads: usize,

    /// `sendBulkMessages` call sizes, one round over all leads each
    /// (comma separated; at most 10,000).
    #[arg(long, value_delimiter = ',', default_value = "10000,1000")]
    bulk_sizes: Vec<usize>,

    /// Longest wait, in seconds, for a round's deliveries.
    #[arg(long, default_value_t = 900.0)]
    delivery_timeout: f64,

    /// Tracking routes to load (comma separated).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "open,click")]
    routes: Vec<Route>,

    /// Connection counts of the tracking load (comma separated).
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    connections: Vec<usize>,

    /// Skip the tracking load.
    #[arg(long)]
    no_tracking: bool,

    /// Measured seconds per tracking run.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    duration: f64,

    /// Warm-up seconds per tracking run (its events are counted too).
    #[arg(long, short = 'w', default_value_t = 1.0)]
    warmup: f64,

    /// Per-request timeout of the tracking load, in seconds.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,

    /// User-Agent of the tracking requests.
    #[arg(long, default_value = BROWSER_AGENT)]
    user_agent: String,

    /// WebSocket subscribers of the fan-out; 0 skips it.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,

    /// Subscribers connecting at once.
    #[arg(long, default_value_t = 64)]
    parallel_connects: usize,

    /// Open-pixel hits per second during the fan-out, one message each.
    #[arg(long, default_value_t = 20.0)]
    hit_rate: f64,

    /// Seconds of hits during the fan-out.
    #[arg(long, default_value_t = 10.0)]
    hit_duration: f64,

    /// Seconds to wait after the last hit for deliveries still missing.
    #[arg(long, default_value_t = 10.0)]
    drain: f64,

    /// The subscription every subscriber sends.
    #[arg(long, default_value = DEFAULT_SUBSCRIPTION)]
    subscription: String,

    /// WebSocket path on the server.
    #[arg(long, default_value = "/graphql/ws")]
    ws_path: String,

    /// Free-form label copied into every JSON line (e.g. the backend).
    #[arg(long, default_value = "")]
    label: String,

    /// Tokio worker threads of this process.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

/// GraphQL calls as the bench user.
struct Api {
    target: Target,
    authorization: HeaderValue,
}

impl Api {
    /// `data` of the response; fails on HTTP or GraphQL errors.
    async fn call(&self, query: &str, variables: Value) -> Result<Value> {
        let body = json!({ "query": query, "variables": variables });
        let value = tokio::time::timeout(
            Duration::from_secs(300),
            probe(
                &self.target,
                Bytes::from(body.to_string()),
                Some(self.authorization.clone()),
            ),
        )
        .await
        .map_err(|_| anyhow!("no response within 300 s"))??;
        value.get("data").cloned().context("response without data")
    }
}

fn string_at(value: &Value, pointer: &str) -> Result<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("no {pointer} in {value}"))
}

/// Every token following `marker` (e.g. `/t/o/`) in `html`: the URL-safe
/// base64 characters up to the first other character.
pub fn tokens_after<'a>(html: &'a str, marker: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(marker) {
        let tail = &rest[at + marker.len()..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(tail.len());
        if end > 0 {
            out.push(&tail[..end]);
        }
        rest = &tail[end..];
    }
    out
}

/// Pages through a connection; `node` picks what to keep of each node.
async fn all_nodes<T>(
    api: &Api,
    query: &str,
    field: &str,
    limit: usize,
    mut node: impl FnMut(&Value) -> Result<T>,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    let mut after = Value::Null;
    while out.len() < limit {
        let data = api.call(query, json!({ "after": after })).await?;
        let connection = &data[field];
        for edge in connection["edges"].as_array().context("no edges")? {
            if out.len() < limit {
                out.push(node(&edge["node"])?);
            }
        }
        if connection.pointer("/pageInfo/hasNextPage") != Some(&Value::Bool(true)) {
            break;
        }
        after = connection
            .pointer("/pageInfo/endCursor")
            .cloned()
            .context("no endCursor")?;
    }
    Ok(out)
}

async fn count(db: &DatabaseConnection, sql: &str) -> Result<i64> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await
        .with_context(|| format!("SQL failed: {sql}"))?
        .with_context(|| format!("no row: {sql}"))?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// (all, human) `engagement_events` rows of `event_type`.
async fn events(db: &DatabaseConnection, event_type: &str) -> Result<(i64, i64)> {
    let all = count(
        db,
        &format!("SELECT count(*) FROM engagement_events WHERE event_type = '{event_type}'"),
    )
    .await?;
    let human = count(
        db,
        &format!(
            "SELECT count(*) FROM engagement_events WHERE event_type = '{event_type}' AND NOT machine"
        ),
    )
    .await?;
    Ok((all, human))
}

/// The count once it has not changed for half a second (at most 10 s): a
/// request the generator gave up on may still commit.
async fn settled_events(db: &DatabaseConnection, event_type: &str) -> Result<(i64, i64)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = events(db, event_type).await?;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = events(db, event_type).await?;
        if now == last || Instant::now() >= deadline {
            return Ok(now);
        }
        last = now;
    }
}

fn unique_suffix() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{ms}")
}

fn per_second(n: f64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        (n / seconds * 10.0).round() / 10.0
    } else {
        0.0
    }
}

/// Prints a JSON line with the label added.
fn emit(label: &str, mut value: Value) -> Result<()> {
    value["label"] = Value::from(label);
    println!("{}", serde_json::to_string(&value)?);
    Ok(())
}

struct Round {
    queued: u64,
    skipped: u64,
}

/// One round of `sendBulkMessages` over `leads` in calls of `size`.
async fn bulk_round(
    args: &MessagingArgs,
    api: &Api,
    db: &DatabaseConnection,
    sink: &SmtpSink,
    template_id: &str,
    leads: &[String],
    size: usize,
) -> Result<Round> {
    let sink_before = sink.messages();
    let data_us_before = sink.data_us();
    let started = Instant::now();
    let mut send_s = 0.0;
    let mut max_call_s: f64 = 0.0;
    let (mut queued, mut skipped) = (0u64, 0u64);
    let mut first_skip = None;
    for chunk in leads.chunks(size) {
        let call = Instant::now();
        let data = api
            .call(
                SEND_BULK,
                json!({ "template": template_id, "leads": chunk }),
            )
            .await
            .with_context(|| format!("sendBulkMessages of {} leads", chunk.len()))?;
        let took = call.elapsed().as_secs_f64();
        send_s += took;
        max_call_s = max_call_s.max(took);
        let result = &data["sendBulkMessages"];
        queued += result["queued"].as_u64().context("no queued")?;
        let skips = result["skipped"].as_array().context("no skipped")?;
        skipped += skips.len() as u64;
        if first_skip.is_none() {
            first_skip = skips.first().map(Value::to_string);
        }
    }
    let calls_done = started.elapsed();

    // Deliveries: the sink has them all and none is left unsent.
    let expected = sink_before + queued;
    let deadline = started + Duration::from_secs_f64(args.delivery_timeout);
    let mut sink_done = None;
    let mut last_poll = Instant::now() - Duration::from_secs(1);
    let mut last_progress = Instant::now();
    let mut unsent = i64::MAX;
    loop {
        let now = Instant::now();
        if sink_done.is_none() && sink.messages() >= expected {
            sink_done = Some(now);
        }
        if now.duration_since(last_poll) >= Duration::from_millis(250) {
            last_poll = now;
            unsent = count(
                db,
                "SELECT count(*) FROM messages WHERE sent_at IS NULL AND failed_at IS NULL",
            )
            .await?;
            // Nothing left to send: all delivered, or some failed.
            if unsent == 0 {
                break;
            }
            if now.duration_since(last_progress) >= Duration::from_secs(10) {
                last_progress = now;
                eprintln!(
                    "messaging: waiting for deliveries: the sink has {} of {queued}, {unsent} message(s) unsent",
                    sink.messages() - sink_before
                );
            }
        }
        if now >= deadline {
            eprintln!(
                "messaging: deliveries incomplete after {} s: the sink has {} of {queued}, {unsent} message(s) unsent",
                args.delivery_timeout,
                sink.messages() - sink_before
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let failed = count(
        db,
        "SELECT count(*) FROM messages WHERE failed_at IS NOT NULL",
    )
    .await?;
    let delivered = sink.messages() - sink_before;
    let data_ms_mean = if delivered > 0 {
        round3((sink.data_us() - data_us_before) as f64 / delivered as f64 / 1000.0)
    } else {
        0.0
    };
    let delivered_s = sink_done
        .unwrap_or_else(Instant::now)
        .duration_since(started)
        .as_secs_f64();
    let calls = leads.len().div_ceil(size);
    let mut line = json!({
        "kind": "bulk",
        "call_size": size,
        "calls": calls,
        "leads": leads.len(),
        "queued": queued,
        "skipped": skipped,
        "send_s": round3(send_s),
        "max_call_s": round3(max_call_s),
        "rendered_per_s": per_second(queued as f64, send_s),
        "delivered": delivered,
        "delivered_s": round3(delivered_s),
        "delivered_per_s": per_second(delivered as f64, delivered_s),
        "drain_s": round3(delivered_s - calls_done.as_secs_f64()),
        "sink_data_ms": data_ms_mean,
        "unsent": unsent.max(0),
        "failed_total": failed,
        "complete": u8::from(sink_done.is_some() && unsent == 0),
    });
    if let Some(skip) = first_skip {
        line["first_skip"] = Value::from(skip);
    }
    emit(&args.label, line)?;
    eprintln!(
        "{}bulk: {calls} call(s) of {size}: {queued} queued, {skipped} skipped in {send_s:.2} s = {:.1} messages rendered and queued/s (slowest call {max_call_s:.2} s); \
         {delivered} delivered to the sink {delivered_s:.2} s after the first call = {:.1}/s; \
         {data_ms_mean:.1} ms per message in DATA",
        crate::label_prefix(&args.label),
        per_second(queued as f64, send_s),
        per_second(delivered as f64, delivered_s),
    );
    Ok(Round { queued, skipped })
}

/// One closed-loop run over `paths` with the stored-event check.
async fn tracking_run(
    args: &MessagingArgs,
    db: &DatabaseConnection,
    target: &Target,
    route: Route,
    connections: usize,
    paths: &[Uri],
) -> Result<bool> {
    let (before, human_before) = settled_events(db, route.event_type()).await?;
    let start = Instant::now();
    let warmup = Duration::from_secs_f64(args.warmup);
    let plan = Arc::new(Plan::get(
        target.clone(),
        paths.to_vec(),
        Some(HeaderValue::from_str(&args.user_agent).context("--user-agent")?),
        route.expect(),
        start + warmup,
        start + warmup + Duration::from_secs_f64(args.duration),
        Duration::from_secs_f64(args.timeout),
    ));
    let results = run_workers(&plan, connections).await?;
    let (mut report, first_error) = summarize(
        args.label.clone(),
        route.name().to_owned(),
        connections,
        &plan,
        results,
    );
    report.generator_cpu_s = own_cpu_seconds();
    let (after, human_after) = settled_events(db, route.event_type()).await?;
    let ok_total = report.ok + report.warmup_ok;
    let stored = after - before;
    let lost = ok_total as i64 - stored;
    let mut line = serde_json::to_value(&report)?;
    line["kind"] = Value::from("tracking");
    line["route"] = Value::from(route.name());
    line["ok_total"] = Value::from(ok_total);
    line["events_before"] = Value::from(before);
    line["events_after"] = Value::from(after);
    line["stored"] = Value::from(stored);
    line["stored_human"] = Value::from(human_after - human_before);
    line["lost"] = Value::from(lost);
    line["paths"] = Value::from(paths.len());
    if let Some(error) = &first_error {
        line["first_error"] = Value::from(error.chars().take(300).collect::<String>());
    }
    emit(&args.label, line)?;
    eprintln!("{}", human_line(&report));
    eprintln!(
        "{}{} x{connections}: {ok_total} successful responses (warm-up included), {stored} {} events stored ({} human): {}",
        crate::label_prefix(&args.label),
        route.name(),
        route.event_type(),
        human_after - human_before,
        match lost {
            0 => "none lost".to_owned(),
            n if n > 0 => format!("{n} LOST"),
            n => format!(
                "{} more stored than answered (requests the generator gave up on)",
                -n
            ),
        }
    );
    if let Some(error) = first_error {
        eprintln!(
            "first error: {}",
            error.chars().take(500).collect::<String>()
        );
    }
    Ok(lost == 0 && report.errors == 0)
}

pub async fn run(args: MessagingArgs) -> Result<()> {
    let target = Target::parse(&args.url)?;
    ensure!(args.leads >= 1, "--leads must be at least 1");
    ensure!(
        !args.bulk_sizes.is_empty() && args.bulk_sizes.iter().all(|s| (1..=10_000).contains(s)),
        "--bulk-sizes must be between 1 and 10,000"
    );
    ensure!(
        args.connections.iter().all(|c| (1..=1024).contains(c)),
        "--connections must be between 1 and 1024"
    );
    ensure!(
        args.duration > 0.0 && args.warmup >= 0.0 && args.timeout > 0.0,
        "--duration and --timeout must be positive, --warmup non-negative"
    );
    let api = Api {
        target: target.clone(),
        authorization: HeaderValue::from_str(&format!("Bearer {}", args.token))
            .context("token is not a valid header value")?,
    };
    let mut options = ConnectOptions::new(args.database_url.clone());
    options
        .max_connections(2)
        .min_connections(1)
        .sqlx_logging(false);
    let db = Database::connect(options)
        .await
        .with_context(|| format!("connecting to {}", args.database_url))?;

    // Setup: cap, sink, sender, template, leads.
    db.execute_unprepared("UPDATE tenants SET max_emails_per_day = 10000000")
        .await
        .context("raising max_emails_per_day")?;
    let sink = SmtpSink::start(0).await?;
    let suffix = unique_suffix();
    let sender = api
        .call(
            CREATE_SENDER,
            json!({ "name": format!("bench sink {suffix}"), "port": sink.port }),
        )
        .await
        .context("createSenderAccount")?;
    let sender_id = string_at(&sender, "/createSenderAccount/id")?;
    let template = api
        .call(
            CREATE_TEMPLATE,
            json!({ "name": format!("bench template {suffix}"), "subject": SUBJECT, "html": HTML }),
        )
        .await
        .context("createMessageTemplate")?;
    let template_id = string_at(&template, "/createMessageTemplate/id")?;
    let started = Instant::now();
    let leads = all_nodes(&api, LEADS_PAGE, "leads", args.leads, |node| {
        string_at(node, "/id")
    })
    .await
    .context("listing leads")?;
    ensure!(
        !leads.is_empty(),
        "the tenant has no leads (run `promohub-bench seed` first)"
    );
    emit(
        &args.label,
        json!({
            "kind": "setup",
            "leads": leads.len(),
            "leads_listed_s": round3(started.elapsed().as_secs_f64()),
            "smtp_port": sink.port,
            "sender_id": sender_id,
            "template_id": template_id,
        }),
    )?;
    eprintln!(
        "{}setup: {} leads, sender {sender_id} -> SMTP sink on 127.0.0.1:{}, template {template_id}",
        crate::label_prefix(&args.label),
        leads.len(),
        sink.port
    );

    // 1. Rendering and queueing.
    let mut all_good = true;
    for &size in &args.bulk_sizes {
        let round = bulk_round(&args, &api, &db, &sink, &template_id, &leads, size).await?;
        all_good &= round.skipped == 0 && round.queued == leads.len() as u64;
    }

    // 2. Tokens from the stored bodies.
    let started = Instant::now();
    let messages = all_nodes(&api, MESSAGES_PAGE, "messages", usize::MAX, |node| {
        let id = string_at(node, "/id")?;
        let html = node["htmlBody"].as_str().unwrap_or_default();
        let opens: Vec<String> = tokens_after(html, "/t/o/")
            .into_iter()
            .map(str::to_owned)
            .collect();
        let clicks: Vec<String> = tokens_after(html, "/t/c/")
            .into_iter()
            .map(str::to_owned)
            .collect();
        Ok((id, opens, clicks))
    })
    .await
    .context("listing messages")?;
    let open_paths: Vec<(String, Uri)> = messages
        .iter()
        .filter_map(|(id, opens, _)| {
            let path = format!("/t/o/{}", opens.first()?).parse().ok()?;
            Some((id.clone(), path))
        })
        .collect();
    let click_paths: Vec<Uri> = messages
        .iter()
        .flat_map(|(_, _, clicks)| clicks.iter())
        .filter_map(|t| format!("/t/c/{t}").parse().ok())
        .collect();
    emit(
        &args.label,
        json!({
            "kind": "tokens",
            "messages": messages.len(),
            "open_tokens": open_paths.len(),
            "click_tokens": click_paths.len(),
            "listed_s": round3(started.elapsed().as_secs_f64()),
        }),
    )?;
    eprintln!(
        "{}tokens: {} messages, {} open pixels, {} click links",
        crate::label_prefix(&args.label),
        messages.len(),
        open_paths.len(),
        click_paths.len()
    );

    // 3. Tracking load.
    let open_only: Vec<Uri> = open_paths.iter().map(|(_, p)| p.clone()).collect();
    let routes: &[Route] = if args.no_tracking { &[] } else { &args.routes };
    for &route in routes {
        let paths = match route {
            Route::Open => &open_only,
            Route::Click => &click_paths,
        };
        if paths.is_empty() {
            bail!("no {} tokens found in the message bodies", route.name());
        }
        for &c in &args.connections {
            all_good &= tracking_run(&args, &db, &target, route, c, paths).await?;
        }
    }

    // 4. Fan-out to live subscribers.
    if args.subscribers > 0 {
        let hits = (args.hit_rate * args.hit_duration).round() as usize;
        ensure!(hits >= 1, "--hit-rate × --hit-duration must be at least 1");
        ensure!(
            open_paths.len() > hits,
            "the fan-out needs {} distinct messages, there are {}",
            hits + 1,
            open_paths.len()
        );
        // The last messages: the tracking load, cycling from the first,
        // touched them least recently.
        let chosen = open_paths[open_paths.len() - hits - 1..].to_vec();
        let authority = target.host.to_str()?.to_owned();
        let result = fanout::run(
            Subscription {
                addr: target.addr,
                url: format!("ws://{authority}{}", args.ws_path),
                token: args.token.clone(),
                query: args.subscription.clone(),
            },
            target.clone(),
            FanoutPlan {
                subscribers: args.subscribers,
                parallel_connects: args.parallel_connects,
                hits: chosen,
                rate_per_s: args.hit_rate,
                drain: Duration::from_secs_f64(args.drain),
                user_agent: HeaderValue::from_str(&args.user_agent)?,
                server_pid: args.server_pid,
            },
        )
        .await?;
        let num = |key: &str| result[key].as_f64().unwrap_or(f64::NAN);
        eprintln!(
            "{}fanout: {} of {} subscribers connected ({} ready), {} hits at {}/s: {} of {} deliveries ({} missing, {} duplicate); \
             latency ms p50 {:.3} p99 {:.3} max {:.3}; until the last subscriber p50 {:.3} p99 {:.3}",
            crate::label_prefix(&args.label),
            result["connected"],
            result["subscribers"],
            result["ready"],
            result["hits"],
            args.hit_rate,
            result["received"],
            result["expected"],
            result["missing"],
            result["duplicates"],
            num("p50_ms"),
            num("p99_ms"),
            num("max_ms"),
            num("all_p50_ms"),
            num("all_p99_ms"),
        );
        all_good &= result["missing"] == 0
            && result["hit_errors"] == 0
            && result["connected"] == args.subscribers;
        emit(&args.label, result)?;
    }
    if !all_good {
        eprintln!(
            "messaging: some checks failed (skipped leads, errors, lost events or missing deliveries); see above"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tracking_tokens() {
        let html = "<html><body><p>Hello Anna</p>\
            <a href=\"http://127.0.0.1:9/t/c/AbC-_12\">A</a>\
            <a href=\"http://127.0.0.1:9/t/c/xyZ09\">B</a>\
            <a href=\"http://127.0.0.1:9/u/unsub-1\">Unsubscribe</a>\
            <img src=\"http://127.0.0.1:9/t/o/Op3n_T-k\" width=\"1\" height=\"1\" alt=\"\"></body></html>";
        assert_eq!(tokens_after(html, "/t/c/"), ["AbC-_12", "xyZ09"]);
        assert_eq!(tokens_after(html, "/t/o/"), ["Op3n_T-k"]);
        assert!(tokens_after(html, "/t/x/").is_empty());
        assert_eq!(tokens_after("/t/o/", "/t/o/"), Vec::<&str>::new());
        assert_eq!(tokens_after("x/t/o/abc", "/t/o/"), ["abc"]);
    }

    #[test]
    fn cli_parses_lists() {
        use clap::Parser;
        let cli = crate::Cli::try_parse_from([
            "promohub-bench",
            "messaging",
            "--token",
            "t",
            "--database-url",
            "sqlite://x.db",
            "--bulk-sizes",
            "1000,100",
            "--connections",
            "64",
            "--routes",
            "click",
        ])
        .unwrap();
        let Some(crate::Command::Messaging(args)) = cli.command else {
            panic!("not the messaging command");
        };
        assert_eq!(args.bulk_sizes, [1000, 100]);
        assert_eq!(args.connections, [64]);
        assert_eq!(args.routes, [Route::Click]);
        assert_eq!(args.subscribers, 1000);
    }
}
