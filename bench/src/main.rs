//! `promohub-bench`: a small closed-loop HTTP/1.1 load generator for the
//! promohub GraphQL endpoint.
//!
//! N workers each own one keep-alive connection and send the same request
//! back to back until the run's deadline. Requests that complete during the
//! warm-up are not recorded; every request that completes after it (the last
//! ones started before the deadline) has its latency recorded, and the rate
//! is their number over the time from the end of the warm-up to the last
//! completion. The result is printed as one JSON line (for scripts) and one
//! human-readable line.
//!
//! Only loopback targets are accepted: this tool is for benchmarking a
//! server running on the same machine.
//!
//! `promohub-bench seed` (see `seed.rs`) fills a database with the CRM
//! dataset the `crm` suite measures.

mod capture;
mod fanout;
mod messaging;
mod seed;
mod smtp_sink;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use bytes::Bytes;
use clap::{Parser, Subcommand, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue, USER_AGENT};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::net::TcpStream;

/// The authenticated `me` query: user, role, current tenant and memberships.
const ME_QUERY: &str = "{ me { user { id email name } role tenant { id name slug } \
                        memberships { role isPrimary tenant { slug } } } }";

/// A query that touches neither authentication nor the database.
const TYPENAME_QUERY: &str = "{ __typename }";

const LOGIN_MUTATION: &str = "mutation Login($email: String!, $password: String!) { \
     login(input: {email: $email, password: $password}) { accessToken } }";

/// First page of 50 leads (creation order) with company, stage and owner.
const LEADS_PAGE_QUERY: &str = "{ leads(first: 50) { edges { node { id fullName email score \
                                company { name } stage { name } owner { email } } } } }";

/// The same, filtered by stage and tag and ordered by score.
const LEADS_FILTERED_QUERY: &str = "query($stage: ID!) { leads(first: 50, \
     filter: { stageId: { eq: $stage }, tags: { contains: \"vip\" } }, \
     orderBy: { field: SCORE, direction: DESC }) { edges { node { id fullName score \
     company { name } stage { name } owner { email } } } } }";

/// A page of 50 leads with their newest activities and notes, and how many
/// of each they have: the nested connections and their grouped counts.
const LEADS_NESTED_QUERY: &str = "{ leads(first: 50) { nodes { id fullName tags \
     activities(first: 3) { totalCount nodes { kind occurredAt } } \
     notes(first: 2) { totalCount nodes { body } } } } }";

/// The dashboard aggregate.
const LEAD_ANALYTICS_QUERY: &str = "{ leadAnalytics { total averageScore conversions \
     byStatus { status count } byStage { count stage { name } } byOwner { count } \
     bySource { count } } }";

/// Search by a name fragment, with the total number of matches.
const LEADS_SEARCH_QUERY: &str = "query($q: String!) { leads(first: 20, search: $q) { totalCount \
     edges { node { id fullName email company { name } } } } }";

/// A segment's exact count.
const SEGMENT_COUNT_QUERY: &str = "query($segment: ID!) { segment(id: $segment) { count } }";

/// A change of one lead's job title.
const UPDATE_LEAD_QUERY: &str = "mutation($id: ID!, $title: String!) { \
     updateLead(id: $id, input: { jobTitle: $title }) { id } }";

/// The same search without `totalCount` (no count query).
const LEADS_SEARCH_NO_TOTAL_QUERY: &str = "query($q: String!) { leads(first: 20, search: $q) { \
     edges { node { id fullName email company { name } } } } }";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Authenticated `me` query (the default).
    Me,
    /// `{ __typename }`: HTTP + GraphQL overhead only, no auth, no database.
    Typename,
    /// `leads(first: 50)` with company, stage and owner.
    LeadsPage,
    /// `leads(first: 50)` with activities and notes (first page and
    /// `totalCount` of each).
    LeadsNested,
    /// `leads(first: 50)` filtered by stage (--stage-id) and tag `vip`,
    /// ordered by score.
    LeadsFiltered,
    /// `leadAnalytics` (totals, by status, stage, owner, source).
    LeadAnalytics,
    /// `leads(first: 20, search: --search)` with `totalCount`.
    LeadsSearch,
    /// The same search without `totalCount`.
    LeadsSearchNoTotal,
    /// `segment(id: --segment-id) { count }`: a dynamic segment's exact
    /// count.
    SegmentCount,
    /// `updateLead` on the tenant's 100 newest leads in turn, changing each
    /// one's job title every time (what segment upkeep follows).
    UpdateLead,
}

