//! Campaigns and sequences end to end: launch checks, the scheduler with an
//! injected clock (delays, windows across a DST change, caps), stop
//! conditions (a reply arriving by webhook between two steps), pause and
//! resume, A/B winners, and tenant isolation.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, bad_field};
use crate::messaging::{WEBHOOK_SECRET, create_lead, spawn, standard_webhook};

const CAMPAIGN_FIELDS: &str = "id name status kind launchedAt completedAt \
    schedule { kind timeZone window { days start end } } \
    steps { id position delay { amount unit } variants { id label weight isWinner } \
            abDecision { winnerVariantId pValue reason decidedAt arms { variantId sent successes } } } \
    stats { enrolled active completed stopped failed converted messages { queued sent opened } }";

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

pub(crate) async fn outbox_sender(app: &TestApp, s: &Session, name: &str) -> String {
    app.gql_as(
        &s.access_token,
        "mutation($input: CreateSenderAccountInput!) { createSenderAccount(input: $input) { id } }",
        json!({ "input": { "name": name, "transport": "OUTBOX", "fromEmail": format!("{name}@acme.test") } }),
    )
    .await
    .data("createSenderAccount")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn create_campaign(app: &TestApp, s: &Session, input: Value) -> Value {
    let response = app
        .gql_as(
            &s.access_token,
            &format!(
                "mutation($input: CreateCampaignInput!) {{ createCampaign(input: $input) {{ {CAMPAIGN_FIELDS} }} }}"
            ),
            json!({ "input": input }),
        )
        .await;
    response.data("createCampaign").clone()
}

async fn launch(app: &TestApp, s: &Session, id: &str) -> Value {
    app.gql_as(
        &s.access_token,
        "mutation($id: ID!) { launchCampaign(id: $id) { launched audienceSize sendable estimatedMessages \
         problems { field code message } campaign { id status } } }",
        json!({ "id": id }),
    )
    .await
    .data("launchCampaign")
    .clone()
}

async fn campaign(app: &TestApp, s: &Session, id: &str) -> Value {
    app.gql_as(
        &s.access_token,
        &format!("query($id: ID!) {{ campaign(id: $id) {{ {CAMPAIGN_FIELDS} }} }}"),
        json!({ "id": id }),
    )
    .await
    .data("campaign")
    .clone()
}

async fn enrollments(app: &TestApp, s: &Session, id: &str) -> Vec<Value> {
    app.gql_as(
        &s.access_token,
        "query($id: ID!) { campaign(id: $id) { enrollments(first: 100) { nodes { \
         id leadId status nextStep nextRunAt stopReason error startedAt lastMessageId } } } }",
        json!({ "id": id }),
    )
    .await
    .data("campaign")["enrollments"]["nodes"]
        .as_array()
        .unwrap()
        .clone()
}

/// Messages of the campaign as `(lead, step position, status)`.
async fn campaign_messages(app: &TestApp, campaign_id: &str) -> Vec<(String, i64, String)> {
    let id = uuid_of(campaign_id);
    app.sql(&format!(
        "SELECT m.lead_id, s.position, CAST(m.status AS TEXT) AS status FROM messages m \
         JOIN campaign_steps s ON s.tenant_id = m.tenant_id AND s.id = m.step_id \
         WHERE m.campaign_id = {id} ORDER BY s.position, m.lead_id"
    ))
    .await
    .into_iter()
    .map(|row| {
        let lead: uuid::Uuid = row.try_get("", "lead_id").unwrap();
        let position: i32 = row.try_get("", "position").unwrap();
        let status: String = row.try_get("", "status").unwrap();
        (lead.to_string(), i64::from(position), status)
    })
    .collect()
}

/// A GraphQL id as a SQL literal of the backend (SQLite stores uuids as
/// blobs).
pub(crate) fn uuid_of(id: &str) -> String {
    crate::notes::uuid_literal(uuid::Uuid::parse_str(id).unwrap())
}

/// Polls until `check` holds (the scheduler and the delivery workers run in
/// the background).
pub(crate) async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..600 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

async fn sent_count(app: &TestApp, campaign_id: &str) -> i64 {
    app.count(
        "messages",
        &format!(
            "campaign_id = {} AND status <> 'queued'",
            uuid_of(campaign_id)
        ),
    )
    .await
}

fn two_step_sequence(template_subject: &str) -> Value {
    json!([
        { "variants": [{ "subject": format!("{template_subject} 1 for {{{{ lead.firstName }}}}"),
                         "textBody": "Hello {{ lead.firstName }}" }] },
        { "delay": { "amount": 3, "unit": "DAYS" },
          "variants": [{ "subject": format!("{template_subject} 2"), "textBody": "Following up" }] }
    ])
}

struct Tenant {
    app: TestApp,
    owner: Session,
    leads: Vec<String>,
}

async fn tenant_with_leads(n: usize) -> Tenant {
    let app = spawn().await;
    let owner = app.sign_up("camp").await;
    outbox_sender(&app, &owner, "outreach").await;
    let mut leads = Vec::new();
    for i in 0..n {
        leads.push(
            create_lead(
                &app,
                &owner,
                &format!("Lead{i}"),
                &format!("lead{i}@example.org"),
            )
            .await,
        );
    }
    Tenant { app, owner, leads }
}

#[tokio::test]
async fn a_sequence_sends_each_step_once_after_its_delay_and_then_completes() {
    let Tenant { app, owner, leads } = tenant_with_leads(3).await;
    let clock = &app.state.shared.clock;
    clock.set(utc("2027-01-11T10:00:00Z"));
    let c = create_campaign(
        &app,
        &owner,
        json!({ "name": "Trial nurture", "kind": "SEQUENCE", "steps": two_step_sequence("Trial") }),
    )
    .await;
    let id = c["id"].as_str().unwrap();
    assert_eq!(c["status"], "DRAFT");
    assert_eq!(
        c["steps"][1]["delay"],
        json!({ "amount": 3, "unit": "DAYS" })
    );

    let launched = launch(&app, &owner, id).await;
    assert_eq!(launched["launched"], true, "{launched}");
    assert_eq!(launched["audienceSize"], 3);
    assert_eq!(launched["estimatedMessages"], 6);
    assert_eq!(launched["campaign"]["status"], "ACTIVE");

    eventually("the first step reaches every lead", || async {
        sent_count(&app, id).await == 3
    })
    .await;
    let after_first = enrollments(&app, &owner, id).await;
    assert_eq!(after_first.len(), 3);
    for e in &after_first {
        assert_eq!(e["status"], "ACTIVE");
        assert_eq!(e["nextStep"], 1);
        assert!(e["lastMessageId"].is_string());
        let next = utc(e["nextRunAt"].as_str().unwrap());
        assert!(
            next >= utc("2027-01-14T10:00:00Z") && next < utc("2027-01-14T10:01:00Z"),
            "{e}"
        );
    }
    // Two days on: nothing more is due.
    clock.advance(chrono::Duration::days(2));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(campaign_messages(&app, id).await.len(), 3);

    clock.advance(chrono::Duration::days(1));
    eventually("the follow-up reaches every lead", || async {
        sent_count(&app, id).await == 6
    })
    .await;
    let messages = campaign_messages(&app, id).await;
    for lead in &leads {
        for step in [0, 1] {
            let copies = messages
                .iter()
                .filter(|(l, s, _)| l == lead && *s == step)
                .count();
            assert_eq!(copies, 1, "lead {lead} step {step}: {messages:?}");
        }
    }
    eventually("the campaign completes", || async {
        campaign(&app, &owner, id).await["status"] == "COMPLETED"
    })
    .await;
    let done = campaign(&app, &owner, id).await;
    assert_eq!(done["stats"]["enrolled"], 3);
    assert_eq!(done["stats"]["completed"], 3);
    assert_eq!(done["stats"]["messages"]["sent"], 6);
    // The outbox holds exactly six emails, with the rendered subject.
    assert_eq!(
        app.count("outbox_emails", "subject LIKE 'Trial 1 for Lead%'")
            .await,
        3
    );
    assert_eq!(app.count("outbox_emails", "subject = 'Trial 2'").await, 3);
}

#[tokio::test]
async fn launch_reports_every_problem_at_once_and_changes_nothing() {
    let app = spawn().await;
    let owner = app.sign_up("problems").await;
    // No sender account, no lead, no step.
    let c = create_campaign(&app, &owner, json!({ "name": "Empty" })).await;
    let id = c["id"].as_str().unwrap();
    let result = launch(&app, &owner, id).await;
    assert_eq!(result["launched"], false);
    let codes: Vec<&str> = result["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    for code in ["NO_STEPS", "NO_SENDER", "EMPTY_AUDIENCE"] {
        assert!(codes.contains(&code), "{code} missing in {codes:?}");
    }
    assert_eq!(campaign(&app, &owner, id).await["status"], "DRAFT");
    assert_eq!(app.count("campaign_enrollments", "1 = 1").await, 0);

    // A variant that does not render for the audience is named with the lead.
    outbox_sender(&app, &owner, "outreach").await;
    create_lead(&app, &owner, "Ada", "ada@example.org").await;
    let broken = create_campaign(
        &app,
        &owner,
        json!({ "name": "Broken", "steps": [{ "variants": [
            { "subject": "Hi", "textBody": "{{ lead.firstName | no_such_filter }}" }
        ] }] }),
    )
    .await;
    let broken_id = broken["id"].as_str().unwrap();
    let result = launch(&app, &owner, broken_id).await;
    if result["launched"] == false {
        assert_eq!(result["problems"][0]["field"], "steps.0.variants.0");
        assert_eq!(result["problems"][0]["code"], "RENDER_FAILED");
    } else {
        panic!("a template that cannot render was launched: {result}");
    }
}

#[tokio::test]
async fn save_time_checks_name_the_field_and_transitions_name_the_status() {
    let Tenant { app, owner, .. } = tenant_with_leads(1).await;
    let cases = [
        (
            json!({ "name": "A", "schedule": { "timeZone": "Mars/Olympus" } }),
            "input.schedule.timeZone",
        ),
        (
            json!({ "name": "A", "schedule": { "window": { "days": ["MONDAY"], "start": "17:00", "end": "09:00" } } }),
            "input.schedule.window.end",
        ),
        (
            json!({ "name": "A", "schedule": { "kind": "DAILY" } }),
            "input.schedule.sendTime",
        ),
        (
            json!({ "name": "A", "steps": [{ "variants": [] }] }),
            "input.steps.0.variants",
        ),
        (
            json!({ "name": "A", "steps": [{ "variants": [{ "subject": "x" , "textBody": "y", "templateId": "00000000-0000-0000-0000-000000000000" }] }] }),
            "input.steps.0.variants.0.templateId",
        ),
        (
            json!({ "name": "A", "steps": [{ "variants": [{ "subject": "x", "textBody": "{{ nope }}" }] }] }),
            "input.steps.0.variants.0.textBody",
        ),
        (
            json!({ "name": "A", "steps": [{ "delay": { "amount": -1, "unit": "HOURS" }, "variants": [{ "subject": "x", "textBody": "y" }] }] }),
            "input.steps.0.delay.amount",
        ),
        (
            json!({ "name": "A", "leadsPerDay": 0 }),
            "input.leadsPerDay",
        ),
        (
            json!({ "name": "A", "steps": [
            { "variants": [{ "subject": "x", "textBody": "y" }] },
            { "variants": [{ "subject": "x", "textBody": "y" }] }] }),
            "input.steps",
        ),
    ];
    for (input, field) in cases {
        let response = app
            .gql_as(
                &owner.access_token,
                "mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id } }",
                json!({ "input": input }),
            )
            .await;
        assert_eq!(bad_field(&response), field, "{input}");
    }
    let c = create_campaign(&app, &owner, json!({ "name": "Fine" })).await;
    let pause = app
        .gql_as(
            &owner.access_token,
            "mutation($id: ID!) { pauseCampaign(id: $id) { id } }",
            json!({ "id": c["id"] }),
        )
        .await;
    let error = pause.expect_error("CONFLICT");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("DRAFT") && message.contains("ACTIVE"),
        "{message}"
    );
}

