//! One SMTP conversation per message, with any failure classified.
//!
//! lettre's `AsyncSmtpTransport` sends MAIL, RCPT and DATA in one call, so
//! it can neither say which step failed nor let the caller record "transfer
//! started" between RCPT and DATA; both decide whether a message may be
//! retried or failed over. So the conversation is driven step by step on
//! lettre's low-level connection, every step under the account's timeout.

mod failure;
mod message;
mod reply;

use std::fmt;
use std::future::Future;
use std::time::Duration;

use lettre::Message;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{
    ClientId, Extension, MailBodyParameter, MailParameter, ServerInfo,
};

pub use failure::{SendFailure, Stage};
pub use message::{OutgoingEmail, build_message};
pub use reply::Accepted;

/// How the connection to the server is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// Plaintext throughout, credentials included: only for relays on a
    /// trusted network.
    None,
    /// Plaintext, then STARTTLS (usually port 587). If the server does not
    /// offer it the delivery fails rather than continue in plaintext.
    StartTls,
    /// TLS from the first byte (usually port 465).
    Tls,
}

/// A sender account: the server to talk to and how.
#[derive(Clone)]
pub struct SmtpAccount {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// AUTH (PLAIN or LOGIN, whichever the server offers) runs only when
    /// both the username and the password are set.
    pub username: Option<String>,
    pub password: Option<String>,
    /// The limit for each step: connecting, every command, the transfer.
    pub timeout: Duration,
    /// The name sent with EHLO; empty means this machine's hostname.
    pub hello_name: String,
    /// Whether `host` may be (or resolve to) a loopback, private or
    /// link-local address (`Config::allow_private_hosts`).
    pub allow_private: bool,
}

/// Keeps the password out of logs.
impl fmt::Debug for SmtpAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpAccount")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("hello_name", &self.hello_name)
            .field("allow_private", &self.allow_private)
            .finish()
    }
}

/// Delivers `email` through `account` in one conversation: connect, EHLO,
/// STARTTLS or implicit TLS per the account, AUTH when it has credentials,
/// MAIL FROM, RCPT TO, then DATA.
///
/// `before_data` runs exactly once, after the recipient is accepted and
/// right before DATA: the caller commits its "transfer started" marker
/// there, so that a crash past that point never leads to a second send. If
/// it fails, nothing is sent and the failure has stage `Data` and no code.
///
/// The connection always ends with QUIT and is closed, whatever happened.
pub async fn deliver<F, Fut>(
    account: &SmtpAccount,
    email: &OutgoingEmail,
    before_data: F,
) -> Result<Accepted, SendFailure>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let message = build_message(email)?;
    let mut connection = connect(account).await?;
    let outcome = converse(&mut connection, account, &message, before_data).await;
    // abort() is lettre's "QUIT, ignore the reply, close": wanted on every
    // path, and the reply to QUIT changes nothing once the outcome is known.
    let _ = tokio::time::timeout(account.timeout, connection.abort()).await;
    outcome
}

/// TCP connect (with the TLS handshake in `Tls` mode), greeting and EHLO.
async fn connect(account: &SmtpAccount) -> Result<AsyncSmtpConnection, SendFailure> {
    let implicit_tls = match account.tls {
        TlsMode::Tls => Some(tls_parameters(account)?),
        TlsMode::None | TlsMode::StartTls => None,
    };
    let hello = hello_name(account);
    let classify = |err: lettre::transport::smtp::Error| {
        // A code can only come from the greeting or the reply to EHLO.
        if err.status().is_some() {
            SendFailure::from_smtp(Stage::Greeting, &err)
        } else {
            SendFailure::from_smtp(Stage::Connect, &err)
        }
    };
    let connecting = async {
        // Resolved once and checked; the connection goes to these
        // addresses, not to the name resolved again (DNS rebinding).
        let addrs = crate::outbound::resolve(&account.host, account.port, account.allow_private)
            .await
            .map_err(|e| SendFailure::new(Stage::Connect, None, e.to_string()))?;
        match implicit_tls {
            Some(tls) => AsyncSmtpConnection::connect_tokio1(
                addrs.as_slice(),
                Some(account.timeout),
                &hello,
                Some(tls),
                None,
            )
            .await
            .map_err(classify),
            None => {
                // Our own socket, for TCP_NODELAY: lettre writes the body and
                // the final "." separately, and with Nagle's algorithm the
                // "." waits for the server's delayed ACK (~40 ms a message).
                let refused =
                    |e: std::io::Error| SendFailure::new(Stage::Connect, None, e.to_string());
                let stream = tokio::net::TcpStream::connect(addrs.as_slice())
                    .await
                    .map_err(refused)?;
                stream.set_nodelay(true).map_err(refused)?;
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello)
                    .await
                    .map_err(classify)
            }
        }
    };
    match tokio::time::timeout(account.timeout, connecting).await {
        Ok(result) => result,
        Err(_) => Err(SendFailure::timed_out(Stage::Connect, account.timeout)),
    }
}

