//! The shared application state: the process-wide services every
//! resolver and handler receives, built once at startup.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::config::Config;
use crate::events::EventHub;
use crate::graphql::Schemas;
use crate::identity::auth::jwt::JwtKeys;
use crate::secrets::{SecretBox, TrackingSigner};

/// Process-wide services, reachable from every resolver.
pub struct Shared {
    pub db: DatabaseConnection,
    pub config: Config,
    /// "Now" for every time-dependent rule; tests move it.
    pub clock: crate::clock::Clock,
    pub jwt: JwtKeys,
    /// Every stored event (engagement and domain), for live subscribers.
    pub hub: EventHub,
    /// Wakes this process's job workers.
    pub jobs: crate::jobs::JobSignal,
    /// The sender mailboxes this process watches (stopped with
    /// `mailbox_watchers.stop()`).
    pub mailbox_watchers: crate::messaging::mailboxes::watcher::Watchers,
    /// Seals SMTP and IMAP passwords at rest.
    pub secrets: SecretBox,
    /// Signs open, click and unsubscribe tokens.
    pub tracking: TrackingSigner,
    /// Authenticates provider webhooks (and caches SNS certificates).
    pub webhooks: crate::messaging::webhooks::providers::WebhookVerifier,
    /// Query requests holding a read transaction, at most
    /// `Config::read_slots` at once, taken in arrival order.
    pub read_slots: tokio::sync::Semaphore,
    /// Records opens and clicks in batches.
    pub tracker: crate::messaging::tracking::TrackingWriter,
    /// Parsed GraphQL documents by their text.
    pub documents: crate::graphql::limits::DocumentCache,
    /// Hashes and verifies passwords, a bounded number at once.
    pub(crate) passwords: crate::identity::auth::passwords::PasswordHashing,
    /// Where message templates render, with their limits.
    pub(crate) render_pool: crate::messaging::templates::pool::RenderPool,
    /// The public forms' per-IP and per-form rate limits.
    pub(crate) form_limits: crate::capture::forms::http::FormLimits,
    /// Stores page views in batches.
    pub(crate) page_views: crate::capture::page_views::writer::PageViewWriter,
    /// Tracking sites by site key.
    pub(crate) sites: crate::capture::page_views::SiteCache,
    /// Visitors' country and city.
    pub(crate) geo: crate::capture::page_views::visitor::Geo,
}

/// What the HTTP handlers hold.
#[derive(Clone)]
pub struct AppState {
    pub shared: Arc<Shared>,
    pub schemas: Schemas,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
}

impl AppState {
    pub fn new(db: DatabaseConnection, config: Config) -> Self {
        let hub = EventHub::new(config.messaging.subscription_buffer);
        hub.listen(db.clone(), config.database_listen_url.clone());
        let shared = Arc::new(Shared {
            jwt: JwtKeys::new(&config),
            clock: Default::default(),
            hub: hub.clone(),
            jobs: crate::jobs::JobSignal::default(),
            mailbox_watchers: Default::default(),
            secrets: SecretBox::new(&config.messaging.secrets_key)
                .expect("PROMOHUB_SECRETS_KEY is checked at startup"),
            tracking: TrackingSigner::new(&config.messaging.tracking_secret),
            webhooks: crate::messaging::webhooks::providers::WebhookVerifier::new(
                crate::messaging::webhooks::http::settings(&config.messaging),
            ),
            read_slots: tokio::sync::Semaphore::new(config.read_slots()),
            tracker: crate::messaging::tracking::TrackingWriter::start(
                db.clone(),
                hub,
                config.messaging.machine_window_ms,
                // SQLite has one writer anyway. On PostgreSQL batches are
                // round trips more than CPU: while one writer waits for its
                // commit the others prepare theirs (they queue only for the
                // tenant's sequence row, taken last).
                if config.is_sqlite() {
                    1
                } else {
                    // Never more than a third of the pool.
                    TRACKING_WRITERS_POSTGRES.min((config.pool_size() as usize / 3).max(1))
                },
            ),
            documents: Default::default(),
            passwords: crate::identity::auth::passwords::PasswordHashing::new(
                config.limits.password_hash_concurrency(),
            ),
            render_pool: crate::messaging::templates::pool::RenderPool::new(&config),
            form_limits: crate::capture::forms::http::FormLimits::new(&config.limits),
            page_views: crate::capture::page_views::writer::PageViewWriter::start(
                db.clone(),
                if config.is_sqlite() {
                    1
                } else {
                    TRACKING_WRITERS_POSTGRES.min((config.pool_size() as usize / 3).max(1))
                },
            ),
            sites: Default::default(),
            geo: crate::capture::page_views::visitor::Geo::new(&config.capture)
                .expect("PROMOHUB_GEO_MMDB is checked at startup"),
            db,
            config,
        });
        Self {
            schemas: Schemas::build(shared.clone()),
            shared,
            metrics: crate::telemetry::metrics_handle(),
        }
    }
}

/// Concurrent tracking writers on PostgreSQL, each with a pooled connection.
const TRACKING_WRITERS_POSTGRES: usize = 4;