impl Scenario {
    fn query(self) -> &'static str {
        match self {
            Scenario::Me => ME_QUERY,
            Scenario::Typename => TYPENAME_QUERY,
            Scenario::LeadsPage => LEADS_PAGE_QUERY,
            Scenario::LeadsNested => LEADS_NESTED_QUERY,
            Scenario::LeadsFiltered => LEADS_FILTERED_QUERY,
            Scenario::LeadAnalytics => LEAD_ANALYTICS_QUERY,
            Scenario::LeadsSearch => LEADS_SEARCH_QUERY,
            Scenario::LeadsSearchNoTotal => LEADS_SEARCH_NO_TOTAL_QUERY,
            Scenario::SegmentCount => SEGMENT_COUNT_QUERY,
            Scenario::UpdateLead => UPDATE_LEAD_QUERY,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Scenario::Me => "me",
            Scenario::Typename => "typename",
            Scenario::LeadsPage => "leads-page",
            Scenario::LeadsNested => "leads-nested",
            Scenario::LeadsFiltered => "leads-filtered",
            Scenario::LeadAnalytics => "lead-analytics",
            Scenario::LeadsSearch => "leads-search",
            Scenario::LeadsSearchNoTotal => "leads-search-no-total",
            Scenario::SegmentCount => "segment-count",
            Scenario::UpdateLead => "update-lead",
        }
    }

    /// The GraphQL variables the scenario's query declares.
    fn variables(self, args: &Args) -> Result<Option<Value>> {
        Ok(match self {
            Scenario::LeadsFiltered => {
                let stage = args
                    .stage_id
                    .as_deref()
                    .context("--scenario leads-filtered needs --stage-id (or BENCH_STAGE_ID)")?;
                Some(json!({ "stage": stage }))
            }
            Scenario::LeadsSearch | Scenario::LeadsSearchNoTotal => {
                Some(json!({ "q": args.search }))
            }
            Scenario::SegmentCount => {
                let segment = args
                    .segment_id
                    .as_deref()
                    .context("--scenario segment-count needs --segment-id (or BENCH_SEGMENT_ID)")?;
                Some(json!({ "segment": segment }))
            }
            _ => None,
        })
    }
}

/// Closed-loop load generator for the promohub GraphQL API (loopback only).
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    load: Args,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign up bench tenants through the API and fill them with companies,
    /// leads and tags (set-based SQL straight into the database).
    Seed(seed::SeedArgs),
    /// Sending, tracking and live fan-out: bulk sends into an SMTP sink,
    /// open/click load with a stored-event check, and the latency of events
    /// to many WebSocket subscribers (see bench/README.md).
    Messaging(messaging::MessagingArgs),
    /// Public form submissions (new leads, updates) and page views, with a
    /// stored-row check (see bench/README.md).
    Capture(capture::CaptureArgs),
}

/// Load-generator options (the default command).
#[derive(Debug, clap::Args)]
struct Args {
    /// GraphQL endpoint; the host must be a loopback address or `localhost`.
    #[arg(
        long,
        env = "BENCH_URL",
        default_value = "http://127.0.0.1:8080/graphql"
    )]
    url: String,

    /// Access token sent as `Authorization: Bearer <token>`. Without it the
    /// generator logs in with --email/--password first (unless --anonymous).
    #[arg(long, env = "BENCH_TOKEN", hide_env_values = true)]
    token: Option<String>,

    /// Send no `Authorization` header at all.
    #[arg(long, conflicts_with = "token")]
    anonymous: bool,

    /// Named request to send; ignored when --query is given.
    #[arg(long, value_enum, default_value_t = Scenario::Me)]
    scenario: Scenario,

    /// Raw GraphQL document to send instead of a named scenario.
    #[arg(long)]
    query: Option<String>,

    /// GraphQL variables (a JSON object) for --query.
    #[arg(long, requires = "query")]
    variables: Option<String>,

    /// Stage id for `--scenario leads-filtered`.
    #[arg(long, env = "BENCH_STAGE_ID")]
    stage_id: Option<String>,

    /// Segment id for `--scenario segment-count`.
    #[arg(long, env = "BENCH_SEGMENT_ID")]
    segment_id: Option<String>,

    /// Search text for the `leads-search*` scenarios.
    #[arg(long, env = "BENCH_SEARCH", default_value = "ovela")]
    search: String,

    /// Before the load, send this many requests one after another (fewer if
    /// they take more than 10 s in all) and report the SQL statements per
    /// request (from `promohub_sql_statements_total` at GET /metrics before
    /// and after) and their mean latency. 0: skip.
    #[arg(long, default_value_t = 0)]
    sql_sample: u32,

    /// Concurrent workers, each with its own keep-alive connection.
    #[arg(long, short = 'c', default_value_t = 16)]
    connections: usize,

    /// Measured duration in seconds.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    duration: f64,

    /// Warm-up in seconds before measuring (requests sent, not recorded).
    #[arg(long, short = 'w', default_value_t = 2.0)]
    warmup: f64,

    /// Per-request timeout in seconds; a timed-out request is an error.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,

    /// Tokio worker threads of the generator. One is plenty for a few
    /// thousand requests per second and leaves the cores to the server.
    #[arg(long, default_value_t = 1)]
    threads: usize,

    /// Free-form label copied into the JSON result (e.g. the backend).
    #[arg(long, default_value = "")]
    label: String,

    /// Login email used when no --token is given.
    #[arg(long, env = "BENCH_EMAIL", default_value = "demo@promohub.local")]
    email: String,

    /// Login password used when no --token is given.
    #[arg(
        long,
        env = "BENCH_PASSWORD",
        default_value = "promohub-demo-password",
        hide_default_value = true,
        hide_env_values = true
    )]
    password: String,

    /// Log in with --email/--password, print the access token and exit.
    #[arg(long)]
    print_token: bool,
}