#[tokio::test]
async fn a_reply_arriving_by_webhook_between_two_steps_stops_the_sequence() {
    let Tenant { app, owner, leads } = tenant_with_leads(2).await;
    let clock = &app.state.shared.clock;
    clock.set(utc("2027-01-11T10:00:00Z"));
    let c = create_campaign(
        &app,
        &owner,
        json!({ "name": "Outbound", "kind": "SEQUENCE", "steps": two_step_sequence("Outbound") }),
    )
    .await;
    let id = c["id"].as_str().unwrap();
    assert_eq!(launch(&app, &owner, id).await["launched"], true);
    eventually("the first step goes out", || async {
        sent_count(&app, id).await == 2
    })
    .await;
    // The first lead replies (the provider's inbound webhook).
    let header: String = {
        let rows = app
            .sql(&format!(
                "SELECT message_id_header FROM messages WHERE campaign_id = {} AND lead_id = {}",
                uuid_of(id),
                uuid_of(&leads[0])
            ))
            .await;
        rows[0].try_get("", "message_id_header").unwrap()
    };
    let body = json!({ "type": "email.replied", "timestamp": Utc::now().to_rfc3339(),
        "data": { "message_id": format!("<{header}>"), "email": "lead0@example.org" } })
    .to_string();
    let mut request = app
        .http
        .post(app.url("/webhooks/email/standard"))
        .body(body.clone());
    for (name, value) in
        standard_webhook("evt_reply", Utc::now().timestamp(), &body, WEBHOOK_SECRET)
    {
        request = request.header(name, value);
    }
    assert_eq!(request.send().await.unwrap().status(), 200);

    let stopped = enrollments(&app, &owner, id)
        .await
        .into_iter()
        .find(|e| e["leadId"] == leads[0])
        .unwrap();
    assert_eq!(stopped["status"], "STOPPED");
    assert_eq!(stopped["stopReason"], "replied");

    clock.advance(chrono::Duration::days(3));
    eventually("the other lead gets the follow-up", || async {
        sent_count(&app, id).await == 3
    })
    .await;
    let messages = campaign_messages(&app, id).await;
    assert!(
        !messages.iter().any(|(l, s, _)| l == &leads[0] && *s == 1),
        "the lead who replied got the follow-up: {messages:?}"
    );
}