async fn converse<F, Fut>(
    connection: &mut AsyncSmtpConnection,
    account: &SmtpAccount,
    message: &Message,
    before_data: F,
) -> Result<Accepted, SendFailure>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let limit = account.timeout;
    secure_and_authenticate(connection, account).await?;

    let envelope = message.envelope();
    let raw = message.formatted();
    let parameters = mail_parameters(connection.server_info(), envelope, &raw)?;
    let sender = Mail::new(envelope.from().cloned(), parameters);
    step(limit, Stage::MailFrom, connection.command(sender)).await?;
    for recipient in envelope.to() {
        let rcpt = Rcpt::new(recipient.clone(), vec![]);
        step(limit, Stage::RcptTo, connection.command(rcpt)).await?;
    }

    before_data().await.map_err(|err| {
        SendFailure::new(
            Stage::Data,
            None,
            format!("not sent, before_data failed: {err:#}"),
        )
    })?;
    step(limit, Stage::Data, connection.command(Data)).await?;
    // lettre ends the transfer with CRLF.CRLF whatever the content ends
    // with; the first CRLF of that terminator is meant to end the last line
    // (RFC 5321 §4.1.1.4), so the message's own final CRLF is left to it
    // rather than turned into an extra blank line.
    let content = raw.strip_suffix(b"\r\n").unwrap_or(&raw);
    let reply = step(limit, Stage::Data, connection.message(content)).await?;
    Ok(Accepted::from_reply(&reply))
}

/// STARTTLS (refusing to go on in plaintext when the server does not offer
/// it) and AUTH when the account has credentials. Returns whether it
/// authenticated.
async fn secure_and_authenticate(
    connection: &mut AsyncSmtpConnection,
    account: &SmtpAccount,
) -> Result<bool, SendFailure> {
    let limit = account.timeout;
    if account.tls == TlsMode::StartTls {
        if !connection.can_starttls() {
            let refusal = "the server does not offer STARTTLS; not continuing in plaintext";
            return Err(SendFailure::new(Stage::Tls, None, refusal));
        }
        let hello = hello_name(account);
        let upgrade = connection.starttls(tls_parameters(account)?, &hello);
        step(limit, Stage::Tls, upgrade).await?;
    }
    if let (Some(username), Some(password)) = (&account.username, &account.password) {
        let credentials = Credentials::new(username.clone(), password.clone());
        step(
            limit,
            Stage::Auth,
            connection.auth(DEFAULT_MECHANISMS, &credentials),
        )
        .await?;
        return Ok(true);
    }
    Ok(false)
}

/// What a handshake with the server found.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The name and extensions the server announced in its reply to EHLO
    /// (after STARTTLS, the encrypted session's).
    pub server: String,
    pub encrypted: bool,
    pub authenticated: bool,
}

/// Runs the start of a delivery without sending anything: connect,
/// greeting, EHLO, STARTTLS or implicit TLS per the account, AUTH when it
/// has credentials, then QUIT. What a user runs to check an account before
/// sending through it.
pub async fn handshake(account: &SmtpAccount) -> Result<Handshake, SendFailure> {
    let mut connection = connect(account).await?;
    let outcome = secure_and_authenticate(&mut connection, account)
        .await
        .map(|authenticated| Handshake {
            server: describe_server(connection.server_info()),
            encrypted: connection.is_encrypted(),
            authenticated,
        });
    let _ = tokio::time::timeout(account.timeout, connection.quit()).await;
    outcome
}

