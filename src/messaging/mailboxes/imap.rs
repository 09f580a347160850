//! The IMAP conversation with a sender's mailbox (async-imap on tokio):
//! connect to an allowed address, secure the connection as configured
//! (implicit TLS, STARTTLS, or plain for local servers), LOGIN, SELECT the
//! folder, then read new mail by UID and wait for more with IDLE.
//!
//! Every step runs under the configured time limit and a failure says which
//! step failed, in the server's own words where it gave any: what
//! `testSenderMailbox` shows and what the watcher stores as `lastError`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;

/// How the connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Security {
    None,
    StartTls,
    Tls,
}

/// Where and how to reach a mailbox.
#[derive(Clone)]
pub(crate) struct MailboxAccess {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: String,
    pub password: String,
    pub folder: String,
    pub timeout: Duration,
    pub allow_private: bool,
}

/// Where a conversation stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    Connect,
    Tls,
    Greeting,
    Auth,
    Select,
    Fetch,
    Idle,
}

/// A failed step and why.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub stage: Stage,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.stage, self.message)
    }
}

fn failed(stage: Stage, message: impl std::fmt::Display) -> Failure {
    Failure {
        stage,
        message: message.to_string(),
    }
}

/// Runs one step under the time limit.
async fn step<T, E: std::fmt::Display>(
    limit: Duration,
    stage: Stage,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(failed(stage, error)),
        Err(_) => Err(failed(
            stage,
            format!("no answer within {} s", limit.as_secs()),
        )),
    }
}

/// A plain or TLS socket, as one type for async-imap.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Plain(_) => "Stream::Plain",
            Self::Tls(_) => "Stream::Tls",
        })
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

type Session = async_imap::Session<Stream>;

/// What SELECT and CAPABILITY said.
#[derive(Clone, Debug)]
pub(crate) struct Selected {
    pub uid_validity: Option<u32>,
    pub uid_next: Option<u32>,
    pub exists: u32,
    pub supports_idle: bool,
    pub encrypted: bool,
    /// The server's greeting text.
    pub server: String,
}

/// A logged-in session with the folder selected.
pub(crate) struct Connection {
    session: Session,
    pub selected: Selected,
    timeout: Duration,
}

/// The roots every TLS connection checks the server against (Mozilla's,
/// as browsers do), with ring, the provider lettre already brings.
fn tls_connector() -> tokio_rustls::TlsConnector {
    static CONFIG: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        Arc::new(config)
    });
    tokio_rustls::TlsConnector::from(config.clone())
}

async fn tls(host: &str, stream: TcpStream, limit: Duration) -> Result<Stream, Failure> {
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| failed(Stage::Tls, e))?;
    let tls = step(limit, Stage::Tls, tls_connector().connect(name, stream)).await?;
    Ok(Stream::Tls(Box::new(tls)))
}

/// The first line the server sends, as text.
async fn greeting(
    client: &mut async_imap::Client<Stream>,
    limit: Duration,
) -> Result<String, Failure> {
    let response = step(limit, Stage::Greeting, client.read_response())
        .await?
        .ok_or_else(|| failed(Stage::Greeting, "the server closed the connection"))?;
    let text = String::from_utf8_lossy(response.borrow_owner())
        .trim()
        .to_owned();
    if !text.starts_with("* OK") && !text.starts_with("* PREAUTH") {
        return Err(failed(Stage::Greeting, text));
    }
    Ok(text)
}

/// Connects, secures, logs in and selects the folder.
pub(crate) async fn open(access: &MailboxAccess) -> Result<Connection, Failure> {
    let limit = access.timeout;
    // Resolved once and checked; the connection goes to these addresses,
    // not to the name resolved again (DNS rebinding).
    let addrs = crate::outbound::resolve(&access.host, access.port, access.allow_private)
        .await
        .map_err(|e| failed(Stage::Connect, e))?;
    let tcp = step(limit, Stage::Connect, TcpStream::connect(addrs.as_slice())).await?;
    let _ = tcp.set_nodelay(true);
    let (client, server, encrypted) = match access.security {
        Security::Tls => {
            let mut client = async_imap::Client::new(tls(&access.host, tcp, limit).await?);
            let server = greeting(&mut client, limit).await?;
            (client, server, true)
        }
        Security::None => {
            let mut client = async_imap::Client::new(Stream::Plain(tcp));
            let server = greeting(&mut client, limit).await?;
            (client, server, false)
        }
        Security::StartTls => {
            let mut client = async_imap::Client::new(Stream::Plain(tcp));
            let server = greeting(&mut client, limit).await?;
            step(
                limit,
                Stage::Tls,
                client.run_command_and_check_ok("STARTTLS", None),
            )
            .await?;
            let Stream::Plain(tcp) = client.into_inner() else {
                unreachable!("STARTTLS starts on a plain socket")
            };
            // RFC 3501 §6.2.1: no second greeting after the upgrade.
            let client = async_imap::Client::new(tls(&access.host, tcp, limit).await?);
            (client, server, true)
        }
    };
    let mut session = step(limit, Stage::Auth, async {
        client
            .login(&access.username, &access.password)
            .await
            .map_err(|(error, _)| error)
    })
    .await?;
    let capabilities = step(limit, Stage::Auth, session.capabilities()).await?;
    let supports_idle = capabilities.has_str("IDLE");
    let mailbox = step(limit, Stage::Select, session.select(&access.folder)).await?;
    Ok(Connection {
        session,
        selected: Selected {
            uid_validity: mailbox.uid_validity,
            uid_next: mailbox.uid_next,
            exists: mailbox.exists,
            supports_idle,
            encrypted,
            server,
        },
        timeout: limit,
    })
}

