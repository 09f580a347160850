//! What a newcomer meets first: GraphiQL served by the binary, the demo
//! tenant, the development outbox, `testSenderAccount`, and a failed
//! delivery that says why on the message itself.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Session, TestApp};
use crate::messaging::{create_lead, create_template, send, spawn, wait_for_status};
use crate::smtp_server::{TestSmtpServer, closed_port};

const SENDER: &str = "mutation($input: CreateSenderAccountInput!) { createSenderAccount(input: $input) { id transport host port } }";
const TEST_SENDER: &str = "mutation($id: ID!) { testSenderAccount(id: $id) { ok stage server encrypted authenticated message elapsedMs } }";

async fn sender(app: &TestApp, s: &Session, input: Value) -> String {
    app.gql_as(&s.access_token, SENDER, json!({ "input": input }))
        .await
        .data("createSenderAccount")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn outbox_sender(app: &TestApp, s: &Session) -> String {
    sender(
        app,
        s,
        json!({ "name": "Outbox", "transport": "OUTBOX", "fromEmail": "hello@acme.test" }),
    )
    .await
}

// ---------------------------------------------------------------- GraphiQL

#[tokio::test]
async fn graphiql_is_served_whole_by_the_binary_under_a_strict_policy() {
    let app = TestApp::spawn().await;

    let page = app
        .http
        .get(app.url("/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();

    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("script-src 'self'") && !csp.contains("script-src 'self' 'unsafe"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page names no other origin: {html}"
    );
    let assets: Vec<&str> = html
        .split(['"', '\''])
        .filter(|part| part.starts_with("/graphql/assets/"))
        .collect();
    assert!(assets.len() >= 6, "{assets:?}");
    for path in assets {
        let asset = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(asset.status(), 200, "{path}");
        let kind = asset.headers()["content-type"].to_str().unwrap().to_owned();
        let etag = asset.headers()["etag"].to_str().unwrap().to_owned();
        assert!(
            (path.ends_with(".js") && kind.starts_with("text/javascript"))
                || (path.ends_with(".css") && kind.starts_with("text/css")),
            "{path}: {kind}"
        );
        assert!(!asset.bytes().await.unwrap().is_empty());
        let again = app
            .http
            .get(app.url(path))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path} revalidates");
    }
    let missing = app
        .http
        .get(app.url("/graphql/assets/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

// -------------------------------------------------------------- demo tenant

/// Seeds the demo tenant and signs in as its owner, as a newcomer would.
pub async fn seeded_demo(app: &TestApp) -> Session {
    promohub::demo::seed(&app.state).await.expect("demo seeds");
    let login = app
        .gql(
            "mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken role tenant { id slug } user { id } } }",
            json!({ "input": { "email": promohub::demo::DEMO_EMAIL, "password": promohub::demo::DEMO_PASSWORD } }),
        )
        .await;
    Session::from_payload(login.data("login"), promohub::demo::DEMO_EMAIL)
}

#[tokio::test]
async fn the_demo_tenant_has_a_pipeline_an_outbox_and_engagement_to_look_at() {
    let app = TestApp::spawn().await;
    let demo = seeded_demo(&app).await;

    let seen = app
        .gql_as(
            &demo.access_token,
            "{ leads(first: 100) { totalCount nodes { tags score customFields stage { name } company { name }
                 notes(first: 1) { nodes { body } } activities(first: 5) { totalCount } } }
               companies(first: 50) { totalCount }
               messageTemplates(first: 20) { totalCount }
               senderAccounts(first: 5) { nodes { transport } }
               outboxEmails(first: 100) { totalCount nodes { raw message { sentAt openCount clickCount } } }
               messageStats { sent opened clicked }
               segments(first: 10) { nodes { name kind count } } }",
            json!({}),
        )
        .await;

    let segments = seen.data("segments")["nodes"].as_array().unwrap().clone();
    assert!(
        segments
            .iter()
            .any(|s| s["kind"] == "STATIC" && s["count"].as_i64().unwrap() > 0),
        "a static segment with members: {segments:?}"
    );
    assert!(
        segments
            .iter()
            .any(|s| s["kind"] == "DYNAMIC" && s["count"].as_i64().unwrap() > 0),
        "a dynamic segment with matches: {segments:?}"
    );

    let leads = seen.data("leads")["nodes"].as_array().unwrap().clone();
    let stages: HashSet<&str> = leads
        .iter()
        .map(|l| l["stage"]["name"].as_str().unwrap())
        .collect();
    assert!(leads.len() >= 10, "{} leads", leads.len());
    assert!(stages.len() >= 5, "leads across the pipeline: {stages:?}");
    assert!(leads.iter().any(|l| l["company"].is_null()));
    assert!(leads.iter().any(|l| l["score"].as_i64().unwrap() > 0));
    assert!(
        leads
            .iter()
            .any(|l| !l["customFields"].as_object().unwrap().is_empty())
    );
    assert!(
        leads
            .iter()
            .any(|l| !l["notes"]["nodes"].as_array().unwrap().is_empty())
    );
    assert!(
        leads
            .iter()
            .all(|l| !l["tags"].as_array().unwrap().is_empty())
    );
    assert!(
        leads
            .iter()
            .any(|l| l["activities"]["totalCount"].as_i64().unwrap() > 1)
    );
    assert!(seen.data("companies")["totalCount"].as_i64().unwrap() >= 5);
    assert_eq!(seen.data("messageTemplates")["totalCount"], 3);
    assert_eq!(
        seen.data("senderAccounts")["nodes"][0]["transport"],
        "OUTBOX"
    );

    let outbox = seen.data("outboxEmails");
    let stats = seen.data("messageStats");
    assert!(outbox["totalCount"].as_i64().unwrap() >= 10);
    assert_eq!(
        stats["sent"], outbox["totalCount"],
        "every email is in the outbox"
    );
    assert!(stats["opened"].as_i64().unwrap() > 0 && stats["clicked"].as_i64().unwrap() > 0);
    let sent_days: HashSet<String> = outbox["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"]["sentAt"].as_str().unwrap()[..10].to_owned())
        .collect();
    assert!(
        sent_days.len() >= 5,
        "sent over the last weeks: {sent_days:?}"
    );
    assert!(
        outbox["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["raw"].as_str().unwrap().contains("List-Unsubscribe:"))
    );

    // Seeding again is refused, not doubled.
    assert!(promohub::demo::seed(&app.state).await.is_err());
    assert_eq!(app.count("tenants", "slug = 'demo'").await, 1);
}

// ----------------------------------------------------------- the outbox

#[tokio::test]
async fn an_outbox_sender_stores_the_email_as_it_would_have_been_sent() {
    let app = spawn().await;
    let owner = app.sign_up("acme").await;
    let outbox = outbox_sender(&app, &owner).await;
    let lead = create_lead(&app, &owner, "Ada", "ada@example.com").await;
    let template = create_template(&app, &owner).await;

    let message = send(&app, &owner, &lead, &template).await;
    let id = message["id"].as_str().unwrap();
    let sent = wait_for_status(&app, &owner, id, "SENT").await;

    let stored = app
        .gql_as(
            &owner.access_token,
            "query($id: ID) { outboxEmails(messageId: $id) { totalCount nodes { messageId senderId envelopeFrom recipient subject raw message { status } } } }",
            json!({ "id": id }),
        )
        .await;
    let email = &stored.data("outboxEmails")["nodes"][0];
    let raw = email["raw"].as_str().unwrap();
    assert_eq!(stored.data("outboxEmails")["totalCount"], 1);
    assert_eq!(email["senderId"], outbox.as_str());
    assert_eq!(email["recipient"], "ada@example.com");
    assert_eq!(email["envelopeFrom"], "hello@acme.test");
    assert_eq!(email["subject"], sent["subject"]);
    assert_eq!(email["message"]["status"], "SENT");
    let message_id = sent["messageIdHeader"].as_str().unwrap();
    assert!(
        raw.contains(&format!("Message-ID: <{message_id}>")),
        "{raw}"
    );
    assert!(
        raw.contains("List-Unsubscribe: <http://127.0.0.1:"),
        "{raw}"
    );
    // Quoted-printable, as sent: soft line breaks and `=3D`.
    let html = raw.replace("=\r\n", "").replace("=3D", "=");
    assert!(
        html.contains("/t/c/") && html.contains("/t/o/"),
        "tracked: {raw}"
    );

    // The open pixel in the stored copy works like one in a real inbox.
    let pixel = html
        .split("/t/o/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let opened = app
        .http
        .get(app.url(&format!("/t/o/{pixel}")))
        .header(
            "user-agent",
            "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 Safari/605.1.15",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 200);
    wait_for_status(&app, &owner, id, "OPENED").await;
}

#[tokio::test]
async fn outbox_emails_are_the_tenants_own() {
    let app = spawn().await;
    let owner = app.sign_up("acme").await;
    let stranger = app.sign_up("other").await;
    outbox_sender(&app, &owner).await;
    let lead = create_lead(&app, &owner, "Ada", "ada@example.com").await;
    let template = create_template(&app, &owner).await;
    let id = send(&app, &owner, &lead, &template).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for_status(&app, &owner, &id, "SENT").await;

    let theirs = app
        .gql_as(
            &stranger.access_token,
            "query($id: ID) { all: outboxEmails { totalCount } one: outboxEmails(messageId: $id) { totalCount } }",
            json!({ "id": id }),
        )
        .await;

    assert_eq!(theirs.data("all")["totalCount"], 0);
    assert_eq!(theirs.data("one")["totalCount"], 0);
}

#[tokio::test]
async fn production_refuses_the_outbox_transport_naming_the_field() {
    let app = TestApp::spawn_with(|c| {
        c.environment = promohub::config::Environment::Production;
        c.jwt_secret = "a-production-grade-secret-of-sufficient-length".into();
        c.messaging.public_url = Some("https://promohub.example".into());
    })
    .await;
    let owner = app.sign_up("acme").await;

    let refused = app
        .gql_as(
            &owner.access_token,
            SENDER,
            json!({ "input": { "name": "Outbox", "transport": "OUTBOX", "fromEmail": "hello@acme.test" } }),
        )
        .await;

    assert_eq!(crate::helpers::bad_field(&refused), "input.transport");
    assert_eq!(app.count("sender_accounts", "1 = 1").await, 0);
}

#[tokio::test]
async fn an_smtp_account_needs_a_host_and_gets_the_usual_port_for_its_tls_mode() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;

    let no_host = app
        .gql_as(
            &owner.access_token,
            SENDER,
            json!({ "input": { "name": "Mail", "fromEmail": "hello@acme.test" } }),
        )
        .await;
    let implicit = app
        .gql_as(
            &owner.access_token,
            SENDER,
            json!({ "input": { "name": "Mail", "host": "127.0.0.1", "tlsMode": "TLS", "fromEmail": "hello@acme.test" } }),
        )
        .await;

    assert_eq!(crate::helpers::bad_field(&no_host), "input.host");
    assert_eq!(implicit.data("createSenderAccount")["port"], 465);
    assert_eq!(implicit.data("createSenderAccount")["transport"], "SMTP");
}

// ------------------------------------------------------- testSenderAccount

#[tokio::test]
async fn testing_a_sender_runs_the_handshake_and_says_where_it_failed() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let smtp = TestSmtpServer::builder()
        .require_auth("mailer", "right-password")
        .start();
    let plain = sender(
        &app,
        &owner,
        json!({ "name": "Plain", "host": "127.0.0.1", "port": smtp.port(), "tlsMode": "NONE",
                "username": "mailer", "password": "right-password", "fromEmail": "hello@acme.test" }),
    )
    .await;
    let wrong_password = sender(
        &app,
        &owner,
        json!({ "name": "Wrong", "host": "127.0.0.1", "port": smtp.port(), "tlsMode": "NONE",
                "username": "mailer", "password": "wrong", "fromEmail": "hello@acme.test" }),
    )
    .await;
    let wants_tls = sender(
        &app,
        &owner,
        json!({ "name": "Starttls", "host": "127.0.0.1", "port": smtp.port(), "tlsMode": "STARTTLS",
                "fromEmail": "hello@acme.test" }),
    )
    .await;
    let nobody_there = sender(
        &app,
        &owner,
        json!({ "name": "Closed", "host": "127.0.0.1", "port": closed_port(), "tlsMode": "NONE",
                "fromEmail": "hello@acme.test" }),
    )
    .await;
    let outbox = outbox_sender(&app, &owner).await;
    let test = |id: String| {
        let app = &app;
        let token = owner.access_token.clone();
        async move {
            app.gql_as(&token, TEST_SENDER, json!({ "id": id }))
                .await
                .data("testSenderAccount")
                .clone()
        }
    };

    let ok = test(plain).await;
    let bad_auth = test(wrong_password).await;
    let no_tls = test(wants_tls).await;
    let refused = test(nobody_there).await;
    let stored = test(outbox).await;

    assert_eq!(ok["ok"], true, "{ok}");
    assert_eq!(ok["authenticated"], true);
    assert_eq!(ok["encrypted"], false);
    assert!(
        ok["server"].as_str().unwrap().contains("AUTH PLAIN"),
        "{ok}"
    );
    assert_eq!(bad_auth["ok"], false);
    assert_eq!(bad_auth["stage"], "Auth");
    assert!(
        bad_auth["message"].as_str().unwrap().starts_with("535"),
        "{bad_auth}"
    );
    assert_eq!(no_tls["stage"], "Tls");
    assert!(
        no_tls["message"].as_str().unwrap().contains("STARTTLS"),
        "{no_tls}"
    );
    assert_eq!(refused["stage"], "Connect");
    assert_eq!(stored["ok"], true);
    assert!(smtp.received().is_empty(), "a test sends nothing");
}

#[tokio::test]
async fn testing_a_sender_is_for_admins_of_its_own_tenant() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let stranger = app.sign_up("other").await;
    let member = app.add_member(&owner, "m@acme.example", "MEMBER").await;
    let id = outbox_sender(&app, &owner).await;

    let theirs = app
        .gql_as(&stranger.access_token, TEST_SENDER, json!({ "id": id }))
        .await;
    let members = app
        .gql_as(&member.access_token, TEST_SENDER, json!({ "id": id }))
        .await;

    theirs.expect_error("NOT_FOUND");
    members.expect_error("FORBIDDEN");
}