/// Where to send requests: resolved address plus the pieces of the request
/// line and `Host` header.
#[derive(Debug, Clone)]
struct Target {
    addr: SocketAddr,
    host: HeaderValue,
    path: Uri,
}

impl Target {
    fn parse(url: &str) -> Result<Self> {
        let uri: Uri = url
            .parse()
            .with_context(|| format!("invalid --url {url:?}"))?;
        ensure!(
            uri.scheme_str() == Some("http"),
            "--url must be a plain http:// URL (got {url:?})"
        );
        let authority = uri.authority().context("--url has no host")?;
        let host = authority.host();
        let ip = if host.eq_ignore_ascii_case("localhost") {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .with_context(|| format!("--url host {host:?} is not an IP address"))?
        };
        if !ip.is_loopback() {
            bail!("refusing to load {ip}: only loopback targets (127.0.0.0/8, ::1) are allowed");
        }
        let port = authority.port_u16().unwrap_or(80);
        let path = uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse::<Uri>()?;
        Ok(Self {
            addr: SocketAddr::new(ip, port),
            host: HeaderValue::from_str(authority.as_str())?,
            path,
        })
    }
}

/// Everything a worker needs, shared read-only (but for the path cursor).
struct Plan {
    target: Target,
    /// `POST` with a GraphQL body, or `GET` without one.
    method: Method,
    /// Paths sent in turn, round robin over all workers (one each request);
    /// empty: always the path of the target URL.
    paths: Vec<Uri>,
    next_path: AtomicUsize,
    /// Bodies sent in turn, round robin over all workers like `paths`.
    bodies: Vec<Bytes>,
    next_body: AtomicUsize,
    authorization: Option<HeaderValue>,
    user_agent: Option<HeaderValue>,
    /// The status of a successful response.
    expect: StatusCode,
    /// Count a 200 response with an `"errors":` key as a failure.
    graphql: bool,
    measure_from: Instant,
    end: Instant,
    timeout: Duration,
}

impl Plan {
    /// `POST` of the GraphQL `bodies` (in turn) to the target URL, expecting
    /// 200 without `errors`.
    fn graphql(
        target: Target,
        bodies: Vec<Bytes>,
        authorization: Option<HeaderValue>,
        measure_from: Instant,
        end: Instant,
        timeout: Duration,
    ) -> Self {
        Self {
            target,
            method: Method::POST,
            paths: Vec::new(),
            next_path: AtomicUsize::new(0),
            bodies,
            next_body: AtomicUsize::new(0),
            authorization,
            user_agent: None,
            expect: StatusCode::OK,
            graphql: true,
            measure_from,
            end,
            timeout,
        }
    }

    /// `POST` of `bodies` (in turn) to the target URL with no credential,
    /// expecting `expect` (the public routes: forms, page views).
    fn post(
        target: Target,
        bodies: Vec<Bytes>,
        user_agent: Option<HeaderValue>,
        expect: StatusCode,
        measure_from: Instant,
        end: Instant,
        timeout: Duration,
    ) -> Self {
        Self {
            target,
            method: Method::POST,
            paths: Vec::new(),
            next_path: AtomicUsize::new(0),
            bodies,
            next_body: AtomicUsize::new(0),
            authorization: None,
            user_agent,
            expect,
            graphql: false,
            measure_from,
            end,
            timeout,
        }
    }

    /// `GET` of each of `paths` in turn (no body, no credential), expecting
    /// `expect`.
    fn get(
        target: Target,
        paths: Vec<Uri>,
        user_agent: Option<HeaderValue>,
        expect: StatusCode,
        measure_from: Instant,
        end: Instant,
        timeout: Duration,
    ) -> Self {
        Self {
            target,
            method: Method::GET,
            paths,
            next_path: AtomicUsize::new(0),
            bodies: vec![Bytes::new()],
            next_body: AtomicUsize::new(0),
            authorization: None,
            user_agent,
            expect,
            graphql: false,
            measure_from,
            end,
            timeout,
        }
    }

    fn path(&self) -> Uri {
        if self.paths.is_empty() {
            return self.target.path.clone();
        }
        let n = self.next_path.fetch_add(1, Ordering::Relaxed);
        self.paths[n % self.paths.len()].clone()
    }