#[tokio::test]
async fn the_send_window_follows_local_time_across_a_dst_change_and_each_leads_own_zone() {
    let Tenant { app, owner, leads } = tenant_with_leads(2).await;
    // Lead 1 lives in New York.
    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!) { updateLead(id: $id, input: { timeZone: \"America/New_York\" }) { id } }",
        json!({ "id": leads[1] }),
    )
    .await
    .data("updateLead");
    let clock = &app.state.shared.clock;
    // Friday 2027-03-26 22:00 UTC: 23:00 in Berlin, 18:00 in New York;
    // after hours in both.
    clock.set(utc("2027-03-26T22:00:00Z"));
    let c = create_campaign(
        &app,
        &owner,
        json!({ "name": "Office hours", "steps": [{ "variants": [{ "subject": "Hi", "textBody": "Hello" }] }],
                "schedule": { "timeZone": "Europe/Berlin", "useLeadTimeZone": true,
                              "window": { "days": ["MONDAY","TUESDAY","WEDNESDAY","THURSDAY","FRIDAY"],
                                          "start": "09:00", "end": "17:00" } } }),
    )
    .await;
    let id = c["id"].as_str().unwrap();
    assert_eq!(c["schedule"]["window"]["start"], "09:00");
    assert_eq!(launch(&app, &owner, id).await["launched"], true);
    eventually("both enrollments wait for their windows", || async {
        let e = enrollments(&app, &owner, id).await;
        e.len() == 2
            && e.iter()
                .all(|e| e["nextRunAt"] != e["startedAt"] && e["startedAt"].is_null())
            && e.iter()
                .all(|e| utc(e["nextRunAt"].as_str().unwrap()) > utc("2027-03-27T00:00:00Z"))
    })
    .await;
    let by_lead = |list: &[Value], lead: &str| -> DateTime<Utc> {
        let e = list.iter().find(|e| e["leadId"] == lead).unwrap();
        utc(e["nextRunAt"].as_str().unwrap())
    };
    let list = enrollments(&app, &owner, id).await;
    // Berlin switched to summer time on Sunday: Monday 09:00 is 07:00 UTC.
    assert_eq!(by_lead(&list, &leads[0]), utc("2027-03-29T07:00:00Z"));
    // New York (already on summer time): Monday 09:00 is 13:00 UTC.
    assert_eq!(by_lead(&list, &leads[1]), utc("2027-03-29T13:00:00Z"));
    assert_eq!(sent_count(&app, id).await, 0);

    clock.set(utc("2027-03-29T07:00:30Z"));
    eventually("the Berlin lead is sent to", || async {
        sent_count(&app, id).await == 1
    })
    .await;
    clock.set(utc("2027-03-29T13:00:30Z"));
    eventually("the New York lead is sent to", || async {
        sent_count(&app, id).await == 2
    })
    .await;
}

#[tokio::test]
async fn leads_per_day_caps_the_leads_started_each_day() {
    let Tenant { app, owner, .. } = tenant_with_leads(5).await;
    let clock = &app.state.shared.clock;
    clock.set(utc("2027-01-11T10:00:00Z"));
    let c = create_campaign(
        &app,
        &owner,
        json!({ "name": "Drip", "leadsPerDay": 2,
                "steps": [{ "variants": [{ "subject": "Hi", "textBody": "Hello" }] }] }),
    )
    .await;
    let id = c["id"].as_str().unwrap();
    assert_eq!(launch(&app, &owner, id).await["launched"], true);
    eventually("two leads start on day one", || async {
        sent_count(&app, id).await == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sent_count(&app, id).await, 2);
    let waiting: Vec<Value> = enrollments(&app, &owner, id)
        .await
        .into_iter()
        .filter(|e| e["status"] == "ACTIVE")
        .collect();
    assert_eq!(waiting.len(), 3);
    for e in &waiting {
        assert_eq!(
            utc(e["nextRunAt"].as_str().unwrap()),
            utc("2027-01-12T00:00:00Z")
        );
    }
    clock.set(utc("2027-01-12T00:00:05Z"));
    eventually("two more start on day two", || async {
        sent_count(&app, id).await == 4
    })
    .await;
    clock.set(utc("2027-01-13T00:00:05Z"));
    eventually("the last starts on day three", || async {
        sent_count(&app, id).await == 5
    })
    .await;
}

#[tokio::test]
async fn a_paused_campaign_sends_nothing_and_resumes_where_it_stopped() {
    let Tenant { app, owner, .. } = tenant_with_leads(2).await;
    let clock = &app.state.shared.clock;
    clock.set(utc("2027-01-11T10:00:00Z"));
    let c = create_campaign(
        &app,
        &owner,
        json!({ "name": "Pausable", "kind": "SEQUENCE", "steps": two_step_sequence("P") }),
    )
    .await;
    let id = c["id"].as_str().unwrap();
    assert_eq!(launch(&app, &owner, id).await["launched"], true);
    eventually("the first step goes out", || async {
        sent_count(&app, id).await == 2
    })
    .await;
    let paused = app
        .gql_as(
            &owner.access_token,
            "mutation($id: ID!) { pauseCampaign(id: $id) { status pausedAt } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(paused.data("pauseCampaign")["status"], "PAUSED");
    clock.advance(chrono::Duration::days(4));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        campaign_messages(&app, id).await.len(),
        2,
        "sent while paused"
    );

    let resumed = app
        .gql_as(
            &owner.access_token,
            "mutation($id: ID!) { resumeCampaign(id: $id) { status } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(resumed.data("resumeCampaign")["status"], "ACTIVE");
    eventually("the follow-ups go out after resuming", || async {
        sent_count(&app, id).await == 4
    })
    .await;
    assert_eq!(campaign_messages(&app, id).await.len(), 4);
}

#[tokio::test]
async fn a_paused_campaigns_queued_deliveries_are_held_and_released_on_resume() {
    // A sender whose server refuses for now: deliveries wait in the queue.
    let app = spawn().await;
    let owner = app.sign_up("held").await;
    crate::messaging::create_sender(&app, &owner, "down", crate::smtp_server::closed_port(), 0)
        .await;
    create_lead(&app, &owner, "Ada", "ada@example.org").await;
    let c = create_campaign(
        &app,
        &owner,
        json!({ "name": "Held", "kind": "SEQUENCE", "steps": two_step_sequence("Held") }),
    )
    .await;
    let id = c["id"].as_str().unwrap();
    assert_eq!(launch(&app, &owner, id).await["launched"], true);
    let group = format!("group_key = 'campaign:{id}'");
    eventually("the delivery is queued", || async {
        app.count("jobs", &group).await == 1
    })
    .await;
    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!) { pauseCampaign(id: $id) { status } }",
        json!({ "id": id }),
    )
    .await
    .data("pauseCampaign");
    eventually("the delivery is held", || async {
        app.count("jobs", &format!("{group} AND status = 'held'"))
            .await
            == 1
    })
    .await;
    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!) { resumeCampaign(id: $id) { status } }",
        json!({ "id": id }),
    )
    .await
    .data("resumeCampaign");
    assert_eq!(
        app.count("jobs", &format!("{group} AND status = 'held'"))
            .await,
        0
    );
}

