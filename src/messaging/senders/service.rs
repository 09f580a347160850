//! Sender accounts: SMTP servers and credentials with limits and a failover
//! order. Only admins write them (they hold credentials); every member reads
//! them, without the password. The password is stored only sealed
//! (AES-256-GCM under the server's key) with the account id as associated
//! data, so a sealed value copied onto another account or tenant does not
//! open.
//!
//! Recent usage (`sentLastHour`, `sentToday`) is counted from
//! `messages.sent_at`, which the `(tenant_id, sender_id, sent_at)` index
//! serves, rather than kept in counters: counters need a reset job and drift
//! when a send is retried, the messages are the truth. The limits themselves
//! (hourly, daily, the provider's windows, the pause between sends, the
//! per-domain throttle) are enforced when a message takes a slot, by the
//! shared limiter in [`super::limiter`].

use std::collections::HashMap;

use async_graphql::MaybeUndefined;
use chrono::{DateTime, Duration, FixedOffset, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QuerySelect, Set,
};
use uuid::Uuid;

use entity::sea_orm_active_enums::{SenderTransport, SmtpTlsMode};
use entity::{messages, sender_accounts, sender_mailboxes};

use super::host::smtp_host;
use super::limiter::{RateWindow, delay_range};
use super::types::{
    self, CreateSenderAccountInput, SenderTestResult, SendingRateInput, UpdateSenderAccountInput,
};
use crate::domain::{EmailAddress, optional_text, required_text};
use crate::error::on_unique;
use crate::error::{AppError, AppResult};
use crate::graphql::keyset::{KeyOrder, KeyValue, SortKey, page_by_keys};
use crate::graphql::pagination::{Page, PageArgs, Totals};
use crate::messaging::mailboxes::service as mailboxes;
use crate::messaging::smtp::{SmtpAccount, TlsMode};
use crate::secrets::SecretBox;
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{
    begin, begin_write, ensure_live_name_free, find_live, live, soft_delete, tenant_rows,
    tenant_update,
};

const DUPLICATE_NAME: &str = "a sender account with this name already exists";
const MAX_NAME_CHARS: usize = 200;
const MAX_PASSWORD_CHARS: usize = 1_024;
/// SMTP replies can be long; the last error is for a person to read.
const MAX_ERROR_CHARS: usize = 1_000;

/// What an account sent recently.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// In the last 60 minutes.
    pub last_hour: i64,
    /// Since 00:00 UTC.
    pub today: i64,
}

/// An account with its recent usage and its mailbox: what the API shows.
pub struct SenderRow {
    pub account: sender_accounts::Model,
    pub usage: Usage,
    pub mailbox: Option<sender_mailboxes::Model>,
}

/// An account the delivery worker may send through, in failover order;
/// whether it may send now is the limiter's answer.
#[derive(Clone, Debug)]
pub struct SenderCandidate {
    /// Includes the sealed password (`password_encrypted`) and the limits.
    pub account: sender_accounts::Model,
}

/// The SMTP password, opened with the server's key; `None` when the account
/// has none. Fails when the value was sealed under another key or for
/// another account.
fn password(
    account: &sender_accounts::Model,
    secrets: &SecretBox,
) -> anyhow::Result<Option<String>> {
    account
        .password_encrypted
        .as_deref()
        .map(|sealed| secrets.open(sealed, account.id.as_bytes()))
        .transpose()
}

impl SenderCandidate {
    /// The account's SMTP password, opened (see [`password`]).
    pub fn password(&self, secrets: &SecretBox) -> anyhow::Result<Option<String>> {
        password(&self.account, secrets)
    }
}

/// How to reach the account's SMTP server, with its password opened. The
/// error says why the account cannot be used.
pub fn smtp_account(
    shared: &Shared,
    account: &sender_accounts::Model,
) -> Result<SmtpAccount, String> {
    let password = password(account, &shared.secrets).map_err(|_| {
        format!(
            "the password of sender account {:?} does not decrypt with the configured key",
            account.name
        )
    })?;
    Ok(SmtpAccount {
        host: account.host.clone(),
        port: account.port as u16,
        tls: match account.tls_mode {
            SmtpTlsMode::None => TlsMode::None,
            SmtpTlsMode::Starttls => TlsMode::StartTls,
            SmtpTlsMode::Tls => TlsMode::Tls,
        },
        username: account.username.clone(),
        password,
        timeout: std::time::Duration::from_secs(shared.config.messaging.smtp_timeout_secs),
        hello_name: shared.config.messaging.mail_domain.clone(),
        allow_private: shared.config.allow_private_hosts(),
    })
}

