//! A template is a program its author wrote: every render has a fuel
//! budget and an output cap (`LIMIT_EXCEEDED` naming the part), a template
//! over them whatever the lead is refused when saved, a send over them
//! queues nothing, and renders run off the threads that answer requests.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Gql, Session, TestApp};
use crate::messaging::{create_lead, create_sender, spawn};
use crate::smtp_server::closed_port;

/// 10^8 loop iterations that print nothing, so only fuel stops them.
const NESTED_RANGES: &str =
    "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}";

/// Nested loops whose size a declared variable decides (1 by default, so
/// the template saves): previewing or sending with `n: 10000` runs 10^8
/// iterations.
const LOOPS_OF_N: &str =
    "<p>{% for i in range(n|int) %}{% for j in range(n|int) %}{% endfor %}{% endfor %}done</p>";

const CREATE: &str =
    "mutation($input: CreateMessageTemplateInput!) { createMessageTemplate(input: $input) { id } }";

const PREVIEW: &str = "query($t: ID!, $l: ID!, $v: JSON) { previewTemplate(templateId: $t, leadId: $l, variables: $v) { subject htmlBody textBody } }";

async fn create(app: &TestApp, owner: &Session, input: Value) -> Gql {
    app.gql_as(&owner.access_token, CREATE, json!({ "input": input }))
        .await
}

