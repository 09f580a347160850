//! Sender mailboxes against a real IMAP server (Dovecot, started per test):
//! replies, automatic replies and bounce reports that arrive in the
//! mailbox are recorded once and change the message as each should;
//! another tenant's message, unrelated mail and delays change nothing; a
//! restart resumes where the last process stopped; IDLE sees mail at once
//! and a server without it is polled; one process watches a mailbox at a
//! time; the settings are admin-only, never show the password and stay in
//! their tenant.

use std::time::Duration;

use serde_json::{Value, json};

use crate::dovecot::{self, Dovecot};
use crate::helpers::{Session, TestApp};
use crate::messaging::{create_lead, create_sender, create_template, send, wait_for_status};
use crate::smtp_server::TestSmtpServer;

const ACCOUNT_FIELDS: &str = "id name hasPassword mailbox { host port tlsMode username hasPassword folder enabled supportsIdle lastCheckedAt lastError }";
const EVENTS: &str = "query($id: ID!) { message(id: $id) { status repliedAt error events { nodes { type source detail } } } }";

async fn spawn(adjust: impl FnOnce(&mut promohub::config::Config)) -> TestApp {
    TestApp::spawn_with(|c| {
        c.messaging.worker_poll_ms = 50;
        c.messaging.machine_window_ms = 0;
        c.messaging.imap_poll_secs = 1;
        c.messaging.imap_rescan_secs = 1;
        c.messaging.imap_lease_secs = 30;
        adjust(c);
    })
    .await
}

fn mailbox_input(server: &Dovecot) -> Value {
    json!({
        "host": "127.0.0.1", "port": server.port, "tlsMode": "NONE",
        "username": dovecot::USER, "password": dovecot::PASSWORD
    })
}

async fn set_mailbox(
    app: &TestApp,
    s: &Session,
    sender: &str,
    mailbox: Value,
) -> crate::helpers::Gql {
    app.gql_as(
        &s.access_token,
        &format!("mutation($id: ID!, $input: UpdateSenderAccountInput!) {{ updateSenderAccount(id: $id, input: $input) {{ {ACCOUNT_FIELDS} }} }}"),
        json!({ "id": sender, "input": { "mailbox": mailbox } }),
    )
    .await
}

async fn account(app: &TestApp, s: &Session, sender: &str) -> Value {
    app.gql_as(
        &s.access_token,
        &format!("query($id: ID!) {{ senderAccount(id: $id) {{ {ACCOUNT_FIELDS} }} }}"),
        json!({ "id": sender }),
    )
    .await
    .data("senderAccount")
    .clone()
}

