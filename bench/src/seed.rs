//! `promohub-bench seed`: the dataset of the `crm` suite.
//!
//! Tenants are created through the API (`signUp`), so that the owner, the
//! membership and the default pipeline exist exactly as for a real customer.
//! Their plan limit is then raised and they are filled with companies, lead
//! sources, leads and tags by set-based SQL straight into the database
//! (`INSERT … SELECT` over `generate_series` on PostgreSQL, a recursive CTE on
//! SQLite): one statement per table and tenant, one transaction per tenant.
//! Finally `VACUUM (ANALYZE)` + `CHECKPOINT` (PostgreSQL) or `ANALYZE` + a WAL
//! checkpoint (SQLite), so that the benchmark starts from fresh statistics and
//! autovacuum has nothing left to do.
//!
//! The data are random (names, stages, scores, statuses, tags, timestamps
//! over the past year) but shaped like the application writes them: UUID v7
//! ids whose time is `created_at`, lowercase `search_text` / `sort_name`,
//! RFC 3339 timestamps with `+00:00` on SQLite, `'{}'` JSON columns. Exactly
//! one last name in a hundred contains the search fragment "ovela"
//! (`Kovelainen`), so `search: "ovela"` matches about 1 % of a tenant's leads.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use sea_orm::prelude::Uuid;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, QueryResult,
    Statement, TransactionTrait,
};
use serde_json::{Value, json};

use crate::{Target, probe};

const SIGN_UP: &str = "mutation($email: String!, $password: String!, $name: String!, \
     $tenantName: String!, $tenantSlug: String!) { signUp(input: {email: $email, \
     password: $password, name: $name, tenantName: $tenantName, tenantSlug: $tenantSlug}) \
     { accessToken tenant { id } user { id } } }";

/// A year in milliseconds: leads and companies are created over the past year.
const YEAR_MS: i64 = 365 * 24 * 3600 * 1000;

const FIRST_NAMES: &[&str] = &[
    "Anna", "Ben", "Clara", "David", "Elena", "Felix", "Greta", "Hannah", "Ivan", "Julia", "Karl",
    "Lena", "Marco", "Nina", "Oscar", "Paula", "Quentin", "Rosa", "Simon", "Tara", "Ugo", "Vera",
    "Walter", "Xenia", "Yusuf", "Zoe", "Adam", "Beatriz", "Carlos", "Dora", "Emil", "Fatima",
    "Georg", "Helena", "Igor", "Jonas", "Kira", "Lukas", "Mia", "Noah", "Olga", "Peter", "Rita",
    "Sofia", "Tomas", "Ulla", "Viktor", "Wanda",
];

/// A hundred last names; only `Kovelainen` contains "ovela" (checked by a test).
const LAST_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Garcia",
    "Martin",
    "Schmidt",
    "Rossi",
    "Dubois",
    "Novak",
    "Kowalski",
    "Jensen",
    "Nielsen",
    "Larsen",
    "Berg",
    "Lindqvist",
    "Virtanen",
    "Korhonen",
    "Silva",
    "Santos",
    "Pereira",
    "Costa",
    "Fischer",
    "Weber",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Schulz",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Hartmann",
    "Lange",
    "Werner",
    "Krause",
    "Lehmann",
    "Kaiser",
    "Fuchs",
    "Peters",
    "Vogel",
    "Roth",
    "Bauer",
    "Moreau",
    "Laurent",
    "Michel",
    "Lefebvre",
    "Leroy",
    "Roux",
    "Bertrand",
    "Morel",
    "Fournier",
    "Girard",
    "Bonnet",
    "Dupont",
    "Lambert",
    "Fontaine",
    "Rousseau",
    "Vincent",
    "Muller",
    "Ricci",
    "Romano",
    "Colombo",
    "Greco",
    "Bruno",
    "Gallo",
    "Conti",
    "Deluca",
    "Mancini",
    "Brown",
    "Taylor",
    "Wilson",
    "Evans",
    "Thomas",
    "Roberts",
    "Walker",
    "Wright",
    "Thompson",
    "White",
    "Hughes",
    "Edwards",
    "Green",
    "Hall",
    "Wood",
    "Harris",
    "Clarke",
    "Jackson",
    "Turner",
    "Hill",
    "Moore",
    "Cooper",
    "Ward",
    "Morris",
    "King",
    "Watson",
    "Baker",
    "Kovelainen",
    "Okafor",
];

const JOB_TITLES: &[&str] = &[
    "CEO",
    "CTO",
    "Founder",
    "Owner",
    "Head of Marketing",
    "Marketing Manager",
    "Sales Director",
    "Office Manager",
    "Operations Lead",
    "Product Manager",
    "Procurement Lead",
    "Account Executive",
];

/// (country, city)
const PLACES: &[(&str, &str)] = &[
    ("DE", "Berlin"),
    ("DE", "Munich"),
    ("FR", "Paris"),
    ("FR", "Lyon"),
    ("GB", "London"),
    ("GB", "Manchester"),
    ("US", "New York"),
    ("US", "Austin"),
    ("NL", "Amsterdam"),
    ("ES", "Madrid"),
    ("IT", "Milan"),
    ("SE", "Stockholm"),
    ("PL", "Warsaw"),
    ("AT", "Vienna"),
    ("CH", "Zurich"),
    ("DK", "Copenhagen"),
];