    fn body(&self) -> Bytes {
        let n = self.next_body.fetch_add(1, Ordering::Relaxed);
        self.bodies[n % self.bodies.len()].clone()
    }

    fn request(&self) -> Request<Full<Bytes>> {
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(self.path())
            .header(HOST, self.target.host.clone());
        if self.method == Method::POST {
            builder = builder.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        if let Some(auth) = &self.authorization {
            builder = builder.header(AUTHORIZATION, auth.clone());
        }
        if let Some(agent) = &self.user_agent {
            builder = builder.header(USER_AGENT, agent.clone());
        }
        builder
            .body(Full::new(self.body()))
            .expect("static request parts are valid")
    }
}

type Sender = SendRequest<Full<Bytes>>;

async fn connect(target: &Target) -> Result<Sender> {
    let stream = TcpStream::connect(target.addr)
        .await
        .with_context(|| format!("connecting to {}", target.addr))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // The connection ends when the sender is dropped or the server
        // closes it; the worker notices the latter and reconnects.
        let _ = conn.await;
    });
    Ok(sender)
}

/// Sends one request on `sender` and returns the status and full body.
async fn exchange(
    sender: &mut Sender,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes)> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// Cheap check for a top-level-or-nested `"errors":` key without parsing the
/// JSON. Inside a JSON string a quote is always escaped, so an unescaped
/// `"errors":` can only be an object key.
fn has_errors_key(body: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"\"errors\":";
    body.windows(NEEDLE.len())
        .enumerate()
        .any(|(i, w)| w == NEEDLE && (i == 0 || body[i - 1] != b'\\'))
}

enum Outcome {
    Ok,
    Http(StatusCode, Bytes),
    GraphQl(Bytes),
}

async fn one_request(slot: &mut Option<Sender>, plan: &Plan) -> Result<Outcome> {
    if slot.as_ref().is_none_or(|s| s.is_closed()) {
        *slot = Some(connect(&plan.target).await?);
    }
    let sender = slot.as_mut().expect("connected above");
    let (status, body) = exchange(sender, plan.request()).await?;
    Ok(if status != plan.expect {
        Outcome::Http(status, body)
    } else if plan.graphql && has_errors_key(&body) {
        Outcome::GraphQl(body)
    } else {
        Outcome::Ok
    })
}

#[derive(Default)]
struct WorkerResult {
    latencies_us: Vec<u32>,
    http_errors: u64,
    graphql_errors: u64,
    transport_errors: u64,
    warmup_requests: u64,
    /// Successful responses among the warm-up requests.
    warmup_ok: u64,
    last_done: Option<Instant>,
    first_error: Option<String>,
}

impl WorkerResult {
    fn note_error(&mut self, message: impl FnOnce() -> String) {
        if self.first_error.is_none() {
            self.first_error = Some(message());
        }
    }
}

