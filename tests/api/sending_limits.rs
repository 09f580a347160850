//! Per-sender sending limits (issue 18): the provider's sliding windows,
//! the hourly and daily caps, the random pause between sends and the
//! per-recipient-domain throttle hold exactly across workers and processes,
//! judged by the real SMTP server's own acceptance times; a throttling reply
//! reschedules the message without failing or skipping it; the settings are
//! validated, admin-only and tenant-scoped.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, bad_field};
use crate::messaging::{create_lead, create_template};
use crate::smtp_server::{ReceivedMail, TestSmtpServer};

const ACCOUNT_FIELDS: &str = "id name hourlyLimit dailyLimit rateLimits { limit perSeconds } \
     minDelayMs maxDelayMs domainLimit { limit perSeconds } nextSendAt throttledUntil";

async fn spawn(concurrency: usize) -> TestApp {
    TestApp::spawn_with(|c| {
        c.messaging.worker_poll_ms = 50;
        c.messaging.worker_concurrency = concurrency;
        c.messaging.retry_base_ms = 100;
        c.messaging.throttle_backoff_ms = 200;
    })
    .await
}

async fn try_create_account(app: &TestApp, s: &Session, input: Value) -> crate::helpers::Gql {
    app.gql_as(
        &s.access_token,
        &format!(
            "mutation($input: CreateSenderAccountInput!) {{ createSenderAccount(input: $input) {{ {ACCOUNT_FIELDS} }} }}"
        ),
        json!({ "input": input }),
    )
    .await
}

async fn update_account(app: &TestApp, s: &Session, id: &str, input: Value) -> crate::helpers::Gql {
    app.gql_as(
        &s.access_token,
        &format!(
            "mutation($id: ID!, $input: UpdateSenderAccountInput!) {{ updateSenderAccount(id: $id, input: $input) {{ {ACCOUNT_FIELDS} }} }}"
        ),
        json!({ "id": id, "input": input }),
    )
    .await
}

