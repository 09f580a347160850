//! Email end to end against a real SMTP server: templates render, messages
//! queue and a worker delivers them with the right headers, tracked links and
//! pixel; failover, retries and crash recovery never send twice; opens,
//! clicks, unsubscribes and provider webhooks are recorded once and change
//! the message, lead and template; subscriptions stream exactly the tenant's
//! events and resume from a cursor.

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{Session, TestApp, bad_field, on_postgres};
use crate::smtp_server::{TestSmtpServer, closed_port};

pub const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub async fn spawn() -> TestApp {
    TestApp::spawn_with(|c| {
        c.messaging.worker_poll_ms = 50;
        c.messaging.retry_base_ms = 100;
        c.messaging.machine_window_ms = 0;
        c.messaging.stats_interval_ms = 200;
        c.messaging.webhook_secret = Some(WEBHOOK_SECRET.into());
    })
    .await
}

pub async fn create_sender(
    app: &TestApp,
    s: &Session,
    name: &str,
    port: u16,
    priority: i32,
) -> String {
    app.gql_as(
        &s.access_token,
        "mutation($input: CreateSenderAccountInput!) { createSenderAccount(input: $input) { id } }",
        json!({ "input": {
            "name": name, "host": "127.0.0.1", "port": port, "tlsMode": "NONE",
            "fromEmail": "sales@acme.test", "fromName": "Acme Sales", "priority": priority
        }}),
    )
    .await
    .data("createSenderAccount")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub async fn create_lead(app: &TestApp, s: &Session, first: &str, email: &str) -> String {
    app.gql_as(
        &s.access_token,
        "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }",
        json!({ "input": { "firstName": first, "lastName": "Lovelace", "email": email } }),
    )
    .await
    .data("createLead")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub async fn create_template(app: &TestApp, s: &Session) -> String {
    app.gql_as(
        &s.access_token,
        "mutation($input: CreateMessageTemplateInput!) { createMessageTemplate(input: $input) { id } }",
        json!({ "input": {
            "name": "Intro",
            "category": "INITIAL_OUTREACH",
            "subject": "Hello {{ lead.firstName }} from {{ tenant.name }}",
            "htmlBody": "<html><body><p>Hi {{ lead.firstName | default('there') }}, {{ offer }}</p>\
                         <a href=\"https://example.com/pricing?a=1&amp;b=2\">Pricing</a>\
                         <a href=\"mailto:help@acme.test\">Mail us</a>\
                         <a href=\"{{ unsubscribeUrl }}\">Unsubscribe</a></body></html>",
            "variables": [{ "name": "offer", "default": "20% off" }]
        }}),
    )
    .await
    .data("createMessageTemplate")["id"]
    .as_str()
    .unwrap()
    .to_owned()
}

const MESSAGE_FIELDS: &str = "id status recipient subject htmlBody textBody messageIdHeader providerMessageId error sentAt openCount clickCount openedAt clickedAt unsubscribedAt events { totalCount nodes { cursor type machine url source } }";

pub async fn send(app: &TestApp, s: &Session, lead: &str, template: &str) -> Value {
    app.gql_as(
        &s.access_token,
        &format!("mutation($input: SendMessageInput!) {{ sendMessage(input: $input) {{ {MESSAGE_FIELDS} }} }}"),
        json!({ "input": { "leadId": lead, "templateId": template } }),
    )
    .await
    .data("sendMessage")
    .clone()
}

pub async fn fetch_message(app: &TestApp, s: &Session, id: &str) -> Value {
    app.gql_as(
        &s.access_token,
        &format!("query($id: ID!) {{ message(id: $id) {{ {MESSAGE_FIELDS} }} }}"),
        json!({ "id": id }),
    )
    .await
    .data("message")
    .clone()
}

/// Polls until the message reaches `status` (the worker runs in the background).
pub async fn wait_for_status(app: &TestApp, s: &Session, id: &str, status: &str) -> Value {
    for _ in 0..200 {
        let m = fetch_message(app, s, id).await;
        if m["status"] == status {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "message {id} never reached {status}: {}",
        fetch_message(app, s, id).await
    );
}

/// A sender, a lead and a template in a fresh tenant, and a sent message.
struct Sent {
    app: TestApp,
    owner: Session,
    smtp: TestSmtpServer,
    lead: String,
    template: String,
    message: Value,
}

async fn sent_message() -> Sent {
    let app = spawn().await;
    let owner = app.sign_up("acme").await;
    let smtp = TestSmtpServer::start();
    create_sender(&app, &owner, "primary", smtp.port(), 10).await;
    let lead = create_lead(&app, &owner, "Ada", "ada@example.org").await;
    let template = create_template(&app, &owner).await;
    let queued = send(&app, &owner, &lead, &template).await;
    let message = wait_for_status(&app, &owner, queued["id"].as_str().unwrap(), "SENT").await;
    Sent {
        app,
        owner,
        smtp,
        lead,
        template,
        message,
    }
}

pub fn token_in(html: &str, route: &str) -> String {
    let start = html
        .find(route)
        .unwrap_or_else(|| panic!("{route} in {html}"))
        + route.len();
    html[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko)")
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_sent_email_arrives_with_headers_rendered_body_pixel_and_rewritten_links() {
    let Sent {
        app,
        owner,
        smtp,
        lead,
        message,
        ..
    } = sent_message().await;

    let mails = smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.rcpt_to, vec!["ada@example.org".to_owned()]);
    assert_eq!(
        mail.header("Subject").unwrap(),
        "Hello Ada from Tenant acme"
    );
    assert!(mail.header("From").unwrap().contains("sales@acme.test"));
    assert_eq!(
        mail.header("Message-ID").unwrap(),
        format!("<{}>", message["messageIdHeader"].as_str().unwrap())
    );
    let unsubscribe = mail.header("List-Unsubscribe").unwrap();
    assert!(unsubscribe.contains("/u/"), "{unsubscribe}");
    assert_eq!(
        mail.header("List-Unsubscribe-Post").unwrap(),
        "List-Unsubscribe=One-Click"
    );
    let html = mail.html_body().unwrap();
    assert!(html.contains("Hi Ada, 20% off"), "{html}");
    assert!(html.contains("/t/o/"), "pixel missing: {html}");
    assert!(html.contains("/t/c/"), "click redirect missing: {html}");
    assert!(
        !html.contains("https://example.com/pricing"),
        "original link left: {html}"
    );
    assert!(
        html.contains("mailto:help@acme.test"),
        "mailto must stay: {html}"
    );
    assert!(mail.text_body().unwrap().contains("Hi Ada"));

    assert_eq!(message["providerMessageId"], "000001");
    let events = message["events"]["nodes"].as_array().unwrap();
    assert_eq!(
        events.last().unwrap()["type"],
        "SENT",
        "oldest last: {events:?}"
    );
    assert_eq!(message["events"]["totalCount"], events.len());
    let lead = app
        .gql_as(
            &owner.access_token,
            "query($id: ID!) { lead(id: $id) { emailsSent lastContactedAt } }",
            json!({ "id": lead }),
        )
        .await;
    assert_eq!(lead.data("lead")["emailsSent"], 1);
    assert!(lead.data("lead")["lastContactedAt"].is_string());
}

#[tokio::test]
async fn a_refusing_account_fails_over_to_the_next_one() {
    let app = spawn().await;
    let owner = app.sign_up("acme").await;
    let refusing = TestSmtpServer::builder().temp_fail_all(451).start();
    let working = TestSmtpServer::start();
    create_sender(&app, &owner, "refusing", refusing.port(), 20).await;
    create_sender(&app, &owner, "unreachable", closed_port(), 15).await;
    let backup = create_sender(&app, &owner, "backup", working.port(), 10).await;
    let lead = create_lead(&app, &owner, "Ada", "ada@example.org").await;
    let template = create_template(&app, &owner).await;

    let queued = send(&app, &owner, &lead, &template).await;
    wait_for_status(&app, &owner, queued["id"].as_str().unwrap(), "SENT").await;

    assert_eq!(working.wait_for(1, Duration::from_secs(5)).await.len(), 1);
    assert!(refusing.received().is_empty());
    let sent_by = app
        .gql_as(
            &owner.access_token,
            "query($id: ID!) { message(id: $id) { senderId } }",
            json!({ "id": queued["id"] }),
        )
        .await;
    assert_eq!(sent_by.data("message")["senderId"], backup.as_str());
    let accounts = app
        .gql_as(
            &owner.access_token,
            "{ senderAccounts { edges { node { name lastError totalSent } } } }",
            json!({}),
        )
        .await;
    let edges = accounts.data("senderAccounts")["edges"]
        .as_array()
        .unwrap()
        .clone();
    let by_name = |n: &str| edges.iter().find(|e| e["node"]["name"] == n).unwrap()["node"].clone();
    assert!(
        by_name("refusing")["lastError"]
            .as_str()
            .unwrap()
            .contains("451")
    );
    assert!(by_name("unreachable")["lastError"].is_string());
    assert_eq!(by_name("backup")["totalSent"], 1);
}

#[tokio::test]
async fn a_transient_failure_is_retried_and_sends_exactly_once() {
    let app = spawn().await;
    let owner = app.sign_up("acme").await;
    let smtp = TestSmtpServer::start();
    let sender = create_sender(&app, &owner, "primary", closed_port(), 10).await;
    let lead = create_lead(&app, &owner, "Ada", "ada@example.org").await;
    let template = create_template(&app, &owner).await;
    let queued = send(&app, &owner, &lead, &template).await;
    let id = queued["id"].as_str().unwrap();

    // The first attempt cannot connect; the account is then fixed.
    for _ in 0..100 {
        if app
            .count("jobs", "attempts >= 1 AND status = 'pending'")
            .await
            == 1
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!, $input: UpdateSenderAccountInput!) { updateSenderAccount(id: $id, input: $input) { id } }",
        json!({ "id": sender, "input": { "port": smtp.port() } }),
    )
    .await
    .data("updateSenderAccount");

    let sent = wait_for_status(&app, &owner, id, "SENT").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.received().len(), 1);
    assert!(sent["error"].is_null());
    assert_eq!(app.count("jobs", "status = 'done'").await, 1);
}

#[tokio::test]
async fn a_job_retried_after_a_crash_mid_transfer_never_sends_twice() {
    let Sent {
        app,
        owner,
        smtp,
        message,
        ..
    } = sent_message().await;
    assert_eq!(smtp.wait_for(1, Duration::from_secs(5)).await.len(), 1);
    let id = message["id"].as_str().unwrap();

    // What a worker that died after handing over the data but before
    // recording it leaves behind: the message still queued with its transfer
    // marker, and the job's lease run out.
    // (The tenant has this one message.)
    app.sql(
        "UPDATE messages SET status = 'queued', sent_at = NULL, transfer_started_at = created_at",
    )
    .await;
    app.sql("UPDATE jobs SET status = 'running', locked_until = created_at")
        .await;

    let unknown = wait_for_status(&app, &owner, id, "UNKNOWN").await;
    assert!(
        unknown["error"]
            .as_str()
            .unwrap()
            .contains("outcome unknown"),
        "{unknown}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.received().len(), 1, "sent a second copy");

    // And a job re-run for a message already sent does nothing.
    app.sql("UPDATE jobs SET status = 'pending', run_at = created_at")
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.received().len(), 1);
}

const RESEND: &str =
    "mutation($id: ID!) { resendMessage(id: $id) { id status messageIdHeader error } }";

/// What a worker that died after handing over the data but before
/// recording it leaves behind (the tenant has this one message): the
/// message still queued with its transfer marker, and the job's lease run
/// out. Waits until a worker has settled it.
async fn crash_mid_transfer(app: &TestApp, owner: &Session, id: &str) -> Value {
    app.sql(
        "UPDATE messages SET status = 'queued', sent_at = NULL, transfer_started_at = created_at",
    )
    .await;
    app.sql("UPDATE jobs SET status = 'running', locked_until = created_at")
        .await;
    wait_for_status(app, owner, id, "UNKNOWN").await
}

async fn stats(app: &TestApp, s: &Session) -> Value {
    app.gql_as(
        &s.access_token,
        "{ messageStats { queued sent failed unknown } }",
        json!({}),
    )
    .await
    .data("messageStats")
    .clone()
}

async fn listed(app: &TestApp, s: &Session, status: &str) -> Vec<String> {
    app.gql_as(
        &s.access_token,
        "query($s: [MessageStatus!]) { messages(filter: { status: $s }) { edges { node { id } } } }",
        json!({ "s": [status] }),
    )
    .await
    .data("messages")["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_message_in_flight_at_a_crash_is_unknown_not_failed_and_only_an_admin_resends_it_once() {
    // Arrange: delivered, then the worker "died" before recording it.
    let Sent {
        app,
        owner,
        smtp,
        message,
        ..
    } = sent_message().await;
    assert_eq!(smtp.wait_for(1, Duration::from_secs(5)).await.len(), 1);
    let id = message["id"].as_str().unwrap();
    let original_header = message["messageIdHeader"].as_str().unwrap().to_owned();

    // Act: a worker finds the marker.
    let unknown = crash_mid_transfer(&app, &owner, id).await;

    // Assert: unknown, not failed; counted and listed apart; not resent.
    assert!(
        unknown["error"]
            .as_str()
            .unwrap()
            .contains("outcome unknown"),
        "{unknown}"
    );
    let events: Vec<&str> = unknown["events"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        events.first(),
        Some(&"OUTCOME_UNKNOWN"),
        "newest first: {unknown}"
    );
    assert_eq!(
        stats(&app, &owner).await,
        json!({ "queued": 0, "sent": 0, "failed": 0, "unknown": 1 })
    );
    assert_eq!(listed(&app, &owner, "UNKNOWN").await, vec![id.to_owned()]);
    assert!(listed(&app, &owner, "FAILED").await.is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.received().len(), 1, "sent a second copy on its own");

    // A member may not resend; another tenant's admin does not see it.
    let member = app.add_member(&owner, "m@acme.example", "MEMBER").await;
    app.gql_as(&member.access_token, RESEND, json!({ "id": id }))
        .await
        .expect_error("FORBIDDEN");
    let other = app.sign_up("globex").await;
    app.gql_as(&other.access_token, RESEND, json!({ "id": id }))
        .await
        .expect_error("NOT_FOUND");
    assert_eq!(fetch_message(&app, &owner, id).await["status"], "UNKNOWN");

    // An admin resends: queued under a new Message-ID, delivered once.
    let resent = app
        .gql_as(&owner.access_token, RESEND, json!({ "id": id }))
        .await
        .data("resendMessage")
        .clone();
    assert_eq!(resent["status"], "QUEUED");
    let new_header = resent["messageIdHeader"].as_str().unwrap().to_owned();
    assert_ne!(new_header, original_header);
    let sent = wait_for_status(&app, &owner, id, "SENT").await;
    assert!(sent["error"].is_null(), "{sent}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = smtp.received();
    assert_eq!(
        received.len(),
        2,
        "the original copy and exactly one resend"
    );
    assert_eq!(
        received[1].header("Message-ID").unwrap(),
        format!("<{new_header}>")
    );
    assert_eq!(
        stats(&app, &owner).await,
        json!({ "queued": 0, "sent": 1, "failed": 0, "unknown": 0 })
    );

    // A sent message is not resent again; the trace of what it was stays.
    app.gql_as(&owner.access_token, RESEND, json!({ "id": id }))
        .await
        .expect_error("CONFLICT");
    assert_eq!(
        app.count(
            "domain_events",
            &format!(
                "kind = 'message.resent' AND CAST(payload AS TEXT) LIKE '%{original_header}%'"
            )
        )
        .await,
        1
    );
    assert_eq!(
        app.count("engagement_events", "event_type = 'outcome_unknown'")
            .await,
        1
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.received().len(), 2);
}

#[tokio::test]
async fn a_permanent_recipient_failure_bounces_and_suppresses_the_address() {
    let app = spawn().await;
    let owner = app.sign_up("acme").await;
    let smtp = TestSmtpServer::builder()
        .reject_rcpt("ghost@example.org", 550, "5.1.1 No such user")
        .start();
    create_sender(&app, &owner, "primary", smtp.port(), 10).await;
    let lead = create_lead(&app, &owner, "Ghost", "ghost@example.org").await;
    let template = create_template(&app, &owner).await;

    let queued = send(&app, &owner, &lead, &template).await;
    let bounced = wait_for_status(&app, &owner, queued["id"].as_str().unwrap(), "BOUNCED").await;

    assert!(bounced["error"].as_str().unwrap().contains("550"));
    assert_eq!(
        app.count(
            "suppressions",
            "email = 'ghost@example.org' AND reason = 'hard_bounce'"
        )
        .await,
        1
    );
    let again = app
        .gql_as(
            &owner.access_token,
            "mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }",
            json!({ "input": { "leadId": lead, "templateId": template } }),
        )
        .await;
    assert_eq!(bad_field(&again), "input.leadId");
    assert_eq!(app.count("jobs", "status = 'running'").await, 0);
}

#[tokio::test]
async fn opens_and_clicks_are_recorded_and_machines_kept_apart() {
    let Sent {
        app,
        owner,
        template,
        message,
        lead,
        ..
    } = sent_message().await;
    let id = message["id"].as_str().unwrap();
    let html = message["htmlBody"].as_str().unwrap();
    let open = token_in(html, "/t/o/");
    let click = token_in(html, "/t/c/");
    let http = no_redirects();

    // A person opens twice and clicks once; a scanner and a HEAD do too.
    for _ in 0..2 {
        let pixel = http
            .get(app.url(&format!("/t/o/{open}")))
            .send()
            .await
            .unwrap();
        assert_eq!(pixel.status(), 200);
        assert_eq!(pixel.headers()["content-type"], "image/gif");
        assert!(
            pixel.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("no-store")
        );
    }
    let redirect = http
        .get(app.url(&format!("/t/c/{click}")))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 302);
    assert_eq!(
        redirect.headers()["location"],
        "https://example.com/pricing?a=1&b=2"
    );
    let scanner = http
        .get(app.url(&format!("/t/c/{click}")))
        .header("user-agent", "Mozilla/5.0 (compatible; Barracuda Sentinel)")
        .send()
        .await
        .unwrap();
    assert_eq!(scanner.status(), 302);
    assert_eq!(
        http.head(app.url(&format!("/t/o/{open}")))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let m = message_after(&app, &owner, id).await;
    assert_eq!(m["status"], "CLICKED");
    assert_eq!(m["openCount"], 2);
    assert_eq!(m["clickCount"], 1);
    // The link's own counter: the human click only.
    let link_clicks: Vec<i32> = {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        entity::message_links::Entity::find()
            .filter(entity::message_links::Column::MessageId.eq(id.parse::<uuid::Uuid>().unwrap()))
            .order_by_asc(entity::message_links::Column::Position)
            .all(&app.state.shared.db)
            .await
            .unwrap()
            .into_iter()
            .map(|link| link.click_count)
            .collect()
    };
    assert_eq!(link_clicks.iter().sum::<i32>(), 1, "{link_clicks:?}");
    let events = m["events"]["nodes"].as_array().unwrap();
    let machine: Vec<_> = events.iter().filter(|e| e["machine"] == true).collect();
    assert_eq!(machine.len(), 2, "{events:?}");
    let stats = app
        .gql_as(
            &owner.access_token,
            "query($t: ID) { messageStats(filter: { templateId: $t }) { sent opened openedRaw clicked clickedRaw openRate clickRateRaw } }",
            json!({ "t": template }),
        )
        .await;
    let stats = stats.data("messageStats");
    assert_eq!(stats["sent"], 1);
    assert_eq!(stats["opened"], 1);
    assert_eq!(stats["openedRaw"], 1);
    assert_eq!(stats["clicked"], 1);
    assert_eq!(stats["openRate"], 1.0);
    let lead = app
        .gql_as(
            &owner.access_token,
            "query($id: ID!) { lead(id: $id) { emailsOpened emailsClicked } }",
            json!({ "id": lead }),
        )
        .await;
    assert_eq!(lead.data("lead")["emailsOpened"], 1);
    assert_eq!(lead.data("lead")["emailsClicked"], 1);
    let template = app
        .gql_as(
            &owner.access_token,
            "query($id: ID!) { messageTemplate(id: $id) { usageCount sentCount openedCount clickedCount openRate } }",
            json!({ "id": template }),
        )
        .await;
    let template = template.data("messageTemplate");
    assert_eq!(template["usageCount"], 1);
    assert_eq!(template["sentCount"], 1);
    assert_eq!(template["openedCount"], 1);
    assert_eq!(template["clickedCount"], 1);
}

async fn message_after(app: &TestApp, s: &Session, id: &str) -> Value {
    tokio::time::sleep(Duration::from_millis(50)).await;
    fetch_message(app, s, id).await
}

#[tokio::test]
async fn forged_tampered_and_foreign_tokens_never_redirect_or_record() {
    let Sent {
        app,
        owner,
        message,
        ..
    } = sent_message().await;
    let html = message["htmlBody"].as_str().unwrap();
    let click = token_in(html, "/t/c/");
    let open = token_in(html, "/t/o/");
    let http = no_redirects();
    let mut tampered = click.clone().into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();

    for token in [tampered.as_str(), "garbage", open.as_str(), ""] {
        let response = http
            .get(app.url(&format!("/t/c/{token}")))
            .send()
            .await
            .unwrap();
        assert!(
            response.status() == 404 || response.status() == 405,
            "{token}: {}",
            response.status()
        );
        assert!(response.headers().get("location").is_none());
    }
    // The pixel answers the same whatever the token.
    let pixel = http.get(app.url("/t/o/forged")).send().await.unwrap();
    assert_eq!(pixel.status(), 200);
    assert_eq!(pixel.headers()["content-type"], "image/gif");
    // A token signed with another secret (another deployment) is refused.
    let other =
        TestApp::spawn_with(|c| c.messaging.tracking_secret = "another-secret".into()).await;
    assert_eq!(
        http.get(other.url(&format!("/t/c/{click}")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let m = fetch_message(&app, &owner, message["id"].as_str().unwrap()).await;
    assert_eq!(m["openCount"], 0);
    assert_eq!(m["clickCount"], 0);
    assert_eq!(m["events"]["totalCount"], 1, "only SENT: {m}");
}

#[tokio::test]
async fn one_click_unsubscribe_suppresses_once_and_blocks_sending() {
    let Sent {
        app,
        owner,
        lead,
        template,
        message,
        smtp,
        ..
    } = sent_message().await;
    let mail = &smtp.wait_for(1, Duration::from_secs(5)).await[0];
    let header = mail.header("List-Unsubscribe").unwrap();
    // PROMOHUB_PUBLIC_URL is unset: links follow the address the server
    // listens on (a port of its own, not 8080).
    let url = header
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_owned();
    assert!(url.starts_with(&app.url("/u/")), "{url}");
    let http = no_redirects();

    let page = http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<form method=\"post\""));
    assert_eq!(
        app.count("suppressions", "1 = 1").await,
        0,
        "GET must not unsubscribe"
    );

    for _ in 0..2 {
        let response = http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!(
        app.count(
            "suppressions",
            "email = 'ada@example.org' AND reason = 'unsubscribed'"
        )
        .await,
        1
    );
    assert_eq!(
        app.count("engagement_events", "event_type = 'unsubscribed'")
            .await,
        1
    );
    let m = fetch_message(&app, &owner, message["id"].as_str().unwrap()).await;
    assert!(m["unsubscribedAt"].is_string());

    let blocked = app
        .gql_as(
            &owner.access_token,
            "mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }",
            json!({ "input": { "leadId": lead, "templateId": template } }),
        )
        .await;
    assert_eq!(bad_field(&blocked), "input.leadId");
    let forged = http.post(app.url("/u/forged")).send().await.unwrap();
    assert_eq!(forged.status(), 404);
}

pub fn standard_webhook(
    id: &str,
    timestamp: i64,
    body: &str,
    secret: &str,
) -> Vec<(&'static str, String)> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    vec![
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", format!("v1,{signature}")),
        ("content-type", "application/json".to_owned()),
    ]
}

async fn post_webhook(
    app: &TestApp,
    headers: Vec<(&'static str, String)>,
    body: &str,
) -> reqwest::Response {
    let mut request = app
        .http
        .post(app.url("/webhooks/email/standard"))
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn signed_webhooks_are_processed_once_and_bad_signatures_refused() {
    let Sent {
        app,
        owner,
        message,
        ..
    } = sent_message().await;
    let id = message["id"].as_str().unwrap();
    let header_id = message["messageIdHeader"].as_str().unwrap();
    let now = chrono::Utc::now().timestamp();
    let delivered =
        json!({ "type": "email.delivered", "timestamp": chrono::Utc::now().to_rfc3339(),
        "data": { "message_id": format!("<{header_id}>"), "email": "ada@example.org" } })
        .to_string();

    let ok = post_webhook(
        &app,
        standard_webhook("evt_1", now, &delivered, WEBHOOK_SECRET),
        &delivered,
    )
    .await;
    assert_eq!(ok.status(), 200);
    let summary: Value = ok.json().await.unwrap();
    assert_eq!(summary["processed"], 1);
    // The provider retries: acknowledged, not processed again.
    let replay = post_webhook(
        &app,
        standard_webhook("evt_1", now, &delivered, WEBHOOK_SECRET),
        &delivered,
    )
    .await;
    assert_eq!(replay.status(), 200);
    assert_eq!(replay.json::<Value>().await.unwrap()["duplicates"], 1);
    assert_eq!(
        app.count("engagement_events", "event_type = 'delivered'")
            .await,
        1
    );
    assert_eq!(fetch_message(&app, &owner, id).await["status"], "DELIVERED");

    // Tampered body, wrong secret, stale timestamp: 401 and nothing recorded.
    let complaint = delivered.replace("email.delivered", "email.complained");
    let tampered = post_webhook(
        &app,
        standard_webhook("evt_2", now, &delivered, WEBHOOK_SECRET),
        &complaint,
    )
    .await;
    assert_eq!(tampered.status(), 401);
    let wrong = post_webhook(
        &app,
        standard_webhook(
            "evt_3",
            now,
            &complaint,
            "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldY",
        ),
        &complaint,
    )
    .await;
    assert_eq!(wrong.status(), 401);
    let stale = post_webhook(
        &app,
        standard_webhook("evt_4", now - 600, &complaint, WEBHOOK_SECRET),
        &complaint,
    )
    .await;
    assert_eq!(stale.status(), 401);
    assert_eq!(
        app.count("engagement_events", "event_type = 'complained'")
            .await,
        0
    );

    // A hard bounce suppresses the address.
    let bounce = json!({ "type": "email.bounced", "timestamp": chrono::Utc::now().to_rfc3339(),
        "data": { "message_id": header_id, "email": "ada@example.org", "bounce_type": "hard", "reason": "mailbox gone" } })
    .to_string();
    let bounced = post_webhook(
        &app,
        standard_webhook("evt_5", now, &bounce, WEBHOOK_SECRET),
        &bounce,
    )
    .await;
    assert_eq!(bounced.status(), 200);
    assert_eq!(fetch_message(&app, &owner, id).await["status"], "BOUNCED");
    assert_eq!(app.count("suppressions", "reason = 'hard_bounce'").await, 1);
}

const EVENTS: &str = "subscription($after: String, $filter: EngagementFilter) { engagementEvents(after: $after, filter: $filter) { cursor type messageId machine } }";

pub async fn subscribe(
    app: &TestApp,
    token: &str,
    id: &str,
    query: &str,
    variables: Value,
) -> crate::helpers::Ws {
    let mut ws = app.ws("/graphql/ws").await;
    ws.init(token).await;
    ws.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } }))
        .await;
    ws
}

async fn next_event(ws: &mut crate::helpers::Ws) -> Value {
    let message = ws.next_json().await;
    assert_eq!(message["type"], "next", "{message}");
    message["payload"]["data"]["engagementEvents"].clone()
}

pub async fn open_pixel(app: &TestApp, message: &Value) {
    let token = token_in(message["htmlBody"].as_str().unwrap(), "/t/o/");
    no_redirects()
        .get(app.url(&format!("/t/o/{token}")))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn subscribers_get_exactly_their_tenants_events_and_resume_from_a_cursor() {
    let Sent {
        app,
        owner,
        message,
        ..
    } = sent_message().await;
    let rival = app.sign_up("rival").await;
    let mut mine = subscribe(&app, &owner.access_token, "1", EVENTS, json!({})).await;
    let mut theirs = subscribe(&app, &rival.access_token, "1", EVENTS, json!({})).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    open_pixel(&app, &message).await;
    let first = next_event(&mut mine).await;
    assert_eq!(first["type"], "OPENED");
    assert_eq!(first["messageId"], message["id"]);
    // The rival's subscription stays silent.
    let silent = tokio::time::timeout(Duration::from_millis(500), theirs.next_json()).await;
    assert!(
        silent.is_err(),
        "another tenant's subscriber got {silent:?}"
    );

    // Disconnect, miss two events, resume after the last cursor seen.
    drop(mine);
    open_pixel(&app, &message).await;
    open_pixel(&app, &message).await;
    let mut resumed = subscribe(
        &app,
        &owner.access_token,
        "2",
        EVENTS,
        json!({ "after": first["cursor"] }),
    )
    .await;
    let a = next_event(&mut resumed).await;
    let b = next_event(&mut resumed).await;
    open_pixel(&app, &message).await;
    let c = next_event(&mut resumed).await;
    let cursors: Vec<i64> = [&first, &a, &b, &c]
        .iter()
        .map(|e| e["cursor"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        cursors,
        vec![cursors[0], cursors[0] + 1, cursors[0] + 2, cursors[0] + 3]
    );
    let nothing_more = tokio::time::timeout(Duration::from_millis(300), resumed.next_json()).await;
    assert!(
        nothing_more.is_err(),
        "a duplicate arrived: {nothing_more:?}"
    );

    // A filter narrows: only clicks.
    let mut clicks = subscribe(
        &app,
        &owner.access_token,
        "3",
        EVENTS,
        json!({ "after": "0", "filter": { "types": ["SENT"] } }),
    )
    .await;
    assert_eq!(next_event(&mut clicks).await["type"], "SENT");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), clicks.next_json())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn message_stats_are_pushed_when_they_change() {
    let Sent {
        app,
        owner,
        message,
        ..
    } = sent_message().await;
    let mut ws = subscribe(
        &app,
        &owner.access_token,
        "1",
        "subscription { messageStats { sent opened openRate } }",
        json!({}),
    )
    .await;
    let initial = ws.next_json().await;
    assert_eq!(initial["payload"]["data"]["messageStats"]["sent"], 1);
    assert_eq!(initial["payload"]["data"]["messageStats"]["opened"], 0);

    open_pixel(&app, &message).await;
    let updated = ws.next_json().await;
    assert_eq!(updated["payload"]["data"]["messageStats"]["opened"], 1);
    assert_eq!(updated["payload"]["data"]["messageStats"]["openRate"], 1.0);
}

#[tokio::test]
async fn an_expired_token_ends_the_engagement_subscription() {
    let app = TestApp::spawn_with(|c| c.access_token_ttl_secs = 2).await;
    let owner = app.sign_up("acme").await;
    let mut ws = subscribe(&app, &owner.access_token, "1", EVENTS, json!({})).await;
    let (code, reason) = ws.closed().await;
    assert_eq!(code, 4403);
    assert!(reason.contains("expired"), "{reason}");
}

#[tokio::test]
async fn templates_refuse_unknown_variables_and_preview_renders_for_a_lead() {
    let app = spawn().await;
    let owner = app.sign_up("acme").await;
    let create = "mutation($input: CreateMessageTemplateInput!) { createMessageTemplate(input: $input) { id } }";
    let unknown = app
        .gql_as(
            &owner.access_token,
            create,
            json!({ "input": { "name": "Bad", "subject": "Hi", "htmlBody": "<p>{{ lead.nickname }}</p>" } }),
        )
        .await;
    assert_eq!(bad_field(&unknown), "input.htmlBody");
    assert!(
        unknown.expect_error("BAD_USER_INPUT")["message"]
            .as_str()
            .unwrap()
            .contains("lead.nickname")
    );
    let no_subject = app
        .gql_as(
            &owner.access_token,
            create,
            json!({ "input": { "name": "Bad", "textBody": "Hi" } }),
        )
        .await;
    assert_eq!(bad_field(&no_subject), "input.subject");

    let template = create_template(&app, &owner).await;
    let lead = create_lead(&app, &owner, "Grace", "grace@example.org").await;
    let preview = app
        .gql_as(
            &owner.access_token,
            "query($t: ID!, $l: ID!) { previewTemplate(templateId: $t, leadId: $l, variables: { offer: \"a demo\" }) { subject htmlBody textBody } }",
            json!({ "t": template, "l": lead }),
        )
        .await;
    let preview = preview.data("previewTemplate");
    assert_eq!(preview["subject"], "Hello Grace from Tenant acme");
    assert!(
        preview["htmlBody"]
            .as_str()
            .unwrap()
            .contains("Hi Grace, a demo")
    );
    assert!(
        preview["textBody"]
            .as_str()
            .unwrap()
            .contains("Hi Grace, a demo")
    );
}

#[tokio::test]
async fn another_tenants_templates_messages_and_leads_are_not_found() {
    let Sent {
        app,
        lead,
        template,
        message,
        ..
    } = sent_message().await;
    let rival = app.sign_up("rival").await;
    for (query, variables) in [
        (
            "query($id: ID!) { message(id: $id) { id } }",
            json!({ "id": message["id"] }),
        ),
        (
            "query($id: ID!) { messageTemplate(id: $id) { id } }",
            json!({ "id": template }),
        ),
        (
            "query($t: ID!, $l: ID!) { previewTemplate(templateId: $t, leadId: $l) { subject } }",
            json!({ "t": template, "l": lead }),
        ),
        (
            "mutation($id: ID!) { updateMessageTemplate(id: $id, input: { name: \"x\" }) { id } }",
            json!({ "id": template }),
        ),
        (
            "mutation($id: ID!) { deleteMessageTemplate(id: $id) { id } }",
            json!({ "id": template }),
        ),
        (
            "mutation($l: ID!, $t: ID!) { sendMessage(input: { leadId: $l, templateId: $t }) { id } }",
            json!({ "l": lead, "t": template }),
        ),
    ] {
        let response = app.gql_as(&rival.access_token, query, variables).await;
        response.expect_error("NOT_FOUND");
    }
    let lists = app
        .gql_as(
            &rival.access_token,
            "{ messages { totalCount } messageTemplates { totalCount } messageStats { sent } }",
            json!({}),
        )
        .await;
    assert_eq!(lists.data("messages")["totalCount"], 0);
    assert_eq!(lists.data("messageTemplates")["totalCount"], 0);
    assert_eq!(lists.data("messageStats")["sent"], 0);
}

#[tokio::test]
async fn viewers_cannot_send_and_mutations_are_audited() {
    let Sent {
        app,
        owner,
        lead,
        template,
        ..
    } = sent_message().await;
    let viewer = app.add_member(&owner, "viewer@acme.test", "VIEWER").await;
    let refused = app
        .gql_as(
            &viewer.access_token,
            "mutation($l: ID!, $t: ID!) { sendMessage(input: { leadId: $l, templateId: $t }) { id } }",
            json!({ "l": lead, "t": template }),
        )
        .await;
    refused.expect_error("FORBIDDEN");
    assert!(app.count("audit_log", "action = 'sendMessage'").await >= 1);
    assert!(
        app.count("audit_log", "action = 'createMessageTemplate'")
            .await
            >= 1
    );
}

#[tokio::test]
async fn a_page_of_messages_with_events_and_leads_costs_the_same_sql_for_2_as_for_6() {
    // Idle workers poll for due jobs; keep their statements out of the count.
    let app = TestApp::spawn_with(|c| c.messaging.worker_poll_ms = 600_000).await;
    let owner = app.sign_up("acme").await;
    let smtp = TestSmtpServer::start();
    create_sender(&app, &owner, "primary", smtp.port(), 10).await;
    let template = create_template(&app, &owner).await;
    for i in 0..6 {
        let lead = create_lead(&app, &owner, "Ada", &format!("ada{i}@example.org")).await;
        let m = send(&app, &owner, &lead, &template).await;
        wait_for_status(&app, &owner, m["id"].as_str().unwrap(), "SENT").await;
    }
    // Let the workers finish and go idle before counting.
    for _ in 0..100 {
        if app.count("jobs", "status = 'done'").await == 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let query = "query($n: Int) { messages(first: $n) { edges { node { id events { nodes { type } } lead { id email messages(first: 3) { nodes { id status } } } } } } }";
    let (_, two) = app
        .gql_counting(&owner.access_token, query, json!({ "n": 2 }))
        .await;
    let (six, many) = app
        .gql_counting(&owner.access_token, query, json!({ "n": 6 }))
        .await;
    assert_eq!(six.data("messages")["edges"].as_array().unwrap().len(), 6);
    assert_eq!(two.len(), many.len(), "{many:#?}");
}

#[tokio::test]
async fn bulk_send_queues_every_reachable_lead_and_names_the_rest() {
    let app = spawn().await;
    let owner = app.sign_up("acme").await;
    let smtp = TestSmtpServer::start();
    create_sender(&app, &owner, "primary", smtp.port(), 10).await;
    let template = create_template(&app, &owner).await;
    let mut leads = Vec::new();
    for i in 0..5 {
        leads.push(create_lead(&app, &owner, "Ada", &format!("ada{i}@example.org")).await);
    }
    app.gql_as(
        &owner.access_token,
        "mutation { addSuppression(email: \"ada0@example.org\") { email } }",
        json!({}),
    )
    .await
    .data("addSuppression");
    let missing = uuid::Uuid::now_v7().to_string();
    let mut ids = leads.clone();
    ids.push(missing.clone());
    let result = app
        .gql_as(
            &owner.access_token,
            "mutation($input: SendBulkMessagesInput!) { sendBulkMessages(input: $input) { queued skipped { leadId code } } }",
            json!({ "input": { "templateId": template, "leadIds": ids } }),
        )
        .await;
    let result = result.data("sendBulkMessages");
    assert_eq!(result["queued"], 4);
    let codes: Vec<(String, String)> = result["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["leadId"].as_str().unwrap().to_owned(),
                s["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        codes.contains(&(leads[0].clone(), "SUPPRESSED".into())),
        "{codes:?}"
    );
    assert!(codes.contains(&(missing, "NOT_FOUND".into())), "{codes:?}");
    assert_eq!(smtp.wait_for(4, Duration::from_secs(10)).await.len(), 4);
}

#[tokio::test]
async fn the_daily_limit_stops_queuing() {
    let app = spawn().await;
    let owner = app.sign_up("acme").await;
    let smtp = TestSmtpServer::start();
    create_sender(&app, &owner, "primary", smtp.port(), 10).await;
    let template = create_template(&app, &owner).await;
    let lead = create_lead(&app, &owner, "Ada", "ada@example.org").await;
    app.sql("UPDATE tenants SET max_emails_per_day = 1").await;
    send(&app, &owner, &lead, &template).await;
    let refused = app
        .gql_as(
            &owner.access_token,
            "mutation($l: ID!, $t: ID!) { sendMessage(input: { leadId: $l, templateId: $t }) { id } }",
            json!({ "l": lead, "t": template }),
        )
        .await;
    refused.expect_error("LIMIT_EXCEEDED");
}

/// Two server processes on one PostgreSQL database: an event recorded by
/// one reaches a subscriber connected to the other (LISTEN/NOTIFY).
#[tokio::test]
async fn events_reach_subscribers_of_another_server_process() {
    if !on_postgres() {
        return;
    }
    let Sent {
        app,
        owner,
        message,
        ..
    } = sent_message().await;
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut other = tokio::process::Command::new(env!("CARGO_BIN_EXE_promohub"))
        .args(["serve", "--no-migrate"])
        .env("DATABASE_URL", &app.config.database_url)
        .env("PORT", port.to_string())
        .env("HOST", "127.0.0.1")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("start a second server process");
    let base = format!("127.0.0.1:{port}");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(&base).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut ws = crate::helpers::Ws::connect(
        &format!("ws://{base}/graphql/ws"),
        Some("graphql-transport-ws"),
    )
    .await;
    ws.init(&owner.access_token).await;
    ws.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": EVENTS } }))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Recorded by the test's own server process.
    open_pixel(&app, &message).await;

    let event = next_event(&mut ws).await;
    assert_eq!(event["type"], "OPENED");
    assert_eq!(event["messageId"], message["id"]);
    other.kill().await.ok();
}

#[tokio::test]
async fn a_subscriber_that_falls_too_far_behind_is_closed_with_the_cursor_to_resume_from() {
    let app = TestApp::spawn_with(|c| c.messaging.subscription_buffer = 16).await;
    let owner = app.sign_up("acme").await;
    let tenant_id = tenant_of(&app, &owner).await;
    let mut ws = subscribe(&app, &owner.access_token, "1", EVENTS, json!({})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // A burst far larger than the buffer, published faster than the
    // subscriber can take it (this test runs on one thread).
    let now = chrono::Utc::now().fixed_offset();
    app.state
        .shared
        .hub
        .publish(promohub::events::Committed::Engagement(
            (1..=200)
                .map(|seq| entity::engagement_events::Model {
                    tenant_id,
                    id: uuid::Uuid::now_v7(),
                    seq,
                    event_type: entity::sea_orm_active_enums::EngagementType::Opened,
                    message_id: uuid::Uuid::now_v7(),
                    lead_id: uuid::Uuid::now_v7(),
                    campaign_id: None,
                    template_id: None,
                    machine: false,
                    url: None,
                    ip: None,
                    user_agent: None,
                    source: "test".into(),
                    detail: json!({}),
                    occurred_at: now,
                    created_at: now,
                })
                .collect(),
        ));

    // Either at once (`error`, which ends the operation) or after some
    // events (`next` with the error, then `complete`).
    let mut received = 0;
    loop {
        let message = ws.next_json().await;
        let error = match message["type"].as_str() {
            Some("error") => message["payload"][0].clone(),
            Some("next") if message["payload"]["errors"].is_array() => {
                message["payload"]["errors"][0].clone()
            }
            Some("next") => {
                received += 1;
                continue;
            }
            other => panic!("unexpected {other:?}: {message}"),
        };
        assert_eq!(error["extensions"]["code"], "LIMIT_EXCEEDED", "{message}");
        assert!(
            error["message"].as_str().unwrap().contains("after:"),
            "{message}"
        );
        if message["type"] == "next" {
            assert_eq!(ws.next_json().await["type"], "complete");
        }
        break;
    }
    assert!(received < 200, "nothing was dropped, so nothing lagged");
}

async fn tenant_of(app: &TestApp, s: &Session) -> uuid::Uuid {
    let me = app
        .gql_as(&s.access_token, "{ tenant { id } }", json!({}))
        .await;
    uuid::Uuid::parse_str(me.data("tenant")["id"].as_str().unwrap()).unwrap()
}

/// SendGrid's Event Webhook through the HTTP route: an ECDSA-signed batch
/// marks the message delivered, then bounced (suppressing the address);
/// the same batch again is acknowledged and changes nothing; a batch signed
/// by another key is refused.
#[tokio::test]
async fn sendgrid_event_batches_are_verified_and_recorded_once() {
    use base64::engine::general_purpose::STANDARD;
    use p256::ecdsa::{DerSignature, SigningKey, signature::Signer};
    use p256::pkcs8::EncodePublicKey;

    let key = SigningKey::random(&mut rand::rngs::OsRng);
    let public = STANDARD.encode(key.verifying_key().to_public_key_der().unwrap().as_bytes());
    let app = TestApp::spawn_with(|c| {
        c.messaging.worker_poll_ms = 50;
        c.messaging.sendgrid_public_key = Some(public);
    })
    .await;
    let owner = app.sign_up("acme").await;
    let smtp = TestSmtpServer::start();
    create_sender(&app, &owner, "primary", smtp.port(), 10).await;
    let lead = create_lead(&app, &owner, "Ada", "ada@example.org").await;
    let template = create_template(&app, &owner).await;
    let queued = send(&app, &owner, &lead, &template).await;
    let id = queued["id"].as_str().unwrap();
    let sent = wait_for_status(&app, &owner, id, "SENT").await;
    let smtp_id = format!("<{}>", sent["messageIdHeader"].as_str().unwrap());
    let now = chrono::Utc::now().timestamp();
    let body = json!([
        { "email": "ada@example.org", "timestamp": now, "event": "delivered",
          "smtp-id": smtp_id, "sg_event_id": "sg-1", "sg_message_id": "abc.filter1" },
        { "email": "ada@example.org", "timestamp": now, "event": "bounce", "type": "bounce",
          "reason": "550 5.1.1 unknown user", "smtp-id": smtp_id, "sg_event_id": "sg-2",
          "sg_message_id": "abc.filter1" }
    ])
    .to_string();
    let post = |signing: SigningKey, body: String| {
        let app = &app;
        async move {
            let timestamp = now.to_string();
            let signature: DerSignature =
                signing.sign(&[timestamp.as_bytes(), body.as_bytes()].concat());
            app.http
                .post(app.url("/webhooks/email/sendgrid"))
                .header("content-type", "application/json")
                .header(
                    "X-Twilio-Email-Event-Webhook-Signature",
                    STANDARD.encode(signature.as_bytes()),
                )
                .header("X-Twilio-Email-Event-Webhook-Timestamp", timestamp)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };

    let first = post(key.clone(), body.clone()).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.json::<Value>().await.unwrap()["processed"], 2);
    let m = fetch_message(&app, &owner, id).await;
    assert_eq!(m["status"], "BOUNCED");
    assert_eq!(app.count("suppressions", "reason = 'hard_bounce'").await, 1);

    let replay = post(key.clone(), body.clone()).await;
    assert_eq!(replay.json::<Value>().await.unwrap()["duplicates"], 2);
    assert_eq!(
        app.count("engagement_events", "event_type = 'bounced'")
            .await,
        1
    );

    let forged = post(SigningKey::random(&mut rand::rngs::OsRng), body).await;
    assert_eq!(forged.status(), 401);
}
