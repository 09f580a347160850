//! The outbox of domain events: written with the change that made them,
//! readable from a cursor (`domainEvents` query), streamed live with replay
//! (`domainEvents` subscription), and never another tenant's.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Session, TestApp};
use crate::leads::create_lead;

const READ: &str = "query($after: String, $first: Int, $kinds: [DomainEventKind!]) {
    domainEvents(after: $after, first: $first, kinds: $kinds) { nodes { cursor kind subjectId actorId payload at } } }";

const LIVE: &str = "subscription($after: String, $kinds: [DomainEventKind!]) {
    domainEvents(after: $after, kinds: $kinds) { cursor kind subjectId payload } }";

async fn read(app: &TestApp, session: &Session, variables: Value) -> Vec<Value> {
    app.gql_as(&session.access_token, READ, variables)
        .await
        .data("domainEvents")["nodes"]
        .as_array()
        .expect("a list")
        .clone()
}

/// The lead events only (signing up writes none, but inviting would).
async fn lead_events(app: &TestApp, session: &Session, after: Option<&str>) -> Vec<Value> {
    read(
        app,
        session,
        json!({ "after": after, "kinds": ["LEAD_CREATED", "LEAD_CHANGED", "LEAD_DELETED", "LEAD_RESTORED", "LEAD_MERGED"] }),
    )
    .await
}

async fn update_lead(app: &TestApp, session: &Session, id: &str, input: Value) {
    app.gql_as(
        &session.access_token,
        "mutation($id: ID!, $input: UpdateLeadInput!) { updateLead(id: $id, input: $input) { id } }",
        json!({ "id": id, "input": input }),
    )
    .await
    .data("updateLead");
}

#[tokio::test]
async fn lead_changes_are_written_in_order_and_read_on_from_a_cursor() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let lead = create_lead(&app, &owner, json!({ "email": "ada@example.org" })).await;
    let id = lead["id"].as_str().unwrap();
    update_lead(
        &app,
        &owner,
        id,
        json!({ "firstName": "Ada", "jobTitle": "CTO" }),
    )
    .await;
    // Setting a field to the value it has changes nothing: no event.
    update_lead(&app, &owner, id, json!({ "firstName": "Ada" })).await;
    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!) { deleteLead(id: $id) { id } }",
        json!({ "id": id }),
    )
    .await
    .data("deleteLead");

    let events = lead_events(&app, &owner, None).await;
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["LEAD_CREATED", "LEAD_CHANGED", "LEAD_DELETED"]);
    assert!(events.iter().all(|e| e["subjectId"] == id));
    assert!(
        events
            .iter()
            .all(|e| e["actorId"] == owner.user_id.as_str())
    );
    let mut fields: Vec<&str> = events[1]["payload"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["firstName", "jobTitle"]);

    // Cursors increase, and reading after one gives exactly what follows.
    let cursors: Vec<i64> = events
        .iter()
        .map(|e| e["cursor"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        cursors.windows(2).all(|pair| pair[0] < pair[1]),
        "{cursors:?}"
    );
    let rest = lead_events(&app, &owner, events[0]["cursor"].as_str()).await;
    assert_eq!(rest, events[1..]);
    let none = lead_events(&app, &owner, events[2]["cursor"].as_str()).await;
    assert!(none.is_empty());

    // `first` bounds a page; a bad cursor or page size names the argument.
    let one = read(&app, &owner, json!({ "first": 1 })).await;
    assert_eq!(one.len(), 1);
    let bad = app
        .gql_as(&owner.access_token, READ, json!({ "after": "x" }))
        .await;
    assert_eq!(bad.code(), Some("BAD_USER_INPUT"));
    assert_eq!(bad.body["errors"][0]["extensions"]["field"], "after");
    let bad = app
        .gql_as(&owner.access_token, READ, json!({ "first": 501 }))
        .await;
    assert_eq!(bad.body["errors"][0]["extensions"]["field"], "first");
}

