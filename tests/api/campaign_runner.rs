//! The campaign scheduler under stress and every way a sequence ends: each
//! stop condition, enrolling and stopping by hand, a dynamic audience,
//! live statistics, and worker processes killed mid-run.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::campaigns::{eventually, outbox_sender, uuid_of as lit};
use crate::helpers::{Session, TestApp, on_postgres};
use crate::messaging::{WEBHOOK_SECRET, create_lead, spawn, standard_webhook, subscribe};

async fn gql(app: &TestApp, s: &Session, query: &str, variables: Value, field: &str) -> Value {
    app.gql_as(&s.access_token, query, variables)
        .await
        .data(field)
        .clone()
}

const SEQUENCE: &str = r#"[
  { "variants": [{ "subject": "One", "textBody": "Hi" }] },
  { "delay": { "amount": 2, "unit": "DAYS" }, "variants": [{ "subject": "Two", "textBody": "Again" }] }
]"#;

async fn sequence(app: &TestApp, s: &Session, name: &str, extra: Value) -> String {
    let mut input = json!({ "name": name, "kind": "SEQUENCE",
        "steps": serde_json::from_str::<Value>(SEQUENCE).unwrap() });
    for (k, v) in extra.as_object().unwrap() {
        input[k] = v.clone();
    }
    let c = gql(
        app,
        s,
        "mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id } }",
        json!({ "input": input }),
        "createCampaign",
    )
    .await;
    c["id"].as_str().unwrap().to_owned()
}

async fn launch(app: &TestApp, s: &Session, id: &str) {
    let result = gql(
        app,
        s,
        "mutation($id: ID!) { launchCampaign(id: $id) { launched problems { code message } } }",
        json!({ "id": id }),
        "launchCampaign",
    )
    .await;
    assert_eq!(result["launched"], true, "{result}");
}

async fn enrollment_of(app: &TestApp, s: &Session, campaign: &str, lead: &str) -> Value {
    let list = gql(
        app,
        s,
        "query($id: ID!) { campaign(id: $id) { enrollments(first: 100) { nodes { id leadId status stopReason nextStep } } } }",
        json!({ "id": campaign }),
        "campaign",
    )
    .await;
    list["enrollments"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["leadId"] == lead)
        .cloned()
        .unwrap_or(Value::Null)
}

async fn sent(app: &TestApp, campaign: &str) -> i64 {
    app.count(
        "messages",
        &format!("campaign_id = {} AND status <> 'queued'", lit(campaign)),
    )
    .await
}

async fn webhook(app: &TestApp, id: &str, kind: &str, header: &str, data: Value) {
    let mut data = data;
    data["message_id"] = json!(format!("<{header}>"));
    let body = json!({ "type": kind, "timestamp": chrono::Utc::now().to_rfc3339(), "data": data })
        .to_string();
    let mut request = app
        .http
        .post(app.url("/webhooks/email/standard"))
        .body(body.clone());
    for (name, value) in standard_webhook(id, chrono::Utc::now().timestamp(), &body, WEBHOOK_SECRET)
    {
        request = request.header(name, value);
    }
    assert_eq!(request.send().await.unwrap().status(), 200);
}

async fn header_of(app: &TestApp, campaign: &str, lead: &str) -> String {
    let rows = app
        .sql(&format!(
            "SELECT message_id_header FROM messages WHERE campaign_id = {} AND lead_id = {}",
            lit(campaign),
            lit(lead)
        ))
        .await;
    rows[0].try_get("", "message_id_header").unwrap()
}