/// `name (8BITMIME, AUTH PLAIN LOGIN)`: the server's name and what it
/// offered, in SMTP's own words.
fn describe_server(info: &ServerInfo) -> String {
    use lettre::transport::smtp::authentication::Mechanism;
    let mut offered: Vec<String> = [
        (Extension::EightBitMime, "8BITMIME"),
        (Extension::SmtpUtfEight, "SMTPUTF8"),
        (Extension::StartTls, "STARTTLS"),
    ]
    .into_iter()
    .filter(|(extension, _)| info.supports_feature(*extension))
    .map(|(_, name)| name.to_owned())
    .collect();
    let mechanisms: Vec<&str> = [
        (Mechanism::Plain, "PLAIN"),
        (Mechanism::Login, "LOGIN"),
        (Mechanism::Xoauth2, "XOAUTH2"),
    ]
    .into_iter()
    .filter(|(mechanism, _)| info.supports_auth_mechanism(*mechanism))
    .map(|(_, name)| name)
    .collect();
    if !mechanisms.is_empty() {
        offered.push(format!("AUTH {}", mechanisms.join(" ")));
    }
    format!("{} ({})", info.name(), offered.join(", "))
}

/// Runs one step under the time limit; an error keeps the server's code
/// and text and is tagged with the step.
async fn step<T>(
    limit: Duration,
    stage: Stage,
    exchange: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
) -> Result<T, SendFailure> {
    match tokio::time::timeout(limit, exchange).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(SendFailure::from_smtp(stage, &err)),
        Err(_) => Err(SendFailure::timed_out(stage, limit)),
    }
}

/// Declares what the server must support to take this message, as lettre's
/// own `send` does: servers reject 8-bit content or UTF-8 addresses that
/// were not announced on MAIL FROM.
fn mail_parameters(
    server: &ServerInfo,
    envelope: &Envelope,
    raw: &[u8],
) -> Result<Vec<MailParameter>, SendFailure> {
    let mut parameters = Vec::new();
    let mut addresses = envelope.from().into_iter().chain(envelope.to());
    if addresses.any(|address| !AsRef::<str>::as_ref(address).is_ascii()) {
        require(server, Extension::SmtpUtfEight)?;
        parameters.push(MailParameter::SmtpUtfEight);
    }
    if !raw.is_ascii() {
        require(server, Extension::EightBitMime)?;
        parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    Ok(parameters)
}

fn require(server: &ServerInfo, extension: Extension) -> Result<(), SendFailure> {
    if server.supports_feature(extension) {
        Ok(())
    } else {
        let reason = format!("the message needs {extension}, which the server does not offer");
        Err(SendFailure::new(Stage::MailFrom, None, reason))
    }
}

fn tls_parameters(account: &SmtpAccount) -> Result<TlsParameters, SendFailure> {
    TlsParameters::new(account.host.clone())
        .map_err(|err| SendFailure::new(Stage::Tls, None, err.to_string()))
}

fn hello_name(account: &SmtpAccount) -> ClientId {
    if account.hello_name.is_empty() {
        ClientId::default()
    } else {
        ClientId::Domain(account.hello_name.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> SmtpAccount {
        SmtpAccount {
            host: "127.0.0.1".into(),
            port: 1,
            tls: TlsMode::None,
            username: Some("user".into()),
            password: Some("hunter2".into()),
            timeout: Duration::from_secs(1),
            hello_name: "promohub.test".into(),
            allow_private: true,
        }
    }

    #[test]
    fn deliver_can_run_on_a_spawned_task() {
        fn assert_send<T: Send>(_: &T) {}
        let account = account();
        let email = OutgoingEmail {
            from_email: "a@b.example".into(),
            from_name: None,
            reply_to: None,
            to: "c@d.example".into(),
            subject: "s".into(),
            text_body: "t".into(),
            html_body: None,
            message_id: "1@b.example".into(),
            unsubscribe_url: "https://b.example/u".into(),
            unsubscribe_mailto: None,
        };

        let delivery = deliver(&account, &email, || async { Ok(()) });

        assert_send(&delivery);
    }

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let printed = format!("{:?}", account());

        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("<redacted>"), "{printed}");
    }
}
