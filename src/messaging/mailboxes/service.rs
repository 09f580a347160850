//! Mailbox settings: validated and written with their sender account
//! (`createSenderAccount` / `updateSenderAccount` carry them, in the same
//! transaction), read with it, and tested on demand.
//!
//! The password is sealed like the SMTP password (AES-256-GCM under the
//! server's key) but with associated data of its own,
//! `imap-mailbox:` + the account id: a sealed value copied from another
//! account, or the account's own SMTP password copied into this slot, does
//! not open.
//!
//! Every change also writes the shared `mailbox_watches` row (as
//! `promohub_system`, in the same transaction) that tells the watchers
//! whether to watch the mailbox, so an enabled mailbox is picked up without
//! a restart and a disabled or deleted one is let go.

use std::collections::HashMap;

use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    IntoActiveModel, QueryFilter, Set,
};
use uuid::Uuid;

use entity::sea_orm_active_enums::SmtpTlsMode;
use entity::{mailbox_watches, sender_accounts, sender_mailboxes};

use super::imap::{self, MailboxAccess, Security};
use super::types::{MailboxTestResult, SenderMailboxInput, UpdateSenderMailboxInput};
use crate::error::{AppError, AppResult};
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{as_system, begin, find_live, tenant_delete, tenant_rows};

const MAX_PASSWORD_CHARS: usize = 1_024;
const MAX_FOLDER_CHARS: usize = 200;

/// The associated data the password is sealed with: this account, this
/// slot.
fn context(sender_id: Uuid) -> Vec<u8> {
    [b"imap-mailbox:".as_slice(), sender_id.as_bytes()].concat()
}

/// The mailbox password, opened; fails when sealed under another key, for
/// another account or for another slot.
pub(crate) fn password(
    shared: &Shared,
    mailbox: &sender_mailboxes::Model,
) -> anyhow::Result<String> {
    shared
        .secrets
        .open(&mailbox.password_encrypted, &context(mailbox.sender_id))
}

/// How to reach the mailbox, with its password opened; the error says why
/// it cannot be used.
pub(crate) fn access(
    shared: &Shared,
    mailbox: &sender_mailboxes::Model,
) -> Result<MailboxAccess, String> {
    let password = password(shared, mailbox).map_err(|_| {
        "the mailbox password does not decrypt with the configured key for this account".to_owned()
    })?;
    Ok(MailboxAccess {
        host: mailbox.host.clone(),
        port: u16::try_from(mailbox.port).unwrap_or(993),
        security: match mailbox.tls_mode {
            SmtpTlsMode::None => Security::None,
            SmtpTlsMode::Starttls => Security::StartTls,
            SmtpTlsMode::Tls => Security::Tls,
        },
        username: mailbox.username.clone(),
        password,
        folder: mailbox.folder.clone(),
        timeout: std::time::Duration::from_secs(shared.config.messaging.imap_timeout_secs.max(1)),
        allow_private: shared.config.allow_private_hosts(),
    })
}

fn field(name: &str) -> String {
    format!("input.mailbox.{name}")
}