#[tokio::test]
async fn every_stop_condition_ends_the_sequence_and_an_unlisted_one_does_not() {
    let app = spawn().await;
    let owner = app.sign_up("stops").await;
    outbox_sender(&app, &owner, "outbox").await;
    let won = gql(
        &app,
        &owner,
        "mutation { createLeadStage(input: { name: \"Closed won\", color: \"#22c55e\", isWon: true }) { id } }",
        json!({}),
        "createLeadStage",
    )
    .await["id"]
        .clone();
    let names = [
        "clicked",
        "unsub",
        "bounced",
        "converted",
        "won",
        "replied",
        "opened",
    ];
    let mut leads = Vec::new();
    for name in names {
        leads.push(create_lead(&app, &owner, name, &format!("{name}@example.org")).await);
    }
    let id = sequence(
        &app,
        &owner,
        "Stops",
        json!({ "stopOn": ["CLICKED", "UNSUBSCRIBED", "BOUNCED", "CONVERTED", "WON", "REPLIED"] }),
    )
    .await;
    launch(&app, &owner, &id).await;
    eventually("the first step goes out", || async {
        sent(&app, &id).await == names.len() as i64
    })
    .await;
    let h = |i: usize| header_of(&app, &id, &leads[i]);
    webhook(
        &app,
        "e1",
        "email.clicked",
        &h(0).await,
        json!({ "email": "clicked@example.org", "url": "https://example.com" }),
    )
    .await;
    webhook(
        &app,
        "e2",
        "email.unsubscribed",
        &h(1).await,
        json!({ "email": "unsub@example.org" }),
    )
    .await;
    webhook(
        &app,
        "e3",
        "email.bounced",
        &h(2).await,
        json!({ "email": "bounced@example.org", "bounce_type": "hard" }),
    )
    .await;
    gql(
        &app,
        &owner,
        "mutation($id: ID!) { updateLead(id: $id, input: { status: CONVERTED }) { id } }",
        json!({ "id": leads[3] }),
        "updateLead",
    )
    .await;
    gql(
        &app,
        &owner,
        "mutation($id: ID!, $stage: ID!) { moveLeadToStage(id: $id, stageId: $stage) { id } }",
        json!({ "id": leads[4], "stage": won }),
        "moveLeadToStage",
    )
    .await;
    webhook(
        &app,
        "e6",
        "email.replied",
        &h(5).await,
        json!({ "email": "replied@example.org" }),
    )
    .await;
    // An open is not a stop condition of this campaign.
    webhook(
        &app,
        "e7",
        "email.opened",
        &h(6).await,
        json!({ "email": "opened@example.org" }),
    )
    .await;

    // Engagement stops at once (in the event's transaction).
    for (i, reason) in [
        (0, "clicked"),
        (1, "unsubscribed"),
        (2, "bounced"),
        (5, "replied"),
    ] {
        let e = enrollment_of(&app, &owner, &id, &leads[i]).await;
        assert_eq!(e["status"], "STOPPED", "{} {e}", names[i]);
        assert_eq!(e["stopReason"], reason);
    }
    // Lead changes stop the sequence when its next step comes.
    app.state.shared.clock.advance(chrono::Duration::days(2));
    eventually("the opener gets the follow-up", || async {
        sent(&app, &id).await == names.len() as i64 + 1
    })
    .await;
    for (i, reason) in [(3, "converted"), (4, "won")] {
        let e = enrollment_of(&app, &owner, &id, &leads[i]).await;
        assert_eq!(e["status"], "STOPPED", "{} {e}", names[i]);
        assert_eq!(e["stopReason"], reason);
    }
    assert_eq!(
        enrollment_of(&app, &owner, &id, &leads[6]).await["status"],
        "COMPLETED"
    );
    let stats = gql(
        &app,
        &owner,
        "query($id: ID!) { campaign(id: $id) { stats { enrolled stopped completed converted messages { sent clicked bounced replied } } } }",
        json!({ "id": id }),
        "campaign",
    )
    .await;
    assert_eq!(stats["stats"]["stopped"], 6);
    assert_eq!(stats["stats"]["completed"], 1);
    assert_eq!(stats["stats"]["converted"], 1);
    assert_eq!(stats["stats"]["messages"]["replied"], 1);
}

