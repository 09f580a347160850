//! Configuration: CLI flags with environment fallbacks and safe development defaults.
//!
//! Production (`PROMOHUB_ENV=production`) refuses to start with a development
//! secret, so a forgotten variable can never ship the demo key.

use clap::{Args, ValueEnum};

/// The key for secrets at rest (SMTP passwords) when none is configured:
/// base64 of 32 bytes. Never valid in production.
pub const DEVELOPMENT_SECRETS_KEY: &str = "cHJvbW9odWItZGV2ZWxvcG1lbnQta2V5LTMyLWJ5dGU=";
/// The tracking link signing secret when none is configured. Never valid in production.
pub const DEVELOPMENT_TRACKING_SECRET: &str = "promohub-development-tracking-secret";

/// The JWT secret used when none is configured. Never valid in production.
pub const DEVELOPMENT_JWT_SECRET: &str = "promohub-development-jwt-secret-do-not-use-in-production";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Settings shared by every command.
#[derive(Clone, Debug, Args)]
pub struct Config {
    /// `development` (default) or `production`.
    #[arg(
        long = "env",
        env = "PROMOHUB_ENV",
        value_enum,
        default_value = "development",
        global = true
    )]
    pub environment: Environment,

    /// Database URL: `sqlite://path?mode=rwc` or `postgres://…`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://promohub.db?mode=rwc",
        global = true
    )]
    pub database_url: String,

    /// Connections in the database pool. Default: on PostgreSQL twice the
    /// CPU cores, on SQLite 10 (see `Config::pool_size`).
    #[arg(long, env = "PROMOHUB_DB_POOL_SIZE", global = true)]
    pub db_pool_size: Option<u32>,

    /// PostgreSQL: where the engagement listener connects for LISTEN, which
    /// needs a session of its own. Default: `DATABASE_URL`. Behind a pooler
    /// in transaction mode (PgBouncer, Supabase's pooler), point it at the
    /// database directly.
    #[arg(long, env = "DATABASE_LISTEN_URL", global = true)]
    pub database_listen_url: Option<String>,

    /// HMAC secret for access tokens (HS256). At least 32 bytes in production.
    #[arg(long, env = "JWT_SECRET", default_value = DEVELOPMENT_JWT_SECRET, hide_default_value = true, global = true)]
    pub jwt_secret: String,

    /// `iss` claim written into and required of access tokens.
    #[arg(
        long,
        env = "PROMOHUB_JWT_ISSUER",
        default_value = "promohub",
        global = true
    )]
    pub jwt_issuer: String,

    /// `aud` claim written into and required of access tokens.
    #[arg(
        long,
        env = "PROMOHUB_JWT_AUDIENCE",
        default_value = "promohub-api",
        global = true
    )]
    pub jwt_audience: String,

    /// Access token lifetime in seconds.
    #[arg(
        long,
        env = "PROMOHUB_ACCESS_TOKEN_TTL",
        default_value_t = 900,
        global = true
    )]
    pub access_token_ttl_secs: i64,

    /// Refresh token lifetime in days.
    #[arg(
        long,
        env = "PROMOHUB_REFRESH_TOKEN_TTL_DAYS",
        default_value_t = 30,
        global = true
    )]
    pub refresh_token_ttl_days: i64,

    /// Log format: `text` or `json`.
    #[arg(
        long,
        env = "PROMOHUB_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,

    /// Proxies whose `X-Forwarded-For` is believed (addresses or CIDR
    /// ranges, comma-separated). From anyone else the header is ignored and
    /// the client is the connection's peer, so a client cannot choose the
    /// address the audit log, tracking and rate limits see.
    #[arg(
        long,
        env = "PROMOHUB_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = parse_proxy,
        global = true
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Browser origins allowed to call the API (CORS), comma-separated
    /// (`https://app.example.com,http://localhost:5173`). Default: any
    /// origin; the API authenticates by bearer token, never by cookie.
    #[arg(
        long,
        env = "PROMOHUB_CORS_ORIGINS",
        value_delimiter = ',',
        value_parser = parse_origin,
        global = true
    )]
    pub cors_origins: Vec<http::HeaderValue>,

    /// Bearer token `/metrics` requires. Without one `/metrics` is open in
    /// development and not served (404) in production.
    #[arg(
        long,
        env = "PROMOHUB_METRICS_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub metrics_token: Option<String>,

    /// Whether outbound connections to addresses a tenant chose (SMTP
    /// hosts) may go to loopback, private, link-local and other non-public
    /// addresses. Default: allowed in development (local relays, tests),
    /// refused in production. See `Config::allow_private_hosts`.
    #[arg(
        long = "allow-private-hosts",
        env = "PROMOHUB_ALLOW_PRIVATE_HOSTS",
        num_args = 0..=1,
        default_missing_value = "true",
        global = true
    )]
    pub allow_private_hosts: Option<bool>,

    /// Non-public addresses that outbound requests to addresses a tenant
    /// chose may reach even when private hosts are refused (addresses or
    /// CIDR ranges, comma-separated), e.g. `127.0.0.0/8` for a local test
    /// server. Website analysis honours it. Default: none.
    #[arg(
        long,
        env = "PROMOHUB_OUTBOUND_ALLOW",
        value_delimiter = ',',
        value_parser = parse_proxy,
        global = true
    )]
    pub outbound_allow: Vec<ipnet::IpNet>,

    /// Fixed addresses for host names, `name=ip` or `name=ip:port`,
    /// comma-separated (as curl's `--resolve`), for tests and development:
    /// the address is still checked like a DNS answer. Website analysis
    /// honours it. Default: none.
    #[arg(
        long,
        env = "PROMOHUB_OUTBOUND_RESOLVE",
        value_delimiter = ',',
        value_parser = parse_pin,
        global = true
    )]
    pub outbound_resolve: Vec<HostPin>,

    /// Longest a website analysis may take, all its requests together
    /// (robots.txt, the home page, a contact or booking page, redirects),
    /// in milliseconds.
    #[arg(
        long,
        env = "PROMOHUB_WEBSITE_ANALYSIS_TIMEOUT_MS",
        default_value_t = 20_000,
        global = true
    )]
    pub website_analysis_timeout_ms: u64,

    /// How often the segments whose filters count from now ("created in
    /// the last 30 days", engagement periods) are re-checked over all of a
    /// tenant's leads, in seconds. Lead changes move every segment's
    /// members at once; only the clock needs this.
    #[arg(
        long,
        env = "PROMOHUB_SEGMENT_SWEEP_SECS",
        default_value_t = 300,
        global = true
    )]
    pub segment_sweep_secs: u64,

    /// The largest CSV file an import takes, in megabytes.
    #[arg(
        long,
        env = "PROMOHUB_IMPORT_MAX_MB",
        default_value_t = 50,
        global = true
    )]
    pub import_max_mb: u64,

    #[command(flatten)]
    pub capture: Capture,

    #[command(flatten)]
    pub limits: Limits,

    #[command(flatten)]
    pub messaging: Messaging,
}

