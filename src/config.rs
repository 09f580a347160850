//! Configuration: CLI flags with environment fallbacks and safe development defaults.
//!
//! Production (`PROMOHUB_ENV=production`) refuses to start with a development
//! secret, so a forgotten variable can never ship the demo key.

use clap::{Args, ValueEnum};

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

    /// Connections in the database pool.
    #[arg(
        long,
        env = "PROMOHUB_DB_POOL_SIZE",
        default_value_t = 10,
        global = true
    )]
    pub db_pool_size: u32,

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

    #[command(flatten)]
    pub limits: Limits,
}

/// Every request limit, each with its documented default (README, "Limits").
#[derive(Clone, Debug, Args)]
pub struct Limits {
    /// Largest HTTP request body, in bytes.
    #[arg(long, env = "PROMOHUB_BODY_LIMIT", default_value_t = 1024 * 1024, global = true)]
    pub body_bytes: usize,
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
}

impl Config {
    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }

    /// Refuses settings that are only safe on a developer's machine.
    pub fn check_production_safety(&self) -> anyhow::Result<()> {
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
        assert!(config.check_production_safety().is_ok());
    }

    #[test]
    fn development_accepts_the_development_secret() {
        let config = Config::for_database("sqlite::memory:");
        assert!(config.check_production_safety().is_ok());
    }
}