#[tokio::test]
async fn enrolling_by_hand_names_who_was_skipped_and_a_stopped_enrollment_gets_nothing_more() {
    let app = spawn().await;
    let owner = app.sign_up("manual").await;
    outbox_sender(&app, &owner, "outbox").await;
    let a = create_lead(&app, &owner, "A", "a@example.org").await;
    let b = create_lead(&app, &owner, "B", "b@example.org").await;
    // The audience is one tag nobody has: only hand-enrolled leads.
    let id = sequence(
        &app,
        &owner,
        "Manual",
        json!({ "audience": { "filter": { "tags": { "in": ["nobody"] } } } }),
    )
    .await;
    let result = gql(
        &app,
        &owner,
        "mutation($c: ID!, $l: [ID!]!) { enrollLeads(campaignId: $c, leadIds: $l) { enrolled skipped { leadId code } } }",
        json!({ "c": id, "l": [a, Uuid::now_v7().to_string()] }),
        "enrollLeads",
    )
    .await;
    assert_eq!(result["enrolled"], 1);
    assert_eq!(result["skipped"][0]["code"], "NOT_FOUND");
    let again = gql(
        &app,
        &owner,
        "mutation($c: ID!, $l: [ID!]!) { enrollLeads(campaignId: $c, leadIds: $l) { enrolled skipped { code } } }",
        json!({ "c": id, "l": [a, b] }),
        "enrollLeads",
    )
    .await;
    assert_eq!(again["enrolled"], 1);
    assert_eq!(again["skipped"][0]["code"], "ALREADY_ENROLLED");
    launch(&app, &owner, &id).await;
    eventually("both get the first step", || async {
        sent(&app, &id).await == 2
    })
    .await;
    let e = enrollment_of(&app, &owner, &id, &a).await;
    let stopped = gql(
        &app,
        &owner,
        "mutation($id: ID!) { stopEnrollment(id: $id) { status stopReason } }",
        json!({ "id": e["id"] }),
        "stopEnrollment",
    )
    .await;
    assert_eq!(
        stopped,
        json!({ "status": "STOPPED", "stopReason": "manual" })
    );
    let twice = app
        .gql_as(
            &owner.access_token,
            "mutation($id: ID!) { stopEnrollment(id: $id) { status } }",
            json!({ "id": e["id"] }),
        )
        .await;
    twice.expect_error("CONFLICT");
    app.state.shared.clock.advance(chrono::Duration::days(2));
    eventually("only B gets the follow-up", || async {
        sent(&app, &id).await == 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.count("messages", &format!("lead_id = {}", lit(&a)))
            .await,
        1
    );
    // A viewer reads but cannot enrol or stop.
    let viewer = app
        .add_member(&owner, "viewer@manual.example", "VIEWER")
        .await;
    let refused = app
        .gql_as(
            &viewer.access_token,
            "mutation($c: ID!, $l: [ID!]!) { enrollLeads(campaignId: $c, leadIds: $l) { enrolled } }",
            json!({ "c": id, "l": [b] }),
        )
        .await;
    refused.expect_error("FORBIDDEN");
}

#[tokio::test]
async fn leads_entering_a_dynamic_audience_are_enrolled_and_leavers_are_stopped() {
    let app = spawn().await;
    let owner = app.sign_up("dynamic").await;
    outbox_sender(&app, &owner, "outbox").await;
    let first = create_lead(&app, &owner, "First", "first@example.org").await;
    gql(
        &app,
        &owner,
        "mutation($id: ID!) { addTags(id: $id, tags: [\"vip\"]) { id } }",
        json!({ "id": first }),
        "addTags",
    )
    .await;
    let id = sequence(
        &app,
        &owner,
        "VIPs",
        json!({ "audience": { "filter": { "tags": { "in": ["vip"] } } },
                "enrollNewLeads": true, "removeLeavers": true }),
    )
    .await;
    launch(&app, &owner, &id).await;
    eventually("the first VIP is sent to", || async {
        sent(&app, &id).await == 1
    })
    .await;

    let second = create_lead(&app, &owner, "Second", "second@example.org").await;
    gql(
        &app,
        &owner,
        "mutation($id: ID!) { addTags(id: $id, tags: [\"vip\"]) { id } }",
        json!({ "id": second }),
        "addTags",
    )
    .await;
    gql(
        &app,
        &owner,
        "mutation($id: ID!) { removeTags(id: $id, tags: [\"vip\"]) { id } }",
        json!({ "id": first }),
        "removeTags",
    )
    .await;
    // The audience is compared every minute.
    app.state
        .shared
        .clock
        .advance(chrono::Duration::seconds(61));
    eventually("the new VIP is enrolled and sent to", || async {
        sent(&app, &id).await == 2
    })
    .await;
    let gone = enrollment_of(&app, &owner, &id, &first).await;
    assert_eq!(gone["status"], "STOPPED");
    assert_eq!(gone["stopReason"], "left_audience");
}

#[tokio::test]
async fn campaign_stats_are_pushed_to_subscribers_as_the_campaign_sends() {
    let app = spawn().await;
    let owner = app.sign_up("live").await;
    outbox_sender(&app, &owner, "outbox").await;
    for i in 0..3 {
        create_lead(&app, &owner, &format!("L{i}"), &format!("l{i}@example.org")).await;
    }
    let id = sequence(&app, &owner, "Live", json!({})).await;
    let mut ws = subscribe(
        &app,
        &owner.access_token,
        "1",
        "subscription($id: ID!) { campaignStats(campaignId: $id) { enrolled active messages { sent } } }",
        json!({ "id": id }),
    )
    .await;
    let initial = ws.next_json().await;
    assert_eq!(
        initial["payload"]["data"]["campaignStats"]["enrolled"], 0,
        "{initial}"
    );
    launch(&app, &owner, &id).await;
    let mut last = Value::Null;
    for _ in 0..20 {
        let update = ws.next_json().await;
        last = update["payload"]["data"]["campaignStats"].clone();
        if last["messages"]["sent"] == 3 {
            break;
        }
    }
    assert_eq!(last["enrolled"], 3, "{last}");
    assert_eq!(last["messages"]["sent"], 3, "{last}");
    // Another tenant cannot watch it.
    let other = app.sign_up("spy").await;
    let mut spy = subscribe(
        &app,
        &other.access_token,
        "1",
        "subscription($id: ID!) { campaignStats(campaignId: $id) { enrolled } }",
        json!({ "id": id }),
    )
    .await;
    let refused = spy.next_json().await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "NOT_FOUND");
}