async fn worker(plan: Arc<Plan>) -> WorkerResult {
    let mut result = WorkerResult::default();
    let mut sender: Option<Sender> = None;
    loop {
        let started = Instant::now();
        if started >= plan.end {
            break;
        }
        let outcome = tokio::time::timeout(plan.timeout, one_request(&mut sender, &plan)).await;
        let done = Instant::now();
        // Every request that completes after the warm-up counts (the last
        // ones started before the deadline): the recorded requests are all
        // completions between the end of the warm-up and the last
        // completion, so their number over that time is the rate, even when
        // single requests take longer than the whole run.
        let measured = done >= plan.measure_from;
        if !measured {
            result.warmup_requests += 1;
        } else {
            let micros =
                u32::try_from(done.duration_since(started).as_micros()).unwrap_or(u32::MAX);
            result.latencies_us.push(micros);
            result.last_done = Some(done);
        }
        let failed_transport = match outcome {
            Ok(Ok(Outcome::Ok)) => {
                if !measured {
                    result.warmup_ok += 1;
                }
                false
            }
            Ok(Ok(Outcome::Http(status, body))) => {
                if measured {
                    result.http_errors += 1;
                    result.note_error(|| {
                        format!("HTTP {status}: {}", String::from_utf8_lossy(&body))
                    });
                }
                false
            }
            Ok(Ok(Outcome::GraphQl(body))) => {
                if measured {
                    result.graphql_errors += 1;
                    result.note_error(|| {
                        format!("GraphQL errors: {}", String::from_utf8_lossy(&body))
                    });
                }
                false
            }
            Ok(Err(error)) => {
                if measured {
                    result.transport_errors += 1;
                    result.note_error(|| format!("transport: {error:#}"));
                }
                true
            }
            Err(_elapsed) => {
                if measured {
                    result.transport_errors += 1;
                    result.note_error(|| format!("timeout after {:?}", plan.timeout));
                }
                true
            }
        };
        if failed_transport {
            // Start over on a fresh connection, without spinning if the
            // server is gone.
            sender = None;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    result
}

/// Runs `connections` workers over `plan` until its deadline.
async fn run_workers(plan: &Arc<Plan>, connections: usize) -> Result<Vec<WorkerResult>> {
    let handles: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(worker(Arc::clone(plan))))
        .collect();
    let mut results = Vec::with_capacity(handles.len());
    for handle in handles {
        results.push(handle.await.context("worker panicked")?);
    }
    Ok(results)
}

/// One request outside the measurement, parsed in full, so a wrong token or
/// query fails loudly instead of producing a table of errors.
/// The `update-lead` variables: the tenant's 100 newest leads, each first
/// with one job title and then with another, so that every request of a
/// round changes its lead.
async fn update_lead_variables(
    target: &Target,
    authorization: &Option<HeaderValue>,
) -> Result<Vec<Value>> {
    let leads = probe(
        target,
        Bytes::from(json!({ "query": "{ leads(first: 100) { nodes { id } } }" }).to_string()),
        authorization.clone(),
    )
    .await
    .context("reading the leads to update")?;
    let ids: Vec<String> = leads["data"]["leads"]["nodes"]
        .as_array()
        .context("no leads to update")?
        .iter()
        .filter_map(|lead| lead["id"].as_str().map(str::to_owned))
        .collect();
    ensure!(!ids.is_empty(), "no leads to update");
    Ok(["Bench title A", "Bench title B"]
        .iter()
        .flat_map(|title| {
            ids.iter()
                .map(move |id| json!({ "id": id, "title": title }))
        })
        .collect())
}

async fn probe(target: &Target, body: Bytes, authorization: Option<HeaderValue>) -> Result<Value> {
    let now = Instant::now();
    let plan = Plan::graphql(
        target.clone(),
        vec![body],
        authorization,
        now,
        now,
        Duration::from_secs(30),
    );
    let mut sender = connect(target).await?;
    let (status, body) = exchange(&mut sender, plan.request()).await?;
    let text = String::from_utf8_lossy(&body);
    ensure!(status == StatusCode::OK, "HTTP {status}: {text}");
    let value: Value =
        serde_json::from_slice(&body).with_context(|| format!("response is not JSON: {text}"))?;
    if let Some(errors) = value.get("errors") {
        bail!("GraphQL errors: {errors}");
    }
    ensure!(
        value.get("data").is_some_and(|d| !d.is_null()),
        "response has no data: {text}"
    );
    Ok(value)
}

/// The JSON body of one request of `plan` (expecting its status).
async fn fetch_json(plan: &Plan) -> Result<Value> {
    let mut sender = connect(&plan.target).await?;
    let (status, body) = exchange(&mut sender, plan.request()).await?;
    let text = String::from_utf8_lossy(&body);
    ensure!(status == plan.expect, "HTTP {status}: {text}");
    serde_json::from_slice(&body).with_context(|| format!("response is not JSON: {text}"))
}

async fn login(target: &Target, email: &str, password: &str) -> Result<String> {
    let body = json!({
        "query": LOGIN_MUTATION,
        "variables": { "email": email, "password": password },
    });
    let value = probe(target, Bytes::from(body.to_string()), None)
        .await
        .context("login failed")?;
    value
        .pointer("/data/login/accessToken")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("login response has no accessToken: {value}"))
}

/// The value of the Prometheus counter `name` (summed over its label sets)
/// in a text exposition.
fn prometheus_counter(text: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with(' ') || rest.starts_with('{')) {
            continue;
        }
        if let Some(value) = rest
            .rsplit(' ')
            .find(|t| !t.is_empty())
            .and_then(|v| v.parse::<f64>().ok())
        {
            *found.get_or_insert(0.0) += value;
        }
    }
    found
}

/// `promohub_sql_statements_total` from GET /metrics of the server.
async fn sql_statements(target: &Target) -> Result<f64> {
    let request = Request::builder()
        .method(Method::GET)
        .uri("/metrics")
        .header(HOST, target.host.clone())
        .body(Full::new(Bytes::new()))?;
    let mut sender = connect(target).await?;
    let (status, body) = exchange(&mut sender, request).await?;
    ensure!(status == StatusCode::OK, "GET /metrics: HTTP {status}");
    let text = String::from_utf8_lossy(&body);
    prometheus_counter(&text, "promohub_sql_statements_total")
        .context("GET /metrics has no promohub_sql_statements_total")
}

