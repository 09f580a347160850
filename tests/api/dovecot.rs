//! A real IMAP server for the tests: Dovecot from the Debian packages
//! (`apt-get install dovecot-imapd`; `.ci/run` installs it), one instance
//! per test with its own configuration, runtime directory, maildir and
//! passwd-file in a temporary directory, on a free loopback port, plain
//! LOGIN allowed (loopback only). Run as root (the sandbox and CI), its
//! master process drops the login and mail processes to Debian's
//! unprivileged `dovenull` and `dovecot` users; run as anyone else, every
//! process is that user.
//!
//! Mail is delivered with IMAP APPEND, as a second client would, so the
//! watcher's IDLE sees it arrive the way it sees an MTA's delivery.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const DOVECOT: &str = "/usr/sbin/dovecot";
pub const USER: &str = "replies@acme.test";
pub const PASSWORD: &str = "imap-s3cret pass";

pub struct Dovecot {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn command_output(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .expect("run a command");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl Dovecot {
    /// A server offering IDLE; `None` (the test says why and returns)
    /// when Dovecot is not installed here. CI installs it.
    pub async fn start() -> Option<Self> {
        Self::start_with("").await
    }

    /// A server that does not advertise IDLE (so clients poll).
    pub async fn start_without_idle() -> Option<Self> {
        Self::start_with(
            "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+ UIDPLUS\n",
        )
        .await
    }

    async fn start_with(extra: &str) -> Option<Self> {
        if !Path::new(DOVECOT).exists() {
            eprintln!(
                "SKIPPED: {DOVECOT} is not installed (apt-get install dovecot-imapd); \
                 .ci/run installs it, so CI runs this test"
            );
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        let port = free_port();
        let is_root = command_output("id", &["-u"]) == "0";
        let (login_user, internal_user, internal_group, mail_user, mail_group) = if is_root {
            (
                "dovenull".to_owned(),
                "dovecot".to_owned(),
                "dovecot".to_owned(),
                "dovecot".to_owned(),
                "dovecot".to_owned(),
            )
        } else {
            let user = command_output("id", &["-un"]);
            let group = command_output("id", &["-gn"]);
            (user.clone(), user.clone(), group.clone(), user, group)
        };
        let mail = root.join("mail");
        std::fs::create_dir_all(&mail).expect("mail dir");
        if is_root {
            // The unprivileged mail processes reach their maildir through
            // the temporary directory (0700 by default) and own it.
            let status = Command::new("chown")
                .args([
                    "-R",
                    &format!("{mail_user}:{mail_group}"),
                    mail.to_str().unwrap(),
                ])
                .status()
                .expect("chown");
            assert!(status.success());
            let status = Command::new("chmod")
                .args(["755", root.to_str().unwrap()])
                .status()
                .expect("chmod");
            assert!(status.success());
        }
        std::fs::write(root.join("passwd"), format!("{USER}:{{PLAIN}}{PASSWORD}\n"))
            .expect("passwd file");
        let root_s = root.display();
        let config = format!(
            "protocols = imap\n\
             listen = 127.0.0.1\n\
             base_dir = {root_s}/run\n\
             state_dir = {root_s}/state\n\
             log_path = {root_s}/dovecot.log\n\
             ssl = no\n\
             disable_plaintext_auth = no\n\
             auth_mechanisms = plain login\n\
             default_login_user = {login_user}\n\
             default_internal_user = {internal_user}\n\
             default_internal_group = {internal_group}\n\
             first_valid_uid = 0\n\
             mail_location = maildir:{root_s}/mail/%u/Maildir\n\
             {extra}\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN {root_s}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid={mail_user} gid={mail_group} home={root_s}/mail/%u\n}}\n\
             service imap-login {{\n  chroot =\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service anvil {{\n  chroot =\n}}\n"
        );
        let config_path = root.join("dovecot.conf");
        std::fs::write(&config_path, config).expect("config");
        let child = Command::new(DOVECOT)
            .args(["-F", "-c", config_path.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start dovecot");
        let server = Self { port, child, dir };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Some(server);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("dovecot did not start: {}", server.log());
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    async fn session(&self) -> async_imap::Session<tokio::net::TcpStream> {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect to dovecot");
        let mut client = async_imap::Client::new(stream);
        client
            .read_response()
            .await
            .expect("greeting")
            .expect("a greeting");
        client
            .login(USER, PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .expect("login")
    }

    /// Delivers `raw` (CRLF line endings are added) into INBOX.
    pub async fn deliver(&self, raw: &str) {
        let raw = raw.replace("\r\n", "\n").replace('\n', "\r\n");
        let mut session = self.session().await;
        session
            .append("INBOX", None, None, raw.as_bytes())
            .await
            .expect("append");
        session.logout().await.expect("logout");
    }
}