/// Company names are `<A> <B> <Place>` (20 × 20 × 25 = 10,000 distinct
/// names) plus a legal form.
const COMPANY_A: &[&str] = &[
    "Bright", "Blue", "North", "Silver", "Green", "Rapid", "Prime", "Urban", "Alpine", "Coastal",
    "Summit", "Golden", "Iron", "Crystal", "Red", "Clear", "Bold", "Smart", "Swift", "True",
];
const COMPANY_B: &[&str] = &[
    "Forge",
    "Labs",
    "Works",
    "Systems",
    "Digital",
    "Logistics",
    "Foods",
    "Media",
    "Health",
    "Energy",
    "Capital",
    "Studio",
    "Partners",
    "Solutions",
    "Robotics",
    "Dental",
    "Fitness",
    "Bakery",
    "Motors",
    "Consulting",
];
const COMPANY_PLACE: &[&str] = &[
    "Berlin", "Hamburg", "Munich", "Paris", "Lyon", "London", "Leeds", "Dublin", "Madrid",
    "Lisbon", "Milan", "Turin", "Vienna", "Zurich", "Geneva", "Prague", "Warsaw", "Oslo", "Malmo",
    "Riga", "Tallinn", "Austin", "Denver", "Boston", "Toronto",
];
const LEGAL_FORMS: &[&str] = &["GmbH", "Ltd", "Inc", "SAS", "BV"];
const INDUSTRIES: &[&str] = &[
    "Software",
    "Retail",
    "Hospitality",
    "Healthcare",
    "Manufacturing",
    "Logistics",
    "Finance",
    "Education",
    "Construction",
    "Media",
];
const COMPANY_SIZES: &[&str] = &["solo", "micro", "small", "medium", "large", "enterprise"];

/// Lead status shares in percent (sum 100).
const STATUS_WEIGHTS: &[(&str, u32)] = &[
    ("new", 30),
    ("contacted", 20),
    ("follow_up_1", 10),
    ("follow_up_2", 7),
    ("responded", 8),
    ("interested", 8),
    ("not_interested", 8),
    ("invalid", 3),
    ("converted", 6),
];
const VERIFICATION_WEIGHTS: &[(&str, u32)] = &[
    ("valid", 60),
    ("unverified", 30),
    ("risky", 5),
    ("invalid", 3),
    ("unknown", 2),
];

/// Lead sources created for a tenant that has none; a fifth of the leads get
/// no source.
const SOURCES: &[(&str, &str)] = &[
    ("Website", "website"),
    ("LinkedIn", "linkedin"),
    ("Referral", "referral"),
    ("CSV import", "import"),
];

/// Used only if sign-up did not create a pipeline (older servers).
const FALLBACK_STAGES: &[(&str, bool, bool, bool)] = &[
    // name, is_default, is_won, is_lost
    ("New", true, false, false),
    ("Contacted", false, false, false),
    ("Qualified", false, false, false),
    ("Proposal", false, false, false),
    ("Won", false, true, false),
    ("Lost", false, false, true),
];

#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    /// GraphQL endpoint of the running server (for `signUp`).
    #[arg(
        long,
        env = "BENCH_URL",
        default_value = "http://127.0.0.1:8080/graphql"
    )]
    url: String,

    /// The same database the server uses (`sqlite://…` or `postgres://…`).
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,

    /// Tenants to create: `<slug-prefix>-01`, `-02`, …
    #[arg(long, default_value_t = 1)]
    tenants: u32,

    /// Leads per tenant.
    #[arg(long, default_value_t = 100_000)]
    leads: u64,

    /// Companies per tenant.
    #[arg(long, default_value_t = 10_000)]
    companies: u64,

    /// Tenant slug prefix; owners are `owner@<slug>.bench.test`.
    #[arg(long, default_value = "bench")]
    slug_prefix: String,

    /// Password of every bench owner.
    #[arg(
        long,
        env = "BENCH_SEED_PASSWORD",
        default_value = "bench-owner-password",
        hide_default_value = true,
        hide_env_values = true
    )]
    password: String,

    /// Stage whose id is reported for the filtered scenario (case-insensitive;
    /// the middle stage if there is none of that name).
    #[arg(long, default_value = "Qualified")]
    stage: String,

    /// Search fragment whose matches are counted in the summary.
    #[arg(long, default_value = "ovela")]
    search: String,

    /// Also write `BENCH_TOKEN=…`, `BENCH_STAGE_ID=…` and the figures of the
    /// summary as shell assignments to this file.
    #[arg(long)]
    env_file: Option<PathBuf>,
}

/// The SQL that differs between the backends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Postgres,
    Sqlite,
}

impl Dialect {
    /// `(WITH-prefix, FROM item)` of a series `s(n)` from `lo` to `hi`. The
    /// prefix ends with ", " (SQLite) or is "WITH " so that more CTEs follow.
    fn series(self, lo: u64, hi: u64) -> (String, String) {
        match self {
            Dialect::Postgres => (
                "WITH ".to_owned(),
                format!("generate_series({lo}::bigint, {hi}::bigint) AS s(n)"),
            ),
            Dialect::Sqlite => (
                format!(
                    "WITH RECURSIVE s(n) AS (SELECT {lo} UNION ALL SELECT n + 1 FROM s WHERE n < {hi}), "
                ),
                "s".to_owned(),
            ),
        }
    }