/// Sends up to `n` requests one after another (after the probe, so caches
/// are warm; at least one, and no new one after `budget`) and returns (SQL
/// statements per request, mean latency in ms, requests sent).
async fn sql_sample(plan: &Plan, n: u32, budget: Duration) -> Result<(f64, f64, u32)> {
    let before = sql_statements(&plan.target).await?;
    let mut sender = Some(connect(&plan.target).await?);
    let started = Instant::now();
    let mut sent = 0;
    while sent < n && (sent == 0 || started.elapsed() < budget) {
        match one_request(&mut sender, plan).await? {
            Outcome::Ok => {}
            Outcome::Http(status, body) => bail!(
                "sample request {sent}: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            ),
            Outcome::GraphQl(body) => bail!(
                "sample request {sent}: GraphQL errors: {}",
                String::from_utf8_lossy(&body)
            ),
        }
        sent += 1;
    }
    let mean_ms = started.elapsed().as_secs_f64() * 1000.0 / f64::from(sent);
    let after = sql_statements(&plan.target).await?;
    Ok(((after - before) / f64::from(sent), mean_ms, sent))
}

/// User + system CPU time of this process so far, from /proc/self/stat
/// (Linux; clock ticks of 1/100 s).
fn own_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    cpu_seconds_from_stat(&stat)
}

fn cpu_seconds_from_stat(stat: &str) -> Option<f64> {
    // Fields after the parenthesised command name: state is the first,
    // utime the 12th and stime the 13th.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(((utime + stime) / 100.0 * 100.0).round() / 100.0)
}

/// `edges` and `totalCount` of the first connection in a response, to show
/// how much a scenario returns (and catch a filter that matches nothing).
fn result_shape(value: &Value) -> (Option<usize>, Option<u64>) {
    let Some(field) = value
        .get("data")
        .and_then(Value::as_object)
        .and_then(|d| d.values().next())
    else {
        return (None, None);
    };
    (
        field.get("edges").and_then(Value::as_array).map(Vec::len),
        field.get("totalCount").and_then(Value::as_u64),
    )
}

#[derive(Debug, Serialize)]
struct Report {
    label: String,
    scenario: String,
    connections: usize,
    duration_s: f64,
    requests: u64,
    ok: u64,
    errors: u64,
    http_errors: u64,
    graphql_errors: u64,
    transport_errors: u64,
    warmup_requests: u64,
    /// Successful responses during the warm-up (not in `ok`).
    warmup_ok: u64,
    rps: f64,
    mean_ms: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// SQL statements per request over `--sql-sample` sequential requests.
    sql_per_request: Option<f64>,
    /// Mean latency of those sequential requests (no concurrency).
    serial_mean_ms: Option<f64>,
    /// How many sequential requests were sent (fewer than asked if slow).
    serial_requests: Option<u32>,
    /// `edges` in the probe response (`data.<field>.edges`), if any.
    edges: Option<usize>,
    /// `totalCount` in the probe response, if asked for.
    total_count: Option<u64>,
    /// CPU seconds the generator itself used (user + system, whole process
    /// lifetime), to see how much of the machine it took.
    generator_cpu_s: Option<f64>,
}