/// Runs the SMTP handshake with the account's server (connect, EHLO,
/// STARTTLS or TLS, AUTH; nothing is sent) and says how it went. A failure
/// is an answer, not an error: it is what the user asked to see. Admins
/// only: it uses the stored credentials.
pub async fn test(shared: &Shared, ctx: &RequestCtx, id: Uuid) -> AppResult<SenderTestResult> {
    ctx.require_admin()?;
    let txn = begin(&shared.db, ctx).await?;
    let account = find_live::<sender_accounts::Entity>(&txn, ctx, id).await?;
    txn.commit().await?;
    if account.transport == SenderTransport::Outbox {
        return Ok(SenderTestResult {
            ok: !shared.config.is_production(),
            stage: None,
            server: None,
            encrypted: false,
            authenticated: false,
            message: if shared.config.is_production() {
                "the development outbox is not used in production".to_owned()
            } else {
                "the development outbox stores messages instead of sending them: \
                 nothing to connect to (read them with outboxEmails)"
                    .to_owned()
            },
            elapsed_ms: 0,
        });
    }
    let started = std::time::Instant::now();
    let smtp = match smtp_account(shared, &account) {
        Ok(smtp) => smtp,
        Err(problem) => {
            return Ok(SenderTestResult::failed(
                Some("Auth".to_owned()),
                problem,
                0,
            ));
        }
    };
    let outcome = crate::messaging::smtp::handshake(&smtp).await;
    let elapsed_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    Ok(match outcome {
        Ok(handshake) => SenderTestResult {
            ok: true,
            stage: None,
            message: format!(
                "connected to {}:{}{}{}",
                account.host,
                account.port,
                if handshake.encrypted {
                    ", encrypted"
                } else {
                    ", not encrypted"
                },
                if handshake.authenticated {
                    ", authenticated"
                } else {
                    ""
                },
            ),
            server: Some(handshake.server),
            encrypted: handshake.encrypted,
            authenticated: handshake.authenticated,
            elapsed_ms,
        },
        Err(failure) => SenderTestResult::failed(
            Some(format!("{:?}", failure.stage)),
            match failure.code {
                Some(code) => format!("{code} {}", failure.message),
                None => failure.message.clone(),
            },
            elapsed_ms,
        ),
    })
}

/// 00:00 UTC of `now`'s day: where "today" starts for sending limits and the
/// tenant's daily cap.
pub fn start_of_utc_day(now: DateTime<Utc>) -> DateTime<Utc> {
    now.date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
}

/// The starts of the two windows the limits count in.
struct Windows {
    hour_ago: DateTime<Utc>,
    midnight: DateTime<Utc>,
}

impl Windows {
    fn at(now: DateTime<Utc>) -> Self {
        Self {
            hour_ago: now - Duration::hours(1),
            midnight: start_of_utc_day(now),
        }
    }
}

fn at(time: DateTime<Utc>) -> DateTime<FixedOffset> {
    time.fixed_offset()
}

/// Messages of the tenant. `messages` is not in the `tenant_owned!` list
/// yet (the messaging feature adds it), so the tenant filter is spelled out.
fn tenant_messages(tenant_id: Uuid) -> sea_orm::Select<messages::Entity> {
    tenant_rows::<messages::Entity>(tenant_id)
}

/// How many messages `sender_id` sent at or after `since`.
pub async fn sent_since(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    sender_id: Uuid,
    since: DateTime<Utc>,
) -> AppResult<i64> {
    let count = tenant_messages(ctx.tenant_id)
        .filter(messages::Column::SenderId.eq(sender_id))
        .filter(messages::Column::SentAt.gte(at(since)))
        .count(conn)
        .await?;
    Ok(i64::try_from(count).unwrap_or(i64::MAX))
}

/// One account's usage (two index range counts).
async fn usage(conn: &impl ConnectionTrait, ctx: &RequestCtx, sender_id: Uuid) -> AppResult<Usage> {
    let windows = Windows::at(Utc::now());
    Ok(Usage {
        last_hour: sent_since(conn, ctx, sender_id, windows.hour_ago).await?,
        today: sent_since(conn, ctx, sender_id, windows.midnight).await?,
    })
}