/// The CPU cores this process may use (one when that cannot be told).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A trusted proxy: an address (`10.0.0.7`) or a range (`10.0.0.0/8`).
fn parse_proxy(value: &str) -> Result<ipnet::IpNet, String> {
    let value = value.trim();
    value
        .parse::<ipnet::IpNet>()
        .or_else(|_| value.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{value}` is neither an IP address nor a CIDR range"))
}

/// A host name with a fixed address (`Config::outbound_resolve`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPin {
    /// Lowercase, without a trailing dot.
    pub name: String,
    /// Port 0: the port the request asks for.
    pub addr: std::net::SocketAddr,
}

/// `name=ip` or `name=ip:port` (`[v6]:port` for IPv6 with a port).
fn parse_pin(value: &str) -> Result<HostPin, String> {
    let refuse = || format!("`{value}` is not name=address, e.g. shop.test=127.0.0.1:8081");
    let (name, addr) = value.trim().split_once('=').ok_or_else(refuse)?;
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    let addr = addr.trim();
    let addr = addr
        .parse::<std::net::SocketAddr>()
        .or_else(|_| {
            addr.parse::<std::net::IpAddr>()
                .map(|ip| std::net::SocketAddr::new(ip, 0))
        })
        .map_err(|_| refuse())?;
    if name.is_empty() || name.contains(['/', ':', ' ']) {
        return Err(refuse());
    }
    Ok(HostPin { name, addr })
}

/// A browser origin as the `Origin` header spells it: scheme, host and an
/// optional port, no path.
fn parse_origin(value: &str) -> Result<http::HeaderValue, String> {
    let value = value.trim().trim_end_matches('/');
    let refuse = || format!("`{value}` is not an origin such as https://app.example.com");
    let uri: http::Uri = value.parse().map_err(|_| refuse())?;
    let web = matches!(uri.scheme_str(), Some("http" | "https"));
    if !web || uri.host().is_none() || uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
        return Err(refuse());
    }
    http::HeaderValue::from_str(value).map_err(|_| refuse())
}

/// Page-view tracking: where a visitor's country and city come from, and
/// what of the address is kept.
#[derive(Clone, Debug, Default, Args)]
pub struct Capture {
    /// A request header a trusted proxy sets to the visitor's country
    /// (ISO 3166 alpha-2), e.g. `CF-IPCountry`. Only headers of requests
    /// through `--trusted-proxies` count (anyone else could set it).
    #[arg(long, env = "PROMOHUB_GEO_COUNTRY_HEADER", global = true)]
    pub geo_country_header: Option<String>,
    /// The same for the visitor's city, e.g. `CF-IPCity`.
    #[arg(long, env = "PROMOHUB_GEO_CITY_HEADER", global = true)]
    pub geo_city_header: Option<String>,
    /// A MaxMind or DB-IP city or country database (`.mmdb`) to look
    /// visitors' addresses up in, when no header says.
    #[arg(long, env = "PROMOHUB_GEO_MMDB", global = true)]
    pub geo_mmdb: Option<std::path::PathBuf>,
    /// Keep visitors' full IP addresses; by default the last octet of IPv4
    /// (the last 80 bits of IPv6) is zeroed before storing.
    #[arg(long, env = "PROMOHUB_KEEP_FULL_IP", global = true)]
    pub keep_full_ip: bool,
}

/// Every request limit, each with its documented default (README, "Limits").
#[derive(Clone, Debug, Args)]
pub struct Limits {
    /// Largest HTTP request body, in bytes.
    #[arg(long, env = "PROMOHUB_BODY_LIMIT", default_value_t = 1024 * 1024, global = true)]
    pub body_bytes: usize,
    /// Largest public form submission (`POST /f/{publicId}`), in bytes.
    #[arg(long, env = "PROMOHUB_FORM_BODY_LIMIT", default_value_t = 64 * 1024, global = true)]
    pub form_body_bytes: usize,
    /// Public form submissions one IP address may send per minute (all
    /// forms together); more are answered 429 with `Retry-After`.
    #[arg(
        long,
        env = "PROMOHUB_FORM_SUBMISSIONS_PER_IP",
        default_value_t = 20,
        global = true
    )]
    pub form_submissions_per_ip: u32,
    /// Submissions one form takes per minute (from everyone).
    #[arg(
        long,
        env = "PROMOHUB_FORM_SUBMISSIONS_PER_FORM",
        default_value_t = 600,
        global = true
    )]
    pub form_submissions_per_form: u32,
    /// Largest GraphQL document (the query text), in bytes, checked before parsing.
    #[arg(long, env = "PROMOHUB_MAX_DOCUMENT_BYTES", default_value_t = 16 * 1024, global = true)]
    pub document_bytes: usize,
    /// Deepest selection set.
    #[arg(long, env = "PROMOHUB_MAX_DEPTH", default_value_t = 12, global = true)]
    pub depth: usize,
    /// Highest query complexity (a list field costs `first` times its children).
    #[arg(
        long,
        env = "PROMOHUB_MAX_COMPLEXITY",
        default_value_t = 5000,
        global = true
    )]
    pub complexity: usize,
    /// Most aliases in one document.
    #[arg(
        long,
        env = "PROMOHUB_MAX_ALIASES",
        default_value_t = 30,
        global = true
    )]
    pub aliases: usize,
    /// Deepest nesting of brackets (`{`, `[`, `(`) in a document, checked
    /// by a scan before parsing: the parser recurses once per level.
    #[arg(
        long,
        env = "PROMOHUB_MAX_NESTING",
        default_value_t = 64,
        global = true
    )]
    pub nesting: usize,
    /// Most lexical tokens in one document, checked before parsing.
    #[arg(
        long,
        env = "PROMOHUB_MAX_TOKENS",
        default_value_t = 2000,
        global = true
    )]
    pub tokens: usize,
    /// Most directives in one document.
    #[arg(
        long,
        env = "PROMOHUB_MAX_DIRECTIVES",
        default_value_t = 50,
        global = true
    )]
    pub directives: usize,
    /// Most fields a document selects once every fragment spread is
    /// expanded (`__typename` included): a 1 KB document spreading each
    /// fragment twice per level would otherwise select 2^n fields.
    #[arg(
        long,
        env = "PROMOHUB_MAX_SELECTIONS",
        default_value_t = 2000,
        global = true
    )]
    pub selections: usize,
    /// Largest page (`first` / `last`) of any connection.
    #[arg(
        long,
        env = "PROMOHUB_MAX_PAGE_SIZE",
        default_value_t = 100,
        global = true
    )]
    pub page_size: u64,
    /// Largest WebSocket message, in bytes.
    #[arg(long, env = "PROMOHUB_WS_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024, global = true)]
    pub ws_message_bytes: usize,
    /// Time a WebSocket client has to send `connection_init`, in milliseconds.
    #[arg(
        long,
        env = "PROMOHUB_WS_INIT_TIMEOUT_MS",
        default_value_t = 3000,
        global = true
    )]
    pub ws_init_timeout_ms: u64,
    /// How often a WebSocket with running operations checks its credential
    /// again, in seconds (a revoked one closes it with 4403).
    #[arg(
        long,
        env = "PROMOHUB_WS_REAUTH_SECS",
        default_value_t = 15,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub ws_reauth_secs: u64,
    /// Most operations running at once on one WebSocket (`LIMIT_EXCEEDED` beyond it).
    #[arg(
        long,
        env = "PROMOHUB_WS_MAX_OPERATIONS",
        default_value_t = 100,
        global = true
    )]
    pub ws_max_operations: usize,
    /// Longest HTTP request, in seconds.
    #[arg(
        long,
        env = "PROMOHUB_REQUEST_TIMEOUT",
        default_value_t = 30,
        global = true
    )]
    pub request_timeout_secs: u64,
    /// Failed logins for one email allowed within the window before `RATE_LIMITED`.
    #[arg(
        long,
        env = "PROMOHUB_LOGIN_MAX_FAILURES",
        default_value_t = 5,
        global = true
    )]
    pub login_max_failures: u64,
    /// The failed-login window, in seconds.
    #[arg(
        long,
        env = "PROMOHUB_LOGIN_WINDOW",
        default_value_t = 900,
        global = true
    )]
    pub login_window_secs: i64,
    /// Instructions one part of a message template (subject, text or HTML
    /// body) may run per render: room for loops over thousands of items,
    /// far from the 10^8 iterations that nested `range()` loops reach.
    #[arg(
        long,
        env = "PROMOHUB_TEMPLATE_FUEL",
        default_value_t = 1_000_000,
        global = true
    )]
    pub template_fuel: u64,
    /// Largest rendered part of a message template, in bytes.
    #[arg(long, env = "PROMOHUB_TEMPLATE_OUTPUT_BYTES", default_value_t = 512 * 1024, global = true)]
    pub template_output_bytes: usize,
    /// Templates rendered at once, each in its own render worker process
    /// (never in the server); more wait their turn. Default: the CPU cores.
    #[arg(long, env = "PROMOHUB_TEMPLATE_RENDER_THREADS", global = true)]
    pub template_render_threads: Option<usize>,
    /// Memory a render worker may use (its data segment, `setrlimit`): a
    /// template that builds more ends its worker and is `LIMIT_EXCEEDED`.
    #[arg(
        long,
        env = "PROMOHUB_TEMPLATE_MEMORY_BYTES",
        default_value_t = 256 * 1024 * 1024,
        global = true
    )]
    pub template_memory_bytes: u64,
    /// The program started as a render worker (`<program> render-worker`).
    /// Default: this executable; set it where the server runs inside
    /// another program, as the tests do.
    #[arg(long, env = "PROMOHUB_TEMPLATE_RENDER_WORKER", global = true)]
    pub template_render_worker: Option<std::path::PathBuf>,
    /// Password hashes and verifications computed at once; more wait their
    /// turn. Default: the CPU cores (see `Limits::password_hash_concurrency`).
    #[arg(
        long = "password-hash-concurrency",
        env = "PROMOHUB_PASSWORD_HASH_CONCURRENCY",
        global = true
    )]
    pub password_hash_concurrency: Option<usize>,
}

impl Limits {
    /// How many argon2 computations run at once, at least one. Each holds
    /// its memory (`m_cost`) while it runs, and a flood of logins holding
    /// hundreds of them grew the process by memory it never returned;
    /// beyond the cores they only take turns on the CPU anyway.
    pub fn password_hash_concurrency(&self) -> usize {
        self.password_hash_concurrency.unwrap_or_else(cores).max(1)
    }
}

/// Sending, tracking and provider webhooks.
#[derive(Clone, Debug, Args)]
pub struct Messaging {
    /// The address recipients reach this server at: tracking pixels, click
    /// redirects and unsubscribe links are built on it. Default: the
    /// address the server listens on (`Config::settle_public_url`).
    #[arg(long, env = "PROMOHUB_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// AES-256-GCM key for SMTP passwords at rest: base64 of 32 random bytes.
    #[arg(long, env = "PROMOHUB_SECRETS_KEY", default_value = DEVELOPMENT_SECRETS_KEY, hide_default_value = true, global = true)]
    pub secrets_key: String,

    /// HMAC secret that signs open, click and unsubscribe tokens.
    #[arg(long, env = "PROMOHUB_TRACKING_SECRET", default_value = DEVELOPMENT_TRACKING_SECRET, hide_default_value = true, global = true)]
    pub tracking_secret: String,

    /// The domain of the Message-IDs this server writes.
    #[arg(
        long,
        env = "PROMOHUB_MAIL_DOMAIN",
        default_value = "mail.promohub.local",
        global = true
    )]
    pub mail_domain: String,

    /// Seconds an SMTP step may take before the account counts as unreachable.
    #[arg(
        long,
        env = "PROMOHUB_SMTP_TIMEOUT_SECS",
        default_value_t = 15,
        global = true
    )]
    pub smtp_timeout_secs: u64,

    /// Seconds an IMAP step (connect, TLS, LOGIN, SELECT, FETCH) may take
    /// before the sender's mailbox counts as unreachable.
    #[arg(
        long,
        env = "PROMOHUB_IMAP_TIMEOUT_SECS",
        default_value_t = 30,
        global = true
    )]
    pub imap_timeout_secs: u64,

    /// How often a sender's mailbox whose server has no IDLE is checked
    /// for new mail (seconds). With IDLE new mail is seen as it arrives.
    #[arg(
        long,
        env = "PROMOHUB_IMAP_POLL_SECS",
        default_value_t = 60,
        global = true
    )]
    pub imap_poll_secs: u64,

    /// Seconds a process holds a mailbox it watches; it renews the lease
    /// every third of it (and re-issues IDLE then, well within RFC 2177's
    /// 29 minutes). A process that dies lets go after this long.
    #[arg(
        long,
        env = "PROMOHUB_IMAP_LEASE_SECS",
        default_value_t = 180,
        global = true
    )]
    pub imap_lease_secs: u64,

    /// How often a process looks for mailboxes that nobody watches
    /// (new, re-enabled, or left by a process that stopped), in seconds.
    #[arg(
        long,
        env = "PROMOHUB_IMAP_RESCAN_SECS",
        default_value_t = 30,
        global = true
    )]
    pub imap_rescan_secs: u64,

    /// Deliveries a worker process runs at once.
    #[arg(
        long,
        env = "PROMOHUB_WORKER_CONCURRENCY",
        default_value_t = 4,
        global = true
    )]
    pub worker_concurrency: usize,

    /// How often an idle worker looks for due jobs (milliseconds); jobs
    /// queued by the same process wake it at once.
    #[arg(
        long,
        env = "PROMOHUB_WORKER_POLL_MS",
        default_value_t = 500,
        global = true
    )]
    pub worker_poll_ms: u64,

    /// Seconds a worker holds a claimed job; after that another worker may
    /// take it over (the first one is presumed dead).
    #[arg(
        long,
        env = "PROMOHUB_JOB_LEASE_SECS",
        default_value_t = 120,
        global = true
    )]
    pub job_lease_secs: u64,

    /// Attempts before a delivery gives up (transient failures only).
    #[arg(
        long,
        env = "PROMOHUB_SEND_MAX_ATTEMPTS",
        default_value_t = 8,
        global = true
    )]
    pub send_max_attempts: i32,

    /// First retry delay in milliseconds; doubles per attempt (capped at an hour).
    #[arg(
        long,
        env = "PROMOHUB_RETRY_BASE_MS",
        default_value_t = 30_000,
        global = true
    )]
    pub retry_base_ms: u64,

    /// How long a sender account rests after its provider answers with a
    /// throttling reply (SES's `454 Throttling failure`, any 4xx), in
    /// milliseconds; doubles with each throttle in a row (capped at an
    /// hour). The message waits without using up an attempt.
    #[arg(
        long,
        env = "PROMOHUB_THROTTLE_BACKOFF_MS",
        default_value_t = 1_000,
        global = true
    )]
    pub throttle_backoff_ms: u64,

    /// Opens and clicks this soon after sending are counted as machine
    /// (security scanners open every link on arrival).
    #[arg(
        long,
        env = "PROMOHUB_MACHINE_WINDOW_MS",
        default_value_t = 2_000,
        global = true
    )]
    pub machine_window_ms: i64,

    /// Events a live subscription may have waiting before it is closed as
    /// too slow.
    #[arg(
        long,
        env = "PROMOHUB_SUBSCRIPTION_BUFFER",
        default_value_t = 1_024,
        global = true
    )]
    pub subscription_buffer: usize,

    /// Shortest interval between two `messageStats` pushes (milliseconds).
    #[arg(
        long,
        env = "PROMOHUB_STATS_INTERVAL_MS",
        default_value_t = 1_000,
        global = true
    )]
    pub stats_interval_ms: u64,

    /// Standard Webhooks secret (`whsec_…`) for `POST /webhooks/email/standard`.
    #[arg(long, env = "PROMOHUB_WEBHOOK_SECRET", global = true)]
    pub webhook_secret: Option<String>,

    /// SendGrid Event Webhook verification key (base64 DER or PEM).
    #[arg(long, env = "PROMOHUB_SENDGRID_PUBLIC_KEY", global = true)]
    pub sendgrid_public_key: Option<String>,

    /// `user:password` SendGrid Inbound Parse must present (HTTP Basic).
    #[arg(long, env = "PROMOHUB_SENDGRID_INBOUND_AUTH", global = true)]
    pub sendgrid_inbound_auth: Option<String>,

    /// Where SNS signing certificates may be downloaded from (comma-separated
    /// URL prefixes); by default only https://sns.*.amazonaws.com.
    #[arg(
        long,
        env = "PROMOHUB_SNS_CERT_PREFIXES",
        value_delimiter = ',',
        global = true
    )]
    pub sns_cert_prefixes: Vec<String>,

    /// SNS topics accepted (comma-separated ARNs); empty accepts any.
    #[arg(
        long,
        env = "PROMOHUB_SNS_TOPIC_ARNS",
        value_delimiter = ',',
        global = true
    )]
    pub sns_topic_arns: Vec<String>,
}

impl Config {
    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }

    /// Whether tenant-chosen outbound addresses may be non-public
    /// (ARCHITECTURE.md, "Outbound requests"): as configured, else only
    /// outside production.
    pub fn allow_private_hosts(&self) -> bool {
        self.allow_private_hosts
            .unwrap_or_else(|| !self.is_production())
    }

    /// What outbound requests to addresses a tenant chose may reach
    /// (website analysis; SMTP hosts still take `allow_private_hosts`
    /// alone).
    pub(crate) fn outbound_policy(&self) -> crate::outbound::Policy {
        crate::outbound::Policy {
            allow_private: self.allow_private_hosts(),
            allowed: self.outbound_allow.clone(),
            pinned: self.outbound_resolve.clone(),
        }
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }

    /// Connections in the database pool: as configured, else sized to the
    /// machine. PostgreSQL runs one process per connection, so connections
    /// beyond what the cores can keep busy only add processes competing for
    /// them and spread latencies: the usual rule is twice the cores plus the
    /// disks waited on, and with the working set in memory that is twice the
    /// cores (bench/README.md, "Pool sizes", has the run that measured it).
    /// Raise it when the database has cores of its own or is a network hop
    /// away. SQLite's readers are threads of this process and its writer
    /// waits on a lock, not a core.
    pub fn pool_size(&self) -> u32 {
        self.db_pool_size.unwrap_or_else(|| {
            if self.is_sqlite() {
                10
            } else {
                u32::try_from(2 * cores()).unwrap_or(u32::MAX)
            }
        })
    }

    /// How many query requests hold their read transaction (a pooled
    /// connection each) at once: one fewer than the pool, so a connection
    /// is always left for what they and everything else do besides.
    pub fn read_slots(&self) -> usize {
        self.pool_size().saturating_sub(1).max(1) as usize
    }

    /// How many template renders run at once (render worker processes): as
    /// configured, else one per core. Renders are CPU work with a bounded
    /// budget each; the bound keeps a burst of expensive ones from taking
    /// every core.
    pub fn template_render_threads(&self) -> usize {
        self.limits
            .template_render_threads
            .unwrap_or_else(cores)
            .max(1)
    }

    /// The base of links in outgoing email, without a trailing slash.
    /// Before `settle_public_url` runs (a configuration not yet serving),
    /// the default listening address.
    pub fn public_url(&self) -> &str {
        self.messaging
            .public_url
            .as_deref()
            .unwrap_or("http://127.0.0.1:8080")
            .trim_end_matches('/')
    }

    /// Refuses settings that are only safe on a developer's machine.
    pub fn check_production_safety(&self) -> anyhow::Result<()> {
        crate::secrets::SecretBox::new(&self.messaging.secrets_key)?;
        if !self.is_production() {
            return Ok(());
        }
        if self.jwt_secret == DEVELOPMENT_JWT_SECRET {
            anyhow::bail!(
                "PROMOHUB_ENV=production needs JWT_SECRET: the development secret is refused"
            );
        }
        if self.jwt_secret.len() < 32 {
            anyhow::bail!("JWT_SECRET must be at least 32 bytes in production");
        }
        if !self
            .messaging
            .public_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://"))
        {
            anyhow::bail!(
                "PROMOHUB_PUBLIC_URL must be set, and https, in production (RFC 8058 one-click \
                 unsubscribe)"
            );
        }
        if self.messaging.secrets_key == DEVELOPMENT_SECRETS_KEY {
            anyhow::bail!(
                "PROMOHUB_ENV=production needs PROMOHUB_SECRETS_KEY: the development key is refused"
            );
        }
        if self.messaging.tracking_secret == DEVELOPMENT_TRACKING_SECRET
            || self.messaging.tracking_secret.len() < 32
        {
            anyhow::bail!(
                "PROMOHUB_ENV=production needs PROMOHUB_TRACKING_SECRET of at least 32 bytes"
            );
        }
        Ok(())
    }

    /// A configuration for tests and tools: development defaults, given database.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            config: Config,
        }
        let mut config = Defaults::parse_from(["promohub"]).config;
        config.database_url = database_url.into();
        config
    }

    /// Unless `PROMOHUB_PUBLIC_URL` is set, links in outgoing email point at
    /// the address the server listens on, so `--port 9000` moves them too.
    /// An unspecified address (`0.0.0.0`, `::`) is reached at loopback.
    pub fn settle_public_url(&mut self, listening: std::net::SocketAddr) {
        if self.messaging.public_url.is_some() {
            return;
        }
        let mut reachable = listening;
        if reachable.ip().is_unspecified() {
            reachable.set_ip(match reachable {
                std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        self.messaging.public_url = Some(format!("http://{reachable}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_refuses_the_development_secret() {
        let mut config = Config::for_database("sqlite::memory:");
        config.environment = Environment::Production;
        assert!(config.check_production_safety().is_err());
        config.jwt_secret = "short".into();
        assert!(config.check_production_safety().is_err());
        config.jwt_secret = "a-real-secret-that-is-long-enough-for-hs256".into();
        // Still the development keys for secrets and tracking links.
        assert!(config.check_production_safety().is_err());
        config.messaging.secrets_key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".into();
        assert!(config.check_production_safety().is_err());
        config.messaging.tracking_secret = "a-real-tracking-secret-of-32-bytes-or-more".into();
        assert!(config.check_production_safety().is_err());
        config.messaging.public_url = Some("http://track.example.com".into());
        assert!(config.check_production_safety().is_err());
        config.messaging.public_url = Some("https://track.example.com".into());
        assert!(config.check_production_safety().is_ok());
    }

    #[test]
    fn the_public_url_follows_the_listening_address_unless_set() {
        let mut config = Config::for_database("sqlite::memory:");
        config.settle_public_url("127.0.0.1:9000".parse().unwrap());
        assert_eq!(config.public_url(), "http://127.0.0.1:9000");

        let mut everywhere = Config::for_database("sqlite::memory:");
        everywhere.settle_public_url("0.0.0.0:9001".parse().unwrap());
        assert_eq!(everywhere.public_url(), "http://127.0.0.1:9001");
        let mut v6 = Config::for_database("sqlite::memory:");
        v6.settle_public_url("[::]:9002".parse().unwrap());
        assert_eq!(v6.public_url(), "http://[::1]:9002");

        let mut set = Config::for_database("sqlite::memory:");
        set.messaging.public_url = Some("https://track.example.com/".into());
        set.settle_public_url("127.0.0.1:9000".parse().unwrap());
        assert_eq!(set.public_url(), "https://track.example.com");
    }

    #[test]
    fn cors_origins_are_scheme_host_and_port() {
        assert_eq!(
            parse_origin(" https://app.example.com/ ").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            parse_origin("http://localhost:5173").unwrap(),
            "http://localhost:5173"
        );
        for bad in [
            "app.example.com",
            "ftp://x.example",
            "https://x.example/app",
            "*",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges() {
        assert_eq!(parse_proxy("10.0.0.7").unwrap().to_string(), "10.0.0.7/32");
        assert_eq!(parse_proxy(" ::1 ").unwrap().to_string(), "::1/128");
        assert_eq!(parse_proxy("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert!(parse_proxy("proxy.internal").is_err());
    }

    #[test]
    fn private_hosts_are_allowed_in_development_and_refused_in_production_unless_configured() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            config: Config,
        }
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("promohub").chain(args.iter().copied()))
                .unwrap()
                .config
        };
        assert!(parse(&[]).allow_private_hosts());
        assert!(!parse(&["--env", "production"]).allow_private_hosts());
        assert!(parse(&["--env", "production", "--allow-private-hosts"]).allow_private_hosts());
        assert!(!parse(&["--allow-private-hosts", "false"]).allow_private_hosts());
    }

    #[test]
    fn outbound_pins_are_a_name_and_an_address() {
        let pin = parse_pin(" Shop.Test.=127.0.0.1:8081 ").unwrap();
        assert_eq!(pin.name, "shop.test");
        assert_eq!(pin.addr, "127.0.0.1:8081".parse().unwrap());
        assert_eq!(
            parse_pin("v6.test=::1").unwrap().addr,
            "[::1]:0".parse().unwrap()
        );
        for bad in [
            "shop.test",
            "=127.0.0.1",
            "shop.test=localhost",
            "a/b=1.2.3.4",
        ] {
            assert!(parse_pin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn development_accepts_the_development_secret() {
        let config = Config::for_database("sqlite::memory:");
        assert!(config.check_production_safety().is_ok());
    }
}
