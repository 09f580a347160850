//! GraphQL shapes of sender accounts. The password goes in and never comes
//! out: inputs take it, the account only says `hasPassword`.

use async_graphql::{Enum, ID, InputObject, MaybeUndefined, SimpleObject};
use chrono::{DateTime, Utc};

use entity::sea_orm_active_enums::{
    SenderTransport as SenderTransportModel, SmtpTlsMode as SmtpTlsModeModel,
};

use super::limiter::RateWindow;
use super::service::SenderRow;
use crate::graphql::numbers::Count;
use crate::graphql::to_id;
use crate::messaging::mailboxes::types::{
    SenderMailbox, SenderMailboxInput, UpdateSenderMailboxInput,
};

/// How the SMTP connection is secured.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTlsMode {
    /// Plain SMTP: local relays and tests only.
    None,
    /// Upgrade a plain connection (usually port 587).
    Starttls,
    /// Implicit TLS from the first byte (usually port 465).
    Tls,
}

impl From<SmtpTlsModeModel> for SmtpTlsMode {
    fn from(mode: SmtpTlsModeModel) -> Self {
        match mode {
            SmtpTlsModeModel::None => Self::None,
            SmtpTlsModeModel::Starttls => Self::Starttls,
            SmtpTlsModeModel::Tls => Self::Tls,
        }
    }
}

impl From<SmtpTlsMode> for SmtpTlsModeModel {
    fn from(mode: SmtpTlsMode) -> Self {
        match mode {
            SmtpTlsMode::None => Self::None,
            SmtpTlsMode::Starttls => Self::Starttls,
            SmtpTlsMode::Tls => Self::Tls,
        }
    }
}

/// How a sender account hands its messages over.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SenderTransport {
    /// An SMTP conversation with `host`:`port` (the default).
    Smtp,
    /// Development only: the message is stored exactly as it would have
    /// been sent, headers and tracking links included, and shown by
    /// `outboxEmails`; nothing leaves the machine. Refused in production.
    Outbox,
}

impl From<SenderTransportModel> for SenderTransport {
    fn from(transport: SenderTransportModel) -> Self {
        match transport {
            SenderTransportModel::Smtp => Self::Smtp,
            SenderTransportModel::Outbox => Self::Outbox,
        }
    }
}

impl From<SenderTransport> for SenderTransportModel {
    fn from(transport: SenderTransport) -> Self {
        match transport {
            SenderTransport::Smtp => Self::Smtp,
            SenderTransport::Outbox => Self::Outbox,
        }
    }
}

/// "At most `limit` messages in any `perSeconds` seconds": a sliding window
/// as providers state their limits (SES's 14 per second is `{ limit: 14,
/// perSeconds: 1 }`, Gmail's 2,000 a day `{ limit: 2000, perSeconds: 86400 }`).
#[derive(SimpleObject, Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendingRate {
    /// Messages allowed in any one window.
    pub limit: i32,
    /// The window's length in seconds.
    pub per_seconds: i32,
}

impl From<RateWindow> for SendingRate {
    fn from(window: RateWindow) -> Self {
        Self {
            limit: window.limit,
            per_seconds: window.per_seconds,
        }
    }
}

/// "At most `limit` messages in any `perSeconds` seconds".
#[derive(InputObject, Clone, Copy, Debug)]
pub struct SendingRateInput {
    /// 1 to 10,000,000.
    pub limit: i32,
    /// 1 to 604,800 (a week).
    pub per_seconds: i32,
}