    /// A uniformly random integer in `0..m`.
    fn rand(self, m: u64) -> String {
        match self {
            Dialect::Postgres => format!("floor(random() * {m})::bigint"),
            Dialect::Sqlite => format!("(abs(random()) % {m})"),
        }
    }

    /// 32 random hex digits.
    fn rand_hex(self) -> &'static str {
        match self {
            Dialect::Postgres => "md5(random()::text)",
            Dialect::Sqlite => "hex(randomblob(16))",
        }
    }

    /// A UUID v7 with the unix-millisecond time `ms` and random bits from the
    /// hex string `hex`, as stored by the application (uuid / 16-byte blob).
    fn uuid_v7(self, ms: &str, hex: &str) -> String {
        match self {
            Dialect::Postgres => format!(
                "(lpad(to_hex({ms}), 12, '0') || '7' || substr({hex}, 1, 3) || '8' || substr({hex}, 4, 15))::uuid"
            ),
            Dialect::Sqlite => format!(
                "unhex(printf('%012x', {ms}) || '7' || substr({hex}, 1, 3) || '8' || substr({hex}, 4, 15))"
            ),
        }
    }

    /// A random (v4-shaped enough) id for the few rows not tied to a time.
    fn random_id(self) -> &'static str {
        match self {
            Dialect::Postgres => "gen_random_uuid()",
            Dialect::Sqlite => "randomblob(16)",
        }
    }

    /// The timestamp at unix-millisecond `ms`: timestamptz, or RFC 3339 text
    /// `YYYY-MM-DDTHH:MM:SS.mmm+00:00` on SQLite.
    fn ts(self, ms: &str) -> String {
        match self {
            Dialect::Postgres => format!("to_timestamp(({ms}) / 1000.0)"),
            Dialect::Sqlite => {
                format!("(strftime('%Y-%m-%dT%H:%M:%f', ({ms}) / 1000.0, 'unixepoch') || '+00:00')")
            }
        }
    }

    /// `expr` as a value of the enum type `ty` (text on SQLite).
    fn enum_value(self, expr: &str, ty: &str) -> String {
        match self {
            Dialect::Postgres => format!("CAST({expr} AS {ty})"),
            Dialect::Sqlite => expr.to_owned(),
        }
    }

    fn id_type(self) -> &'static str {
        match self {
            Dialect::Postgres => "uuid",
            Dialect::Sqlite => "BLOB",
        }
    }

    fn int_type(self) -> &'static str {
        match self {
            Dialect::Postgres => "bigint",
            Dialect::Sqlite => "INTEGER",
        }
    }

    /// The inner-join keyword. SQLite's planner has no statistics for the
    /// temp tables and may put the 100k-row series in an inner loop; its
    /// `CROSS JOIN` keeps the written order (series outermost, then index
    /// lookups), which is the plan wanted. PostgreSQL plans hash joins.
    fn join(self) -> &'static str {
        match self {
            Dialect::Postgres => "JOIN",
            Dialect::Sqlite => "CROSS JOIN",
        }
    }

    fn bool(self, value: bool) -> &'static str {
        match (self, value) {
            (Dialect::Postgres, true) => "true",
            (Dialect::Postgres, false) => "false",
            (Dialect::Sqlite, true) => "1",
            (Dialect::Sqlite, false) => "0",
        }
    }
}