#[tokio::test]
async fn an_ab_test_declares_the_winner_on_a_clear_difference_and_sends_only_it_after() {
    let Tenant { app, owner, .. } = tenant_with_leads(50).await;
    let clock = &app.state.shared.clock;
    clock.set(utc("2027-01-11T10:00:00Z"));
    let c = create_campaign(
        &app,
        &owner,
        json!({ "name": "Subject test", "leadsPerDay": 40, "abTest": { "metric": "OPEN_RATE", "minSendsPerVariant": 10, "confidencePct": 95 },
                "steps": [{ "variants": [
                    { "label": "Short", "subject": "Hi", "htmlBody": "<p>Hi {{ lead.firstName }}</p>" },
                    { "label": "Long", "subject": "Hello there", "htmlBody": "<p>Hello {{ lead.firstName }}</p>" }
                ] }] }),
    )
    .await;
    let id = c["id"].as_str().unwrap();
    let variants = c["steps"][0]["variants"].as_array().unwrap().clone();
    assert_eq!(launch(&app, &owner, id).await["launched"], true);
    eventually("the day's forty leads are sent to", || async {
        sent_count(&app, id).await == 40
    })
    .await;
    // Every "Short" message is opened (a human open through the pixel),
    // no "Long" one.
    let short = variants[0]["id"].as_str().unwrap();
    let rows = app
        .sql(&format!(
            "SELECT id FROM messages WHERE campaign_id = {} AND variant_id = {}",
            uuid_of(id),
            uuid_of(short)
        ))
        .await;
    assert!(
        rows.len() >= 10 && rows.len() <= 30,
        "split: {}",
        rows.len()
    );
    let short_count = rows.len();
    for row in rows {
        let message: uuid::Uuid = row.try_get("", "id").unwrap();
        let m = crate::messaging::fetch_message(&app, &owner, &message.to_string()).await;
        crate::messaging::open_pixel(&app, &m).await;
    }
    eventually("every open is recorded", || async {
        app.count(
            "messages",
            &format!("campaign_id = {} AND opened_at IS NOT NULL", uuid_of(id)),
        )
        .await
            == short_count as i64
    })
    .await;
    // The next day's run looks at the test first, then sends the other ten.
    clock.set(utc("2027-01-12T00:00:05Z"));
    eventually("the winner is declared", || async {
        campaign(&app, &owner, id).await["steps"][0]["abDecision"]["winnerVariantId"] == short
    })
    .await;
    let step = campaign(&app, &owner, id).await["steps"][0].clone();
    assert_eq!(step["variants"][0]["isWinner"], true);
    assert!(step["abDecision"]["pValue"].as_f64().unwrap() < 0.05);
    assert!(step["abDecision"]["decidedAt"].is_string(), "{step}");
    let arms = step["abDecision"]["arms"].as_array().unwrap();
    assert_eq!(
        arms.iter()
            .map(|a| a["sent"].as_i64().unwrap())
            .sum::<i64>(),
        40
    );
    // The ten leads of day two all get the winner.
    eventually("day two's leads are sent to", || async {
        sent_count(&app, id).await == 50
    })
    .await;
    let long = variants[1]["id"].as_str().unwrap();
    let long_sent = app
        .count(
            "messages",
            &format!(
                "campaign_id = {} AND variant_id = {}",
                uuid_of(id),
                uuid_of(long)
            ),
        )
        .await;
    assert_eq!(
        long_sent,
        40 - short_count as i64,
        "the loser was sent after the decision"
    );
}