/// An SMTP account on the test server at `port` with `limits` merged into
/// its input; returns its id.
async fn account(app: &TestApp, s: &Session, name: &str, port: u16, limits: Value) -> String {
    let mut input = json!({
        "name": name, "host": "127.0.0.1", "port": port, "tlsMode": "NONE",
        "fromEmail": "sales@acme.test", "priority": 10,
    });
    for (key, value) in limits.as_object().unwrap() {
        input[key] = value.clone();
    }
    try_create_account(app, s, input)
        .await
        .data("createSenderAccount")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Queues one message per address (a lead each) in one bulk send.
async fn queue_to(app: &TestApp, s: &Session, addresses: &[String]) {
    let template = create_template(app, s).await;
    let mut leads = Vec::new();
    for address in addresses {
        leads.push(create_lead(app, s, "Ada", address).await);
    }
    let queued = app
        .gql_as(
            &s.access_token,
            "mutation($input: SendBulkMessagesInput!) { sendBulkMessages(input: $input) { queued skipped { leadId code } } }",
            json!({ "input": { "templateId": template, "leadIds": leads } }),
        )
        .await;
    assert_eq!(
        queued.data("sendBulkMessages")["queued"],
        addresses.len(),
        "{:?}",
        queued.body
    );
}

fn addresses(count: usize, domain: &str) -> Vec<String> {
    (0..count).map(|i| format!("lead{i}@{domain}")).collect()
}

/// The most messages accepted in any closed window `[t, t + span]`.
fn busiest_window(mails: &[&ReceivedMail], span: chrono::Duration) -> usize {
    let mut times: Vec<DateTime<Utc>> = mails.iter().map(|m| m.accepted_at).collect();
    times.sort();
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| **t - times[i] <= span)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Every address received exactly one copy.
fn exactly_once(mails: &[ReceivedMail], expected: &[String]) {
    let mut received: Vec<String> = mails.iter().flat_map(|m| m.rcpt_to.clone()).collect();
    received.sort();
    let mut expected = expected.to_vec();
    expected.sort();
    assert_eq!(received, expected, "each recipient exactly once");
}

/// The tenant's messages with their status, error and next attempt.
async fn messages(app: &TestApp, s: &Session) -> Vec<Value> {
    app.gql_as(
        &s.access_token,
        "{ messages(first: 100) { nodes { id recipient status error attempts nextAttemptAt senderId sentAt } } }",
        json!({}),
    )
    .await
    .data("messages")["nodes"]
        .as_array()
        .unwrap()
        .clone()
}

/// Waits until `count` messages are in `status` (the workers run in the
/// background) and returns them all.
async fn wait_for_statuses(app: &TestApp, s: &Session, status: &str, count: usize) -> Vec<Value> {
    for _ in 0..300 {
        let all = messages(app, s).await;
        if all.iter().filter(|m| m["status"] == status).count() >= count {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "never {count} messages {status}: {:#?}",
        messages(app, s).await
    );
}

#[tokio::test]
async fn a_sliding_window_holds_exactly_with_two_independent_workers_sending_at_once() {
    let app = spawn(4).await;
    // A second node on the same database: its own pool and its own four
    // workers, sharing nothing with the first but the database.
    let other = app
        .another_process(|c| {
            c.messaging.worker_poll_ms = 50;
            c.messaging.worker_concurrency = 4;
        })
        .await;
    let owner = app.sign_up("acme").await;
    let smtp = TestSmtpServer::start();
    account(
        &app,
        &owner,
        "ses",
        smtp.port(),
        json!({ "rateLimits": [{ "limit": 5, "perSeconds": 1 }] }),
    )
    .await;
    let to = addresses(40, "example.org");
    let jobs_run = |app: &TestApp| {
        app.sql_log
            .lock()
            .unwrap()
            .iter()
            .filter(|sql| sql.contains("\"transfer_started_at\" =") && sql.starts_with("UPDATE"))
            .count()
    };

    queue_to(&app, &owner, &to).await;
    smtp.wait_for(40, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mails = smtp.received();
    exactly_once(&mails, &to);
    let all: Vec<&ReceivedMail> = mails.iter().collect();
    assert_eq!(
        busiest_window(&all, chrono::Duration::seconds(1)),
        5,
        "no 1 s window holds more than 5"
    );
    let sent = wait_for_statuses(&app, &owner, "SENT", 40).await;
    assert!(sent.iter().all(|m| m["status"] == "SENT"));
    // Both nodes took slots.
    assert!(jobs_run(&app) > 0 && jobs_run(&other) > 0);
}

#[tokio::test]
async fn hourly_and_daily_limits_hold_exactly_under_concurrency_as_the_clock_moves() {
    let app = spawn(8).await;
    let clock = &app.state.shared.clock;
    let morning: DateTime<Utc> = "2031-03-10T08:00:00Z".parse().unwrap();
    clock.set(morning);
    let owner = app.sign_up("acme").await;
    let smtp = TestSmtpServer::start();
    account(
        &app,
        &owner,
        "capped",
        smtp.port(),
        json!({ "hourlyLimit": 3, "dailyLimit": 5 }),
    )
    .await;
    let to = addresses(8, "example.org");

    queue_to(&app, &owner, &to).await;
    let first_hour = wait_for_statuses(&app, &owner, "SENT", 3).await;
    // Those refused while the first three were still in flight look again
    // a second later, and then wait for the hour.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let first_hour_received = smtp.received().len();
    let waiting_hourly = messages(&app, &owner).await;
    clock.advance(chrono::Duration::minutes(61));
    wait_for_statuses(&app, &owner, "SENT", 5).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second_hour_received = smtp.received().len();
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let waiting_daily = messages(&app, &owner).await;
    clock.set("2031-03-11T00:00:01Z".parse().unwrap());
    wait_for_statuses(&app, &owner, "SENT", 8).await;

    assert_eq!(
        first_hour.iter().filter(|m| m["status"] == "SENT").count(),
        3
    );
    assert_eq!(first_hour_received, 3, "the hourly limit held");
    let queued: Vec<&Value> = waiting_hourly
        .iter()
        .filter(|m| m["status"] == "QUEUED")
        .collect();
    assert_eq!(queued.len(), 5);
    for message in &queued {
        let error = message["error"].as_str().unwrap_or_default();
        assert!(error.contains("hourly limit of 3"), "{message}");
        let next: DateTime<Utc> = message["nextAttemptAt"].as_str().unwrap().parse().unwrap();
        assert!(next >= morning + chrono::Duration::hours(1), "{message}");
        assert_eq!(
            message["attempts"], 0,
            "waiting is not an attempt: {message}"
        );
    }
    assert_eq!(second_hour_received, 5, "the daily limit held");
    let daily: Vec<&Value> = waiting_daily
        .iter()
        .filter(|m| m["status"] == "QUEUED")
        .collect();
    assert_eq!(daily.len(), 3);
    for message in daily {
        assert!(
            message["error"]
                .as_str()
                .unwrap_or_default()
                .contains("daily limit of 5"),
            "{message}"
        );
        assert_eq!(message["nextAttemptAt"], "2031-03-11T00:00:00+00:00");
    }
    exactly_once(&smtp.wait_for(8, Duration::from_secs(10)).await, &to);
}

#[tokio::test]
async fn a_454_throttling_reply_is_rescheduled_on_the_same_account_and_sent_exactly_once() {
    let app = spawn(4).await;
    let owner = app.sign_up("acme").await;
    let smtp = TestSmtpServer::builder()
        .refuse_first_mail_from(2, 454, "Throttling failure: Maximum sending rate exceeded.")
        .start();
    let id = account(&app, &owner, "ses", smtp.port(), json!({})).await;
    let to = addresses(1, "example.org");

    queue_to(&app, &owner, &to).await;
    let sent = wait_for_statuses(&app, &owner, "SENT", 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    exactly_once(&smtp.received(), &to);
    assert_eq!(
        smtp.mail_from_count(),
        3,
        "two throttled tries, then the send"
    );
    assert_eq!(sent[0]["senderId"], id.as_str());
    assert_eq!(sent[0]["attempts"], 1, "throttles use up no attempt");
    assert!(sent[0]["error"].is_null());
    let account = app
        .gql_as(
            &owner.access_token,
            "query($id: ID!) { senderAccount(id: $id) { lastError throttledUntil } }",
            json!({ "id": id }),
        )
        .await;
    let account = account.data("senderAccount");
    assert!(account["lastError"].as_str().unwrap().contains("454"));
    assert!(account["throttledUntil"].is_string());
    assert_eq!(
        app.count("jobs", "status = 'done' AND attempts = 1").await,
        1
    );
}

#[tokio::test]
async fn a_throttled_account_hands_the_message_to_the_next_one_without_failing_it() {
    let app = spawn(4).await;
    let owner = app.sign_up("acme").await;
    let throttling = TestSmtpServer::builder()
        .refuse_first_mail_from(
            1_000,
            454,
            "Throttling failure: Maximum sending rate exceeded.",
        )
        .start();
    let backup = TestSmtpServer::start();
    account(
        &app,
        &owner,
        "ses",
        throttling.port(),
        json!({ "priority": 20 }),
    )
    .await;
    let backup_id = account(&app, &owner, "backup", backup.port(), json!({})).await;
    let to = addresses(3, "example.org");

    queue_to(&app, &owner, &to).await;
    let all = wait_for_statuses(&app, &owner, "SENT", 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    exactly_once(&backup.received(), &to);
    assert!(throttling.received().is_empty());
    assert!(throttling.mail_from_count() >= 1);
    assert!(all.iter().all(|m| m["senderId"] == backup_id.as_str()));
    assert_eq!(app.count("messages", "status = 'failed'").await, 0);
}

#[tokio::test]
async fn when_every_account_is_throttled_the_message_waits_and_is_never_failed() {
    let app = spawn(2).await;
    let owner = app.sign_up("acme").await;
    let smtp = TestSmtpServer::builder()
        .refuse_first_mail_from(1_000, 451, "4.7.1 Try again later")
        .start();
    account(&app, &owner, "busy", smtp.port(), json!({})).await;

    queue_to(&app, &owner, &addresses(1, "example.org")).await;
    // Several throttles in a row: the account rests 200, 400, 800 ms…
    for _ in 0..100 {
        if smtp.mail_from_count() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A worker between two tries clears and sets it again: look a few times.
    let mut waiting = messages(&app, &owner).await;
    for _ in 0..40 {
        if waiting[0]["nextAttemptAt"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        waiting = messages(&app, &owner).await;
    }

    assert!(smtp.mail_from_count() >= 3);
    assert_eq!(waiting[0]["status"], "QUEUED");
    assert!(
        waiting[0]["attempts"].as_i64().unwrap() <= 1,
        "{}",
        waiting[0]
    );
    assert!(
        waiting[0]["error"]
            .as_str()
            .unwrap()
            .contains("was throttled"),
        "{}",
        waiting[0]
    );
    assert!(waiting[0]["nextAttemptAt"].is_string());
    assert_eq!(
        app.count("jobs", "status IN ('pending', 'running') AND attempts <= 1")
            .await,
        1,
        "throttles use up no attempt"
    );
}

#[tokio::test]
async fn the_random_pause_between_two_sends_from_one_account_is_kept() {
    let app = spawn(4).await;
    let owner = app.sign_up("acme").await;
    let smtp = TestSmtpServer::start();
    let human = account(
        &app,
        &owner,
        "human",
        smtp.port(),
        json!({ "minDelayMs": 400, "maxDelayMs": 600 }),
    )
    .await;
    let to = addresses(5, "example.org");

    queue_to(&app, &owner, &to).await;
    let mut mails = smtp.wait_for(5, Duration::from_secs(20)).await;
    mails.sort_by_key(|m| m.accepted_at);

    exactly_once(&mails, &to);
    // The pause runs from one handover to the next; the server sees each
    // acceptance a handover later, which varies by a few milliseconds.
    for pair in mails.windows(2) {
        let gap = pair[1].accepted_at - pair[0].accepted_at;
        assert!(gap >= chrono::Duration::milliseconds(300), "gap {gap}");
    }
    let total = mails[4].accepted_at - mails[0].accepted_at;
    assert!(total >= chrono::Duration::milliseconds(1_500), "{total}");
    // The account shows when it may send next, and why.
    let resting = app
        .gql_as(
            &owner.access_token,
            "query($id: ID!) { senderAccount(id: $id) { nextSendAt nextSendReason } }",
            json!({ "id": human }),
        )
        .await;
    let resting = resting.data("senderAccount");
    assert!(resting["nextSendAt"].is_string(), "{resting}");
    assert!(
        resting["nextSendReason"]
            .as_str()
            .unwrap()
            .contains("pauses"),
        "{resting}"
    );
}

#[tokio::test]
async fn the_domain_throttle_holds_each_recipient_domain_without_holding_back_others() {
    let app = spawn(6).await;
    let owner = app.sign_up("acme").await;
    let smtp = TestSmtpServer::start();
    account(
        &app,
        &owner,
        "bulk",
        smtp.port(),
        json!({ "domainLimit": { "limit": 2, "perSeconds": 2 } }),
    )
    .await;
    let gmail = addresses(5, "gmail.test");
    let others: Vec<String> = (0..2).map(|i| format!("x{i}@other.test")).collect();
    let to: Vec<String> = gmail.iter().chain(&others).cloned().collect();

    queue_to(&app, &owner, &to).await;
    let mails = smtp.wait_for(7, Duration::from_secs(20)).await;

    exactly_once(&mails, &to);
    let to_gmail: Vec<&ReceivedMail> = mails
        .iter()
        .filter(|m| m.rcpt_to[0].ends_with("@gmail.test"))
        .collect();
    assert_eq!(
        busiest_window(&to_gmail, chrono::Duration::seconds(2)),
        2,
        "at most 2 to gmail.test in any 2 s"
    );
    let first = mails.iter().map(|m| m.accepted_at).min().unwrap();
    for other in mails
        .iter()
        .filter(|m| m.rcpt_to[0].ends_with("@other.test"))
    {
        assert!(
            other.accepted_at - first < chrono::Duration::seconds(1),
            "other.test is not held behind gmail.test"
        );
    }
}

#[tokio::test]
async fn an_admin_sets_and_clears_the_limits_absent_and_null_differ() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let created = try_create_account(
        &app,
        &owner,
        json!({
            "name": "ses", "host": "email-smtp.example.com", "fromEmail": "a@acme.test",
            "rateLimits": [{ "limit": 2000, "perSeconds": 86400 }, { "limit": 14, "perSeconds": 1 }],
            "minDelayMs": 100, "maxDelayMs": 900,
            "domainLimit": { "limit": 20, "perSeconds": 60 },
        }),
    )
    .await;
    let created = created.data("createSenderAccount").clone();
    let id = created["id"].as_str().unwrap();

    let kept = update_account(&app, &owner, id, json!({ "maxDelayMs": 500 })).await;
    let cleared = update_account(
        &app,
        &owner,
        id,
        json!({ "rateLimits": null, "minDelayMs": null, "maxDelayMs": null, "domainLimit": null }),
    )
    .await;

    assert_eq!(
        created["rateLimits"],
        json!([{ "limit": 14, "perSeconds": 1 }, { "limit": 2000, "perSeconds": 86400 }])
    );
    assert_eq!(created["minDelayMs"], 100);
    assert_eq!(created["maxDelayMs"], 900);
    assert_eq!(
        created["domainLimit"],
        json!({ "limit": 20, "perSeconds": 60 })
    );
    assert_eq!(created["nextSendAt"], Value::Null);
    assert_eq!(created["throttledUntil"], Value::Null);
    let kept = kept.data("updateSenderAccount");
    assert_eq!(kept["maxDelayMs"], 500);
    assert_eq!(kept["minDelayMs"], 100, "absent stays");
    assert_eq!(kept["rateLimits"], created["rateLimits"]);
    assert_eq!(kept["domainLimit"], created["domainLimit"]);
    let cleared = cleared.data("updateSenderAccount");
    assert_eq!(cleared["rateLimits"], json!([]));
    assert_eq!(cleared["minDelayMs"], Value::Null);
    assert_eq!(cleared["maxDelayMs"], Value::Null);
    assert_eq!(cleared["domainLimit"], Value::Null);
}

#[tokio::test]
async fn bad_limits_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let base = json!({ "name": "x", "host": "smtp.example.com", "fromEmail": "a@acme.test" });
    let with = |extra: Value| {
        let mut input = base.clone();
        for (key, value) in extra.as_object().unwrap() {
            input[key] = value.clone();
        }
        input
    };
    let cases = [
        (
            json!({ "rateLimits": [{ "limit": 0, "perSeconds": 1 }] }),
            "input.rateLimits[0].limit",
        ),
        (
            json!({ "rateLimits": [{ "limit": 14, "perSeconds": 1 }, { "limit": 5, "perSeconds": 0 }] }),
            "input.rateLimits[1].perSeconds",
        ),
        (
            json!({ "rateLimits": [{ "limit": 14, "perSeconds": 1 }, { "limit": 5, "perSeconds": 1 }] }),
            "input.rateLimits[1].perSeconds",
        ),
        (
            json!({ "minDelayMs": 900, "maxDelayMs": 100 }),
            "input.maxDelayMs",
        ),
        (json!({ "minDelayMs": -1 }), "input.minDelayMs"),
        (
            json!({ "domainLimit": { "limit": 0, "perSeconds": 60 } }),
            "input.domainLimit.limit",
        ),
        (
            json!({ "domainLimit": { "limit": 5, "perSeconds": 604801 } }),
            "input.domainLimit.perSeconds",
        ),
    ];
    let mut refused = Vec::new();
    for (extra, field) in &cases {
        refused.push((
            bad_field(&try_create_account(&app, &owner, with(extra.clone())).await),
            *field,
        ));
    }
    let id = try_create_account(&app, &owner, with(json!({ "minDelayMs": 500 })))
        .await
        .data("createSenderAccount")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let below_stored_min = update_account(&app, &owner, &id, json!({ "maxDelayMs": 100 })).await;

    for (got, want) in refused {
        assert_eq!(got, want);
    }
    assert_eq!(bad_field(&below_stored_min), "input.maxDelayMs");
    assert_eq!(app.count("sender_accounts", "1 = 1").await, 1);
    assert_eq!(
        app.count("sender_accounts", "max_delay_ms IS NULL").await,
        1
    );
}

#[tokio::test]
async fn members_cannot_change_limits_and_another_tenants_account_is_not_found() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let member = app.add_member(&owner, "m@acme.example", "MEMBER").await;
    let beta = app.sign_up("beta").await;
    let limits = json!({
        "rateLimits": [{ "limit": 1, "perSeconds": 60 }], "minDelayMs": 10,
        "maxDelayMs": 20, "domainLimit": { "limit": 1, "perSeconds": 60 },
    });
    let ours = account(&app, &owner, "ours", 2525, json!({})).await;
    let theirs = account(&app, &beta, "theirs", 2525, json!({})).await;

    let by_member = update_account(&app, &member, &ours, limits.clone()).await;
    let member_create = try_create_account(
        &app,
        &member,
        json!({ "name": "m", "host": "smtp.example.com", "fromEmail": "a@acme.test",
                "rateLimits": [{ "limit": 1, "perSeconds": 1 }] }),
    )
    .await;
    let cross_update = update_account(&app, &owner, &theirs, limits.clone()).await;
    let cross_read = app
        .gql_as(
            &owner.access_token,
            &format!("query($id: ID!) {{ senderAccount(id: $id) {{ {ACCOUNT_FIELDS} }} }}"),
            json!({ "id": theirs }),
        )
        .await;
    let member_read = app
        .gql_as(
            &member.access_token,
            &format!("query($id: ID!) {{ senderAccount(id: $id) {{ {ACCOUNT_FIELDS} }} }}"),
            json!({ "id": ours }),
        )
        .await;

    by_member.expect_error("FORBIDDEN");
    member_create.expect_error("FORBIDDEN");
    cross_update.expect_error("NOT_FOUND");
    cross_read.expect_error("NOT_FOUND");
    assert_eq!(member_read.data("senderAccount")["rateLimits"], json!([]));
    assert_eq!(
        app.count(
            "sender_accounts",
            "min_delay_ms IS NULL AND domain_limit IS NULL AND rate_limits IS NOT NULL"
        )
        .await,
        2,
        "neither account changed"
    );
}