/// Nearest-rank percentile of sorted microsecond samples, in milliseconds.
fn percentile_ms(sorted_us: &[u32], pct: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((pct / 100.0) * sorted_us.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted_us.len()) - 1;
    f64::from(sorted_us[index]) / 1000.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn summarize(
    label: String,
    scenario: String,
    connections: usize,
    plan: &Plan,
    results: Vec<WorkerResult>,
) -> (Report, Option<String>) {
    let mut latencies: Vec<u32> =
        Vec::with_capacity(results.iter().map(|r| r.latencies_us.len()).sum());
    let (mut http_errors, mut graphql_errors, mut transport_errors, mut warmup_requests) =
        (0, 0, 0, 0);
    let mut warmup_ok = 0;
    let mut last_done = plan.end;
    let mut first_error = None;
    for r in results {
        latencies.extend_from_slice(&r.latencies_us);
        http_errors += r.http_errors;
        graphql_errors += r.graphql_errors;
        transport_errors += r.transport_errors;
        warmup_requests += r.warmup_requests;
        warmup_ok += r.warmup_ok;
        if let Some(done) = r.last_done {
            last_done = last_done.max(done);
        }
        if first_error.is_none() {
            first_error = r.first_error;
        }
    }
    latencies.sort_unstable();
    let requests = latencies.len() as u64;
    let errors = http_errors + graphql_errors + transport_errors;
    // The window runs until the last recorded request finished, so requests
    // still in flight at the deadline are counted against the time they took.
    let elapsed = last_done.duration_since(plan.measure_from).as_secs_f64();
    let mean_ms = if latencies.is_empty() {
        0.0
    } else {
        latencies.iter().map(|&us| f64::from(us)).sum::<f64>() / latencies.len() as f64 / 1000.0
    };
    let report = Report {
        label,
        scenario,
        connections,
        duration_s: round3(elapsed),
        requests,
        ok: requests - errors,
        errors,
        http_errors,
        graphql_errors,
        transport_errors,
        warmup_requests,
        warmup_ok,
        rps: if elapsed > 0.0 {
            (requests as f64 / elapsed * 10.0).round() / 10.0
        } else {
            0.0
        },
        mean_ms: round3(mean_ms),
        p50_ms: percentile_ms(&latencies, 50.0),
        p90_ms: percentile_ms(&latencies, 90.0),
        p99_ms: percentile_ms(&latencies, 99.0),
        max_ms: percentile_ms(&latencies, 100.0),
        sql_per_request: None,
        serial_mean_ms: None,
        serial_requests: None,
        edges: None,
        total_count: None,
        generator_cpu_s: None,
    };
    (report, first_error)
}

/// `[label] ` or nothing.
fn label_prefix(label: &str) -> String {
    if label.is_empty() {
        String::new()
    } else {
        format!("[{label}] ")
    }
}

/// The human-readable summary line of a run.
fn human_line(report: &Report) -> String {
    format!(
        "{}{} x{}: {} requests, {} errors in {:.2} s = {:.1} req/s; \
         latency ms p50 {:.3} p90 {:.3} p99 {:.3} max {:.3}",
        label_prefix(&report.label),
        report.scenario,
        report.connections,
        report.requests,
        report.errors,
        report.duration_s,
        report.rps,
        report.p50_ms,
        report.p90_ms,
        report.p99_ms,
        report.max_ms,
    )
}

fn seconds(value: f64, flag: &str) -> Result<Duration> {
    ensure!(
        value.is_finite() && value >= 0.0,
        "--{flag} must be a non-negative number of seconds"
    );
    Ok(Duration::from_secs_f64(value))
}

async fn run(args: Args) -> Result<()> {
    let target = Target::parse(&args.url)?;
    ensure!(
        (1..=1024).contains(&args.connections),
        "--connections must be between 1 and 1024"
    );
    let duration = seconds(args.duration, "duration")?;
    let warmup = seconds(args.warmup, "warmup")?;
    let timeout = seconds(args.timeout, "timeout")?;
    ensure!(!duration.is_zero(), "--duration must be positive");
    ensure!(
        duration <= Duration::from_secs(3600),
        "--duration is capped at one hour"
    );
    ensure!(
        warmup <= Duration::from_secs(600),
        "--warmup is capped at ten minutes"
    );
    ensure!(!timeout.is_zero(), "--timeout must be positive");

    if args.print_token {
        println!("{}", login(&target, &args.email, &args.password).await?);
        return Ok(());
    }

    let token = match (&args.token, args.anonymous) {
        (Some(token), _) => Some(token.clone()),
        (None, true) => None,
        (None, false) => Some(login(&target, &args.email, &args.password).await?),
    };
    let authorization = token
        .map(|t| HeaderValue::from_str(&format!("Bearer {t}")))
        .transpose()
        .context("token is not a valid header value")?;
    let (scenario, query, variables) = match &args.query {
        Some(query) => {
            let variables = args
                .variables
                .as_deref()
                .map(serde_json::from_str::<Value>)
                .transpose()
                .context("--variables is not JSON")?;
            ("custom".to_owned(), query.clone(), variables)
        }
        None => (
            args.scenario.name().to_owned(),
            args.scenario.query().to_owned(),
            args.scenario.variables(&args)?,
        ),
    };
    let body = |variables: Option<Value>| {
        Bytes::from(
            match variables {
                Some(variables) => json!({ "query": query, "variables": variables }),
                None => json!({ "query": query }),
            }
            .to_string(),
        )
    };
    let bodies = match (args.query.is_none(), args.scenario) {
        (true, Scenario::UpdateLead) => update_lead_variables(&target, &authorization)
            .await?
            .into_iter()
            .map(|variables| body(Some(variables)))
            .collect(),
        _ => vec![body(variables)],
    };

    let probed = probe(&target, bodies[0].clone(), authorization.clone())
        .await
        .context("probe request failed; not starting the load")?;
    let (edges, total_count) = result_shape(&probed);

    let mut sampled = None;
    if args.sql_sample > 0 {
        let now = Instant::now();
        let sample_plan = Plan::graphql(
            target.clone(),
            // From the second body on: the probe sent the first.
            bodies[1..].iter().chain(&bodies[..1]).cloned().collect(),
            authorization.clone(),
            now,
            now,
            timeout,
        );
        sampled = Some(
            sql_sample(&sample_plan, args.sql_sample, Duration::from_secs(10))
                .await
                .context("SQL statement sample failed")?,
        );
    }

    let start = Instant::now();
    let plan = Arc::new(Plan::graphql(
        target,
        bodies,
        authorization,
        start + warmup,
        start + warmup + duration,
        timeout,
    ));
    let results = run_workers(&plan, args.connections).await?;

    let (mut report, first_error) =
        summarize(args.label, scenario, args.connections, &plan, results);
    ensure!(
        report.requests > 0,
        "no request completed after the warm-up ({} completed during it)",
        report.warmup_requests
    );
    report.edges = edges;
    report.total_count = total_count;
    report.generator_cpu_s = own_cpu_seconds();
    if let Some((per_request, mean_ms, sent)) = sampled {
        report.sql_per_request = Some((per_request * 100.0).round() / 100.0);
        report.serial_mean_ms = Some(round3(mean_ms));
        report.serial_requests = Some(sent);
    }
    println!("{}", serde_json::to_string(&report)?);
    println!("{}", human_line(&report));
    let label = label_prefix(&report.label);
    if let (Some(per_request), Some(mean_ms)) = (report.sql_per_request, report.serial_mean_ms) {
        println!(
            "{label}{}: {per_request} SQL statements per request; {mean_ms:.3} ms per request when sent one at a time",
            report.scenario
        );
    }
    if let Some(error) = first_error {
        let shown: String = error.chars().take(500).collect();
        eprintln!("first error: {shown}");
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // The cause chain on one line, without a backtrace.
            eprintln!("Error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Seed(seed_args)) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            return runtime.block_on(seed::run(seed_args));
        }
        Some(Command::Capture(args)) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(args.threads.clamp(1, 64))
                .enable_all()
                .build()?;
            return runtime.block_on(capture::run(args));
        }
        Some(Command::Messaging(args)) => {
            ensure!(
                (1..=64).contains(&args.threads),
                "--threads must be between 1 and 64"
            );
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(args.threads)
                .enable_all()
                .build()?;
            return runtime.block_on(messaging::run(args));
        }
        None => {}
    }
    let args = cli.load;
    ensure!(
        (1..=64).contains(&args.threads),
        "--threads must be between 1 and 64"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_key_detection() {
        assert!(has_errors_key(br#"{"errors":[{"message":"x"}]}"#));
        assert!(has_errors_key(br#"{"data":null,"errors":[]}"#));
        assert!(!has_errors_key(
            br#"{"data":{"me":{"user":{"name":"errors"}}}}"#
        ));
        assert!(!has_errors_key(
            br#"{"data":{"me":{"user":{"name":"\"errors\":"}}}}"#
        ));
    }

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<u32> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(percentile_ms(&samples, 50.0), 50.0);
        assert_eq!(percentile_ms(&samples, 99.0), 99.0);
        assert_eq!(percentile_ms(&samples, 100.0), 100.0);
        assert_eq!(percentile_ms(&[], 50.0), 0.0);
    }

    #[test]
    fn reads_prometheus_counters() {
        let text = "# TYPE promohub_sql_statements_total counter\n\
                    promohub_sql_statements_total 1234\n\
                    promohub_sql_statements_total_other 5\n\
                    promohub_http_requests_total{route=\"/graphql\",status=\"200\"} 7\n\
                    promohub_http_requests_total{route=\"/ready\",status=\"200\"} 3\n";
        assert_eq!(
            prometheus_counter(text, "promohub_sql_statements_total"),
            Some(1234.0)
        );
        assert_eq!(
            prometheus_counter(text, "promohub_http_requests_total"),
            Some(10.0)
        );
        assert_eq!(prometheus_counter(text, "missing"), None);
    }

    #[test]
    fn cpu_time_from_proc_stat() {
        let stat = "1234 (promo hub) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        assert_eq!(cpu_seconds_from_stat(stat), Some(3.0));
        assert_eq!(cpu_seconds_from_stat("garbage"), None);
        assert!(own_cpu_seconds().is_some());
    }

    #[test]
    fn probe_result_shape() {
        let value = json!({"data": {"leads": {"totalCount": 7, "edges": [{}, {}]}}});
        assert_eq!(result_shape(&value), (Some(2), Some(7)));
        assert_eq!(result_shape(&json!({"data": {"me": {}}})), (None, None));
    }

    #[test]
    fn cli_keeps_flat_load_options_and_adds_seed() {
        let cli = Cli::try_parse_from(["promohub-bench", "-c", "32", "--scenario", "leads-page"])
            .unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.load.connections, 32);
        assert_eq!(cli.load.scenario, Scenario::LeadsPage);
        let cli = Cli::try_parse_from([
            "promohub-bench",
            "seed",
            "--database-url",
            "sqlite://x.db",
            "--leads",
            "10",
        ])
        .unwrap();
        assert!(matches!(cli.command, Some(Command::Seed(_))));
    }

    #[test]
    fn only_loopback_targets() {
        assert!(Target::parse("http://127.0.0.1:8080/graphql").is_ok());
        assert!(Target::parse("http://localhost:8080/graphql").is_ok());
        assert!(Target::parse("http://[::1]:8080/graphql").is_ok());
        assert!(Target::parse("http://10.0.0.1:8080/graphql").is_err());
        assert!(Target::parse("http://example.com/graphql").is_err());
        assert!(Target::parse("https://127.0.0.1/graphql").is_err());
        let target = Target::parse("http://127.0.0.1:9000/graphql?x=1").unwrap();
        assert_eq!(target.path, "/graphql?x=1");
        assert_eq!(target.host, "127.0.0.1:9000");
    }
}