/// The usage of many accounts in one grouped query; accounts that sent
/// nothing are absent from the map.
pub(crate) async fn usage_of(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> AppResult<HashMap<Uuid, Usage>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let windows = Windows::at(now);
    // Just after midnight the last hour reaches into yesterday; read from
    // whichever window starts earlier and count each window separately.
    let start = Ord::min(windows.hour_ago, windows.midnight);
    let sent_at = || Expr::col((messages::Entity, messages::Column::SentAt));
    let counted = |since: DateTime<Utc>| {
        Expr::expr(Func::count(Expr::expr(Expr::case(
            sent_at().gte(at(since)),
            Expr::val(1),
        ))))
    };
    let rows: Vec<(Option<Uuid>, i64, i64)> = tenant_messages(tenant_id)
        .select_only()
        .column(messages::Column::SenderId)
        .expr(counted(windows.hour_ago))
        .expr(counted(windows.midnight))
        .filter(messages::Column::SenderId.is_in(ids.iter().copied()))
        .filter(messages::Column::SentAt.gte(at(start)))
        .group_by(messages::Column::SenderId)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, last_hour, today)| Some((id?, Usage { last_hour, today })))
        .collect())
}

/// The failover order: higher priority first, then the older account.
pub fn failover_order() -> KeyOrder<sender_accounts::Model> {
    use sender_accounts::Column;
    KeyOrder(vec![
        SortKey::descending(Expr::col(Column::Priority), KeyValue::Int(0), |account| {
            KeyValue::Int(account.priority.into())
        }),
        SortKey::ascending(
            Expr::col(Column::Id),
            KeyValue::Id(Uuid::nil()),
            |account| KeyValue::Id(account.id),
        ),
    ])
}

/// One page of live accounts in failover order, with their usage.
pub async fn list(
    shared: &Shared,
    ctx: &RequestCtx,
    args: &PageArgs,
) -> AppResult<(Page<SenderRow>, Totals)> {
    let select = live::<sender_accounts::Entity>(ctx);
    let txn = begin(&shared.db, ctx).await?;
    let page = page_by_keys(
        &txn,
        select.clone(),
        &failover_order(),
        args,
        shared.config.limits.page_size,
    )
    .await?;
    let ids: Vec<Uuid> = page.rows.iter().map(|account| account.id).collect();
    let usage = usage_of(&txn, ctx.tenant_id, &ids, Utc::now()).await?;
    let mut mailboxes = mailboxes::of_accounts(&txn, ctx.tenant_id, &ids).await?;
    txn.commit().await?;
    let page = page.map(|account| SenderRow {
        usage: usage.get(&account.id).copied().unwrap_or_default(),
        mailbox: mailboxes.remove(&account.id),
        account,
    });
    Ok((page, Totals::counting(&shared.db, ctx, select)))
}

pub async fn get(shared: &Shared, ctx: &RequestCtx, id: Uuid) -> AppResult<SenderRow> {
    let txn = begin(&shared.db, ctx).await?;
    let account = find_live::<sender_accounts::Entity>(&txn, ctx, id).await?;
    let usage = usage(&txn, ctx, id).await?;
    let mailbox = mailboxes::find(&txn, ctx.tenant_id, id).await?;
    txn.commit().await?;
    Ok(SenderRow {
        account,
        usage,
        mailbox,
    })
}

/// Refuses a name another live account has, ignoring case.
async fn ensure_name_free(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    name: &str,
    except: Option<Uuid>,
) -> AppResult<()> {
    ensure_live_name_free::<sender_accounts::Entity>(
        conn,
        ctx,
        sender_accounts::Column::Name,
        name,
        except,
        "another sender account already has this name",
    )
    .await
}

fn port(value: i32, field: &str) -> AppResult<i32> {
    if (1..=65_535).contains(&value) {
        Ok(value)
    } else {
        Err(AppError::invalid(field, "must be between 1 and 65535"))
    }
}

/// The usual port of each way of securing SMTP.
fn default_port(tls_mode: SmtpTlsMode) -> i32 {
    match tls_mode {
        SmtpTlsMode::Starttls => 587,
        SmtpTlsMode::Tls => 465,
        SmtpTlsMode::None => 25,
    }
}