async fn loops_of_n_template(app: &TestApp, owner: &Session, body: &str, part: &str) -> String {
    create(
        app,
        owner,
        json!({ "name": "Loops", "subject": "Hi", part: body,
                "variables": [{ "name": "n", "default": "1" }] }),
    )
    .await
    .data("createMessageTemplate")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn preview(app: &TestApp, owner: &Session, template: &str, lead: &str, n: i64) -> Gql {
    app.gql_as(
        &owner.access_token,
        PREVIEW,
        json!({ "t": template, "l": lead, "v": { "n": n } }),
    )
    .await
}

fn limit_message(response: &Gql) -> String {
    response.expect_error("LIMIT_EXCEEDED")["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_template_of_runaway_loops_is_refused_when_saved() {
    let app = spawn().await;
    let owner = app.sign_up("acme").await;

    let created = create(
        &app,
        &owner,
        json!({ "name": "Bomb", "subject": "Hi", "htmlBody": NESTED_RANGES }),
    )
    .await;
    let template = loops_of_n_template(&app, &owner, LOOPS_OF_N, "htmlBody").await;
    let updated = app
        .gql_as(
            &owner.access_token,
            "mutation($id: ID!, $s: String) { updateMessageTemplate(id: $id, input: { subject: $s }) { id } }",
            json!({ "id": template, "s": NESTED_RANGES }),
        )
        .await;

    assert!(limit_message(&created).starts_with("htmlBody: "));
    assert!(limit_message(&updated).starts_with("subject: "));
    assert_eq!(app.count("message_templates", "name = 'Bomb'").await, 0);
    assert_eq!(app.count("message_templates", "subject = 'Hi'").await, 1);
}

#[tokio::test]
async fn previewing_runaway_loops_is_limit_exceeded_quickly() {
    let app = spawn().await;
    let owner = app.sign_up("acme").await;
    let lead = create_lead(&app, &owner, "Ada", "ada@example.org").await;
    let template = loops_of_n_template(&app, &owner, LOOPS_OF_N, "htmlBody").await;

    let started = Instant::now();
    let runaway = preview(&app, &owner, &template, &lead, 10_000).await;
    let elapsed = started.elapsed();
    let small = preview(&app, &owner, &template, &lead, 3).await;

    let message = limit_message(&runaway);
    assert!(message.starts_with("htmlBody: "), "{message}");
    assert!(message.contains("fuel limit"), "{message}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert_eq!(small.data("previewTemplate")["htmlBody"], "<p>done</p>");
}

#[tokio::test]
async fn output_past_the_cap_is_limit_exceeded_naming_the_part() {
    let app = TestApp::spawn_with(|c| c.limits.template_output_bytes = 1024).await;
    let owner = app.sign_up("acme").await;
    let lead = create_lead(&app, &owner, "Ada", "ada@example.org").await;
    let body = "{% for i in range(n|int) %}0123456789{% endfor %}";
    let template = loops_of_n_template(&app, &owner, body, "textBody").await;

    let large = preview(&app, &owner, &template, &lead, 1000).await;
    let small = preview(&app, &owner, &template, &lead, 100).await;

    let message = limit_message(&large);
    assert!(message.starts_with("textBody: "), "{message}");
    assert!(message.contains("1024 bytes"), "{message}");
    assert_eq!(
        small.data("previewTemplate")["textBody"]
            .as_str()
            .unwrap()
            .len(),
        1000
    );
}

#[tokio::test]
async fn sending_a_template_over_its_limits_fails_and_queues_nothing() {
    let app = spawn().await;
    let owner = app.sign_up("acme").await;
    create_sender(&app, &owner, "primary", closed_port(), 10).await;
    let lead = create_lead(&app, &owner, "Ada", "ada@example.org").await;
    let template = loops_of_n_template(&app, &owner, LOOPS_OF_N, "htmlBody").await;

    let one = app
        .gql_as(
            &owner.access_token,
            "mutation($l: ID!, $t: ID!) { sendMessage(input: { leadId: $l, templateId: $t, variables: { n: 10000 } }) { id } }",
            json!({ "l": lead, "t": template }),
        )
        .await;
    let bulk = app
        .gql_as(
            &owner.access_token,
            "mutation($l: ID!, $t: ID!) { sendBulkMessages(input: { leadIds: [$l], templateId: $t, variables: { n: 10000 } }) { queued } }",
            json!({ "l": lead, "t": template }),
        )
        .await;

    assert!(limit_message(&one).starts_with("htmlBody: "));
    assert!(limit_message(&bulk).starts_with("htmlBody: "));
    assert_eq!(app.count("messages", "true").await, 0);
    assert_eq!(app.count("jobs", "true").await, 0);
}

#[tokio::test]
async fn health_answers_while_expensive_renders_run() {
    // A budget large enough that each render takes seconds, so they are
    // still running when /health is asked.
    let app = TestApp::spawn_with(|c| {
        c.limits.template_fuel = 25_000_000;
        c.limits.template_render_threads = Some(2);
    })
    .await;
    let owner = app.sign_up("acme").await;
    let lead = create_lead(&app, &owner, "Ada", "ada@example.org").await;
    let template = loops_of_n_template(&app, &owner, LOOPS_OF_N, "htmlBody").await;
    let client = app.http.clone();
    let (url, token) = (app.url("/graphql"), owner.access_token.clone());
    let previews: Vec<_> = (0..4)
        .map(|_| {
            let request = client
                .post(&url)
                .bearer_auth(&token)
                .json(&json!({ "query": PREVIEW,
                    "variables": { "t": template, "l": lead, "v": { "n": 10_000 } } }));
            tokio::spawn(async move { request.send().await.unwrap().json::<Value>().await })
        })
        .collect();

    // Asked every 100 ms until the renders end: every answer is prompt.
    let mut asked = 0;
    while previews.iter().any(|preview| !preview.is_finished()) && asked < 100 {
        let started = Instant::now();
        let health = app.http.get(app.url("/health")).send().await.unwrap();
        let elapsed = started.elapsed();
        assert_eq!(health.status(), 200);
        assert!(
            elapsed < Duration::from_secs(1),
            "/health took {elapsed:?} while templates rendered"
        );
        asked += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert!(asked >= 3, "the renders ended before /health was asked");
    for preview in previews {
        let body = preview.await.unwrap().unwrap();
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "LIMIT_EXCEEDED",
            "{body}"
        );
    }
}

/// Text that doubles `n` times (once by default, so the template saves):
/// at n = 40 it would be a terabyte. Fuel does not stop it (40 steps);
/// the render worker's memory cap does.
const DOUBLING_N: &str = "<p>{% set ns = namespace(s='x') %}{% for i in range(n|int) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}</p>";

/// Templates that build gigabytes whatever the lead: in a loop, in macro
/// recursion (four copies a level, under the recursion limit), and in
/// straight-line code.
fn memory_bombs() -> [String; 3] {
    [
        DOUBLING_N.replace("n|int", "40"),
        "{% macro grow(s, k) %}{% if k %}{{ grow(s ~ s ~ s ~ s, k - 1) }}{% else %}{{ s|length }}{% endif %}{% endmacro %}{{ grow('x', 16) }}".to_owned(),
        "{% set a = 'xxxxxxxxxxxxxxxx' %}".to_owned()
            + &"{% set a = a ~ a %}".repeat(30)
            + "{{ a|length }}",
    ]
}

fn memory_message(response: &Gql) -> String {
    let message = limit_message(response);
    assert!(message.contains("MiB of memory"), "{message}");
    message
}

#[tokio::test]
async fn templates_that_build_gigabytes_are_refused_when_saved_and_the_server_carries_on() {
    let app = TestApp::spawn_with(|c| c.limits.template_memory_bytes = 64 * 1024 * 1024).await;
    let owner = app.sign_up("acme").await;

    for (i, bomb) in memory_bombs().iter().enumerate() {
        let created = create(
            &app,
            &owner,
            json!({ "name": format!("Bomb {i}"), "subject": "Hi", "textBody": bomb }),
        )
        .await;
        let message = memory_message(&created);
        assert!(message.contains("64 MiB"), "{message}");
    }
    let fine = create(
        &app,
        &owner,
        json!({ "name": "Fine", "subject": "Hi {{ lead.firstName }}", "textBody": DOUBLING_N,
                "variables": [{ "name": "n", "default": "10" }] }),
    )
    .await;

    assert!(fine.data("createMessageTemplate")["id"].is_string());
    assert_eq!(app.count("message_templates", "name LIKE 'Bomb%'").await, 0);
    assert_eq!(
        app.http
            .get(app.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn previewing_or_sending_text_that_doubles_is_limit_exceeded_and_the_next_render_works() {
    let app = spawn().await;
    let owner = app.sign_up("acme").await;
    create_sender(&app, &owner, "primary", closed_port(), 10).await;
    let lead = create_lead(&app, &owner, "Ada", "ada@example.org").await;
    let template = loops_of_n_template(&app, &owner, DOUBLING_N, "htmlBody").await;

    let huge = preview(&app, &owner, &template, &lead, 40).await;
    let small = preview(&app, &owner, &template, &lead, 3).await;
    let bulk = app
        .gql_as(
            &owner.access_token,
            "mutation($l: ID!, $t: ID!) { sendBulkMessages(input: { leadIds: [$l], templateId: $t, variables: { n: 40 } }) { queued } }",
            json!({ "l": lead, "t": template }),
        )
        .await;
    let one = app
        .gql_as(
            &owner.access_token,
            "mutation($l: ID!, $t: ID!) { sendMessage(input: { leadId: $l, templateId: $t, variables: { n: 40 } }) { id } }",
            json!({ "l": lead, "t": template }),
        )
        .await;

    // The default cap, 256 MiB.
    assert!(memory_message(&huge).contains("256 MiB"));
    assert_eq!(small.data("previewTemplate")["htmlBody"], "<p>8</p>");
    memory_message(&bulk);
    memory_message(&one);
    assert_eq!(app.count("messages", "true").await, 0);
    // At least these three (the counter is the test process's, shared
    // with other tests).
    let over_memory = app
        .metrics()
        .await
        .lines()
        .find(|line| line.starts_with("promohub_template_renders_over_memory_total"))
        .and_then(|line| line.rsplit(' ').next()?.parse::<u64>().ok());
    assert!(over_memory >= Some(3), "{over_memory:?}");
}

#[tokio::test]
async fn a_render_whose_request_timed_out_stops_and_frees_its_turn() {
    // One render at a time, each able to run for minutes; requests end
    // after five seconds (signing up, hashed in a debug build, must fit).
    let app = TestApp::spawn_with(|c| {
        c.limits.template_fuel = 50_000_000_000;
        c.limits.template_render_threads = Some(1);
        c.limits.request_timeout_secs = 5;
    })
    .await;
    let owner = app.sign_up("acme").await;
    let lead = create_lead(&app, &owner, "Ada", "ada@example.org").await;
    let template = loops_of_n_template(&app, &owner, LOOPS_OF_N, "htmlBody").await;

    let runaway = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(&owner.access_token)
        .json(&json!({ "query": PREVIEW,
            "variables": { "t": template, "l": lead, "v": { "n": 100_000 } } }))
        .send()
        .await
        .unwrap();
    let started = Instant::now();
    let next = preview(&app, &owner, &template, &lead, 3).await;
    let waited = started.elapsed();

    assert_ne!(runaway.status(), 200);
    assert_eq!(next.data("previewTemplate")["htmlBody"], "<p>done</p>");
    // The runaway would have held the only turn for minutes.
    assert!(waited < Duration::from_secs(3), "{waited:?}");
}