/// Mail bigger than this is classified by its header alone: replies are
/// recognised by their headers, and a report that big is not a bounce
/// report (those return the headers, or a small message).
const MAX_WHOLE_MAIL: u32 = 2 * 1024 * 1024;

impl Connection {
    /// The UIDs above `after`, in order, at most `limit` of them.
    pub(crate) async fn uids_after(
        &mut self,
        after: u32,
        limit: usize,
    ) -> Result<Vec<(u32, u32)>, Failure> {
        let timeout = self.timeout;
        let query = format!("{}:*", after.saturating_add(1));
        let fetched = step(timeout, Stage::Fetch, async {
            let stream = self.session.uid_fetch(&query, "(UID RFC822.SIZE)").await?;
            let all: Vec<_> = stream.collect().await;
            all.into_iter()
                .collect::<Result<Vec<_>, async_imap::error::Error>>()
        })
        .await?;
        // `n:*` always names the last message, even one below `n`.
        let mut uids: Vec<(u32, u32)> = fetched
            .iter()
            .filter_map(|f| Some((f.uid?, f.size.unwrap_or(0))))
            .filter(|(uid, _)| *uid > after)
            .collect();
        uids.sort_unstable();
        uids.dedup();
        uids.truncate(limit);
        Ok(uids)
    }

    /// The first UID of the mail that arrived on or after `since`'s day
    /// (IMAP SEARCH counts in whole days), or the next UID to be given
    /// when none did.
    pub(crate) async fn first_uid_since(
        &mut self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<u32, Failure> {
        let timeout = self.timeout;
        let query = format!("SINCE {}", since.format("%-d-%b-%Y"));
        let found = step(timeout, Stage::Fetch, self.session.uid_search(&query)).await?;
        Ok(found
            .into_iter()
            .min()
            .or(self.selected.uid_next)
            .unwrap_or(1))
    }

    /// The mail with this UID, whole (or its header alone when large),
    /// without marking it seen. `None` when it is gone (expunged).
    pub(crate) async fn fetch(&mut self, uid: u32, size: u32) -> Result<Option<Vec<u8>>, Failure> {
        let timeout = self.timeout;
        let whole = size <= MAX_WHOLE_MAIL;
        let query = if whole {
            "(UID BODY.PEEK[])"
        } else {
            "(UID BODY.PEEK[HEADER])"
        };
        let fetched = step(timeout, Stage::Fetch, async {
            let stream = self.session.uid_fetch(uid.to_string(), query).await?;
            let all: Vec<_> = stream.collect().await;
            all.into_iter()
                .collect::<Result<Vec<_>, async_imap::error::Error>>()
        })
        .await?;
        Ok(fetched
            .iter()
            .find(|f| f.uid == Some(uid))
            .and_then(|f| if whole { f.body() } else { f.header() })
            .map(<[u8]>::to_vec))
    }

    /// Waits in IDLE until the server reports a change, `wait` passes, or
    /// `stop` resolves; then leaves IDLE (DONE) so the session can fetch.
    pub(crate) async fn idle(
        self,
        wait: Duration,
        stop: impl Future<Output = ()>,
    ) -> Result<Self, Failure> {
        let Self {
            session,
            selected,
            timeout,
        } = self;
        let mut handle = session.idle();
        step(timeout, Stage::Idle, handle.init()).await?;
        {
            let (waiting, interrupt) = handle.wait_with_timeout(wait);
            tokio::pin!(waiting);
            let outcome = tokio::select! {
                outcome = &mut waiting => outcome,
                () = stop => {
                    // Ends the wait at once with `ManualInterrupt`.
                    drop(interrupt);
                    waiting.await
                }
            };
            match outcome {
                Ok(
                    IdleResponse::NewData(_)
                    | IdleResponse::Timeout
                    | IdleResponse::ManualInterrupt,
                ) => {}
                Err(error) => return Err(failed(Stage::Idle, error)),
            }
        }
        let session = step(timeout, Stage::Idle, handle.done()).await?;
        Ok(Self {
            session,
            selected,
            timeout,
        })
    }

    /// Says goodbye (best effort: the connection is closed either way).
    pub(crate) async fn logout(mut self) {
        let _ = tokio::time::timeout(self.timeout, self.session.logout()).await;
    }
}