/// Waits until the watcher has checked the mailbox once (connected,
/// logged in, read what was there).
async fn wait_until_checked(app: &TestApp, s: &Session, sender: &str) -> Value {
    for _ in 0..200 {
        let account = account(app, s, sender).await;
        if !account["mailbox"]["lastCheckedAt"].is_null() {
            return account;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the mailbox was never checked: {}",
        account(app, s, sender).await
    );
}

async fn events_of(app: &TestApp, s: &Session, message: &str) -> Value {
    app.gql_as(&s.access_token, EVENTS, json!({ "id": message }))
        .await
        .data("message")
        .clone()
}

fn types(message: &Value) -> Vec<String> {
    message["events"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

/// Waits until the message has an event of `kind`, and returns it.
async fn wait_for_event(app: &TestApp, s: &Session, message: &str, kind: &str) -> Value {
    for _ in 0..300 {
        let m = events_of(app, s, message).await;
        if types(&m).iter().any(|t| t == kind) {
            // Read again: on PostgreSQL the message and its events are two
            // statements, and the commit may have landed between them.
            return events_of(app, s, message).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "message {message} never got {kind}: {}",
        events_of(app, s, message).await
    );
}

/// A tenant with an SMTP sender (a real SMTP server), a template, and a
/// mailbox on the sender when `server` is given.
struct Tenant {
    owner: Session,
    sender: String,
    template: String,
}

async fn tenant(
    app: &TestApp,
    slug: &str,
    smtp: &TestSmtpServer,
    server: Option<&Dovecot>,
) -> Tenant {
    let owner = app.sign_up(slug).await;
    let sender = create_sender(app, &owner, "Main", smtp.port(), 0).await;
    let template = create_template(app, &owner).await;
    if let Some(server) = server {
        set_mailbox(app, &owner, &sender, mailbox_input(server))
            .await
            .data("updateSenderAccount");
    }
    Tenant {
        owner,
        sender,
        template,
    }
}

/// Sends a message to a new lead and waits until it is sent; returns its
/// id and Message-ID header.
async fn sent(app: &TestApp, t: &Tenant, email: &str) -> (String, String) {
    let lead = create_lead(app, &t.owner, "Ada", email).await;
    let message = send(app, &t.owner, &lead, &t.template).await;
    let id = message["id"].as_str().unwrap().to_owned();
    let sent = wait_for_status(app, &t.owner, &id, "SENT").await;
    (id, sent["messageIdHeader"].as_str().unwrap().to_owned())
}

fn bracketed(id: &str) -> String {
    if id.starts_with('<') {
        id.to_owned()
    } else {
        format!("<{id}>")
    }
}

/// A person's reply to our message `message_id_header`.
fn reply_to(message_id_header: &str, from: &str, mail_id: &str, extra: &str) -> String {
    format!(
        "From: Ada Lovelace <{from}>\nTo: sales@acme.test\nSubject: Re: Hello Ada\n\
         Message-ID: <{mail_id}@mail.example.com>\nIn-Reply-To: {}\n{extra}\
         Date: Mon, 7 Dec 2026 10:00:00 +0000\n\nYes please, tell me more.\n",
        bracketed(message_id_header)
    )
}

fn dsn(
    message_id_header: &str,
    recipient: &str,
    action: &str,
    status: &str,
    mail_id: &str,
) -> String {
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\n\
         To: sales@acme.test\n\
         Subject: Undelivered Mail Returned to Sender\n\
         Auto-Submitted: auto-replied\n\
         Message-ID: <{mail_id}@mx.example.com>\n\
         MIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"RB\"\n\
         \n\
         --RB\n\
         Content-Type: text/plain\n\
         \n\
         Your message could not be delivered (or not yet).\n\
         --RB\n\
         Content-Type: message/delivery-status\n\
         \n\
         Reporting-MTA: dns; mx.example.com\n\
         \n\
         Final-Recipient: rfc822; {recipient}\n\
         Action: {action}\n\
         Status: {status}\n\
         Diagnostic-Code: smtp; 550 {status} <{recipient}>: Recipient address rejected\n\
         \n\
         --RB\n\
         Content-Type: text/rfc822-headers\n\
         \n\
         From: Acme Sales <sales@acme.test>\n\
         To: {recipient}\n\
         Subject: Hello Ada\n\
         Message-ID: {}\n\
         \n\
         --RB--\n",
        bracketed(message_id_header)
    )
}

async fn suppressed(app: &TestApp, s: &Session) -> Vec<String> {
    app.gql_as(
        &s.access_token,
        "{ suppressions(first: 50) { nodes { email reason } } }",
        json!({}),
    )
    .await
    .data("suppressions")["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            format!(
                "{} {}",
                n["email"].as_str().unwrap(),
                n["reason"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn replies_out_of_office_and_bounce_reports_in_the_mailbox_are_each_recorded_as_what_they_are()
 {
    let Some(server) = Dovecot::start().await else {
        return;
    };
    let smtp = TestSmtpServer::start();
    let app = spawn(|_| {}).await;
    let t = tenant(&app, "acme", &smtp, Some(&server)).await;
    let (replied, replied_id) = sent(&app, &t, "ada@example.com").await;
    let (away, away_id) = sent(&app, &t, "grace@example.com").await;
    let (bounced, bounced_id) = sent(&app, &t, "nobody@example.com").await;
    let (delayed, delayed_id) = sent(&app, &t, "slow@example.com").await;
    wait_until_checked(&app, &t.owner, &t.sender).await;

    server
        .deliver(&reply_to(&replied_id, "ada@example.com", "r1", ""))
        .await;
    server
        .deliver(&reply_to(
            &away_id,
            "grace@example.com",
            "a1",
            "Auto-Submitted: auto-replied\nX-Autoreply: yes\n",
        ))
        .await;
    server
        .deliver(&dsn(
            &bounced_id,
            "nobody@example.com",
            "failed",
            "5.1.1",
            "d1",
        ))
        .await;
    server
        .deliver(&dsn(
            &delayed_id,
            "slow@example.com",
            "delayed",
            "4.4.1",
            "d2",
        ))
        .await;
    server
        .deliver("From: boss@acme.test\nTo: sales@acme.test\nSubject: Lunch?\nMessage-ID: <u1@acme.test>\n\nNoon.\n")
        .await;

    // A reply: the message is replied, with a REPLIED event from the mailbox.
    let m = wait_for_event(&app, &t.owner, &replied, "REPLIED").await;
    assert_eq!(m["status"], "REPLIED");
    assert!(!m["repliedAt"].is_null());
    let event = m["events"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "REPLIED")
        .unwrap();
    assert_eq!(event["source"], "imap");
    assert_eq!(event["detail"]["from"], "Ada Lovelace <ada@example.com>");
    // An out-of-office: recorded as such; the message is not replied.
    let m = wait_for_event(&app, &t.owner, &away, "AUTO_REPLIED").await;
    assert_eq!(m["status"], "SENT", "{m}");
    assert!(m["repliedAt"].is_null());
    assert!(!types(&m).contains(&"REPLIED".to_owned()));
    // A 5.1.1 report: bounced, and the address suppressed.
    let m = wait_for_event(&app, &t.owner, &bounced, "BOUNCED").await;
    assert_eq!(m["status"], "BOUNCED");
    assert!(m["error"].as_str().unwrap().contains("5.1.1"), "{m}");
    assert_eq!(
        suppressed(&app, &t.owner).await,
        vec!["nobody@example.com HARD_BOUNCE".to_owned()]
    );
    // Every mail has been read (the unrelated one last): the delay and the
    // unrelated mail changed nothing.
    for _ in 0..100 {
        let last: i64 = app.sql("SELECT last_uid FROM sender_mailboxes").await[0]
            .try_get("", "last_uid")
            .unwrap();
        if last == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let m = events_of(&app, &t.owner, &delayed).await;
    assert_eq!(m["status"], "SENT");
    assert_eq!(types(&m), vec!["SENT"]);
    assert_eq!(app.count("engagement_events", "source = 'imap'").await, 3);
    let account = account(&app, &t.owner, &t.sender).await;
    assert_eq!(account["mailbox"]["supportsIdle"], true);
    assert!(account["mailbox"]["lastError"].is_null(), "{account}");
}

#[tokio::test]
async fn a_reply_naming_another_tenants_message_is_not_recorded_for_it() {
    let Some(server) = Dovecot::start().await else {
        return;
    };
    let smtp = TestSmtpServer::start();
    let app = spawn(|_| {}).await;
    let mine = tenant(&app, "acme", &smtp, Some(&server)).await;
    let theirs = tenant(&app, "globex", &smtp, None).await;
    let (their_message, their_id) = sent(&app, &theirs, "ada@example.com").await;
    let (my_message, my_id) = sent(&app, &mine, "grace@example.com").await;
    wait_until_checked(&app, &mine.owner, &mine.sender).await;

    server
        .deliver(&reply_to(&their_id, "ada@example.com", "x1", ""))
        .await;
    server
        .deliver(&reply_to(&my_id, "grace@example.com", "x2", ""))
        .await;

    // The second mail is recorded, so the first has been read by then.
    wait_for_event(&app, &mine.owner, &my_message, "REPLIED").await;
    let theirs_now = events_of(&app, &theirs.owner, &their_message).await;
    assert_eq!(theirs_now["status"], "SENT");
    assert_eq!(types(&theirs_now), vec!["SENT"]);
}

#[tokio::test]
async fn a_restarted_watcher_resumes_after_the_last_mail_and_never_records_one_twice() {
    let Some(server) = Dovecot::start().await else {
        return;
    };
    let smtp = TestSmtpServer::start();
    let first = spawn(|_| {}).await;
    let t = tenant(&first, "acme", &smtp, Some(&server)).await;
    let (message, id) = sent(&first, &t, "ada@example.com").await;
    let (later, later_id) = sent(&first, &t, "grace@example.com").await;
    wait_until_checked(&first, &t.owner, &t.sender).await;
    server
        .deliver(&reply_to(&id, "ada@example.com", "r1", ""))
        .await;
    wait_for_event(&first, &t.owner, &message, "REPLIED").await;

    // The first process stops (its lease is let go); as if it had crashed
    // before storing its position, the stored UID is put back.
    first
        .state
        .shared
        .mailbox_watchers
        .stop_and_wait(Duration::from_secs(10))
        .await;
    first.sql("UPDATE sender_mailboxes SET last_uid = 0").await;
    let second = first
        .another_process(|c| {
            c.messaging.imap_poll_secs = 1;
            c.messaging.imap_rescan_secs = 1;
            c.messaging.imap_lease_secs = 30;
        })
        .await;
    server
        .deliver(&reply_to(&later_id, "grace@example.com", "r2", ""))
        .await;

    // The second process reads both mails again and records only the new.
    wait_for_event(&second, &t.owner, &later, "REPLIED").await;
    assert_eq!(second.state.shared.mailbox_watchers.watching(), 1);
    assert_eq!(first.state.shared.mailbox_watchers.watching(), 0);
    assert_eq!(
        second
            .count("engagement_events", "event_type = 'replied'")
            .await,
        2
    );
    let m = events_of(&second, &t.owner, &message).await;
    let mut kinds = types(&m);
    kinds.sort();
    assert_eq!(kinds, vec!["REPLIED", "SENT"]);
}

#[tokio::test]
async fn two_processes_watch_a_mailbox_once() {
    let Some(server) = Dovecot::start().await else {
        return;
    };
    let smtp = TestSmtpServer::start();
    let first = spawn(|_| {}).await;
    let second = first
        .another_process(|c| {
            c.messaging.imap_poll_secs = 1;
            c.messaging.imap_rescan_secs = 1;
            c.messaging.imap_lease_secs = 30;
        })
        .await;
    let t = tenant(&first, "acme", &smtp, Some(&server)).await;
    let (message, id) = sent(&first, &t, "ada@example.com").await;
    wait_until_checked(&first, &t.owner, &t.sender).await;
    // Both have rescanned at least twice.
    tokio::time::sleep(Duration::from_millis(2_500)).await;

    server
        .deliver(&reply_to(&id, "ada@example.com", "r1", ""))
        .await;
    wait_for_event(&first, &t.owner, &message, "REPLIED").await;

    let watching = [
        first.state.shared.mailbox_watchers.watching(),
        second.state.shared.mailbox_watchers.watching(),
    ];
    assert_eq!(watching.iter().sum::<usize>(), 1, "{watching:?}");
    assert_eq!(first.count("engagement_events", "source = 'imap'").await, 1);
}

#[tokio::test]
async fn idle_sees_new_mail_at_once_without_waiting_for_the_poll() {
    let Some(server) = Dovecot::start().await else {
        return;
    };
    let smtp = TestSmtpServer::start();
    // Polling every 10 minutes, renewing every 20 s: only IDLE can be quick.
    let app = spawn(|c| {
        c.messaging.imap_poll_secs = 600;
        c.messaging.imap_lease_secs = 60;
    })
    .await;
    let t = tenant(&app, "acme", &smtp, Some(&server)).await;
    let (message, id) = sent(&app, &t, "ada@example.com").await;
    let account = wait_until_checked(&app, &t.owner, &t.sender).await;
    assert_eq!(account["mailbox"]["supportsIdle"], true);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = std::time::Instant::now();
    server
        .deliver(&reply_to(&id, "ada@example.com", "r1", ""))
        .await;
    wait_for_event(&app, &t.owner, &message, "REPLIED").await;

    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_server_without_idle_is_polled() {
    let Some(server) = Dovecot::start_without_idle().await else {
        return;
    };
    let smtp = TestSmtpServer::start();
    let app = spawn(|_| {}).await;
    let t = tenant(&app, "acme", &smtp, Some(&server)).await;
    let (message, id) = sent(&app, &t, "ada@example.com").await;
    let account = wait_until_checked(&app, &t.owner, &t.sender).await;
    assert_eq!(account["mailbox"]["supportsIdle"], false);

    server
        .deliver(&reply_to(&id, "ada@example.com", "r1", ""))
        .await;

    wait_for_event(&app, &t.owner, &message, "REPLIED").await;
}

const TEST_MAILBOX: &str = "mutation($id: ID!) { testSenderMailbox(id: $id) { ok stage server encrypted supportsIdle messages message } }";

#[tokio::test]
async fn mailbox_settings_are_for_admins_never_show_the_password_and_stay_in_their_tenant() {
    let Some(server) = Dovecot::start().await else {
        return;
    };
    let app = spawn(|_| {}).await;
    let owner = app.sign_up("acme").await;
    let member = app
        .add_member(&owner, "member@acme.example", "MEMBER")
        .await;
    let other = app.sign_up("globex").await;

    // Created with the account: the password is sealed and never returned.
    let created = app
        .gql_as(
            &owner.access_token,
            &format!("mutation($input: CreateSenderAccountInput!) {{ createSenderAccount(input: $input) {{ {ACCOUNT_FIELDS} }} }}"),
            json!({ "input": {
                "name": "Main", "host": "127.0.0.1", "port": 2525, "tlsMode": "NONE",
                "fromEmail": "sales@acme.test", "password": "smtp-pass",
                "mailbox": mailbox_input(&server)
            }}),
        )
        .await;
    let account = created.data("createSenderAccount").clone();
    let id = account["id"].as_str().unwrap().to_owned();
    assert_eq!(
        account["mailbox"],
        json!({
            "host": "127.0.0.1", "port": server.port, "tlsMode": "NONE",
            "username": dovecot::USER, "hasPassword": true, "folder": "INBOX",
            "enabled": true, "supportsIdle": account["mailbox"]["supportsIdle"],
            "lastCheckedAt": account["mailbox"]["lastCheckedAt"], "lastError": null
        })
    );
    assert!(!created.body.to_string().contains(dovecot::PASSWORD));
    let stored: String = app
        .sql("SELECT password_encrypted FROM sender_mailboxes")
        .await[0]
        .try_get("", "password_encrypted")
        .unwrap();
    assert!(!stored.contains(dovecot::PASSWORD));
    assert_eq!(
        app.count(
            "audit_log",
            &format!("CAST(changes AS TEXT) LIKE '%{}%'", dovecot::PASSWORD)
        )
        .await,
        0,
        "the audit log redacts the mailbox password"
    );
    assert_eq!(
        app.count(
            "audit_log",
            "CAST(changes AS TEXT) LIKE '%mailbox%[redacted]%'"
        )
        .await,
        1
    );

    // The test connects, logs in and selects INBOX.
    let tested = app
        .gql_as(&owner.access_token, TEST_MAILBOX, json!({ "id": id }))
        .await;
    let tested = tested.data("testSenderMailbox");
    assert_eq!(tested["ok"], true, "{tested}");
    assert_eq!(tested["stage"], Value::Null);
    assert_eq!(tested["supportsIdle"], true);
    assert!(tested["server"].as_str().unwrap().contains("Dovecot"));

    // A wrong password fails at LOGIN, and says so.
    set_mailbox(&app, &owner, &id, json!({ "password": "wrong" }))
        .await
        .data("updateSenderAccount");
    let tested = app
        .gql_as(&owner.access_token, TEST_MAILBOX, json!({ "id": id }))
        .await;
    assert_eq!(tested.data("testSenderMailbox")["ok"], false);
    assert_eq!(tested.data("testSenderMailbox")["stage"], "Auth");

    // Members read the mailbox but cannot set it or test it.
    let read = account_as(&app, &member, &id).await;
    assert_eq!(read["mailbox"]["username"], dovecot::USER);
    set_mailbox(&app, &member, &id, json!({ "password": "mine" }))
        .await
        .expect_error("FORBIDDEN");
    app.gql_as(&member.access_token, TEST_MAILBOX, json!({ "id": id }))
        .await
        .expect_error("FORBIDDEN");

    // Another tenant's account id is not found.
    set_mailbox(&app, &other, &id, mailbox_input(&server))
        .await
        .expect_error("NOT_FOUND");
    app.gql_as(&other.access_token, TEST_MAILBOX, json!({ "id": id }))
        .await
        .expect_error("NOT_FOUND");

    // A new mailbox needs its credentials, and a loopback-free host rule
    // is checked (private hosts are allowed in this configuration).
    let second = app
        .gql_as(
            &owner.access_token,
            "mutation($input: CreateSenderAccountInput!) { createSenderAccount(input: $input) { id } }",
            json!({ "input": { "name": "Second", "host": "127.0.0.1", "tlsMode": "NONE", "fromEmail": "b@acme.test" } }),
        )
        .await
        .data("createSenderAccount")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = set_mailbox(&app, &owner, &second, json!({ "host": "127.0.0.1" })).await;
    refused.expect_error("BAD_USER_INPUT");
    assert_eq!(
        crate::helpers::bad_field(&refused),
        "input.mailbox.username"
    );

    // A sealed password copied to another account, or the SMTP password
    // copied into the mailbox slot, does not open.
    set_mailbox(&app, &owner, &second, mailbox_input(&server))
        .await
        .data("updateSenderAccount");
    set_mailbox(&app, &owner, &id, json!({ "password": dovecot::PASSWORD }))
        .await
        .data("updateSenderAccount");
    app.sql(&format!(
        "UPDATE sender_mailboxes SET password_encrypted = \
         (SELECT password_encrypted FROM sender_mailboxes WHERE sender_id = {MAIN}) \
         WHERE sender_id = {SECOND}"
    ))
    .await;
    let tested = app
        .gql_as(&owner.access_token, TEST_MAILBOX, json!({ "id": second }))
        .await;
    let tested = tested.data("testSenderMailbox");
    assert_eq!(tested["ok"], false);
    assert_eq!(tested["stage"], "Auth");
    assert!(
        tested["message"]
            .as_str()
            .unwrap()
            .contains("does not decrypt")
    );
    app.sql(&format!(
        "UPDATE sender_mailboxes SET password_encrypted = \
         (SELECT password_encrypted FROM sender_accounts WHERE id = {MAIN}) \
         WHERE sender_id = {MAIN}"
    ))
    .await;
    let tested = app
        .gql_as(&owner.access_token, TEST_MAILBOX, json!({ "id": id }))
        .await;
    assert_eq!(tested.data("testSenderMailbox")["stage"], "Auth");

    // Removing the mailbox (null) stops the watch.
    let removed = set_mailbox(&app, &owner, &id, Value::Null).await;
    assert_eq!(removed.data("updateSenderAccount")["mailbox"], Value::Null);
    assert_eq!(
        app.count("mailbox_watches", &format!("sender_id = {MAIN}"))
            .await,
        0
    );
}

/// The accounts' ids in SQL (text on PostgreSQL, bytes on SQLite).
const MAIN: &str = "(SELECT id FROM sender_accounts WHERE name = 'Main')";
const SECOND: &str = "(SELECT id FROM sender_accounts WHERE name = 'Second')";

async fn account_as(app: &TestApp, s: &Session, id: &str) -> Value {
    account(app, s, id).await
}

#[tokio::test]
async fn a_loopback_mailbox_host_is_refused_unless_private_hosts_are_allowed() {
    let app = spawn(|c| c.allow_private_hosts = Some(false)).await;
    let owner = app.sign_up("acme").await;

    let refused = app
        .gql_as(
            &owner.access_token,
            "mutation($input: CreateSenderAccountInput!) { createSenderAccount(input: $input) { id } }",
            json!({ "input": {
                "name": "Main", "host": "smtp.example.com", "fromEmail": "sales@acme.test",
                "mailbox": { "host": "127.0.0.1", "username": "u", "password": "p" }
            }}),
        )
        .await;

    refused.expect_error("BAD_USER_INPUT");
    assert_eq!(crate::helpers::bad_field(&refused), "input.mailbox.host");
}

/// A form as SendGrid Inbound Parse posts it.
fn inbound_parse_form(headers: &str) -> (String, Vec<u8>) {
    let boundary = "xYzZY";
    let mut body = String::new();
    for (name, value) in [
        ("headers", headers),
        ("from", "Ada Lovelace <ada@example.com>"),
        ("subject", "Automatic reply: Hello Ada"),
    ] {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (
        format!("multipart/form-data; boundary={boundary}"),
        body.into_bytes(),
    )
}

#[tokio::test]
async fn an_out_of_office_posted_by_sendgrid_inbound_parse_is_not_a_reply_either() {
    let smtp = TestSmtpServer::start();
    let app =
        spawn(|c| c.messaging.sendgrid_inbound_auth = Some("sendgrid:parse-pass".into())).await;
    let t = tenant(&app, "acme", &smtp, None).await;
    let (message, id) = sent(&app, &t, "ada@example.com").await;
    let headers = format!(
        "From: Ada Lovelace <ada@example.com>\r\nSubject: Automatic reply: Hello Ada\r\n\
         Message-ID: <ooo-1@mail.example.com>\r\nIn-Reply-To: {}\r\n\
         Auto-Submitted: auto-replied\r\n",
        bracketed(&id)
    );
    let (content_type, body) = inbound_parse_form(&headers);

    let response = app
        .http
        .post(app.url("/webhooks/email/sendgrid-inbound"))
        .basic_auth("sendgrid", Some("parse-pass"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let m = wait_for_event(&app, &t.owner, &message, "AUTO_REPLIED").await;
    assert_eq!(m["status"], "SENT");
    assert!(m["repliedAt"].is_null());
    let event = m["events"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "AUTO_REPLIED")
        .unwrap();
    assert_eq!(event["source"], "sendgrid-inbound");
    assert_eq!(event["detail"]["automatic"], "Auto-Submitted: auto-replied");
}

#[tokio::test]
async fn a_watcher_that_stops_renewing_its_lease_is_taken_over_once_the_lease_runs_out() {
    let Some(server) = Dovecot::start().await else {
        return;
    };
    let smtp = TestSmtpServer::start();
    // Renewed every 2 s, held for 6 s.
    let lease = |c: &mut promohub::config::Config| {
        c.messaging.imap_poll_secs = 1;
        c.messaging.imap_rescan_secs = 1;
        c.messaging.imap_lease_secs = 6;
    };
    let first = spawn(lease).await;
    let t = tenant(&first, "acme", &smtp, Some(&server)).await;
    let (message, id) = sent(&first, &t, "ada@example.com").await;
    wait_until_checked(&first, &t.owner, &t.sender).await;
    assert_eq!(first.state.shared.mailbox_watchers.watching(), 1);
    let second = first.another_process(lease).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        second.state.shared.mailbox_watchers.watching(),
        0,
        "a live lease is respected"
    );

    // For the second process the first one's lease has run out (as if the
    // first had died): it takes the mailbox, and the first one, finding
    // its lease gone at its next renewal, lets go.
    second
        .state
        .shared
        .clock
        .advance(chrono::Duration::seconds(60));
    for _ in 0..200 {
        if second.state.shared.mailbox_watchers.watching() == 1
            && first.state.shared.mailbox_watchers.watching() == 0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(second.state.shared.mailbox_watchers.watching(), 1);
    assert_eq!(first.state.shared.mailbox_watchers.watching(), 0);

    server
        .deliver(&reply_to(&id, "ada@example.com", "r1", ""))
        .await;
    wait_for_event(&second, &t.owner, &message, "REPLIED").await;
    assert_eq!(first.count("engagement_events", "source = 'imap'").await, 1);
}

/// Issue 18: a reply that arrives in the sender's mailbox between two steps
/// of a sequence stops it for that lead; an out-of-office does not.
#[tokio::test]
async fn a_reply_in_the_mailbox_stops_the_sequence_and_an_out_of_office_does_not() {
    let Some(server) = Dovecot::start().await else {
        return;
    };
    let smtp = TestSmtpServer::start();
    let app = spawn(|_| {}).await;
    let t = tenant(&app, "seq", &smtp, Some(&server)).await;
    wait_until_checked(&app, &t.owner, &t.sender).await;
    let ada = create_lead(&app, &t.owner, "Ada", "ada@example.com").await;
    let bob = create_lead(&app, &t.owner, "Bob", "bob@example.com").await;
    let campaign = app
        .gql_as(
            &t.owner.access_token,
            "mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id } }",
            json!({ "input": { "name": "Outbound", "kind": "SEQUENCE", "steps": [
                { "variants": [{ "subject": "Hello {{ lead.firstName }}", "textBody": "Hi" }] },
                { "delay": { "amount": 2, "unit": "DAYS" },
                  "variants": [{ "subject": "Following up", "textBody": "Again" }] } ] } }),
        )
        .await
        .data("createCampaign")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let launched = app
        .gql_as(
            &t.owner.access_token,
            "mutation($id: ID!) { launchCampaign(id: $id) { launched } }",
            json!({ "id": campaign }),
        )
        .await;
    assert_eq!(launched.data("launchCampaign")["launched"], true);
    let first_message = |lead: String| {
        let (app, owner) = (&app, &t.owner);
        async move {
            for _ in 0..300 {
                let found = app
                    .gql_as(
                        &owner.access_token,
                        "query($id: ID!) { lead(id: $id) { messages(first: 5) { nodes { id status messageIdHeader } } } }",
                        json!({ "id": lead }),
                    )
                    .await
                    .data("lead")["messages"]["nodes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|m| m["status"] == "SENT")
                    .cloned();
                if let Some(m) = found {
                    return m;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("no first step for {lead}");
        }
    };
    let to_ada = first_message(ada.clone()).await;
    let to_bob = first_message(bob.clone()).await;
    server
        .deliver(&reply_to(
            to_ada["messageIdHeader"].as_str().unwrap(),
            "ada@example.com",
            "seq-r1",
            "",
        ))
        .await;
    server
        .deliver(&reply_to(
            to_bob["messageIdHeader"].as_str().unwrap(),
            "bob@example.com",
            "seq-ooo1",
            "Auto-Submitted: auto-replied\n",
        ))
        .await;
    wait_for_event(&app, &t.owner, to_ada["id"].as_str().unwrap(), "REPLIED").await;
    wait_for_event(
        &app,
        &t.owner,
        to_bob["id"].as_str().unwrap(),
        "AUTO_REPLIED",
    )
    .await;
    let enrollments = app
        .gql_as(
            &t.owner.access_token,
            "query($id: ID!) { campaign(id: $id) { enrollments(first: 5) { nodes { leadId status stopReason } } } }",
            json!({ "id": campaign }),
        )
        .await
        .data("campaign")["enrollments"]["nodes"]
        .clone();
    let of = |lead: &str| {
        enrollments
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["leadId"] == lead)
            .cloned()
            .unwrap()
    };
    assert_eq!(of(&ada)["status"], "STOPPED");
    assert_eq!(of(&ada)["stopReason"], "replied");
    assert_eq!(
        of(&bob)["status"],
        "ACTIVE",
        "an out-of-office is not a reply"
    );

    // Two days on, only Bob gets the follow-up.
    app.state.shared.clock.advance(chrono::Duration::days(2));
    for _ in 0..300 {
        if smtp.received().len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let subjects: Vec<String> = smtp
        .received()
        .iter()
        .map(|m| {
            format!(
                "{} {}",
                m.rcpt_to.join(","),
                m.header("Subject").unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(subjects.len(), 3, "{subjects:?}");
    assert!(
        subjects
            .iter()
            .any(|s| s.starts_with("bob@example.com") && s.ends_with("Following up"))
    );
    assert!(
        !subjects
            .iter()
            .any(|s| s.starts_with("ada@example.com") && s.ends_with("Following up"))
    );
}