#[tokio::test]
async fn a_rejected_change_writes_no_event() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    create_lead(&app, &owner, json!({ "email": "ada@example.org" })).await;
    let refused = app
        .gql_as(
            &owner.access_token,
            "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }",
            json!({ "input": { "email": "ada@example.org" } }),
        )
        .await;
    assert!(refused.code().is_some(), "{}", refused.body);
    assert_eq!(lead_events(&app, &owner, None).await.len(), 1);
}

#[tokio::test]
async fn bulk_changes_write_one_event_per_lead_they_reached() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let a = create_lead(&app, &owner, json!({ "email": "a@example.org" })).await;
    let b = create_lead(&app, &owner, json!({ "email": "b@example.org" })).await;
    create_lead(&app, &owner, json!({ "email": "c@example.org" })).await;
    let after = lead_events(&app, &owner, None).await[2]["cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let reached = app
        .gql_as(
            &owner.access_token,
            "mutation($ids: [ID!], $patch: LeadPatch!) { bulkUpdateLeads(ids: $ids, patch: $patch) }",
            json!({ "ids": [a["id"], b["id"]], "patch": { "status": "INTERESTED", "addTags": ["vip"] } }),
        )
        .await;
    assert_eq!(reached.data("bulkUpdateLeads"), 2);
    let events = lead_events(&app, &owner, Some(&after)).await;
    let mut subjects: Vec<&str> = events
        .iter()
        .map(|e| e["subjectId"].as_str().unwrap())
        .collect();
    subjects.sort_unstable();
    let mut expected = [a["id"].as_str().unwrap(), b["id"].as_str().unwrap()];
    expected.sort_unstable();
    assert_eq!(subjects, expected);
    for event in &events {
        assert_eq!(event["kind"], "LEAD_CHANGED");
        assert_eq!(event["payload"]["fields"], json!(["status", "tags"]));
    }

    // A tag every lead already has changes nothing: no event. Where only
    // one lead lacks it, only that lead's event names `tags`.
    let last = events.last().unwrap()["cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    app.gql_as(
        &owner.access_token,
        "mutation($ids: [ID!], $patch: LeadPatch!) { bulkUpdateLeads(ids: $ids, patch: $patch) }",
        json!({ "ids": [a["id"], b["id"]], "patch": { "addTags": ["vip"] } }),
    )
    .await
    .data("bulkUpdateLeads");
    assert!(lead_events(&app, &owner, Some(&last)).await.is_empty());
    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!, $tags: [String!]!) { addTags(id: $id, tags: $tags) { id } }",
        json!({ "id": a["id"], "tags": ["vip"] }),
    )
    .await
    .data("addTags");
    assert!(lead_events(&app, &owner, Some(&last)).await.is_empty());
    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!, $tags: [String!]!) { removeTags(id: $id, tags: $tags) { id } }",
        json!({ "id": a["id"], "tags": ["vip"] }),
    )
    .await
    .data("removeTags");
    app.gql_as(
        &owner.access_token,
        "mutation($ids: [ID!], $patch: LeadPatch!) { bulkUpdateLeads(ids: $ids, patch: $patch) }",
        json!({ "ids": [a["id"], b["id"]], "patch": { "addTags": ["vip"] } }),
    )
    .await
    .data("bulkUpdateLeads");
    let events = lead_events(&app, &owner, Some(&last)).await;
    let summary: Vec<(&str, &Value)> = events
        .iter()
        .map(|e| (e["subjectId"].as_str().unwrap(), &e["payload"]["fields"]))
        .collect();
    let tags = json!(["tags"]);
    let a_id = a["id"].as_str().unwrap();
    // removeTags, then the bulk change that gave the tag back: `a` only.
    assert_eq!(summary, [(a_id, &tags), (a_id, &tags)]);
}