#[tokio::test]
async fn another_tenants_campaigns_enrollments_segments_and_leads_are_out_of_reach() {
    let Tenant { app, owner, leads } = tenant_with_leads(1).await;
    let mine = create_campaign(
        &app,
        &owner,
        json!({ "name": "Mine", "steps": [{ "variants": [{ "subject": "Hi", "textBody": "Hello" }] }] }),
    )
    .await;
    let mine_id = mine["id"].as_str().unwrap();
    assert_eq!(launch(&app, &owner, mine_id).await["launched"], true);
    let enrollment = eventually_enrollment(&app, &owner, mine_id).await;

    let other = app.sign_up("rival").await;
    let theirs = create_campaign(&app, &other, json!({ "name": "Theirs" })).await;
    let theirs_id = theirs["id"].as_str().unwrap();

    for (query, variables) in [
        (
            "query($id: ID!) { campaign(id: $id) { id } }",
            json!({ "id": mine_id }),
        ),
        (
            "mutation($id: ID!) { updateCampaign(id: $id, input: { name: \"x\" }) { id } }",
            json!({ "id": mine_id }),
        ),
        (
            "mutation($id: ID!) { launchCampaign(id: $id) { launched } }",
            json!({ "id": mine_id }),
        ),
        (
            "mutation($id: ID!) { pauseCampaign(id: $id) { id } }",
            json!({ "id": mine_id }),
        ),
        (
            "mutation($id: ID!) { resumeCampaign(id: $id) { id } }",
            json!({ "id": mine_id }),
        ),
        (
            "mutation($id: ID!) { completeCampaign(id: $id) { id } }",
            json!({ "id": mine_id }),
        ),
        (
            "mutation($id: ID!) { archiveCampaign(id: $id) { id } }",
            json!({ "id": mine_id }),
        ),
        (
            "mutation($id: ID!) { deleteCampaign(id: $id) { id } }",
            json!({ "id": mine_id }),
        ),
        (
            "mutation($id: ID!) { enrollLeads(campaignId: $id, leadIds: []) { enrolled } }",
            json!({ "id": mine_id }),
        ),
        (
            "mutation($id: ID!) { stopEnrollment(id: $id) { id } }",
            json!({ "id": enrollment }),
        ),
    ] {
        let response = app.gql_as(&other.access_token, query, variables).await;
        response.expect_error("NOT_FOUND");
    }
    // Their list and subscriptions hold only their own.
    let listed = app
        .gql_as(
            &other.access_token,
            "{ campaigns(first: 10) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        listed.data("campaigns")["nodes"],
        json!([{ "id": theirs_id }])
    );
    // Enrolling my lead into their campaign: not found, nothing enrolled.
    let enrolled = app
        .gql_as(
            &other.access_token,
            "mutation($c: ID!, $l: [ID!]!) { enrollLeads(campaignId: $c, leadIds: $l) { enrolled skipped { leadId code } } }",
            json!({ "c": theirs_id, "l": [leads[0]] }),
        )
        .await;
    assert_eq!(enrolled.data("enrollLeads")["enrolled"], 0);
    assert_eq!(
        enrolled.data("enrollLeads")["skipped"][0]["code"],
        "NOT_FOUND"
    );
    // An audience naming my segment, a sender of mine, a message naming my
    // campaign: refused.
    let segment = app
        .gql_as(
            &owner.access_token,
            "mutation { createSegment(input: { name: \"Mine\", kind: STATIC }) { id } }",
            json!({}),
        )
        .await
        .data("createSegment")["id"]
        .clone();
    let audience = app
        .gql_as(
            &other.access_token,
            "mutation($s: ID!) { createCampaign(input: { name: \"Spy\", audience: { segmentIds: [$s] } }) { id } }",
            json!({ "s": segment }),
        )
        .await;
    assert!(
        bad_field(&audience).starts_with("input.audience"),
        "{:?}",
        audience.code()
    );
    let lead_of_theirs = create_lead(&app, &other, "Bo", "bo@example.org").await;
    let send = app
        .gql_as(
            &other.access_token,
            "mutation($l: ID!, $c: ID!) { sendMessage(input: { leadId: $l, campaignId: $c, subject: \"x\", textBody: \"y\" }) { id } }",
            json!({ "l": lead_of_theirs, "c": mine_id }),
        )
        .await;
    assert_eq!(bad_field(&send), "input.campaignId");
    // Their lead's enrollments do not include mine.
    let lead_view = app
        .gql_as(
            &owner.access_token,
            "query($id: ID!) { lead(id: $id) { enrollments(first: 5) { totalCount nodes { campaignId status } } } }",
            json!({ "id": leads[0] }),
        )
        .await;
    assert_eq!(lead_view.data("lead")["enrollments"]["totalCount"], 1);
}