/// Inserts `n` leads with addresses into the tenant `slug`, 500 per
/// statement.
async fn insert_leads(app: &TestApp, slug: &str, n: usize) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let rows: Vec<String> = chunk
            .iter()
            .map(|i| {
                format!(
                    "((SELECT id FROM tenants WHERE slug = '{slug}'), {}, 'bulk{i}@example.org', '', '')",
                    crate::notes::uuid_literal(Uuid::now_v7())
                )
            })
            .collect();
        app.sql(&format!(
            "INSERT INTO leads (tenant_id, id, email, search_text, sort_name) VALUES {}",
            rows.join(", ")
        ))
        .await;
    }
}

/// Real crashes: the processes running the campaign are killed (SIGKILL)
/// mid-run; others take over once the job's lease runs out. Every lead
/// gets each step exactly once: none twice, none skipped.
#[tokio::test]
async fn worker_processes_killed_mid_run_send_no_step_twice_and_skip_none() {
    // This process's own worker never looks for jobs: the children work.
    let app = TestApp::spawn_with(|c| c.messaging.worker_poll_ms = 3_600_000).await;
    let owner = app.sign_up("crash").await;
    app.sql("UPDATE tenants SET max_leads = 100000, max_emails_per_day = 100000")
        .await;
    let leads = 3000;
    insert_leads(&app, "crash", leads).await;
    outbox_sender(&app, &owner, "outbox").await;
    let id = gql(
        &app,
        &owner,
        "mutation { createCampaign(input: { name: \"Big\", steps: [{ variants: [{ subject: \"Hi\", textBody: \"Hello {{ lead.email }}\" }] }] }) { id } }",
        json!({}),
        "createCampaign",
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let spawn_server = |port: u16| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_promohub"))
            .args(["serve", "--no-migrate", "--no-demo"])
            .env("DATABASE_URL", &app.config.database_url)
            .env("PORT", port.to_string())
            .env("HOST", "127.0.0.1")
            .env("RUST_LOG", "warn")
            .env("PROMOHUB_JOB_LEASE_SECS", "5")
            .env("PROMOHUB_WORKER_POLL_MS", "100")
            .kill_on_drop(true)
            .spawn()
            .expect("start a server process")
    };
    let free_port = || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let wait_up = |base: String| {
        let http = app.http.clone();
        async move {
            for _ in 0..200 {
                if http.get(format!("{base}/health")).send().await.is_ok() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("{base} never came up");
        }
    };
    // Two processes on one database from the start.
    let (p1, p2) = (free_port(), free_port());
    let mut first = spawn_server(p1);
    let mut second = spawn_server(p2);
    let base = format!("http://127.0.0.1:{p1}");
    wait_up(base.clone()).await;
    wait_up(format!("http://127.0.0.1:{p2}")).await;
    let launched: Value = app
        .http
        .post(format!("{base}/graphql"))
        .bearer_auth(&owner.access_token)
        .json(&json!({ "query": "mutation($id: ID!) { launchCampaign(id: $id) { launched } }", "variables": { "id": id } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        launched["data"]["launchCampaign"]["launched"], true,
        "{launched}"
    );
    let queued = || async {
        app.count("messages", &format!("campaign_id = {}", lit(&id)))
            .await
    };
    let mut at = 0;
    for _ in 0..2400 {
        at = queued().await;
        if at >= 500 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.kill().await.unwrap();
    second.kill().await.unwrap();
    assert!(
        at < leads as i64,
        "killed after everything was queued ({at})"
    );
    // A third process finishes the run once the lease runs out.
    let p3 = free_port();
    let _third = spawn_server(p3);
    wait_up(format!("http://127.0.0.1:{p3}")).await;
    eventually("every lead is queued", || async {
        queued().await == leads as i64
    })
    .await;
    let distinct = app
        .sql(&format!(
            "SELECT COUNT(DISTINCT enrollment_id) AS n FROM messages WHERE campaign_id = {}",
            lit(&id)
        ))
        .await[0]
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(
        distinct, leads as i64,
        "a lead got the step twice or not at all"
    );
    assert_eq!(
        app.count(
            "campaign_enrollments",
            "status = 'completed' AND last_message_id IS NOT NULL"
        )
        .await,
        leads as i64
    );
    if on_postgres() {
        // Every queued message has its delivery job.
        assert_eq!(
            app.count("jobs", &format!("group_key = 'campaign:{id}'"))
                .await,
            leads as i64
        );
    }
}

#[tokio::test]
async fn a_campaign_spreads_its_sends_over_its_senders_each_within_its_hourly_limit() {
    let app = spawn().await;
    let owner = app.sign_up("rotation").await;
    let mut senders = Vec::new();
    for name in ["one", "two"] {
        let id = gql(
            &app,
            &owner,
            "mutation($input: CreateSenderAccountInput!) { createSenderAccount(input: $input) { id } }",
            json!({ "input": { "name": name, "transport": "OUTBOX", "hourlyLimit": 2,
                               "fromEmail": format!("{name}@acme.test") } }),
            "createSenderAccount",
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        senders.push(id);
    }
    // A third account the campaign does not name: never used by it.
    outbox_sender(&app, &owner, "outbox").await;
    for i in 0..5 {
        create_lead(&app, &owner, &format!("R{i}"), &format!("r{i}@example.org")).await;
    }
    let clock = &app.state.shared.clock;
    clock.set(
        chrono::DateTime::parse_from_rfc3339("2027-01-11T10:00:00Z")
            .unwrap()
            .to_utc(),
    );
    let id = gql(
        &app,
        &owner,
        "mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id } }",
        json!({ "input": { "name": "Rotation", "senderIds": senders,
                           "steps": [{ "variants": [{ "subject": "Hi", "textBody": "Hello" }] }] } }),
        "createCampaign",
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    launch(&app, &owner, &id).await;
    eventually("four leads are sent to this hour", || async {
        sent(&app, &id).await == 4
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        sent(&app, &id).await,
        4,
        "an account went over its hourly limit"
    );
    for sender in &senders {
        assert_eq!(
            app.count(
                "messages",
                &format!("campaign_id = {} AND sender_id = {}", lit(&id), lit(sender))
            )
            .await,
            2,
            "each named account sends its two"
        );
    }
    // The next hour the fifth lead goes.
    clock.advance(chrono::Duration::hours(1));
    eventually("the fifth lead is sent to the next hour", || async {
        sent(&app, &id).await == 5
    })
    .await;
}