// ------------------------------------------------- a failure you can see

#[tokio::test]
async fn a_failed_attempt_shows_its_reason_count_and_next_try_on_the_message() {
    let app = TestApp::spawn_with(|c| {
        c.messaging.worker_poll_ms = 50;
        c.messaging.retry_base_ms = 60_000;
    })
    .await;
    let owner = app.sign_up("acme").await;
    // A local mail catcher without STARTTLS, and an account that asks for it.
    let catcher = TestSmtpServer::start();
    sender(
        &app,
        &owner,
        json!({ "name": "Catcher", "host": "127.0.0.1", "port": catcher.port(), "tlsMode": "STARTTLS",
                "fromEmail": "hello@acme.test" }),
    )
    .await;
    let lead = create_lead(&app, &owner, "Ada", "ada@example.com").await;
    let template = create_template(&app, &owner).await;
    let id = send(&app, &owner, &lead, &template).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut message = Value::Null;
    for _ in 0..200 {
        message = app
            .gql_as(
                &owner.access_token,
                "query($id: ID!) { message(id: $id) { status attempts error nextAttemptAt } }",
                json!({ "id": id }),
            )
            .await
            .data("message")
            .clone();
        // The attempt counts from when it takes its sending slot; its
        // error lands when it has failed.
        if message["attempts"] == 1 && message["error"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    assert_eq!(message["status"], "QUEUED", "{message}");
    assert_eq!(message["attempts"], 1);
    assert!(
        message["error"].as_str().unwrap().contains("STARTTLS"),
        "{message}"
    );
    let next: chrono::DateTime<chrono::Utc> =
        message["nextAttemptAt"].as_str().unwrap().parse().unwrap();
    assert!(next > chrono::Utc::now() + chrono::Duration::seconds(30));
    assert!(catcher.received().is_empty());
}
