//! `deliver()` against a real SMTP server: what arrives, and how each kind
//! of refusal is classified for failover, retry or bounce.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use promohub::messaging::smtp::*;

use crate::smtp_server::{TestSmtpServer, closed_port};

const PATIENCE: Duration = Duration::from_secs(5);

fn account(port: u16) -> SmtpAccount {
    SmtpAccount {
        host: "127.0.0.1".into(),
        port,
        tls: TlsMode::None,
        username: None,
        password: None,
        timeout: PATIENCE,
        hello_name: "promohub.test".into(),
        allow_private: true,
    }
}

fn email() -> OutgoingEmail {
    OutgoingEmail {
        from_email: "news@shop.example".into(),
        from_name: Some("Zoë's Shop".into()),
        reply_to: Some("help@shop.example".into()),
        to: "ana@example.com".into(),
        subject: "Grüße aus München – 20 % Rabatt 🎉".into(),
        text_body: "Hallo Ana,\r\nunser Sommer-Angebot: 20 % auf alles. Grüße!".into(),
        html_body: Some(
            "<p>Hallo Ana,</p><p>unser <b>Sommer-Angebot</b>: 20 % auf alles. Grüße! 🎉</p>".into(),
        ),
        message_id: "0192f0e1-7c4a-7d2e-9b1a-3c5d7e9f1a2b@mail.promohub.local".into(),
        unsubscribe_url: "https://t.promohub.example/u/0192f0e1?sig=abc".into(),
        unsubscribe_mailto: Some("mailto:unsubscribe@promohub.example?subject=0192f0e1".into()),
    }
}

/// A `before_data` with no marker to record.
async fn go_ahead() -> anyhow::Result<()> {
    Ok(())
}

#[tokio::test]
async fn a_delivered_message_arrives_with_its_headers_and_both_bodies() {
    let server = TestSmtpServer::start();
    let sent = email();

    let accepted = deliver(&account(server.port()), &sent, go_ahead)
        .await
        .unwrap();

    assert_eq!(accepted.response, "250 2.0.0 Ok: queued as 000001");
    assert_eq!(accepted.provider_message_id.as_deref(), Some("000001"));
    let received = server.wait_for(1, PATIENCE).await;
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    assert_eq!(mail.mail_from, "news@shop.example");
    assert_eq!(mail.rcpt_to, ["ana@example.com"]);
    assert_eq!(
        mail.header("From").as_deref(),
        Some("Zoë's Shop <news@shop.example>")
    );
    assert_eq!(mail.header("To").as_deref(), Some("ana@example.com"));
    assert_eq!(
        mail.header("Reply-To").as_deref(),
        Some("help@shop.example")
    );
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some(sent.subject.as_str())
    );
    let date = mail.header("Date").expect("a Date header");
    assert!(
        chrono::DateTime::parse_from_rfc2822(&date).is_ok(),
        "{date}"
    );
    assert_eq!(
        mail.header("Message-ID").as_deref(),
        Some("<0192f0e1-7c4a-7d2e-9b1a-3c5d7e9f1a2b@mail.promohub.local>")
    );
    assert_eq!(
        mail.header("List-Unsubscribe").as_deref(),
        Some(
            "<https://t.promohub.example/u/0192f0e1?sig=abc>, \
             <mailto:unsubscribe@promohub.example?subject=0192f0e1>"
        )
    );
    assert_eq!(
        mail.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    assert_eq!(mail.text_body(), Some(sent.text_body));
    assert_eq!(mail.html_body(), sent.html_body);
    assert!(
        mail.data.is_ascii(),
        "headers and bodies are encoded to 7 bit"
    );
}

#[tokio::test]
async fn a_text_only_message_arrives_as_one_text_part_with_its_utf8_subject_intact() {
    let server = TestSmtpServer::start();
    let sent = OutgoingEmail {
        subject: "Ünïcødé ✓ — 日本語の件名".into(),
        html_body: None,
        unsubscribe_mailto: None,
        ..email()
    };

    deliver(&account(server.port()), &sent, go_ahead)
        .await
        .unwrap();

    let mail = &server.wait_for(1, PATIENCE).await[0];
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some(sent.subject.as_str())
    );
    assert_eq!(mail.text_body(), Some(sent.text_body));
    assert_eq!(mail.html_body(), None);
    assert_eq!(
        mail.header("List-Unsubscribe").as_deref(),
        Some("<https://t.promohub.example/u/0192f0e1?sig=abc>")
    );
}

#[tokio::test]
async fn auth_with_the_right_password_lets_the_message_through() {
    let server = TestSmtpServer::builder()
        .require_auth("mailer", "s3cret")
        .start();
    let account = SmtpAccount {
        username: Some("mailer".into()),
        password: Some("s3cret".into()),
        ..account(server.port())
    };

    let accepted = deliver(&account, &email(), go_ahead).await;

    assert!(accepted.is_ok(), "{accepted:?}");
    assert_eq!(server.wait_for(1, PATIENCE).await.len(), 1);
}