/// SMTP unless asked; the development outbox only outside production, where
/// a message that "sends" without leaving the machine would be lost.
fn transport(
    shared: &Shared,
    requested: Option<types::SenderTransport>,
    field: &str,
) -> AppResult<SenderTransport> {
    let transport = requested.map_or(SenderTransport::Smtp, SenderTransport::from);
    if transport == SenderTransport::Outbox && shared.config.is_production() {
        return Err(AppError::invalid(
            field,
            "the development outbox stores messages instead of sending them and is not available in production; use SMTP",
        ));
    }
    Ok(transport)
}

fn limit(value: Option<i32>, field: &str) -> AppResult<Option<i32>> {
    match value {
        Some(n) if n < 0 => Err(AppError::invalid(
            field,
            "must be at least 0 (null: unlimited)",
        )),
        other => Ok(other),
    }
}

/// Windows from the API: `null` and `[]` are none.
fn rate_limits(value: Option<Vec<SendingRateInput>>) -> AppResult<serde_json::Value> {
    let pairs: Vec<(i32, i32)> = value
        .unwrap_or_default()
        .iter()
        .map(|w| (w.limit, w.per_seconds))
        .collect();
    let windows = RateWindow::parse_all(&pairs, "input.rateLimits")?;
    Ok(serde_json::to_value(windows).expect("windows serialise"))
}

/// The per-domain throttle from the API, as its two columns.
fn domain_limit(value: Option<SendingRateInput>) -> AppResult<(Option<i32>, Option<i32>)> {
    Ok(match value {
        Some(w) => {
            let w = RateWindow::parse(w.limit, w.per_seconds, "input.domainLimit")?;
            (Some(w.limit), Some(w.per_seconds))
        }
        None => (None, None),
    })
}

const MIN_DELAY: &str = "input.minDelayMs";
const MAX_DELAY: &str = "input.maxDelayMs";

fn provider(value: Option<String>) -> AppResult<String> {
    Ok(optional_text(value, "input.provider", 100)?.unwrap_or_else(|| "custom".to_owned()))
}

/// A display name that ends up in a `From:` header: no line breaks, which
/// would let one header smuggle in others.
fn from_name(value: Option<String>) -> AppResult<Option<String>> {
    let value = optional_text(value, "input.fromName", MAX_NAME_CHARS)?;
    if value
        .as_deref()
        .is_some_and(|v| v.chars().any(char::is_control))
    {
        return Err(AppError::invalid(
            "input.fromName",
            "must not contain line breaks or control characters",
        ));
    }
    Ok(value)
}

fn optional_email(value: Option<String>, field: &str) -> AppResult<Option<String>> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(email) => Ok(Some(EmailAddress::parse(email, field)?.into_inner())),
    }
}

/// A well-formed host that outbound connections may go to: with private
/// hosts not allowed, one that is or resolves to a loopback, private or
/// link-local address is refused here, naming the field (the delivery
/// checks again when it connects, as DNS can change).
pub(crate) async fn allowed_host(shared: &Shared, raw: &str, field: &str) -> AppResult<String> {
    let host = smtp_host(raw, field)?;
    crate::outbound::check_host(&host, shared.config.allow_private_hosts())
        .await
        .map_err(|refused| AppError::invalid(field, refused.0))?;
    Ok(host)
}

