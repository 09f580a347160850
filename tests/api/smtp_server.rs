//! A real SMTP server for the tests: mailin's SMTP state machine behind a
//! small blocking accept loop on 127.0.0.1, recording every accepted message
//! (with the moment it accepted it, for rate-limit tests) and refusing what
//! a test tells it to.
//!
//! Why mailin and not mailin-embedded's `Server`: that server offers AUTH
//! only after STARTTLS with a certificate read from files, while the AUTH
//! tests need it in plaintext, which only mailin's `SessionBuilder` allows.
//! Owning the loop also lets the server stop when the test drops it.
//! Plain threads, not tokio tasks: the server must keep answering while a
//! current-thread test runtime is busy awaiting the client.

use std::io::{self, BufRead, BufReader};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use mailin::{Action, AuthMechanism, Handler, Response, Session, SessionBuilder};
use mailparse::{MailHeaderMap, ParsedMail};

/// A message the server accepted, as it arrived.
#[derive(Clone, Debug)]
pub struct ReceivedMail {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The message as transferred, dot-unstuffed, lines ending in CRLF.
    pub data: Vec<u8>,
    /// When the server accepted it (before its 250 reply went out): what a
    /// provider's rate limit counts.
    pub accepted_at: chrono::DateTime<chrono::Utc>,
}

impl ReceivedMail {
    /// The first header called `name`, unfolded and decoded (RFC 2047).
    pub fn header(&self, name: &str) -> Option<String> {
        self.parsed().headers.get_first_value(name)
    }

    /// The text/plain part, its transfer encoding and charset undone.
    pub fn text_body(&self) -> Option<String> {
        self.body("text/plain")
    }

    /// The text/html part, its transfer encoding and charset undone.
    pub fn html_body(&self) -> Option<String> {
        self.body("text/html")
    }

    /// A part that ends the message keeps the CRLF ending its last line
    /// (in a multipart the boundary takes it); it is dropped so bodies
    /// compare equal to what was sent.
    fn body(&self, mimetype: &str) -> Option<String> {
        let parsed = self.parsed();
        let part = parsed
            .parts()
            .find(|part| part.ctype.mimetype == mimetype)?;
        let body = part.get_body().expect("the body decodes");
        Some(body.strip_suffix("\r\n").unwrap_or(&body).to_owned())
    }

    fn parsed(&self) -> ParsedMail<'_> {
        mailparse::parse_mail(&self.data).expect("the received message parses")
    }
}

/// What the server refuses; everything else is accepted.
#[derive(Clone, Default)]
struct Rules {
    credentials: Option<(String, String)>,
    mail_from: Option<(u16, String)>,
    rcpt: Vec<(String, u16, String)>,
    data: Option<(u16, String)>,
    greeting: Option<u16>,
    /// Answers the first `n` MAIL FROM commands (across connections) with
    /// `code text`, then accepts.
    mail_from_first: Option<(usize, u16, String)>,
}

#[derive(Default)]
pub struct TestSmtpServerBuilder {
    rules: Rules,
}

impl TestSmtpServerBuilder {
    /// Offers AUTH PLAIN and LOGIN (in plaintext) and requires it before
    /// MAIL FROM; other credentials get 535.
    pub fn require_auth(mut self, username: &str, password: &str) -> Self {
        self.rules.credentials = Some((username.into(), password.into()));
        self
    }

    /// Answers every MAIL FROM with `code text`.
    pub fn reject_mail_from(mut self, code: u16, text: &str) -> Self {
        self.rules.mail_from = Some((code, text.into()));
        self
    }

    /// Answers RCPT TO `address` (ignoring case) with `code text`.
    pub fn reject_rcpt(mut self, address: &str, code: u16, text: &str) -> Self {
        self.rules.rcpt.push((address.into(), code, text.into()));
        self
    }

    /// Answers the first `n` MAIL FROM commands, counted across every
    /// connection, with `code text` (SES's `454 Throttling failure`), then
    /// accepts as usual.
    pub fn refuse_first_mail_from(mut self, n: usize, code: u16, text: &str) -> Self {
        self.rules.mail_from_first = Some((n, code, text.into()));
        self
    }

    /// Takes the whole message, then answers the final dot with `code text`
    /// and keeps nothing.
    pub fn reject_data(mut self, code: u16, text: &str) -> Self {
        self.rules.data = Some((code, text.into()));
        self
    }

    /// Answers EHLO with `code` (451, 421…), so every conversation fails
    /// right after the greeting, as an overloaded server's would.
    pub fn temp_fail_all(mut self, code: u16) -> Self {
        self.rules.greeting = Some(code);
        self
    }