fn sealed(shared: &Shared, sender_id: Uuid, password: &str) -> AppResult<String> {
    let name = field("password");
    if password.is_empty() {
        return Err(AppError::invalid(name, "must not be empty"));
    }
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(AppError::invalid(
            name,
            format!("must be at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    // IMAP LOGIN sends it as a quoted string: no line breaks.
    if password.chars().any(char::is_control) {
        return Err(AppError::invalid(
            name,
            "must not contain line breaks or control characters",
        ));
    }
    Ok(shared.secrets.seal(password, &context(sender_id)))
}

fn username(value: &str) -> AppResult<String> {
    let name = field("username");
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 320 {
        return Err(AppError::invalid(name, "must be 1 to 320 characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(AppError::invalid(
            name,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

fn folder(value: Option<String>) -> AppResult<String> {
    let value = value.map(|v| v.trim().to_owned()).unwrap_or_default();
    if value.is_empty() {
        return Ok("INBOX".to_owned());
    }
    if value.chars().count() > MAX_FOLDER_CHARS || value.chars().any(char::is_control) {
        return Err(AppError::invalid(
            field("folder"),
            format!("must be at most {MAX_FOLDER_CHARS} characters, without control characters"),
        ));
    }
    Ok(value)
}

fn port(value: i32) -> AppResult<i32> {
    if (1..=65_535).contains(&value) {
        Ok(value)
    } else {
        Err(AppError::invalid(
            field("port"),
            "must be between 1 and 65535",
        ))
    }
}

fn default_port(mode: SmtpTlsMode) -> i32 {
    match mode {
        SmtpTlsMode::Tls => 993,
        SmtpTlsMode::Starttls | SmtpTlsMode::None => 143,
    }
}

/// A host outbound connections may go to (the SMTP host's rules).
async fn host(shared: &Shared, raw: &str) -> AppResult<String> {
    crate::messaging::senders::allowed_host(shared, raw, &field("host")).await
}

/// A validated mailbox to write: what `create` and `update` of the sender
/// account prepare before their transaction (the host check may wait on
/// DNS) and apply inside it.
pub(crate) enum Change {
    Keep,
    Remove,
    Create(Box<sender_mailboxes::ActiveModel>),
    Update(
        Box<UpdateSenderMailboxInput>,
        Option<String>,
        Option<String>,
    ),
}

/// Validates a new mailbox for account `sender_id`.
pub(crate) async fn prepare_create(
    shared: &Shared,
    ctx: &RequestCtx,
    sender_id: Uuid,
    input: SenderMailboxInput,
) -> AppResult<Change> {
    let tls_mode = input.tls_mode.map_or(SmtpTlsMode::Tls, SmtpTlsMode::from);
    let now = Utc::now().fixed_offset();
    Ok(Change::Create(Box::new(sender_mailboxes::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        sender_id: Set(sender_id),
        host: Set(host(shared, &input.host).await?),
        port: Set(match input.port {
            Some(value) => port(value)?,
            None => default_port(tls_mode),
        }),
        tls_mode: Set(tls_mode),
        username: Set(username(&input.username)?),
        password_encrypted: Set(sealed(shared, sender_id, &input.password)?),
        folder: Set(folder(input.folder)?),
        enabled: Set(input.enabled.unwrap_or(true)),
        uid_validity: Set(None),
        last_uid: Set(0),
        supports_idle: Set(None),
        last_checked_at: Set(None),
        last_error: Set(None),
        last_error_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })))
}

/// Validates changes to account `sender_id`'s mailbox (created when it has
/// none, from these fields).
pub(crate) async fn prepare_update(
    shared: &Shared,
    sender_id: Uuid,
    input: UpdateSenderMailboxInput,
) -> AppResult<Change> {
    let checked_host = match &input.host {
        Some(raw) => Some(host(shared, raw).await?),
        None => None,
    };
    let sealed_password = input
        .password
        .as_deref()
        .map(|p| sealed(shared, sender_id, p))
        .transpose()?;
    Ok(Change::Update(
        Box::new(input),
        checked_host,
        sealed_password,
    ))
}

/// Writes `change` for (live) account `sender_id` in `txn` (bound to the
/// caller's tenant), with the watch row. Returns the mailbox as it now is.
pub(crate) async fn apply(
    txn: &DatabaseTransaction,
    ctx: &RequestCtx,
    sender_id: Uuid,
    change: Change,
) -> AppResult<Option<sender_mailboxes::Model>> {
    let existing = find(txn, ctx.tenant_id, sender_id).await?;
    let mailbox = match (change, existing) {
        (Change::Keep, existing) => return Ok(existing),
        (Change::Remove, None) => return Ok(None),
        (Change::Remove, Some(_)) => {
            tenant_delete::<sender_mailboxes::Entity>(ctx.tenant_id)
                .filter(sender_mailboxes::Column::SenderId.eq(sender_id))
                .exec(txn)
                .await?;
            as_system(txn, async {
                mailbox_watches::Entity::delete_many()
                    .filter(mailbox_watches::Column::TenantId.eq(ctx.tenant_id))
                    .filter(mailbox_watches::Column::SenderId.eq(sender_id))
                    .exec(txn)
                    .await?;
                Ok(())
            })
            .await?;
            return Ok(None);
        }
        (Change::Create(model), None) => model.insert(txn).await?,
        (Change::Create(model), Some(existing)) => {
            // A new mailbox replaces the old one whole; its watch state
            // starts over.
            let mut model = *model;
            model.created_at = Set(existing.created_at);
            model.update(txn).await?
        }
        (Change::Update(input, checked_host, sealed_password), None) => {
            let missing =
                |name: &str| AppError::invalid(field(name), "is required for a new mailbox");
            let tls_mode = input.tls_mode.map_or(SmtpTlsMode::Tls, SmtpTlsMode::from);
            let now = Utc::now().fixed_offset();
            sender_mailboxes::ActiveModel {
                tenant_id: Set(ctx.tenant_id),
                sender_id: Set(sender_id),
                host: Set(checked_host.ok_or_else(|| missing("host"))?),
                port: Set(match input.port {
                    Some(value) => port(value)?,
                    None => default_port(tls_mode),
                }),
                tls_mode: Set(tls_mode),
                username: Set(username(
                    input
                        .username
                        .as_deref()
                        .ok_or_else(|| missing("username"))?,
                )?),
                password_encrypted: Set(sealed_password.ok_or_else(|| missing("password"))?),
                folder: Set(folder(input.folder)?),
                enabled: Set(input.enabled.unwrap_or(true)),
                uid_validity: Set(None),
                last_uid: Set(0),
                supports_idle: Set(None),
                last_checked_at: Set(None),
                last_error: Set(None),
                last_error_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(txn)
            .await?
        }
        (Change::Update(input, checked_host, sealed_password), Some(existing)) => {
            let input = *input;
            let folder_changed = input.folder.is_some();
            let mut mailbox = existing.into_active_model();
            if let Some(host) = checked_host {
                mailbox.host = Set(host);
            }
            if let Some(value) = input.port {
                mailbox.port = Set(port(value)?);
            }
            if let Some(mode) = input.tls_mode {
                mailbox.tls_mode = Set(mode.into());
            }
            if let Some(value) = &input.username {
                mailbox.username = Set(username(value)?);
            }
            if let Some(sealed) = sealed_password {
                mailbox.password_encrypted = Set(sealed);
            }
            if folder_changed {
                mailbox.folder = Set(folder(input.folder)?);
                // Another folder has UIDs of its own.
                mailbox.uid_validity = Set(None);
                mailbox.last_uid = Set(0);
            }
            if let Some(enabled) = input.enabled {
                mailbox.enabled = Set(enabled);
            }
            mailbox.last_error = Set(None);
            mailbox.last_error_at = Set(None);
            mailbox.updated_at = Set(Utc::now().fixed_offset());
            mailbox.update(txn).await?
        }
    };
    watch(txn, ctx.tenant_id, sender_id, mailbox.enabled).await?;
    Ok(Some(mailbox))
}

/// Sets whether the watchers watch the mailbox (the shared row; as the
/// system role). A no-op for an account without a mailbox.
pub(crate) async fn watch(
    txn: &DatabaseTransaction,
    tenant_id: Uuid,
    sender_id: Uuid,
    watched: bool,
) -> AppResult<()> {
    as_system(txn, async {
        mailbox_watches::Entity::insert(mailbox_watches::ActiveModel {
            tenant_id: Set(tenant_id),
            sender_id: Set(sender_id),
            watched: Set(watched),
            locked_by: Set(None),
            locked_until: Set(None),
            created_at: Set(Utc::now().fixed_offset()),
        })
        .on_conflict(
            OnConflict::columns([
                mailbox_watches::Column::TenantId,
                mailbox_watches::Column::SenderId,
            ])
            .update_column(mailbox_watches::Column::Watched)
            .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
        Ok(())
    })
    .await
}

/// Account `sender_id`'s mailbox, if it has one.
pub(crate) async fn find(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    sender_id: Uuid,
) -> AppResult<Option<sender_mailboxes::Model>> {
    Ok(tenant_rows::<sender_mailboxes::Entity>(tenant_id)
        .filter(sender_mailboxes::Column::SenderId.eq(sender_id))
        .one(conn)
        .await?)
}

/// The mailboxes of these accounts, by account id (one statement).
pub(crate) async fn of_accounts(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    ids: &[Uuid],
) -> AppResult<HashMap<Uuid, sender_mailboxes::Model>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(tenant_rows::<sender_mailboxes::Entity>(tenant_id)
        .filter(sender_mailboxes::Column::SenderId.is_in(ids.iter().copied()))
        .all(conn)
        .await?
        .into_iter()
        .map(|mailbox| (mailbox.sender_id, mailbox))
        .collect())
}

/// Runs the IMAP conversation with the account's mailbox (connect, TLS,
/// greeting, LOGIN, SELECT; nothing is read) and says how it went. A
/// failure is an answer, not an error. Admins only: it uses the stored
/// credentials.
pub(crate) async fn test(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<MailboxTestResult> {
    ctx.require_admin()?;
    let txn = begin(&shared.db, ctx).await?;
    find_live::<sender_accounts::Entity>(&txn, ctx, id).await?;
    let mailbox = find(&txn, ctx.tenant_id, id).await?;
    txn.commit().await?;
    let Some(mailbox) = mailbox else {
        return Err(AppError::invalid(
            "id",
            "this sender account has no mailbox",
        ));
    };
    let failed = |stage: Option<&str>, message: String, elapsed_ms: i32| MailboxTestResult {
        ok: false,
        stage: stage.map(str::to_owned),
        server: None,
        encrypted: false,
        supports_idle: false,
        messages: None,
        message,
        elapsed_ms,
    };
    let access = match access(shared, &mailbox) {
        Ok(access) => access,
        Err(problem) => return Ok(failed(Some("Auth"), problem, 0)),
    };
    let started = std::time::Instant::now();
    let outcome = imap::open(&access).await;
    let elapsed_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    Ok(match outcome {
        Ok(connection) => {
            let selected = connection.selected.clone();
            connection.logout().await;
            MailboxTestResult {
                ok: true,
                stage: None,
                message: format!(
                    "connected to {}:{}{}, logged in, selected {} ({} messages){}",
                    mailbox.host,
                    mailbox.port,
                    if selected.encrypted {
                        ", encrypted"
                    } else {
                        ", not encrypted"
                    },
                    mailbox.folder,
                    selected.exists,
                    if selected.supports_idle {
                        "; IDLE supported"
                    } else {
                        "; no IDLE: the mailbox is polled"
                    },
                ),
                server: Some(selected.server),
                encrypted: selected.encrypted,
                supports_idle: selected.supports_idle,
                messages: i32::try_from(selected.exists).ok(),
                elapsed_ms,
            }
        }
        Err(failure) => failed(
            Some(&format!("{:?}", failure.stage)),
            failure.message,
            elapsed_ms,
        ),
    })
}