/// Seals a new password for account `id`. Passwords are taken as given
/// (spaces may belong to them) but must not be empty or contain line breaks,
/// which no SMTP AUTH exchange can carry.
fn sealed_password(shared: &Shared, id: Uuid, password: &str) -> AppResult<String> {
    const FIELD: &str = "input.password";
    if password.is_empty() {
        return Err(AppError::invalid(
            FIELD,
            "must not be empty (send null to remove the password)",
        ));
    }
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(AppError::invalid(
            FIELD,
            format!("must be at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    if password.chars().any(char::is_control) {
        return Err(AppError::invalid(
            FIELD,
            "must not contain line breaks or control characters",
        ));
    }
    Ok(shared.secrets.seal(password, id.as_bytes()))
}

pub async fn create(
    shared: &Shared,
    ctx: &RequestCtx,
    input: CreateSenderAccountInput,
) -> AppResult<SenderRow> {
    ctx.require_admin()?;
    let id = Uuid::now_v7();
    let name = required_text(&input.name, "input.name", MAX_NAME_CHARS)?;
    let transport = transport(shared, input.transport, "input.transport")?;
    let tls_mode = input
        .tls_mode
        .map_or(SmtpTlsMode::Starttls, SmtpTlsMode::from);
    let host = match (transport, &input.host) {
        (SenderTransport::Smtp, None) => {
            return Err(AppError::invalid(
                "input.host",
                "is required for an SMTP account",
            ));
        }
        (SenderTransport::Outbox, None) => "localhost".to_owned(),
        (SenderTransport::Outbox, Some(host)) => smtp_host(host, "input.host")?,
        (SenderTransport::Smtp, Some(host)) => allowed_host(shared, host, "input.host").await?,
    };
    let port = match input.port {
        Some(value) => port(value, "input.port")?,
        None => default_port(tls_mode),
    };
    delay_range(input.min_delay_ms, input.max_delay_ms, MIN_DELAY, MAX_DELAY)?;
    let (domain_limit, domain_limit_seconds) = domain_limit(input.domain_limit)?;
    // Before the transaction: the mailbox host check may wait on DNS.
    let mailbox = match input.mailbox {
        Some(mailbox) => mailboxes::prepare_create(shared, ctx, id, mailbox).await?,
        None => mailboxes::Change::Keep,
    };
    let now = shared.clock.now().fixed_offset();
    let account = sender_accounts::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        id: Set(id),
        name: Set(name.clone()),
        provider: Set(provider(input.provider)?),
        transport: Set(transport),
        host: Set(host),
        port: Set(port),
        tls_mode: Set(tls_mode),
        username: Set(optional_text(input.username, "input.username", 320)?),
        password_encrypted: Set(input
            .password
            .map(|p| sealed_password(shared, id, &p))
            .transpose()?),
        from_email: Set(EmailAddress::parse(&input.from_email, "input.fromEmail")?.into_inner()),
        from_name: Set(from_name(input.from_name)?),
        reply_to: Set(optional_email(input.reply_to, "input.replyTo")?),
        hourly_limit: Set(limit(input.hourly_limit, "input.hourlyLimit")?),
        daily_limit: Set(limit(input.daily_limit, "input.dailyLimit")?),
        rate_limits: Set(rate_limits(input.rate_limits)?),
        min_delay_ms: Set(input.min_delay_ms),
        max_delay_ms: Set(input.max_delay_ms),
        domain_limit: Set(domain_limit),
        domain_limit_seconds: Set(domain_limit_seconds),
        next_send_at: Set(None),
        next_send_reason: Set(None),
        throttled_until: Set(None),
        throttle_strikes: Set(0),
        priority: Set(input.priority.unwrap_or(0)),
        is_active: Set(input.is_active.unwrap_or(true)),
        total_sent: Set(0),
        last_used_at: Set(None),
        last_error: Set(None),
        last_error_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        created_by: Set(ctx.user_id()),
        updated_by: Set(ctx.user_id()),
        deleted_at: Set(None),
        deleted_by: Set(None),
    };
    let txn = begin_write(&shared.db, ctx).await?;
    ensure_name_free(&txn, ctx, &name, None).await?;
    let account = account
        .insert(&txn)
        .await
        .map_err(|e| on_unique(e, Some("input.name"), DUPLICATE_NAME))?;
    let mailbox = mailboxes::apply(&txn, ctx, id, mailbox).await?;
    txn.commit().await?;
    if mailbox.is_some() {
        shared.mailbox_watchers.changed(ctx.tenant_id, id);
    }
    // A new account has sent nothing.
    Ok(SenderRow {
        account,
        usage: Usage::default(),
        mailbox,
    })
}

pub async fn update(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
    input: UpdateSenderAccountInput,
) -> AppResult<SenderRow> {
    ctx.require_admin()?;
    // Before the transaction: the check may wait on DNS.
    let host = match &input.host {
        Some(host) => Some(allowed_host(shared, host, "input.host").await?),
        None => None,
    };
    let mailbox_change = match input.mailbox {
        MaybeUndefined::Undefined => mailboxes::Change::Keep,
        MaybeUndefined::Null => mailboxes::Change::Remove,
        MaybeUndefined::Value(mailbox) => mailboxes::prepare_update(shared, id, mailbox).await?,
    };
    let txn = begin_write(&shared.db, ctx).await?;
    let before = find_live::<sender_accounts::Entity>(&txn, ctx, id).await?;
    let (old_min, old_max) = (before.min_delay_ms, before.max_delay_ms);
    let mut account = before.into_active_model();
    if let Some(name) = input.name {
        let name = required_text(&name, "input.name", MAX_NAME_CHARS)?;
        ensure_name_free(&txn, ctx, &name, Some(id)).await?;
        account.name = Set(name);
    }
    if input.provider.is_some() {
        account.provider = Set(provider(input.provider)?);
    }
    if input.transport.is_some() {
        account.transport = Set(transport(shared, input.transport, "input.transport")?);
    }
    if let Some(host) = host {
        account.host = Set(host);
    }
    if let Some(value) = input.port {
        account.port = Set(port(value, "input.port")?);
    }
    if let Some(mode) = input.tls_mode {
        account.tls_mode = Set(mode.into());
    }
    // Absent leaves a field alone; null clears it.
    if let Some(username) = Option::<Option<String>>::from(input.username) {
        account.username = Set(optional_text(username, "input.username", 320)?);
    }
    if let Some(password) = Option::<Option<String>>::from(input.password) {
        account.password_encrypted = Set(password
            .map(|p| sealed_password(shared, id, &p))
            .transpose()?);
    }
    if let Some(email) = input.from_email {
        account.from_email = Set(EmailAddress::parse(&email, "input.fromEmail")?.into_inner());
    }
    if let Some(name) = Option::<Option<String>>::from(input.from_name) {
        account.from_name = Set(from_name(name)?);
    }
    if let Some(reply_to) = Option::<Option<String>>::from(input.reply_to) {
        account.reply_to = Set(optional_email(reply_to, "input.replyTo")?);
    }
    if let Some(value) = Option::<Option<i32>>::from(input.hourly_limit) {
        account.hourly_limit = Set(limit(value, "input.hourlyLimit")?);
    }
    if let Some(value) = Option::<Option<i32>>::from(input.daily_limit) {
        account.daily_limit = Set(limit(value, "input.dailyLimit")?);
    }
    if let Some(value) = Option::<Option<Vec<SendingRateInput>>>::from(input.rate_limits) {
        account.rate_limits = Set(rate_limits(value)?);
    }
    let new_min = Option::<Option<i32>>::from(input.min_delay_ms);
    let new_max = Option::<Option<i32>>::from(input.max_delay_ms);
    if new_min.is_some() || new_max.is_some() {
        // Checked against the stored bound the input leaves alone.
        let (min, max) = (new_min.unwrap_or(old_min), new_max.unwrap_or(old_max));
        delay_range(min, max, MIN_DELAY, MAX_DELAY)?;
        account.min_delay_ms = Set(min);
        account.max_delay_ms = Set(max);
    }
    if let Some(value) = Option::<Option<SendingRateInput>>::from(input.domain_limit) {
        let (limit, seconds) = domain_limit(value)?;
        account.domain_limit = Set(limit);
        account.domain_limit_seconds = Set(seconds);
    }
    if account.is_changed() {
        // "Not before" was worked out under the old limits; the next
        // reservation works it out again under the new ones.
        account.next_send_at = Set(None);
        account.next_send_reason = Set(None);
    }
    if let Some(priority) = input.priority {
        account.priority = Set(priority);
    }
    if let Some(active) = input.is_active {
        account.is_active = Set(active);
    }
    account.updated_at = Set(shared.clock.now().fixed_offset());
    let account = account
        .update(&txn)
        .await
        .map_err(|e| on_unique(e, Some("input.name"), DUPLICATE_NAME))?;
    let mailbox = mailboxes::apply(&txn, ctx, id, mailbox_change).await?;
    let usage = usage(&txn, ctx, id).await?;
    txn.commit().await?;
    shared.mailbox_watchers.changed(ctx.tenant_id, id);
    Ok(SenderRow {
        account,
        usage,
        mailbox,
    })
}

/// Soft-deletes an account: messages sent through it keep pointing at it,
/// sending and lists forget it, and its name is free again.
pub async fn delete(shared: &Shared, ctx: &RequestCtx, id: Uuid) -> AppResult<SenderRow> {
    ctx.require_admin()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let account = soft_delete::<sender_accounts::Entity>(&txn, ctx, id).await?;
    let usage = usage(&txn, ctx, id).await?;
    // A deleted account's mailbox is no longer watched (it is kept, with
    // the account, for the messages that point at it).
    let mailbox = mailboxes::find(&txn, ctx.tenant_id, id).await?;
    if mailbox.is_some() {
        mailboxes::watch(&txn, ctx.tenant_id, id, false).await?;
    }
    txn.commit().await?;
    shared.mailbox_watchers.changed(ctx.tenant_id, id);
    Ok(SenderRow {
        account,
        usage,
        mailbox,
    })
}

/// For the delivery worker: the tenant's active, live accounts in failover
/// order (priority descending, then the older account), with `preferred`
/// moved to the front when it qualifies. Call it inside a transaction bound
/// to `tenant_id` (row-level security on PostgreSQL).
///
/// Limits do not filter here: a read can only guess, and two workers reading
/// at once would both take the last slot. Whether an account may send now is
/// answered by [`super::limiter::reserve`], under the account's lock.
pub async fn candidates(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    preferred: Option<Uuid>,
) -> AppResult<Vec<SenderCandidate>> {
    use sender_accounts::Column;
    let live_and_active = tenant_rows::<sender_accounts::Entity>(tenant_id)
        .filter(Column::DeletedAt.is_null())
        .filter(Column::IsActive.eq(true));
    let accounts = failover_order().sort(live_and_active).all(conn).await?;
    let mut candidates: Vec<SenderCandidate> = accounts
        .into_iter()
        .map(|account| SenderCandidate { account })
        .collect();
    if let Some(preferred) = preferred
        && let Some(position) = candidates.iter().position(|c| c.account.id == preferred)
    {
        let chosen = candidates.remove(position);
        candidates.insert(0, chosen);
    }
    Ok(candidates)
}

/// Messages queued (not yet sent) per account, for the accounts given: the
/// campaign scheduler gives an account no more than it can send.
pub async fn queued_by_sender(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    ids: impl IntoIterator<Item = Uuid>,
) -> AppResult<HashMap<Uuid, i64>> {
    let ids: Vec<Uuid> = ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Option<Uuid>, i64)> = tenant_messages(tenant_id)
        .select_only()
        .column(messages::Column::SenderId)
        .expr(Expr::col(messages::Column::Id).count())
        .filter(messages::Column::SenderId.is_in(ids))
        .filter(messages::Column::Status.eq(entity::sea_orm_active_enums::MessageStatus::Queued))
        .group_by(messages::Column::SenderId)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, n)| Some((id?, n)))
        .collect())
}