    pub fn start(self) -> TestSmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let addr = listener.local_addr().expect("the bound address");
        let server = TestSmtpServer {
            addr,
            inbox: Arc::default(),
            stopped: Arc::default(),
            mail_from_seen: Arc::default(),
        };
        let mut sessions = SessionBuilder::new("smtp.promohub.test");
        if self.rules.credentials.is_some() {
            sessions
                .enable_auth(AuthMechanism::Plain)
                .enable_auth(AuthMechanism::Login)
                .insecure_enable_plaintext_auth();
        }
        let rules = Arc::new(self.rules);
        let (inbox, stopped) = (server.inbox.clone(), server.stopped.clone());
        let mail_from_seen = server.mail_from_seen.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let recorder = Recorder {
                    rules: rules.clone(),
                    inbox: inbox.clone(),
                    current: None,
                    mail_from_seen: mail_from_seen.clone(),
                };
                let session = sessions.build(IpAddr::from([127, 0, 0, 1]), recorder);
                thread::spawn(move || serve(stream, session));
            }
        });
        server
    }
}

/// Listens on 127.0.0.1 until dropped.
pub struct TestSmtpServer {
    pub addr: SocketAddr,
    inbox: Arc<Mutex<Vec<ReceivedMail>>>,
    stopped: Arc<AtomicBool>,
    mail_from_seen: Arc<AtomicUsize>,
}

impl TestSmtpServer {
    /// A server that accepts everything.
    pub fn start() -> Self {
        Self::builder().start()
    }

    pub fn builder() -> TestSmtpServerBuilder {
        TestSmtpServerBuilder::default()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// How many MAIL FROM commands arrived, refused ones included.
    pub fn mail_from_count(&self) -> usize {
        self.mail_from_seen.load(Ordering::SeqCst)
    }

    /// Every message accepted so far, oldest first.
    pub fn received(&self) -> Vec<ReceivedMail> {
        self.inbox.lock().unwrap().clone()
    }

    /// Waits until `count` messages were accepted or `timeout` passed, and
    /// returns what arrived either way.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let received = self.received();
            if received.len() >= count || tokio::time::Instant::now() >= deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for TestSmtpServer {
    /// The accept loop only looks at the flag when a connection comes in,
    /// so one is made to wake it.
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// A port with nothing listening on it, for connection-refused tests.
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("the bound address").port()
}

/// One connection: the greeting, then a reply to each line mailin answers.
fn serve(stream: TcpStream, mut session: Session<Recorder>) -> io::Result<()> {
    // A client that hangs must not pin the thread for the whole test run.
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    session.greeting().write_to(&mut writer)?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let response = session.process(&line);
        match response.action {
            Action::NoReply => {}
            Action::Reply => {
                response.write_to(&mut writer)?;
                // mailin stays in its DATA state after refusing a message and
                // would read the client's QUIT as more content; hang up
                // instead, as some servers do.
                if line == b".\r\n" && response.is_error {
                    return Ok(());
                }
            }
            Action::Close | Action::UpgradeTls => return response.write_to(&mut writer),
        }
    }
}

/// mailin's per-connection handler: applies the rules and files accepted
/// messages in the shared inbox.
struct Recorder {
    rules: Arc<Rules>,
    inbox: Arc<Mutex<Vec<ReceivedMail>>>,
    current: Option<ReceivedMail>,
    mail_from_seen: Arc<AtomicUsize>,
}

impl Recorder {
    fn check(&self, username: &str, password: &str) -> Response {
        match &self.rules.credentials {
            Some((user, pass)) if user == username && pass == password => mailin::response::AUTH_OK,
            _ => mailin::response::INVALID_CREDENTIALS,
        }
    }
}

fn reply((code, text): &(u16, String)) -> Response {
    Response::custom(*code, text.clone())
}

impl Handler for Recorder {
    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> Response {
        match self.rules.greeting {
            Some(code) => Response::custom(code, "4.3.2 Try again later".into()),
            None => mailin::response::OK,
        }
    }

    fn mail(&mut self, _ip: IpAddr, _domain: &str, _from: &str) -> Response {
        let seen = self.mail_from_seen.fetch_add(1, Ordering::SeqCst);
        if let Some((n, code, text)) = &self.rules.mail_from_first
            && seen < *n
        {
            return Response::custom(*code, text.clone());
        }
        self.rules
            .mail_from
            .as_ref()
            .map_or(mailin::response::OK, reply)
    }

    fn rcpt(&mut self, to: &str) -> Response {
        let refusal = self
            .rules
            .rcpt
            .iter()
            .find(|(address, ..)| address.eq_ignore_ascii_case(to));
        match refusal {
            Some((_, code, text)) => Response::custom(*code, text.clone()),
            None => mailin::response::OK,
        }
    }

    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Some(ReceivedMail {
            mail_from: from.into(),
            rcpt_to: to.to_vec(),
            data: Vec::new(),
            accepted_at: chrono::Utc::now(),
        });
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        if let Some(mail) = &mut self.current {
            mail.data.extend_from_slice(buf);
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let mut mail = self.current.take().expect("data_start came first");
        if let Some(refusal) = &self.rules.data {
            return reply(refusal);
        }
        mail.accepted_at = chrono::Utc::now();
        let mut inbox = self.inbox.lock().unwrap();
        inbox.push(mail);
        Response::custom(250, format!("2.0.0 Ok: queued as {:06X}", inbox.len()))
    }

    fn auth_plain(&mut self, _authorization_id: &str, username: &str, password: &str) -> Response {
        self.check(username, password)
    }

    fn auth_login(&mut self, username: &str, password: &str) -> Response {
        self.check(username, password)
    }
}
