//! `promohub-bench capture`: public form submissions and page views.
//!
//! Against a running server whose tenant exists (`promohub-bench seed`):
//! creates a tracking site and a published form, then runs the closed-loop
//! generator at each `--connections`:
//!
//! 1. **page-views**: `POST /t/pv` (the tracker's JSON) round robin over
//!    `--visitors` visitor ids and a few URLs with UTM parameters; counts
//!    `page_views` rows before and after: every successful response, warm-up
//!    included, must be one stored view.
//! 2. **form-new**: `POST /f/<id>` (JSON) with a new email each request:
//!    a lead created per submission.
//! 3. **form-update**: the same with emails of leads the previous run made:
//!    the lead updated (fill blanks) per submission.
//!
//! The server must run with form rate limits above the load
//! (`PROMOHUB_FORM_SUBMISSIONS_PER_IP`, `…_PER_FORM`). Each run prints one
//! flat JSON line (`"kind": "capture"`) and a human-readable line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use bytes::Bytes;
use hyper::{StatusCode, Uri};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};

use crate::{Plan, Target, human_line, own_cpu_seconds, probe, run_workers, summarize};

const CREATE_SITE: &str = "mutation($name: String!) { createTrackingSite(input: { name: $name, \
     pricingPatterns: [\"/pricing\"], demoPatterns: [\"/demo*\"] }) { id siteKey } }";

const CREATE_FORM: &str = "mutation($name: String!) { createForm(input: { name: $name, \
     status: PUBLISHED, minFillSeconds: 0, tags: [\"bench\"], fields: [\
     { key: \"email\", type: EMAIL, label: \"Email\", required: true, mapsTo: \"email\" }, \
     { key: \"first_name\", type: TEXT, label: \"First name\", mapsTo: \"firstName\" }, \
     { key: \"role\", type: TEXT, label: \"Role\", mapsTo: \"jobTitle\" }] }) { id publicId } }";

const BROWSER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                             (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

#[derive(Debug, clap::Args)]
pub struct CaptureArgs {
    /// GraphQL endpoint of the server (the public routes are beside it).
    #[arg(
        long,
        env = "BENCH_URL",
        default_value = "http://127.0.0.1:8080/graphql"
    )]
    url: String,

    /// Access token of a tenant member.
    #[arg(long, env = "BENCH_TOKEN", hide_env_values = true)]
    token: String,

    /// The server's database, to count what was stored.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,

    /// Concurrent connections of each run (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "64")]
    connections: Vec<usize>,

    /// Measured seconds per run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,

    /// Warm-up seconds per run.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,

    #[arg(long, default_value_t = 35.0)]
    timeout: f64,

    /// Distinct visitor ids the page views come from.
    #[arg(long, default_value_t = 1000)]
    visitors: usize,

    /// New emails prepared for each form-new run (more than it can send).
    #[arg(long, default_value_t = 200_000)]
    new_emails: usize,

    /// Which runs: page-views, form-new, form-update (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "page-views,form-new,form-update"
    )]
    runs: Vec<String>,

    #[arg(long, default_value = "")]
    label: String,

    #[arg(long, default_value_t = 1)]
    pub threads: usize,
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

/// The count once it has not changed for half a second (at most 10 s).
async fn settled(db: &DatabaseConnection, sql: &str) -> Result<i64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = count(db, sql).await?;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = count(db, sql).await?;
        if now == last || Instant::now() >= deadline {
            return Ok(now);
        }
        last = now;
    }
}

async fn call(target: &Target, token: &str, query: &str, variables: Value) -> Result<Value> {
    let body = json!({ "query": query, "variables": variables });
    let value = probe(
        target,
        Bytes::from(body.to_string()),
        Some(hyper::header::HeaderValue::from_str(&format!(
            "Bearer {token}"
        ))?),
    )
    .await?;
    value.get("data").cloned().context("response without data")
}

fn path(target: &Target, path: &str) -> Result<Target> {
    Ok(Target {
        path: path.parse::<Uri>()?,
        ..target.clone()
    })
}

struct Run<'a> {
    args: &'a CaptureArgs,
    db: &'a DatabaseConnection,
}

impl Run<'_> {
    /// One closed-loop run of `bodies` to `target`, counting `stored_sql`
    /// before and after. Returns (successful responses, stored).
    async fn load(
        &self,
        name: &str,
        target: &Target,
        bodies: Vec<Bytes>,
        expect: StatusCode,
        connections: usize,
        stored_sql: &str,
    ) -> Result<(u64, i64)> {
        let before = settled(self.db, stored_sql).await?;
        let start = Instant::now();
        let warmup = Duration::from_secs_f64(self.args.warmup);
        let plan = Arc::new(Plan::post(
            target.clone(),
            bodies,
            Some(hyper::header::HeaderValue::from_static(BROWSER_AGENT)),
            expect,
            start + warmup,
            start + warmup + Duration::from_secs_f64(self.args.duration),
            Duration::from_secs_f64(self.args.timeout),
        ));
        let results = run_workers(&plan, connections).await?;
        let (mut report, first_error) = summarize(
            self.args.label.clone(),
            name.to_owned(),
            connections,
            &plan,
            results,
        );
        report.generator_cpu_s = own_cpu_seconds();
        let after = settled(self.db, stored_sql).await?;
        let ok_total = report.ok + report.warmup_ok;
        let stored = after - before;
        let mut line = serde_json::to_value(&report)?;
        line["kind"] = Value::from("capture");
        line["ok_total"] = Value::from(ok_total);
        line["stored"] = Value::from(stored);
        line["lost"] = Value::from(ok_total as i64 - stored);
        if let Some(error) = &first_error {
            line["first_error"] = Value::from(error.chars().take(300).collect::<String>());
        }
        println!("{}", serde_json::to_string(&line)?);
        eprintln!("{}", human_line(&report));
        eprintln!(
            "{name} x{connections}: {ok_total} successful responses (warm-up included), {stored} stored"
        );
        if let Some(error) = first_error {
            eprintln!(
                "first error: {}",
                error.chars().take(500).collect::<String>()
            );
        }
        Ok((ok_total, stored))
    }
}