#[tokio::test]
async fn auth_with_a_wrong_password_is_an_account_problem_that_retrying_will_not_fix() {
    let server = TestSmtpServer::builder()
        .require_auth("mailer", "s3cret")
        .start();
    let account = SmtpAccount {
        username: Some("mailer".into()),
        password: Some("wrong".into()),
        ..account(server.port())
    };

    let failure = deliver(&account, &email(), go_ahead).await.unwrap_err();

    assert_eq!(failure.stage, Stage::Auth);
    assert_eq!(failure.code, Some(535));
    assert!(failure.is_account_problem());
    assert!(!failure.is_transient());
    assert!(!failure.is_permanent_for_message());
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_refused_connection_is_a_transient_account_problem() {
    let calls = AtomicUsize::new(0);
    let calls = &calls;

    let failure = deliver(&account(closed_port()), &email(), move || async move {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok(())
    })
    .await
    .unwrap_err();

    assert_eq!(failure.stage, Stage::Connect);
    assert_eq!(failure.code, None);
    assert!(failure.is_account_problem());
    assert!(failure.is_transient());
    assert!(!failure.is_permanent_for_message());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn with_private_hosts_refused_a_loopback_server_is_never_connected_to() {
    // A host saved while it resolved to a public address can resolve to a
    // private one later: the check runs again on every connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    for host in ["127.0.0.1", "localhost", "::ffff:127.0.0.1"] {
        let account = SmtpAccount {
            host: host.into(),
            allow_private: false,
            ..account(listener.local_addr().unwrap().port())
        };

        let failure = deliver(&account, &email(), go_ahead).await.unwrap_err();

        assert_eq!(failure.stage, Stage::Connect, "{host}");
        assert!(
            failure.message.contains("not a public address")
                || failure.message.contains("loopback"),
            "{host}: {failure}"
        );
        assert!(failure.is_account_problem());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "something connected: {accepted:?}"
    );
}

#[tokio::test]
async fn a_server_that_never_greets_times_out_as_a_transient_account_problem() {
    // The kernel completes the TCP handshake; nobody ever writes a greeting.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let account = SmtpAccount {
        timeout: Duration::from_millis(200),
        ..account(silent.local_addr().unwrap().port())
    };

    let failure = deliver(&account, &email(), go_ahead).await.unwrap_err();

    assert_eq!(failure.stage, Stage::Connect);
    assert_eq!(failure.code, None);
    assert!(failure.is_account_problem());
    assert!(failure.is_transient());
}

#[tokio::test]
async fn a_server_failing_everything_for_now_is_a_transient_account_problem() {
    let server = TestSmtpServer::builder().temp_fail_all(451).start();

    let failure = deliver(&account(server.port()), &email(), go_ahead)
        .await
        .unwrap_err();

    assert_eq!(failure.stage, Stage::Greeting);
    assert_eq!(failure.code, Some(451));
    assert!(failure.is_account_problem());
    assert!(failure.is_transient());
}

#[tokio::test]
async fn a_451_on_mail_from_is_a_transient_account_problem_with_the_servers_words() {
    let server = TestSmtpServer::builder()
        .reject_mail_from(451, "4.7.1 Sending rate exceeded, try later")
        .start();

    let failure = deliver(&account(server.port()), &email(), go_ahead)
        .await
        .unwrap_err();

    assert_eq!(failure.stage, Stage::MailFrom);
    assert_eq!(failure.code, Some(451));
    assert_eq!(failure.message, "4.7.1 Sending rate exceeded, try later");
    assert!(failure.is_transient());
    assert!(failure.is_account_problem());
    assert!(!failure.is_permanent_for_message());
}

#[tokio::test]
async fn a_550_on_rcpt_to_fails_the_message_without_starting_the_transfer() {
    let server = TestSmtpServer::builder()
        .reject_rcpt("ghost@example.com", 550, "5.1.1 No such user")
        .start();
    let calls = AtomicUsize::new(0);
    let calls = &calls;
    let to_a_ghost = OutgoingEmail {
        to: "ghost@example.com".into(),
        ..email()
    };

    let failure = deliver(&account(server.port()), &to_a_ghost, move || async move {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok(())
    })
    .await
    .unwrap_err();

    assert_eq!(failure.stage, Stage::RcptTo);
    assert_eq!(failure.code, Some(550));
    assert_eq!(failure.message, "5.1.1 No such user");
    assert!(failure.is_permanent_for_message());
    assert!(!failure.is_account_problem());
    assert!(!failure.is_transient());
    assert_eq!(calls.load(Ordering::SeqCst), 0, "before_data must not run");
    assert!(
        server
            .wait_for(1, Duration::from_millis(200))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_554_after_data_fails_the_message_for_good() {
    let server = TestSmtpServer::builder()
        .reject_data(554, "5.7.1 Message rejected as spam")
        .start();

    let failure = deliver(&account(server.port()), &email(), go_ahead)
        .await
        .unwrap_err();

    assert_eq!(failure.stage, Stage::Data);
    assert_eq!(failure.code, Some(554));
    assert_eq!(failure.message, "5.7.1 Message rejected as spam");
    assert!(failure.is_permanent_for_message());
    assert!(!failure.is_account_problem());
    assert!(!failure.is_transient());
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn before_data_runs_once_and_before_the_message_arrives() {
    let server = TestSmtpServer::start();
    let received_when_called = Mutex::new(Vec::new());
    let (log, server_ref) = (&received_when_called, &server);

    let accepted = deliver(&account(server.port()), &email(), move || async move {
        log.lock().unwrap().push(server_ref.received().len());
        Ok(())
    })
    .await;

    assert!(accepted.is_ok(), "{accepted:?}");
    assert_eq!(
        *received_when_called.lock().unwrap(),
        [0],
        "called once, before DATA"
    );
    assert_eq!(server.wait_for(1, PATIENCE).await.len(), 1);
}

#[tokio::test]
async fn when_before_data_fails_nothing_is_sent() {
    let server = TestSmtpServer::start();

    let failure = deliver(&account(server.port()), &email(), || async {
        Err(anyhow::anyhow!("database unavailable"))
    })
    .await
    .unwrap_err();

    assert_eq!(failure.stage, Stage::Data);
    assert_eq!(failure.code, None);
    assert!(
        failure.message.contains("database unavailable"),
        "{}",
        failure.message
    );
    assert!(
        server
            .wait_for(1, Duration::from_millis(200))
            .await
            .is_empty()
    );
}