async fn eventually_enrollment(app: &TestApp, owner: &Session, campaign_id: &str) -> String {
    for _ in 0..100 {
        if let Some(e) = enrollments(app, owner, campaign_id).await.first() {
            return e["id"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no enrollment");
}

#[tokio::test]
async fn a_page_of_campaigns_with_steps_stats_and_enrollments_costs_the_same_sql_for_2_as_for_5() {
    let Tenant { app, owner, .. } = tenant_with_leads(2).await;
    let query = "{ campaigns(first: 10) { nodes { id name senderIds \
        steps { id variants { id label } } \
        stats { enrolled messages { sent openRate } } \
        enrollments(first: 3) { totalCount nodes { id status lead { id email } } } } } }";
    let mut counts = Vec::new();
    for n in [2, 5] {
        while app.count("campaigns", "1 = 1").await < n {
            let i = app.count("campaigns", "1 = 1").await;
            let c = create_campaign(
                &app,
                &owner,
                json!({ "name": format!("C{i}"), "steps": [{ "variants": [{ "subject": "Hi", "textBody": "x" }] }] }),
            )
            .await;
            launch(&app, &owner, c["id"].as_str().unwrap()).await;
        }
        // Background work (the scheduler, deliveries) is logged too: let it
        // finish first.
        eventually("every campaign completes and sends", || async {
            app.count("campaigns", "status <> 'completed'").await == 0
                && app.count("messages", "status = 'queued'").await == 0
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (response, statements) = app
            .gql_counting(&owner.access_token, query, json!({}))
            .await;
        assert!(response.is_ok(), "{:?}", response.code());
        counts.push(statements.len());
    }
    assert_eq!(counts[0], counts[1], "statements for 2 and 5 campaigns");
}

#[tokio::test]
async fn every_setting_reads_back_as_saved_and_each_lifecycle_time_is_stamped() {
    let Tenant { app, owner, leads } = tenant_with_leads(1).await;
    let segment = app
        .gql_as(
            &owner.access_token,
            "mutation { createSegment(input: { name: \"Customers\", kind: STATIC }) { id } }",
            json!({}),
        )
        .await
        .data("createSegment")["id"]
        .clone();
    let settings = app
        .gql_as(
            &owner.access_token,
            "mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id \
             audience { excludeSegmentIds } leadsPerHour budget { amount currencyCode } spent { amount } \
             schedule { kind startsAt endsAt sendTime weekday timeZone } abTest { decideAfterHours } archivedAt } }",
            json!({ "input": {
                "name": "Weekly digest", "audience": { "excludeSegmentIds": [segment] },
                "leadsPerHour": 25, "budget": "100.00", "currency": "EUR",
                "schedule": { "kind": "WEEKLY", "sendTime": "09:30", "weekday": "TUESDAY",
                              "timeZone": "Europe/Paris",
                              "startsAt": "2027-02-01T00:00:00Z", "endsAt": "2027-06-30T00:00:00Z" },
                "abTest": { "decideAfterHours": 24 } } }),
        )
        .await;
    let c = settings.data("createCampaign");
    assert_eq!(c["audience"]["excludeSegmentIds"], json!([segment]));
    assert_eq!(c["leadsPerHour"], 25);
    assert_eq!(
        c["budget"],
        json!({ "amount": "100.00", "currencyCode": "EUR" })
    );
    assert_eq!(c["spent"]["amount"], "0.00");
    assert_eq!(c["schedule"]["kind"], "WEEKLY");
    assert_eq!(c["schedule"]["weekday"], "TUESDAY");
    assert_eq!(c["schedule"]["sendTime"], "09:30");
    assert_eq!(c["schedule"]["timeZone"], "Europe/Paris");
    assert_eq!(
        utc(c["schedule"]["startsAt"].as_str().unwrap()),
        utc("2027-02-01T00:00:00Z")
    );
    assert_eq!(
        utc(c["schedule"]["endsAt"].as_str().unwrap()),
        utc("2027-06-30T00:00:00Z")
    );
    assert_eq!(c["abTest"]["decideAfterHours"], 24);
    assert_eq!(c["archivedAt"], Value::Null);
    let id = c["id"].as_str().unwrap().to_owned();
    let spent = app
        .gql_as(
            &owner.access_token,
            "mutation($id: ID!) { updateCampaign(id: $id, input: { spent: \"12.50\" }) { spent { amount currencyCode } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        spent.data("updateCampaign")["spent"],
        json!({ "amount": "12.50", "currencyCode": "EUR" })
    );
    let archived = app
        .gql_as(
            &owner.access_token,
            "mutation($id: ID!) { archiveCampaign(id: $id) { status archivedAt } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(archived.data("archiveCampaign")["status"], "ARCHIVED");
    assert!(archived.data("archiveCampaign")["archivedAt"].is_string());

    // An enrollment's times: enrolled, last sent, stopped.
    let seq = create_campaign(
        &app,
        &owner,
        json!({ "name": "Times", "kind": "SEQUENCE", "steps": two_step_sequence("Times") }),
    )
    .await;
    let seq_id = seq["id"].as_str().unwrap();
    assert_eq!(launch(&app, &owner, seq_id).await["launched"], true);
    eventually("the first step goes out", || async {
        sent_count(&app, seq_id).await == 1
    })
    .await;
    let times = "query($id: ID!) { campaign(id: $id) { enrollments(first: 1) { nodes { id leadId enrolledAt lastSentAt stoppedAt } } } }";
    let before = app
        .gql_as(&owner.access_token, times, json!({ "id": seq_id }))
        .await
        .data("campaign")["enrollments"]["nodes"][0]
        .clone();
    assert_eq!(before["leadId"], leads[0]);
    assert!(before["enrolledAt"].is_string());
    assert!(
        utc(before["lastSentAt"].as_str().unwrap()) >= utc(before["enrolledAt"].as_str().unwrap())
    );
    assert_eq!(before["stoppedAt"], Value::Null);
    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!) { stopEnrollment(id: $id) { id } }",
        json!({ "id": before["id"] }),
    )
    .await
    .data("stopEnrollment");
    let after = app
        .gql_as(&owner.access_token, times, json!({ "id": seq_id }))
        .await
        .data("campaign")["enrollments"]["nodes"][0]
        .clone();
    assert!(after["stoppedAt"].is_string(), "{after}");
}