/// Records the outcome of a delivery attempt through account `id`: a
/// success counts, stamps `last_used_at` and ends a run of throttles; a
/// failure keeps the error for the admin. A success does not clear the last error: `lastErrorAt` before
/// `lastUsedAt` already says the account recovered.
pub async fn record_use(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    ok: Result<(), String>,
) -> AppResult<()> {
    use sender_accounts::Column;
    let now = Utc::now().fixed_offset();
    let update = tenant_update::<sender_accounts::Entity>(tenant_id).filter(Column::Id.eq(id));
    let update = match ok {
        Ok(()) => update
            .col_expr(Column::TotalSent, Expr::col(Column::TotalSent).add(1))
            .col_expr(Column::ThrottleStrikes, Expr::value(0))
            .col_expr(Column::LastUsedAt, Expr::value(now)),
        Err(error) => update
            .col_expr(
                Column::LastError,
                Expr::value(error.chars().take(MAX_ERROR_CHARS).collect::<String>()),
            )
            .col_expr(Column::LastErrorAt, Expr::value(now)),
    };
    update.exec(conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_window_starts_at_midnight_utc() {
        let now = DateTime::parse_from_rfc3339("2026-03-04T00:20:00Z")
            .unwrap()
            .to_utc();
        let windows = Windows::at(now);
        assert_eq!(windows.midnight.to_rfc3339(), "2026-03-04T00:00:00+00:00");
        assert_eq!(windows.hour_ago.to_rfc3339(), "2026-03-03T23:20:00+00:00");
    }

    #[test]
    fn ports_and_limits_are_bounded_naming_the_field() {
        assert_eq!(port(587, "input.port").unwrap(), 587);
        for bad in [0, -1, 65_536] {
            match port(bad, "input.port") {
                Err(AppError::BadUserInput { field, .. }) => assert_eq!(field, "input.port"),
                other => panic!("{bad} gave {other:?}"),
            }
        }
        assert_eq!(limit(None, "l").unwrap(), None);
        assert_eq!(limit(Some(0), "l").unwrap(), Some(0));
        assert!(limit(Some(-1), "l").is_err());
    }
}