/// A SQL string literal.
fn lit(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Expands `(value, percent)` weights into 100 slots.
fn slots(weights: &[(&'static str, u32)]) -> Vec<&'static str> {
    let out: Vec<_> = weights
        .iter()
        .flat_map(|&(value, pct)| std::iter::repeat_n(value, pct as usize))
        .collect();
    assert_eq!(out.len(), 100, "weights must add up to 100");
    out
}

/// `INSERT INTO bench_words …` rows for every word list: `(list, idx, word,
/// extra)`, looked up by `list` and a random `idx`.
fn word_rows() -> Vec<String> {
    let mut rows = Vec::new();
    let mut add = |list: &str, words: &[&str]| {
        for (i, w) in words.iter().enumerate() {
            rows.push(format!("({}, {i}, {}, NULL)", lit(list), lit(w)));
        }
    };
    add("first", FIRST_NAMES);
    add("last", LAST_NAMES);
    add("job", JOB_TITLES);
    add("co_a", COMPANY_A);
    add("co_b", COMPANY_B);
    add("co_place", COMPANY_PLACE);
    add("legal", LEGAL_FORMS);
    add("industry", INDUSTRIES);
    add("size", COMPANY_SIZES);
    add("status", &slots(STATUS_WEIGHTS));
    add("verification", &slots(VERIFICATION_WEIGHTS));
    for (i, (country, city)) in PLACES.iter().enumerate() {
        rows.push(format!("('place', {i}, {}, {})", lit(country), lit(city)));
    }
    rows
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

async fn exec(conn: &impl ConnectionTrait, sql: &str) -> Result<u64> {
    let started = Instant::now();
    let result = conn.execute_unprepared(sql).await.with_context(|| {
        let shown: String = sql.chars().take(400).collect();
        format!("SQL failed: {shown}")
    })?;
    if std::env::var_os("BENCH_SEED_TRACE").is_some() {
        let shown: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        let shown: String = shown.chars().take(120).collect();
        eprintln!(
            "seed: {:8.3} s, {:7} rows: {shown}",
            started.elapsed().as_secs_f64(),
            result.rows_affected()
        );
    }
    Ok(result.rows_affected())
}

async fn query_one(conn: &impl ConnectionTrait, sql: &str) -> Result<QueryResult> {
    conn.query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .with_context(|| format!("SQL failed: {sql}"))?
        .with_context(|| format!("no row: {sql}"))
}

async fn count(conn: &impl ConnectionTrait, sql: &str) -> Result<i64> {
    let row = query_one(conn, sql).await?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// One signed-up tenant.
struct BenchTenant {
    slug: String,
    email: String,
    token: String,
    tenant_id: String,
}

async fn sign_up(target: &Target, slug: &str, email: &str, password: &str) -> Result<BenchTenant> {
    let body = json!({
        "query": SIGN_UP,
        "variables": {
            "email": email,
            "password": password,
            "name": format!("Owner of {slug}"),
            "tenantName": format!("Bench tenant {slug}"),
            "tenantSlug": slug,
        },
    });
    let value = probe(target, Bytes::from(body.to_string()), None)
        .await
        .with_context(|| format!("signUp of {slug} failed"))?;
    let field = |pointer: &str| {
        value
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .with_context(|| format!("signUp response has no {pointer}: {value}"))
    };
    Ok(BenchTenant {
        slug: slug.to_owned(),
        email: email.to_owned(),
        token: field("/data/signUp/accessToken")?,
        tenant_id: field("/data/signUp/tenant/id")?,
    })
}

/// Fills one tenant, in one transaction.
async fn seed_tenant(
    db: &DatabaseConnection,
    d: Dialect,
    slug: &str,
    leads: u64,
    companies: u64,
    now: i64,
) -> Result<()> {
    let txn = db.begin().await?;
    if d == Dialect::Postgres {
        exec(&txn, "SET LOCAL synchronous_commit = off").await?;
        exec(&txn, "SET LOCAL work_mem = '64MB'").await?;
    }
    let temp_tables = [
        "bench_ctx",
        "bench_stages",
        "bench_sources",
        "bench_words",
        "bench_companies",
    ];
    for t in temp_tables {
        let qualified = match d {
            Dialect::Postgres => format!("pg_temp.{t}"),
            Dialect::Sqlite => format!("temp.{t}"),
        };
        exec(&txn, &format!("DROP TABLE IF EXISTS {qualified}")).await?;
    }

    // The tenant and its owner.
    exec(
        &txn,
        &format!(
            "CREATE TEMP TABLE bench_ctx AS SELECT t.id AS tenant_id, m.user_id AS owner_id \
             FROM tenants t JOIN memberships m ON m.tenant_id = t.id \
             WHERE t.slug = {} AND m.role = 'owner'",
            lit(slug)
        ),
    )
    .await?;
    let owners = count(&txn, "SELECT count(*) FROM bench_ctx").await?;
    ensure!(
        owners == 1,
        "tenant {slug}: expected one owner membership, found {owners}"
    );
    let tenant = "(SELECT tenant_id FROM bench_ctx)";

    // The pipeline (from sign-up) and lead sources.
    let stages = count(
        &txn,
        &format!("SELECT count(*) FROM lead_stages WHERE tenant_id = {tenant}"),
    )
    .await?;
    if stages == 0 {
        eprintln!("seed: tenant {slug} has no pipeline after sign-up; creating a fallback one");
        for (position, (name, is_default, is_won, is_lost)) in FALLBACK_STAGES.iter().enumerate() {
            exec(
                &txn,
                &format!(
                    "INSERT INTO lead_stages (tenant_id, id, name, position, color, is_default, is_won, is_lost) \
                     SELECT tenant_id, {id}, {name}, {position}, '#64748b', {def}, {won}, {lost} FROM bench_ctx",
                    id = d.random_id(),
                    name = lit(name),
                    def = d.bool(*is_default),
                    won = d.bool(*is_won),
                    lost = d.bool(*is_lost),
                ),
            )
            .await?;
        }
    }
    let sources = count(
        &txn,
        &format!(
            "SELECT count(*) FROM lead_sources WHERE tenant_id = {tenant} AND deleted_at IS NULL"
        ),
    )
    .await?;
    if sources == 0 {
        for (name, source_type) in SOURCES {
            exec(
                &txn,
                &format!(
                    "INSERT INTO lead_sources (tenant_id, id, name, source_type) \
                     SELECT tenant_id, {id}, {name}, {ty} FROM bench_ctx",
                    id = d.random_id(),
                    name = lit(name),
                    ty = d.enum_value(&lit(source_type), "lead_source_type"),
                ),
            )
            .await?;
        }
    }
    exec(
        &txn,
        &format!(
            "CREATE TEMP TABLE bench_stages AS SELECT row_number() OVER (ORDER BY position, id) - 1 AS idx, id \
             FROM lead_stages WHERE tenant_id = {tenant}"
        ),
    )
    .await?;
    exec(
        &txn,
        &format!(
            "CREATE TEMP TABLE bench_sources AS SELECT row_number() OVER (ORDER BY name, id) - 1 AS idx, id \
             FROM lead_sources WHERE tenant_id = {tenant} AND deleted_at IS NULL"
        ),
    )
    .await?;
    let stage_count = count(&txn, "SELECT count(*) FROM bench_stages").await? as u64;
    let source_count = count(&txn, "SELECT count(*) FROM bench_sources").await? as u64;
    // A fifth of the leads have no source: random slots past the last source.
    let source_slots = (source_count * 5).div_ceil(4).max(1);

    exec(
        &txn,
        "CREATE TEMP TABLE bench_words (list TEXT NOT NULL, idx INTEGER NOT NULL, word TEXT NOT NULL, \
         extra TEXT, PRIMARY KEY (list, idx))",
    )
    .await?;
    exec(
        &txn,
        &format!(
            "INSERT INTO bench_words (list, idx, word, extra) VALUES {}",
            word_rows().join(", ")
        ),
    )
    .await?;

    // Companies: generated once into a temp table (so that leads can pick one
    // by index), then copied into `companies`.
    exec(
        &txn,
        &format!(
            "CREATE TEMP TABLE bench_companies (idx {int} PRIMARY KEY, id {id} NOT NULL, name TEXT NOT NULL, \
             domain TEXT NOT NULL, industry TEXT NOT NULL, size TEXT NOT NULL, country TEXT NOT NULL, \
             city TEXT NOT NULL, created_ms {int} NOT NULL, updated_ms {int} NOT NULL)",
            int = d.int_type(),
            id = d.id_type(),
        ),
    )
    .await?;
    let (with, from) = d.series(0, companies - 1);
    let (na, nb, np) = (COMPANY_A.len(), COMPANY_B.len(), COMPANY_PLACE.len());
    exec(
        &txn,
        &format!(
            "{with}g AS MATERIALIZED (SELECT n, {now} - {age} AS created_ms, {ru} AS ru, {hex} AS rh, \
                 {ri} AS ri, {rz} AS rz, {rp} AS rp FROM {from}) \
             INSERT INTO bench_companies (idx, id, name, domain, industry, size, country, city, created_ms, updated_ms) \
             SELECT g.n, {uuid}, a.word || ' ' || b.word || ' ' || p.word || ' ' || lf.word, \
                 lower(a.word || b.word) || '-' || g.n || '.test', ind.word, sz.word, pl.word, pl.extra, \
                 g.created_ms, g.created_ms + ({now} - g.created_ms) * g.ru / 100 \
             FROM g \
             {join} bench_words a ON a.list = 'co_a' AND a.idx = g.n % {na} \
             {join} bench_words b ON b.list = 'co_b' AND b.idx = (g.n / {na}) % {nb} \
             {join} bench_words p ON p.list = 'co_place' AND p.idx = (g.n / {nab}) % {np} \
             {join} bench_words lf ON lf.list = 'legal' AND lf.idx = g.n % {nl} \
             {join} bench_words ind ON ind.list = 'industry' AND ind.idx = g.ri \
             {join} bench_words sz ON sz.list = 'size' AND sz.idx = g.rz \
             {join} bench_words pl ON pl.list = 'place' AND pl.idx = g.rp",
            now = now,
            join = d.join(),
            age = d.rand(YEAR_MS as u64),
            ru = d.rand(100),
            hex = d.rand_hex(),
            ri = d.rand(INDUSTRIES.len() as u64),
            rz = d.rand(COMPANY_SIZES.len() as u64),
            rp = d.rand(PLACES.len() as u64),
            uuid = d.uuid_v7("g.created_ms", "g.rh"),
            nab = na * nb,
            nl = LEGAL_FORMS.len(),
        ),
    )
    .await?;
    exec(
        &txn,
        &format!(
            "INSERT INTO companies (tenant_id, id, name, website, domain, industry, size, city, country, \
                 enrichment, custom_fields, created_at, updated_at) \
             SELECT x.tenant_id, c.id, c.name, 'https://' || c.domain, c.domain, c.industry, {size}, c.city, \
                 c.country, '{{}}', '{{}}', {created}, {updated} \
             FROM bench_companies c CROSS JOIN bench_ctx x",
            size = d.enum_value("c.size", "company_size"),
            created = d.ts("c.created_ms"),
            updated = d.ts("c.updated_ms"),
        ),
    )
    .await?;
    if d == Dialect::Postgres {
        exec(
            &txn,
            "ANALYZE bench_ctx, bench_stages, bench_sources, bench_words, bench_companies",
        )
        .await?;
    }

    // Leads: random name, company, stage, source, status, score and age; the
    // email is unique per tenant through the series number.
    let (with, from) = d.series(0, leads - 1);
    let updated_ms = format!("(g.created_ms + ({now} - g.created_ms) * g.ru / 100)");
    let email = "lower(f.word || '.' || l.word || '.' || g.n || '@' || c.domain)";
    exec(
        &txn,
        &format!(
            "{with}g AS MATERIALIZED (SELECT n, {rf} AS rf, {rl} AS rl, {rj} AS rj, {rp} AS rp, \
                 {rc} AS rc, {rs} AS rs, {rso} AS rso, {rst} AS rst, {rv} AS rv, {score} AS score, \
                 {now} - {age} AS created_ms, {ru} AS ru, {hex} AS rh FROM {from}) \
             INSERT INTO leads (tenant_id, id, first_name, last_name, email, job_title, country, city, \
                 company_id, stage_id, source_id, owner_id, status, score, verification_status, currency, \
                 custom_fields, enrichment, search_text, sort_name, last_contacted_at, converted_at, \
                 created_at, updated_at) \
             SELECT x.tenant_id, {uuid}, f.word, l.word, {email}, j.word, p.word, p.extra, \
                 c.id, st.id, so.id, x.owner_id, {status}, g.score, {verification}, 'EUR', \
                 '{{}}', '{{}}', lower(f.word || ' ' || l.word || ' ' || {email}), lower(f.word || ' ' || l.word), \
                 CASE WHEN stt.word = 'new' THEN NULL ELSE {updated} END, \
                 CASE WHEN stt.word = 'converted' THEN {updated} ELSE NULL END, \
                 {created}, {updated} \
             FROM g CROSS JOIN bench_ctx x \
             {join} bench_words f ON f.list = 'first' AND f.idx = g.rf \
             {join} bench_words l ON l.list = 'last' AND l.idx = g.rl \
             {join} bench_words j ON j.list = 'job' AND j.idx = g.rj \
             {join} bench_words p ON p.list = 'place' AND p.idx = g.rp \
             {join} bench_words stt ON stt.list = 'status' AND stt.idx = g.rst \
             {join} bench_words v ON v.list = 'verification' AND v.idx = g.rv \
             {join} bench_companies c ON c.idx = g.rc \
             {join} bench_stages st ON st.idx = g.rs \
             LEFT JOIN bench_sources so ON so.idx = g.rso",
            join = d.join(),
            rf = d.rand(FIRST_NAMES.len() as u64),
            rl = d.rand(LAST_NAMES.len() as u64),
            rj = d.rand(JOB_TITLES.len() as u64),
            rp = d.rand(PLACES.len() as u64),
            rc = d.rand(companies),
            rs = d.rand(stage_count),
            rso = d.rand(source_slots),
            rst = d.rand(100),
            rv = d.rand(100),
            score = d.rand(101),
            age = d.rand(YEAR_MS as u64),
            ru = d.rand(100),
            hex = d.rand_hex(),
            uuid = d.uuid_v7("g.created_ms", "g.rh"),
            status = d.enum_value("stt.word", "lead_status"),
            verification = d.enum_value("v.word", "verification_status"),
            updated = d.ts(&updated_ms),
            created = d.ts("g.created_ms"),
        ),
    )
    .await?;

    // Tags: about 30 % vip, 20 % newsletter, independently.
    for (tag, pct) in [("vip", 30), ("newsletter", 20)] {
        exec(
            &txn,
            &format!(
                "INSERT INTO lead_tags (tenant_id, lead_id, tag, created_at) \
                 SELECT tenant_id, id, {tag}, created_at FROM leads \
                 WHERE tenant_id = {tenant} AND {r} < {pct}",
                tag = lit(tag),
                r = d.rand(100),
            ),
        )
        .await?;
    }
    seed_engagement(&txn, d, tenant, now).await?;
    for t in temp_tables.iter().chain(&["bench_sends"]) {
        exec(&txn, &format!("DROP TABLE {t}")).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Engagement, for the `engaged` filter and segments: about 20 % of the
/// leads with an email were sent one delivered email some time in the past
/// 60 days; half of those opened it an hour later, a quarter clicked two
/// hours later. The events are numbered 1.. in the tenant's engagement
/// stream (and its sequence moved past them), as the application numbers
/// them.
async fn seed_engagement(
    txn: &sea_orm::DatabaseTransaction,
    d: Dialect,
    tenant: &str,
    now: i64,
) -> Result<()> {
    const DAY_MS: u64 = 86_400_000;
    exec(
        txn,
        &format!(
            "CREATE TEMP TABLE bench_sends AS \
             SELECT tenant_id, id AS lead_id, email, {now} - {age} AS sent_ms, {hex} AS rh, \
                 {r} AS r FROM leads \
             WHERE tenant_id = {tenant} AND email IS NOT NULL AND {pick} < 20",
            age = d.rand(60 * DAY_MS),
            hex = d.rand_hex(),
            r = d.rand(100),
            pick = d.rand(100),
        ),
    )
    .await?;
    let sent = d.ts("sent_ms");
    exec(
        txn,
        &format!(
            "INSERT INTO messages (tenant_id, id, channel, lead_id, recipient, status, \
                 message_id_header, tracking, attempts, queued_at, sent_at, delivered_at, \
                 opened_at, clicked_at, open_count, click_count, credits_charged, variables, \
                 created_at, updated_at) \
             SELECT tenant_id, {id}, {channel}, lead_id, email, {status}, \
                 '<' || rh || '@bench.test>', {yes}, 1, {sent}, {sent}, {sent}, \
                 CASE WHEN r < 50 THEN {opened} END, CASE WHEN r < 25 THEN {clicked} END, \
                 CASE WHEN r < 50 THEN 1 ELSE 0 END, CASE WHEN r < 25 THEN 1 ELSE 0 END, \
                 1, '{{}}', {sent}, {sent} \
             FROM bench_sends",
            id = d.uuid_v7("sent_ms", "rh"),
            channel = d.enum_value("'email'", "message_channel"),
            status = d.enum_value("'delivered'", "message_status"),
            yes = d.bool(true),
            opened = d.ts("sent_ms + 3600000"),
            clicked = d.ts("sent_ms + 7200000"),
        ),
    )
    .await?;
    // The message ids again (the same expression of the same row).
    let message = d.uuid_v7("sent_ms", "rh");
    exec(
        txn,
        &format!(
            "INSERT INTO engagement_events (tenant_id, id, seq, event_type, message_id, lead_id, \
                 machine, source, detail, occurred_at, created_at) \
             SELECT tenant_id, {id}, ROW_NUMBER() OVER (ORDER BY at_ms, kind), {kind}, message_id, \
                 lead_id, {no}, 'bench', '{{}}', {at}, {at} \
             FROM (SELECT tenant_id, lead_id, {message} AS message_id, rh, 'opened' AS kind, \
                       sent_ms + 3600000 AS at_ms FROM bench_sends WHERE r < 50 \
                   UNION ALL \
                   SELECT tenant_id, lead_id, {message}, rh, 'clicked', sent_ms + 7200000 \
                   FROM bench_sends WHERE r < 25) e",
            id = d.uuid_v7("at_ms", "rh"),
            kind = d.enum_value("kind", "engagement_type"),
            no = d.bool(false),
            at = d.ts("at_ms"),
        ),
    )
    .await?;
    exec(
        txn,
        &format!(
            "INSERT INTO engagement_sequences (tenant_id, last_seq) \
             SELECT {tenant}, COUNT(*) FROM engagement_events WHERE tenant_id = {tenant}"
        ),
    )
    .await?;
    Ok(())
}

fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

pub async fn run(args: SeedArgs) -> Result<()> {
    ensure!(
        (1..=99).contains(&args.tenants),
        "--tenants must be between 1 and 99"
    );
    ensure!(
        (1..=10_000_000).contains(&args.leads),
        "--leads must be between 1 and 10,000,000"
    );
    ensure!(
        (1..=1_000_000).contains(&args.companies),
        "--companies must be between 1 and 1,000,000"
    );
    ensure!(
        args.slug_prefix.len() <= 40
            && !args.slug_prefix.is_empty()
            && args
                .slug_prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
        "--slug-prefix must be 1-40 of a-z, 0-9 and '-'"
    );
    let target = Target::parse(&args.url)?;
    let started = Instant::now();

    let mut options = ConnectOptions::new(args.database_url.clone());
    // One connection: temp tables are per connection, and there is one
    // writer anyway.
    options
        .max_connections(1)
        .min_connections(1)
        .sqlx_logging(false);
    let db = Database::connect(options)
        .await
        .with_context(|| format!("connecting to {}", args.database_url))?;
    let d = match db.get_database_backend() {
        DbBackend::Postgres => Dialect::Postgres,
        DbBackend::Sqlite => Dialect::Sqlite,
        other => bail!("unsupported backend {other:?}"),
    };
    let backend = match d {
        Dialect::Postgres => "postgres",
        Dialect::Sqlite => "sqlite",
    };
    if d == Dialect::Sqlite {
        // unhex() needs SQLite 3.41; the bundled library is newer.
        let row = query_one(&db, "SELECT sqlite_version()").await?;
        let version: String = row.try_get_by_index(0)?;
        eprintln!("seed: SQLite {version}");
    }

    // Tenants through the API.
    let mut tenants = Vec::new();
    for i in 1..=args.tenants {
        let slug = format!("{}-{i:02}", args.slug_prefix);
        let email = format!("owner@{slug}.bench.test");
        tenants.push(sign_up(&target, &slug, &email, &args.password).await?);
    }
    let slugs = tenants
        .iter()
        .map(|t| lit(&t.slug))
        .collect::<Vec<_>>()
        .join(", ");
    exec(
        &db,
        &format!("UPDATE tenants SET max_leads = 10000000 WHERE slug IN ({slugs})"),
    )
    .await?;
    let signup_s = started.elapsed().as_secs_f64();
    eprintln!(
        "seed: signed up {} tenant(s) in {signup_s:.1} s",
        tenants.len()
    );

    // Data, tenant by tenant.
    let data_started = Instant::now();
    let now = now_ms();
    for tenant in &tenants {
        let t0 = Instant::now();
        seed_tenant(&db, d, &tenant.slug, args.leads, args.companies, now).await?;
        eprintln!(
            "seed: {}: {} companies, {} leads in {:.1} s",
            tenant.slug,
            args.companies,
            args.leads,
            t0.elapsed().as_secs_f64()
        );
    }
    let data_s = data_started.elapsed().as_secs_f64();

    // Statistics and a clean slate for the benchmark.
    let analyze_started = Instant::now();
    match d {
        Dialect::Postgres => {
            exec(&db, "VACUUM (ANALYZE)").await?;
            exec(&db, "CHECKPOINT").await?;
        }
        Dialect::Sqlite => {
            exec(&db, "ANALYZE").await?;
            exec(&db, "PRAGMA wal_checkpoint(TRUNCATE)").await?;
        }
    }
    let analyze_s = analyze_started.elapsed().as_secs_f64();
    eprintln!("seed: statistics and checkpoint in {analyze_s:.1} s");

    // What is there now.
    let first = &tenants[0];
    let tenant1 = format!("(SELECT id FROM tenants WHERE slug = {})", lit(&first.slug));
    let total_leads = count(&db, "SELECT count(*) FROM leads").await?;
    let total_companies = count(&db, "SELECT count(*) FROM companies").await?;
    let total_tags = count(&db, "SELECT count(*) FROM lead_tags").await?;
    let vip = count(
        &db,
        &format!("SELECT count(*) FROM lead_tags WHERE tenant_id = {tenant1} AND tag = 'vip'"),
    )
    .await?;
    let search_matches = count(
        &db,
        &format!(
            "SELECT count(*) FROM leads WHERE tenant_id = {tenant1} AND search_text LIKE {}",
            lit(&format!("%{}%", args.search.to_lowercase()))
        ),
    )
    .await?;
    let db_bytes = match d {
        Dialect::Postgres => count(&db, "SELECT pg_database_size(current_database())").await?,
        Dialect::Sqlite => {
            count(
                &db,
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
            )
            .await?
        }
    };

    // The stage for the filtered scenario.
    let stages = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT id, name FROM lead_stages WHERE tenant_id = {tenant1} ORDER BY position"
            ),
        ))
        .await?;
    let stages: Vec<(Uuid, String)> = stages
        .iter()
        .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
        .collect::<Result<_>>()?;
    ensure!(!stages.is_empty(), "tenant {} has no stages", first.slug);
    let (stage_id, stage_name) = stages
        .iter()
        .find(|(_, name)| name.eq_ignore_ascii_case(&args.stage))
        .unwrap_or(&stages[stages.len() / 2])
        .clone();
    let stage_leads = count(
        &db,
        &format!(
            "SELECT count(*) FROM leads l JOIN lead_tags t ON t.tenant_id = l.tenant_id \
             AND t.lead_id = l.id AND t.tag = 'vip' WHERE l.tenant_id = {tenant1} AND l.stage_id = \
             (SELECT id FROM lead_stages WHERE tenant_id = {tenant1} AND name = {})",
            lit(&stage_name)
        ),
    )
    .await?;

    let total_s = started.elapsed().as_secs_f64();
    let summary = json!({
        "kind": "seed",
        "backend": backend,
        "tenants": tenants.len(),
        "leads_per_tenant": args.leads,
        "companies_per_tenant": args.companies,
        "leads": total_leads,
        "companies": total_companies,
        "lead_tags": total_tags,
        "tenant1_vip": vip,
        "tenant1_search": args.search,
        "tenant1_search_matches": search_matches,
        "stage_id": stage_id.to_string(),
        "stage_name": stage_name,
        "stages": stages.len(),
        "tenant1_stage_vip_leads": stage_leads,
        "db_mib": (db_bytes as f64 / 1048576.0 * 10.0).round() / 10.0,
        "signup_s": (signup_s * 10.0).round() / 10.0,
        "data_s": (data_s * 10.0).round() / 10.0,
        "analyze_s": (analyze_s * 10.0).round() / 10.0,
        "total_s": (total_s * 10.0).round() / 10.0,
        "tenant1_id": first.tenant_id,
        "tenant1_owner": first.email,
    });
    println!("{summary}");

    if let Some(path) = &args.env_file {
        let mut env = String::new();
        writeln!(env, "BENCH_TOKEN={}", shell_quote(&first.token))?;
        writeln!(env, "BENCH_STAGE_ID={}", shell_quote(&stage_id.to_string()))?;
        writeln!(env, "BENCH_STAGE_NAME={}", shell_quote(&stage_name))?;
        for (key, value) in summary.as_object().expect("an object") {
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            writeln!(
                env,
                "SEED_{}={}",
                key.to_ascii_uppercase(),
                shell_quote(&value)
            )?;
        }
        std::fs::write(path, env).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_last_name_contains_the_search_fragment() {
        let hits: Vec<_> = LAST_NAMES
            .iter()
            .filter(|n| n.to_lowercase().contains("ovela"))
            .collect();
        assert_eq!(hits, [&"Kovelainen"]);
        assert_eq!(LAST_NAMES.len(), 100);
        let mut unique = LAST_NAMES.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 100, "duplicate last names");
    }

    #[test]
    fn no_other_generated_text_contains_the_search_fragment() {
        for f in FIRST_NAMES {
            assert!(!f.to_lowercase().contains("ovela"), "{f}");
            // Across the space and the dot of `first last` / `first.last`.
            for l in LAST_NAMES.iter().filter(|l| **l != "Kovelainen") {
                for sep in [" ", "."] {
                    let s = format!("{f}{sep}{l}").to_lowercase();
                    assert!(!s.contains("ovela"), "{s}");
                }
            }
        }
        for a in COMPANY_A {
            for b in COMPANY_B {
                for p in COMPANY_PLACE {
                    for s in [format!("{a} {b} {p}"), format!("{a}{b}")] {
                        assert!(!s.to_lowercase().contains("ovela"), "{s}");
                    }
                }
            }
        }
    }

    #[test]
    fn company_names_are_distinct_for_ten_thousand() {
        assert_eq!(
            COMPANY_A.len() * COMPANY_B.len() * COMPANY_PLACE.len(),
            10_000
        );
    }

    #[test]
    fn weights_fill_a_hundred_slots() {
        assert_eq!(slots(STATUS_WEIGHTS).len(), 100);
        assert_eq!(slots(VERIFICATION_WEIGHTS).len(), 100);
    }

    #[test]
    fn sql_fragments() {
        assert_eq!(lit("it's"), "'it''s'");
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
        let (with, from) = Dialect::Sqlite.series(0, 9);
        assert!(with.starts_with("WITH RECURSIVE s(n)") && with.ends_with(", "));
        assert_eq!(from, "s");
        assert!(Dialect::Postgres.uuid_v7("m", "h").ends_with("::uuid"));
    }
}