#[tokio::test]
async fn another_tenant_reads_none_of_the_events() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let rival = app.sign_up("rival").await;
    create_lead(&app, &owner, json!({ "email": "ada@example.org" })).await;
    assert_eq!(lead_events(&app, &owner, None).await.len(), 1);
    assert!(read(&app, &rival, json!({})).await.is_empty());
    // Its own cursor numbers start over: another tenant's cursor reads
    // only its own events.
    create_lead(&app, &rival, json!({ "email": "bob@example.org" })).await;
    let theirs = read(&app, &rival, json!({})).await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["cursor"], "1");
    let anonymous = app.gql(READ, json!({})).await;
    assert_eq!(anonymous.code(), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn subscribers_replay_from_a_cursor_then_get_live_events_of_their_tenant_only() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let rival = app.sign_up("rival").await;
    let first = create_lead(&app, &owner, json!({ "email": "a@example.org" })).await;
    create_lead(&app, &owner, json!({ "email": "b@example.org" })).await;
    let cursor = lead_events(&app, &owner, None).await[0]["cursor"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut ws = app.ws("/graphql/ws").await;
    ws.init(&owner.access_token).await;
    ws.send(
        json!({ "id": "1", "type": "subscribe", "payload": { "query": LIVE,
        "variables": { "after": cursor, "kinds": ["LEAD_CREATED", "LEAD_CHANGED"] } } }),
    )
    .await;
    let mut theirs = app.ws("/graphql/ws").await;
    theirs.init(&rival.access_token).await;
    theirs
        .send(json!({ "id": "1", "type": "subscribe", "payload": { "query": LIVE, "variables": {} } }))
        .await;
    // Replayed: the second lead, created after the cursor.
    let replayed = next_event(&mut ws).await;
    assert_eq!(replayed["kind"], "LEAD_CREATED");
    assert_ne!(replayed["subjectId"], first["id"]);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Live: a change made now, on whichever node, arrives once.
    let id = first["id"].as_str().unwrap();
    update_lead(&app, &owner, id, json!({ "city": "Berlin" })).await;
    let live = next_event(&mut ws).await;
    assert_eq!(live["kind"], "LEAD_CHANGED");
    assert_eq!(live["subjectId"], id);
    assert_eq!(live["payload"]["fields"], json!(["city"]));
    assert!(
        tokio::time::timeout(Duration::from_millis(500), theirs.next_json())
            .await
            .is_err(),
        "another tenant's subscriber must get nothing"
    );
}

async fn next_event(ws: &mut crate::helpers::Ws) -> Value {
    let message = tokio::time::timeout(Duration::from_secs(10), ws.next_json())
        .await
        .expect("an event within 10 s");
    assert_eq!(message["type"], "next", "{message}");
    message["payload"]["data"]["domainEvents"].clone()
}

#[tokio::test]
async fn set_based_changes_name_each_lead_they_changed() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    let rival = app.sign_up("rival").await;
    let rep = app.add_member(&owner, "rep@acme.example", "MEMBER").await;
    let german = create_lead(
        &app,
        &owner,
        json!({ "email": "a@example.org", "country": "DE", "ownerId": rep.user_id }),
    )
    .await;
    let other = create_lead(
        &app,
        &owner,
        json!({ "email": "b@example.org", "country": "FR" }),
    )
    .await;
    create_lead(
        &app,
        &rival,
        json!({ "email": "c@example.org", "country": "DE" }),
    )
    .await;
    let since = |events: &[Value]| {
        events.last().unwrap()["cursor"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let last = since(&lead_events(&app, &owner, None).await);
    let rival_last = since(&lead_events(&app, &rival, None).await);

    // A scoring rule rescores the tenant's leads: only the one whose score
    // moved is named, with `score`.
    app.gql_as(
        &owner.access_token,
        "mutation($input: CreateScoringRuleInput!) { createScoringRule(input: $input) { id } }",
        json!({ "input": { "name": "Germany", "criteria": "country", "condition": "EQUALS", "value": "de", "points": 30 } }),
    )
    .await
    .data("createScoringRule");
    let events = lead_events(&app, &owner, Some(&last)).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["subjectId"], german["id"]);
    assert_eq!(events[0]["payload"]["fields"], json!(["score"]));
    let last = since(&events);

    // Deleting a stage moves its leads: each moved lead is named, with `stageId`.
    let stages = app
        .gql_as(
            &owner.access_token,
            "{ leadStages { nodes { id isDefault } } }",
            json!({}),
        )
        .await
        .data("leadStages")["nodes"]
        .clone();
    let stages = stages.as_array().unwrap();
    let default = stages.iter().find(|s| s["isDefault"] == true).unwrap();
    let heir = stages.iter().find(|s| s["isDefault"] != true).unwrap();
    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!, $to: ID) { deleteLeadStage(id: $id, moveLeadsTo: $to) { id } }",
        json!({ "id": default["id"], "to": heir["id"] }),
    )
    .await
    .data("deleteLeadStage");
    let events = lead_events(&app, &owner, Some(&last)).await;
    let mut moved: Vec<&str> = events
        .iter()
        .map(|e| {
            assert_eq!(e["payload"]["fields"], json!(["stageId"]));
            e["subjectId"].as_str().unwrap()
        })
        .collect();
    moved.sort_unstable();
    let mut expected = [
        german["id"].as_str().unwrap(),
        other["id"].as_str().unwrap(),
    ];
    expected.sort_unstable();
    assert_eq!(moved, expected);
    let last = since(&events);

    // Removing a member unassigns its leads: each is named, with `ownerId`.
    let member = app.member_id(&owner, &rep.email).await;
    app.gql_as(
        &owner.access_token,
        "mutation($id: ID!) { removeMember(memberId: $id) { id } }",
        json!({ "id": member }),
    )
    .await
    .data("removeMember");
    let events = lead_events(&app, &owner, Some(&last)).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["subjectId"], german["id"]);
    assert_eq!(events[0]["payload"]["fields"], json!(["ownerId"]));

    // None of it reached the other tenant, whose German lead the rule did not score.
    assert!(
        lead_events(&app, &rival, Some(&rival_last))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn the_events_page_both_ways_and_an_edge_cursor_is_its_events_cursor() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    for i in 0..5 {
        create_lead(
            &app,
            &owner,
            json!({ "email": format!("l{i}@example.org") }),
        )
        .await;
    }
    let query = "query($first: Int, $after: String, $last: Int, $before: String) {
        domainEvents(first: $first, after: $after, last: $last, before: $before, kinds: [LEAD_CREATED]) {
            totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
            edges { cursor node { cursor subjectId } } } }";
    let page = |variables: Value| {
        let app = &app;
        let token = owner.access_token.clone();
        async move {
            app.gql_as(&token, query, variables)
                .await
                .data("domainEvents")
                .clone()
        }
    };
    let subjects = |page: &Value| -> Vec<String> {
        page["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                assert_eq!(e["cursor"], e["node"]["cursor"]);
                e["node"]["subjectId"].as_str().unwrap().to_owned()
            })
            .collect()
    };

    let all = page(json!({ "first": 10 })).await;
    assert_eq!(all["totalCount"], 5);
    let all = subjects(&all);
    let first = page(json!({ "first": 2 })).await;
    assert_eq!(subjects(&first), all[0..2]);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let next = page(json!({ "first": 2, "after": first["pageInfo"]["endCursor"] })).await;
    assert_eq!(subjects(&next), all[2..4]);
    assert_eq!(next["pageInfo"]["hasPreviousPage"], true);
    let back = page(json!({ "last": 2, "before": next["pageInfo"]["startCursor"] })).await;
    assert_eq!(subjects(&back), all[0..2]);
    assert_eq!(back["pageInfo"]["hasPreviousPage"], false);
    let newest = page(json!({ "last": 1 })).await;
    assert_eq!(subjects(&newest), all[4..]);
    let bad = app
        .gql_as(
            &owner.access_token,
            query,
            json!({ "last": 1, "before": "x" }),
        )
        .await;
    assert_eq!(bad.body["errors"][0]["extensions"]["field"], "before");
}