pub async fn run(args: CaptureArgs) -> Result<()> {
    let target = Target::parse(&args.url)?;
    ensure!(
        args.connections.iter().all(|c| (1..=1024).contains(c)),
        "--connections must be between 1 and 1024"
    );
    let mut options = ConnectOptions::new(args.database_url.clone());
    options
        .max_connections(2)
        .min_connections(1)
        .sqlx_logging(false);
    let db = Database::connect(options)
        .await
        .with_context(|| format!("connecting to {}", args.database_url))?;
    let suffix = format!("{}", std::process::id());
    let site = call(
        &target,
        &args.token,
        CREATE_SITE,
        json!({ "name": format!("bench site {suffix}") }),
    )
    .await
    .context("createTrackingSite")?;
    let key = site
        .pointer("/createTrackingSite/siteKey")
        .and_then(Value::as_str)
        .context("no site key")?
        .to_owned();
    let form = call(
        &target,
        &args.token,
        CREATE_FORM,
        json!({ "name": format!("bench form {suffix}") }),
    )
    .await
    .context("createForm")?;
    let public_id = form
        .pointer("/createForm/publicId")
        .and_then(Value::as_str)
        .context("no public id")?
        .to_owned();
    let form_target = path(&target, &format!("/f/{public_id}"))?;
    // The signed drawing time the form gives (any genuine one will do with
    // a minimum fill time of 0).
    let drawn = {
        let plan = Plan::get(
            form_target.clone(),
            vec![form_target.path.clone()],
            None,
            StatusCode::OK,
            Instant::now(),
            Instant::now(),
            Duration::from_secs(10),
        );
        crate::fetch_json(&plan).await.context("GET /f/<id>")?
    };
    let drawn = drawn
        .pointer("/hidden/_drawn")
        .and_then(Value::as_str)
        .context("no _drawn in the form's JSON")?
        .to_owned();
    eprintln!("site key {key}, form {public_id}");

    let runner = Run {
        args: &args,
        db: &db,
    };
    let pages = [
        "https://bench.example/?utm_source=google&utm_medium=cpc&utm_campaign=spring",
        "https://bench.example/pricing",
        "https://bench.example/demo/book?utm_source=newsletter",
        "https://bench.example/blog/post-1",
    ];
    let mut generation = 0usize;
    // The generation of the last form-new run, whose leads form-update
    // updates.
    let mut made: Option<(usize, usize)> = None;
    for connections in args.connections.clone() {
        for run in &args.runs {
            generation += 1;
            match run.as_str() {
                "page-views" => {
                    let bodies = (0..args.visitors.max(1) * pages.len())
                        .map(|i| {
                            Bytes::from(
                                json!({ "k": key, "v": format!("bench-{}", i % args.visitors.max(1)),
                                        "u": pages[i % pages.len()], "t": "Bench", "w": 1920, "h": 1080 })
                                .to_string(),
                            )
                        })
                        .collect();
                    runner
                        .load(
                            "page-views",
                            &path(&target, "/t/pv")?,
                            bodies,
                            StatusCode::NO_CONTENT,
                            connections,
                            "SELECT count(*) FROM page_views",
                        )
                        .await?;
                }
                "form-new" | "form-update" => {
                    let update = run == "form-update";
                    let emails: Vec<String> = if update {
                        let (made, count) =
                            made.context("form-update needs a form-new run before it")?;
                        // Submissions go out in order: the first `count`
                        // emails of that run are leads now.
                        (0..args.visitors.max(1).min(count))
                            .map(|i| format!("bench-{suffix}-{made}-{i}@bench.example"))
                            .collect()
                    } else {
                        (0..args.new_emails)
                            .map(|i| format!("bench-{suffix}-{generation}-{i}@bench.example"))
                            .collect()
                    };
                    let bodies = emails
                        .iter()
                        .map(|email| {
                            Bytes::from(
                                json!({ "email": email, "first_name": "Bench", "role": "Tester", "_drawn": drawn })
                                    .to_string(),
                            )
                        })
                        .collect();
                    let stored_sql = format!(
                        "SELECT count(*) FROM form_submissions WHERE outcome = '{}'",
                        if update { "updated" } else { "created" }
                    );
                    let (_, stored) = runner
                        .load(
                            run,
                            &form_target,
                            bodies,
                            StatusCode::OK,
                            connections,
                            &stored_sql,
                        )
                        .await?;
                    if !update {
                        made = Some((generation, usize::try_from(stored).unwrap_or(0)));
                    }
                }
                other => anyhow::bail!("unknown run {other:?} (page-views, form-new, form-update)"),
            }
        }
    }
    Ok(())
}