/// An SMTP account messages are sent through. Accounts are tried in
/// failover order: higher `priority` first, then the older one.
///
/// Every limit below is exact across all workers and server processes: a
/// message takes a slot in the database before it is handed to the
/// account, and waits (its `nextAttemptAt` says until when) when no account
/// has one.
#[derive(SimpleObject)]
pub struct SenderAccount {
    pub id: ID,
    /// Unique among your accounts.
    pub name: String,
    /// Free text naming the service (`gmail`, `ses`, `sendgrid`, `custom`…).
    pub provider: String,
    pub transport: SenderTransport,
    /// Unused by `OUTBOX` accounts.
    pub host: String,
    pub port: i32,
    pub tls_mode: SmtpTlsMode,
    pub username: Option<String>,
    /// Whether a password is stored. The password itself is never returned.
    pub has_password: bool,
    pub from_email: String,
    pub from_name: Option<String>,
    pub reply_to: Option<String>,
    /// Messages per hour through this account; `null`: unlimited.
    pub hourly_limit: Option<i32>,
    /// Messages per UTC day through this account; `null`: unlimited.
    pub daily_limit: Option<i32>,
    /// The provider's rate limits, each a sliding window (besides
    /// `hourlyLimit` and `dailyLimit`); shortest window first.
    pub rate_limits: Vec<SendingRate>,
    /// The shortest random pause between two sends from this account, in
    /// milliseconds; `null`: no pause.
    pub min_delay_ms: Option<i32>,
    /// The longest random pause between two sends from this account, in
    /// milliseconds; each pause is drawn between `minDelayMs` and this.
    pub max_delay_ms: Option<i32>,
    /// At most this many messages from this account to one recipient domain
    /// (gmail.com, outlook.com…) in any window, so a campaign never sends a
    /// burst to one provider; `null`: no such throttle.
    pub domain_limit: Option<SendingRate>,
    /// The account sends nothing before this: the random pause after its
    /// last send, or the moment a full window frees a slot. `null` or past:
    /// it may send now.
    pub next_send_at: Option<DateTime<Utc>>,
    /// Why the account waits until `nextSendAt`: its pause between sends,
    /// or the limit that is reached.
    pub next_send_reason: Option<String>,
    /// The provider throttled the account (a 4xx reply such as SES's `454
    /// Throttling failure`); it rests until this moment, and the messages
    /// wait for it or go through another account.
    pub throttled_until: Option<DateTime<Utc>>,
    /// Higher is tried first.
    pub priority: i32,
    /// Inactive accounts are never used for sending.
    pub is_active: bool,
    /// Messages sent through this account, ever.
    pub total_sent: Count,
    /// Messages sent through this account in the last 60 minutes.
    pub sent_last_hour: Count,
    /// Messages sent through this account since 00:00 UTC.
    pub sent_today: Count,
    pub last_used_at: Option<DateTime<Utc>>,
    /// The last delivery failure the SMTP server reported.
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The IMAP mailbox where replies and bounce reports to this account's
    /// mail arrive; `null` when none is set up.
    pub mailbox: Option<SenderMailbox>,
}

impl From<SenderRow> for SenderAccount {
    fn from(
        SenderRow {
            account,
            usage,
            mailbox,
        }: SenderRow,
    ) -> Self {
        let rate_limits = RateWindow::of(&account)
            .into_iter()
            .map(SendingRate::from)
            .collect();
        let domain_limit = RateWindow::domain_of(&account).map(SendingRate::from);
        Self {
            id: to_id(account.id),
            name: account.name,
            provider: account.provider,
            transport: account.transport.into(),
            host: account.host,
            port: account.port,
            tls_mode: account.tls_mode.into(),
            username: account.username,
            has_password: account.password_encrypted.is_some(),
            from_email: account.from_email,
            from_name: account.from_name,
            reply_to: account.reply_to,
            hourly_limit: account.hourly_limit,
            daily_limit: account.daily_limit,
            rate_limits,
            min_delay_ms: account.min_delay_ms,
            max_delay_ms: account.max_delay_ms,
            domain_limit,
            next_send_at: account.next_send_at.map(|at| at.to_utc()),
            next_send_reason: account.next_send_reason,
            throttled_until: account.throttled_until.map(|at| at.to_utc()),
            priority: account.priority,
            is_active: account.is_active,
            total_sent: Count(account.total_sent),
            sent_last_hour: Count(usage.last_hour),
            sent_today: Count(usage.today),
            last_used_at: account.last_used_at.map(|at| at.to_utc()),
            last_error: account.last_error,
            last_error_at: account.last_error_at.map(|at| at.to_utc()),
            created_at: account.created_at.to_utc(),
            updated_at: account.updated_at.to_utc(),
            mailbox: mailbox.as_ref().map(SenderMailbox::from),
        }
    }
}

