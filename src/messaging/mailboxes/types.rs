//! GraphQL shapes of a sender's mailbox. The password goes in and never
//! comes out, as for the SMTP password.

use async_graphql::{Enum, InputObject, SimpleObject};
use chrono::{DateTime, Utc};

use entity::sea_orm_active_enums::SmtpTlsMode as TlsModeModel;
use entity::sender_mailboxes;

/// How the IMAP connection is secured.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailboxTlsMode {
    /// Plain IMAP: local servers and tests only.
    None,
    /// Upgrade a plain connection (usually port 143).
    Starttls,
    /// Implicit TLS from the first byte (usually port 993).
    Tls,
}

impl From<TlsModeModel> for MailboxTlsMode {
    fn from(mode: TlsModeModel) -> Self {
        match mode {
            TlsModeModel::None => Self::None,
            TlsModeModel::Starttls => Self::Starttls,
            TlsModeModel::Tls => Self::Tls,
        }
    }
}

impl From<MailboxTlsMode> for TlsModeModel {
    fn from(mode: MailboxTlsMode) -> Self {
        match mode {
            MailboxTlsMode::None => Self::None,
            MailboxTlsMode::Starttls => Self::Starttls,
            MailboxTlsMode::Tls => Self::Tls,
        }
    }
}

/// The IMAP mailbox where replies and bounce reports to this account's mail
/// arrive. PromoHub watches it (IDLE where the server offers it, polling
/// otherwise), records replies (`REPLIED`), automatic answers such as
/// out-of-office notices (`AUTO_REPLIED`, which change nothing) and bounce
/// reports (`BOUNCED`; a permanent one suppresses the address), and leaves
/// every other mail alone. Mail is read without being marked seen.
#[derive(SimpleObject, Clone)]
pub struct SenderMailbox {
    /// The IMAP server's host name or address.
    pub host: String,
    /// The IMAP server's port.
    pub port: i32,
    /// How the connection is secured.
    pub tls_mode: MailboxTlsMode,
    /// The IMAP login.
    pub username: String,
    /// Whether a password is stored. The password itself is never returned.
    pub has_password: bool,
    /// The folder watched (`INBOX` by default).
    pub folder: String,
    /// Disabled mailboxes are not watched.
    pub enabled: bool,
    /// Whether the server offered IDLE at the last connection (`null`:
    /// not connected yet). Without it the mailbox is polled.
    pub supports_idle: Option<bool>,
    /// When new mail was last looked for.
    pub last_checked_at: Option<DateTime<Utc>>,
    /// Why the last connection or check failed; `null` once one succeeds.
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

impl From<&sender_mailboxes::Model> for SenderMailbox {
    fn from(mailbox: &sender_mailboxes::Model) -> Self {
        Self {
            host: mailbox.host.clone(),
            port: mailbox.port,
            tls_mode: mailbox.tls_mode.into(),
            username: mailbox.username.clone(),
            has_password: !mailbox.password_encrypted.is_empty(),
            folder: mailbox.folder.clone(),
            enabled: mailbox.enabled,
            supports_idle: mailbox.supports_idle,
            last_checked_at: mailbox.last_checked_at.map(|at| at.to_utc()),
            last_error: mailbox.last_error.clone(),
            last_error_at: mailbox.last_error_at.map(|at| at.to_utc()),
        }
    }
}

/// The mailbox of a sender account. Admins only (it holds credentials).
#[derive(InputObject)]
pub struct SenderMailboxInput {
    /// The IMAP server. Loopback and private addresses are refused unless
    /// the server is configured to allow them.
    pub host: String,
    /// 1–65535. When omitted: 993 for `TLS`, 143 otherwise.
    pub port: Option<i32>,
    /// `TLS` when omitted.
    pub tls_mode: Option<MailboxTlsMode>,
    /// The IMAP login.
    pub username: String,
    /// Stored encrypted; never returned.
    pub password: String,
    /// `INBOX` when omitted.
    pub folder: Option<String>,
    /// True by default.
    pub enabled: Option<bool>,
}

/// Changes to a sender account's mailbox: absent fields stay as they are.
/// On an account without a mailbox this creates one, and then `host`,
/// `username` and `password` are required. Admins only.
#[derive(InputObject)]
pub struct UpdateSenderMailboxInput {
    /// The IMAP server (the same host rules as on creation).
    pub host: Option<String>,
    /// 1–65535.
    pub port: Option<i32>,
    /// How the connection is secured.
    pub tls_mode: Option<MailboxTlsMode>,
    /// The IMAP login.
    pub username: Option<String>,
    /// Replaces the stored password (stored encrypted; never returned).
    pub password: Option<String>,
    /// Another folder has UIDs of its own: it is read as a new mailbox is,
    /// from the mail of the day before the mailbox was set up.
    pub folder: Option<String>,
    /// A disabled mailbox is let go by its watcher; enabling it again
    /// resumes where it stopped.
    pub enabled: Option<bool>,
}

/// What `testSenderMailbox` found: the IMAP conversation's outcome
/// (connect, TLS, greeting, LOGIN, SELECT; nothing is read or changed).
#[derive(SimpleObject)]
pub(crate) struct MailboxTestResult {
    /// Connected, secured as configured, logged in and selected the folder.
    pub ok: bool,
    /// Where it failed: `Connect`, `Tls`, `Greeting`, `Auth` or `Select`;
    /// `null` when it did not.
    pub stage: Option<String>,
    /// The server's greeting.
    pub server: Option<String>,
    /// Whether the connection was encrypted (TLS or STARTTLS).
    pub encrypted: bool,
    /// Whether the server offers IDLE (new mail is then seen at once).
    pub supports_idle: bool,
    /// Messages in the folder.
    pub messages: Option<i32>,
    /// What happened, in words: the server's answer when it refused.
    pub message: String,
    /// How long the conversation took.
    pub elapsed_ms: i32,
}