/// A new sender account. Admins only.
#[derive(InputObject)]
pub struct CreateSenderAccountInput {
    pub name: String,
    /// `custom` when omitted.
    pub provider: Option<String>,
    /// `SMTP` when omitted.
    pub transport: Option<SenderTransport>,
    /// Required for `SMTP`; `OUTBOX` accounts keep it only for show
    /// (`localhost` when omitted).
    pub host: Option<String>,
    /// 1–65535. When omitted: 587 for `STARTTLS`, 465 for `TLS`, 25 for
    /// `NONE`.
    pub port: Option<i32>,
    /// `STARTTLS` when omitted.
    pub tls_mode: Option<SmtpTlsMode>,
    pub username: Option<String>,
    /// Stored encrypted; never returned.
    pub password: Option<String>,
    pub from_email: String,
    pub from_name: Option<String>,
    pub reply_to: Option<String>,
    /// At least 0; omitted or `null`: unlimited.
    pub hourly_limit: Option<i32>,
    /// At least 0; omitted or `null`: unlimited.
    pub daily_limit: Option<i32>,
    /// The provider's rate limits (at most 10, each window length once),
    /// e.g. `[{ limit: 14, perSeconds: 1 }, { limit: 30, perSeconds: 60 }]`.
    /// Omitted: none.
    pub rate_limits: Option<Vec<SendingRateInput>>,
    /// A random pause between two sends, at least this many milliseconds
    /// (0 to 3,600,000). Omitted: no pause.
    pub min_delay_ms: Option<i32>,
    /// …and at most this many (at least `minDelayMs`; omitted: exactly
    /// `minDelayMs`).
    pub max_delay_ms: Option<i32>,
    /// At most `limit` messages to one recipient domain per `perSeconds`.
    /// Omitted: no such throttle.
    pub domain_limit: Option<SendingRateInput>,
    /// 0 when omitted; higher is tried first.
    pub priority: Option<i32>,
    /// True by default.
    pub is_active: Option<bool>,
    /// The IMAP mailbox replies arrive in, to be watched.
    pub mailbox: Option<SenderMailboxInput>,
}

/// Changes to a sender account. Absent fields stay as they are; `null`
/// clears an optional one (a `null` password removes the stored password, a
/// `null` limit makes it unlimited). Admins only.
#[derive(InputObject)]
pub struct UpdateSenderAccountInput {
    pub name: Option<String>,
    pub provider: Option<String>,
    pub transport: Option<SenderTransport>,
    pub host: Option<String>,
    pub port: Option<i32>,
    pub tls_mode: Option<SmtpTlsMode>,
    pub username: MaybeUndefined<String>,
    pub password: MaybeUndefined<String>,
    pub from_email: Option<String>,
    pub from_name: MaybeUndefined<String>,
    pub reply_to: MaybeUndefined<String>,
    pub hourly_limit: MaybeUndefined<i32>,
    pub daily_limit: MaybeUndefined<i32>,
    /// Replaces every window; `null` or `[]` removes them.
    pub rate_limits: MaybeUndefined<Vec<SendingRateInput>>,
    pub min_delay_ms: MaybeUndefined<i32>,
    pub max_delay_ms: MaybeUndefined<i32>,
    /// `null` removes the domain throttle.
    pub domain_limit: MaybeUndefined<SendingRateInput>,
    pub priority: Option<i32>,
    pub is_active: Option<bool>,
    /// Absent: the mailbox stays as it is; `null`: the mailbox is removed
    /// (no longer watched); a value: the mailbox is changed (or set up).
    pub mailbox: MaybeUndefined<UpdateSenderMailboxInput>,
}

/// What `testSenderAccount` found: the SMTP handshake's outcome. Nothing
/// is sent.
#[derive(SimpleObject)]
pub struct SenderTestResult {
    /// The server greeted, upgraded to TLS as configured and accepted the
    /// credentials (if any).
    pub ok: bool,
    /// Where it failed: `Connect`, `Greeting`, `Tls` or `Auth`; `null`
    /// when it did not.
    pub stage: Option<String>,
    /// The server's name and the extensions it announced to EHLO.
    pub server: Option<String>,
    pub encrypted: bool,
    pub authenticated: bool,
    /// What happened, in words: the server's reply (code and text) when it
    /// refused.
    pub message: String,
    pub elapsed_ms: i32,
}

impl SenderTestResult {
    /// A test that did not get through: where it stopped, and why.
    pub fn failed(stage: Option<String>, message: String, elapsed_ms: i32) -> Self {
        Self {
            ok: false,
            stage,
            server: None,
            encrypted: false,
            authenticated: false,
            message,
            elapsed_ms,
        }
    }
}
